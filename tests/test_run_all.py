"""`python -m ingest run-all`, the scheduled job: load, then `dbt build`, under one lock,
with one exit code — 0 when both halves pass, 1 when either fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.ledger import job_lock
from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox
from ingest.target import resolve_target
from tests.support import (
    Database,
    dbt_profile_args,
    free_port,
    loader_env,
    make_database,
    run_cli,
    run_dbt,
    slack_webhook_url,
    webhook_receiver,
)

HOOK_TOKEN = "job-hook-T0K3N-5e6f"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11, scale=60, day=0, learning_min_interval_seconds=0) as running:
        yield running


def _job_env(database: Database, sandbox: Sandbox, **ingest: str) -> dict[str, str]:
    env = loader_env(database, sandbox, **ingest)
    # The job runs dbt from the repository with the profile a user would have.
    env["DBT_PROFILES_DIR"] = dbt_profile_args()[1]
    return env


def _marts_rows(database: Database, table: str) -> int:
    return database.query(f"select count(*) from marts.{table}")[0][0]


def test_the_job_loads_then_builds_and_a_failed_test_fails_it(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    database = make_database(postgres_server)
    env = _job_env(database, sandbox)

    first = run_cli(["run-all", "--as-of-date", "2026-03-02"], env)
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]
    assert _marts_rows(database, "dim_employee") > 0
    assert _marts_rows(database, "dim_salesforce_user_scd") > 0
    assert database.query("select status from ops.ingest_runs") == [("SUCCESS",)]

    # A version the history cannot place (no user id) lands in raw behind the loader's
    # back: the load is fine, the build's quality gate fails, and so does the job.
    database.query(
        "insert into raw_salesforce.users (id, system_modstamp, _extracted_at, _dlt_load_id,"
        " _dlt_id) select null, system_modstamp, _extracted_at, _dlt_load_id, 'no-id'"
        " from raw_salesforce.users limit 1"
    )
    sandbox.advance_day()
    second = run_cli(["run-all", "--as-of-date", "2026-03-03"], env)
    assert second.returncode == 1, second.stderr[-3000:]
    assert "run-all: dbt build failed" in second.stderr
    assert "not_null_base_salesforce__user_versions_salesforce_user_id" in second.stderr
    statuses = database.query("select status from ops.ingest_runs order by started_at")
    assert statuses == [("SUCCESS",), ("SUCCESS",)]

    # dbt's half of the run history: one row per invocation, one per node.
    invocations = database.query(
        "select command, status, as_of_date::text, failed, nodes > 100"
        " from ops.dbt_invocations order by run_started_at"
    )
    assert invocations == [
        ("build", "warn", "2026-03-02", 0, True),  # the demo company has identity conflicts
        ("build", "error", "2026-03-03", 1, True),
    ]
    failed = database.query(
        "select n.unique_id, n.status, n.failures from ops.dbt_node_results as n"
        " join ops.dbt_invocations as i using (invocation_id)"
        " where i.status = 'error' and n.status not in ('success', 'pass', 'skipped')"
    )
    assert [(uid.split(".")[2], status, failures) for uid, status, failures in failed] == [
        ("not_null_base_salesforce__user_versions_salesforce_user_id", "fail", 1)
    ]
    built = database.query(
        "select n.rows_affected from ops.dbt_node_results as n"
        " join ops.dbt_invocations as i using (invocation_id)"
        " where n.unique_id = 'model.peoplestack.dim_employee' order by i.run_started_at desc"
    )
    assert len(built) == 2 and built[0][0] == _marts_rows(database, "dim_employee")

    # The failed test raised an alert (no channel here: recorded, and said in one line).
    alerts = database.query("select kind, alert_key, outcome from ops.alerts")
    assert alerts == [
        (
            "dbt_test",
            "dbt_test:test.peoplestack.not_null_base_salesforce__user_versions_salesforce_user_id"
            ".a1c927e561",  # dbt's id of the test: its name and a hash of its arguments
            "NO_CHANNEL",
        )
    ]

    # The operations marts, as the second build saw the history (its own run comes after).
    runs = database.query("select job, status from marts.fct_pipeline_runs order by started_at")
    assert runs == [("ingest", "success"), ("dbt build", "warn"), ("ingest", "success")]
    jobs = database.query("select job, is_overdue from marts.dim_pipeline_jobs order by job")
    assert jobs == [("dbt build", False), ("ingest", False)]

    # `status` shows both halves, and each source's freshness.
    status = run_cli(["status"], env)
    assert status.returncode == 0, status.stderr
    assert "loader runs:" in status.stdout and "dbt runs:" in status.stdout
    assert "dbt build error" in status.stdout and "dbt build warn" in status.stdout
    assert "fail: test.peoplestack.not_null_base_salesforce__user_versions" in status.stdout
    assert "salesforce.users: " in status.stdout.split("freshness")[1]
    recent = status.stdout.split("recent alerts:")[1]
    assert "NO_CHANNEL: peoplestack: dbt test failed: test.peoplestack.not_null_base" in recent


def test_a_fact_built_before_it_was_incremental_is_rebuilt_whole_once(
    postgres_server: LocalWarehouse, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A warehouse upgraded from a release where fct_learning_completions was a table has no
    watermark column: the first incremental build rebuilds every row instead of failing."""
    database = make_database(postgres_server)
    env = _job_env(database, sandbox)
    assert run_cli(["run-all"], env).returncode == 0
    full = _rows_of(database, "fct_learning_completions")
    database.query("alter table marts.fct_learning_completions drop column history_recorded_at")
    database.query(
        "delete from marts.fct_learning_completions where completion_id in ("
        "select completion_id from marts.fct_learning_completions limit 5)"
    )

    select = ["build", "--select", "fct_learning_completions", "--exclude", "test_type:unit"]
    rebuilt = run_dbt([*select, "--target-path", str(tmp_path)], env)

    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert _rows_of(database, "fct_learning_completions") == full


