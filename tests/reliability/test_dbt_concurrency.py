"""dbt runs never overlap on one schema prefix, a killed one leaves no half-written history,
and a loader running under a dbt build changes nothing the next build would not give.

The module loads day 0 and builds once (`base`), then loads day 1 (`staged`: changes the
snapshots must record once). Each test works on a copy of one of them (`create database
... template`), and compares its marts with a build of `staged` that nothing disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox
from tests.reliability.figures import Figures
from tests.reliability.warehouse_state import RUN_MARTS, rows
from tests.support import (
    BIN,
    REPO_ROOT,
    Database,
    dbt_profile_args,
    loader_env,
    make_database,
    run_cli,
    run_dbt_recorded,
)

# Several dbt builds per test (minutes each here): `make reliability` and CI run them.
pytestmark = pytest.mark.slow

VARS = ["--vars", json.dumps({"as_of_date": "2026-01-15"})]
SNAPSHOT_KEYS = {
    "snp_salesforce__users": "salesforce_user_id",
    "snp_successfactors__users": "employee_id",
    "snp_successfactors__org_units": "org_unit_id",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _load(database: Database, sandbox: Sandbox) -> None:
    loaded = run_cli(["--log-format", "plain"], loader_env(database, sandbox))
    assert loaded.returncode == 0, loaded.stderr


def _build(database: Database, target: Path) -> None:
    built = run_dbt_recorded(["build", *VARS], database.env, target)
    assert built.returncode == 0, built.output[-4000:]


def _copy(server: LocalWarehouse, source: Database) -> Database:
    """A new database holding exactly what ``source`` holds now."""
    return make_database(server, template=source)


@pytest.fixture(scope="module")
def base(
    postgres_server: LocalWarehouse, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Database:
    """Day 0 loaded and built."""
    database = make_database(postgres_server)
    sandbox.set_day(0)
    _load(database, sandbox)
    _build(database, tmp_path_factory.mktemp("dbt-base"))
    sandbox.set_day(1)
    return database


@pytest.fixture(scope="module")
def staged(postgres_server: LocalWarehouse, base: Database, sandbox: Sandbox) -> Database:
    """Day 0 built, day 1 loaded: the next build records day 1's changes."""
    database = _copy(postgres_server, base)
    _load(database, sandbox)
    return database


@pytest.fixture(scope="module")
def expected_marts(
    postgres_server: LocalWarehouse, staged: Database, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[str]]:
    """The marts of `staged` built by one undisturbed run."""
    database = _copy(postgres_server, staged)
    _build(database, tmp_path_factory.mktemp("dbt-expected"))
    return _marts(database)


def _marts(database: Database) -> dict[str, list[str]]:
    """Every data mart's rows without the run columns (when a learner was read differs
    between two loads of one day; the operations marts grow with every build)."""
    tables = database.query(
        "select table_name from information_schema.tables where table_schema = 'marts'"
    )
    return {
        table: rows(database, "marts", table)
        for (table,) in sorted(tables)
        if table not in RUN_MARTS
    }


def _history_faults(database: Database) -> dict[str, tuple[int, int]]:
    """Per snapshot: keys with two versions from one instant, keys with two open versions."""
    faults = {}
    for snapshot, key in SNAPSHOT_KEYS.items():
        twice, open_twice = database.query(
            f"select"
            f" (select count(*) from (select 1 from snapshots.{snapshot}"
            f"  group by {key}, dbt_valid_from having count(*) > 1) as d),"
            f" (select count(*) from (select 1 from snapshots.{snapshot} where dbt_valid_to is null"
            f"  group by {key} having count(*) > 1) as o)"
        )[0]
        faults[snapshot] = (twice, open_twice)
    return faults


