"""One run of the loader: every selected source into its raw schema, with ledger and verdict."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.extract.resource import DltResource
from psycopg2 import sql

from ingest import config, leftovers, redaction
from ingest.config import RunOptions, SourceSettings
from ingest.errors import ConfigurationError, PeoplestackError
from ingest.ledger import Ledger, RunLock, run_lock
from ingest.progress import Reporter
from ingest.quality import FAILED, SUCCESS, SUCCESS_WITH_REJECTS, verdict
from ingest.redaction import redact
from ingest.sources import salesforce, successfactors
from ingest.sources.incremental import ResourceCounters, raw_resource
from ingest.sources.raw_tables import RAW_SCHEMAS
from ingest.target import WarehouseTarget, ensure_reachable, resolve_target

# Resources whose records can vanish: a full refresh marks the missing ones deleted.
DELETION_TRACKED = {("salesforce", "users"): "id", ("successfactors", "users"): "user_id"}
DELETION_TRACKING_SOURCES = {source for source, _ in DELETION_TRACKED}
DRY_RUN = "DRY_RUN"
# The built-in sandbox answers Learning calls unthrottled so the demo's 6,000 learners take
# seconds, not the ~100 minutes SAP's throttle would impose; tests turn the throttle back on.
SANDBOX_LEARNING_INTERVAL_SECONDS = 0.0


@dataclass
class ResourceResult:
    """How one resource of one source fared in a run."""

    counters: ResourceCounters
    status: str = SUCCESS
    error: str | None = None
    new_columns: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.counters.accepted if self.status in (SUCCESS, SUCCESS_WITH_REJECTS) else 0


@dataclass
class SourceResult:
    source: str
    resources: list[ResourceResult] = field(default_factory=list)
    # Set when the source could not even start (no resource ran).
    error: str | None = None

    @property
    def status(self) -> str:
        return _worst([FAILED] if self.error else [r.status for r in self.resources])

    @property
    def errors(self) -> list[str]:
        if self.error:
            return [self.error]
        return [f"{r.counters.resource}: {r.error}" for r in self.resources if r.error]


@dataclass(frozen=True)
class RunRequest:
    full_refresh: bool
    since: datetime | None
    dry_run: bool


def run(args: argparse.Namespace) -> int:
    """``python -m ingest``: load every selected source; exit 0 on success, 1 on failure."""
    request = RunRequest(args.full_refresh, _parse_since(args.since), args.dry_run)
    # dlt's own log lines would repeat (less clearly) what the reporter says; at ERROR it
    # prints a traceback, unmasked, for every retry of a failing load job (a full disk, a
    # restarted warehouse), burying the one line that says what failed.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")
    with _sandbox_if_asked(args):
        options = config.load_run_options()
        names = _selected_sources(args.sources)
        _require_employee_central(names)
        settings = {name: config.load_source_settings(name) for name in names}
        target = resolve_target()
        _mask_secrets(list(settings.values()), [target.password])
        reporter = Reporter(args.log_format)
        ensure_reachable(target)
        with run_lock(target, options.lock_wait_seconds, options.schema_prefix) as lock:
            _refuse_learning_without_employees(names, options, target)
            return _run_locked(names, settings, options, request, target, reporter, lock)


def _run_locked(
    names: list[str],
    settings: dict[str, SourceSettings],
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    reporter: Reporter,
    lock: RunLock,
) -> int:
    ledger = Ledger(target, options.schema("ops"))
    ledger.ensure_tables()
    run_id = ledger.start_run(names, request.full_refresh)
    leftovers.remove_dead_workdirs()
    reporter.event(
        "run_started",
        f"run {run_id}: {', '.join(names)} into the {target.describe()}"
        + (" (full refresh)" if request.full_refresh else "")
        + (" (dry run)" if request.dry_run else ""),
        run_id=run_id,
        sources=names,
    )

    def load(name: str) -> SourceResult:
        return _load_source(name, settings[name], options, request, target, reporter, lock)

    results: list[SourceResult] = []
    # Salesforce runs beside SuccessFactors; Learning follows Employee Central because it
    # iterates the employees Employee Central has just landed.
    chains = [[n] for n in names if n == "salesforce"]
    chains.append([n for n in ("successfactors", "successfactors_learning") if n in names])
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chain_results in pool.map(lambda chain: [load(n) for n in chain], chains):
            results.extend(chain_results)

    for result in results:
        for outcome in result.resources:
            ledger.record_resource(
                run_id,
                outcome.counters,
                status=outcome.status,
                loaded=outcome.loaded,
                api_requests=outcome.counters.api_requests,
                new_columns=outcome.new_columns,
                error=outcome.error,
            )
    status = _worst([r.status for r in results])
    errors = "; ".join(f"{r.source}: {e}" for r in results for e in r.errors)
    ledger.finish_run(run_id, status, errors or None)
    reporter.event("run_finished", f"run {run_id}: {status}", run_id=run_id, status=status)
    return 0 if status in (SUCCESS, SUCCESS_WITH_REJECTS, DRY_RUN) else 1


def _mask_secrets(settings: list[SourceSettings], extra: list[str] | None = None) -> None:
    """Register the configured secrets, and the Basic credential Learning derives, for masking."""
    for value in config.secret_values(settings, extra):
        redaction.register(value)
    for item in settings:
        if isinstance(item, config.LearningSettings):
            redaction.SECRETS.add_basic_credentials(item.client_id, item.client_secret)


def _require_employee_central(names: list[str]) -> None:
    """Learning is read one employee at a time, for the employees Employee Central lands."""
    if "successfactors_learning" in names and not config.is_configured("successfactors"):
        raise ConfigurationError(
            "successfactors_learning needs successfactors (Employee Central) configured too: "
            "Learning is read one employee at a time, for the employees Employee Central "
            "lands; set sources.successfactors.* (README: Running one source alone)"
        )


def _refuse_learning_without_employees(
    names: list[str], options: RunOptions, target: WarehouseTarget
) -> None:
    """Learning is read one employee at a time: without Employee Central it cannot start."""
    if "successfactors_learning" not in names or "successfactors" in names:
        return
    from ingest.sources import learning

    if not learning.employee_central_landed(target, options.schema(RAW_SCHEMAS["successfactors"])):
        raise ConfigurationError(
            "successfactors_learning is read per employee, and Employee Central has never "
            "been loaded here: run `python -m ingest --sources successfactors,"
            "successfactors_learning` (README: Running one source alone)"
        )


def _load_source(
    name: str,
    settings: SourceSettings,
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    reporter: Reporter,
    lock: RunLock,
) -> SourceResult:
    """Every resource of one source, each loaded or refused on its own."""
    result = SourceResult(name)
    try:
        made = _resources(name, settings, options, request, target, reporter)
        if not request.dry_run:
            _discard_uncommitted_rows(name, options, target, reporter)
        if not request.dry_run and name in DELETION_TRACKING_SOURCES:
            _ensure_deletions_table(target, options.schema(RAW_SCHEMAS[name]))
    except Exception as exc:  # the source cannot start: say why, let the others go on
        result.error = _describe(exc)
        reporter.event("source_failed", f"{name}: FAILED — {result.error}", source=name)
        return result
    for item in made:
        outcome = _load_resource(name, item, options, request, target, lock)
        result.resources.append(outcome)
        _report_resource(reporter, name, outcome)
    return result


def _discard_uncommitted_rows(
    name: str, options: RunOptions, target: WarehouseTarget, reporter: Reporter
) -> None:
    """Rows a killed run left under a load that never completed go before this source loads."""
    schema = options.schema(RAW_SCHEMAS[name])
    discarded = leftovers.discard_uncommitted_rows(target, schema)
    if discarded:
        reporter.event(
            "uncommitted_rows_discarded",
            f"{name}: discarded {discarded} row(s) in {schema} of a load that never completed "
            "(a killed run); this run reads those records again",
            source=name,
            rows=discarded,
        )


def _load_resource(
    name: str,
    made: Made,
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    lock: RunLock,
) -> ResourceResult:
    """Extract one resource, judge it, and load it only if it passes the quality gate.

    Each resource gets a pipeline of its own in a temporary directory, synced from the
    warehouse: a refused resource's rows and cursor die with that directory, and the next
    resource starts from the state the warehouse holds, so neighbours never share a fate.
    """
    resource, counters, requests_made = made
    outcome = ResourceResult(counters)
    with tempfile.TemporaryDirectory(prefix=leftovers.workdir_prefix()) as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name=f"peoplestack_{name}",
            destination=dlt.destinations.postgres(credentials=target.sqlalchemy_url()),
            dataset_name=options.schema(RAW_SCHEMAS[name]),
            pipelines_dir=pipelines_dir,
        )
        try:
            pipeline.sync_destination()
            columns_before = _columns(pipeline)
            try:
                pipeline.extract(resource)
            finally:
                counters.api_requests = requests_made()
            pipeline.normalize()
            outcome.status = verdict(
                counters.extracted,
                counters.rejected,
                options.reject_threshold,
                options.reject_allowance,
            )
            if outcome.status == FAILED:
                outcome.error = _reject_summary(counters, options)
            elif request.dry_run:
                outcome.status = DRY_RUN
            else:
                lock.verify(before=f"loading {name}.{counters.resource}")
                info = pipeline.load()
                info.raise_on_failed_jobs()
                outcome.new_columns = _new_columns(columns_before, _columns(pipeline)).get(
                    counters.resource, []
                )
                if request.full_refresh and (name, counters.resource) in DELETION_TRACKED:
                    lock.verify(before=f"marking deletions in {name}.{counters.resource}")
                    _mark_deleted(name, counters.resource, target, options, list(info.loads_ids))
        except Exception as exc:  # a resource that cannot be trusted fails loudly; others go on
            outcome.status = FAILED
            outcome.error = _describe(exc)
    counters.finished_at = counters.finished_at or datetime.now(UTC)
    return outcome


def _report_resource(reporter: Reporter, name: str, outcome: ResourceResult) -> None:
    counters = outcome.counters
    message = (
        f"{name}.{counters.resource}: {outcome.status} — {counters.extracted} extracted "
        f"from {counters.pages} page(s), {outcome.loaded} loaded, "
        f"{counters.rejected} rejected, {counters.duplicates} already loaded"
    )
    if outcome.status != FAILED and counters.extracted == 0 and counters.full_window:
        message += (
            " — the API answered no records at all (nothing maintained there, or the "
            "technical user lacks permission on it): the table exists, empty, and the marts "
            "that need it build empty"
        )
    reporter.event(
        "resource_finished",
        message,
        source=name,
        resource=counters.resource,
        status=outcome.status,
        pages=counters.pages,
        extracted=counters.extracted,
        loaded=outcome.loaded,
        rejected=counters.rejected,
    )
    if outcome.new_columns:
        reporter.event(
            "schema_changed",
            f"{name}.{counters.resource}: new column(s) {', '.join(outcome.new_columns)}",
            source=name,
            resource=counters.resource,
            new_columns=outcome.new_columns,
        )
    if outcome.error:
        reporter.event(
            "resource_failed",
            f"{name}.{counters.resource}: FAILED — {outcome.error}",
            source=name,
            resource=counters.resource,
        )


Made = tuple[DltResource, ResourceCounters, Callable[[], int]]


def _resources(
    name: str,
    settings: SourceSettings,
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    reporter: Reporter,
) -> list[Made]:
    """The source's dlt resources, each with its counters and its API request count."""
    common: dict[str, Any] = {
        "overlap": timedelta(minutes=options.overlap_minutes),
        "full_refresh": request.full_refresh,
        "since": request.since,
        "progress": reporter.progress,
    }

    def make(resource: str, requests_made: Callable[[], int], **kwargs: Any) -> Made:
        counters = ResourceCounters(name, resource)
        made = raw_resource(name=resource, table=resource, counters=counters, **common, **kwargs)
        return made, counters, requests_made

    if isinstance(settings, config.SalesforceSettings):
        sf = salesforce.SalesforceApi(settings, options)
        return [
            make(
                "users",
                lambda: sf.client.requests_made,
                columns=salesforce.USER_COLUMNS,
                contract=salesforce.USER_CONTRACT,
                fetch=lambda window: salesforce.fetch_users(sf, window),
                flatten=salesforce.flatten_user,
            )
        ]
    if isinstance(settings, config.SuccessFactorsSettings):
        # One client per resource, so the ledger can say which resource made which requests.
        users_api = successfactors.SuccessFactorsApi(settings, options)
        units_api = successfactors.SuccessFactorsApi(settings, options)
        return [
            make(
                "users",
                lambda: users_api.client.requests_made,
                columns=successfactors.USER_COLUMNS,
                contract=successfactors.USER_CONTRACT,
                fetch=lambda window: successfactors.fetch_users(users_api, window),
                flatten=successfactors.flatten_user,
            ),
            make(
                "org_units",
                lambda: units_api.client.requests_made,
                columns=successfactors.ORG_UNIT_COLUMNS,
                contract=successfactors.ORG_UNIT_CONTRACT,
                fetch=lambda window: successfactors.fetch_org_units(units_api, window),
                flatten=successfactors.flatten_org_unit,
            ),
        ]
    from ingest.sources import learning

    return learning.resources(settings, options, target, make)


