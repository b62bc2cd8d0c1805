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
