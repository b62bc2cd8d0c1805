"""Daily incremental builds give the rows a ``--full-refresh`` build of the same data gives.

Over several simulated days the stories that can change past rows arrive: versions late and
out of order, a deleted employee, an org unit moving to another top-level unit, a new
Salesforce match, a new validity in the seed, due dates passing, a completion's older version
arriving after its newer one. After each day's ordinary ``dbt build`` the four large marts
and the incremental staging model of completions are kept aside, rebuilt with
``--full-refresh`` on the same snapshots, and compared row by row, every column, both ways;
then the incremental rows go back so the next day builds on them. Last, a range of days
rebuilt with the vars ``rebuild_from``/``rebuild_until`` gives back the daily path's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

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

FACTS = (
    "fct_learning_completions",
    "fct_learning_assignments",
    "agg_compliance_by_org_unit",
    "fct_org_changes",
)
# (schema, model) of every relation compared: the facts, and the staging models built
# incrementally (they rank only the records a load touched since the previous build).
COMPARED = (
    *(("marts", fact) for fact in FACTS),
    ("staging", "stg_successfactors__learning_completions"),
)
T0 = utc("2026-01-02 08:00")


def day_1(w: RawWarehouse) -> None:
    fetched = utc("2026-01-06 00:00")
    w.org_units(
        fetched,
        org_unit("COMMERCIAL", T0),
        org_unit("SALES", T0, parent="COMMERCIAL"),
        org_unit("TECH", T0),
        org_unit("ENG", T0, parent="TECH"),
    )
    hired = utc("2026-01-05 10:00")
    w.employees(
        fetched,
        *(
            employee(user_id, hired, department=department)
            for user_id, department in (
                ("ANNA", "SALES"),
                ("BEN", "ENG"),
                ("CLEO", "SALES"),
                ("DAN", "ENG"),
            )
        ),
    )
    w.salesforce_users(
        fetched,
        salesforce_user(1, utc("2026-01-03 09:00"), division="North", employee_number="ANNA"),
        salesforce_user(2, utc("2026-01-03 09:00"), division="South"),
    )
    w.learning_items(
        fetched,
        learning_item("CRS-1000", "CERT", utc("2025-06-01 00:00")),
        learning_item("CRS-2001", "COURSE", utc("2025-06-01 00:00")),
    )
    w.learning_completions(
        fetched,
        learning_completion("A-1", "ANNA", "CRS-2001", "COURSE", utc("2026-01-20 10:00")),
        learning_completion("B-1", "BEN", "CRS-1000", "CERT", utc("2026-01-21 10:00")),
        learning_completion("C-1", "CLEO", "CRS-2001", "COURSE", utc("2026-01-22 10:00")),
        learning_completion("D-1", "DAN", "CRS-2001", "COURSE", utc("2026-01-23 10:00")),
    )
    w.learning_assignments(
        fetched,
        *(
            learning_assignment(
                user_id, "CRS-2001", "COURSE", utc("2026-01-10 09:00"), utc("2026-02-05 23:00")
            )
            for user_id in ("ANNA", "BEN", "CLEO", "DAN")
        ),
        learning_assignment(
            "BEN", "CRS-1000", "CERT", utc("2026-01-10 09:00"), utc("2026-02-10 00:00")
        ),
    )


def day_2(w: RawWarehouse) -> None:
    fetched = utc("2026-02-01 06:00")
    # Out of order: ANNA moved to ENG on 15 Jan, before her completion of 20 Jan, but the
    # version arrives only now; BEN's Salesforce-less completion is re-sent with a new grade.
    w.employees(fetched, employee("ANNA", utc("2026-01-15 09:00"), department="ENG"))
    completion = learning_completion("B-1", "BEN", "CRS-1000", "CERT", utc("2026-01-21 10:00"))
    w.learning_completions(
        fetched,
        {**completion, "grade": "95", "last_update_timestamp": completion["completion_date"] + 1},
        learning_completion("C-2", "CLEO", "CRS-1000", "CERT", utc("2026-01-30 10:00")),
    )
    # A late Salesforce version from before ANNA's completion.
    w.salesforce_users(
        fetched,
        salesforce_user(1, utc("2026-01-18 09:00"), division="West", employee_number="ANNA"),
    )


def day_3(w: RawWarehouse) -> None:
    fetched = utc("2026-02-08 06:00")
    # ENG moves from TECH to COMMERCIAL (back-dated); CLEO is deleted; DAN leaves.
    w.org_units(fetched, org_unit("ENG", utc("2026-01-12 00:00"), parent="COMMERCIAL"))
    w.mark_deleted("successfactors", "CLEO", utc("2026-02-07 23:00"))
    w.employees(fetched, employee("DAN", utc("2026-02-06 09:00"), department="ENG", status="f"))
    # A second load stamped with the same fetch time as the newest completions built (day 2):
    # nothing tells it apart from what was built but its load.
    w.learning_completions(
        utc("2026-02-01 06:00"),
        learning_completion("D-2", "DAN", "CRS-1000", "CERT", utc("2026-01-31 10:00")),
    )


def day_4(w: RawWarehouse) -> None:
    fetched = utc("2026-02-15 06:00")
    # Salesforce user 2 now names BEN: a new match for a learner with old completions.
    w.salesforce_users(
        fetched,
        salesforce_user(2, utc("2026-02-14 09:00"), division="South", employee_number="BEN"),
    )
    # B-1's first version (grade 90) is sent again after day 2's newer one: it must not win.
    w.learning_completions(
        fetched, learning_completion("B-1", "BEN", "CRS-1000", "CERT", utc("2026-01-21 10:00"))
    )


DAYS: tuple[tuple[Callable[[RawWarehouse], None], str], ...] = (
    (day_1, "2026-01-31"),
    (day_2, "2026-02-03"),
    (day_3, "2026-02-09"),  # due dates of 5 Feb have passed
    (day_4, "2026-02-16"),
    (lambda w: None, "2026-02-20"),  # nothing new: only the calendar moves
)


def differences(w: RawWarehouse, relation: str, kept: str) -> list[tuple]:
    """Rows in one relation and not the other, every column, both ways."""
    return w.query(
        f"(select 'incremental only', * from {kept} except select 'incremental only', *"
        f" from {relation}) union all (select 'full refresh only', * from {relation}"
        f" except select 'full refresh only', * from {kept})"
    )


def compare_with_full_refresh(w: RawWarehouse, as_of: str) -> dict[str, list[tuple]]:
    """Keep the incremental rows aside, rebuild them in full, compare, put them back."""
    w.execute("create schema if not exists kept")
    relations = {model: f'"{w.schema(schema)}".{model}' for schema, model in COMPARED}
    for model, relation in relations.items():
        w.execute(f"drop table if exists kept.{model}")
        w.execute(f"create table kept.{model} as select * from {relation}")
    vars_ = f"{{as_of_date: '{as_of}'}}"
    run = w.dbt("run", "--full-refresh", "--select", *relations, "--vars", vars_)
    assert run.returncode == 0, run.output[-6000:]
    found = {
        model: differences(w, relation, f"kept.{model}") for model, relation in relations.items()
    }
    for model, relation in relations.items():
        w.execute(f"delete from {relation}")
        w.execute(f"insert into {relation} select * from kept.{model}")
    return found


@pytest.fixture(scope="module")
def comparisons(raw_warehouse: RawWarehouse) -> list[dict[str, list[tuple]]]:
    w = raw_warehouse
    found = []
    for load_day, as_of in DAYS:
        load_day(w)
        # Models and snapshots only: the data and unit tests have their own test modules.
        w.build(
            "--exclude",
            "resource_type:test",
            "resource_type:unit_test",
            "--vars",
            f"{{as_of_date: '{as_of}'}}",
        )
        found.append(compare_with_full_refresh(w, as_of))
    return found


@pytest.mark.parametrize("day", range(len(DAYS)))
def test_each_daily_build_equals_a_full_refresh_of_the_same_data(
    comparisons: list[dict[str, list[tuple]]], day: int
) -> None:
    assert comparisons[day] == {model: [] for _, model in COMPARED}


def test_the_stories_reached_the_completions(
    comparisons: list[dict[str, list[tuple]]], raw_warehouse: RawWarehouse
) -> None:
    """The comparison means something only if the late versions changed past rows."""
    rows = {
        r[0]: r[1:]
        for r in raw_warehouse.rows(
            "marts.fct_learning_completions",
            "completion_id, org_unit_id, top_org_unit_id, salesforce_division, salesforce_user_id",
        )
    }
    # ANNA's late move to ENG, ENG's later move under COMMERCIAL, the late West version.
    assert rows["A-1"] == ("ENG", "COMMERCIAL", "West", sf_id(1))
    assert rows["B-1"][3] == sf_id(2)  # BEN's new Salesforce match reached an old completion
    grades = dict(
        raw_warehouse.rows(
            "staging.stg_successfactors__learning_completions", "completion_id, grade"
        )
    )
    assert grades["B-1"] == "95"  # day 2's version, not the older one sent again on day 4
    assert "D-2" in grades  # the second load of day 2's fetch time


def incremental_models(w: RawWarehouse) -> list[str]:
    return [
        r[0]
        for r in w.query(
            "select table_name from information_schema.columns"
            " where table_schema = %s and column_name = 'history_recorded_at'",
            (w.schema("marts"),),
        )
    ]


def test_the_completions_are_built_incrementally(
    comparisons: list[dict[str, list[tuple]]], raw_warehouse: RawWarehouse
) -> None:
    assert incremental_models(raw_warehouse) == ["fct_learning_completions"]


def test_a_range_of_days_rebuilt_with_the_vars_gives_the_daily_paths_rows(
    comparisons: list[dict[str, list[tuple]]], raw_warehouse: RawWarehouse
) -> None:
    """Completions of the range that were lost or damaged come back as the daily path built
    them; the same damage outside the range stays (the vars bound what is rebuilt)."""
    w = raw_warehouse
    fact = f'"{w.schema("marts")}".fct_learning_completions'
    w.execute("drop table if exists kept.daily_completions")
    w.execute(f"create table kept.daily_completions as select * from {fact}")
    # In the range (21-22 Jan): B-1 lost, C-1 damaged. Outside it: A-1 (20 Jan) and C-2
    # (30 Jan) damaged. A damaged department is nothing the daily path looks for (a lost row
    # it would notice: B-1 tells only that the range does not break that).
    w.execute(
        f"update {fact} set department = 'DAMAGED' where completion_id in ('A-1', 'C-1', 'C-2')"
    )
    w.execute(f"delete from {fact} where completion_id = 'B-1'")
    rebuild = {
        "as_of_date": DAYS[-1][1],
        "rebuild_from": "2026-01-21",
        "rebuild_until": "2026-01-22",
    }
    run = w.dbt("run", "--select", "fct_learning_completions", "--vars", json.dumps(rebuild))
    assert run.returncode == 0, run.output[-6000:]
    found = w.query(
        f"(select 'daily only', * from kept.daily_completions"
        f" except select 'daily only', * from {fact})"
        f" union all (select 'rebuilt only', * from {fact}"
        f" except select 'rebuilt only', * from kept.daily_completions)"
    )
    w.execute(f"delete from {fact}")
    w.execute(f"insert into {fact} select * from kept.daily_completions")
    assert sorted((row[0], row[1]) for row in found) == [
        ("daily only", "A-1"),
        ("daily only", "C-2"),
        ("rebuilt only", "A-1"),
        ("rebuilt only", "C-2"),
    ]
