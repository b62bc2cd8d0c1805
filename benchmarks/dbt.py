"""``dbt build`` of the project on one data set: wall time and its slowest models."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
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
    return DbtBuild(finished.seconds, len(results), slowest_models(results), times, failure)


def slowest_models(results: list[dict[str, Any]], count: int = SLOWEST) -> list[tuple[str, float]]:
    """The ``count`` slowest models and snapshots of a ``run_results.json``."""
    timed = [
        (str(r["unique_id"]), float(r.get("execution_time") or 0))
        for r in results
        if str(r.get("unique_id", "")).startswith(("model.", "snapshot."))
    ]
    return sorted(timed, key=lambda item: item[1], reverse=True)[:count]
