"""The measurements, one function per data set; each returns its section of results.json."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from benchmarks.bulk_copy import copy_tables
from benchmarks.dbt import DbtBuild, dbt_build
from benchmarks.figures import fig, ratio, value
from benchmarks.loader import LoadRun, run_loader
from benchmarks.processes import PYTHON, run_measured
from benchmarks.sandbox import SandboxProcess
from benchmarks.settings import REPO_ROOT, BenchSettings, scale_for_employees
from benchmarks.warehouse import BenchWarehouse
from ingest.config import RunOptions

# Schema prefixes of the data sets, so each starts empty and none disturbs another.
BIG, MEMORY, LEARNING, SMALL_LEARNING = "bench", "bench_5n", "bench_lrn", "bench_lrn_small"
# Learning's floor reads every third learner the load read and is scaled to the whole load:
# the bare client is bound by the sandbox as the loader is, so reading every learner again
# took ~180 s of the bench's 15 minutes to measure one rate.
LEARNING_FLOOR_EVERY = 3
# The section of the sandbox's configuration each floor client reads.
FLOOR_SETTINGS = {
    "salesforce": "salesforce",
    "successfactors": "successfactors",
    "learning": "successfactors_learning",
}


def load_figures(run: LoadRun, *resources: str) -> dict[str, Any]:
    """Wall time, rows, rows/s, requests and peak RSS of one loader run."""
    rows = run.total("rows_loaded", *resources)
    return {
        "seconds": fig(run.seconds, "s"),
        "rows": fig(rows, "rows"),
        "rows_per_second": fig(rows / run.seconds, "rows/s"),
        "requests": fig(run.total("api_requests", *resources), "requests"),
        "peak_rss": fig(run.peak_rss_mb, "MB"),
    }


def floor(
    source: str,
    sandbox: SandboxProcess,
    warehouse: BenchWarehouse,
    work: Path,
    learners: list[str] | None = None,
) -> dict[str, Any]:
    """The bare client over the same pages in its own process, then ``COPY`` of its rows."""
    section = FLOOR_SETTINGS[source]
    out_dir = work / "floor" / source
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_file = out_dir / "settings.json"
    settings_file.write_text(json.dumps(sandbox.config()[section]))
    args = [PYTHON, "-m", "benchmarks.floor", source, "--settings", str(settings_file)]
    args += ["--out-dir", str(out_dir)]
    if learners is not None:
        (out_dir / "learners.txt").write_text("\n".join(learners))
        args += ["--learners", str(out_dir / "learners.txt")]
    finished = run_measured(
        args, dict(os.environ), work / "logs" / f"floor-{source}.log", cwd=REPO_ROOT
    ).check()
    report = json.loads(finished.log.read_text().strip().splitlines()[-1])
    copy_seconds = copy_tables(warehouse, out_dir, report["columns"])
    rows = sum(report["rows"].values())
    fetch = report["fetch_parse_seconds"]
    total = fetch + sum(copy_seconds.values())
    return {
        "rows": fig(rows, "rows"),
        "requests": fig(report["requests"], "requests"),
        "fetch_parse_seconds": fig(fetch, "s"),
        "copy_seconds": fig(sum(copy_seconds.values()), "s"),
        "seconds": fig(total, "s"),
        # The bare client alone: the rate the sandbox serves at (a bound on any loader).
        "sandbox_rows_per_second": fig(rows / fetch if fetch else None, "rows/s"),
        "sandbox_requests_per_second": fig(
            report["requests"] / fetch if fetch else None, "requests/s"
        ),
        "sandbox_megabytes": fig(report["bytes"] / 2**20, "MB"),
        "peak_rss": fig(finished.peak_rss_mb, "MB"),
    }


def scaled_to_load(sample: dict[str, Any], load: dict[str, Any]) -> dict[str, Any]:
    """A floor measured on a sample of the load's learners, scaled to the whole load: its
    fetching by the load's requests, its ``COPY`` by the load's rows. The serving rates are
    the sample's own (a rate needs no scaling); the measured figures stay under ``sample``."""
    by_requests = value(load["requests"]) / value(sample["requests"])
    by_rows = value(load["rows"]) / value(sample["rows"])
    fetch = value(sample["fetch_parse_seconds"]) * by_requests
    copy = value(sample["copy_seconds"]) * by_rows
    return {
        **sample,
        "rows": load["rows"],
        "requests": load["requests"],
        "fetch_parse_seconds": fig(fetch, "s"),
        "copy_seconds": fig(copy, "s"),
        "seconds": fig(fetch + copy, "s"),
        "scaled_from_share": fig(1 / by_requests, "ratio"),
        "sample": {
            key: sample[key]
            for key in ("rows", "requests", "fetch_parse_seconds", "copy_seconds", "seconds")
        },
    }


