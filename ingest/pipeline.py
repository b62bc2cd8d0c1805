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

from ingest import config
from ingest.config import RunOptions, SourceSettings
from ingest.errors import ConfigurationError, PeoplestackError
from ingest.ledger import Ledger, run_lock
from ingest.progress import Redactor, Reporter
from ingest.quality import FAILED, SUCCESS, SUCCESS_WITH_REJECTS, verdict
from ingest.sources import salesforce, successfactors
from ingest.sources.incremental import ResourceCounters, raw_resource
from ingest.warehouse import WarehouseTarget, ensure_reachable, resolve_target

RAW_SCHEMAS = {
    "salesforce": "raw_salesforce",
    "successfactors": "raw_successfactors",
    "successfactors_learning": "raw_successfactors",
}
# Resources whose records can vanish: a full refresh marks the missing ones deleted.
DELETION_TRACKED = {("salesforce", "users"): "id", ("successfactors", "users"): "user_id"}
DRY_RUN = "DRY_RUN"
# The built-in sandbox answers Learning calls unthrottled so the demo's 6,000 learners take
# seconds, not the ~100 minutes SAP's throttle would impose; tests turn the throttle back on.
SANDBOX_LEARNING_INTERVAL_SECONDS = 0.0


@dataclass
class SourceResult:
    source: str
    status: str
    error: str | None = None
    resources: list[ResourceCounters] = field(default_factory=list)
    new_columns: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    full_refresh: bool
    since: datetime | None
    dry_run: bool


def run(args: argparse.Namespace) -> int:
    """``python -m ingest``: load every selected source; exit 0 on success, 1 on failure."""
    request = RunRequest(args.full_refresh, _parse_since(args.since), args.dry_run)
    # dlt's own log lines would repeat (less clearly) what the reporter says.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    with _sandbox_if_asked(args):
        options = config.load_run_options()
        names = _selected_sources(args.sources)
        settings = {name: config.load_source_settings(name) for name in names}
        target = resolve_target()
        redact = Redactor(config.secret_values(list(settings.values()), [target.password]))
        reporter = Reporter(args.log_format, redact)
        ensure_reachable(target)
        with run_lock(target, options.lock_wait_seconds):
            return _run_locked(names, settings, options, request, target, reporter)


def _run_locked(
    names: list[str],
    settings: dict[str, SourceSettings],
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    reporter: Reporter,
) -> int:
    ledger = Ledger(target, options.schema("ops"))
    ledger.ensure_tables()
    run_id = ledger.start_run(names, request.full_refresh)
    reporter.event(
        "run_started",
        f"run {run_id}: {', '.join(names)} into the {target.describe()}"
        + (" (full refresh)" if request.full_refresh else "")
        + (" (dry run)" if request.dry_run else ""),
        run_id=run_id,
        sources=names,
    )

    def load(name: str) -> SourceResult:
        return _load_source(name, settings[name], options, request, target, reporter)

    results: list[SourceResult] = []
    # Salesforce runs beside SuccessFactors; Learning follows Employee Central because it
    # iterates the employees Employee Central has just landed.
    chains = [[n] for n in names if n == "salesforce"]
    chains.append([n for n in ("successfactors", "successfactors_learning") if n in names])
    with ThreadPoolExecutor(max_workers=2) as pool:
        for chain_results in pool.map(lambda chain: [load(n) for n in chain], chains):
            results.extend(chain_results)

    for result in results:
        for counters in result.resources:
            ledger.record_resource(
                run_id,
                counters,
                status=result.status,
                loaded=_loaded(result.status, counters),
                api_requests=counters.api_requests,
                new_columns=result.new_columns.get(counters.resource, []),
                error=result.error,
            )
    status = _overall(results)
    errors = "; ".join(f"{r.source}: {r.error}" for r in results if r.error)
    ledger.finish_run(run_id, status, errors or None)
    reporter.event("run_finished", f"run {run_id}: {status}", run_id=run_id, status=status)
    return 0 if status in (SUCCESS, SUCCESS_WITH_REJECTS, DRY_RUN) else 1


