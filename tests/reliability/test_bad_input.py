"""Hostile records become rejects with a reason and their payload; the rest loads exactly,
and odd but valid values (a key like SQL, 10 MB of text, unicode, control characters) land
exactly as sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ingest.sandbox import Faults, Sandbox
from ingest.sandbox.faults import EXOTIC_KINDS, HOSTILE_KINDS, exotic_text
from tests.reliability.figures import Figures
from tests.reliability.warehouse_state import landed
from tests.support import Database, loader_env, run_cli

# Each hostile kind, and what its reject must say.
REASONS = {
    "nul_byte": "holds a NUL character",
    "not_an_object": "record is not a JSON object",
    "reserved_field": "takes a column name the loader reserves (_dlt_id)",
    "colliding_field": "both become column audit_phase_c",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


@pytest.fixture(scope="module")
def loaded(sandbox: Sandbox, module_database: Database) -> Database:
    """Salesforce users loaded once with about 15% of records broken in hostile ways."""
    database = module_database
    sandbox.set_faults(
        Faults(apis=("salesforce",), malformed_rate=0.15, malformed_kinds=HOSTILE_KINDS)
    )
    env = loader_env(database, sandbox, reject_threshold="0.3")
    result = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
    sandbox.set_faults(Faults())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return database


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_a_hostile_record_is_a_reject_with_its_reason_and_payload(
    loaded: Database, kind: str, figures: Figures
) -> None:
    with figures.trial("bad input", f"Salesforce record: {kind}"):
        rejects = loaded.query(
            "select payload from raw_salesforce.rejects where reason like %s",
            (f"%{REASONS[kind]}%",),
        )
        reasons = loaded.query("select distinct reason from raw_salesforce.rejects")
        assert rejects, f"no reject says {REASONS[kind]!r}: {reasons}"
        for (payload,) in rejects:
            json.loads(payload)  # the payload as received, readable again


def test_nothing_hostile_reaches_the_versions_table_and_the_rest_loads(
    loaded: Database, figures: Figures
) -> None:
    with figures.trial("bad input", "hostile records leave the rest of the page intact"):
        extracted, loaded_rows, rejected = loaded.query(
            "select rows_extracted, rows_loaded, rows_rejected from ops.ingest_run_resources"
            " where resource = 'users'"
        )[0]
        assert rejected >= len(HOSTILE_KINDS)
        assert loaded_rows + rejected == extracted
        forged, overwritten, total = loaded.query(
            "select count(*) filter (where _dlt_id like 'forged-%%'),"
            " count(*) filter (where audit_phase_c = 'Phase 9'), count(*)"
            " from raw_salesforce.users"
        )[0]
        assert (forged, overwritten, total) == (0, 0, loaded_rows)


def test_odd_but_valid_values_land_exactly_as_sent(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    sandbox.set_faults(
        Faults(apis=("salesforce",), malformed_rate=0.08, malformed_kinds=EXOTIC_KINDS)
    )
    result = run_cli(
        ["--log-format", "plain", "--sources", "salesforce"], loader_env(database, sandbox)
    )
    sandbox.set_faults(Faults())
    assert result.returncode == 0, result.stderr
    assert database.query("select count(*) from raw_salesforce.rejects") == [(0,)]

    for kind in EXOTIC_KINDS:
        with figures.trial("bad input", f"Salesforce value: {kind}"):
            if kind == "sql_key":
                found = database.query(
                    "select count(*) from raw_salesforce.users where id like %s",
                    (f"%{exotic_text(kind)}",),
                )
            else:
                found = database.query(
                    "select count(*) from raw_salesforce.users where title = %s",
                    (exotic_text(kind),),
                )
            assert found[0][0] >= 1, f"no row holds the {kind} value exactly"


def test_broken_records_are_rejects_and_the_rest_loads_once(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    sandbox.set_faults(Faults(apis=("salesforce",), malformed_rate=0.15))
    env = loader_env(database, sandbox, reject_threshold="0.3")
    result = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
    sandbox.set_faults(Faults())
    assert result.returncode == 0, result.stderr

    def reason_count(pattern: str) -> int:
        return database.query(
            "select count(*) from raw_salesforce.rejects where reason like %s", (pattern,)
        )[0][0]

    with figures.trial("bad input", "Salesforce record without a selected field"):
        assert reason_count("missing field %") > 0
    with figures.trial("bad input", "Salesforce record with an unparseable timestamp"):
        assert reason_count("% does not parse as a timestamp%") > 0
    with figures.trial("bad input", "Salesforce value outside the accepted list"):
        # Loaded as sent: the loader knows no picklists; dbt's accepted_values test warns.
        assert database.query(
            "select count(*) > 0 from raw_salesforce.users where audit_phase_c = 'Phase 9'"
        ) == [(True,)]
    with figures.trial("bad input", "Salesforce record twice in one page"):
        rows, versions = database.query(
            "select count(*), count(distinct (id, system_modstamp)) from raw_salesforce.users"
        )[0]
        assert rows == versions
        assert database.query(
            "select rows_duplicate > 0 from ops.ingest_run_resources where resource = 'users'"
        ) == [(True,)]


def test_a_reject_rate_above_the_threshold_fails_and_keeps_rows_and_cursor(
    database: Database, sandbox: Sandbox, figures: Figures
) -> None:
    with figures.trial("bad input", "a reject rate above the threshold"):
        env = loader_env(database, sandbox)
        sandbox.set_day(0)
        first = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
        assert first.returncode == 0, first.stderr
        before = landed(database)

        sandbox.set_day(1)
        sandbox.set_faults(
            Faults(apis=("salesforce",), malformed_rate=1.0, malformed_kinds=("bad_date",))
        )
        broken = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
        sandbox.set_faults(Faults())
        sandbox.set_day(0)

        assert broken.returncode == 1
        assert "salesforce.users: FAILED" in broken.stderr
        after = landed(database)
        assert after.cursors == before.cursors
        assert after.tables["raw_salesforce.users"] == before.tables["raw_salesforce.users"]