def with_ratio(floor_section: dict[str, Any], load: dict[str, Any]) -> dict[str, Any]:
    """The floor beside the loader's time: floor seconds / loader seconds (1.0 = at the floor)."""
    r = ratio(floor_section["seconds"]["value"], load["seconds"]["value"])
    return {**floor_section, "ratio_floor_to_ingest": fig(r, "ratio")}


def big_data_set(s: BenchSettings, warehouse: BenchWarehouse, work: Path) -> dict[str, Any]:
    """N Salesforce users and the EC company of that scale: full loads beside their floors,
    dbt's first build, then one simulated day's changes and the daily build."""
    out: dict[str, Any] = {}
    logs = work / "logs"
    with SandboxProcess(s.salesforce_users, s.seed, logs / "sandbox-big.log") as sandbox:
        state = sandbox.state()
        out["sandbox"] = {
            "scale": fig(s.salesforce_users, "Salesforce users"),
            "employees": fig(state["employees"], "employees"),
            "startup_seconds": fig(sandbox.startup_seconds, "s"),
        }
        env = sandbox.loader_env(("salesforce", "successfactors"))
        sf_floor = floor("salesforce", sandbox, warehouse, work)
        sf = run_loader(warehouse, env, "salesforce", BIG, logs / "ingest-salesforce-full.log")
        out["salesforce_full"] = load_figures(sf)
        out["salesforce_floor"] = with_ratio(sf_floor, out["salesforce_full"])
        ec_floor = floor("successfactors", sandbox, warehouse, work)
        ec = run_loader(warehouse, env, "successfactors", BIG, logs / "ingest-ec-full.log")
        out["successfactors_full"] = load_figures(ec)
        out["successfactors_users_full"] = load_figures(ec, "successfactors.users")
        out["successfactors_floor"] = with_ratio(ec_floor, out["successfactors_full"])
        first = dbt_build(warehouse, BIG, sandbox.date_of(0), work, "big-first")
        sandbox.set_day(1)
        day = run_loader(warehouse, env, "salesforce,successfactors", BIG, logs / "ingest-day1.log")
        full_seconds = sf.seconds + ec.seconds
        full_rows = sf.total("rows_loaded") + ec.total("rows_loaded")
        out["incremental_day"] = {
            **load_figures(day),
            "rows_share_of_full": fig(ratio(day.total("rows_loaded"), full_rows), "ratio"),
            "seconds_share_of_full": fig(ratio(day.seconds, full_seconds), "ratio"),
        }
        daily = dbt_build(warehouse, BIG, sandbox.date_of(1), work, "big-daily")
        out["dbt"] = _dbt_figures(first, daily)
    return out


