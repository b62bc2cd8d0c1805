"""Command line: ``python -m ingest [options] | run-all | push | warehouse | check | status``.

The sandbox has its own: ``python -m ingest.sandbox serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from ingest import history
from ingest.errors import ConfigurationError, PeoplestackError
from ingest.redaction import redact

if TYPE_CHECKING:
    from ingest.config import Given
    from ingest.progress import Reporter
    from ingest.run import ProbeResult, RunRequest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ingest",
        description="Land SuccessFactors and Salesforce data in the warehouse's raw schemas.",
    )
    _add_run_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    warehouse = commands.add_parser("warehouse", help="manage the project's local warehouse")
    warehouse.add_argument("action", choices=["up", "down", "status"])

    check = commands.add_parser("check", help="authenticate and make one request per source")
    _add_run_options(check)
    commands.add_parser("status", help="recent runs from the ledger")

    run_all = commands.add_parser(
        "run-all", help="the scheduled job: load, then dbt build, under one lock"
    )
    _add_run_options(run_all)
    run_all.add_argument(
        "--as-of-date",
        help="the date compliance is judged at (dbt var as_of_date; default: today, or the "
        "sandbox's simulated date with --sandbox)",
    )
    push = commands.add_parser(
        "push",
        help="write learning compliance onto matched Salesforce users (what changed only)",
    )
    push.add_argument(
        "--dry-run", action="store_true", help="print what would change; send nothing"
    )
    push.add_argument("--full", action="store_true", help="send every matched user, changed or not")
    push.add_argument("--log-format", choices=["auto", "plain", "json"], default="auto")
    _add_sandbox_options(push)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", help="comma-separated: salesforce,successfactors,...")
    parser.add_argument("--full-refresh", action="store_true", help="re-extract everything")
    parser.add_argument("--since", help="extract changes since this ISO timestamp")
    parser.add_argument(
        "--until", help="extract changes before this ISO timestamp (a backfill; cursors stay)"
    )
    parser.add_argument("--dry-run", action="store_true", help="extract and check, load nothing")
    parser.add_argument("--log-format", choices=["auto", "plain", "json"], default="auto")
    _add_sandbox_options(parser)


def _add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sandbox (an in-process stand-in for the source APIs)")
    group.add_argument("--sandbox", action="store_true", help="run against the built-in sandbox")
    group.add_argument("--sandbox-day", type=int, default=0, help="simulated day (default 0)")
    group.add_argument("--sandbox-seed", type=int, default=42)
    group.add_argument("--sandbox-scale", default="medium")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except PeoplestackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader stopped reading (`status | head`): what it read was all it wanted.
        # Python's flush at exit would raise again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # a bug: keep its traceback for the report, secrets masked
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        print(
            f"error: unexpected {type(exc).__name__} (a bug; the traceback above helps report it)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "warehouse":
        return _warehouse(args.action)
    if args.command == "status":
        return _status()
    from ingest import run

    with _tenant(args) as given:
        if args.command == "push":
            return _push(args, given)
        if args.command == "check":
            return _check(run.probe(args.sources, given))
        request = run.RunRequest(
            sources=args.sources,
            full_refresh=args.full_refresh,
            since=_parse_since(args.since),
            until=_parse_timestamp("--until", args.until),
            dry_run=args.dry_run,
        )
        from ingest.progress import Reporter

        if args.command == "run-all":
            return _run_all(args, request, Reporter(args.log_format), given)
        return run.load(request, Reporter(args.log_format), given)


def _run_all(
    args: argparse.Namespace, request: RunRequest, reporter: Reporter, given: Given | None
) -> int:
    from ingest import job

    as_of_date = args.as_of_date
    if as_of_date is not None:
        try:
            as_of_date = date.fromisoformat(as_of_date).isoformat()
        except ValueError:
            raise ConfigurationError(
                f"--as-of-date must be a date like 2026-03-31, not {args.as_of_date!r}"
            ) from None
    elif args.sandbox:
        as_of_date = job.sandbox_date(args.sandbox_day)
    return job.run_all(request, reporter, given, as_of_date)


def _push(args: argparse.Namespace, given: Given | None) -> int:
    from ingest import push
    from ingest.progress import Reporter

    request = push.PushRequest(dry_run=args.dry_run, full=args.full)
    return push.push(request, Reporter(args.log_format, sys.stdout), given)


def _tenant(args: argparse.Namespace) -> contextlib.AbstractContextManager[Given | None]:
    """With ``--sandbox``, the built-in sandbox's settings; else none (configuration only)."""
    if not args.sandbox:
        return contextlib.nullcontext()
    from ingest.sandbox_tenant import sandbox_tenant

    return sandbox_tenant(args.sandbox_seed, args.sandbox_scale, args.sandbox_day)