def _start_dbt(database: Database, target: Path) -> subprocess.Popen[str]:
    command = [
        str(BIN / "dbt"), "--no-use-colors", "build", *VARS, *dbt_profile_args(),
        "--target-path", str(target), "--log-path", str(target / "logs"),
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=database.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_lease(database: Database, timeout: float = 300) -> None:
    """Until a dbt run holds this database's run lease."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database.query("select count(*) from ops.dbt_run_lease") != [(0,)]:
            return
        time.sleep(0.1)
    raise AssertionError("no dbt run took the lease")


def _read_until(run: subprocess.Popen[str], text: str) -> None:
    """Read a running dbt's output until a line containing ``text``."""
    assert run.stdout is not None
    for line in run.stdout:
        if text in line:
            return
    raise AssertionError(f"dbt ended without printing {text!r}")


def test_two_dbt_builds_at_once_one_is_refused_and_history_stays_whole(
    postgres_server: LocalWarehouse,
    staged: Database,
    expected_marts: dict[str, list[str]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", "two dbt builds at once"):
        database = _copy(postgres_server, staged)
        runs = [_start_dbt(database, tmp_path / name) for name in ("first", "second")]
        outputs = [run.communicate(timeout=900)[0] for run in runs]

        codes = sorted(run.returncode for run in runs)
        assert codes[0] == 0 and codes[1] != 0, outputs
        refused = outputs[[run.returncode for run in runs].index(codes[1])]
        assert "another dbt build (invocation" in refused, refused[-3000:]
        assert "Nothing was run" in refused
        assert "START sql" not in refused and "START snapshot" not in refused
        assert _history_faults(database) == dict.fromkeys(SNAPSHOT_KEYS, (0, 0))
        assert _marts(database) == expected_marts
        assert database.query("select count(*) from ops.dbt_run_lease") == [(0,)]


def test_read_only_dbt_commands_run_beside_a_build(
    base: Database, postgres_server: LocalWarehouse, tmp_path: Path, figures: Figures
) -> None:
    with figures.trial("fault", "dbt test and dbt compile while dbt build runs"):
        database = _copy(postgres_server, base)
        build = _start_dbt(database, tmp_path / "build")
        _wait_for_lease(database)
        tested = run_dbt_recorded(
            ["test", "--select", "stg_salesforce__users", *VARS], database.env, tmp_path / "t"
        )
        compiled = run_dbt_recorded(["compile", *VARS], database.env, tmp_path / "c")
        output = build.communicate(timeout=900)[0]
        assert build.returncode == 0, output[-3000:]
        assert tested.returncode == 0, tested.output[-3000:]
        assert compiled.returncode == 0, compiled.output[-3000:]


def test_a_dbt_build_killed_while_snapshotting_leaves_no_half_written_history(
    postgres_server: LocalWarehouse,
    staged: Database,
    expected_marts: dict[str, list[str]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", "dbt build killed (SIGKILL) while snapshotting, then rerun"):
        database = _copy(postgres_server, staged)
        build = _start_dbt(database, tmp_path / "killed")
        _read_until(build, "OK snapshotted")  # one snapshot done, the next under way
        os.kill(build.pid, signal.SIGKILL)
        build.communicate(timeout=60)
        assert _history_faults(database) == dict.fromkeys(SNAPSHOT_KEYS, (0, 0))

        rerun = run_dbt_recorded(["build", *VARS], database.env, tmp_path / "rerun")
        assert rerun.returncode == 0, rerun.output[-4000:]
        assert "ended without finishing; this run takes over" in rerun.output
        assert _history_faults(database) == dict.fromkeys(SNAPSHOT_KEYS, (0, 0))
        assert _marts(database) == expected_marts


def test_a_load_during_a_dbt_build_changes_nothing_the_next_build_would_not_give(
    postgres_server: LocalWarehouse,
    base: Database,
    sandbox: Sandbox,
    expected_marts: dict[str, list[str]],
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", "python -m ingest while dbt build runs"):
        database = _copy(postgres_server, base)
        build = _start_dbt(database, tmp_path / "during")
        _wait_for_lease(database)
        _load(database, sandbox)  # day 1, while the build runs
        output = build.communicate(timeout=900)[0]
        assert build.returncode == 0, output[-4000:]

        _build(database, tmp_path / "after")
        assert _history_faults(database) == dict.fromkeys(SNAPSHOT_KEYS, (0, 0))
        assert _marts(database) == expected_marts