def memory_at_scale(s: BenchSettings, warehouse: BenchWarehouse, work: Path) -> dict[str, Any]:
    """The Salesforce load again at ``memory_factor`` times N users: peak RSS must stay flat."""
    users = s.salesforce_users * s.memory_factor
    logs = work / "logs"
    with SandboxProcess(users, s.seed, logs / "sandbox-memory.log") as sandbox:
        env = sandbox.loader_env(("salesforce",))
        run = run_loader(warehouse, env, "salesforce", MEMORY, logs / "ingest-salesforce-5n.log")
        startup = sandbox.startup_seconds
    warehouse.drop_schemas(MEMORY)  # only its memory mattered; free the disk
    return {
        "scale": fig(users, "Salesforce users"),
        "sandbox_startup_seconds": fig(startup, "s"),
        "salesforce_full": load_figures(run),
    }


def learning_data_set(s: BenchSettings, warehouse: BenchWarehouse, work: Path) -> dict[str, Any]:
    """M completions from ``learning_employees`` learners: the Learning load beside its floor,
    dbt's first build, one simulated day (load and daily build)."""
    logs = work / "logs"
    scale = scale_for_employees(s.learning_employees)
    out: dict[str, Any] = {}
    with SandboxProcess(
        scale, s.seed, logs / "sandbox-learning.log", s.elective_completions
    ) as sandbox:
        state = sandbox.state()
        out["sandbox"] = {
            "scale": fig(scale, "Salesforce users"),
            "employees": fig(state["employees"], "employees"),
            "elective_completions": fig(s.elective_completions, "completions per learner"),
            "startup_seconds": fig(sandbox.startup_seconds, "s"),
        }
        env = sandbox.loader_env()
        others = run_loader(
            warehouse, env, "salesforce,successfactors", LEARNING, logs / "ingest-lrn-others.log"
        )
        out["salesforce_successfactors_full"] = load_figures(others)
        # The full load reads every learner (as README advises for a first run); the
        # daily run below keeps the default request budget and sweep.
        learning = run_loader(
            warehouse,
            {**env, "INGEST__LEARNING_REQUEST_BUDGET": "0"},
            "successfactors_learning",
            LEARNING,
            logs / "ingest-lrn-full.log",
        )
        out["learning_full"] = load_figures(learning)
        out["learning_completions_full"] = load_figures(
            learning, "successfactors_learning.learning_completions"
        )
        learners = _landed_learners(warehouse)
        sample = learners[::LEARNING_FLOOR_EVERY]
        out["learning_floor"] = with_ratio(
            scaled_to_load(
                floor("learning", sandbox, warehouse, work, sample), out["learning_full"]
            ),
            out["learning_full"],
        )
        first = dbt_build(warehouse, LEARNING, sandbox.date_of(0), work, "learning-first")
        sandbox.set_day(1)
        day = run_loader(
            warehouse,
            env,
            "salesforce,successfactors,successfactors_learning",
            LEARNING,
            logs / "ingest-lrn-day1.log",
        )
        out["daily_load"] = load_figures(day)
        out["learning_daily"] = _learning_day(day, state["employees"])
        daily = dbt_build(warehouse, LEARNING, sandbox.date_of(1), work, "learning-daily")
        out["dbt"] = _dbt_figures(first, daily)
    return out


def learning_days(s: BenchSettings, warehouse: BenchWarehouse, work: Path) -> dict[str, Any]:
    """Learning's requests in a daily run at each of ``learning_day_employees``: Employee
    Central and Learning loaded on day 0, then day 1 (the one measured), both with the
    default request budget and sweep (so day 0 is a first run spread over days, as a big
    tenant's is)."""
    logs = work / "logs"
    sources = "successfactors,successfactors_learning"
    out: dict[str, Any] = {}
    for employees in s.learning_day_employees:
        prefix = f"{SMALL_LEARNING}_{employees}"
        with SandboxProcess(
            scale_for_employees(employees), s.seed, logs / f"sandbox-day-{employees}.log"
        ) as sandbox:
            measured = sandbox.state()["employees"]
            env = sandbox.loader_env(("successfactors", "successfactors_learning"))
            run_loader(warehouse, env, sources, prefix, logs / f"ingest-{employees}-day0.log")
            sandbox.set_day(1)
            day = run_loader(warehouse, env, sources, prefix, logs / f"ingest-{employees}-day1.log")
        out[str(employees)] = _learning_day(day, measured)
        warehouse.drop_schemas(prefix)
    return out


