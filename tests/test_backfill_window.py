"""Backfill windows: `--since A --until B` reads the changes made in [A, B) and nothing else,
leaves every cursor where it was (the next run still reads what came after B), and judges
no deletions; combinations that cannot mean anything are refused in one line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.quality import parse_odata_date, parse_salesforce_datetime
from ingest.sandbox import Sandbox
from ingest.sandbox.clock import DAY0
from tests.reliability.warehouse_state import cursors
from tests.support import Database, loader_env, make_database, run_cli

SOURCES = ("--sources", "salesforce,successfactors")
# (raw table, its modification time column, how to read it)
MODIFIED = {
    "raw_salesforce.users": ("system_modstamp", parse_salesforce_datetime),
    "raw_successfactors.users": ("last_modified_date_time", parse_odata_date),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=23, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _loads(database: Database) -> set[str]:
    return {
        load_id
        for schema in ("raw_salesforce", "raw_successfactors")
        for (load_id,) in database.query(f"select load_id from {schema}._dlt_loads")
    }


def _modified_since_loads(database: Database, before: set[str]) -> dict[str, list[datetime]]:
    """The modification times of the rows landed by loads not in ``before``."""
    landed = {}
    for table, (column, parse) in MODIFIED.items():
        values = database.query(
            f"select {column} from {table} where not (_dlt_load_id = any(%s))", (list(before),)
        )
        landed[table] = sorted(parse(value) for (value,) in values)
    return landed


def _cursor_values(database: Database) -> dict[str, object]:
    return {
        f"{pipeline}.{resource}": state.get("cursor")
        for pipeline, sources in cursors(database).items()
        for source in sources.values()
        for resource, state in source.get("resources", {}).items()
    }


def test_a_window_reads_its_changes_only_and_leaves_the_cursors(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    database = make_database(postgres_server)
    env = loader_env(database, sandbox)
    assert run_cli([*SOURCES], env).returncode == 0
    cursors_before = _cursor_values(database)
    assert cursors_before and all(cursors_before.values())
    loads_before = _loads(database)

    sandbox.advance_day(4)
    since, until = DAY0 + timedelta(days=1), DAY0 + timedelta(days=3)
    window = run_cli([*SOURCES, "--since", since.isoformat(), "--until", until.isoformat()], env)

    assert window.returncode == 0, window.stderr
    landed = _modified_since_loads(database, loads_before)
    assert all(landed.values()), f"the window should hold changes of both systems: {landed}"
    for table, times in landed.items():
        assert since <= times[0] and times[-1] < until, table
    assert _cursor_values(database) == cursors_before
    assert database.query("select count(*) from raw_salesforce.deletions")[0][0] == 0

    # The next ordinary run reads on from the old cursors: what came after the window too.
    loads_before = _loads(database)
    after = run_cli([*SOURCES], env)
    assert after.returncode == 0, after.stderr
    later = _modified_since_loads(database, loads_before)
    assert all(any(t >= until for t in times) for times in later.values()), later
    for table, (column, _) in MODIFIED.items():
        key = "id" if table.startswith("raw_salesforce") else "user_id"
        duplicates = database.query(
            f"select count(*) - count(distinct ({key}, {column})) from {table}"
        )[0][0]
        assert duplicates == 0, f"{table}: a version landed twice"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--until", "2026-03-04T00:00:00Z"],
            "successfactors_learning cannot be bounded",
        ),
        (
            [*SOURCES, "--since", "2026-03-04T00:00:00Z", "--until", "2026-03-03T00:00:00Z"],
            "--until must be after --since",
        ),
        ([*SOURCES, "--full-refresh", "--until", "2026-03-04"], "use one"),
        ([*SOURCES, "--until", "next tuesday"], "--until must be an ISO 8601 timestamp"),
    ],
)
def test_a_window_that_cannot_mean_anything_is_refused_in_one_line(
    database: Database, sandbox: Sandbox, arguments: list[str], message: str
) -> None:
    refused = run_cli(arguments, loader_env(database, sandbox))

    assert refused.returncode == 2
    assert message in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert database.query("select to_regclass('ops.ingest_runs')") == [(None,)]
