"""The run lock cannot vanish unnoticed: a run that lost it stops before it loads."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ingest.ledger import RUN_LOCK_PROJECT_KEY
from ingest.sandbox import Faults, Sandbox
from tests.reliability.figures import Figures
from tests.support import REPO_ROOT, Database, loader_env, run_cli

# Salesforce's first data requests answer 429 with Retry-After: 2 s three times, so the
# run holds its lock, idle, for about 6 s before it loads anything.
SLOW_START = Faults(apis=("salesforce",), rate_limit_burst=3, retry_after_seconds=2)
LOCK_HOLDER = (
    "select pid from pg_locks where locktype = 'advisory' and classid = %s::oid and granted"
    " and database = (select oid from pg_database where datname = current_database())"
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _start_loader(env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ingest", "--log-format", "plain", "--sources", "salesforce"]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _lock_holder(database: Database, timeout: float = 60) -> int:
    """The backend pid holding a run lock in this database, once a run has taken it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = database.query(LOCK_HOLDER, (RUN_LOCK_PROJECT_KEY,))
        if rows:
            return rows[0][0]
        time.sleep(0.1)
    raise AssertionError("no run took the lock")


def _wait_for_running_row(database: Database, timeout: float = 60) -> None:
    """Until the run has written its ledger row (just after it takes the lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exists = database.query("select to_regclass('ops.ingest_runs') is not null")[0][0]
        if exists and database.query("select count(*) from ops.ingest_runs")[0][0]:
            return
        time.sleep(0.1)
    raise AssertionError("the run wrote no ledger row")


def _users_loaded(database: Database) -> int:
    exists = database.query("select to_regclass('raw_salesforce.users') is not null")[0][0]
    return database.query("select count(*) from raw_salesforce.users")[0][0] if exists else 0


def test_a_run_whose_lock_session_dies_stops_before_it_loads(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    with figures.trial("fault", "the run lock's session is killed mid-run"):
        sandbox.set_faults(SLOW_START)
        run = _start_loader(loader_env(database, sandbox))
        holder = _lock_holder(database)
        database.query("select pg_terminate_backend(%s)", (holder,))  # a dropped connection
        _, stderr = run.communicate(timeout=300)

        assert run.returncode == 1, stderr
        assert "run lock" in stderr and "was lost" in stderr and "stopped before" in stderr
        assert _users_loaded(database) == 0

        sandbox.set_faults(Faults())
        rerun = run_cli(
            ["--log-format", "plain", "--sources", "salesforce"], loader_env(database, sandbox)
        )
        assert rerun.returncode == 0, rerun.stderr
        rows, ids = database.query("select count(*), count(distinct id) from raw_salesforce.users")[
            0
        ]
        assert rows == ids > 100


def test_a_server_idle_timeout_does_not_end_the_lock(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    with figures.trial("fault", "a server-side idle_session_timeout of 1 s during a run"):
        database.query(f"alter database \"{database.name}\" set idle_session_timeout = '1s'")
        sandbox.set_faults(SLOW_START)
        run = _start_loader(loader_env(database, sandbox, lock_wait_seconds="1"))
        holder = _lock_holder(database)
        time.sleep(3)  # the lock's session is idle while the run waits out Retry-After

        assert database.query(LOCK_HOLDER, (RUN_LOCK_PROJECT_KEY,)) == [(holder,)]
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr
        assert _users_loaded(database) > 100


def test_a_killed_run_is_marked_abandoned_by_the_next(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    with figures.trial("fault", "the loader is killed (SIGKILL) while it holds the lock"):
        sandbox.set_faults(SLOW_START)
        run = _start_loader(loader_env(database, sandbox))
        _lock_holder(database)
        _wait_for_running_row(database)
        run.kill()
        run.wait(timeout=30)
        assert database.query("select status from ops.ingest_runs") == [("RUNNING",)]

        sandbox.set_faults(Faults())
        rerun = run_cli(
            ["--log-format", "plain", "--sources", "salesforce"], loader_env(database, sandbox)
        )
        assert rerun.returncode == 0, rerun.stderr
        statuses = database.query("select status, error from ops.ingest_runs order by started_at")
        assert [status for status, _ in statuses] == ["ABANDONED", "SUCCESS"]
        assert "ended without finishing" in statuses[0][1]
