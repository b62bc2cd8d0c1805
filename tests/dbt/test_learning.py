"""The point-in-time and compliance stories of history-semantics.md, over real raw rows and builds.

Org tree: COMMERCIAL (with SALES) and TECH (with ENG). Employee Central and Salesforce are
loaded first; Learning arrives in the next run (the loader needs employees to read it per
learner). Each employee tells one story:

- MOVER moves from SALES to ENG on 20 Feb; their Salesforce user from North to West on
  15 Feb. Completions on 1 Nov (before anything was observed), 20 Jan and 25 Feb.
- LONER has no Salesforce user; they completed an item the catalogue no longer lists.
- ONTIME, EDGE, LATE and OVERDUE have the same course due 10 Mar, completed 9 Mar,
  10 Mar 23:59 UTC, 11 Mar and never; OPEN has one due 20 Mar.
- CERTA certified on 10 Mar 2025 (365 days): it expires on 10 Mar 2026, the retraining due
  then is never done. CERTB fails, then renews a 730-day certification on its due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from tests.dbt.raw_warehouse import (
    LEARNING_MARTS,
    DbtRun,
    RawWarehouse,
    employee,
    learning_assignment,
    learning_completion,
    learning_item,
    naive,
    org_unit,
    salesforce_user,
    sf_id,
    utc,
)

AS_OF = "{as_of_date: 2026-03-12}"
EARLIER = "{as_of_date: 2026-03-09}"
Marts = dict[str, list[dict[str, Any]]]


@dataclass
class Timeline:
    before_learning: Marts
    first: Marts
    second: Marts
    rebuilt: Marts
    earlier: Marts
    drift: DbtRun


def load_org_and_people(w: RawWarehouse) -> None:
    t0 = utc("2026-01-02 08:00")
    w.org_units(
        utc("2026-01-03 00:00"),
        org_unit("COMMERCIAL", t0, name="Commercial"),
        org_unit("SALES", t0, name="Sales", parent="COMMERCIAL"),
        org_unit("TECH", t0, name="Technology"),
        org_unit("ENG", t0, name="Engineering", parent="TECH"),
    )
    hired = utc("2026-01-05 10:00")
    w.employees(
        utc("2026-01-06 00:00"),
        *(
            employee(user_id, hired, department=department)
            for user_id, department in (
                ("MOVER", "SALES"),
                ("LONER", "SALES"),
                ("ONTIME", "SALES"),
                ("EDGE", "SALES"),
                ("LATE", "SALES"),
                ("CERTB", "SALES"),
                ("OVERDUE", "ENG"),
                ("OPEN", "ENG"),
                ("CERTA", "ENG"),
            )
        ),
    )
    w.salesforce_users(
        utc("2026-01-06 00:00"),
        salesforce_user(1, utc("2026-01-03 09:00"), division="North", employee_number="MOVER"),
    )


def load_first_learning(w: RawWarehouse) -> None:
    fetched = utc("2026-02-01 06:00")
    revised = utc("2025-06-01 00:00")
    w.learning_items(
        fetched,
        learning_item("CRS-1000", "CERT", revised, title="Code of Conduct"),
        learning_item("CRS-1000", "CERT", revised, title="Code of Conduct", catalog="COMPLIANCE"),
        learning_item("CRS-1003", "CERT", revised, title="Anti-Bribery"),
        learning_item("CRS-1003", "CERT", revised, title="Anti-Bribery", catalog="COMPLIANCE"),
        learning_item("CRS-2001", "COURSE", revised, title="Negotiation Skills"),
        learning_item("CRS-2002", "ELEARN", revised, title="Cloud Fundamentals"),
    )
    w.learning_completions(
        fetched,
        learning_completion("M-OLD", "MOVER", "CRS-2002", "ELEARN", utc("2025-11-01 10:00")),
        learning_completion("M-JAN", "MOVER", "CRS-2002", "ELEARN", utc("2026-01-20 10:00")),
        learning_completion("L-1", "LONER", "CRS-2001", "COURSE", utc("2026-01-25 10:00")),
        learning_completion("L-OLD", "LONER", "OLD-1", "ELEARN", utc("2025-12-01 10:00")),
        learning_completion("CA-1", "CERTA", "CRS-1000", "CERT", utc("2025-03-10 10:00")),
        learning_completion("CB-0", "CERTB", "CRS-1003", "CERT", utc("2024-03-05 10:00")),
    )
    w.learning_assignments(
        fetched,
        learning_assignment(
            "CERTA",
            "CRS-1000",
            "CERT",
            utc("2025-03-01 09:00"),
            utc("2025-03-31 09:00"),
            requirement_type="ASSIGNMENT_PROFILE",
        ),
        learning_assignment(
            "CERTA",
            "CRS-1000",
            "CERT",
            utc("2026-01-09 09:00"),
            utc("2026-03-10 00:00"),
            requirement_type="RETRAINING",
        ),
        learning_assignment(
            "CERTB",
            "CRS-1003",
            "CERT",
            utc("2026-01-05 09:00"),
            utc("2026-03-05 00:00"),
            requirement_type="RETRAINING",
        ),
        learning_assignment(
            "MOVER", "CRS-2001", "COURSE", utc("2026-01-25 09:00"), utc("2026-02-28 23:59:59")
        ),
    )


def load_second_run(w: RawWarehouse) -> None:
    fetched = utc("2026-03-12 06:00")
    w.employees(fetched, employee("MOVER", utc("2026-02-20 11:00"), department="ENG"))
    w.salesforce_users(
        fetched,
        salesforce_user(1, utc("2026-02-15 09:00"), division="West", employee_number="MOVER"),
    )
    # Schema drift: Learning starts sending a cost center on every record.
    for table in ("learning_items", "learning_assignments", "learning_completions"):
        w.add_column("successfactors", table, "cost_center_id", "varchar")
    w.learning_items(
        fetched,
        learning_item(
            "CRS-2001", "COURSE", utc("2026-03-01 00:00"), title="Negotiation Skills 2026"
        ),
    )
    w.learning_completions(
        fetched,
        learning_completion("M-FEB", "MOVER", "CRS-2002", "ELEARN", utc("2026-02-25 10:00")),
        learning_completion("O-1", "ONTIME", "CRS-2001", "COURSE", utc("2026-03-09 14:00")),
        learning_completion("E-1", "EDGE", "CRS-2001", "COURSE", utc("2026-03-10 23:59")),
        learning_completion("LA-1", "LATE", "CRS-2001", "COURSE", utc("2026-03-11 08:00")),
        learning_completion(
            "CB-F", "CERTB", "CRS-1003", "CERT", utc("2026-03-02 10:00"), passed=False
        ),
        learning_completion("CB-1", "CERTB", "CRS-1003", "CERT", utc("2026-03-05 15:00")),
    )
    due_10_march = (utc("2026-03-01 09:00"), utc("2026-03-10 23:59:59"))
    # CERTB renewed, so its retraining is no longer on the plan: the raw log remembers it.
    w.learning_assignments(
        fetched,
        *(
            learning_assignment(user_id, "CRS-2001", "COURSE", *due_10_march)
            for user_id in ("ONTIME", "EDGE", "LATE", "OVERDUE")
        ),
        learning_assignment(
            "OPEN", "CRS-2002", "ELEARN", utc("2026-03-02 09:00"), utc("2026-03-20 23:59:59")
        ),
        learning_assignment(
            "CERTA",
            "CRS-1000",
            "CERT",
            utc("2026-01-09 09:00"),
            utc("2026-03-10 00:00"),
            requirement_type="RETRAINING",
        ),
        learning_assignment(
            "MOVER", "CRS-2001", "COURSE", utc("2026-01-25 09:00"), utc("2026-02-28 23:59:59")
        ),
    )
    w.execute(
        f'update "{w.schema("raw_successfactors")}".learning_items'
        " set cost_center_id = 'CC-1001' where _extracted_at = %s",
        (fetched,),
    )


def learning_marts(w: RawWarehouse) -> Marts:
    return {table: w.read(f"marts.{table}") for table in LEARNING_MARTS}


@pytest.fixture(scope="module")
def timeline(raw_warehouse: RawWarehouse) -> Timeline:
    w = raw_warehouse
    load_org_and_people(w)
    w.build("--vars", AS_OF)
    before_learning = learning_marts(w)

    load_first_learning(w)
    w.build("--vars", AS_OF)
    first = learning_marts(w)

    load_second_run(w)
    drift = w.build("--vars", AS_OF)
    second = learning_marts(w)

    w.build("--vars", AS_OF)
    rebuilt = learning_marts(w)

    w.build("--select", "fct_learning_assignments", "agg_compliance_by_org_unit", "--vars", EARLIER)
    earlier = learning_marts(w)
    return Timeline(before_learning, first, second, rebuilt, earlier, drift)


def completion(marts: Marts, completion_id: str) -> dict[str, Any]:
    (row,) = [r for r in marts["fct_learning_completions"] if r["completion_id"] == completion_id]
    return row


def assignments(marts: Marts, employee_id: str) -> list[dict[str, Any]]:
    rows = [r for r in marts["fct_learning_assignments"] if r["employee_id"] == employee_id]
    return sorted(rows, key=lambda r: r["assigned_at"])


def assignment(marts: Marts, employee_id: str) -> dict[str, Any]:
    (row,) = assignments(marts, employee_id)
    return row


def compliance(marts: Marts, org_unit_id: str, day: str) -> tuple[Any, ...]:
    (row,) = [
        r
        for r in marts["agg_compliance_by_org_unit"]
        if r["org_unit_id"] == org_unit_id and r["report_date"] == date.fromisoformat(day)
    ]
    return (
        row["assigned_count"],
        row["completed_count"],
        row["open_count"],
        row["overdue_count"],
        row["expired_count"],
        row["assigned_employee_count"],
        float(row["compliance_rate"]) if row["compliance_rate"] is not None else None,
    )


def organisation(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["department"], row["org_unit_id"], row["top_org_unit_id"], row["is_org_estimated"])


def test_learning_marts_build_empty_before_the_loader_has_run_learning(
    timeline: Timeline,
) -> None:
    marts = timeline.before_learning
    assert marts["dim_learning_item"] == []
    assert marts["fct_learning_completions"] == []
    assert marts["fct_learning_assignments"] == []
    # no grid of zeros that would read as "nothing assigned": without Learning, no rows
    assert marts["agg_compliance_by_org_unit"] == []


def test_a_completion_keeps_the_org_it_was_completed_in_after_a_department_move(
    timeline: Timeline,
) -> None:
    january = ("SALES", "SALES", "COMMERCIAL", False)
    assert organisation(completion(timeline.first, "M-JAN")) == january
    # MOVER moved to ENG on 20 Feb: January's completion does not move with them
    assert organisation(completion(timeline.second, "M-JAN")) == january
    assert organisation(completion(timeline.second, "M-FEB")) == ("ENG", "ENG", "TECH", False)
    assert (
        completion(timeline.second, "M-JAN")["employee_scd_key"]
        != completion(timeline.second, "M-FEB")["employee_scd_key"]
    )


def test_a_completion_before_the_first_observed_version_takes_the_earliest_and_says_so(
    timeline: Timeline,
) -> None:
    old = completion(timeline.second, "M-OLD")
    assert organisation(old) == ("SALES", "SALES", "COMMERCIAL", True)
    assert old["employee_scd_key"] == completion(timeline.second, "M-JAN")["employee_scd_key"]


def test_salesforce_division_and_audit_phase_are_those_valid_at_completion(
    timeline: Timeline,
) -> None:
    def salesforce(completion_id: str) -> tuple[Any, ...]:
        row = completion(timeline.second, completion_id)
        return (
            row["salesforce_user_id"],
            row["salesforce_division"],
            row["salesforce_audit_phase"],
            row["is_salesforce_estimated"],
        )

    assert salesforce("M-OLD") == (sf_id(1), "North", "Phase1", True)
    assert salesforce("M-JAN") == (sf_id(1), "North", "Phase1", False)
    assert salesforce("M-FEB") == (sf_id(1), "West", "Phase1", False)
    # no Salesforce user: nulls, never a guess
    assert salesforce("L-1") == (None, None, None, False)
    assert completion(timeline.second, "L-1")["salesforce_user_scd_key"] is None


def test_each_compliance_status_as_of_12_march(timeline: Timeline) -> None:
    statuses = {
        user_id: (assignment(timeline.second, user_id)["status"])
        for user_id in ("ONTIME", "EDGE", "LATE", "OVERDUE", "OPEN", "MOVER")
    }
    assert statuses == {
        "ONTIME": "completed_on_time",
        "EDGE": "completed_on_time",  # 10 Mar 23:59 UTC: the due date is inclusive
        "LATE": "completed_late",
        "OVERDUE": "overdue",
        "OPEN": "open",
        "MOVER": "overdue",
    }
    overdue = assignment(timeline.second, "OVERDUE")
    assert (overdue["days_overdue"], overdue["due_date"]) == (2, date(2026, 3, 10))
    edge = assignment(timeline.second, "EDGE")
    assert (edge["completion_id"], edge["completed_at"]) == ("E-1", naive("2026-03-10 23:59"))
    assert {r["as_of_date"] for r in timeline.second["fct_learning_assignments"]} == {
        date(2026, 3, 12)
    }


def test_as_of_9_march_later_completions_do_not_count_and_nothing_due_10_march_is_overdue(
    timeline: Timeline,
) -> None:
    def judged(user_id: str) -> tuple[Any, ...]:
        row = assignment(timeline.earlier, user_id)
        return row["status"], row["completion_id"]

    assert judged("ONTIME") == ("completed_on_time", "O-1")  # completed on the day
    assert judged("EDGE") == ("open", None)
    assert judged("LATE") == ("open", None)
    assert judged("OVERDUE") == ("open", None)


def test_a_certification_expires_after_its_validity_and_is_due_again(timeline: Timeline) -> None:
    first_cycle, retraining = assignments(timeline.second, "CERTA")
    assert (
        first_cycle["requirement_type_id"],
        first_cycle["status"],
        first_cycle["completion_id"],
        first_cycle["expires_at"],
        first_cycle["is_expired"],
        first_cycle["days_to_expiry"],
        first_cycle["is_compliant"],
        first_cycle["is_latest_cycle"],
    ) == (
        "ASSIGNMENT_PROFILE",
        "completed_on_time",
        "CA-1",
        naive("2026-03-10 10:00"),
        True,
        -2,
        False,
        False,
    )
    assert (
        retraining["requirement_type_id"],
        retraining["status"],
        retraining["is_latest_cycle"],
    ) == ("RETRAINING", "overdue", True)
    # as of 9 Mar it still counts, and the retraining is not due yet
    first_cycle, retraining = assignments(timeline.earlier, "CERTA")
    assert (first_cycle["is_expired"], first_cycle["days_to_expiry"]) == (False, 1)
    assert retraining["status"] == "open"
    assert completion(timeline.second, "CA-1")["expires_at"] == naive("2026-03-10 10:00")


def test_a_renewal_gone_from_the_to_do_list_is_judged_and_failed_attempts_do_not_count(
    timeline: Timeline,
) -> None:
    renewal = assignment(timeline.second, "CERTB")
    assert (
        renewal["status"],
        renewal["completion_id"],
        renewal["validity_days"],
        renewal["expires_at"],
        renewal["days_to_expiry"],
        renewal["is_expired"],
    ) == (
        "completed_on_time",
        "CB-1",
        730,
        naive("2028-03-04 15:00"),
        (date(2028, 3, 4) - date(2026, 3, 12)).days,
        False,
    )
    failed = completion(timeline.second, "CB-F")
    assert (failed["is_successful"], failed["completion_status_id"]) == (False, "CERT-FAILED")


def test_compliance_by_org_unit_counts_subtrees_and_the_unit_of_each_day(
    timeline: Timeline,
) -> None:
    marts = timeline.second
    # (assigned, completed, open, overdue, expired, employees, compliance rate)
    assert compliance(marts, "SALES", "2026-03-12") == (4, 4, 0, 0, 0, 4, 1.0)
    assert compliance(marts, "COMMERCIAL", "2026-03-12") == (4, 4, 0, 0, 0, 4, 1.0)
    assert compliance(marts, "ENG", "2026-03-12") == (4, 0, 1, 3, 0, 4, 0.25)
    assert compliance(marts, "TECH", "2026-03-12") == (4, 0, 1, 3, 0, 4, 0.25)
    # MOVER counts in SALES until the day they moved to ENG
    assert compliance(marts, "SALES", "2026-02-19") == (2, 0, 2, 0, 0, 2, 1.0)
    assert compliance(marts, "ENG", "2026-02-19") == (1, 0, 1, 0, 0, 1, 1.0)
    assert compliance(marts, "SALES", "2026-02-20") == (1, 0, 1, 0, 0, 1, 1.0)
    assert compliance(marts, "ENG", "2026-02-20") == (2, 0, 2, 0, 0, 2, 1.0)
    days = {r["report_date"] for r in marts["agg_compliance_by_org_unit"]}
    assert (min(days), max(days), len(days)) == (date(2026, 2, 11), date(2026, 3, 12), 30)
    assert len(marts["agg_compliance_by_org_unit"]) == 4 * 30


def test_learning_items_show_the_latest_revision_catalogs_and_validity(timeline: Timeline) -> None:
    items = {
        r["component_id"]: (
            r["title"],
            r["catalog_ids"],
            r["is_certification"],
            r["validity_days"],
            r["is_in_catalog"],
        )
        for r in timeline.second["dim_learning_item"]
    }
    assert items == {
        "CRS-1000": ("Code of Conduct", "COMPLIANCE,CORPORATE", True, 365, True),
        "CRS-1003": ("Anti-Bribery", "COMPLIANCE,CORPORATE", True, 730, True),
        "CRS-2001": ("Negotiation Skills 2026", "CORPORATE", False, None, True),
        "CRS-2002": ("Cloud Fundamentals", "CORPORATE", False, None, True),
        # completed, but no longer in the catalogue
        "OLD-1": ("Item OLD-1", None, False, None, False),
    }


def test_a_new_raw_column_changes_no_mart(timeline: Timeline) -> None:
    assert timeline.drift.returncode == 0
    for rows in timeline.second.values():
        assert all("cost_center_id" not in row for row in rows)


def test_a_rebuild_without_new_data_changes_nothing_in_the_learning_marts(
    timeline: Timeline,
) -> None:
    for table in LEARNING_MARTS:
        assert sorted(map(repr, timeline.rebuilt[table])) == sorted(
            map(repr, timeline.second[table])
        ), table
