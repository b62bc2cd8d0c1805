"""``python -m ingest push``: learning compliance from the warehouse onto Salesforce users.

    marts.dim_salesforce_user_compliance ─► what changed since the last successful push
      (ops.salesforce_push_state) ─► describe check ─► Collections or Bulk API 2.0
      ─► successes into the push state, failures into ops.salesforce_push_failures
      ─► ledger row and verdict (failure rate above push.error_threshold: FAILED)

A failed record is not in the push state with its new values, so the next push sends it
again by itself. The as-of date goes along with every changed record but is not a change on
its own: otherwise every user would be resent every day.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

import dlt
import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values

from ingest import config, redaction
from ingest.accounting import ResourceCounters
from ingest.config import Given, RunOptions
from ingest.errors import ConfigurationError, PeoplestackError, WarehouseError, describe
from ingest.history import PUSH_RUN_SOURCES
from ingest.ledger import Ledger, run_lock
from ingest.progress import Reporter
from ingest.quality import FAILED, SUCCESS, SUCCESS_WITH_REJECTS
from ingest.salesforce_push import (
    BulkPolling,
    UserUpdate,
    WriteResult,
    check_fields,
    write_with_bulk,
    write_with_collections,
)
from ingest.sources.salesforce import SalesforceApi, SalesforceSettings
from ingest.target import WarehouseTarget, ensure_reachable, resolve_target

MODEL = "dim_salesforce_user_compliance"
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class PushSettings:
    """``[push]`` in .dlt/config.toml (or PUSH__* variables). A field set to "" is not
    pushed."""

    status_field: str = "Learning_Compliance_Status__c"
    overdue_count_field: str = "Learning_Overdue_Count__c"
    next_due_date_field: str = "Learning_Next_Due_Date__c"
    certification_expiry_field: str = "Learning_Certification_Expiry__c"
    as_of_field: str = "Learning_Compliance_As_Of__c"
    # A run whose share of failed records is above this is FAILED (exit 1).
    error_threshold: float = 0.10
    include_inactive_users: bool = False
    # More changed records than this go through Bulk API 2.0; fewer through sObject
    # Collections (200 a call: at most 10 calls, answered at once).
    bulk_threshold: int = 2_000
    bulk_poll_seconds: float = 2.0  # first wait between Bulk job polls; doubles to 30 s
    bulk_timeout_minutes: float = 30.0

    def columns(self) -> dict[str, str]:
        """Model column -> Salesforce field, for the fields that are pushed."""
        pairs = {
            "compliance_status": self.status_field,
            "overdue_count": self.overdue_count_field,
            "next_due_date": self.next_due_date_field,
            "certification_expiry_date": self.certification_expiry_field,
            "as_of_date": self.as_of_field,
        }
        return {column: name for column, name in pairs.items() if name}


def load_push_settings() -> PushSettings:
    values: dict[str, Any] = {}
    for spec in fields(PushSettings):
        value = dlt.config.get(f"push.{spec.name}")
        if value is None:
            continue
        values[spec.name] = _setting(spec.name, spec.default, value)
    settings = PushSettings(**values)
    if not 0 <= settings.error_threshold <= 1:
        raise ConfigurationError("push.error_threshold must be between 0 and 1")
    for name in ("bulk_threshold", "bulk_poll_seconds", "bulk_timeout_minutes"):
        if getattr(settings, name) <= 0:
            raise ConfigurationError(f"push.{name} must be > 0")
    if not settings.columns():
        raise ConfigurationError('push: every target field is set to ""; nothing to push')
    return settings


def _setting(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ConfigurationError(f"push.{name} must be true or false, not {value!r}")
        return text == "true"
    try:
        return type(default)(value)
    except ValueError:
        raise ConfigurationError(
            f"push.{name} must be a {type(default).__name__}, not {value!r}"
        ) from None


@dataclass(frozen=True)
class PushRequest:
    dry_run: bool = False
    full: bool = False  # resend every matched user, changed or not


@dataclass
class Plan:
    """What this push would send, and why the rest is not sent."""

    matched: int = 0
    inactive_skipped: int = 0
    never_read: int = 0  # learning never read: nothing known, so nothing to say
    unchanged: int = 0
    retried: int = 0  # users whose last attempt failed
    new: int = 0  # users never pushed
    updates: list[UserUpdate] = field(default_factory=list)
    previous: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def push(request: PushRequest, reporter: Reporter, given: Given | None = None) -> int:
    """Send what changed; exit 0, or 1 when the failure rate is above the threshold."""
    given = given or Given()
    options = config.load_run_options(given.run_options)
    settings = _salesforce_settings(given)
    push_settings = load_push_settings()
    target = resolve_target()
    for secret in config.secret_values([settings], [target.password]):
        redaction.register(secret)
    ensure_reachable(target)
    state = PushState(target, options)
    # The loader's run lock: one run of either kind at a time per prefix, which the ledger
    # relies on (a new run marks RUNNING rows left behind as abandoned).
    with run_lock(target, options.lock_wait_seconds, options.schema_prefix):
        state.ensure_tables()
        rows = state.model_rows(push_settings)
        api = SalesforceApi(settings, options)
        check_fields(api, list(push_settings.columns().values()))
        plan = make_plan(rows, state.pushed_values(), state.failing_users(), push_settings, request)
        _report_plan(reporter, plan, request)
        if request.dry_run:
            return 0
        return _send(state, api, plan, push_settings, request, reporter)


def _salesforce_settings(given: Given) -> SalesforceSettings:
    supplied = given.sources.get("salesforce")
    if not config.is_configured("salesforce", SalesforceSettings, supplied):
        raise ConfigurationError(
            "push writes to Salesforce with the loader's credentials: set sources.salesforce.* "
            "(README: Configuration)"
        )
    return config.load_source_settings("salesforce", SalesforceSettings, supplied)


def make_plan(
    rows: list[dict[str, Any]],
    pushed: Mapping[str, dict[str, Any]],
    failing: set[str],
    settings: PushSettings,
    request: PushRequest,
) -> Plan:
    """The users to send: new, changed (the as-of date alone is no change) or, with
    ``--full``, all; inactive ones only when configured; none whose learning was never read
    (the model would call them Compliant, knowing nothing)."""
    plan = Plan(previous=pushed)
    columns = settings.columns()
    as_of = columns.get("as_of_date")
    for row in rows:
        plan.matched += 1
        if not row["is_salesforce_user_active"] and not settings.include_inactive_users:
            plan.inactive_skipped += 1
            continue
        if row["learning_last_read_at"] is None:
            plan.never_read += 1
            continue
        values = {name: wire_value(row[column]) for column, name in columns.items()}
        user_id = row["salesforce_user_id"]
        before = pushed.get(user_id)
        if before is None:
            plan.new += 1
        elif not request.full and _without(before, as_of) == _without(values, as_of):
            plan.unchanged += 1
            continue
        if user_id in failing:
            plan.retried += 1
        plan.updates.append(UserUpdate(user_id, values))
    return plan


def _without(values: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != name}


def wire_value(value: Any) -> Any:
    """A model value as Salesforce takes it: dates as YYYY-MM-DD, whole numbers as ints
    (Postgres may hand a count back as a Decimal or a float)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return int(value) if value == int(value) else float(value)
    return value


