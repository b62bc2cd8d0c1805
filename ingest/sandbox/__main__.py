"""Command line: ``python -m ingest.sandbox serve [options] | date --day N``.

The sandbox runs on its own, apart from the loader, which reaches it only through the
base URLs and credentials that ``GET /__sandbox__/config`` hands out.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Sequence

from ingest.sandbox.clock import date_iso, day_start
from ingest.sandbox.sandbox import serve_forever


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.sandbox",
        description="A local stand-in for Salesforce and SuccessFactors (EC and Learning).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="serve the sandbox APIs until stopped")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--scale", default="medium", help="small, medium, large or a user count")
    serve.add_argument("--day", type=int, default=0, help="simulated day to start on")
    serve.add_argument(
        "--learning-min-interval-seconds",
        type=float,
        help="Learning's per-client throttle (default 0.5, as SAP's)",
    )
    serve.add_argument(
        "--elective-completions",
        type=int,
        help="past elective courses each learner completed (default: 0-4, varying)",
    )

    date = commands.add_parser("date", help="print the ISO date of a simulated day")
    date.add_argument("--day", type=int, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "date":
        print(date_iso(day_start(args.day)))
        return 0
    # SIGTERM (a service manager, `kill`) stops the server as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # A stop asked for while the company is still being built is a clean stop as well.
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(
            port=args.port,
            seed=args.seed,
            scale=args.scale,
            day=args.day,
            learning_min_interval_seconds=args.learning_min_interval_seconds,
            elective_completions=args.elective_completions,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
