"""results.json and the Markdown table README quotes, with each target's PASS or GAP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.figures import value

RSS_LIMIT_MB = 300
RATIO_TARGET = 0.35
FLAT_MEMORY = 0.10
DAILY_DBT_SHARE = 0.25
BENCH_MINUTES = 15
# The data sets dbt builds on: results.json's key and how the table names it.
DATA_SETS = (("big", "N data set"), ("learning", "Learning data set"))


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: Callable[[dict[str, Any]], float | None]
    holds: Callable[[float], bool]
    unit: str = ""


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return value(node) if isinstance(node, dict) and "value" in node else node


def _rss_growth(results: dict[str, Any]) -> float | None:
    small = _get(results, "big", "salesforce_full", "peak_rss")
    large = _get(results, "memory", "salesforce_full", "peak_rss")
    return None if not small or large is None else large / small - 1


def _peak_rss(results: dict[str, Any]) -> float | None:
    found = [
        _get(results, *path, "peak_rss")
        for path in (
            ("big", "salesforce_full"),
            ("big", "successfactors_full"),
            ("big", "incremental_day"),
            ("memory", "salesforce_full"),
            ("learning", "learning_full"),
            ("learning", "daily_load"),
        )
    ]
    numbers = [f for f in found if f is not None]
    return max(numbers) if numbers else None


def _bench_minutes(results: dict[str, Any]) -> float | None:
    seconds = _get(results, "total_seconds")
    return None if seconds is None else seconds / 60


def _dbt_share(results: dict[str, Any], data_set: str) -> float | None:
    """Daily build / first build; None (not judged) when either build failed."""
    dbt = _get(results, data_set, "dbt") or {}
    if dbt.get("first_build_failure") or dbt.get("daily_build_failure"):
        return None
    return _get(results, data_set, "dbt", "daily_share_of_first")


TARGETS = (
    Target(
        "floor/ingest, Salesforce users",
        f">= {RATIO_TARGET}",
        lambda r: _get(r, "big", "salesforce_floor", "ratio_floor_to_ingest"),
        lambda v: v >= RATIO_TARGET,
    ),
    Target(
        "floor/ingest, SuccessFactors users",
        f">= {RATIO_TARGET}",
        lambda r: _get(r, "big", "successfactors_floor", "ratio_floor_to_ingest"),
        lambda v: v >= RATIO_TARGET,
    ),
    Target(
        "loader peak RSS, any run",
        f"< {RSS_LIMIT_MB} MB",
        _peak_rss,
        lambda v: v < RSS_LIMIT_MB,
        " MB",
    ),
    Target(
        "peak RSS growth, N to 5N Salesforce users",
        f"<= {FLAT_MEMORY:.0%}",
        _rss_growth,
        lambda v: v <= FLAT_MEMORY,
        " (share)",
    ),
    Target(
        "daily dbt build / first build, N data set",
        f"<= {DAILY_DBT_SHARE:.0%}",
        lambda r: _dbt_share(r, "big"),
        lambda v: v <= DAILY_DBT_SHARE,
        " (share)",
    ),
    Target(
        "daily dbt build / first build, Learning data set",
        f"<= {DAILY_DBT_SHARE:.0%}",
        lambda r: _dbt_share(r, "learning"),
        lambda v: v <= DAILY_DBT_SHARE,
        " (share)",
    ),
    Target(
        "make bench's own length",
        f"<= {BENCH_MINUTES} min",
        _bench_minutes,
        lambda v: v <= BENCH_MINUTES,
        " min",
    ),
)


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured figure and PASS, GAP or n/a (not measured)."""
    judged = []
    for target in TARGETS:
        measured = target.measured(results)
        status = "n/a" if measured is None else ("PASS" if target.holds(measured) else "GAP")
        judged.append(
            {"target": target.name, "goal": target.goal, "measured": measured, "status": status}
        )
    return judged


