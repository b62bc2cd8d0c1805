"""Any tenant, any subset of sources: `python -m ingest` then `dbt build` is green from day one.

Each scenario is a tenant configured one way — a subset of the loader's sources, or every
source with one entity answered empty — run as a new user would: a fresh warehouse, the
loader CLI against the sandbox over HTTP, then `dbt build`. The scenarios are independent,
so they run two at a time; the tests then read what each one left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox, TenantShape
from ingest.sandbox.clock import DAY0
from ingest.sandbox.company import Company
from ingest.sources.raw_tables import RAW_SCHEMAS
from tests.support import Database, DbtRun, make_database, run_cli, run_dbt_recorded
from tests.truth import (
    employee_history,
    employee_versions,
    salesforce_user_history,
    salesforce_user_versions,
)

SALESFORCE, EMPLOYEE_CENTRAL, LEARNING = "salesforce", "successfactors", "successfactors_learning"
SALESFORCE_MARTS = {"dim_salesforce_user_scd"}
EMPLOYEE_MARTS = {"dim_employee", "dim_employee_scd", "dim_org_unit", "dim_org_unit_scd"}
LEARNING_MARTS = {
    "dim_learning_item",
    "fct_learning_completions",
    "fct_learning_assignments",
    "agg_compliance_by_org_unit",
}
# What the push to Salesforce reads: it needs all three sources.
PUSH_MARTS = {"dim_salesforce_user_compliance"}
ALL_MARTS = (
    SALESFORCE_MARTS
    | EMPLOYEE_MARTS
    | LEARNING_MARTS
    | PUSH_MARTS
    | {"dim_person", "fct_org_changes"}
)


@dataclass(frozen=True)
class Scenario:
    """A tenant configured one way, and which marts must then have rows or stay empty."""

    name: str
    sources: tuple[str, ...]
    with_rows: frozenset[str]
    empty: frozenset[str]
    shape: TenantShape = field(default_factory=TenantShape)
    days: tuple[int, ...] = (0,)
    scale: str | int = 60
    # Builds after the first name the sources (`enabled_sources`), as a scheduled job would.
    strict_later: bool = False


def _scenario(name: str, sources: tuple[str, ...], with_rows: set[str], **kwargs) -> Scenario:
    # Marts not named as having rows must be empty, except fct_org_changes: a first load
    # has no changes yet whatever the sources, so it is only checked where it must have rows.
    empty = ALL_MARTS - with_rows - {"fct_org_changes"}
    return Scenario(name, sources, frozenset(with_rows), frozenset(empty), **kwargs)


def _empty(entity: str) -> TenantShape:
    return TenantShape(empty=frozenset({entity}))


SUBSETS = [
    # Salesforce alone, over two observed days, in a time zone west of UTC.
    _scenario(
        "salesforce",
        (SALESFORCE,),
        SALESFORCE_MARTS | {"dim_person", "fct_org_changes"},
        shape=TenantShape(utc_offset_minutes=-300),
        days=(0, 3),
        scale="small",
        strict_later=True,
    ),
    # Employee Central alone, its DateTimeOffsets written east of UTC.
    _scenario(
        "successfactors",
        (EMPLOYEE_CENTRAL,),
        EMPLOYEE_MARTS | {"dim_person"},
        shape=TenantShape(utc_offset_minutes=330),
    ),
    # Employee Central and Learning, shaped like SAP's examples rather than the demo: no
    # completionStatusDesc in the history, to-do descriptions always null, no EC location.
    _scenario(
        "successfactors+learning",
        (EMPLOYEE_CENTRAL, LEARNING),
        EMPLOYEE_MARTS | LEARNING_MARTS | {"dim_person"},
        shape=TenantShape(
            omitted_fields={
                "learning.learninghistorys": frozenset({"completionStatusDesc"}),
                "successfactors.User": frozenset({"location"}),
            },
            null_fields={"learning.UserTodoLearningItems": frozenset({"description"})},
        ),
    ),
    _scenario(
        "salesforce+successfactors",
        (SALESFORCE, EMPLOYEE_CENTRAL),
        SALESFORCE_MARTS | EMPLOYEE_MARTS | {"dim_person"},
    ),
    _scenario(
        "all",
        (SALESFORCE, EMPLOYEE_CENTRAL, LEARNING),
        ALL_MARTS - {"fct_org_changes"},
    ),
]
EMPTY_ENTITIES = [
    _scenario(
        "salesforce.User",
        (SALESFORCE, EMPLOYEE_CENTRAL),
        EMPLOYEE_MARTS | {"dim_person"},
        shape=_empty("salesforce.User"),
    ),
    _scenario(
        "successfactors.User",
        (EMPLOYEE_CENTRAL, LEARNING),
        {"dim_org_unit", "dim_org_unit_scd", "dim_learning_item", "agg_compliance_by_org_unit"},
        shape=_empty("successfactors.User"),
    ),
    _scenario(
        "successfactors.FODepartment",
        (EMPLOYEE_CENTRAL, LEARNING),
        {"dim_employee", "dim_employee_scd", "dim_person"}
        | LEARNING_MARTS - {"agg_compliance_by_org_unit"},
        shape=_empty("successfactors.FODepartment"),
    ),
    _scenario(
        "learning.CoursesFeed",
        (EMPLOYEE_CENTRAL, LEARNING),
        EMPLOYEE_MARTS | LEARNING_MARTS | {"dim_person"},
        shape=_empty("learning.CoursesFeed"),
    ),
    _scenario(
        "learning.UserTodoLearningItems",
        (EMPLOYEE_CENTRAL, LEARNING),
        (EMPLOYEE_MARTS | LEARNING_MARTS | {"dim_person"}) - {"fct_learning_assignments"},
        shape=_empty("learning.UserTodoLearningItems"),
    ),
    _scenario(
        "learning.learninghistorys",
        (EMPLOYEE_CENTRAL, LEARNING),
        (EMPLOYEE_MARTS | LEARNING_MARTS | {"dim_person"}) - {"fct_learning_completions"},
        shape=_empty("learning.learninghistorys"),
    ),
]
SCENARIOS = {s.name: s for s in [*SUBSETS, *EMPTY_ENTITIES]}


@dataclass
class Outcome:
    """What a scenario left: every loader run and dbt build, the warehouse, the truth."""

    scenario: Scenario
    database: Database
    company: Company
    env: dict[str, str]
    target_dir: Path
    ingests: list[CompletedProcess[str]] = field(default_factory=list)
    builds: list[DbtRun] = field(default_factory=list)

    def rows(self, relation: str) -> int:
        return self.database.query(f"select count(*) from {relation}")[0][0]

    def build(self, *args: str) -> DbtRun:
        """One more ``dbt build`` on this scenario's warehouse. Unit tests are left out: they
        read no warehouse, and the dbt suites run them."""
        return run_dbt_recorded(
            ["build", "--exclude", "test_type:unit", *args], self.env, self.target_dir
        )


def _play(scenario: Scenario, server: LocalWarehouse, target_dir: Path) -> Outcome:
    """A new user's first days: fresh warehouse, loader, dbt build, once per observed day."""
    database = make_database(server)
    with Sandbox(
        seed=23, scale=scenario.scale, shape=scenario.shape, learning_min_interval_seconds=0
    ) as sandbox:
        env = dict(database.env)
        outcome = Outcome(scenario, database, sandbox.world.company, env, target_dir)
        for source, values in sandbox.source_config().items():
            if source in scenario.sources:  # the others are simply not configured
                for key, value in values.items():
                    env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        env["INGEST__LEARNING_MIN_INTERVAL_SECONDS"] = "0"
        # Simulated days pass in seconds: every learner is read each day (no sweep).
        env["INGEST__LEARNING_FULL_SWEEP_DAYS"] = "0"
        for day in scenario.days:
            sandbox.set_day(day)
            outcome.ingests.append(run_cli(["--log-format", "plain"], env))
            if outcome.ingests[-1].returncode != 0:
                return outcome
            as_of = (DAY0.date() + timedelta(days=day)).isoformat()
            dbt_vars: dict[str, Any] = {"as_of_date": as_of}
            if scenario.strict_later and outcome.builds:
                dbt_vars["enabled_sources"] = list(scenario.sources)
            outcome.builds.append(outcome.build("--vars", json.dumps(dbt_vars)))
    return outcome


