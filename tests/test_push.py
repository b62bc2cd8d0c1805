"""`python -m ingest push`: compliance from `marts.dim_salesforce_user_compliance` onto the
matched Salesforce users, through real HTTP to the sandbox's sObject Collections and Bulk API
2.0, with what was pushed and what failed kept in `ops`.

The module loads and builds once; each test pushes from its own copy of that warehouse to
its own sandbox of the same company (same user ids, nothing written yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.push import PushRequest, PushSettings, make_plan, wire_value
from ingest.salesforce_push import UserUpdate, bulk_csv, split_bulk_error
from ingest.sandbox import Sandbox
from ingest.sources.salesforce import naming
from tests.support import Database, loader_env, make_database, run_cli, run_dbt

SEED, SCALE = 23, 60
AS_OF = "2026-03-02"
VARS = ["--vars", json.dumps({"as_of_date": AS_OF})]
FIELDS = PushSettings().columns()  # model column -> Salesforce field
STATUS, OVERDUE, NEXT_DUE = (
    FIELDS["compliance_status"],
    FIELDS["overdue_count"],
    FIELDS["next_due_date"],
)
# Only the models the push reads, and what they need (snapshots included); no tests.
BUILD = ["build", "--select", "+dim_salesforce_user_compliance", "--exclude", "resource_type:test"]


def _sandbox() -> Sandbox:
    return Sandbox(seed=SEED, scale=SCALE, day=0, learning_min_interval_seconds=0)


@pytest.fixture(scope="module")
def built(postgres_server: LocalWarehouse) -> Database:
    """Day 0 loaded and the push's model built."""
    database = make_database(postgres_server)
    with _sandbox() as sandbox:
        loaded = run_cli(["--log-format", "plain"], loader_env(database, sandbox))
        assert loaded.returncode == 0, loaded.stderr[-3000:]
    result = run_dbt([*BUILD, *VARS], database.env)
    assert result.returncode == 0, result.stdout[-4000:]
    return database


@pytest.fixture
def warehouse(postgres_server: LocalWarehouse, built: Database) -> Database:
    return make_database(postgres_server, template=built)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with _sandbox() as running:
        yield running


def _push(database: Database, sandbox: Sandbox, *args: str, **push: str) -> tuple[int, str]:
    env = loader_env(database, sandbox)
    env.setdefault("PUSH__BULK_POLL_SECONDS", "0.05")
    for key, value in push.items():
        env[f"PUSH__{key.upper()}"] = value
    result = run_cli(["push", "--log-format", "plain", *args], env)
    return result.returncode, result.stdout + result.stderr


def _model(database: Database, active_only: bool = True) -> dict[str, dict[str, object]]:
    """The model's values per user the push writes to (learning read; active unless asked),
    as Salesforce should hold them."""
    rows = database.query(
        "select salesforce_user_id, is_salesforce_user_active, "
        + ", ".join(FIELDS)
        + " from marts.dim_salesforce_user_compliance where learning_last_read_at is not null"
    )
    return {
        row[0]: {
            name: wire_value(value) for name, value in zip(FIELDS.values(), row[2:], strict=True)
        }
        for row in rows
        if row[1] or not active_only
    }


def _push_runs(database: Database) -> list[tuple[str]]:
    return database.query(
        "select status from ops.ingest_runs where sources = 'salesforce-push' order by started_at"
    )


def _written(sandbox: Sandbox, via: str | None = None) -> dict[str, dict[str, object]]:
    """What reached the sandbox and was written, per user (the last write wins)."""
    return {
        w["id"]: w["fields"]
        for w in sandbox.salesforce_writes
        if w["success"] and (via is None or w["via"] == via)
    }


def test_a_first_push_writes_every_matched_active_user_and_a_second_sends_nothing(
    warehouse: Database, sandbox: Sandbox
) -> None:
    expected = _model(warehouse)
    assert expected
    assert {v[STATUS] for v in expected.values()} <= {"Compliant", "Due soon", "Overdue"}

    code, output = _push(warehouse, sandbox)
    assert code == 0, output
    assert _written(sandbox, via="collections") == expected  # values exactly, nothing else
    assert f"sending {len(expected)}" in output
    assert warehouse.query(
        "select r.status, x.rows_extracted, x.rows_loaded, x.rows_rejected, x.api_requests > 0"
        " from ops.ingest_runs as r join ops.ingest_run_resources as x using (run_id)"
        " where r.sources = 'salesforce-push'"
    ) == [("SUCCESS", len(expected), len(expected), 0, True)]

    sandbox.clear_salesforce_writes()
    code, output = _push(warehouse, sandbox)
    assert code == 0, output
    assert sandbox.salesforce_writes == []
    assert "sending 0" in output and f"{len(expected)} unchanged" in output


