"""Identity stories (dim_person): each match method, ambiguous claims, contractors.

Built once, in schemas isolated by PEOPLESTACK_SCHEMA_PREFIX, as a pull-request run would be.
"""

from __future__ import annotations

from typing import Any

import pytest

from ingest.local_warehouse import LocalWarehouse
from tests.dbt.raw_warehouse import RawWarehouse, employee, salesforce_user, sf_id, utc
from tests.support import make_database

PREFIX = "pr42"


@pytest.fixture(scope="module")
def built(
    postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> RawWarehouse:
    w = RawWarehouse(make_database(postgres_server), tmp_path_factory.mktemp("dbt"), PREFIX)
    w.create_raw_tables()
    t = utc("2026-01-05 10:00")
    w.employees(
        utc("2026-02-01 00:00"),
        employee("E1", t, email="ann.lee@example.com"),
        employee("E2", t, email="ben.kim@example.com"),
        employee("E3", t, email="cam.wu@example.com"),
        employee("E4", t, email="dana.lee@example.com"),
        employee("E5", t, email="eve.ng@example.com"),
        employee("E6", t, email="shared@example.com"),
        employee("E7", t, email="shared@example.com"),
        employee("E8", t, email="finn.o@example.com"),
    )
    w.salesforce_users(
        utc("2026-02-01 00:00"),
        # EmployeeNumber wins over a weaker e-mail claim on another employee
        salesforce_user(1, t, employee_number="E1", email="ben.kim@example.com"),
        # FederationIdentifier holding the e-mail, in another case
        salesforce_user(2, t, federation_identifier="Ben.Kim@EXAMPLE.com", email="x2@example.com"),
        # FederationIdentifier holding the userId
        salesforce_user(3, t, federation_identifier="e3", email="x3@example.com"),
        # e-mail only, with stray spaces and capitals
        salesforce_user(4, t, email="  Dana.Lee@Example.COM "),
        # two Salesforce users claiming one employee
        salesforce_user(5, t, employee_number="E5"),
        salesforce_user(6, t, employee_number="E5"),
        # one Salesforce user whose e-mail finds two employees
        salesforce_user(7, t, email="shared@example.com"),
        # a contractor, in Salesforce only
        salesforce_user(8, t, email="contractor@partner.example"),
        # a weaker claim on an employee matched by a stronger rule
        salesforce_user(9, t, email="ann.lee@example.com"),
    )
    w.build()
    return w


def persons(w: RawWarehouse) -> dict[tuple[Any, Any], dict[str, Any]]:
    return {(p["employee_id"], p["salesforce_user_id"]): p for p in w.read("marts.dim_person")}


def test_each_match_method_links_an_employee_to_a_salesforce_user(built: RawWarehouse) -> None:
    people = persons(built)
    assert people[("E1", sf_id(1))]["match_method"] == "employee_number"
    assert people[("E2", sf_id(2))]["match_method"] == "federation_identifier"
    assert people[("E3", sf_id(3))]["match_method"] == "federation_identifier"
    assert people[("E4", sf_id(4))]["match_method"] == "email"


def test_ambiguous_claims_match_nobody_and_are_listed_as_conflicts(built: RawWarehouse) -> None:
    people = persons(built)
    for key in [
        ("E5", None),
        (None, sf_id(5)),
        (None, sf_id(6)),
        ("E6", None),
        ("E7", None),
        (None, sf_id(7)),
        (None, sf_id(9)),
    ]:
        assert people[key]["match_method"] is None, key
        assert people[key]["has_identity_conflict"] is True, key
    conflicts = sorted(
        (c["salesforce_user_id"], c["employee_id"], c["conflict_reason"])
        for c in built.read("intermediate.int_identity_conflicts")
    )
    assert conflicts == [
        (sf_id(5), "E5", "the employee is claimed by several Salesforce users by employee_number"),
        (sf_id(6), "E5", "the employee is claimed by several Salesforce users by employee_number"),
        (sf_id(7), "E6", "the Salesforce user matches several employees by email"),
        (sf_id(7), "E7", "the Salesforce user matches several employees by email"),
        (
            sf_id(9),
            "E1",
            "the employee is claimed by another Salesforce user through a stronger rule",
        ),
    ]


def test_a_contractor_is_a_person_with_only_a_salesforce_user(built: RawWarehouse) -> None:
    contractor = persons(built)[(None, sf_id(8))]
    assert (
        contractor["is_employee"],
        contractor["has_salesforce_user"],
        contractor["match_method"],
        contractor["has_identity_conflict"],
        contractor["full_name"],
    ) == (False, True, None, False, "User 8")


def test_every_employee_and_salesforce_user_is_exactly_one_person(built: RawWarehouse) -> None:
    people = built.read("marts.dim_person")
    employees = [p["employee_id"] for p in people if p["employee_id"]]
    salesforce_users = [p["salesforce_user_id"] for p in people if p["salesforce_user_id"]]
    assert sorted(employees) == [f"E{n}" for n in range(1, 9)]
    assert sorted(salesforce_users) == sorted(sf_id(n) for n in range(1, 10))
    assert len({p["person_key"] for p in people}) == len(people) == 8 + 5
    unmatched_employee = persons(built)[("E8", None)]
    assert (unmatched_employee["full_name"], unmatched_employee["has_salesforce_user"]) == (
        "Emma E8",
        False,
    )


def test_a_schema_prefix_isolates_every_schema_dbt_reads_and_writes(built: RawWarehouse) -> None:
    schemas = {
        row[0]
        for row in built.query(
            "select schema_name from information_schema.schemata where schema_name like 'pr42%'"
        )
    }
    assert {
        "pr42_raw_salesforce",
        "pr42_raw_successfactors",
        "pr42_staging",
        "pr42_snapshots",
        "pr42_intermediate",
        "pr42_marts",
        "pr42_ops",
    } <= schemas
    unprefixed = built.query(
        "select schema_name from information_schema.schemata"
        " where schema_name in ('staging', 'snapshots', 'intermediate', 'marts', 'ops')"
    )
    assert unprefixed == []
