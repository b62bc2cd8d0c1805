"""The run ledger in schema ``ops``: one row per run and one per source resource."""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg2
from psycopg2 import sql

from ingest.errors import RunLockedError
from ingest.sources.incremental import ResourceCounters
from ingest.warehouse import WarehouseTarget

# Postgres advisory locks are keyed by two 32-bit integers: the project's (any fixed number,
# "peop") and one per schema prefix, so a pull-request run never waits for production's.
RUN_LOCK_PROJECT_KEY = 0x70656F70


class Ledger:
    """Writes the ledger rows of runs; reads recent ones back."""

    def __init__(self, target: WarehouseTarget, schema: str) -> None:
        self._target = target
        self._schema = schema

    def _execute(self, statement: sql.Composable, params: tuple | None = None) -> list[tuple]:
        with self._target.transaction() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def ensure_tables(self) -> None:
        schema = sql.Identifier(self._schema)
        self._execute(
            sql.SQL(
                """
                create schema if not exists {schema};
                create table if not exists {schema}.ingest_runs (
                    run_id text primary key,
                    started_at timestamptz not null,
                    finished_at timestamptz,
                    status text not null,
                    sources text not null,
                    full_refresh boolean not null,
                    error text
                );
                create table if not exists {schema}.ingest_run_resources (
                    run_id text not null references {schema}.ingest_runs (run_id),
                    source text not null,
                    resource text not null,
                    started_at timestamptz not null,
                    finished_at timestamptz,
                    status text not null,
                    rows_extracted bigint not null,
                    rows_loaded bigint not null,
                    rows_rejected bigint not null,
                    rows_duplicate bigint not null,
                    api_requests bigint not null,
                    new_columns text,
                    reject_reasons text,
                    error text,
                    primary key (run_id, source, resource)
                );
                """
            ).format(schema=schema)
        )

    def start_run(self, sources: list[str], full_refresh: bool) -> str:
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._execute(
            sql.SQL(
                "insert into {}.ingest_runs (run_id, started_at, status, sources, full_refresh)"
                " values (%s, now(), 'RUNNING', %s, %s)"
            ).format(sql.Identifier(self._schema)),
            (run_id, ",".join(sources), full_refresh),
        )
        return run_id

    def record_resource(
        self,
        run_id: str,
        counters: ResourceCounters,
        *,
        status: str,
        loaded: int,
        api_requests: int,
        new_columns: list[str],
        error: str | None,
    ) -> None:
        self._execute(
            sql.SQL(
                "insert into {}.ingest_run_resources values"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(self._schema)),
            (
                run_id,
                counters.source,
                counters.resource,
                counters.started_at,
                counters.finished_at or datetime.now(UTC),
                status,
                counters.extracted,
                loaded,
                counters.rejected,
                counters.duplicates,
                api_requests,
                ",".join(new_columns) or None,
                json.dumps(counters.reject_reasons) if counters.reject_reasons else None,
                error,
            ),
        )

    def finish_run(self, run_id: str, status: str, error: str | None) -> None:
        self._execute(
            sql.SQL(
                "update {}.ingest_runs set finished_at = now(), status = %s, error = %s"
                " where run_id = %s"
            ).format(sql.Identifier(self._schema)),
            (status, error, run_id),
        )

    def recent_runs(self, limit: int = 10) -> list[tuple]:
        """Newest runs first, with their per-resource rows."""
        try:
            return self._execute(
                sql.SQL(
                    """
                    select r.run_id, r.started_at, r.finished_at, r.status, r.error,
                           x.source, x.resource, x.status, x.rows_extracted, x.rows_loaded,
                           x.rows_rejected, x.api_requests, x.new_columns
                    from (select * from {s}.ingest_runs order by started_at desc limit %s) as r
                    left join {s}.ingest_run_resources as x on x.run_id = r.run_id
                    order by r.started_at desc, x.source, x.resource
                    """
                ).format(s=sql.Identifier(self._schema)),
                (limit,),
            )
        except psycopg2.errors.UndefinedTable:
            return []


@contextmanager
def run_lock(
    target: WarehouseTarget, wait_seconds: float, schema_prefix: str = ""
) -> Iterator[None]:
    """Hold the run lock of one schema prefix in the warehouse; a second run with the same
    prefix waits briefly, then gives up clearly."""
    # A stable 32-bit key per prefix (Python's hash() changes from process to process).
    prefix_key = zlib.crc32(schema_prefix.encode()) - 2**31
    conn = target.connect()
    conn.autocommit = True
    try:
        deadline = time.monotonic() + wait_seconds
        with conn.cursor() as cur:
            while True:
                cur.execute(
                    "select pg_try_advisory_lock(%s, %s)", (RUN_LOCK_PROJECT_KEY, prefix_key)
                )
                if cur.fetchone()[0]:
                    break
                if time.monotonic() >= deadline:
                    scope = f" with schema prefix {schema_prefix!r}" if schema_prefix else ""
                    raise RunLockedError(
                        f"another `python -m ingest` run{scope} is loading into the "
                        f"{target.describe()}; waited {wait_seconds:.0f} s — try again when it "
                        "has finished"
                    )
                time.sleep(0.5)
        yield
    finally:
        conn.close()  # closing the session releases the lock, also after a crash
