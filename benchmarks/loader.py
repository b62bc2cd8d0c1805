"""``python -m ingest`` as a user runs it, timed, with its peak RSS and its ledger rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg2 import sql

from benchmarks.processes import PYTHON, run_measured
from benchmarks.settings import REPO_ROOT
from benchmarks.warehouse import BenchWarehouse


@dataclass(frozen=True)
class LoadRun:
    """One loader run: wall time, peak RSS and, per resource, the ledger's counters."""

    sources: str
    seconds: float
    peak_rss_mb: float
    # "source.resource" -> every column of ops.ingest_run_resources (so counters added to
    # the ledger later, such as Learning's learners refreshed, show up here unasked).
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)

    def total(self, counter: str, *resources: str) -> int:
        """A counter summed over ``resources`` (all when none are named)."""
        chosen = resources or tuple(self.resources)
        return sum(int(self.resources[name].get(counter) or 0) for name in chosen)


def run_loader(
    warehouse: BenchWarehouse,
    tenant_env: dict[str, str],
    sources: str,
    prefix: str,
    log: Path,
) -> LoadRun:
    """``python -m ingest --sources SOURCES`` into the schemas of ``prefix``."""
    env = {**warehouse.env, **tenant_env, "PEOPLESTACK_SCHEMA_PREFIX": prefix}
    finished = run_measured(
        [PYTHON, "-m", "ingest", "--sources", sources, "--log-format", "plain"],
        env,
        log,
        cwd=REPO_ROOT,
    ).check()
    return LoadRun(sources, finished.seconds, finished.peak_rss_mb, _last_run(warehouse, prefix))


def _last_run(warehouse: BenchWarehouse, prefix: str) -> dict[str, dict[str, Any]]:
    ops = sql.Identifier(f"{prefix}_ops")
    statement = sql.SQL(
        "select x.* from {ops}.ingest_run_resources as x where x.run_id ="
        " (select run_id from {ops}.ingest_runs order by started_at desc limit 1)"
    ).format(ops=ops)
    with warehouse.connection() as conn, conn.cursor() as cur:
        cur.execute(statement)
        names = [column.name for column in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return {
        f"{row['source']}.{row['resource']}": {
            name: value if isinstance(value, int | float | str | None) else str(value)
            for name, value in row.items()
            if name not in ("run_id", "source", "resource")
        }
        for row in rows
    }
