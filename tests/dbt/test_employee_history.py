"""The employee and org tree stories of history-semantics.md, over two runs.

Org tree: two top-level units, COMMERCIAL (with SALES) and TECH (with ENG and PLATFORM);
between the runs PLATFORM moves under COMMERCIAL. Each employee tells one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from tests.dbt.raw_warehouse import (
    RawWarehouse,
    employee,
    history,
    naive,
    odata_time,
    org_unit,
    utc,
)

TRACKED = (
    "department",
    "org_unit_id",
    "manager_employee_id",
    "title",
    "is_active",
    "is_deleted",
    "valid_from",
    "valid_to",
)


@dataclass
class Timeline:
    marts: list[dict[str, list[dict[str, Any]]]]
    ancestors: list[dict[str, Any]]
    tree_history: list[dict[str, Any]]


@pytest.fixture(scope="module")
def timeline(raw_warehouse: RawWarehouse) -> Timeline:
    w = raw_warehouse
    marts: list[dict[str, list[dict[str, Any]]]] = []
    t0 = utc("2026-01-02 08:00")

    w.org_units(
        utc("2026-02-01 00:00"),
        org_unit("COMMERCIAL", t0, name="Commercial"),
        org_unit("SALES", t0, name="Sales", parent="COMMERCIAL", head="MARA"),
        org_unit("TECH", t0, name="Technology"),
        org_unit("ENG", t0, name="Engineering", parent="TECH"),
        org_unit("PLATFORM", t0, name="Platform", parent="ENG", head="PETE"),
        # entered ahead of time: renames ENG from 2030 on, not today
        org_unit(
            "ENG",
            t0,
            name="Engineering 2030",
            parent="TECH",
            start=odata_time(utc("2030-01-01 00:00"), offset=False),
        ),
    )
    w.employees(
        utc("2026-02-01 00:00"),
        employee("MARA", utc("2026-01-05 10:00"), department="SALES", title="Head of Sales"),
        employee("PETE", utc("2026-01-05 10:00"), department="PLATFORM", manager="MARA"),
        employee("DEPT", utc("2026-01-05 10:00"), department="SALES", manager="MARA"),
        employee("MGR", utc("2026-01-05 10:00"), department="SALES", manager="MARA"),
        employee("TERM", utc("2026-01-05 10:00"), department="ENG", manager="PETE"),
        employee("PLAT", utc("2026-01-05 10:00"), department="PLATFORM", manager="PETE"),
        employee("UPPER", utc("2026-01-05 10:00"), department="ENG", status="T"),
        employee("EXT", utc("2026-01-05 10:00"), department="ENG", status="e"),
        employee("GONE", utc("2026-01-05 10:00"), department="ENG"),
    )
    w.build()
    marts.append(w.marts())

    # Run 2: a department move, a manager change, a termination, a re-org, a deletion.
    w.employees(
        utc("2026-02-20 00:00"),
        employee("DEPT", utc("2026-02-10 11:00"), department="ENG", manager="MARA"),
        employee("MGR", utc("2026-02-11 11:00"), department="SALES", manager="DEPT"),
        employee("TERM", utc("2026-02-12 11:00"), department="ENG", manager="PETE", status="f"),
    )
    w.org_units(
        utc("2026-02-20 00:00"),
        org_unit(
            "PLATFORM", utc("2026-02-14 09:30"), name="Platform", parent="COMMERCIAL", head="PETE"
        ),
    )
    w.mark_deleted("successfactors", "GONE", utc("2026-02-19 23:00"))
    w.build()
    marts.append(w.marts())
    return Timeline(
        marts,
        w.read("intermediate.int_org_unit_ancestors"),
        w.read("intermediate.int_org_unit_hierarchy_history"),
    )


def versions(timeline: Timeline, after_build: int, employee_id: str, *columns: str) -> list:
    rows = timeline.marts[after_build - 1]["dim_employee_scd"]
    return history(rows, "employee_id", employee_id, *(columns or TRACKED))


def current(timeline: Timeline, table: str, key_column: str, key: str) -> dict[str, Any]:
    (row,) = [r for r in timeline.marts[-1][table] if r[key_column] == key]
    return row


def test_a_department_change_starts_a_new_version_at_the_source_time(timeline: Timeline) -> None:
    assert versions(timeline, 2, "DEPT", "department", "org_unit_id", "valid_from", "valid_to") == [
        ("SALES", "SALES", naive("2026-01-05 10:00"), naive("2026-02-10 11:00")),
        ("ENG", "ENG", naive("2026-02-10 11:00"), None),
    ]


def test_a_manager_change_starts_a_new_version(timeline: Timeline) -> None:
    assert versions(timeline, 2, "MGR", "manager_employee_id", "valid_from", "valid_to") == [
        ("MARA", naive("2026-01-05 10:00"), naive("2026-02-11 11:00")),
        ("DEPT", naive("2026-02-11 11:00"), None),
    ]


def test_a_termination_leaves_exactly_one_current_version_which_is_inactive(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 2, "TERM", "is_active", "valid_from", "valid_to", "is_current") == [
        (True, naive("2026-01-05 10:00"), naive("2026-02-12 11:00"), False),
        (False, naive("2026-02-12 11:00"), None, True),
    ]
    assert current(timeline, "dim_employee", "employee_id", "TERM")["is_active"] is False


def test_moving_an_org_unit_versions_the_org_unit_and_not_its_employees(
    timeline: Timeline,
) -> None:
    org_history = history(
        timeline.marts[1]["dim_org_unit_scd"],
        "org_unit_id",
        "PLATFORM",
        "parent_org_unit_id",
        "valid_from",
        "valid_to",
    )
    assert org_history == [
        ("ENG", naive("2026-01-02 08:00"), naive("2026-02-14 09:30")),
        ("COMMERCIAL", naive("2026-02-14 09:30"), None),
    ]
    assert versions(timeline, 2, "PLAT") == versions(timeline, 1, "PLAT")
    assert len(versions(timeline, 2, "PLAT")) == 1
    plat = current(timeline, "dim_employee", "employee_id", "PLAT")
    assert (plat["org_unit_id"], plat["top_org_unit_id"]) == ("PLATFORM", "COMMERCIAL")
    before = [r for r in timeline.marts[0]["dim_employee"] if r["employee_id"] == "PLAT"]
    assert before[0]["top_org_unit_id"] == "TECH"


def test_the_top_level_unit_at_a_time_follows_the_employee_version_and_the_tree_then(
    timeline: Timeline,
) -> None:
    def valid_at(rows: list[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
        return [
            r
            for r in rows
            if r["valid_from"] <= moment and (r["valid_to"] is None or moment < r["valid_to"])
        ]

    def top_unit_at(employee_id: str, moment: datetime) -> str:
        scd = timeline.marts[-1]["dim_employee_scd"]
        (version,) = [v for v in valid_at(scd, moment) if v["employee_id"] == employee_id]
        tree = valid_at(timeline.tree_history, moment)
        (placement,) = [p for p in tree if p["org_unit_id"] == version["org_unit_id"]]
        return placement["top_org_unit_id"]

    assert top_unit_at("PLAT", naive("2026-02-01 00:00")) == "TECH"
    assert top_unit_at("PLAT", naive("2026-03-01 00:00")) == "COMMERCIAL"
    # DEPT moved from SALES to ENG: the employee's version decides
    assert top_unit_at("DEPT", naive("2026-02-01 00:00")) == "COMMERCIAL"
    assert top_unit_at("DEPT", naive("2026-03-01 00:00")) == "TECH"


def test_the_org_tree_is_flattened_with_path_depth_top_unit_and_ancestors(
    timeline: Timeline,
) -> None:
    platform = current(timeline, "dim_org_unit", "org_unit_id", "PLATFORM")
    assert (
        platform["org_unit_path"],
        platform["org_unit_id_path"],
        platform["hierarchy_depth"],
        platform["top_org_unit_name"],
        platform["parent_org_unit_name"],
        platform["is_parent_chain_complete"],
    ) == ("Commercial > Platform", "COMMERCIAL/PLATFORM", 1, "Commercial", "Commercial", True)
    eng_ancestors = sorted(
        (a["ancestor_org_unit_id"], a["distance"])
        for a in timeline.ancestors
        if a["org_unit_id"] == "ENG"
    )
    assert eng_ancestors == [("ENG", 0), ("TECH", 1)]


def test_the_org_tree_uses_the_segment_in_effect_today(timeline: Timeline) -> None:
    eng = current(timeline, "dim_org_unit", "org_unit_id", "ENG")
    assert eng["org_unit_name"] == "Engineering"
    assert str(eng["effective_end_date"]) == "9999-12-31"


def test_status_codes_t_and_upper_t_are_active_and_every_other_code_inactive(
    timeline: Timeline,
) -> None:
    flags = {
        e["employee_id"]: (e["status_code"], e["is_active"])
        for e in timeline.marts[-1]["dim_employee"]
        if e["employee_id"] in ("UPPER", "EXT", "MARA")
    }
    assert flags == {"UPPER": ("T", True), "EXT": ("e", False), "MARA": ("t", True)}


def test_an_employee_gone_from_a_full_refresh_is_closed_and_marked_deleted(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 2, "GONE", "is_deleted", "valid_from", "valid_to") == [
        (False, naive("2026-01-05 10:00"), naive("2026-02-19 23:00")),
        (True, naive("2026-02-19 23:00"), None),
    ]
    gone = current(timeline, "dim_employee", "employee_id", "GONE")
    assert (gone["is_deleted"], gone["department"], gone["full_name"]) == (True, "ENG", "Emma Gone")


def test_org_changes_list_employee_and_org_unit_changes(timeline: Timeline) -> None:
    changes = sorted(
        (c["changed_object"], c["object_id"], c["attribute_name"], c["old_value"], c["new_value"])
        for c in timeline.marts[1]["fct_org_changes"]
    )
    assert changes == [
        ("employee", "DEPT", "department", "SALES", "ENG"),
        ("employee", "GONE", "is_deleted", "false", "true"),
        ("employee", "MGR", "manager_employee_id", "MARA", "DEPT"),
        ("employee", "TERM", "is_active", "true", "false"),
        ("org_unit", "PLATFORM", "parent_org_unit_id", "ENG", "COMMERCIAL"),
    ]
    assert {c["source_system"] for c in timeline.marts[1]["fct_org_changes"]} == {"successfactors"}


def test_hire_dates_are_read_from_odata_dates(timeline: Timeline) -> None:
    assert str(current(timeline, "dim_employee", "employee_id", "MARA")["hire_date"]) == (
        "2024-01-15"
    )