def _rows_of(database: Database, table: str) -> list[str]:
    return [
        row
        for (row,) in database.query(f"select to_jsonb(t)::text from marts.{table} as t order by 1")
    ]


def test_a_failed_load_fails_the_job_and_skips_the_build(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    database = make_database(postgres_server)
    env = _job_env(database, sandbox)
    env["SOURCES__SALESFORCE__CLIENT_SECRET"] = "not-the-secret"

    job = run_cli(["run-all"], env)

    assert job.returncode == 1, job.stderr[-3000:]
    assert "the load failed, so dbt build was skipped" in job.stderr
    assert "not-the-secret" not in job.stdout + job.stderr
    schemas = database.query(
        "select schema_name from information_schema.schemata where schema_name = 'marts'"
    )
    assert schemas == [], "dbt must not have built anything"


def test_a_second_job_waits_then_gives_up_while_one_runs_and_alerts(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    database = make_database(postgres_server)
    env = _job_env(database, sandbox, lock_wait_seconds="1")
    target = resolve_target(env)

    with webhook_receiver() as webhook, job_lock(target, wait_seconds=0):
        env["ALERTS__URLS"] = slack_webhook_url(webhook, HOOK_TOKEN)
        blocked = run_cli(["run-all"], env)

    assert blocked.returncode == 1
    assert "another `python -m ingest run-all` job is running" in blocked.stderr
    assert database.query("select to_regclass('ops.ingest_runs')") == [(None,)]
    ((path, payload),) = webhook.received
    assert path == f"/hooks/{HOOK_TOKEN}"
    assert payload["text"].startswith("peoplestack: the daily job did not run")
    assert "another `python -m ingest run-all` job is running" in payload["text"]
    assert HOOK_TOKEN not in blocked.stdout + blocked.stderr


def test_a_job_that_cannot_reach_the_warehouse_still_alerts(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    database = make_database(postgres_server)
    env = _job_env(database, sandbox)
    env["PGPORT"] = str(free_port())  # nothing listens there

    with webhook_receiver() as webhook:
        env["ALERTS__URLS"] = slack_webhook_url(webhook, HOOK_TOKEN)
        job = run_cli(["run-all"], env)

    assert job.returncode == 1
    assert "not recorded in ops.alerts" in job.stdout + job.stderr
    ((_, payload),) = webhook.received
    assert payload["text"].startswith("peoplestack: the daily job did not run")
    assert HOOK_TOKEN not in job.stdout + job.stderr
