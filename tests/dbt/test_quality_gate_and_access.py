"""The quality gate (tests that fail or warn), volume checks, freshness, docs and access."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg2
import pytest
from psycopg2 import errors

from tests.dbt.raw_warehouse import (
    DbtRun,
    RawWarehouse,
    employee,
    learning_assignment,
    learning_completion,
    learning_item,
    org_unit,
    salesforce_user,
    sf_id,
    utc,
)


@dataclass
class Timeline:
    first: DbtRun
    grown: DbtRun
    docs: DbtRun
    broken: DbtRun
    marts_before_break: dict[str, list[dict[str, Any]]]
    marts_after_break: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def timeline(raw_warehouse: RawWarehouse) -> Timeline:
    w = raw_warehouse
    t = utc("2026-01-05 10:00")
    w.org_units(utc("2026-02-01 00:00"), org_unit("SALES", t))
    w.employees(utc("2026-02-01 00:00"), employee("E1", t), employee("E2", t))
    w.salesforce_users(utc("2026-02-01 00:00"), *(salesforce_user(n, t) for n in range(1, 6)))
    w.learning_items(utc("2026-02-01 00:00"), learning_item("CRS-1000", "CERT", t))
    w.learning_assignments(
        utc("2026-02-01 00:00"),
        learning_assignment("E1", "CRS-1000", "CERT", t, utc("2026-02-04 10:00")),
    )
    w.learning_completions(
        utc("2026-02-01 00:00"),
        learning_completion("C1", "E1", "CRS-1000", "CERT", utc("2026-01-20 10:00")),
    )
    first = w.build()

    # Two more users (+40 %), one with values outside the expected lists.
    w.salesforce_users(
        utc("2026-02-02 00:00"),
        salesforce_user(6, t),
        salesforce_user(7, t, division="Atlantis", audit_phase="Phase9"),
    )
    grown = w.build()
    docs = w.dbt("docs", "generate")
    before = w.marts()

    # A raw row no version can be placed by: it has no modification time.
    bad = salesforce_user(8, t)
    bad["last_modified_date"] = None
    w.salesforce_users(utc("2026-02-03 00:00"), bad)
    broken = w.dbt("build")
    return Timeline(first, grown, docs, broken, before, w.marts())


def test_a_clean_first_build_passes_every_test_without_warnings(timeline: Timeline) -> None:
    assert timeline.first.returncode == 0
    assert set(timeline.first.statuses.values()) <= {"success", "pass"}


def test_unexpected_division_and_audit_phase_values_only_warn(timeline: Timeline) -> None:
    assert timeline.grown.returncode == 0
    warned = {uid for uid, status in timeline.grown.statuses.items() if status == "warn"}
    assert any("accepted_values_stg_salesforce__users_division" in uid for uid in warned)
    assert any("accepted_values_stg_salesforce__users_audit_phase" in uid for uid in warned)


def test_a_row_count_moving_more_than_a_fifth_since_the_last_run_warns(
    timeline: Timeline,
) -> None:
    assert timeline.first.status("row_count_stable_dim_salesforce_user_scd_") == "pass"
    assert timeline.grown.status("row_count_stable_dim_salesforce_user_scd_") == "warn"
    # employees did not move
    assert timeline.grown.status("row_count_stable_dim_employee_") == "pass"


def test_a_raw_row_that_breaks_a_test_fails_the_build_and_skips_everything_downstream(
    timeline: Timeline,
) -> None:
    run = timeline.broken
    assert run.returncode != 0
    assert run.status("not_null_stg_salesforce__user_versions_last_modified_at") == "fail"
    for downstream in (
        "stg_salesforce__users",
        "snp_salesforce__users",
        "int_salesforce_user_versions",
        "dim_salesforce_user_scd",
        "dim_person",
        "fct_org_changes",
    ):
        assert run.status(downstream) == "skipped", downstream
    # the other source's branch still builds
    assert run.status("snp_successfactors__users") == "success"
    # the skipped marts keep what the last good build made
    scd = "dim_salesforce_user_scd"
    assert timeline.marts_after_break[scd] == timeline.marts_before_break[scd]


def test_docs_generate_describes_every_mart_and_mart_column(
    timeline: Timeline, raw_warehouse: RawWarehouse
) -> None:
    assert timeline.docs.returncode == 0, timeline.docs.output[-3000:]
    manifest = json.loads((raw_warehouse.target_dir / "manifest.json").read_text())
    catalog = json.loads((raw_warehouse.target_dir / "catalog.json").read_text())
    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    ]
    assert len(marts) == 16  # 12 people and learning marts, 4 operations marts
    for node in marts:
        assert node["description"].strip(), node["name"]
        built_columns = catalog["nodes"][node["unique_id"]]["columns"]
        for column in built_columns:
            described = node["columns"].get(column, {}).get("description", "")
            assert described.strip(), f"{node['name']}.{column} has no description"


def test_source_freshness_follows_the_extraction_time_and_the_thresholds_in_vars(
    raw_warehouse: RawWarehouse,
) -> None:
    stale = raw_warehouse.dbt("source", "freshness")
    assert stale.returncode != 0
    assert stale.statuses["source.peoplestack.salesforce.users"] == "error"
    lenient = raw_warehouse.dbt(
        "source",
        "freshness",
        "--vars",
        "{freshness_warn_after_hours: 100000, freshness_error_after_hours: 200000}",
    )
    assert lenient.returncode == 0, lenient.output[-3000:]
    assert lenient.statuses["source.peoplestack.salesforce.users"] == "pass"


def test_an_analyst_reads_marts_but_not_raw_staging_intermediate_or_snapshots(
    raw_warehouse: RawWarehouse,
) -> None:
    login = f"analyst_login_{uuid.uuid4().hex[:8]}"
    raw_warehouse.execute(f"create role {login} login password 'analyst-pw' in role analyst")
    db = raw_warehouse.database

    def read(relation: str) -> int:
        conn = psycopg2.connect(
            host=db.host, port=db.port, user=login, password="analyst-pw", dbname=db.name
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"select count(*) from {relation}")
                return cur.fetchone()[0]
        finally:
            conn.close()

    assert read("marts.dim_person") > 0
    assert read("marts.dim_salesforce_user_scd") > 0
    assert read("marts.fct_org_changes") == 0
    for forbidden in (
        "raw_salesforce.users",
        "raw_successfactors.users",
        "staging.stg_salesforce__users",
        "intermediate.int_identity_matches",
        "snapshots.snp_salesforce__users",
        "ops.dbt_model_row_counts",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            read(forbidden)


def test_salesforce_users_keep_their_ids(timeline: Timeline) -> None:
    ids = {r["salesforce_user_id"] for r in timeline.marts_before_break["dim_salesforce_user_scd"]}
    assert ids == {sf_id(n) for n in range(1, 8)}
