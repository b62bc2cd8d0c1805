"""Learning within a request budget: which learners a run reads, how many, and that every
learner is read at least every ``learning_full_sweep_days`` (README: How Learning is read).

Real sandbox (its Learning throttle where it matters), real Postgres, the real CLI. Runs
here are seconds apart; a simulated day passing is the warehouse's recorded times moving a
day back (``_a_day_passes``), which is all the loader's clock sees of time.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest

from ingest.sandbox import Faults, Sandbox
from tests.support import Database, run_cli, run_dbt
from tests.support import loader_env as _loader_env

SOURCES = ("--sources", "successfactors,successfactors_learning")
PER_LEARNER = ("learning_assignments", "learning_completions")


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=5, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _env(database: Database, sandbox: Sandbox, **ingest: str) -> dict[str, str]:
    # The production defaults (a sweep, a budget) unless a test sets them.
    ingest.setdefault("learning_full_sweep_days", "7")
    return _loader_env(database, sandbox, **ingest)


def _ingest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = run_cli(["--log-format", "plain", *SOURCES], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _latest_run(database: Database) -> dict[str, tuple]:
    """Per Learning resource of the latest run: requests, learners read of total, never
    read, oldest last read, warning."""
    rows = database.query(
        "select resource, api_requests, learners_refreshed, learners_total,"
        " learners_never_read, learners_oldest_read_at, warning, status"
        " from ops.ingest_run_resources"
        " where run_id = (select run_id from ops.ingest_runs order by started_at desc limit 1)"
        " and source = 'successfactors_learning'"
    )
    return {row[0]: row[1:] for row in rows}


def _read_in_latest_load(database: Database, resource: str) -> set[str]:
    rows = database.query(
        "select user_id from raw_successfactors.learner_reads where resource = %s"
        " and _dlt_load_id = (select max(_dlt_load_id) from raw_successfactors.learner_reads"
        " where resource = %s)",
        (resource, resource),
    )
    return {user for (user,) in rows}


def _last_reads(database: Database) -> dict[str, object]:
    """Per learner, when both lists were last read (learners read on both only)."""
    rows = database.query(
        "select user_id, min(last) from (select user_id, resource, max(read_at) as last"
        " from raw_successfactors.learner_reads group by user_id, resource) as per_list"
        " group by user_id having count(*) = 2"
    )
    return dict(rows)


def _employees(database: Database) -> set[str]:
    return {u for (u,) in database.query("select distinct user_id from raw_successfactors.users")}


def _a_day_passes(database: Database, sandbox: Sandbox) -> None:
    """The sandbox moves to its next day, and every time the warehouse recorded moves a day
    into the past, as it would have if the runs were a day apart."""
    sandbox.advance_day()
    database.query(
        "update raw_successfactors.learner_reads set read_at = read_at - interval '1 day',"
        " _extracted_at = _extracted_at - interval '1 day';"
        "update raw_successfactors.users set _extracted_at = _extracted_at - interval '1 day'"
    )


def test_a_run_makes_no_more_learning_requests_than_its_budget_and_says_so(
    database: Database, sandbox: Sandbox
) -> None:
    env = _env(database, sandbox, learning_request_budget="100")
    result = _ingest(env)

    runs = _latest_run(database)
    requests = sum(runs[resource][0] for resource in PER_LEARNER)
    assert requests <= 100
    employees = len(_employees(database))
    for resource in PER_LEARNER:
        _, refreshed, total, never_read, _oldest, warning, status = runs[resource]
        assert status == "SUCCESS"
        assert (refreshed, total, never_read) == (50, employees, employees - 50)
        assert warning is not None and "learning_request_budget (100 requests" in warning
        assert len(_read_in_latest_load(database, resource)) == 50
    assert "WARNING — learning_request_budget (100 requests" in result.stderr
    status = run_cli(["status"], env)
    assert f"50 of {employees} learner(s) read" in status.stdout
    assert "warning: learning_request_budget" in status.stdout

    # The next run reads the next 50 (never read first), not the same ones again.
    first = _read_in_latest_load(database, "learning_assignments")
    _ingest(env)
    second = _read_in_latest_load(database, "learning_assignments")
    assert len(second) == 50 and not first & second


def test_changed_and_new_learners_are_read_first(database: Database, sandbox: Sandbox) -> None:
    # Day 0 reads everyone (all new); later runs have room for few more than the changed.
    _ingest(_env(database, sandbox, learning_request_budget="0"))
    everyone = _employees(database)
    assert _last_reads(database).keys() == everyone

    for _ in range(3):
        _a_day_passes(database, sandbox)
        before = _last_reads(database)
        env = _env(database, sandbox, learning_request_budget="0", learning_due_soon_days="0")
        _ingest(env)
        landed = database.query(
            "select user_id, max(_extracted_at) from raw_successfactors.users group by user_id"
        )
        changed_or_new = {u for u, at in landed if u not in before or at > before[u]}
        assert changed_or_new, "the sandbox changes or hires someone every day"
        read = _read_in_latest_load(database, "learning_assignments")
        assert changed_or_new <= read
        assert read == _read_in_latest_load(database, "learning_completions")
        # Besides them, only the sweep's daily share: everyone once in 7 days less a run's
        # day of slack, a sixth (rounded up).
        assert len(read - changed_or_new) <= -(-len(before) // 6) + 1


def test_over_simulated_days_every_learner_is_read_within_the_sweep(
    database: Database, sandbox: Sandbox
) -> None:
    sweep_days = 3
    env = _env(database, sandbox, learning_full_sweep_days=str(sweep_days))
    _ingest(env)
    requests_per_run = []
    for _ in range(8):
        _a_day_passes(database, sandbox)
        _ingest(env)
        runs = _latest_run(database)
        requests_per_run.append(sum(runs[resource][0] for resource in PER_LEARNER))
        last = _last_reads(database)
        assert last.keys() == _employees(database)
        now = database.query("select now()")[0][0]
        oldest = min(last.values())
        assert now - oldest <= timedelta(days=sweep_days), (now, oldest)
        assert runs["learning_assignments"][4] == oldest  # the ledger's oldest last read
        assert runs["learning_assignments"][5] is None  # no warning: the promise held
    # A steady run reads about half the learners (everyone once in 3 days less a run's
    # day of slack), not all of them, and the reads even out after the first days.
    everyone = len(_employees(database))
    assert max(requests_per_run[2:]) < 2 * everyone * 0.6, requests_per_run


def test_last_read_moves_only_when_the_learners_rows_load(
    database: Database, sandbox: Sandbox
) -> None:
    env = _env(database, sandbox, learning_request_budget="40")
    _ingest(env)
    reads_before = database.query("select count(*) from raw_successfactors.learner_reads")[0][0]
    assert reads_before == 40

    # Every history answer is a server error: completions fail, and nothing of them lands.
    sandbox.set_faults(Faults(apis=("learning",), server_error_every=1))
    failing = {**env, "INGEST__REQUEST_MAX_ATTEMPTS": "1"}
    result = run_cli(["--log-format", "plain", *SOURCES], failing)
    assert result.returncode == 1
    runs = _latest_run(database)
    assert {runs[resource][-1] for resource in PER_LEARNER} == {"FAILED"}
    assert runs["learning_completions"][1] is None  # no learner counted as refreshed
    after = database.query("select count(*) from raw_successfactors.learner_reads")[0][0]
    assert after == reads_before

    # The LMS answers again: the learners not read are read next (never read first).
    sandbox.set_faults(None)
    _ingest(env)
    assert len(_last_reads(database)) == 20 + 20


def test_the_sandbox_throttle_is_respected_and_the_budget_bounds_the_time(
    database: Database, sandbox: Sandbox
) -> None:
    sandbox.configure(learning_min_interval_seconds=0.5)
    env = _env(
        database,
        sandbox,
        learning_request_budget="16",
        learning_min_interval_seconds="0.5",
        learning_concurrency="4",
    )
    started = time.monotonic()
    _ingest(env)
    took = time.monotonic() - started

    runs = _latest_run(database)
    assert sum(runs[resource][0] for resource in PER_LEARNER) == 16  # not one retried call
    assert all(runs[resource][1] == 8 for resource in PER_LEARNER)
    assert took >= 16 * 0.5


def test_dim_employee_says_when_each_employees_learning_was_last_read(
    database: Database, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = _env(database, sandbox, learning_request_budget="60")
    _ingest(env)
    target = tmp_path_factory.mktemp("dbt-target")
    build = ["build", "--select", "+dim_employee", "--indirect-selection", "cautious"]
    built = run_dbt([*build, "--target-path", str(target)], env)
    assert built.returncode == 0, built.stdout[-4000:]

    rows = database.query(
        "select employee_id, learning_last_read_at from marts.dim_employee where not is_deleted"
    )
    read = {employee: at for employee, at in rows if at is not None}
    assert len(read) == 30
    last = _last_reads(database)
    assert read == {
        employee: last[employee].astimezone(UTC).replace(tzinfo=None) for employee in read
    }