def _n(number: Any, digits: int = 0) -> str:
    if number is None:
        return "n/a"
    if isinstance(number, float) and digits:
        return f"{number:,.{digits}f}"
    return f"{round(number):,}"


def render_markdown(results: dict[str, Any]) -> str:
    """The tables README quotes: loads beside their floors, memory, the daily run, dbt, and
    the targets."""

    def g(*path: str) -> Any:
        return _get(results, *path)

    s = results.get("settings", {})
    lines = [
        f"Measured by `make bench` on {results.get('machine', {}).get('summary', '?')}, "
        f"{results.get('generated_at', '?')}; one run, one machine, one Postgres.",
        "",
        "| load (full, `python -m ingest`) | rows | wall s | rows/s | requests | peak RSS MB "
        "| floor s (fetch+parse + COPY) | floor/ingest |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, load, floor in (
        ("Salesforce users", ("big", "salesforce_full"), ("big", "salesforce_floor")),
        (
            "SuccessFactors users + org units",
            ("big", "successfactors_full"),
            ("big", "successfactors_floor"),
        ),
        (
            "Learning (to-do lists + histories)",
            ("learning", "learning_full"),
            ("learning", "learning_floor"),
        ),
    ):
        share = g(*floor, "scaled_from_share")
        floor_cell = (
            f"{_n(g(*floor, 'seconds'), 1)} ({_n(g(*floor, 'fetch_parse_seconds'), 1)} + "
            f"{_n(g(*floor, 'copy_seconds'), 1)})"
            + (f", scaled from {share:.0%} of the requests" if share else "")
        )
        lines.append(
            f"| {label} | {_n(g(*load, 'rows'))} | {_n(g(*load, 'seconds'), 1)} "
            f"| {_n(g(*load, 'rows_per_second'))} | {_n(g(*load, 'requests'))} "
            f"| {_n(g(*load, 'peak_rss'))} | {floor_cell} "
            f"| {_n(g(*floor, 'ratio_floor_to_ingest'), 3)} |"
        )
    lines += [
        "",
        "| other figures | value |",
        "|---|---:|",
        f"| sandbox serving rate, Salesforce (bare client alone) "
        f"| {_n(g('big', 'salesforce_floor', 'sandbox_rows_per_second'))} rows/s, "
        f"{_n(g('big', 'salesforce_floor', 'sandbox_requests_per_second'), 1)} requests/s |",
        f"| sandbox serving rate, SuccessFactors | "
        f"{_n(g('big', 'successfactors_floor', 'sandbox_rows_per_second'))} rows/s |",
        f"| sandbox serving rate, Learning ({s.get('learning_workers', 4)} in flight) | "
        f"{_n(g('learning', 'learning_floor', 'sandbox_requests_per_second'), 1)} requests/s |",
        f"| sandbox start-up, {_n(g('big', 'sandbox', 'scale'))} / "
        f"{_n(g('memory', 'scale'))} Salesforce users "
        f"| {_n(g('big', 'sandbox', 'startup_seconds'), 1)} s / "
        f"{_n(g('memory', 'sandbox_startup_seconds'), 1)} s |",
        f"| peak RSS, Salesforce full load at N = {_n(g('big', 'sandbox', 'scale'))} "
        f"and {_n(g('memory', 'scale'))} | {_n(g('big', 'salesforce_full', 'peak_rss'))} MB / "
        f"{_n(g('memory', 'salesforce_full', 'peak_rss'))} MB |",
        f"| incremental day (1 simulated day, Salesforce + SuccessFactors) "
        f"| {_n(g('big', 'incremental_day', 'rows'))} rows, "
        f"{_n(g('big', 'incremental_day', 'requests'))} requests, "
        f"{_n(g('big', 'incremental_day', 'seconds'), 1)} s "
        f"({_n(100 * (g('big', 'incremental_day', 'seconds_share_of_full') or 0), 1)}% "
        "of the full loads) |",
        *(
            f"| dbt build, {label}: first / daily (after one simulated day) "
            f"| {_n(g(key, 'dbt', 'first_build_seconds'), 1)} s / "
            f"{_n(g(key, 'dbt', 'daily_build_seconds'), 1)} s "
            f"({_n(100 * (g(key, 'dbt', 'daily_share_of_first') or 0), 1)}%)"
            f"{_dbt_failures(g(key, 'dbt'))} |"
            for key, label in DATA_SETS
        ),
    ]
    for row in (results.get("learning_requests_per_day") or {}).values():
        counters = row.get("ledger_counters") or {}
        refreshed = counters.get("learning_completions.learners_refreshed")
        read = "" if refreshed is None else f" ({_n(refreshed)} learners refreshed)"
        lines.append(
            f"| Learning requests per daily run, {_n(value(row['employees']))} employees "
            f"| {_n(value(row['requests']))}{read}; a day apart ~"
            f"{_n(value(row.get('requests_one_day_apart')))} (estimate) |"
        )
    lines += [
        "",
        "| target | goal | measured | status |",
        "|---|---|---:|---|",
    ]
    for row in results.get("targets", judge(results)):
        measured = row["measured"]
        shown = "n/a" if measured is None else f"{measured:.3g}"
        lines.append(f"| {row['target']} | {row['goal']} | {shown} | {row['status']} |")
    lines += _dbt_breakdown(results)
    for key, label in DATA_SETS:
        lines += _slowest_models(g(key, "dbt"), label)
    return "\n".join(lines) + "\n"


