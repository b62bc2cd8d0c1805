"""``dbt build`` of the project on one data set: wall time and its slowest models."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.processes import run_measured
from benchmarks.settings import REPO_ROOT
from benchmarks.warehouse import BenchWarehouse
from ingest.job import PRODUCTION_EXCLUDES

DBT = Path(sys.executable).parent / "dbt"
SLOWEST = 10


@dataclass(frozen=True)
class DbtBuild:
    seconds: float
    nodes: int
    # (unique_id, seconds) of the slowest models and snapshots, slowest first.
    slowest: list[tuple[str, float]] = field(default_factory=list)
    # unique_id -> seconds of every model and snapshot.
    times: dict[str, float] = field(default_factory=dict)
    # Why the build failed (dbt's summary of errors), None when it succeeded: a failed
    # build is reported beside its time, and the benchmark goes on.
    failure: str | None = None
    # Where the wall time went: see `where_time_went`.
    breakdown: dict[str, float] = field(default_factory=dict)


def dbt_build(
    warehouse: BenchWarehouse, prefix: str, as_of_date: str, work: Path, name: str
) -> DbtBuild:
    """``dbt build`` into the schemas of ``prefix``, judged as of ``as_of_date``, with a
    target path and profile of the benchmark's own; what the scheduled job builds (`python -m
    ingest run-all`: its unit tests left out, as in production)."""
    profiles = work / "dbt-profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "profiles.yml.example", profiles / "profiles.yml")
    target = work / f"dbt-target-{name}"
    launched_at = datetime.now(UTC)
    finished = run_measured(
        [
            *(str(DBT), "--no-use-colors", "build", *PRODUCTION_EXCLUDES),
            *("--vars", json.dumps({"as_of_date": as_of_date})),
            *("--target-path", str(target), "--log-path", str(work / "dbt-logs")),
            *("--profiles-dir", str(profiles)),
        ],
        {**warehouse.env, "PEOPLESTACK_SCHEMA_PREFIX": prefix},
        work / "logs" / f"dbt-{name}.log",
        cwd=REPO_ROOT,
    )
    run_results = target / "run_results.json"
    if not run_results.exists():  # dbt stopped before building anything
        finished.check()
    results = json.loads(run_results.read_text())["results"]
    times = dict(slowest_models(results, count=len(results)))
    failure = None
    if finished.exit_code != 0:
        failed = [str(r["unique_id"]) for r in results if r.get("status") in ("error", "fail")]
        failure = (
            f"exit {finished.exit_code}; failed: {', '.join(failed) or 'see ' + str(finished.log)}"
        )
    breakdown = where_time_went(results, launched_at, finished.seconds)
    return DbtBuild(
        finished.seconds, len(results), slowest_models(results), times, failure, breakdown
    )


def where_time_went(
    results: list[dict[str, Any]], launched_at: datetime, wall_seconds: float
) -> dict[str, float]:
    """A build's wall time in three spans, and its nodes' own time by kind.

    - ``startup_seconds``: from launching dbt to its first node (imports, parsing the
      project, on-run-start hooks), whatever the data's size;
    - ``nodes_seconds``: from the first node's start to the last node's end;
    - ``finish_seconds``: the rest (on-run-end hooks, writing artifacts);
    - ``model_node_seconds`` / ``test_node_seconds``: the sum of each kind's execution times
      (models, snapshots and seeds; data tests), which the build's threads share;
    - ``tests``: how many data tests ran.
    """
    spans = [
        (datetime.fromisoformat(t["started_at"]), datetime.fromisoformat(t["completed_at"]))
        for r in results
        for t in r.get("timing") or []
        if t.get("started_at") and t.get("completed_at")
    ]
    if not spans:
        return {}
    first = min(start for start, _ in spans)
    last = max(end for _, end in spans)
    startup = (first - launched_at).total_seconds()
    nodes = (last - first).total_seconds()

    def node_seconds(*kinds: str) -> float:
        return sum(
            float(r.get("execution_time") or 0)
            for r in results
            if str(r.get("unique_id", "")).split(".", 1)[0] in kinds
        )

    return {
        "startup_seconds": startup,
        "nodes_seconds": nodes,
        "finish_seconds": max(wall_seconds - startup - nodes, 0.0),
        "model_node_seconds": node_seconds("model", "snapshot", "seed"),
        "test_node_seconds": node_seconds("test"),
        "tests": float(sum(1 for r in results if str(r.get("unique_id", "")).startswith("test."))),
    }


def slowest_models(results: list[dict[str, Any]], count: int = SLOWEST) -> list[tuple[str, float]]:
    """The ``count`` slowest models and snapshots of a ``run_results.json``."""
    timed = [
        (str(r["unique_id"]), float(r.get("execution_time") or 0))
        for r in results
        if str(r.get("unique_id", "")).startswith(("model.", "snapshot."))
    ]
    return sorted(timed, key=lambda item: item[1], reverse=True)[:count]