def test_a_change_sends_exactly_the_changed_users_and_the_as_of_date_alone_is_no_change(
    warehouse: Database, sandbox: Sandbox
) -> None:
    users = sorted(_model(warehouse))
    changed, cleared = users[:3], users[3]
    warehouse.query(
        "update marts.dim_salesforce_user_compliance set next_due_date = date '2026-04-01'"
        " where salesforce_user_id = %s; select 1",
        (cleared,),
    )
    assert _push(warehouse, sandbox)[0] == 0
    sandbox.clear_salesforce_writes()
    # A day later: the as-of date moves for everyone; three users fall overdue and one's
    # next due date goes away (null must reach Salesforce as null, not as "unchanged").
    warehouse.query(
        "update marts.dim_salesforce_user_compliance set as_of_date = as_of_date + 1;"
        " update marts.dim_salesforce_user_compliance set compliance_status = 'Overdue',"
        " overdue_count = overdue_count + 1 where salesforce_user_id = any(%s);"
        " update marts.dim_salesforce_user_compliance set next_due_date = null"
        " where salesforce_user_id = %s; select 1",
        (changed, cleared),
    )
    code, output = _push(warehouse, sandbox)
    assert code == 0, output
    expected = _model(warehouse)
    assert _written(sandbox) == {user: expected[user] for user in [*changed, cleared]}
    assert _written(sandbox)[cleared][NEXT_DUE] is None
    assert expected[cleared][FIELDS["as_of_date"]] == "2026-03-03"