def _report_plan(reporter: Reporter, plan: Plan, request: PushRequest) -> None:
    verb = "would send" if request.dry_run else "sending"
    reporter.event(
        "push_plan",
        f"salesforce push: {plan.matched} matched users, {plan.inactive_skipped} inactive "
        f"and {plan.never_read} never read skipped, {plan.unchanged} unchanged; "
        f"{verb} {len(plan.updates)} "
        f"({plan.new} never pushed, {plan.retried} failed last time)",
        matched=plan.matched,
        inactive_skipped=plan.inactive_skipped,
        never_read=plan.never_read,
        unchanged=plan.unchanged,
        to_send=len(plan.updates),
        new=plan.new,
        retried=plan.retried,
    )
    if request.dry_run:
        for update in plan.updates[:SAMPLE_SIZE]:
            reporter.event("push_sample", f"  {update.user_id}: {_change_text(plan, update)}")
        reporter.event("push_dry_run", "dry run: nothing was sent")


def _change_text(plan: Plan, update: UserUpdate) -> str:
    before = plan.previous.get(update.user_id)
    if before is None:
        return ", ".join(f"{k} = {v!r}" for k, v in update.values.items())
    changed = [
        f"{k} {before.get(k)!r} -> {v!r}" for k, v in update.values.items() if before.get(k) != v
    ]
    return ", ".join(changed) or "unchanged (--full)"


def _send(
    state: PushState,
    api: SalesforceApi,
    plan: Plan,
    settings: PushSettings,
    request: PushRequest,
    reporter: Reporter,
) -> int:
    """Write the plan, keeping each answered call's results as they come, then judge."""
    ledger = Ledger(state.target, state.ops)
    ledger.ensure_tables()
    run_id = ledger.start_run([PUSH_RUN_SOURCES], request.full)
    counters = ResourceCounters("salesforce", "user_compliance_push", full_window=request.full)
    counters.extracted = len(plan.updates)
    values = {u.user_id: u.values for u in plan.updates}

    def done(results: list[WriteResult]) -> None:
        state.record(run_id, results, values)
        for result in results:
            if result.success:
                counters.accepted += 1
            else:
                counters.count_reject(f"{result.error_code}: {result.error_message}")

    error: str | None = None
    try:
        if len(plan.updates) > settings.bulk_threshold:
            polling = BulkPolling(settings.bulk_poll_seconds, settings.bulk_timeout_minutes * 60)
            names = list(settings.columns().values())
            write_with_bulk(api, names, plan.updates, polling, done)
        elif plan.updates:
            write_with_collections(api, plan.updates, done)
    except PeoplestackError as exc:
        error = describe(exc)
    status, message = _verdict(counters, settings, error)
    counters.api_requests = api.client.requests_made
    ledger.record_resource(
        run_id,
        counters,
        status=status,
        loaded=counters.accepted,
        api_requests=counters.api_requests,
        new_columns=[],
        error=message if status == FAILED else None,
    )
    ledger.finish_run(run_id, status, message if status == FAILED else None)
    reporter.event(
        "push_done",
        f"salesforce push {status}: {counters.accepted} written, {counters.rejected} failed "
        f"of {counters.extracted}, {counters.api_requests} API requests"
        + (f" — {message}" if message else ""),
        status=status,
        sent=counters.extracted,
        succeeded=counters.accepted,
        failed=counters.rejected,
        api_requests=counters.api_requests,
        failure_reasons=counters.reject_reasons,
    )
    return 1 if status == FAILED else 0


