"""What the push to Salesforce reads (`dim_salesforce_user_compliance`), over real raw rows and
builds, as of 12 Mar 2026 with the default 30 days (due soon up to 11 Apr, inclusive).

Every employee is in SALES; each tells one story:

- DUE has a course due 11 Apr (Due soon); LATER one due 12 Apr (Compliant).
- OVERDUE missed a course due 10 Mar and has another due 20 Mar (Overdue).
- EXPIRED certified on 10 Mar 2025 (365 days): expired after 10 Mar 2026 (Overdue).
- CERTIFIED certified on 1 Apr 2025: expires 1 Apr 2026 (Due soon).
- NOTHING has no required learning (Compliant, 0, nulls).
- LEFT is terminated, with an overdue course, and their Salesforce user is inactive.
- LONER has no Salesforce user; CLAIMED is matched, but a second Salesforce user claims them
  by e-mail (an identity conflict); Salesforce user 10 is a contractor. None has a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

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

AS_OF = "{as_of_date: 2026-03-12}"
MART = "dim_salesforce_user_compliance"
# Salesforce user number -> the employee it names in EmployeeNumber
MATCHED = {
    1: "DUE",
    2: "OVERDUE",
    3: "EXPIRED",
    4: "CERTIFIED",
    5: "LATER",
    6: "NOTHING",
    7: "LEFT",
    8: "CLAIMED",
}
Rows = dict[str, dict[str, Any]]


@dataclass
class Timeline:
    before_learning: Rows
    judged: Rows
    rebuilt: Rows
    shorter_window: Rows
    bad_var: DbtRun
    persons: list[dict[str, Any]]


def load_people(w: RawWarehouse) -> None:
    t0 = utc("2026-01-02 08:00")
    fetched = utc("2026-01-06 00:00")
    w.org_units(fetched, org_unit("SALES", t0))
    hired = utc("2026-01-05 10:00")
    w.employees(
        fetched,
        *(
            employee(user_id, hired, status="f" if user_id == "LEFT" else "t")
            for user_id in [*MATCHED.values(), "LONER"]
        ),
    )
    modified = utc("2026-01-03 09:00")
    w.salesforce_users(
        fetched,
        *(
            salesforce_user(number, modified, employee_number=user_id, is_active=user_id != "LEFT")
            for number, user_id in MATCHED.items()
        ),
        # a weaker claim on CLAIMED, who is also matched by EmployeeNumber
        salesforce_user(9, modified, email="claimed@example.com"),
        salesforce_user(10, modified),
    )


def load_learning(w: RawWarehouse) -> None:
    fetched = utc("2026-03-12 06:00")
    revised = utc("2025-06-01 00:00")
    w.learning_items(
        fetched,
        learning_item("CRS-1000", "CERT", revised),
        learning_item("CRS-2001", "COURSE", revised),
        learning_item("CRS-2002", "ELEARN", revised),
    )
    assigned = utc("2026-03-01 09:00")

    def course(user_id: str, due: str, component_id: str = "CRS-2001") -> dict[str, Any]:
        kind = "COURSE" if component_id == "CRS-2001" else "ELEARN"
        return learning_assignment(user_id, component_id, kind, assigned, utc(due))

    def certification(user_id: str, assigned_at: str) -> dict[str, Any]:
        return learning_assignment(
            user_id,
            "CRS-1000",
            "CERT",
            utc(assigned_at),
            utc("2025-04-30 23:59:59"),
            requirement_type="ASSIGNMENT_PROFILE",
        )

    w.learning_assignments(
        fetched,
        course("DUE", "2026-04-11 23:59:59"),
        course("LATER", "2026-04-12 23:59:59"),
        course("OVERDUE", "2026-03-10 23:59:59"),
        course("OVERDUE", "2026-03-20 23:59:59", component_id="CRS-2002"),
        certification("EXPIRED", "2025-03-01 09:00"),
        certification("CERTIFIED", "2025-03-01 09:00"),
        course("LEFT", "2026-03-05 23:59:59"),
        course("LONER", "2026-03-05 23:59:59"),
        course("CLAIMED", "2026-03-05 23:59:59"),
    )
    w.learning_completions(
        fetched,
        learning_completion("X-1", "EXPIRED", "CRS-1000", "CERT", utc("2025-03-10 10:00")),
        learning_completion("C-1", "CERTIFIED", "CRS-1000", "CERT", utc("2025-04-01 10:00")),
    )


def compliance_rows(w: RawWarehouse) -> Rows:
    return {row["salesforce_user_id"]: row for row in w.read(f"marts.{MART}")}


@pytest.fixture(scope="module")
def timeline(raw_warehouse: RawWarehouse) -> Timeline:
    w = raw_warehouse
    load_people(w)
    w.build("--vars", AS_OF)
    before_learning = compliance_rows(w)

    load_learning(w)
    w.build("--vars", AS_OF)
    judged = compliance_rows(w)
    persons = w.read("marts.dim_person")

    w.build("--select", MART, "--vars", AS_OF)
    rebuilt = compliance_rows(w)

    # 19 days: the window ends on 31 Mar
    w.build("--select", MART, "--vars", "{as_of_date: 2026-03-12, compliance_due_soon_days: 19}")
    shorter_window = compliance_rows(w)

    bad_var = w.dbt("build", "--select", MART, "--vars", "{compliance_due_soon_days: soon}")
    return Timeline(before_learning, judged, rebuilt, shorter_window, bad_var, persons)


def pushed(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["compliance_status"],
        row["overdue_count"],
        row["next_due_date"],
        row["certification_expiry_date"],
    )


def test_without_learning_in_the_warehouse_no_user_is_called_compliant(
    timeline: Timeline,
) -> None:
    assert timeline.before_learning == {}


def test_each_matched_user_gets_the_status_of_their_latest_cycles(timeline: Timeline) -> None:
    judged = {
        user_id: pushed(timeline.judged[sf_id(n)]) for n, user_id in MATCHED.items() if n != 8
    }
    assert judged == {
        "DUE": ("Due soon", 0, date(2026, 4, 11), None),
        "LATER": ("Compliant", 0, date(2026, 4, 12), None),
        # overdue beats the item due soon
        "OVERDUE": ("Overdue", 1, date(2026, 3, 20), None),
        "EXPIRED": ("Overdue", 1, None, None),
        "CERTIFIED": ("Due soon", 0, None, date(2026, 4, 1)),
        "NOTHING": ("Compliant", 0, None, None),
        "LEFT": ("Overdue", 1, None, None),
    }
    assert {row["as_of_date"] for row in timeline.judged.values()} == {date(2026, 3, 12)}


def test_only_users_matched_to_an_employee_without_a_conflict_have_a_row(
    timeline: Timeline,
) -> None:
    # CLAIMED is matched to user 8, but user 9 claims them by e-mail: dim_person flags it
    (claimed,) = [p for p in timeline.persons if p["employee_id"] == "CLAIMED"]
    assert (claimed["salesforce_user_id"], claimed["has_identity_conflict"]) == (sf_id(8), True)
    # CLAIMED's user (8), the user claiming them by e-mail (9) and the contractor (10): no row
    assert set(timeline.judged) == {sf_id(n) for n in range(1, 8)}
    assert {row["employee_id"] for row in timeline.judged.values()} == {
        "DUE",
        "LATER",
        "OVERDUE",
        "EXPIRED",
        "CERTIFIED",
        "NOTHING",
        "LEFT",
    }


def test_an_inactive_user_of_a_terminated_employee_is_judged_and_marked_inactive(
    timeline: Timeline,
) -> None:
    left = timeline.judged[sf_id(7)]
    assert (left["is_salesforce_user_active"], left["is_employee_active"]) == (False, False)
    due = timeline.judged[sf_id(1)]
    assert (due["is_salesforce_user_active"], due["is_employee_active"]) == (True, True)


def test_a_rebuild_as_of_the_same_day_gives_the_same_rows(timeline: Timeline) -> None:
    assert timeline.rebuilt == timeline.judged


def test_the_due_soon_window_follows_its_var(timeline: Timeline) -> None:
    statuses = {
        user_id: timeline.shorter_window[sf_id(n)]["compliance_status"]
        for n, user_id in MATCHED.items()
        if n != 8
    }
    assert statuses == {
        "DUE": "Compliant",
        "LATER": "Compliant",
        "OVERDUE": "Overdue",  # its item due 20 Mar is inside the window anyway
        "EXPIRED": "Overdue",
        "CERTIFIED": "Compliant",
        "NOTHING": "Compliant",
        "LEFT": "Overdue",
    }


def test_a_due_soon_window_that_is_not_a_number_of_days_stops_the_build(
    timeline: Timeline,
) -> None:
    assert timeline.bad_var.returncode != 0
    assert "compliance_due_soon_days var must be a whole number of days" in timeline.bad_var.output
