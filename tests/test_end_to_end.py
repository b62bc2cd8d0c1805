"""The whole job over simulated days: sandbox → `python -m ingest` → `dbt build` → marts.

The sandbox's company is the truth: every day's state of every Salesforce user and employee
is known, so the SCD marts must hold exactly the versions a daily run could observe, with
the source's modification times — for every record, not a few hand-picked ones.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox
from ingest.sandbox.clock import DAY0_EPOCH, day_start
from ingest.sandbox.company import Company
from ingest.sandbox.salesforce import user_id as salesforce_user_id
from tests.reliability.figures import Figures
from tests.support import (
    REPO_ROOT,
    Database,
    dbt_profile_args,
    make_database,
    run_cli,
    run_dbt,
)
from tests.truth import (
    employee_history,
    employee_versions,
    salesforce_user_history,
    salesforce_user_versions,
    utc,
)

# Four simulated days of the whole job take minutes: `make reliability` (and CI) run them.
pytestmark = pytest.mark.slow

DAYS = 4  # day 0 (the first load) and three daily increments
MARTS = (
    "dim_salesforce_user_scd",
    "dim_employee_scd",
    "dim_org_unit_scd",
    "dim_employee",
    "dim_org_unit",
    "dim_person",
    "fct_org_changes",
)


@dataclass
class Job:
    database: Database
    sandbox: Sandbox
    company: Company
    target_path: Path

    def dbt_build(self, day: int) -> None:
        as_of = (datetime.fromtimestamp(DAY0_EPOCH, UTC).date() + timedelta(days=day)).isoformat()
        result = run_dbt(
            [
                "build",
                "--target-path",
                str(self.target_path),
                "--vars",
                json.dumps({"as_of_date": as_of}),
            ],
            self.database.env,
        )
        assert result.returncode == 0, result.stdout[-4000:]


@pytest.fixture(scope="module")
def job(postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Job]:
    """Runs the daily job for DAYS simulated days against one warehouse."""
    database = make_database(postgres_server)
    with Sandbox(seed=11, scale="small", learning_min_interval_seconds=0) as sandbox:
        env = dict(database.env)
        for source, values in sandbox.source_config().items():
            for key, value in values.items():
                env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        env["INGEST__LEARNING_MIN_INTERVAL_SECONDS"] = "0"
        # Simulated days pass in seconds: every learner is read each day (no sweep).
        env["INGEST__LEARNING_FULL_SWEEP_DAYS"] = "0"
        running = Job(
            database, sandbox, sandbox.world.company, tmp_path_factory.mktemp("dbt-target")
        )
        for day in range(DAYS):
            sandbox.set_day(day)
            loaded = run_cli(["--log-format", "plain"], env)
            assert loaded.returncode == 0, loaded.stderr
            running.dbt_build(day)
        yield running


def test_salesforce_user_history_is_exactly_what_the_days_showed(job: Job) -> None:
    expected = salesforce_user_versions(job.company, range(DAYS))
    assert salesforce_user_history(job.database) == expected

    # The stories the semantics name all happened, so the comparison above covered them.
    changed = [versions for versions in expected.values() if len(versions) > 1]
    assert any(a[0] != b[0] for v in changed for a, b in itertools.pairwise(v))  # division
    assert any(a[2] and not b[2] for v in changed for a, b in itertools.pairwise(v))
    assert any(not a[2] and b[2] for v in changed for a, b in itertools.pairwise(v))


def test_untracked_changes_make_no_version_but_show_current_values(job: Job) -> None:
    company = job.company
    renamed = [
        j
        for j in range(company.salesforce_users)
        if (first := company.salesforce_user(j, 0)).last_modified
        != (last := company.salesforce_user(j, DAYS - 1)).last_modified
        and (first.division, first.phase, first.active) == (last.division, last.phase, last.active)
    ]
    assert renamed  # users touched only in untracked fields
    for j in renamed:
        last = company.salesforce_user(j, DAYS - 1)
        rows = job.database.query(
            "select name, email from marts.dim_salesforce_user_scd where salesforce_user_id = %s",
            (salesforce_user_id(j),),
        )
        expected_name = f"{last.first_name} {last.last_name}"
        assert all(row == (expected_name, last.email.strip().lower()) for row in rows)


def test_employee_history_is_exactly_what_the_days_showed(job: Job) -> None:
    expected = employee_versions(job.company, range(DAYS))
    assert employee_history(job.database) == expected

    changes = [v for v in expected.values() if len(v) > 1]
    pairs = [(a, b) for v in changes for a, b in itertools.pairwise(v)]
    assert any(a[0] != b[0] for a, b in pairs)  # department
    assert any(a[4] != b[4] for a, b in pairs)  # manager
    assert any(a[5] and not b[5] for a, b in pairs)  # termination
    current = job.database.query(
        "select employee_id, count(*) from marts.dim_employee_scd where is_current group by 1"
    )
    assert {n for _, n in current} == {1} and len(current) == len(expected)


def test_a_reorg_versions_the_unit_not_the_people_in_it(job: Job) -> None:
    company = job.company

    def parents(day: int) -> dict[str, str | None]:
        units = company.org_units(day, None)
        codes = {u.index: u.code for u in units}
        return {u.code: codes.get(u.parent) for u in units}

    before, after = parents(0), parents(DAYS - 1)
    moved = {code for code, parent in after.items() if before.get(code, parent) != parent}
    assert moved  # the sandbox re-organises a team every day
    for code in moved:
        versions = job.database.query(
            "select parent_org_unit_id, is_current from marts.dim_org_unit_scd"
            " where org_unit_id = %s order by valid_from",
            (code,),
        )
        assert len(versions) >= 2 and versions[-1] == (after[code], True)
        assert versions[0][0] == before[code]


def test_a_second_build_with_no_new_data_changes_nothing(job: Job) -> None:
    def fingerprint() -> dict[str, tuple]:
        prints = {}
        for model in MARTS:
            prints[model] = job.database.query(
                f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), ''))"
                f" from marts.{model} as t"
            )[0]
        for snapshot in job.database.query(
            "select table_name from information_schema.tables where table_schema = 'snapshots'"
        ):
            prints[snapshot[0]] = job.database.query(
                f"select count(*) from snapshots.{snapshot[0]}"
            )[0]
        return prints

    before = fingerprint()
    job.dbt_build(DAYS - 1)
    assert fingerprint() == before


def test_completions_carry_the_org_of_their_moment(job: Job) -> None:
    versions = employee_versions(job.company, range(DAYS))
    rows = job.database.query(
        "select employee_id, completed_at, department, division, is_org_estimated"
        " from marts.fct_learning_completions"
    )
    assert len(rows) > 1000
    estimated = 0
    for employee, completed_at, department, division, is_estimated in rows:
        history = versions[employee]
        if completed_at < history[0][6]:  # before the first version anyone observed
            estimated += 1
            assert is_estimated and (department, division) == history[0][:2]
            continue
        valid = [
            v for v in history if v[6] <= completed_at and (v[7] is None or completed_at < v[7])
        ]
        # (still flagged when the org unit's place in the tree predates its first version)
        assert len(valid) == 1
        assert (department, division) == valid[0][:2], (employee, completed_at)
    assert 0 < estimated < len(rows)
    # A move after the completion did not rewrite it: some completions sit on older versions.
    moved = [(e, at) for e, at, *_ in rows if len(versions[e]) > 1 and at < versions[e][-1][6]]
    assert moved


def test_open_learning_plans_are_open_or_overdue_as_of_the_last_day(job: Job) -> None:
    company, coursework = job.company, job.sandbox.world.coursework
    last_day = DAYS - 1
    as_of = utc(day_start(last_day)).date()
    status = {
        (employee, component, assigned_at): (value, due_date)
        for employee, component, assigned_at, value, due_date in job.database.query(
            "select employee_id, component_id, assigned_at, status, due_date"
            " from marts.fct_learning_assignments"
        )
    }
    checked = {"open": 0, "overdue": 0}
    for index in range(company.employee_count(last_day)):
        for item in coursework.assignments(index, last_day):
            if item.assigned >= day_start(last_day + 1):
                continue  # assigned after the as-of day: not judged yet
            key = (company.user_id(index), item.course.component_id, utc(item.assigned))
            due = utc(item.required).date()
            expected = "overdue" if due < as_of else "open"
            assert status[key] == (expected, due), key
            checked[expected] += 1
    assert checked["open"] > 0 and checked["overdue"] > 0
    completed = job.database.query(
        "select status, count(*) from marts.fct_learning_assignments"
        " where completion_id is not null group by status"
    )
    assert {s for s, _ in completed} == {"completed_on_time", "completed_late"}


SCD_MARTS = ("dim_salesforce_user_scd", "dim_employee_scd", "dim_org_unit_scd")


def test_dropped_snapshots_are_rebuilt_from_raw_row_for_row(job: Job, figures: Figures) -> None:
    """Runs last: it drops the module's snapshots and rebuilds them from the raw tables."""

    def scd_rows() -> dict[str, list[tuple]]:
        return {
            model: job.database.query(f"select t::text from marts.{model} as t order by 1")
            for model in SCD_MARTS
        }

    with figures.trial("fault", "the snapshot tables are dropped, then rebuilt from raw"):
        original = scd_rows()
        snapshots = job.database.query(
            "select table_name from information_schema.tables where table_schema = 'snapshots'"
        )
        assert len(snapshots) == 3
        for (name,) in snapshots:
            job.database.query(f"drop table snapshots.{name} cascade")

        rebuilt = subprocess.run(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "rebuild_history.py"),
                "--",
                "--target-path",
                str(job.target_path),
                *dbt_profile_args(),
            ],
            cwd=REPO_ROOT,
            env=job.database.env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )

        assert rebuilt.returncode == 0, rebuilt.stdout[-3000:] + rebuilt.stderr[-3000:]
        assert f"replaying loader run {DAYS}/{DAYS}" in rebuilt.stdout
        after = scd_rows()
        for model in SCD_MARTS:
            lost = sorted(set(original[model]) - set(after[model]))[:5]
            gained = sorted(set(after[model]) - set(original[model]))[:5]
            assert after[model] == original[model], f"{model}: lost {lost}, gained {gained}"