def _load_source(
    name: str,
    settings: SourceSettings,
    options: RunOptions,
    request: RunRequest,
    target: WarehouseTarget,
    reporter: Reporter,
) -> SourceResult:
    result = SourceResult(name, SUCCESS)
    with tempfile.TemporaryDirectory(prefix="peoplestack-dlt-") as pipelines_dir:
        # No local pipeline state survives a run: the warehouse's copy is the only one.
        pipeline = dlt.pipeline(
            pipeline_name=f"peoplestack_{name}",
            destination=dlt.destinations.postgres(credentials=target.sqlalchemy_url()),
            dataset_name=options.schema(RAW_SCHEMAS[name]),
            pipelines_dir=pipelines_dir,
        )
        try:
            pipeline.sync_destination()
            resources = _resources(name, settings, options, request, target, reporter)
            result.resources = [counters for _, counters, _ in resources]
            columns_before = _columns(pipeline)
            try:
                pipeline.extract([resource for resource, _, _ in resources])
            finally:
                for _, counters, requests_made in resources:
                    counters.api_requests = requests_made()
            pipeline.normalize()
            result.status = _source_verdict(result.resources, options.reject_threshold)
            # Packages not loaded here die with the temporary pipelines directory.
            if result.status == FAILED:
                result.error = _reject_summary(result.resources, options.reject_threshold)
            elif request.dry_run:
                result.status = DRY_RUN
            else:
                info = pipeline.load()
                info.raise_on_failed_jobs()
                if request.full_refresh:
                    _mark_deleted(name, result.resources, target, options, info.loads_ids)
                result.new_columns = _new_columns(columns_before, _columns(pipeline))
        except Exception as exc:  # a source that cannot be trusted fails loudly; others go on
            result.status = FAILED
            result.error = _describe(exc)
    for counters in result.resources:
        counters.finished_at = counters.finished_at or datetime.now(UTC)
        reporter.event(
            "resource_finished",
            f"{name}.{counters.resource}: {result.status} — {counters.extracted} extracted "
            f"from {counters.pages} page(s), {_loaded(result.status, counters)} loaded, "
            f"{counters.rejected} rejected, {counters.duplicates} already loaded",
            source=name,
            resource=counters.resource,
            status=result.status,
            pages=counters.pages,
            extracted=counters.extracted,
            rejected=counters.rejected,
        )
    for resource, columns in result.new_columns.items():
        reporter.event(
            "schema_changed",
            f"{name}.{resource}: new column(s) {', '.join(columns)}",
            source=name,
            resource=resource,
            new_columns=columns,
        )
    if result.error:
        reporter.event("source_failed", f"{name}: FAILED — {result.error}", source=name)
    return result


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


def _loaded(status: str, counters: ResourceCounters) -> int:
    return counters.accepted if status in (SUCCESS, SUCCESS_WITH_REJECTS) else 0


def _source_verdict(resources: list[ResourceCounters], threshold: float) -> str:
    verdicts = [verdict(c.extracted, c.rejected, threshold) for c in resources]
    for candidate in (FAILED, SUCCESS_WITH_REJECTS):
        if candidate in verdicts:
            return candidate
    return SUCCESS


def _reject_summary(resources: list[ResourceCounters], threshold: float) -> str:
    parts = []
    for c in resources:
        if c.rejected and verdict(c.extracted, c.rejected, threshold) == FAILED:
            reasons = ", ".join(f"{k} x{v}" for k, v in sorted(c.reject_reasons.items()))
            parts.append(
                f"{c.resource}: {c.rejected} of {c.extracted} records rejected "
                f"({c.rejected / max(c.extracted, 1):.1%} > {threshold:.0%}: {reasons})"
            )
    return "quality gate: " + "; ".join(parts) + "; nothing loaded, cursor kept"


def _overall(results: list[SourceResult]) -> str:
    statuses = {r.status for r in results}
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


def _mark_deleted(
    name: str,
    resources: list[ResourceCounters],
    target: WarehouseTarget,
    options: RunOptions,
    load_ids: list[str],
) -> None:
    """After a full refresh: every key that did not come back is recorded as deleted."""
    schema = sql.Identifier(options.schema(RAW_SCHEMAS[name]))
    conn = target.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "create table if not exists {}.deletions (resource text not null,"
                    " record_key text not null, detected_at timestamptz not null,"
                    " _dlt_load_id text not null)"
                ).format(schema)
            )
            for counters in resources:
                key = DELETION_TRACKED.get((name, counters.resource))
                if key is None or not load_ids:
                    continue
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
                        key=sql.Identifier(key),
                        table=sql.Identifier(counters.resource),
                    ),
                    {"resource": counters.resource, "load_id": load_ids[0], "load_ids": load_ids},
                )
    finally:
        conn.close()


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
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    return f"{type(innermost).__name__}: {text[:500]}"


def check(args: argparse.Namespace) -> int:
    """``python -m ingest check``: authenticate and make one request per source."""
    with _sandbox_if_asked(args):
        options = config.load_run_options()
        names = _selected_sources(args.sources)
        failures = 0
        for name in names:
            settings = config.load_source_settings(name)
            redact = Redactor(config.secret_values([settings]))
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
        from ingest.warehouse import LocalWarehouse

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