def _reject_summary(counters: ResourceCounters, options: RunOptions) -> str:
    reasons = ", ".join(f"{k} x{v}" for k, v in sorted(counters.reject_reasons.items()))
    return (
        f"quality gate: {counters.rejected} of {counters.extracted} records rejected "
        f"({counters.rejected / max(counters.extracted, 1):.1%}; allowed: "
        f"{options.reject_threshold:.0%} or {options.reject_allowance} record(s), and never "
        f"all: {reasons}); nothing of {counters.resource} loaded, its cursor kept"
    )


def _worst(statuses: list[str]) -> str:
    for candidate in (FAILED, SUCCESS_WITH_REJECTS, DRY_RUN):
        if candidate in statuses:
            return candidate
    return SUCCESS


def _columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    if not pipeline.schema_names:
        return {}
    tables = pipeline.default_schema.data_tables()
    return {table["name"]: set(table.get("columns", {})) for table in tables}


def _new_columns(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, list[str]]:
    """Columns that appeared on tables that existed before (a new table is not drift)."""
    return {
        table: sorted(columns - before[table])
        for table, columns in after.items()
        if table in before and columns - before[table]
    }


def _ensure_deletions_table(target: WarehouseTarget, schema_name: str) -> None:
    """``deletions`` exists from a source's first run, so dbt reads it from day one."""
    schema = sql.Identifier(schema_name)
    with target.transaction() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(schema))
        cur.execute(
            sql.SQL(
                "create table if not exists {}.deletions (resource text not null,"
                " record_key text not null, detected_at timestamptz not null,"
                " _dlt_load_id text not null)"
            ).format(schema)
        )


