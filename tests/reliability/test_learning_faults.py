"""Learning under faults: a learner the LMS does not know, short-lived tokens, a 429 on a
throttled tenant. Each runs the real CLI against the sandbox over HTTP into a real Postgres.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from ingest.sandbox import Faults, Sandbox
from tests.reliability.figures import Figures
from tests.support import Database, run_cli

SOURCES = ("--sources", "successfactors,successfactors_learning")
RAW = "raw_successfactors"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # 60 employees, about 1,400 completions: every learner's history spans years.
    with Sandbox(seed=7, scale=50, day=0, learning_min_interval_seconds=0) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.set_faults(None)
    sandbox.configure(learning_min_interval_seconds=0)


def _env(database: Database, sandbox: Sandbox, **ingest: str) -> dict[str, str]:
    env = dict(database.env)
    for source, values in sandbox.source_config().items():
        for key, value in values.items():
            env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
    ingest = {
        "request_backoff_factor": "0.05",
        "learning_min_interval_seconds": "0",
        "learning_full_sweep_days": "0",  # every learner every run
        "learning_concurrency": "4",
        **ingest,
    }
    for key, value in ingest.items():
        env[f"INGEST__{key.upper()}"] = value
    return env


def _ingest(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(["--log-format", "plain", *SOURCES], env)


def _statuses(database: Database) -> dict[str, str]:
    """Each Learning resource's status in the latest run."""
    rows = database.query(
        "select r.resource, r.status from ops.ingest_run_resources as r"
        " where r.run_id = (select run_id from ops.ingest_runs order by started_at desc limit 1)"
        " and r.source = 'successfactors_learning'"
    )
    return dict(rows)


def _completions_per_learner(database: Database) -> dict[str, int]:
    rows = database.query(
        f"select target_user_id, count(distinct student_component_id)"
        f" from {RAW}.learning_completions group by 1"
    )
    return dict(rows)


def _sandbox_completions(sandbox: Sandbox, learners: list[str]) -> dict[str, int]:
    """What the LMS holds for each learner today (zero for those who never started)."""
    company, day = sandbox.world.company, sandbox.day
    held = {}
    for user_id in learners:
        index = company.employee_index(user_id)
        exists = index is not None and index < company.employee_count(day)
        count = len(sandbox.world.coursework.completions(index, day)) if exists else 0
        if count:
            held[user_id] = count
    return held


def _busiest_learner(sandbox: Sandbox) -> str:
    """The employee with the longest learning history (much of it older than a month)."""
    company, day = sandbox.world.company, sandbox.day
    index = max(
        range(company.employee_count(day)),
        key=lambda i: len(sandbox.world.coursework.completions(i, day)),
    )
    return company.user_id(index)


def _landed_rows(database: Database, table: str) -> int:
    """Rows in a raw table; 0 when it was never created (a first run that loaded nothing)."""
    if database.query("select to_regclass(%s) is null", (f"{RAW}.{table}",)) == [(True,)]:
        return 0
    return database.query(f"select count(*) from {RAW}.{table}")[0][0]


def _learners(database: Database) -> list[str]:
    return [u for (u,) in database.query(f"select distinct user_id from {RAW}.users")]


def test_a_learner_unknown_to_the_lms_is_a_reject_and_everyone_else_loads(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    missing = _busiest_learner(sandbox)
    env = _env(database, sandbox)
    with figures.trial("fault", "Learning: one learner answers 404, then comes back"):
        sandbox.set_faults(Faults(apis=("learning",), unknown_learners=(missing,)))
        result = _ingest(env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert _statuses(database) == {
            "learning_items": "SUCCESS",
            "learning_assignments": "SUCCESS_WITH_REJECTS",
            "learning_completions": "SUCCESS_WITH_REJECTS",
        }
        rejects = database.query(f"select resource, reason, payload from {RAW}.rejects")
        assert sorted(r for r, _, _ in rejects) == ["learning_assignments", "learning_completions"]
        for _, reason, payload in rejects:
            assert missing in reason and "HTTP 404" in reason and "does not exist" in reason
            assert json.loads(payload) == {
                "learner": missing,
                "status": 404,
                "reason": f"NOT_FOUND: User with ID {missing} does not exist",
            }
        learners = _learners(database)
        held = _sandbox_completions(sandbox, learners)
        assert missing in held and len(held) > 40
        landed = _completions_per_learner(database)
        assert landed == {u: n for u, n in held.items() if u != missing}
        assert database.query(
            f"select count(*) from {RAW}.learning_assignments where user_id = %s", (missing,)
        ) == [(0,)]

        # The next run, the learner is back: their whole history lands, though the cursor
        # moved past most of it while they were missing.
        sandbox.set_faults(None)
        result = _ingest(env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert set(_statuses(database).values()) == {"SUCCESS"}
        assert _completions_per_learner(database) == held
        rows, distinct = database.query(
            f"select count(*), count(distinct student_component_id) from {RAW}.learning_completions"
        )[0]
        assert rows == distinct == sum(held.values())
        assert database.query(
            f"select count(*) > 0 from {RAW}.learning_assignments where user_id = %s", (missing,)
        ) == [(True,)]


def test_learner_rejects_count_against_the_quality_gate(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    missing = _busiest_learner(sandbox)
    env = _env(database, sandbox, reject_threshold="0", reject_allowance="0")
    with figures.trial("fault", "Learning: a learner's 404 with no rejects allowed fails the gate"):
        sandbox.set_faults(Faults(apis=("learning",), unknown_learners=(missing,)))
        result = _ingest(env)
        assert result.returncode == 1
        statuses = _statuses(database)
        assert statuses["learning_completions"] == statuses["learning_assignments"] == "FAILED"
        assert "learner not readable (HTTP 404) x1" in result.stdout + result.stderr
        assert _landed_rows(database, "learning_completions") == 0


def test_a_token_expiring_every_two_pages_is_renewed_once_for_all_workers(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    env = _env(database, sandbox)
    with figures.trial("fault", "Learning: token expires every 2 pages, 4 workers"):
        sandbox.set_faults(Faults(apis=("learning",), token_expires_after_pages=2))
        before = {t.value for t in sandbox.world.tokens.issued("learning")}
        result = _ingest(env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert set(_statuses(database).values()) == {"SUCCESS"}
        held = _sandbox_completions(sandbox, _learners(database))
        assert _completions_per_learner(database) == held
        tokens = [t for t in sandbox.world.tokens.issued("learning") if t.value not in before]
        # Renewed only when refused, once for every worker refused: each token served its
        # two pages, but the last of each of the three resources' clients.
        assert len(tokens) > 50
        assert sum(1 for t in tokens if t.pages_served < 2) <= 3


def test_a_429_on_a_throttled_tenant_slows_every_worker_and_no_call_comes_early(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    interval = "0.1"
    env = _env(database, sandbox, learning_min_interval_seconds=interval)
    with figures.trial("fault", "Learning: one 429 on a throttled tenant, 4 workers"):
        sandbox.configure(learning_min_interval_seconds=float(interval))
        sandbox.set_faults(Faults(apis=("learning",), rate_limit_burst=1, retry_after_seconds=1))
        throttled_before = sandbox.learning_calls_throttled
        result = _ingest(env)
        throttled = sandbox.learning_calls_throttled - throttled_before
        assert result.returncode == 0, result.stdout + result.stderr
        assert set(_statuses(database).values()) == {"SUCCESS"}
        # Retries wait their turn like any call: none arrives before the interval is up.
        assert throttled == 0
        held = _sandbox_completions(sandbox, _learners(database))
        assert _completions_per_learner(database) == held
