"""Fixtures for the dbt tests: raw tables exactly as the loader writes them, and real builds.

Each story family gets one database (module scope) on the session's Postgres server; the
tests append raw versions with chosen source times, run ``dbt build`` and read the marts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.local_warehouse import LocalWarehouse
from tests.dbt.raw_warehouse import RawWarehouse
from tests.support import make_database


@pytest.fixture(scope="module")
def raw_warehouse(
    postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RawWarehouse]:
    """A database of its own for one story family, with the raw tables created."""
    warehouse = RawWarehouse(make_database(postgres_server), tmp_path_factory.mktemp("dbt"))
    warehouse.create_raw_tables()
    yield warehouse
