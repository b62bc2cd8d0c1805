"""Command line: ``python -m ingest [options] | warehouse | check | status``.

The sandbox has its own: ``python -m ingest.sandbox serve``.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from ingest.errors import ConfigurationError, PeoplestackError
from ingest.redaction import redact

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
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", help="comma-separated: salesforce,successfactors,...")
    parser.add_argument("--full-refresh", action="store_true", help="re-extract everything")
    parser.add_argument("--since", help="extract changes since this ISO timestamp")
    parser.add_argument("--dry-run", action="store_true", help="extract and check, load nothing")
    parser.add_argument("--log-format", choices=["auto", "plain", "json"], default="auto")
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
    from ingest import pipeline

    if args.command == "status":
        return pipeline.print_status()
    if args.command == "check":
        return pipeline.check(args)
    return pipeline.run(args)


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