def _parse_timestamp(option: str, text: str | None) -> datetime | None:
    """An ISO 8601 timestamp; without a zone, UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(f"{option} must be an ISO 8601 timestamp, not {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_since(text: str | None) -> datetime | None:
    value = _parse_timestamp("--since", text)
    if value is not None and value > datetime.now(UTC):
        # A start in the future reads nothing at all: surely a mistyped date.
        raise ConfigurationError(f"--since must not be in the future, not {text!r}")
    return value


def _check(results: list[ProbeResult]) -> int:
    for result in results:
        outcome = f"OK ({result.detail})" if result.ok else f"FAILED — {result.detail}"
        print(redact(f"{result.source}: {outcome}"))
    return EXIT_FAILED if any(not r.ok for r in results) else EXIT_OK


def _status() -> int:
    """``python -m ingest status``: the recent runs from the ledger."""
    from ingest import config
    from ingest.ledger import Ledger
    from ingest.local_warehouse import LocalWarehouse
    from ingest.target import resolve_target

    options = config.load_run_options()
    target = resolve_target()
    if target.is_local and not LocalWarehouse.for_target(target).is_running():
        print("the local warehouse is not running: no runs to show (make demo starts it)")
        return EXIT_OK
    rows = Ledger(target, options.schema("ops")).recent_runs()
    if not rows:
        print(f"no runs recorded yet in the {target.describe()}")
        return EXIT_OK
    print("loader runs:")
    print("\n".join(_status_lines(rows)))
    print(
        "\n".join(_dbt_status_lines(history.recent_dbt_invocations(target, options.schema("ops"))))
    )
    print("\n".join(_freshness_lines(history.source_freshness(target, options.schema("ops")))))
    print("\n".join(_alert_lines(history.recent_alerts(target, options.schema("ops")))))
    return EXIT_OK


def _alert_lines(raised: list[history.RaisedAlert]) -> Iterator[str]:
    yield "recent alerts:"
    if not raised:
        yield "    none"
    for alert in raised:
        yield f"    {alert.raised_at:%Y-%m-%d %H:%M} {alert.outcome}: {alert.subject}"


def _dbt_status_lines(invocations: list[history.DbtInvocation]) -> Iterator[str]:
    """dbt's recent invocations, each with the nodes that failed or warned."""
    yield "dbt runs:"
    if not invocations:
        yield "    none recorded yet (dbt writes its history at the end of each run)"
    for run in invocations:
        took = (run.finished_at - run.started_at).total_seconds()
        yield (
            f"{run.started_at:%Y-%m-%d %H:%M:%S} dbt {run.command} {run.status} ({took:.1f} s, "
            f"as of {run.as_of_date}): {run.nodes} nodes, {run.failed} failed, "
            f"{run.warned} warned, {run.skipped} skipped"
        )
        for unique_id, status in run.problems.items():
            yield f"    {status}: {unique_id}"


def _freshness_lines(freshness: list[history.Freshness]) -> Iterator[str]:
    """How long ago each source resource last loaded, flagged when older than a day's run."""
    yield "freshness (last successful load):"
    now = datetime.now(UTC)
    for item in freshness:
        if item.last_loaded_at is None:
            yield f"    {item.source}.{item.resource}: never loaded (last run {item.last_status})"
            continue
        age = now - item.last_loaded_at
        stale = " STALE" if age > history.STALE_AFTER else ""
        yield (
            f"    {item.source}.{item.resource}: {item.last_loaded_at:%Y-%m-%d %H:%M} UTC, "
            f"{age.total_seconds() / 3600:.1f} h ago{stale}"
        )


def _status_lines(rows: list[tuple]) -> Iterator[str]:
    """One line per run, then one per resource it loaded."""
    current = None
    for run_id, started, finished, status, error, source, resource, *counts in rows:
        if run_id != current:
            current = run_id
            took = f"{(finished - started).total_seconds():.1f} s" if finished else "running"
            yield f"{started:%Y-%m-%d %H:%M:%S} {run_id} {status} ({took})"
            if error:
                yield f"    error: {error}"
        if source:
            rstatus, extracted, loaded, rejected, requests, new, *learners = counts
            extra = f", new columns: {new}" if new else ""
            yield (
                f"    {source}.{resource}: {rstatus}, {extracted} extracted, {loaded} loaded, "
                f"{rejected} rejected, {requests} requests{extra}"
            )
            yield from _learner_lines(*learners)


def _learner_lines(
    refreshed: int | None, total: int | None, oldest: datetime | None, warning: str | None
) -> Iterator[str]:
    """A per-learner resource's coverage: learners read, the oldest last read, a warning."""
    if refreshed is not None:
        since = f"; oldest last read {oldest:%Y-%m-%d %H:%M} UTC" if oldest else ""
        yield f"      {refreshed} of {total} learner(s) read{since}"
    if warning:
        yield f"      warning: {warning}"


def _warehouse(action: str) -> int:
    from ingest.local_warehouse import LocalWarehouse
    from ingest.target import resolve_target

    target = resolve_target()
    if not target.is_local:
        if action != "status":
            raise ConfigurationError(
                f"PGHOST is set, so the warehouse is the {target.describe()}; "
                "`warehouse up/down` manage only the local one (unset PGHOST to use it)"
            )
        target.connect().close()
        print(f"{target.describe()}: reachable")
        return EXIT_OK
    local = LocalWarehouse.for_target(target)
    if action == "up":
        local.up()
    elif action == "down":
        local.down()
    print("\n".join(local.status_lines()))
    return EXIT_OK