def _mark_deleted(
    name: str, resource: str, target: WarehouseTarget, options: RunOptions, load_ids: list[str]
) -> None:
    """After a full refresh: every key that did not come back is recorded as deleted."""
    if not load_ids:
        return
    schema = sql.Identifier(options.schema(RAW_SCHEMAS[name]))
    with target.transaction() as cur:
        cur.execute(
            sql.SQL(
                """
                insert into {schema}.deletions
                select %(resource)s, known.key, now(), %(load_id)s
                from (
                    select {key} as key, max(_extracted_at) as last_seen_at
                    from {schema}.{table} group by {key}
                ) as known
                where not exists (
                    select 1 from {schema}.{table} as t
                    where t.{key} = known.key and t._dlt_load_id = any(%(load_ids)s)
                )
                and not exists (
                    select 1 from {schema}.deletions as d
                    where d.resource = %(resource)s and d.record_key = known.key
                      and d.detected_at >= known.last_seen_at
                )
                """
            ).format(
                schema=schema,
                key=sql.Identifier(DELETION_TRACKED[(name, resource)]),
                table=sql.Identifier(resource),
            ),
            {"resource": resource, "load_id": load_ids[0], "load_ids": load_ids},
        )


def _selected_sources(requested: str | None) -> list[str]:
    if requested:
        names = [n.strip() for n in requested.split(",") if n.strip()]
        unknown = [n for n in names if n not in config.SOURCE_NAMES]
        if unknown:
            raise ConfigurationError(
                f"unknown source(s) {', '.join(unknown)}; "
                f"choose from {', '.join(config.SOURCE_NAMES)}"
            )
        return names
    names = [n for n in config.SOURCE_NAMES if config.is_configured(n)]
    if not names:
        raise ConfigurationError(
            "no source is configured: try `python -m ingest --sandbox`, or configure a tenant "
            "in .dlt/config.toml and .dlt/secrets.toml (README: Running against real tenants)"
        )
    return names