@pytest.fixture(scope="module")
def outcomes(
    postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Outcome]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(_play, scenario, postgres_server, tmp_path_factory.mktemp("dbt"))
            for name, scenario in SCENARIOS.items()
        }
        yield {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_configured_subset_loads_and_builds_green_from_the_first_run(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    for ingest in outcome.ingests:
        assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert len(outcome.builds) == len(outcome.scenario.days)
    for build in outcome.builds:
        assert build.returncode == 0, build.output[-5000:]
        assert not build.failures
    tested = {uid.split(".")[2] for uid in outcome.builds[-1].statuses if uid.startswith("test.")}
    assert tested  # the data tests ran (and passed: no failures above)
    counts = {mart: outcome.rows(f"marts.{mart}") for mart in ALL_MARTS}
    assert {m for m in outcome.scenario.with_rows if counts[m] == 0} == set()
    assert {m for m in outcome.scenario.empty if counts[m] > 0} == set()


@pytest.mark.parametrize("name", [s.name for s in SUBSETS if len(s.sources) < 3])
def test_dbt_says_which_sources_are_absent_and_what_that_leaves_empty(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    log = outcome.builds[0].output  # a first build, sources detected
    for source in {SALESFORCE, EMPLOYEE_CENTRAL, LEARNING} - set(outcome.scenario.sources):
        assert f"raw sources: {source} is not loaded in this warehouse" in log
    for mart in outcome.scenario.empty:
        assert f"raw sources: {mart} builds empty" in log


@pytest.mark.parametrize("name", [s.name for s in EMPTY_ENTITIES])
def test_an_entity_answered_empty_is_reported_and_its_table_exists(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    source, resource = {
        "salesforce.User": (SALESFORCE, "users"),
        "successfactors.User": (EMPLOYEE_CENTRAL, "users"),
        "successfactors.FODepartment": (EMPLOYEE_CENTRAL, "org_units"),
        "learning.CoursesFeed": (LEARNING, "learning_items"),
        "learning.UserTodoLearningItems": (LEARNING, "learning_assignments"),
        "learning.learninghistorys": (LEARNING, "learning_completions"),
    }[name]
    schema = RAW_SCHEMAS[source]
    assert outcome.database.query(f"select count(*) from {schema}.{resource}") == [(0,)]
    ledger = outcome.database.query(
        "select status, rows_extracted, rows_loaded from ops.ingest_run_resources"
        " where source = %s and resource = %s",
        (source, resource),
    )
    assert ledger == [("SUCCESS", 0, 0)]
    summary = outcome.ingests[0].stderr + outcome.ingests[0].stdout
    assert f"{resource}: SUCCESS — 0 extracted" in summary
    assert "answered no records at all" in summary
    assert "has no rows yet" in outcome.builds[0].output


def test_salesforce_alone_builds_the_exact_user_history_in_utc(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["salesforce"]
    expected = salesforce_user_versions(outcome.company, outcome.scenario.days)
    assert salesforce_user_history(outcome.database) == expected
    assert any(len(versions) > 1 for versions in expected.values())
    # The second build named its sources, as a scheduled job would.
    assert "raw sources: successfactors is left out" in outcome.builds[1].output
    # The wire said -0500; the marts say UTC.
    raw = outcome.database.query("select last_modified_date from raw_salesforce.users limit 1")
    assert raw[0][0].endswith("-0500")
    persons = outcome.database.query(
        "select count(*), count(employee_id), count(salesforce_user_id), bool_or(is_employee)"
        " from marts.dim_person"
    )
    assert persons == [
        (outcome.company.salesforce_users, 0, outcome.company.salesforce_users, False)
    ]


def test_employee_central_alone_builds_employee_history_in_utc(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["successfactors"]
    expected = employee_versions(outcome.company, outcome.scenario.days)
    assert employee_history(outcome.database) == expected
    raw = outcome.database.query(
        "select last_modified_date_time from raw_successfactors.users limit 1"
    )
    assert raw[0][0].endswith("+0330)/")
    persons = outcome.database.query(
        "select count(*), count(salesforce_user_id), bool_or(has_salesforce_user)"
        " from marts.dim_person"
    )
    assert persons == [(len(expected), 0, False)]


def test_without_salesforce_completions_carry_no_salesforce_division(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["successfactors+learning"]
    rows = outcome.database.query(
        "select count(*), count(salesforce_user_scd_key), count(salesforce_division),"
        " count(salesforce_audit_phase), bool_or(is_salesforce_estimated),"
        " count(department)"
        " from marts.fct_learning_completions"
    )
    total, keys, divisions, phases, estimated, departments = rows[0]
    assert total > 0 and (keys, divisions, phases, estimated) == (0, 0, 0, False)
    assert departments == total


def test_columns_a_tenant_never_sends_exist_and_stay_null(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes["successfactors+learning"]
    assert outcome.database.query(
        "select count(*) > 0, count(completion_status_desc)"
        " from raw_successfactors.learning_completions"
    ) == [(True, 0)]
    assert outcome.database.query(
        "select count(*) > 0, count(description) from raw_successfactors.learning_assignments"
    ) == [(True, 0)]
    assert outcome.database.query(
        "select count(*) > 0, count(location) from marts.dim_employee"
    ) == [(True, 0)]


@pytest.mark.parametrize(
    "sources", [(LEARNING,), (SALESFORCE, LEARNING)], ids=["learning", "salesforce+learning"]
)
def test_learning_without_employee_central_is_refused_in_one_line(
    database: Database, sources: tuple[str, ...]
) -> None:
    with Sandbox(seed=23, scale=60) as sandbox:
        env = dict(database.env)
        for source, values in sandbox.source_config().items():
            if source in sources:
                for key, value in values.items():
                    env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        result = run_cli(["--log-format", "plain"], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "successfactors_learning needs successfactors (Employee Central)" in lines[0]
    assert database.query("select to_regclass('ops.ingest_runs')") == [(None,)]


def test_learning_alone_after_employee_central_never_loaded_is_refused(
    database: Database,
) -> None:
    with Sandbox(seed=23, scale=60) as sandbox:
        env = dict(database.env)
        for source, values in sandbox.source_config().items():
            for key, value in values.items():
                env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        result = run_cli(["--log-format", "plain", "--sources", LEARNING], env)
    assert result.returncode == 2, result.stderr
    assert "Employee Central has never been loaded here" in result.stderr
    assert "Traceback" not in result.stderr


def _snapshot_rows(outcome: Outcome) -> dict[str, tuple[int, int]]:
    """Rows and closed versions of every snapshot (closing every record would change both)."""
    return {
        name: outcome.database.query(f"select count(*), count(dbt_valid_to) from snapshots.{name}")[
            0
        ]
        for (name,) in outcome.database.query(
            "select table_name from information_schema.tables where table_schema = 'snapshots'"
        )
    }


def test_enabled_sources_naming_a_source_not_loaded_stops_the_run_at_its_start(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["salesforce"]
    before = _snapshot_rows(outcome)
    run = outcome.build("--vars", json.dumps({"enabled_sources": "salesforce,successfactors"}))
    assert run.returncode != 0
    assert "enabled_sources lists sources whose raw tables are missing: successfactors" in (
        run.output
    )
    assert not [uid for uid in run.statuses if uid.startswith("model.")]
    assert _snapshot_rows(outcome) == before


def test_leaving_out_a_loaded_source_never_closes_its_history(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["salesforce+successfactors"]
    before = _snapshot_rows(outcome)
    assert before["snp_successfactors__users"][0] > 0
    run = outcome.build("--vars", json.dumps({"enabled_sources": ["salesforce"]}))
    assert run.returncode != 0
    assert "refusing to run" in run.output and "snp_successfactors__users" in run.output
    assert _snapshot_rows(outcome) == before


def test_a_raw_schema_gone_missing_never_closes_its_history(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes["salesforce+successfactors"]
    before = _snapshot_rows(outcome)
    outcome.database.query("alter schema raw_salesforce rename to raw_salesforce_away")
    try:
        run = outcome.build()
    finally:
        outcome.database.query("alter schema raw_salesforce_away rename to raw_salesforce")
    assert run.returncode != 0
    assert "refusing to run" in run.output and "snp_salesforce__users" in run.output
    assert _snapshot_rows(outcome) == before
