"""A tenant that gives less than the demo company: every mart still builds, nothing is guessed.

Real tenants have org units whose parent was never delivered, employees without a manager or
an org unit, users without an e-mail, learning items in no catalog (or known only from a
failed attempt), values outside the documented lists. One build over such raw data must pass
every error-level test, and the marts must say plainly what is missing.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.local_warehouse import LocalWarehouse
from tests.dbt.raw_warehouse import (
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
from tests.support import DbtRun, make_database

T = utc("2026-01-05 10:00")
FETCHED = utc("2026-02-01 00:00")


@pytest.fixture(scope="module")
def built(
    postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RawWarehouse, DbtRun]:
    w = RawWarehouse(make_database(postgres_server), tmp_path_factory.mktemp("dbt"))
    w.create_raw_tables()
    w.org_units(
        FETCHED,
        org_unit("ROOT", T),  # a top unit: no parent
        org_unit("SALES", T, parent="ROOT"),
        org_unit("ORPHAN", T, parent="GHOST"),  # its parent was never delivered
        org_unit("LOOSE", T, parent="ORPHAN"),
    )
    w.employees(
        FETCHED,
        employee("E1", T, department="SALES", manager=None),  # nobody above
        employee("E2", T, department=None, manager="E1"),  # no org unit
        employee("E3", T, department="NOT-A-UNIT", manager="E9"),  # unknown unit, manager
        employee("E4", T, department="LOOSE", email=""),  # no e-mail (empty)
        {**employee("E5", T, department="SALES"), "email": None},  # no e-mail (null)
    )
    w.salesforce_users(
        FETCHED,
        # no e-mail, nothing else to match on: never matched to E4/E5 on "no e-mail"
        salesforce_user(1, T, email=""),
        {**salesforce_user(2, T, division=None, audit_phase=None), "email": None},
        # values outside the documented lists only warn
        salesforce_user(3, T, division="Atlantis", audit_phase="Phase9", employee_number="E1"),
    )
    w.learning_items(
        FETCHED,
        learning_item("CRS-1", "COURSE", T),
        learning_item("CRS-2", "COURSE", T, catalog=None),  # listed in no catalog
    )
    w.learning_assignments(
        FETCHED,
        learning_assignment("E1", "CRS-3", "COURSE", T, utc("2026-03-01 23:59")),  # no item
        learning_assignment("E7", "CRS-1", "COURSE", T, utc("2026-03-01 23:59")),  # no employee
    )
    w.learning_completions(
        FETCHED,
        learning_completion("SC-1", "E2", "CRS-1", "COURSE", utc("2026-01-10 09:00")),
        # the only record of CRS-4 is a failed attempt: the item is still known
        learning_completion("SC-2", "E1", "CRS-4", "COURSE", T, passed=False),
        learning_completion("SC-3", "E8", "CRS-2", "COURSE", T),  # an unknown learner
    )
    run = w.build("--vars", "{as_of_date: 2026-03-12}")
    return w, run


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_a_sparse_tenant_builds_with_no_error_and_only_known_warnings(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    _, run = built
    assert not run.failures
    warned = {uid.split(".")[2] for uid, status in run.statuses.items() if status == "warn"}
    assert any(name.startswith("accepted_values_") and "division" in name for name in warned)
    assert any(name.startswith("accepted_values_") and "audit_phase" in name for name in warned)


def test_org_units_without_a_delivered_parent_are_tops_of_an_incomplete_chain(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    w, _ = built
    units = _by(w.read("marts.dim_org_unit"), "org_unit_id")
    assert units["ROOT"]["top_org_unit_id"] == "ROOT"
    assert units["ROOT"]["is_parent_chain_complete"] is True
    assert units["SALES"]["top_org_unit_id"] == "ROOT"
    for code in ("ORPHAN", "LOOSE"):
        assert units[code]["top_org_unit_id"] == "ORPHAN"
        assert units[code]["is_parent_chain_complete"] is False
    assert units["ORPHAN"]["parent_org_unit_id"] == "GHOST"


def test_employees_without_manager_or_org_unit_keep_nulls_not_guesses(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    w, _ = built
    employees = _by(w.read("marts.dim_employee"), "employee_id")
    assert employees["E1"]["manager_employee_id"] is None
    assert employees["E2"]["org_unit_id"] is None and employees["E2"]["top_org_unit_id"] is None
    assert employees["E3"]["top_org_unit_id"] is None  # its unit is unknown
    assert employees["E4"]["top_org_unit_id"] == "ORPHAN"
    assert employees["E4"]["email"] is None and employees["E5"]["email"] is None
    versions = w.rows("marts.dim_employee_scd", "count(*), count(distinct employee_id)")
    assert versions == [(5, 5)]


def test_users_without_e_mail_are_persons_and_never_match_on_a_missing_e_mail(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    w, _ = built
    persons = {(p["employee_id"], p["salesforce_user_id"]) for p in w.read("marts.dim_person")}
    assert (None, sf_id(1)) in persons and (None, sf_id(2)) in persons
    assert ("E4", None) in persons and ("E5", None) in persons
    assert ("E1", sf_id(3)) in persons
    users = _by(w.read("marts.dim_salesforce_user_scd"), "salesforce_user_id")
    assert users[sf_id(3)]["division"] == "Atlantis"  # kept as sent, flagged by a warning
    assert users[sf_id(2)]["division"] is None


def test_items_in_no_catalog_or_known_only_from_records_are_learning_items(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    w, _ = built
    items = _by(w.read("marts.dim_learning_item"), "component_id")
    assert set(items) == {"CRS-1", "CRS-2", "CRS-3", "CRS-4"}
    assert items["CRS-2"]["catalog_ids"] is None and items["CRS-2"]["is_in_catalog"] is True
    assert items["CRS-3"]["is_in_catalog"] is False  # known from an assignment
    assert items["CRS-4"]["is_in_catalog"] is False  # known from a failed attempt only
    assert items["CRS-4"]["title"] == "Item CRS-4"


def test_records_of_unknown_learners_keep_their_rows_with_null_org(
    built: tuple[RawWarehouse, DbtRun],
) -> None:
    w, _ = built
    completions = _by(w.read("marts.fct_learning_completions"), "completion_id")
    assert set(completions) == {"SC-1", "SC-2", "SC-3"}
    stranger = completions["SC-3"]
    assert stranger["employee_scd_key"] is None and stranger["org_unit_id"] is None
    assert completions["SC-1"]["org_unit_id"] is None  # E2 has no org unit
    assignments = w.rows("marts.fct_learning_assignments", "employee_id, status")
    assert ("E7", "overdue") in assignments and ("E1", "overdue") in assignments
