"""The rest of the run history that ``status`` shows beside the loader's ledger: dbt's
invocations and failed nodes (written by dbt's on-run-end, macros/run_history.sql), and how
fresh each source resource is (its last load that succeeded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg2
from psycopg2 import sql

from ingest.target import WarehouseTarget

# A source resource not loaded for this long is stale: flagged by `status`, alerted by
# `run-all` (dbt's source freshness warns after the same: var freshness_warn_after_hours).
STALE_AFTER = timedelta(hours=26)


@dataclass(frozen=True)
class DbtInvocation:
    invocation_id: str
    command: str
    started_at: datetime
    finished_at: datetime
    as_of_date: str
    status: str
    nodes: int
    failed: int
    warned: int
    skipped: int
    # unique id -> status of the nodes that failed or warned
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Freshness:
    source: str
    resource: str
    last_loaded_at: datetime | None  # None: never loaded successfully
    last_status: str


def recent_dbt_invocations(
    target: WarehouseTarget, schema: str, limit: int = 5
) -> list[DbtInvocation]:
    """Newest first, each with the nodes that failed or warned; none before dbt's first run."""
    try:
        with target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "select invocation_id, command, run_started_at, finished_at,"
                    " as_of_date::text, status, nodes, failed, warned, skipped"
                    " from {s}.dbt_invocations order by run_started_at desc limit %s"
                ).format(s=sql.Identifier(schema)),
                (limit,),
            )
            invocations = cur.fetchall()
            cur.execute(
                sql.SQL(
                    "select invocation_id, unique_id, status from {s}.dbt_node_results"
                    " where invocation_id = any(%s) and status not in ('success', 'pass')"
                    " and status <> 'skipped' order by unique_id"
                ).format(s=sql.Identifier(schema)),
                ([row[0] for row in invocations],),
            )
            problems: dict[str, dict[str, str]] = {}
            for invocation_id, unique_id, status in cur.fetchall():
                problems.setdefault(invocation_id, {})[unique_id] = status
    except psycopg2.errors.UndefinedTable:
        return []
    return [DbtInvocation(*row, problems=problems.get(row[0], {})) for row in invocations]


# What a push run's ledger row names as its sources (ingest/push.py).
PUSH_RUN_SOURCES = "salesforce-push"


def source_freshness(target: WarehouseTarget, schema: str) -> list[Freshness]:
    """Per source resource the loader has run: when it last loaded successfully."""
    try:
        with target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    """
                    select source, resource,
                           max(finished_at) filter (
                               where status in ('SUCCESS', 'SUCCESS_WITH_REJECTS')),
                           (array_agg(status order by started_at desc))[1]
                    from {s}.ingest_run_resources
                    -- pushes to Salesforce load nothing: not a source's freshness
                    where run_id not in (
                        select run_id from {s}.ingest_runs where sources = %s
                    )
                    group by source, resource
                    order by source, resource
                    """
                ).format(s=sql.Identifier(schema)),
                (PUSH_RUN_SOURCES,),
            )
            return [Freshness(*row) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable:
        return []


@dataclass(frozen=True)
class RowCountChange:
    relation: str  # schema.table
    previous: int
    current: int


def row_count_changes(
    target: WarehouseTarget, schema: str, invocation_id: str
) -> list[RowCountChange]:
    """Row counts the invocation recorded (macros/row_counts.sql), each against the same
    relation's count in the invocation before it."""
    try:
        with target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    """
                    select now.relation_schema || '.' || now.relation_name,
                           before.row_count, now.row_count
                    from {s}.dbt_model_row_counts as now
                    cross join lateral (
                        select row_count from {s}.dbt_model_row_counts as earlier
                        where earlier.unique_id = now.unique_id
                          and earlier.run_started_at < now.run_started_at
                        order by earlier.run_started_at desc limit 1
                    ) as before
                    where now.invocation_id = %s
                    order by 1
                    """
                ).format(s=sql.Identifier(schema)),
                (invocation_id,),
            )
            return [RowCountChange(*row) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable:
        return []


@dataclass(frozen=True)
class RaisedAlert:
    raised_at: datetime
    kind: str
    subject: str
    outcome: str


def recent_alerts(target: WarehouseTarget, schema: str, limit: int = 5) -> list[RaisedAlert]:
    """The newest alerts raised (ops.alerts), whatever became of them; none before the first."""
    try:
        with target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "select raised_at, kind, subject, outcome from {s}.alerts"
                    " order by raised_at desc, alert_id desc limit %s"
                ).format(s=sql.Identifier(schema)),
                (limit,),
            )
            return [RaisedAlert(*row) for row in cur.fetchall()]
    except psycopg2.errors.UndefinedTable:
        return []