# Rows of the table of where each dbt build's time went: label, breakdown key.
BREAKDOWN_ROWS = (
    ("start-up (imports, parsing, on-run-start), s", "startup_seconds"),
    ("nodes, first start to last end, s", "nodes_seconds"),
    ("finish (on-run-end, artifacts), s", "finish_seconds"),
    ("models + snapshots + seeds, node-seconds", "model_node_seconds"),
    ("data tests, node-seconds", "test_node_seconds"),
    ("data tests run", "tests"),
)


def _dbt_breakdown(results: dict[str, Any]) -> list[str]:
    """Where each dbt build's wall time went: what is fixed and what grows with the data."""
    builds = [
        (label, which, _get(results, key, "dbt", f"{which}_build_breakdown") or {})
        for key, label in DATA_SETS
        for which in ("first", "daily")
    ]
    if not any(breakdown for _, _, breakdown in builds):
        return []
    header = " | ".join(f"{label}, {which}" for label, which, _ in builds)
    lines = [
        "",
        "Where each dbt build's time went (node-seconds: the sum of the nodes' own times, "
        "shared by the build's threads):",
        "",
        f"| | {header} |",
        "|---|" + "---:|" * len(builds),
    ]
    for row_label, key in BREAKDOWN_ROWS:
        cells = " | ".join(
            _n(value(breakdown[key]) if key in breakdown else None, 1 if key != "tests" else 0)
            for _, _, breakdown in builds
        )
        lines.append(f"| {row_label} | {cells} |")
    return lines


def _slowest_models(dbt: dict[str, Any] | None, label: str) -> list[str]:
    """The ten slowest nodes of the first build, with their time in the daily build."""
    if not dbt or not dbt.get("slowest_first"):
        return []
    lines = ["", f"Ten slowest dbt nodes, {label}:", "", "| node | first build s | daily build s |"]
    lines.append("|---|---:|---:|")
    for item in dbt["slowest_first"]:
        lines.append(
            f"| {item['model'].split('.', 2)[-1]} | {_n(value(item['seconds']), 1)} "
            f"| {_n(value(item.get('daily_seconds')), 1)} |"
        )
    return lines


def _dbt_failures(dbt: dict[str, Any] | None) -> str:
    """A note naming a build that failed (its time then covers the nodes that ran)."""
    failed = [
        f"{which} build FAILED ({(dbt or {}).get(f'{which}_build_failure')})"
        for which in ("first", "daily")
        if (dbt or {}).get(f"{which}_build_failure")
    ]
    return "; " + "; ".join(failed) if failed else ""
