"""One run of the loader: every selected source into its raw schema, with ledger and verdict.

    select sources ─► resolve settings ─► take the run lock ─► ledger: run started
      └► per source (chains in parallel) ─► its ResourceSpecs ─► per resource:
           extract (private dlt pipeline) ─► quality verdict ─► load ─► deletions
      └► ledger: resources and run finished ─► exit code

Sources are known only through ``ingest.sources.registry``; ``cli.py`` renders the results.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingest import alerts, config, copy_load, deletions, leftovers, redaction
from ingest.accounting import ResourceCounters
from ingest.config import Given, RunOptions
from ingest.errors import ConfigurationError, PeoplestackError, describe
from ingest.landed import WarehouseLanded
from ingest.ledger import Ledger, RunLock, run_lock
from ingest.progress import Reporter
from ingest.quality import FAILED, SUCCESS, SUCCESS_WITH_REJECTS, verdict
from ingest.sources import registry
from ingest.sources.incremental import raw_resource
from ingest.sources.source import LearnerCoverage, ResourceSpec, Source
from ingest.target import WarehouseTarget, ensure_reachable, resolve_target

DRY_RUN = "DRY_RUN"


@dataclass(frozen=True)
class RunRequest:
    """What the command line asked of one run."""

    sources: str | None = None  # comma-separated names; None: every configured source
    full_refresh: bool = False
    since: datetime | None = None
    until: datetime | None = None  # a backfill window's end: the cursor stays where it is
    dry_run: bool = False


@dataclass
class ResourceResult:
    """How one resource of one source fared in a run."""

    counters: ResourceCounters
    status: str = SUCCESS
    error: str | None = None
    new_columns: list[str] = field(default_factory=list)
    # Which learners it read (per-learner resources only); ``refreshed`` counts once loaded.
    coverage: LearnerCoverage | None = None

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
        return worst([FAILED] if self.error else [r.status for r in self.resources])

    @property
    def errors(self) -> list[str]:
        if self.error:
            return [self.error]
        return [f"{r.counters.resource}: {r.error}" for r in self.resources if r.error]


@dataclass(frozen=True)
class _Run:
    """Everything one locked run works with."""

    request: RunRequest
    options: RunOptions
    settings: dict[str, Any]
    target: WarehouseTarget
    reporter: Reporter
    lock: RunLock
    landed: WarehouseLanded
    alerting: alerts.Alerts


def load(request: RunRequest, reporter: Reporter, given: Given | None = None) -> int:
    """``python -m ingest``: load every selected source; exit 0 on success, 1 on failure."""
    given = given or Given()
    # dlt's own log lines would repeat (less clearly) what the reporter says; at ERROR it
    # prints a traceback, unmasked, for every retry of a failing load job (a full disk, a
    # restarted warehouse), burying the one line that says what failed.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "CRITICAL")
    options = config.load_run_options(given.run_options)
    alert_settings = alerts.load_settings()
    sources = select_sources(request.sources, given)
    _check_window(request, sources)
    _require_read_sources_configured(sources, given)
    settings = resolve_settings(sources, given)
    target = resolve_target()
    mask_secrets(settings.values(), [target.password, *alert_settings.secrets()])
    ensure_reachable(target)
    with run_lock(target, options.lock_wait_seconds, options.schema_prefix) as lock:
        landed = WarehouseLanded(target, options)
        _refuse_reads_from_never_loaded(sources, landed)
        alerting = alerts.Alerts(alert_settings, target, options.schema("ops"), reporter)
        run = _Run(request, options, settings, target, reporter, lock, landed, alerting)
        return _run_locked(run, sources)


def _check_window(request: RunRequest, sources: list[Source]) -> None:
    """A window with an end (``--until``) reads part of the changes: it cannot be a full
    refresh, must end after it starts, and needs sources read by modification time."""
    if request.until is None:
        return
    if request.full_refresh:
        raise ConfigurationError(
            "--until bounds a window of changes, and --full-refresh reads everything: use one"
        )
    if request.since is not None and request.since >= request.until:
        raise ConfigurationError("--until must be after --since")
    unbounded = [s.name for s in sources if not s.bounded_reads]
    if unbounded:
        raise ConfigurationError(
            f"--until needs sources read by modification time; {', '.join(unbounded)} "
            "cannot be bounded (read per person): leave it out with --sources"
        )


def select_sources(requested: str | None, given: Given) -> list[Source]:
    """The sources asked for (``--sources``), else every configured one, in registry order."""
    if requested:
        names = [n.strip() for n in requested.split(",") if n.strip()]
        unknown = [n for n in names if n not in registry.SOURCES]
        if unknown:
            raise ConfigurationError(
                f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(registry.names())}"
            )
        return [s for s in registry.SOURCES.values() if s.name in names]
    sources = [s for s in registry.SOURCES.values() if _is_configured(s, given)]
    if not sources:
        raise ConfigurationError(
            "no source is configured: try `python -m ingest --sandbox`, or configure a tenant "
            "in .dlt/config.toml and .dlt/secrets.toml (README: Running against real tenants)"
        )
    return sources


def resolve_settings(sources: Iterable[Source], given: Given) -> dict[str, Any]:
    """Each source's settings, resolved once; a missing one stops the run before it starts."""
    return {
        s.name: config.load_source_settings(s.name, s.settings, given.sources.get(s.name))
        for s in sources
    }