def _verdict(
    counters: ResourceCounters, settings: PushSettings, error: str | None
) -> tuple[str, str | None]:
    if error is not None:
        return FAILED, error
    if not counters.rejected:
        return SUCCESS, None
    rate = counters.rejected / counters.extracted
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(counters.reject_reasons.items()))
    text = (
        f"{counters.rejected} of {counters.extracted} records failed ({rate:.1%}: {reasons}); "
        f"listed in ops.salesforce_push_failures and sent again next time"
    )
    if rate > settings.error_threshold:
        return FAILED, f"{text}; above push.error_threshold {settings.error_threshold:.0%}"
    return SUCCESS_WITH_REJECTS, text


class PushState:
    """What was pushed (``ops.salesforce_push_state``), what failed
    (``ops.salesforce_push_failures``) and the model the push reads."""

    def __init__(self, target: WarehouseTarget, options: RunOptions) -> None:
        self.target = target
        self.ops = options.schema("ops")
        self.marts = options.schema("marts")

    def ensure_tables(self) -> None:
        with self.target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    """
                    create schema if not exists {ops};
                    create table if not exists {ops}.salesforce_push_state (
                        salesforce_user_id text primary key,
                        pushed_values jsonb not null,
                        pushed_at timestamptz not null,
                        run_id text not null
                    );
                    create table if not exists {ops}.salesforce_push_failures (
                        run_id text not null,
                        salesforce_user_id text not null,
                        error_code text not null,
                        error_message text,
                        attempted_values jsonb not null,
                        failed_at timestamptz not null,
                        primary key (run_id, salesforce_user_id)
                    );
                    """
                ).format(ops=sql.Identifier(self.ops))
            )

    def model_rows(self, settings: PushSettings) -> list[dict[str, Any]]:
        columns = [
            "salesforce_user_id",
            "is_salesforce_user_active",
            "learning_last_read_at",
            *settings.columns(),
        ]
        query = sql.SQL("select {} from {}.{} order by salesforce_user_id").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier(self.marts),
            sql.Identifier(MODEL),
        )
        try:
            with self.target.transaction() as cur:
                cur.execute(query)
                return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
            raise WarehouseError(
                f"{self.marts}.{MODEL} does not exist: run `dbt build` first "
                "(the push sends what that model says)"
            ) from None

    def pushed_values(self) -> dict[str, dict[str, Any]]:
        with self.target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "select salesforce_user_id, pushed_values from {}.salesforce_push_state"
                ).format(sql.Identifier(self.ops))
            )
            return dict(cur.fetchall())

    def failing_users(self) -> set[str]:
        """Users whose latest attempt failed."""
        with self.target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "select f.salesforce_user_id from {ops}.salesforce_push_failures as f"
                    " left join {ops}.salesforce_push_state as s"
                    " on s.salesforce_user_id = f.salesforce_user_id"
                    " group by f.salesforce_user_id, s.pushed_at"
                    " having s.pushed_at is null or max(f.failed_at) > s.pushed_at"
                ).format(ops=sql.Identifier(self.ops))
            )
            return {user for (user,) in cur.fetchall()}

    def record(
        self, run_id: str, results: list[WriteResult], values: Mapping[str, dict[str, Any]]
    ) -> None:
        """One answered call's outcome, in one transaction."""
        ops = sql.Identifier(self.ops)
        written = [(r.user_id, json.dumps(values[r.user_id]), run_id) for r in results if r.success]
        failed = [
            (
                run_id,
                r.user_id,
                r.error_code or "UNKNOWN_ERROR",
                r.error_message,
                json.dumps(values[r.user_id]),
            )
            for r in results
            if not r.success
        ]
        with self.target.transaction() as cur:
            execute_values(
                cur,
                sql.SQL(
                    "insert into {}.salesforce_push_state"
                    " select v.user_id, v.pushed::jsonb, now(), v.run_id"
                    " from (values %s) as v (user_id, pushed, run_id)"
                    " on conflict (salesforce_user_id) do update set"
                    " pushed_values = excluded.pushed_values,"
                    " pushed_at = excluded.pushed_at, run_id = excluded.run_id"
                ).format(ops),
                written,
            )
            execute_values(
                cur,
                sql.SQL(
                    "insert into {}.salesforce_push_failures"
                    " select v.run_id, v.user_id, v.code, v.message, v.attempted::jsonb, now()"
                    " from (values %s) as v (run_id, user_id, code, message, attempted)"
                    " on conflict (run_id, salesforce_user_id) do nothing"
                ).format(ops),
                failed,
            )
