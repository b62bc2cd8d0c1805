"""The reliability suite's figures: every fault injected, bad input tried and secret scan.

Tests record trials through the ``figures`` fixture; each trial is one JSON line in a file
shared by all pytest-xdist workers, and the session ends with a table of them (the table
README quotes). A trial counts as held only when its block finished without an exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FIGURES_ENV = "PEOPLESTACK_RELIABILITY_FIGURES"
KINDS = {
    "fault": "faults injected / survived",
    "bad input": "bad inputs tried / handled",
    "secret scan": "places scanned for secrets / clean",
    "attack": "attacks tried / refused",
}


@dataclass(frozen=True)
class Figures:
    """Appends trials to the session's figures file."""

    path: Path

    def record(self, kind: str, name: str, tried: int, held: int) -> None:
        """Count ``tried`` attempts of one named trial, ``held`` of which the product survived."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of trial {kind!r}; one of {sorted(KINDS)}")
        line = json.dumps({"kind": kind, "name": name, "tried": tried, "held": held})
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")  # one short append per line: safe across workers

    @contextmanager
    def trial(self, kind: str, name: str, tried: int = 1) -> Iterator[None]:
        """Record a trial as held when the block completes, as not held when it raises."""
        try:
            yield
        except BaseException:
            self.record(kind, name, tried, 0)
            raise
        self.record(kind, name, tried, tried)


def figures_path() -> Path | None:
    known = os.environ.get(FIGURES_ENV)
    return Path(known) if known else None


def table(path: Path) -> list[str]:
    """A Markdown table of the recorded trials: one line per kind, then the failures."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    lines = ["| what | trials | tried | held | not held |", "|---|---:|---:|---:|---:|"]
    for kind, label in KINDS.items():
        mine = [row for row in rows if row["kind"] == kind]
        if not mine:
            continue
        tried = sum(row["tried"] for row in mine)
        held = sum(row["held"] for row in mine)
        lines.append(f"| {label} | {len(mine)} | {tried} | {held} | {tried - held} |")
    failed = [row for row in rows if row["held"] < row["tried"]]
    lines.extend(f"not held: {row['kind']}: {row['name']}" for row in failed)
    return lines
