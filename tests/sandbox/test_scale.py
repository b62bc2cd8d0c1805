"""Large companies are generated on the fly: paging through them keeps memory bounded."""

from __future__ import annotations

import tracemalloc

from ingest.sandbox import Sandbox
from tests.sandbox.clients import SalesforceClient


def test_paging_through_a_large_company_keeps_memory_far_below_the_data_set():
    with Sandbox(seed=1, scale=25_000) as sandbox:
        sf = SalesforceClient(sandbox)
        small_pages = {"Sforce-Query-Options": "batchSize=200"}
        tracemalloc.start()
        try:
            page = sf.query(
                "SELECT Id, Username, Name, Email, Division, Audit_Phase__c, ManagerId, "
                "EmployeeNumber, FederationIdentifier, SystemModstamp FROM User",
                headers=small_pages,
            ).json()
            served_bytes, count = 0, len(page["records"])
            while not page["done"]:
                answer = sf.get(page["nextRecordsUrl"])
                served_bytes += len(answer.content)
                page = answer.json()
                count += len(page["records"])
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 25_000
    # Records as JSON text alone take served_bytes (as Python objects several times more);
    # a streaming server holds compact columns and one page at a time.
    assert peak < served_bytes / 4, (peak, served_bytes)


def test_elective_completions_lengthen_every_history_and_never_repeat_a_record_key():
    # make bench reaches millions of completions from fewer learners this way; the demo's
    # company (no setting) is unchanged.
    with Sandbox(seed=3, scale=200) as sandbox:
        world = sandbox.world
        learners = range(world.company.employee_count(0))
        plain = sum(len(world.coursework.completions(e, 0)) for e in learners)
    # More electives than the catalogue holds: courses come round again, on other days.
    with Sandbox(seed=3, scale=200, elective_completions=60) as sandbox:
        world = sandbox.world
        histories = [world.coursework.completions(e, 0) for e in learners]
    assert len(world.coursework.courses) < 60
    longer = sum(len(h) for h in histories)
    assert longer > plain + 45 * len(learners), (plain, longer)
    keys = [c.record_key for history in histories for c in history]
    assert len(keys) == len(set(keys))
