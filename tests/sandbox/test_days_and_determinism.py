"""Same seed and day give the same bytes; each new day brings the described changes."""

from __future__ import annotations

import datetime as dt

import requests

from ingest.sandbox import Sandbox
from tests.sandbox.clients import SalesforceClient, SuccessFactorsClient

SOQL = (
    "SELECT Id, Name, Title, Division, Audit_Phase__c, IsActive, LastModifiedDate, "
    "SystemModstamp FROM User ORDER BY Id"
)
ALL = "status in 't','f'"


def _answers(sandbox: Sandbox) -> list[bytes]:
    sf, ec = SalesforceClient(sandbox), SuccessFactorsClient(sandbox)
    bodies = [
        sf.query(SOQL).content,
        ec.get("/odata/v2/User", {"$format": "json", "$filter": ALL}).content,
        ec.get("/odata/v2/FODepartment", {"$format": "json"}).content,
    ]
    return [b.replace(sandbox.base_url.encode(), b"BASE") for b in bodies]


def test_the_same_seed_and_day_give_byte_identical_answers():
    with Sandbox(seed=11, day=4) as one, Sandbox(seed=11, day=4) as two:
        assert _answers(one) == _answers(two)
    with Sandbox(seed=12, day=4) as other, Sandbox(seed=11, day=4) as again:
        assert _answers(other) != _answers(again)


def test_a_day_changes_about_one_percent_of_tracked_fields_and_leaves_the_rest_alone(sandbox, sf):
    before = {r["Id"]: r for r in sf.query_all_pages(SOQL)}
    sandbox.advance_day()
    after = {r["Id"]: r for r in sf.query_all_pages(SOQL)}
    day_one = dt.date(2026, 3, 3).isoformat()
    changed = {i for i in before if before[i] != after[i]}
    tracked = {
        i
        for i in changed
        if (before[i]["Division"], before[i]["Audit_Phase__c"])
        != (after[i]["Division"], after[i]["Audit_Phase__c"])
    }
    untracked = {
        i
        for i in changed - tracked
        if before[i]["IsActive"] == after[i]["IsActive"]
        and (before[i]["Title"], before[i]["Name"]) != (after[i]["Title"], after[i]["Name"])
    }
    assert 1 <= len(tracked) <= 0.03 * len(before)
    assert untracked, "some users change only untracked fields"
    for i in changed:
        assert after[i]["SystemModstamp"].startswith(day_one)
    for i in set(before) - changed:
        assert after[i] == before[i]


def test_activation_changes_happen_over_days(sandbox, sf):
    start = {r["Id"]: r["IsActive"] for r in sf.query_all_pages(SOQL)}
    sandbox.set_day(10)
    later = {r["Id"]: r["IsActive"] for r in sf.query_all_pages(SOQL)}
    assert any(start[i] and not later[i] for i in start)
    assert any(not start[i] and later[i] for i in start)


def test_employees_move_get_hired_and_leave_within_the_day(sandbox, ec):
    fields = "userId,department,location,title,status,lastModifiedDateTime"
    before = {u["userId"]: u for u in ec.users(**{"$filter": ALL, "$select": fields})}
    sandbox.set_day(5)
    after = {u["userId"]: u for u in ec.users(**{"$filter": ALL, "$select": fields})}
    hires = set(after) - set(before)
    assert hires and not set(before) - set(after)
    assert any(before[u]["department"] != after[u]["department"] for u in before)
    assert any(before[u]["location"] != after[u]["location"] for u in before)
    assert any(before[u]["status"] == "t" and after[u]["status"] == "f" for u in before)
    start_ms = int(dt.datetime(2026, 3, 3, tzinfo=dt.UTC).timestamp() * 1000)
    end_ms = int(dt.datetime(2026, 3, 8, tzinfo=dt.UTC).timestamp() * 1000)
    for user in after:
        stamp = int(after[user]["lastModifiedDateTime"][6:-7])
        if user in hires or after[user] != before[user]:
            assert start_ms <= stamp < end_ms
        else:
            assert stamp < start_ms


def test_a_reorg_gives_a_unit_a_new_parent_from_that_day(sandbox, ec):
    def parents():
        rows = ec.get("/odata/v2/FODepartment", {"$format": "json"}).json()["d"]["results"]
        return {r["externalCode"]: r["parent"] for r in rows}

    before = parents()
    sandbox.advance_day()
    after = parents()
    assert sum(before[c] != after[c] for c in before) == 1


def test_the_state_endpoint_reports_the_scale_and_day(sandbox):
    state = requests.get(f"{sandbox.base_url}/__sandbox__/state", timeout=10).json()
    assert state["salesforce_users"] == 200 and 230 <= state["employees"] <= 260
    assert state["day"] == 0 and state["date"] == "2026-03-02"
    with Sandbox(scale="medium") as medium:
        state = requests.get(f"{medium.base_url}/__sandbox__/state", timeout=10).json()
        assert state["salesforce_users"] == 5000 and state["employees"] == 6000