def mask_secrets(settings: Iterable[Any], extra: list[str] | None = None) -> None:
    """Register every configured secret (and the forms sources derive) for masking."""
    for value in config.secret_values(list(settings), extra):
        redaction.register(value)


def _is_configured(source: Source, given: Given) -> bool:
    return config.is_configured(source.name, source.settings, given.sources.get(source.name))


def _require_read_sources_configured(sources: list[Source], given: Given) -> None:
    """A source that reads another's landed rows cannot run where that one is not set up."""
    for source in sources:
        if source.reads_from is None:
            continue
        needed = registry.get(source.reads_from)
        if not _is_configured(needed, given):
            raise ConfigurationError(
                f"{source.name} needs {needed.name} ({needed.title}) configured too: "
                f"{source.reads_from_reason}; set sources.{needed.name}.* "
                "(README: Running one source alone)"
            )


def _refuse_reads_from_never_loaded(sources: list[Source], landed: WarehouseLanded) -> None:
    """Run alone, such a source needs the other to have landed here at least once."""
    names = {s.name for s in sources}
    for source in sources:
        if source.reads_from is None or source.reads_from in names:
            continue
        if not landed.ever_loaded(source.reads_from):
            needed = registry.get(source.reads_from)
            raise ConfigurationError(
                f"{source.name} reads what {needed.title} lands ({source.reads_from_reason}), "
                f"and {needed.title} has never been loaded here: run `python -m ingest "
                f"--sources {needed.name},{source.name}` (README: Running one source alone)"
            )


def chains(sources: list[Source]) -> list[list[Source]]:
    """Sources grouped to run side by side: one that reads another's rows follows it."""
    grouped: list[list[Source]] = []
    for source in sources:
        home = next((c for c in grouped if source.reads_from in {s.name for s in c}), None)
        if home is None:
            grouped.append([source])
        else:
            home.append(source)
    return grouped


def _run_locked(run: _Run, sources: list[Source]) -> int:
    ledger = Ledger(run.target, run.options.schema("ops"))
    ledger.ensure_tables()
    names = [s.name for s in sources]
    run_id = ledger.start_run(names, run.request.full_refresh)
    leftovers.remove_dead_workdirs()
    request = run.request
    run.reporter.event(
        "run_started",
        f"run {run_id}: {', '.join(names)} into the {run.target.describe()}"
        + (" (full refresh)" if request.full_refresh else "")
        + (" (dry run)" if request.dry_run else ""),
        run_id=run_id,
        sources=names,
    )
    results: list[SourceResult] = []
    groups = chains(sources)
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        for group_results in pool.map(lambda g: [_load_source(run, s) for s in g], groups):
            results.extend(group_results)
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
                coverage=outcome.coverage,
                coverage_landed=outcome.status in (SUCCESS, SUCCESS_WITH_REJECTS),
            )
    status = worst([r.status for r in results])
    errors = "; ".join(f"{r.source}: {e}" for r in results for e in r.errors)
    ledger.finish_run(run_id, status, errors or None)
    # Alert first: the run's verdict stays its last line.
    run.alerting.loader_run_finished(run_id, status, errors or None)
    run.reporter.event("run_finished", f"run {run_id}: {status}", run_id=run_id, status=status)
    return 0 if status in (SUCCESS, SUCCESS_WITH_REJECTS, DRY_RUN) else 1


