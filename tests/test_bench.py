"""``make bench``'s pieces at tiny size: the floor client against a sandbox, the table."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.dbt import where_time_went
from benchmarks.figures import fig, value
from benchmarks.phases import scaled_to_load, with_ratio
from benchmarks.report import judge, render_markdown
from ingest.sandbox import Sandbox
from tests.support import REPO_ROOT


@pytest.mark.parametrize(
    ("source", "table", "expected_rows"),
    [("salesforce", "salesforce_users", 200), ("successfactors", "successfactors_users", 240)],
)
def test_the_floor_client_reads_every_page_and_writes_every_row(
    tmp_path: Path, source: str, table: str, expected_rows: int
):
    with Sandbox(seed=5, scale="small") as sandbox:
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps(sandbox.source_config()[source]))
        args = ["--settings", str(settings), "--out-dir", str(tmp_path / "out")]
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.floor", source, *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"][table] == expected_rows
    assert report["requests"] >= 1 and report["fetch_parse_seconds"] > 0
    with (tmp_path / "out" / f"{table}.csv").open(encoding="utf-8") as data:
        rows = list(csv.reader(data))
    assert len(rows) == expected_rows
    assert all(len(row) == len(report["columns"][table]) for row in rows)


def _results(ingest_seconds: float, daily_dbt: float) -> dict:
    load = {
        "seconds": fig(ingest_seconds, "s"),
        "rows": fig(1000, "rows"),
        "peak_rss": fig(120.0, "MB"),
    }
    return {
        "big": {
            "salesforce_full": load,
            "salesforce_floor": {
                "seconds": fig(1.0, "s"),
                "ratio_floor_to_ingest": fig(1.0 / ingest_seconds, "ratio"),
            },
        },
        "memory": {"salesforce_full": {**load, "peak_rss": fig(125.0, "MB")}},
        "learning": {"dbt": {"daily_share_of_first": fig(daily_dbt, "ratio")}},
    }


def test_targets_pass_or_show_a_gap_and_unmeasured_ones_say_so():
    by_name = {row["target"]: row for row in judge(_results(ingest_seconds=2.0, daily_dbt=0.6))}
    assert by_name["floor/ingest, Salesforce users"]["status"] == "PASS"
    assert by_name["peak RSS growth, N to 5N Salesforce users"]["status"] == "PASS"
    assert by_name["daily dbt build / first build, Learning data set"]["status"] == "GAP"
    assert by_name["floor/ingest, SuccessFactors users"]["status"] == "n/a"
    assert by_name["make bench's own length"]["status"] == "n/a"
    slow = {row["target"]: row for row in judge(_results(ingest_seconds=10.0, daily_dbt=0.2))}
    assert slow["floor/ingest, Salesforce users"]["status"] == "GAP"
    assert slow["daily dbt build / first build, Learning data set"]["status"] == "PASS"


def test_the_markdown_table_shows_each_figure_and_target():
    results = _results(ingest_seconds=4.0, daily_dbt=0.2)
    results["targets"] = judge(results)
    table = render_markdown(results)
    assert "| Salesforce users | 1,000 | 4.0 |" in table
    assert "| floor/ingest, Salesforce users | >= 0.35 | 0.25 | GAP |" in table
    assert "| daily dbt build / first build, Learning data set | <= 25% | 0.2 | PASS |" in table


def _timed(unique_id: str, start: str, end: str, seconds: float) -> dict:
    timing = [{"name": "execute", "started_at": start, "completed_at": end}]
    return {"unique_id": unique_id, "execution_time": seconds, "timing": timing}


def test_a_dbt_build_is_split_into_start_up_nodes_and_finish():
    launched_at = datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC)
    results = [
        _timed("model.p.a", "2026-01-02T03:00:06.000000Z", "2026-01-02T03:00:09.000000Z", 3.0),
        _timed("snapshot.p.b", "2026-01-02T03:00:06.500000Z", "2026-01-02T03:00:08Z", 1.5),
        _timed("test.p.c", "2026-01-02T03:00:09.000000Z", "2026-01-02T03:00:10.000000Z", 1.0),
        _timed("test.p.d", "2026-01-02T03:00:09.000000Z", "2026-01-02T03:00:10.500000Z", 1.5),
        {"unique_id": "operation.p.hook", "execution_time": 0.0, "timing": []},
    ]
    spent = where_time_went(results, launched_at, wall_seconds=12.0)
    assert spent == {
        "startup_seconds": 6.0,
        "nodes_seconds": 4.5,
        "finish_seconds": 1.5,
        "model_node_seconds": 4.5,
        "test_node_seconds": 2.5,
        "tests": 2.0,
    }
    assert where_time_went([], launched_at, wall_seconds=1.0) == {}

    results = _results(ingest_seconds=4.0, daily_dbt=0.2)
    results["learning"]["dbt"]["daily_build_breakdown"] = {
        key: fig(amount, "s") for key, amount in spent.items()
    }
    table = render_markdown(results)
    assert "| start-up (imports, parsing, on-run-start), s | n/a | n/a | n/a | 6.0 |" in table
    assert "| data tests run | n/a | n/a | n/a | 2 |" in table


def test_a_floor_read_on_a_sample_is_scaled_to_the_whole_load():
    sample = {
        "rows": fig(1_000, "rows"),
        "requests": fig(100, "requests"),
        "fetch_parse_seconds": fig(2.0, "s"),
        "copy_seconds": fig(0.5, "s"),
        "seconds": fig(2.5, "s"),
        "sandbox_requests_per_second": fig(50.0, "requests/s"),
    }
    load = {"rows": fig(3_000, "rows"), "requests": fig(400, "requests"), "seconds": fig(20, "s")}
    scaled = with_ratio(scaled_to_load(sample, load), load)
    assert value(scaled["fetch_parse_seconds"]) == pytest.approx(8.0)  # by requests
    assert value(scaled["copy_seconds"]) == pytest.approx(1.5)  # by rows
    assert value(scaled["ratio_floor_to_ingest"]) == pytest.approx(9.5 / 20)
    assert value(scaled["sandbox_requests_per_second"]) == 50.0  # the sample's own rate
    assert value(scaled["sample"]["seconds"]) == 2.5
    results = {"learning": {"learning_full": load, "learning_floor": scaled}}
    assert "9.5 (8.0 + 1.5), scaled from 25% of the requests | 0.475 |" in render_markdown(results)


@pytest.mark.parametrize(("seconds", "status"), [(899, "PASS"), (900, "PASS"), (901, "GAP")])
def test_the_bench_judges_its_own_length_against_fifteen_minutes(seconds: int, status: str):
    results = {"total_seconds": fig(seconds, "s")}
    (row,) = [r for r in judge(results) if r["target"] == "make bench's own length"]
    assert row["status"] == status
