"""``python -m benchmarks`` (``make bench``): every measurement in one run, then
``benchmarks/results.json`` and ``benchmarks/results.md``."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import phases
from benchmarks.processes import BenchError
from benchmarks.report import judge, render_markdown
from benchmarks.settings import BenchSettings, load_settings
from benchmarks.warehouse import BenchWarehouse, free_port


def machine() -> dict[str, Any]:
    cpus = os.cpu_count() or 0
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    return {
        "cpus": cpus,
        "memory_mb": round(memory_mb),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
        "summary": f"{cpus} CPUs, {memory_mb / 1024:.0f} GB, Python {platform.python_version()}",
    }


def measure(settings: BenchSettings, warehouse: BenchWarehouse) -> dict[str, Any]:
    """Run every phase in order, printing progress; a phase's section of results.json each."""
    work = settings.work_dir
    steps: list[tuple[str, Callable[[BenchSettings, BenchWarehouse, Path], dict[str, Any]]]] = [
        ("big", phases.big_data_set),
        ("memory", phases.memory_at_scale),
        ("learning", phases.learning_data_set),
        ("learning_days", phases.learning_days),
    ]
    results: dict[str, Any] = {}
    for name, step in steps:
        started = time.perf_counter()
        print(f"bench: {name} ...", flush=True)
        results[name] = step(settings, warehouse, work)
        took = time.perf_counter() - started
        results.setdefault("phase_seconds", {})[name] = {"value": round(took), "unit": "s"}
        print(f"bench: {name} done in {took:.0f} s", flush=True)
    return results


def main() -> int:
    settings = load_settings()
    work = settings.work_dir
    warehouse = BenchWarehouse(work / "warehouse", free_port())
    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": {
            **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
            "elective_completions": settings.elective_completions,
            "learning_workers": 4,
        },
    }
    if work.exists():
        _clear(work)
    try:
        warehouse.up()
        results["machine"]["postgres"] = warehouse.server_version()
        results.update(measure(settings, warehouse))
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        warehouse.down()
    results["learning_requests_per_day"] = phases.learning_requests_per_day(results)
    results["total_seconds"] = {"value": round(time.perf_counter() - started), "unit": "s"}
    results["targets"] = judge(results)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    (settings.out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render_markdown(results)
    (settings.out_dir / "results.md").write_text(table)
    print(table)
    print(f"bench: wrote {settings.out_dir / 'results.json'} and results.md", flush=True)
    return 0


def _clear(work: Path) -> None:
    """Start from an empty warehouse: the last run's data sets would skew full loads."""
    leftover = BenchWarehouse(work / "warehouse", free_port())
    if (work / "warehouse" / "pgpass").exists():
        with contextlib.suppress(BenchError):
            leftover.down()
    shutil.rmtree(work, ignore_errors=True)