def _load_source(run: _Run, source: Source) -> SourceResult:
    """Every resource of one source, each loaded or refused on its own."""
    result = SourceResult(source.name)
    try:
        specs = source.resources(run.settings[source.name], run.options, run.landed)
        if not run.request.dry_run:
            _discard_uncommitted_rows(run, source)
            if source.deletion_keys:
                deletions.ensure_table(run.target, run.options.schema(source.raw_schema))
    except Exception as exc:  # the source cannot start: say why, let the others go on
        result.error = describe(exc)
        run.reporter.event(
            "source_failed", f"{source.name}: FAILED — {result.error}", source=source.name
        )
        return result
    for spec in specs:
        outcome = _load_resource(run, source, spec)
        result.resources.append(outcome)
        _report_resource(run.reporter, source.name, outcome)
    return result


def _discard_uncommitted_rows(run: _Run, source: Source) -> None:
    """Rows a killed run left under a load that never completed go before this source loads."""
    schema = run.options.schema(source.raw_schema)
    discarded = leftovers.discard_uncommitted_rows(run.target, schema)
    if discarded:
        run.reporter.event(
            "uncommitted_rows_discarded",
            f"{source.name}: discarded {discarded} row(s) in {schema} of a load that never "
            "completed (a killed run); this run reads those records again",
            source=source.name,
            rows=discarded,
        )


def _load_resource(run: _Run, source: Source, spec: ResourceSpec) -> ResourceResult:
    """Extract one resource, judge it, and load it only if it passes the quality gate.

    Each resource gets a pipeline of its own in a temporary directory, synced from the
    warehouse: a refused resource's rows and cursor die with that directory, and the next
    resource starts from the state the warehouse holds, so neighbours never share a fate.
    """
    counters = ResourceCounters(source.name, spec.name)
    outcome = ResourceResult(counters)
    with tempfile.TemporaryDirectory(prefix=leftovers.workdir_prefix()) as pipelines_dir:
        pipeline_name = f"peoplestack_{source.name}"
        for key, value in copy_load.pipeline_settings(pipeline_name).items():
            os.environ.setdefault(key, value)
        pipeline = dlt.pipeline(
            pipeline_name=pipeline_name,
            destination=copy_load.PostgresCopy(credentials=run.target.sqlalchemy_url()),
            dataset_name=run.options.schema(source.raw_schema),
            pipelines_dir=pipelines_dir,
        )
        try:
            _extract_judge_load(run, source, spec, pipeline, outcome)
        except Exception as exc:  # a resource that cannot be trusted fails loudly; others go on
            outcome.status = FAILED
            outcome.error = describe(exc)
    counters.finished_at = counters.finished_at or datetime.now(UTC)
    return outcome


def _extract_judge_load(
    run: _Run, source: Source, spec: ResourceSpec, pipeline: dlt.Pipeline, outcome: ResourceResult
) -> None:
    counters = outcome.counters
    pipeline.sync_destination()
    columns_before = _columns(pipeline)
    try:
        pipeline.extract(_dlt_resource(run, source, spec, counters))
    finally:
        counters.api_requests = spec.requests_made()
        outcome.coverage = spec.coverage() if spec.coverage is not None else None
    pipeline.normalize()
    options = run.options
    outcome.status = verdict(
        counters.extracted, counters.rejected, options.reject_threshold, options.reject_allowance
    )
    if outcome.status == FAILED:
        outcome.error = _reject_summary(counters, options)
        return
    if run.request.dry_run:
        outcome.status = DRY_RUN
        return
    run.lock.verify(before=f"loading {source.name}.{spec.name}")
    info = pipeline.load()
    info.raise_on_failed_jobs()
    outcome.new_columns = new_columns(columns_before, _columns(pipeline)).get(spec.name, [])
    key = source.deletion_keys.get(spec.name)
    if run.request.full_refresh and key is not None:
        run.lock.verify(before=f"marking deletions in {source.name}.{spec.name}")
        schema = options.schema(source.raw_schema)
        deletions.mark_deleted(run.target, schema, spec.name, key, list(info.loads_ids))


