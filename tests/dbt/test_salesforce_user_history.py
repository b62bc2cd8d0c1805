"""The Salesforce user stories of history-semantics.md, told by several users over five runs.

One database for the whole family: each user tells a different story while the loader
(stood in for by direct appends to the raw tables) and ``dbt build`` alternate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.dbt.raw_warehouse import (
    DbtRun,
    RawWarehouse,
    history,
    naive,
    salesforce_user,
    sf_id,
    utc,
)

ALICE, BOB, CAROL, DAVE, ERIN, FRANK = 1, 2, 3, 4, 5, 6
SCD = "dim_salesforce_user_scd"
TRACKED = ("division", "audit_phase", "is_active", "is_deleted", "valid_from", "valid_to")


@dataclass
class Timeline:
    """Marts after each build, and what the builds reported."""

    marts: list[dict[str, list[dict[str, Any]]]]
    runs: list[DbtRun]
    snapshot_rows: list[list[tuple]]
    out_of_order: list[dict[str, Any]]


@pytest.fixture(scope="module")
def timeline(raw_warehouse: RawWarehouse) -> Timeline:
    w = raw_warehouse
    marts: list[dict[str, list[dict[str, Any]]]] = []
    runs: list[DbtRun] = []
    snapshots: list[list[tuple]] = []

    def build() -> None:
        runs.append(w.build())
        marts.append(w.marts())
        snapshots.append(w.table("snapshots.snp_salesforce__users"))

    # Run 1: everyone is created.
    w.salesforce_users(
        utc("2026-02-01 00:00"),
        salesforce_user(ALICE, utc("2026-01-10 09:00"), name="Alice Smith"),
        salesforce_user(BOB, utc("2026-01-10 09:00")),
        salesforce_user(CAROL, utc("2026-01-10 09:00")),
        salesforce_user(DAVE, utc("2026-01-10 09:00")),
        salesforce_user(ERIN, utc("2026-01-20 09:00")),
        salesforce_user(FRANK, utc("2026-01-10 09:00")),
    )
    build()

    # Run 2: Alice moves West; Bob moves twice between runs (two loads); Carol is
    # deactivated; Dave is missing from a full refresh; Erin gets a tracked change stamped
    # before her current version; Frank is re-read unchanged by the overlap window.
    w.salesforce_users(
        utc("2026-02-04 00:00"),
        salesforce_user(BOB, utc("2026-02-03 09:00"), division="West"),
    )
    w.salesforce_users(
        utc("2026-02-10 00:00"),
        salesforce_user(ALICE, utc("2026-02-05 09:00"), name="Alice Smith", division="West"),
        salesforce_user(BOB, utc("2026-02-06 09:00"), division="East"),
        salesforce_user(CAROL, utc("2026-02-07 09:00"), is_active=False),
        salesforce_user(ERIN, utc("2026-01-15 09:00"), division="East"),
        salesforce_user(FRANK, utc("2026-01-10 09:00")),
    )
    w.mark_deleted("salesforce", sf_id(DAVE), utc("2026-02-09 12:00"))
    build()

    # Run 3: Alice is renamed only; Carol is reactivated; Dave comes back unmodified.
    w.salesforce_users(
        utc("2026-02-20 00:00"),
        salesforce_user(
            ALICE,
            utc("2026-02-15 09:00"),
            name="Alice Jones",
            division="West",
            email="Alice.Jones@Example.com ",
        ),
        salesforce_user(CAROL, utc("2026-02-16 09:00"), is_active=True),
        salesforce_user(DAVE, utc("2026-01-10 09:00")),
    )
    build()

    # Run 4: Alice moves back North.
    w.salesforce_users(
        utc("2026-03-01 00:00"),
        salesforce_user(
            ALICE,
            utc("2026-02-25 09:00"),
            name="Alice Jones",
            division="North",
            email="alice.jones@example.com",
        ),
    )
    build()

    # Run 5: nothing new in raw.
    build()
    return Timeline(marts, runs, snapshots, w.read("intermediate.int_out_of_order_versions"))


def versions(timeline: Timeline, after_build: int, user: int, *columns: str) -> list[tuple]:
    rows = timeline.marts[after_build - 1][SCD]
    return history(rows, "salesforce_user_id", sf_id(user), *(columns or TRACKED))


def test_a_new_user_has_one_open_version_from_its_modification_time(timeline: Timeline) -> None:
    assert versions(timeline, 1, ALICE, *TRACKED, "is_current") == [
        ("North", "Phase1", True, False, naive("2026-01-10 09:00"), None, True),
    ]


def test_a_division_change_closes_the_old_version_at_the_source_time(timeline: Timeline) -> None:
    t1, t2 = naive("2026-01-10 09:00"), naive("2026-02-05 09:00")
    assert versions(timeline, 2, ALICE, *TRACKED, "is_current") == [
        ("North", "Phase1", True, False, t1, t2, False),
        ("West", "Phase1", True, False, t2, None, True),
    ]


def test_a_rename_alone_makes_no_version_but_every_version_shows_the_new_name(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 3, ALICE) == versions(timeline, 2, ALICE)
    assert versions(timeline, 3, ALICE, "name", "email") == [
        ("Alice Jones", "alice.jones@example.com"),
        ("Alice Jones", "alice.jones@example.com"),
    ]


def test_changing_back_makes_a_third_version(timeline: Timeline) -> None:
    assert versions(timeline, 4, ALICE, "division", "valid_from", "valid_to", "is_current") == [
        ("North", naive("2026-01-10 09:00"), naive("2026-02-05 09:00"), False),
        ("West", naive("2026-02-05 09:00"), naive("2026-02-25 09:00"), False),
        ("North", naive("2026-02-25 09:00"), None, True),
    ]


def test_two_changes_between_runs_make_one_version_at_the_last_change(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 2, BOB, "division", "valid_from", "valid_to") == [
        ("North", naive("2026-01-10 09:00"), naive("2026-02-06 09:00")),
        ("East", naive("2026-02-06 09:00"), None),
    ]


def test_deactivation_and_reactivation_each_make_a_version(timeline: Timeline) -> None:
    assert versions(timeline, 3, CAROL, "is_active", "valid_from", "valid_to") == [
        (True, naive("2026-01-10 09:00"), naive("2026-02-07 09:00")),
        (False, naive("2026-02-07 09:00"), naive("2026-02-16 09:00")),
        (True, naive("2026-02-16 09:00"), None),
    ]


def test_a_user_gone_from_a_full_refresh_is_closed_at_detection_and_marked_deleted(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 2, DAVE, "division", "is_deleted", "valid_from", "valid_to") == [
        ("North", False, naive("2026-01-10 09:00"), naive("2026-02-09 12:00")),
        ("North", True, naive("2026-02-09 12:00"), None),
    ]
    (dave,) = [p for p in timeline.marts[1]["dim_person"] if p["salesforce_user_id"] == sf_id(DAVE)]
    assert dave["employee_id"] is None


def test_a_deleted_user_that_returns_unmodified_starts_again_when_fetched(
    timeline: Timeline,
) -> None:
    assert versions(timeline, 3, DAVE, "is_deleted", "valid_from", "valid_to") == [
        (False, naive("2026-01-10 09:00"), naive("2026-02-09 12:00")),
        (True, naive("2026-02-09 12:00"), naive("2026-02-20 00:00")),
        (False, naive("2026-02-20 00:00"), None),
    ]


def test_source_time_going_backwards_is_not_applied_and_is_reported(timeline: Timeline) -> None:
    assert versions(timeline, 2, ERIN, "division", "valid_from", "valid_to") == [
        ("North", naive("2026-01-20 09:00"), None),
    ]
    (reported,) = [r for r in timeline.out_of_order if r["object_id"] == sf_id(ERIN)]
    assert reported["last_modified_at"] == naive("2026-01-15 09:00")
    assert reported["superseded_by_modified_at"] == naive("2026-01-20 09:00")
    assert "not applied" in reported["reason"]
    assert timeline.runs[1].status("has_no_rows_int_out_of_order_versions_") == "warn"


def test_re_reading_unchanged_rows_makes_no_new_rows(timeline: Timeline) -> None:
    assert versions(timeline, 2, FRANK, "division", "valid_from", "valid_to") == [
        ("North", naive("2026-01-10 09:00"), None),
    ]
    frank = [row for row in timeline.snapshot_rows[1] if row[0] == sf_id(FRANK)]
    assert len(frank) == 1


def test_a_build_without_new_raw_data_changes_nothing(timeline: Timeline) -> None:
    before, after = timeline.marts[3], timeline.marts[4]
    for mart in before:
        assert sorted(map(repr, after[mart])) == sorted(map(repr, before[mart])), mart
    assert timeline.snapshot_rows[4] == timeline.snapshot_rows[3]


def test_org_changes_list_every_tracked_change_with_old_and_new_values(
    timeline: Timeline,
) -> None:
    changes = timeline.marts[3]["fct_org_changes"]
    mine = sorted(
        (c["object_id"], c["attribute_name"], c["old_value"], c["new_value"], c["changed_at"])
        for c in changes
        if c["object_id"] in (sf_id(ALICE), sf_id(CAROL), sf_id(DAVE))
    )
    assert mine == sorted(
        [
            (sf_id(ALICE), "division", "North", "West", naive("2026-02-05 09:00")),
            (sf_id(ALICE), "division", "West", "North", naive("2026-02-25 09:00")),
            (sf_id(CAROL), "is_active", "true", "false", naive("2026-02-07 09:00")),
            (sf_id(CAROL), "is_active", "false", "true", naive("2026-02-16 09:00")),
            (sf_id(DAVE), "is_deleted", "false", "true", naive("2026-02-09 12:00")),
            (sf_id(DAVE), "is_deleted", "true", "false", naive("2026-02-20 00:00")),
        ]
    )
    assert {c["source_system"] for c in changes} == {"salesforce"}
    assert all(c["person_key"] is not None for c in changes)
