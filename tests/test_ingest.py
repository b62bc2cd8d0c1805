"""`python -m ingest` end to end: real HTTP to the sandbox, a real Postgres, the real CLI."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from ingest.ledger import run_lock
from ingest.sandbox import Faults, Sandbox, TenantShape
from ingest.target import WarehouseTarget
from tests.support import REPO_ROOT, Database, run_cli
from tests.support import loader_env as _loader_env

SF_USERS_QUERY = "select count(*), count(distinct id) from raw_salesforce.users"


def _ingest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["--log-format", "plain", *args], env)


def _ledger(database: Database) -> list[tuple]:
    return database.query(
        "select r.source, r.resource, r.status, r.rows_extracted, r.rows_loaded,"
        " r.rows_rejected, r.api_requests, r.new_columns, r.error"
        " from ops.ingest_run_resources as r join ops.ingest_runs as run using (run_id)"
        " order by run.started_at desc, r.started_at desc"
    )


@pytest.fixture
def sandbox() -> Sandbox:
    # Learning's throttle is tested on its own; elsewhere it would only slow the tests down.
    with Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def test_first_run_lands_every_user_of_both_systems(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    result = _ingest(env, "--sources", "salesforce,successfactors")
    assert result.returncode == 0, result.stderr

    rows, ids = database.query(SF_USERS_QUERY)[0]
    assert rows == ids > 100
    # Custom fields land in one column each (dlt alone would split Audit_Phase__c in two).
    audit_columns = database.query(
        "select column_name from information_schema.columns"
        " where table_schema = 'raw_salesforce' and column_name like 'audit%'"
    )
    assert audit_columns == [("audit_phase_c",)]
    assert database.query("select count(audit_phase_c) from raw_salesforce.users")[0][0] == rows
    statuses = database.query(
        "select status, count(*) from raw_successfactors.users group by status"
    )
    assert {"t", "f"} <= {status for status, _ in statuses}  # terminated users came too
    assert database.query("select count(*) from raw_successfactors.org_units")[0][0] > 10
    managers = database.query(
        "select count(*) from raw_successfactors.users where manager_user_id is not null"
    )[0][0]
    assert managers > 0
    ledger = {(s, r): (st, ext, loaded) for s, r, st, ext, loaded, *_ in _ledger(database)}
    assert ledger[("salesforce", "users")] == ("SUCCESS", rows, rows)


def test_a_second_run_on_the_same_day_loads_nothing_new(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env, "--sources", "salesforce,successfactors").returncode == 0
    before = database.query(SF_USERS_QUERY)[0]
    again = _ingest(env, "--sources", "salesforce,successfactors")
    assert again.returncode == 0, again.stderr
    assert database.query(SF_USERS_QUERY)[0] == before


def test_the_next_day_fetches_only_the_changes(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    first_rows = database.query(SF_USERS_QUERY)[0][0]
    sandbox.advance_day()
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    rows, ids = database.query(SF_USERS_QUERY)[0]
    changed = rows - first_rows
    assert 0 < changed < first_rows / 4  # a day's changes, not a full reload
    versions = database.query(
        "select count(*) from (select id from raw_salesforce.users group by id"
        " having count(*) > 1) as v"
    )[0][0]
    assert versions > 0 and ids >= first_rows - 0  # old versions kept next to new ones
    latest = _ledger(database)[0]
    # The overlap window re-reads a few known versions; only the new ones are loaded.
    assert latest[3] >= changed and latest[4] == changed


def test_an_emptied_warehouse_gets_a_full_load(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    full = database.query(SF_USERS_QUERY)[0]
    database.query("drop schema raw_salesforce cascade")
    sandbox.advance_day()
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    assert database.query(SF_USERS_QUERY)[0][1] >= full[1]


def test_no_configured_source_points_at_the_sandbox(database: Database) -> None:
    result = run_cli([], database.env)
    assert result.returncode == 2
    assert "--sandbox" in result.stderr and "README" in result.stderr


def test_a_missing_setting_is_named_with_where_to_set_it(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    del env["SOURCES__SALESFORCE__CLIENT_SECRET"]
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "sources.salesforce.client_secret" in result.stderr
    assert "SOURCES__SALESFORCE__CLIENT_SECRET" in result.stderr


def test_dry_run_extracts_but_loads_nothing(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    result = _ingest(env, "--sources", "salesforce", "--dry-run")
    assert result.returncode == 0, result.stderr
    exists = database.query("select to_regclass('raw_salesforce.users') is not null")[0][0]
    assert not exists or database.query(SF_USERS_QUERY)[0][0] == 0


def test_retryable_faults_are_survived(database: Database, sandbox: Sandbox) -> None:
    sandbox.set_faults(
        Faults(
            rate_limit_every=3,
            retry_after_seconds=1,
            server_error_burst=2,
            token_expires_after_pages=1,
        )
    )
    env = _loader_env(database, sandbox, request_backoff_factor="0.05")
    result = _ingest(env, "--sources", "salesforce,successfactors")
    assert result.returncode == 0, result.stderr
    rows, ids = database.query(SF_USERS_QUERY)[0]
    assert rows == ids > 100
    requests = {(s, r): n for s, r, _, _, _, _, n, *_ in _ledger(database)}
    assert requests[("salesforce", "users")] > 2  # the failed attempts were made and counted


def test_an_answer_of_unknown_shape_fails_and_keeps_the_cursor(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(Faults(apis=("salesforce",), unknown_shape_next=1))
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 1
    assert "unknown shape" in result.stderr
    assert database.query("select to_regclass('raw_salesforce.users')")[0][0] is None
    sandbox.set_faults(Faults())
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    assert database.query(SF_USERS_QUERY)[0][0] > 100  # nothing was skipped


def test_a_body_cut_short_is_retried_then_loaded(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(Faults(apis=("salesforce",), truncate_next=1))
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 0, result.stderr
    rows, ids = database.query(SF_USERS_QUERY)[0]
    assert rows == ids > 100


def test_few_malformed_records_are_rejected_and_the_rest_loaded(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(
        Faults(
            apis=("salesforce",), malformed_rate=0.02, malformed_kinds=("missing_key", "bad_date")
        )
    )
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 0, result.stderr
    rejects = database.query("select reason, payload from raw_salesforce.rejects")
    assert rejects
    for reason, payload in rejects:
        assert reason.startswith(("missing field Audit_Phase__c", "SystemModstamp does not"))
        assert json.loads(payload)  # the record as received
    assert {reason.split()[0] for reason, _ in rejects} == {"missing", "SystemModstamp"}
    status, extracted, loaded, rejected = database.query(
        "select status, rows_extracted, rows_loaded, rows_rejected from ops.ingest_run_resources"
    )[0]
    assert status == "SUCCESS_WITH_REJECTS"
    assert rejected == len(rejects) and loaded == extracted - rejected


def test_a_record_sent_twice_lands_once(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(
        Faults(apis=("salesforce",), malformed_rate=0.05, malformed_kinds=("duplicate_id",))
    )
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 0, result.stderr
    rows, ids = database.query(SF_USERS_QUERY)[0]
    extracted, loaded, status = database.query(
        "select rows_extracted, rows_loaded, status from ops.ingest_run_resources"
    )[0]
    assert rows == ids == loaded == 200 and extracted > loaded and status == "SUCCESS"


def test_too_many_rejects_fail_the_run_and_keep_the_cursor(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(
        Faults(apis=("salesforce",), malformed_rate=0.3, malformed_kinds=("bad_date",))
    )
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 1
    assert "quality gate" in result.stderr
    assert database.query("select to_regclass('raw_salesforce.users')")[0][0] is None
    assert database.query("select status from ops.ingest_runs")[0][0] == "FAILED"
    sandbox.set_faults(Faults())
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    rows, ids = database.query(SF_USERS_QUERY)[0]
    assert rows == ids > 100  # the next good run loads everything the failed one did not


def test_a_broken_entity_fails_alone_and_its_neighbours_load(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    # Every department's modification time is unusable; the employees are fine.
    sandbox.set_faults(
        Faults(
            apis=("successfactors",),
            malformed_rate=1.0,
            malformed_kinds=("bad_date",),
            malformed_entities=("FODepartment",),
        )
    )
    result = _ingest(env, "--sources", "successfactors")
    assert result.returncode == 1
    assert "successfactors.org_units: FAILED" in result.stderr
    assert "nothing of org_units loaded, its cursor kept" in result.stderr
    ledger = {
        resource: (status, loaded) for _, resource, status, _, loaded, *_ in _ledger(database)
    }
    employees = database.query("select count(distinct user_id) from raw_successfactors.users")
    assert ledger["users"] == ("SUCCESS", employees[0][0]) and employees[0][0] > 100
    assert ledger["org_units"] == ("FAILED", 0)
    assert database.query("select to_regclass('raw_successfactors.org_units')") == [(None,)]
    assert database.query("select status from ops.ingest_runs") == [("FAILED",)]

    sandbox.set_faults(Faults())
    assert _ingest(env, "--sources", "successfactors").returncode == 0
    # The departments' cursor never moved: the next run reads them all; the employees' did.
    latest = {resource: extracted for _, resource, _, extracted, *_ in _ledger(database)[:2]}
    segments = database.query("select count(*) from raw_successfactors.org_units")[0][0]
    assert latest["org_units"] == segments > 10
    assert latest["users"] < employees[0][0]


def test_an_entity_answered_empty_gets_its_rows_when_they_come(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.configure(shape=TenantShape(empty=frozenset({"successfactors.FODepartment"})))
    first = _ingest(env, "--sources", "successfactors")
    assert first.returncode == 0, first.stderr
    assert "org_units: SUCCESS — 0 extracted" in first.stderr
    assert "answered no records at all" in first.stderr
    columns = database.query(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'raw_successfactors' and table_name = 'org_units'"
    )
    assert ("parent", "character varying") in columns
    assert ("_extracted_at", "timestamp with time zone") in columns
    assert database.query("select count(*) from raw_successfactors.org_units") == [(0,)]
    assert database.query("select count(*) from raw_successfactors.rejects") == [(0,)]
    assert database.query("select count(*) from raw_successfactors.deletions") == [(0,)]

    sandbox.configure(shape=TenantShape())  # the permission is granted the next day
    sandbox.advance_day()
    second = _ingest(env, "--sources", "successfactors")
    assert second.returncode == 0, second.stderr
    org_units = next(row for row in _ledger(database)[:2] if row[1] == "org_units")
    segments = database.query("select count(*) from raw_successfactors.org_units")[0][0]
    assert org_units[2:5] == ("SUCCESS", segments, segments) and segments > 10


def test_a_new_custom_field_becomes_a_column_and_is_reported(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_faults(Faults(apis=("salesforce",), schema_drift_day=1))
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    sandbox.advance_day()
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 0, result.stderr
    assert "new column" in result.stderr
    new_columns = _ledger(database)[0][7]
    assert new_columns and new_columns.endswith("_c")
    filled = database.query(f"select count({new_columns}) from raw_salesforce.users")[0][0]
    assert filled > 0


def test_the_request_limit_stops_the_run_at_once(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    sandbox.configure(salesforce_daily_api_limit=1000)
    sandbox.world.salesforce_api_usage = 1000
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 1
    assert "REQUEST_LIMIT_EXCEEDED" in result.stderr or "quota" in result.stderr
    assert _ledger(database)[0][6] <= 3  # no retry storm against a spent quota


def test_the_run_stops_before_the_quota_passes_ninety_percent(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    sandbox.configure(salesforce_daily_api_limit=1000)
    sandbox.world.salesforce_api_usage = 905
    result = _ingest(env, "--sources", "salesforce")
    assert result.returncode == 1
    assert "90%" in result.stderr


def test_two_runs_at_once_load_everything_exactly_once(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox, lock_wait_seconds="1")
    command = [sys.executable, "-m", "ingest", "--log-format", "plain", "--sources", "salesforce"]
    runs = [
        subprocess.Popen(command, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in outcomes)
    rows, ids = database.query(SF_USERS_QUERY)[0]
    assert rows == ids > 100
    if codes == [0, 1]:
        assert any("another `python -m ingest` run" in err for _, err in outcomes)
    else:  # the first finished before the second started: the second found nothing new
        assert codes == [0, 0]


def test_the_run_lock_is_per_schema_prefix(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox, lock_wait_seconds="1")
    target = WarehouseTarget(
        database.host, database.port, database.user, database.password, database.name, False
    )
    with run_lock(target, wait_seconds=0):  # production's run, still loading
        blocked = _ingest(env, "--sources", "salesforce")
        pull_request = _ingest(
            {**env, "PEOPLESTACK_SCHEMA_PREFIX": "pr7"}, "--sources", "salesforce"
        )
    assert blocked.returncode == 1
    assert "another `python -m ingest` run is loading" in blocked.stderr
    assert pull_request.returncode == 0, pull_request.stderr
    assert database.query("select count(*) > 100 from pr7_raw_salesforce.users") == [(True,)]


def test_json_log_lines_are_machine_readable(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    result = run_cli(["--log-format", "json", "--sources", "salesforce"], env)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    kinds = {event["event"] for event in events}
    assert {"run_started", "resource_finished", "run_finished"} <= kinds


def test_check_and_status_report_each_source(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    check = run_cli(["check"], env)
    assert check.returncode == 0, check.stdout + check.stderr
    for source in ("salesforce", "successfactors", "successfactors_learning"):
        assert f"{source}: OK" in check.stdout
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    status = run_cli(["status"], env)
    assert status.returncode == 0
    assert "SUCCESS" in status.stdout and "salesforce.users" in status.stdout
    # Read by a pager or `head` that stops early (make demo does): no traceback, exit 0.
    first_line = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m ingest status | head -n 1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert first_line.returncode == 0, first_line.stderr
    assert first_line.stdout == status.stdout.splitlines(keepends=True)[0]
    assert first_line.stderr == ""


def test_every_page_is_followed_to_the_end(database: Database) -> None:
    with Sandbox(seed=3, scale=500) as sandbox:
        env = _loader_env(database, sandbox, page_size="200")
        result = _ingest(env, "--sources", "salesforce,successfactors")
    assert result.returncode == 0, result.stderr
    assert "500 extracted from 3 page(s)" in result.stderr  # 200 + 200 + 100
    assert database.query(SF_USERS_QUERY)[0] == (500, 500)
    ec_users = [line for line in result.stderr.splitlines() if "successfactors.users: SUCC" in line]
    assert "extracted from 3 page(s)" in ec_users[0]  # 600 employees in pages of 200
    rows, ids = database.query(
        "select count(*), count(distinct user_id) from raw_successfactors.users"
    )[0]
    assert rows == ids >= 600  # 1.2 employees per Salesforce user, leavers included


def test_learning_is_read_per_employee_and_then_incrementally(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env).returncode == 0
    employees = {u for (u,) in database.query("select user_id from raw_successfactors.users")}
    counts = {}
    for table, learner in (
        ("learning_assignments", "user_id"),
        ("learning_completions", "target_user_id"),
    ):
        learners = database.query(f"select distinct {learner} from raw_successfactors.{table}")
        assert learners and {u for (u,) in learners} <= employees
        counts[table] = database.query(f"select count(*) from raw_successfactors.{table}")[0][0]
    assert database.query("select count(*) from raw_successfactors.learning_items")[0][0] >= 20
    catalogs = database.query(
        "select count(distinct catalog_id) from raw_successfactors.learning_items"
        " where component_type_id = 'CERT'"
    )
    assert catalogs == [(2,)]  # certifications are listed in both catalogs, and kept so

    sandbox.advance_day()
    assert _ingest(env).returncode == 0
    new_completions = (
        database.query("select count(*) from raw_successfactors.learning_completions")[0][0]
        - counts["learning_completions"]
    )
    assert 0 < new_completions < counts["learning_completions"] / 10  # one day's completions
    duplicated = database.query(
        "select count(*) from (select student_component_id, last_update_timestamp"
        " from raw_successfactors.learning_completions group by 1, 2 having count(*) > 1) as d"
    )[0][0]
    assert duplicated == 0  # the history look-back re-reads known rows; none lands twice


def test_learning_calls_keep_to_the_throttle(database: Database) -> None:
    with Sandbox(seed=5, scale=50, learning_min_interval_seconds=0.1) as sandbox:
        env = _loader_env(database, sandbox, learning_min_interval_seconds="0.1")
        result = _ingest(env)
        throttled = sandbox.learning_calls_throttled
    assert result.returncode == 0, result.stderr
    requests = {(s, r): n for s, r, _, _, _, _, n, *_ in _ledger(database)}
    employees = database.query("select count(distinct user_id) from raw_successfactors.users")
    assert requests[("successfactors_learning", "learning_assignments")] >= employees[0][0]
    # Paced, not retried into compliance: unpaced, four workers would see most calls refused.
    # Sends are serialised with a margin for arrival jitter, so none comes early.
    assert throttled == 0


def test_a_full_refresh_marks_records_that_no_longer_come_back(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env, "--sources", "salesforce").returncode == 0
    # A user landed by an earlier run and since deleted in Salesforce.
    database.query(
        "create temp table gone as select * from raw_salesforce.users limit 1;"
        " update gone set id = '005GONE000000001AAA', _dlt_id = 'gone';"
        " insert into raw_salesforce.users select * from gone"
    )
    for _ in range(2):  # a second full refresh does not record the deletion again
        result = _ingest(env, "--sources", "salesforce", "--full-refresh")
        assert result.returncode == 0, result.stderr
    deletions = database.query("select resource, record_key from raw_salesforce.deletions")
    assert deletions == [("users", "005GONE000000001AAA")]


def test_since_re_reads_from_a_chosen_moment(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    sandbox.set_day(2)
    result = _ingest(env, "--sources", "salesforce", "--since", "2026-03-03T00:00:00Z")
    assert result.returncode == 0, result.stderr
    since_rows = database.query(SF_USERS_QUERY)[0][0]
    modified = database.query(
        "select count(*) from raw_salesforce.users where system_modstamp < '2026-03-03'"
    )[0][0]
    assert 0 < since_rows < 100 and modified == 0  # days 1 and 2 only (day 0 is 2 March)


def test_a_value_of_the_wrong_type_is_a_reject_not_a_new_column(
    database: Database, sandbox: Sandbox
) -> None:
    env = _loader_env(database, sandbox)
    assert _ingest(env, "--sources", "successfactors").returncode == 0
    sandbox.set_faults(
        Faults(apis=("learning",), malformed_rate=0.01, malformed_kinds=("bad_date",))
    )
    result = _ingest(env, "--sources", "successfactors_learning")
    assert result.returncode == 0, result.stderr
    reasons = database.query(
        "select distinct resource, split_part(reason, ' ', 1) from raw_successfactors.rejects"
    )
    assert ("learning_completions", "completionDate") in reasons
    columns = database.query(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'raw_successfactors' and table_name = 'learning_completions'"
        " and column_name like 'completion_date%'"
    )
    assert columns == [("completion_date", "bigint")]  # no completion_date__v_text variant


def test_a_terminal_gets_live_progress_per_resource(database: Database, sandbox: Sandbox) -> None:
    env = _loader_env(database, sandbox)
    primary, replica = pty.openpty()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "ingest", "--sources", "salesforce"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=replica,
            timeout=300,
            check=False,
        )
        os.close(replica)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal closed: everything has been read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert run.returncode == 0
    text = shown.decode()
    assert "\r\x1b[K" in text  # the line is redrawn in place, not appended
    assert re.search(r"salesforce\.users: \d+ pages, 200 rows \(0 rejected\), [\d,]+ rows/s", text)