def test_a_bulk_push_writes_nulls_records_failures_and_retries_them(
    warehouse: Database, sandbox: Sandbox
) -> None:
    users = sorted(_model(warehouse))
    failing = {users[0]: "ENTITY_IS_DELETED", users[1]: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    sandbox.configure(write_failures=failing)
    warehouse.query(
        "update marts.dim_salesforce_user_compliance set next_due_date = null"
        " where salesforce_user_id = %s; select 1",
        (users[2],),
    )
    code, output = _push(warehouse, sandbox, bulk_threshold="5")
    assert code == 0, output  # 2 failures of ~50: under the 10% threshold
    expected = _model(warehouse)
    assert _written(sandbox, via="bulk") == {u: v for u, v in expected.items() if u not in failing}
    assert _written(sandbox)[users[2]][NEXT_DUE] is None  # #N/A in the CSV, not an empty cell
    assert sorted(
        warehouse.query("select salesforce_user_id, error_code from ops.salesforce_push_failures")
    ) == sorted(failing.items())
    assert _push_runs(warehouse) == [("SUCCESS_WITH_REJECTS",)]
    assert "2 failed" in output

    # Fixed in Salesforce: the next push sends exactly the two that failed.
    sandbox.configure(write_failures={})
    sandbox.clear_salesforce_writes()
    code, output = _push(warehouse, sandbox)
    assert code == 0, output
    assert set(_written(sandbox)) == set(failing)
    assert "2 failed last time" in output


def test_a_failure_rate_above_the_threshold_fails_the_run(
    warehouse: Database, sandbox: Sandbox
) -> None:
    users = sorted(_model(warehouse))
    sandbox.configure(write_failures=dict.fromkeys(users[:8], "INVALID_CROSS_REFERENCE_KEY"))
    code, output = _push(warehouse, sandbox)
    assert code == 1, output
    assert "above push.error_threshold 10%" in output
    assert _push_runs(warehouse) == [("FAILED",)]
    # What Salesforce did take is recorded, so it is not sent again; the failures are.
    pushed = warehouse.query("select count(*) from ops.salesforce_push_state")[0][0]
    assert pushed == len(users) - 8
    sandbox.configure(write_failures={})
    code, output = _push(warehouse, sandbox)
    assert code == 0 and "sending 8 (8 never pushed, 8 failed last time)" in output, output
    assert _push_runs(warehouse) == [("FAILED",), ("SUCCESS",)]


def test_a_bulk_job_that_fails_whole_records_nothing_as_pushed(
    warehouse: Database, sandbox: Sandbox
) -> None:
    sandbox.configure(failing_bulk_jobs=1)
    code, output = _push(warehouse, sandbox, bulk_threshold="5")
    assert code == 1, output
    assert warehouse.query("select count(*) from ops.salesforce_push_state") == [(0,)]
    code, output = _push(warehouse, sandbox, bulk_threshold="5")
    assert code == 0, output
    assert _written(sandbox, via="bulk") == _model(warehouse)


def test_missing_or_read_only_fields_are_refused_before_anything_is_sent(
    warehouse: Database, sandbox: Sandbox
) -> None:
    sandbox.configure(absent_user_fields=[OVERDUE], read_only_user_fields=[STATUS])
    code, output = _push(warehouse, sandbox)
    assert code == 2, output
    assert OVERDUE in output and "Setup" in output and "Number(18, 0)" in output
    assert STATUS in output and "field-level security" in output
    assert sandbox.salesforce_writes == []
    assert _push_runs(warehouse) == []


def test_a_dry_run_prints_what_would_change_and_sends_nothing(
    warehouse: Database, sandbox: Sandbox
) -> None:
    expected = _model(warehouse)
    code, output = _push(warehouse, sandbox, "--dry-run")
    assert code == 0, output
    assert f"would send {len(expected)}" in output and "dry run: nothing was sent" in output
    first = sorted(expected)[0]
    assert f"{first}: {STATUS} = {expected[first][STATUS]!r}" in output
    assert sandbox.salesforce_writes == []
    assert warehouse.query("select count(*) from ops.salesforce_push_state") == [(0,)]


def test_inactive_users_are_written_only_when_configured(
    warehouse: Database, sandbox: Sandbox
) -> None:
    inactive = set(_model(warehouse, active_only=False)) - set(_model(warehouse))
    if not inactive:  # make one: the rule must not depend on the demo having some
        user = sorted(_model(warehouse))[0]
        warehouse.query(
            "update marts.dim_salesforce_user_compliance set is_salesforce_user_active = false"
            " where salesforce_user_id = %s; select 1",
            (user,),
        )
        inactive = {user}
    assert _push(warehouse, sandbox)[0] == 0
    assert not inactive & set(_written(sandbox))
    code, output = _push(warehouse, sandbox, include_inactive_users="true")
    assert code == 0, output
    assert inactive <= set(_written(sandbox))


def test_the_next_load_sees_the_pushed_values_and_the_history_gets_no_new_version(
    warehouse: Database, sandbox: Sandbox, tmp_path: Path
) -> None:
    def versions() -> int:
        return warehouse.query("select count(*) from marts.dim_salesforce_user_scd")[0][0]

    history = ["build", "--select", "+dim_salesforce_user_scd", "+fct_pipeline_runs"]
    history += ["--indirect-selection", "cautious", *VARS]  # not the other marts' tests
    built = run_dbt(history, warehouse.env)
    assert built.returncode == 0, built.stdout[-3000:]
    before = versions()
    assert _push(warehouse, sandbox)[0] == 0
    loaded = run_cli(["--sources", "salesforce"], loader_env(warehouse, sandbox))
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    status_column = naming.normalize_identifier(STATUS)  # as dlt names the column
    landed = dict(
        warehouse.query(
            f"select distinct on (id) id, {status_column} from raw_salesforce.users"
            " order by id, system_modstamp desc"
        )
    )
    expected = _model(warehouse)
    assert {u: landed[u] for u in expected} == {u: v[STATUS] for u, v in expected.items()}
    rebuilt = run_dbt(history, warehouse.env)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    assert versions() == before  # the pushed fields are not tracked history
    # The run history tells the push from the loads.
    assert warehouse.query(
        "select job, status from marts.fct_pipeline_runs where job != 'dbt build'"
        " order by started_at"
    ) == [("ingest", "success"), ("push", "success"), ("ingest", "success")]


def test_a_warehouse_without_the_model_is_told_to_build_it_first(
    postgres_server: LocalWarehouse, sandbox: Sandbox
) -> None:
    code, output = _push(make_database(postgres_server), sandbox)
    assert code == 1, output
    assert "marts.dim_salesforce_user_compliance does not exist: run `dbt build` first" in output
    assert "Traceback" not in output and sandbox.salesforce_writes == []


def test_plan_and_wire_format_rules() -> None:
    settings = PushSettings()
    as_of = settings.as_of_field
    row = {
        "salesforce_user_id": "005A",
        "is_salesforce_user_active": True,
        "learning_last_read_at": date(2026, 3, 2),
        "compliance_status": "Due soon",
        "overdue_count": 0,
        "next_due_date": date(2026, 3, 20),
        "certification_expiry_date": None,
        "as_of_date": date(2026, 3, 3),
    }
    pushed = {"005A": {**make_plan([row], {}, set(), settings, PushRequest()).updates[0].values}}
    pushed["005A"][as_of] = "2026-03-02"  # only the as-of date differs
    assert make_plan([row], pushed, set(), settings, PushRequest()).updates == []
    assert len(make_plan([row], pushed, set(), settings, PushRequest(full=True)).updates) == 1
    assert wire_value(date(2026, 3, 20)) == "2026-03-20" and wire_value(Decimal("2")) == 2
    assert wire_value(2.5) == 2.5 and wire_value(True) is True
    never_read = {**row, "learning_last_read_at": None}
    assert make_plan([never_read], {}, set(), settings, PushRequest(full=True)).never_read == 1

    csv_text = bulk_csv(["A__c", "B__c"], [UserUpdate("005A", {"A__c": 'x, "y"', "B__c": None})])
    assert csv_text == b'Id,A__c,B__c\n005A,"x, ""y""",#N/A\n'
    assert split_bulk_error("ENTITY_IS_DELETED:entity is deleted:--") == (
        "ENTITY_IS_DELETED",
        "entity is deleted",
    )
