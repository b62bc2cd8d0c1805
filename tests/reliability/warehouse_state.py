"""What a run leaves in the warehouse, read so two runs can be compared row for row.

Raw tables (every row, committed or not, without the columns that say when or in which load
it landed), the cursors each pipeline restores next time, and every mart and snapshot row
after ``dbt build``. A faulty run followed by a clean rerun must leave all three exactly as a
fault-free run does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dlt.common.versioned_state import decompress_state

from ingest.sandbox.clock import DAY0_EPOCH
from tests.support import Database, run_dbt

# Columns that say when, or in which load, a row landed: they differ between any two runs.
RUN_COLUMNS = [
    "_dlt_load_id",
    "_dlt_id",
    "_extracted_at",
    "extracted_at",
    "detected_at",
    "load_id",
    "raw_row_id",
    "recorded_at",  # staging's run time, frozen into snapshot rows
    # when Learning read a learner, and the marts that say how fresh that is
    "read_at",
    "learning_last_read_at",
    "oldest_learning_read_at",
    "history_recorded_at",  # fct_learning_completions' watermark: a recorded_at
]
# Raw tables that log what a run did rather than hold source data: a run that read a learner
# twice (killed, then rerun) rightly says so twice, so only which reads happened is compared.
RUN_LOG_TABLES = {"learner_reads"}
# Marts about the runs themselves (ids, times, durations): no two runs share them.
RUN_MARTS = {
    "fct_pipeline_runs",
    "agg_pipeline_runs_daily",
    "fct_model_row_count_changes",
    "dim_pipeline_jobs",
}


def rows(database: Database, schema: str, table: str, distinct: bool = False) -> list[str]:
    """Every row of a table as JSON without the run columns, sorted (duplicates kept, unless
    ``distinct``)."""
    which = "distinct " if distinct else ""
    return [
        row
        for (row,) in database.query(
            f"select {which}(to_jsonb(t) - %s::text[])::text"
            f' from "{schema}"."{table}" as t order by 1',
            (RUN_COLUMNS,),
        )
    ]


def raw_tables(database: Database) -> dict[str, list[str]]:
    """Every raw data table's rows, committed or not (leftovers must show)."""
    tables = database.query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema like 'raw\\_%%' and table_name not like '\\_dlt\\_%%'"
        " order by 1, 2"
    )
    return {f"{s}.{t}": rows(database, s, t, distinct=t in RUN_LOG_TABLES) for s, t in tables}


def cursors(database: Database) -> dict[str, Any]:
    """Each pipeline's resource state (cursor, overlap map, notes) of its last completed load,
    as the next run restores it."""
    found: dict[str, Any] = {}
    for (schema,) in database.query(
        "select table_schema from information_schema.tables"
        " where table_schema like 'raw\\_%%' and table_name = '_dlt_pipeline_state' order by 1"
    ):
        for name, state in database.query(
            f'select distinct on (s.pipeline_name) s.pipeline_name, s.state from "{schema}".'
            f'_dlt_pipeline_state as s join "{schema}"._dlt_loads as l'
            " on l.load_id = s._dlt_load_id and l.status = 0"
            " order by s.pipeline_name, l.load_id desc"
        ):
            found[f"{schema}.{name}"] = decompress_state(state).get("sources", {})
    return found


def marts(database: Database, day: int, target: Path) -> dict[str, list[str]]:
    """``dbt build`` as of the sandbox day, then every mart and snapshot row."""
    as_of = (datetime.fromtimestamp(DAY0_EPOCH, UTC).date() + timedelta(days=day)).isoformat()
    built = run_dbt(
        ["build", "--target-path", str(target), "--vars", json.dumps({"as_of_date": as_of})],
        database.env,
    )
    assert built.returncode == 0, built.stdout[-4000:]
    relations = database.query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema in ('marts', 'snapshots') order by 1, 2"
    )
    assert relations
    return {f"{s}.{t}": rows(database, s, t) for s, t in relations if t not in RUN_MARTS}


@dataclass
class Landed:
    """Raw tables and cursors after a run."""

    tables: dict[str, list[str]]
    cursors: dict[str, Any]


def landed(database: Database) -> Landed:
    return Landed(raw_tables(database), cursors(database))


def assert_same_rows(got: dict[str, list[str]], expected: dict[str, list[str]]) -> None:
    """Table for table and row for row, with a short account of what differs."""
    assert got.keys() == expected.keys()
    for table, wanted in expected.items():
        found = got[table]
        if found != wanted:
            extra = len(set(found) - set(wanted)) + len(found) - len(set(found))
            missing = len(set(wanted) - set(found))
            raise AssertionError(
                f"{table}: {len(found)} rows, {len(wanted)} in the fault-free run"
                f" ({extra} extra or duplicated, {missing} missing)"
            )


def assert_same(got: Landed, expected: Landed) -> None:
    """Raw tables row for row, and cursors equal."""
    assert_same_rows(got.tables, expected.tables)
    assert got.cursors == expected.cursors
