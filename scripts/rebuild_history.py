"""Rebuild the dbt snapshots (SCD history) from the raw change log, then the marts.

    python scripts/rebuild_history.py [--drop-existing] [-- <more dbt arguments>]

The raw tables keep every version the loader received, under the load that brought it.
This replays the loader's runs in order: for each, the staging views the snapshots read are
rebuilt to show the raw tables as they stood after that run, with a clock set to when it
committed (var ``history_replay``, macros/history_replay.sql), and the snapshots run on
them; then one ``dbt build`` (without the snapshots) rebuilds everything as of now. The
result is what a ``dbt build`` after every loader run would have recorded. Only snapshots
that are absent are rebuilt: a snapshot that still holds history would gain versions from
the past, so the command refuses unless ``--drop-existing`` says to replace them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from dbt.cli.main import dbtRunner
from psycopg2 import sql

from ingest import config
from ingest.errors import PeoplestackError
from ingest.target import WarehouseTarget, resolve_target

# The raw tables the snapshots read (through staging), by raw schema.
SNAPSHOT_INPUTS = {
    "raw_salesforce": ("users", "deletions"),
    "raw_successfactors": ("users", "org_units", "deletions"),
}
SNAPSHOTS = ("snp_salesforce__users", "snp_successfactors__users", "snp_successfactors__org_units")


@dataclass
class Step:
    """One loader run to replay: its loads (by table) and when the last one committed."""

    load_ids: dict[str, str]
    committed_at: str

    @property
    def load_id(self) -> str:
        return max(self.load_ids.values(), key=float)


def replay_steps(target: WarehouseTarget, prefix_schema: Callable[[str], str]) -> list[Step]:
    """The loader runs in the raw tables, oldest first: a run ends where a table loads again."""
    loads: list[tuple[float, str, str, str]] = []
    with target.transaction() as cur:
        for raw, tables in SNAPSHOT_INPUTS.items():
            schema = prefix_schema(raw)
            for table in tables:
                cur.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',))
                if cur.fetchone()[0] is None:
                    continue
                cur.execute(
                    sql.SQL(
                        "select distinct t._dlt_load_id, l.inserted_at from {s}.{t} as t"
                        " join {s}._dlt_loads as l on l.load_id = t._dlt_load_id"
                        " where l.status = 0"
                    ).format(s=sql.Identifier(schema), t=sql.Identifier(table))
                )
                for load_id, inserted_at in cur.fetchall():
                    at = inserted_at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
                    loads.append((float(load_id), load_id, f"{schema}.{table}", at))
    steps: list[Step] = []
    for _, load_id, table, at in sorted(loads):
        if not steps or table in steps[-1].load_ids:
            steps.append(Step({}, at))
        steps[-1].load_ids[table] = load_id
        steps[-1].committed_at = max(steps[-1].committed_at, at)
    return steps


def existing_snapshots(target: WarehouseTarget, schema: str) -> dict[str, int]:
    """Snapshot tables that exist, with their row counts."""
    found = {}
    with target.transaction() as cur:
        for name in SNAPSHOTS:
            cur.execute("select to_regclass(%s)", (f'"{schema}"."{name}"',))
            if cur.fetchone()[0] is not None:
                cur.execute(
                    sql.SQL("select count(*) from {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(name)
                    )
                )
                found[name] = cur.fetchone()[0]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--drop-existing",
        action="store_true",
        help="drop snapshot tables that still exist and rebuild them too",
    )
    parser.add_argument("dbt_args", nargs="*", help="more dbt arguments, after --")
    args = parser.parse_args(argv)
    try:
        options = config.load_run_options()
        target = resolve_target()
        snapshot_schema = options.schema("snapshots")
        existing = existing_snapshots(target, snapshot_schema)
        if existing and not args.drop_existing:
            names = ", ".join(f"{name} ({rows} rows)" for name, rows in existing.items())
            print(
                f"error: {snapshot_schema} still holds {names}; replaying would add versions "
                "from the past to them. Pass --drop-existing to rebuild them from raw.",
                file=sys.stderr,
            )
            return 2
        steps = replay_steps(target, options.schema)
    except PeoplestackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if not steps:
        print("error: the raw tables hold no loads to replay", file=sys.stderr)
        return 1
    with target.transaction() as cur:
        for name in existing:
            cur.execute(
                sql.SQL("drop table {}.{}").format(
                    sql.Identifier(snapshot_schema), sql.Identifier(name)
                )
            )
    dbt = dbtRunner()
    for number, step in enumerate(steps, start=1):
        print(f"replaying loader run {number}/{len(steps)} (committed {step.committed_at} UTC)")
        replay = {"history_replay": {"load_id": step.load_id, "at": step.committed_at}}
        # The snapshots read staging views: those are rebuilt as of the step, then snapshotted.
        result = dbt.invoke(
            [
                "build",
                "--quiet",
                "--select",
                "+resource_type:snapshot",
                "--exclude",
                "resource_type:test",
                "resource_type:unit_test",
                "--vars",
                json.dumps(replay),
                *args.dbt_args,
            ]
        )
        if not result.success:
            print(f"error: dbt failed replaying loader run {number}", file=sys.stderr)
            return 1
    print("rebuilding the models on the replayed history")  # staging views as of now, too
    # The replayed versions carry past recording times: incremental models rebuild in full.
    result = dbt.invoke(
        [
            "build",
            "--quiet",
            "--full-refresh",
            "--exclude",
            "resource_type:snapshot",
            *args.dbt_args,
        ]
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