def _parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"--since must be an ISO 8601 timestamp, not {text!r}") from None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if value > datetime.now(UTC):
        # A start in the future reads nothing at all: surely a mistyped date.
        raise ConfigurationError(f"--since must not be in the future, not {text!r}")
    return value


@contextlib.contextmanager
def _sandbox_if_asked(args: argparse.Namespace) -> Iterator[None]:
    """With ``--sandbox``: an in-process sandbox, configured exactly like a real tenant."""
    if not getattr(args, "sandbox", False):
        yield
        return
    from ingest.sandbox import Sandbox

    scale: str | int = (
        int(args.sandbox_scale) if args.sandbox_scale.isdigit() else args.sandbox_scale
    )
    sandbox = Sandbox(
        seed=args.sandbox_seed,
        scale=scale,
        day=args.sandbox_day,
        learning_min_interval_seconds=SANDBOX_LEARNING_INTERVAL_SECONDS,
    )
    sandbox.start()
    saved = dict(os.environ)
    try:
        os.environ.setdefault(
            "INGEST__LEARNING_MIN_INTERVAL_SECONDS", str(SANDBOX_LEARNING_INTERVAL_SECONDS)
        )
        for source, values in sandbox.source_config().items():
            for key, value in values.items():
                os.environ[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sandbox.stop()


def _describe(exc: BaseException) -> str:
    """The most telling message in an exception chain (dlt wraps step failures)."""
    seen: BaseException | None = exc
    innermost = exc
    while seen is not None:
        if isinstance(seen, PeoplestackError):
            return str(seen)
        innermost = seen
        # dlt's PipelineStepFailed keeps the step's own exception in ``.exception``.
        inner = getattr(seen, "exception", None)
        seen = inner if isinstance(inner, BaseException) else seen.__cause__ or seen.__context__
    text = " ".join(str(innermost).split())
    return redact(f"{type(innermost).__name__}: {text[:500]}")


def check(args: argparse.Namespace) -> int:
    """``python -m ingest check``: authenticate and make one request per source."""
    with _sandbox_if_asked(args):
        options = config.load_run_options()
        names = _selected_sources(args.sources)
        failures = 0
        for name in names:
            settings = config.load_source_settings(name)
            _mask_secrets([settings])
            try:
                detail = _probe(name, settings, options)
                print(redact(f"{name}: OK ({detail})"))
            except PeoplestackError as exc:
                failures += 1
                print(redact(f"{name}: FAILED — {exc}"))
        return 1 if failures else 0


def _probe(name: str, settings: SourceSettings, options: RunOptions) -> str:
    if isinstance(settings, config.SalesforceSettings):
        api = salesforce.SalesforceApi(settings, options)
        fields = api.user_fields()
        return f"User has {len(fields)} fields to load"
    if isinstance(settings, config.SuccessFactorsSettings):
        ec = successfactors.SuccessFactorsApi(settings, options)
        page = next(ec.pages("User", {"$top": "1", "$select": "userId"}))
        return f"User answered with {len(page)} row"
    from ingest.sources import learning

    return learning.probe(settings, options)


def print_status() -> int:
    """``python -m ingest status``: the recent runs from the ledger."""
    options = config.load_run_options()
    target = resolve_target()
    if target.is_local:
        from ingest.local_warehouse import LocalWarehouse

        if not LocalWarehouse.for_target(target).is_running():
            print("the local warehouse is not running: no runs to show (make demo starts it)")
            return 0
    rows = Ledger(target, options.schema("ops")).recent_runs()
    if not rows:
        print(f"no runs recorded yet in the {target.describe()}")
        return 0
    current = None
    for (
        run_id,
        started,
        finished,
        status,
        error,
        source,
        resource,
        rstatus,
        ext,
        loaded,
        rej,
        reqs,
        new,
    ) in rows:
        if run_id != current:
            current = run_id
            took = f"{(finished - started).total_seconds():.1f} s" if finished else "running"
            print(f"{started:%Y-%m-%d %H:%M:%S} {run_id} {status} ({took})")
            if error:
                print(f"    error: {error}")
        if source:
            extra = f", new columns: {new}" if new else ""
            print(
                f"    {source}.{resource}: {rstatus}, {ext} extracted, {loaded} loaded, "
                f"{rej} rejected, {reqs} requests{extra}"
            )
    return 0