def _dlt_resource(
    run: _Run, source: Source, spec: ResourceSpec, counters: ResourceCounters
) -> DltResource:
    return raw_resource(
        name=spec.name,
        table=spec.name,
        columns=source.tables[spec.name],
        contract=spec.contract,
        fetch=spec.fetch,
        flatten=spec.flatten,
        counters=counters,
        overlap=timedelta(minutes=run.options.overlap_minutes),
        full_refresh=run.request.full_refresh,
        since=run.request.since,
        until=run.request.until,
        progress=run.reporter.progress,
        dedup_horizon=spec.dedup_horizon,
        companions={table: source.tables[table] for table in spec.companions},
    )


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
    if outcome.coverage is not None:
        _report_coverage(reporter, name, outcome, outcome.coverage)
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


def _report_coverage(
    reporter: Reporter, name: str, outcome: ResourceResult, coverage: LearnerCoverage
) -> None:
    """How many learners a per-learner resource read, and what its budget left unread."""
    resource = outcome.counters.resource
    if outcome.status in (SUCCESS, SUCCESS_WITH_REJECTS):
        oldest = coverage.oldest_read_at
        reporter.event(
            "learners_read",
            f"{name}.{resource}: {coverage.refreshed} of {coverage.total} learner(s) read; "
            + (f"{coverage.never_read} never read yet, " if coverage.never_read else "")
            + (f"the oldest last read at {oldest:%Y-%m-%d %H:%M} UTC" if oldest else "none read"),
            source=name,
            resource=resource,
            learners_refreshed=coverage.refreshed,
            learners_total=coverage.total,
            learners_never_read=coverage.never_read,
            oldest_read_at=oldest.isoformat() if oldest else None,
        )
    if coverage.warning:
        reporter.event(
            "learning_budget_short",
            f"{name}.{resource}: WARNING — {coverage.warning}",
            source=name,
            resource=resource,
        )


def _reject_summary(counters: ResourceCounters, options: RunOptions) -> str:
    reasons = ", ".join(f"{k} x{v}" for k, v in sorted(counters.reject_reasons.items()))
    return (
        f"quality gate: {counters.rejected} of {counters.extracted} records rejected "
        f"({counters.rejected / max(counters.extracted, 1):.1%}; allowed: "
        f"{options.reject_threshold:.0%} or {options.reject_allowance} record(s), and never "
        f"all: {reasons}); nothing of {counters.resource} loaded, its cursor kept"
    )


def worst(statuses: list[str]) -> str:
    """The status a run (or source) takes from its parts."""
    for candidate in (FAILED, SUCCESS_WITH_REJECTS, DRY_RUN):
        if candidate in statuses:
            return candidate
    return SUCCESS


def _columns(pipeline: dlt.Pipeline) -> dict[str, set[str]]:
    if not pipeline.schema_names:
        return {}
    tables = pipeline.default_schema.data_tables()
    return {table["name"]: set(table.get("columns", {})) for table in tables}


def new_columns(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, list[str]]:
    """Columns that appeared on tables that existed before (a new table is not drift)."""
    return {
        table: sorted(columns - before[table])
        for table, columns in after.items()
        if table in before and columns - before[table]
    }


@dataclass(frozen=True)
class ProbeResult:
    source: str
    ok: bool
    detail: str


def probe(requested: str | None, given: Given | None = None) -> list[ProbeResult]:
    """``python -m ingest check``: authenticate and make one request per source."""
    given = given or Given()
    options = config.load_run_options(given.run_options)
    results = []
    for source in select_sources(requested, given):
        settings = resolve_settings([source], given)[source.name]
        mask_secrets([settings])
        try:
            results.append(ProbeResult(source.name, True, source.probe(settings, options)))
        except PeoplestackError as exc:
            results.append(ProbeResult(source.name, False, str(exc)))
    return results