def _learning_day(day: LoadRun, employees: int) -> dict[str, Any]:
    """Learning's share of a daily run, and every ledger counter it recorded (the learners
    refreshed, once the ledger records them)."""
    learning = {k: v for k, v in day.resources.items() if k.startswith("successfactors_learning.")}
    counters: dict[str, Any] = {}
    for name, row in learning.items():
        for column, number in row.items():
            known = ("rows_extracted", "rows_loaded", "rows_rejected", "rows_duplicate")
            learners = column.startswith("learners_") and number is not None
            if learners or (isinstance(number, int) and column not in (*known, "api_requests")):
                counters[f"{name.split('.', 1)[1]}.{column}"] = number
    requests = day.total("api_requests", *learning)
    return {
        "employees": fig(employees, "employees"),
        "requests": fig(requests, "requests per daily run"),
        "requests_one_day_apart": fig(_one_day_apart(requests, employees), "requests (estimate)"),
        "rows": fig(day.total("rows_loaded", *learning), "rows"),
        "seconds": fig(day.seconds, "s"),
        "ledger_counters": counters,
    }


def _one_day_apart(requests: int, employees: int) -> int:
    """The daily run's requests had it come a day after the first, not seconds: the sweep
    share Learning adds per day of interval (README, How Learning is read: the workforce
    once per sweep less one run, 2 requests a learner), within the request budget. The
    measured run, seconds after the first, read only new, changed and due-soon learners."""
    defaults = RunOptions()
    # A loader without a sweep reads every learner every day: nothing to add.
    sweep_days = getattr(defaults, "learning_full_sweep_days", 0)
    if not sweep_days:
        return requests
    share = math.ceil(employees / (sweep_days - 1)) if sweep_days > 1 else employees
    estimate = requests + 2 * share
    budget = getattr(defaults, "learning_request_budget", 0)
    # The budget bounds per-learner requests; a run already at it stays where it is.
    return max(requests, min(estimate, budget)) if budget else estimate


def _landed_learners(warehouse: BenchWarehouse) -> list[str]:
    """The employees Learning reads: every user id Employee Central landed."""
    rows = warehouse.query(f"select distinct user_id from {LEARNING}_raw_successfactors.users")
    return [str(user_id) for (user_id,) in rows]


def _dbt_figures(first: DbtBuild, daily: DbtBuild) -> dict[str, Any]:
    return {
        "first_build_seconds": fig(first.seconds, "s"),
        "daily_build_seconds": fig(daily.seconds, "s"),
        "daily_share_of_first": fig(ratio(daily.seconds, first.seconds), "ratio"),
        "nodes": fig(first.nodes, "nodes"),
        "first_build_failure": first.failure,
        "daily_build_failure": daily.failure,
        "first_build_breakdown": _breakdown_figures(first),
        "daily_build_breakdown": _breakdown_figures(daily),
        "slowest_first": [
            {
                "model": name,
                "seconds": fig(seconds, "s"),
                "daily_seconds": fig(daily.times.get(name), "s"),
            }
            for name, seconds in first.slowest
        ],
        "slowest_daily": [
            {"model": name, "seconds": fig(seconds, "s")} for name, seconds in daily.slowest
        ],
    }


def _breakdown_figures(build: DbtBuild) -> dict[str, Any]:
    return {
        key: fig(int(amount) if key == "tests" else amount, "tests" if key == "tests" else "s")
        for key, amount in build.breakdown.items()
    }


def learning_requests_per_day(results: dict[str, Any]) -> dict[str, Any]:
    """Learning's requests per daily run by company size, from every daily run measured."""
    days = (
        results.get("learning", {}).get("learning_daily"),
        *results.get("learning_days", {}).values(),
    )
    return {str(value(day["employees"])): day for day in days if day}
