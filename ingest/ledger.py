"""The run ledger in schema ``ops``: one row per run and one per source resource."""

from __future__ import annotations

import json
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg2
from psycopg2 import sql

from ingest.accounting import ResourceCounters
from ingest.errors import RunLockedError, RunLockLostError
from ingest.redaction import redact
from ingest.sources.source import LearnerCoverage
from ingest.target import WarehouseTarget

# Postgres advisory locks are keyed by two 32-bit integers: the project's (any fixed number,
# "peop") and one per schema prefix, so a pull-request run never waits for production's.
RUN_LOCK_PROJECT_KEY = 0x70656F70
# The scheduled job's lock ("pjob"): held around the load and the dbt build together.
JOB_LOCK_PROJECT_KEY = 0x706A6F62


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
                -- Per-learner resources (Learning): how many learners the run read, of how
                -- many, how many were never read, the oldest last read among all once the
                -- run's reads landed, and what the request budget left unread.
                alter table {schema}.ingest_run_resources
                    add column if not exists learners_refreshed bigint,
                    add column if not exists learners_total bigint,
                    add column if not exists learners_never_read bigint,
                    add column if not exists learners_oldest_read_at timestamptz,
                    add column if not exists warning text;
                """
            ).format(schema=schema)
        )

    def start_run(self, sources: list[str], full_refresh: bool) -> str:
        """Record a new run, first closing the rows of runs that died (called under the lock)."""
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        # Whoever holds the lock is the only live run of this prefix: a RUNNING row left
        # behind belongs to a run that was killed or lost its session, and never finished.
        self._execute(
            sql.SQL(
                "update {}.ingest_runs set status = 'ABANDONED', error = %s"
                " where status = 'RUNNING'"
            ).format(sql.Identifier(self._schema)),
            (
                "the run ended without finishing (killed, or it lost the warehouse); "
                "nothing it had not committed was kept, and the next run read it again",
            ),
        )
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
        coverage: LearnerCoverage | None = None,
        coverage_landed: bool = False,
    ) -> None:
        """One resource's row; a coverage's learner counts only when its reads landed."""
        landed = coverage if coverage_landed else None
        self._execute(
            sql.SQL(
                "insert into {}.ingest_run_resources values"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s)"
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
                redact(error) if error else None,
                landed.refreshed if landed else None,
                landed.total if landed else None,
                landed.never_read if landed else None,
                landed.oldest_read_at if landed else None,
                coverage.warning if coverage else None,
            ),
        )

    def finish_run(self, run_id: str, status: str, error: str | None) -> None:
        self._execute(
            sql.SQL(
                "update {}.ingest_runs set finished_at = now(), status = %s, error = %s"
                " where run_id = %s"
            ).format(sql.Identifier(self._schema)),
            (status, redact(error) if error else None, run_id),
        )

    def recent_runs(self, limit: int = 10) -> list[tuple]:
        """Newest runs first, with their per-resource rows."""
        try:
            return self._execute(
                sql.SQL(
                    """
                    select r.run_id, r.started_at, r.finished_at, r.status, r.error,
                           x.source, x.resource, x.status, x.rows_extracted, x.rows_loaded,
                           x.rows_rejected, x.api_requests, x.new_columns,
                           -- by name from the row: a ledger older than these columns has none
                           (to_jsonb(x) ->> 'learners_refreshed')::bigint,
                           (to_jsonb(x) ->> 'learners_total')::bigint,
                           (to_jsonb(x) ->> 'learners_oldest_read_at')::timestamptz,
                           to_jsonb(x) ->> 'warning'
                    from (select * from {s}.ingest_runs order by started_at desc limit %s) as r
                    left join {s}.ingest_run_resources as x on x.run_id = r.run_id
                    order by r.started_at desc, x.source, x.resource
                    """
                ).format(s=sql.Identifier(self._schema)),
                (limit,),
            )
        except psycopg2.errors.UndefinedTable:
            return []


class RunLock:
    """The run lock of one schema prefix, held by one session that is checked before loads.

    A session-level advisory lock vanishes with its session (a warehouse restart, a dropped
    connection, a server-side timeout), and Postgres tells nobody. So the session turns off
    the server's idle timeouts, keeps TCP alive, and ``verify()`` asks, before every load,
    whether this session still holds the lock: a run that lost it stops instead of loading
    beside a second run that may have taken it since.
    """

    def __init__(
        self, conn: psycopg2.extensions.connection, key: tuple[int, int], where: str
    ) -> None:
        self._conn = conn
        self._key = key
        self._where = where
        self._guard = threading.Lock()  # sources load from two threads; one session

    def verify(self, before: str) -> None:
        """Raise RunLockLostError unless this run still holds its lock."""
        with self._guard:
            try:
                with self._conn.cursor() as cur:
                    cur.execute(
                        "select count(*) from pg_locks where locktype = 'advisory'"
                        " and classid = %s::oid and objid = %s::oid and objsubid = 2"
                        " and granted and pid = pg_backend_pid()",
                        (self._key[0], self._key[1] % 2**32),
                    )
                    held = cur.fetchone()[0] == 1
            except psycopg2.Error as exc:
                held = False
                cause = f"its session ended ({' '.join(str(exc).split())[:200]})"
            else:
                cause = "its session no longer holds it"
        if not held:
            raise RunLockLostError(
                f"the run lock on the {self._where} was lost ({cause}: a warehouse restart "
                f"or a dropped connection); stopped before {before}, so another run cannot "
                "load the same data twice — rerun when no other run is loading"
            )


@contextmanager
def run_lock(
    target: WarehouseTarget, wait_seconds: float, schema_prefix: str = ""
) -> Iterator[RunLock]:
    """Hold the run lock of one schema prefix in the warehouse; a second run with the same
    prefix waits briefly, then gives up clearly."""
    scope = f" with schema prefix {schema_prefix!r}" if schema_prefix else ""
    with advisory_lock(
        target,
        _prefix_key(RUN_LOCK_PROJECT_KEY, schema_prefix),
        wait_seconds,
        f"another `python -m ingest` run{scope} is loading into the {target.describe()}",
    ) as lock:
        yield lock


@contextmanager
def job_lock(
    target: WarehouseTarget, wait_seconds: float, schema_prefix: str = ""
) -> Iterator[RunLock]:
    """The lock of the whole scheduled job (load, then dbt build) of one schema prefix: a
    second job waits briefly, then gives up, so a slow day never overlaps the next one."""
    scope = f" with schema prefix {schema_prefix!r}" if schema_prefix else ""
    with advisory_lock(
        target,
        _prefix_key(JOB_LOCK_PROJECT_KEY, schema_prefix),
        wait_seconds,
        f"another `python -m ingest run-all` job{scope} is running on the {target.describe()}",
    ) as lock:
        yield lock


def _prefix_key(project_key: int, schema_prefix: str) -> tuple[int, int]:
    # A stable 32-bit key per prefix (Python's hash() changes from process to process).
    return (project_key, zlib.crc32(schema_prefix.encode()) - 2**31)


@contextmanager
def advisory_lock(
    target: WarehouseTarget, key: tuple[int, int], wait_seconds: float, holder: str
) -> Iterator[RunLock]:
    """Hold a session advisory lock, waiting up to ``wait_seconds``; else RunLockedError
    naming the ``holder``."""
    # Closing the session releases the lock, also after a crash.
    with target.session(keepalive=True) as conn:
        deadline = time.monotonic() + wait_seconds
        with conn.cursor() as cur:
            # A server-side idle timeout would end the session, and the lock with it.
            cur.execute("set idle_session_timeout = 0")
            cur.execute("set idle_in_transaction_session_timeout = 0")
            while True:
                cur.execute("select pg_try_advisory_lock(%s, %s)", key)
                if cur.fetchone()[0]:
                    break
                if time.monotonic() >= deadline:
                    raise RunLockedError(
                        f"{holder}; waited {wait_seconds:.0f} s — try again when it has finished"
                    )
                time.sleep(0.5)
        yield RunLock(conn, key, target.describe())
