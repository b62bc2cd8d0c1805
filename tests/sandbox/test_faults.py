"""Each fault kind, injected per API through the Python interface and over HTTP."""

from __future__ import annotations

import pytest
import requests

from ingest.sandbox import Faults

V = "/services/data/v62.0"
SOQL = "SELECT Id, Division, Audit_Phase__c, SystemModstamp FROM User"


def test_every_nth_request_is_rate_limited_with_retry_after_on_the_targeted_api_only(
    sandbox, sf, ec
):
    sandbox.set_faults(Faults(apis=("salesforce",), rate_limit_every=3, retry_after_seconds=2))
    statuses = [sf.query(SOQL).status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 200, 200, 429]
    limited = [sf.query(SOQL) for _ in range(3)][-1]
    assert limited.headers["Retry-After"] == "2"
    assert all(ec.get("/odata/v2/User", {"$format": "json"}).status_code == 200 for _ in range(4))


def test_a_burst_of_server_errors_passes(sandbox, ec):
    sandbox.set_faults(
        Faults(apis=("successfactors",), server_error_burst=2, server_error_status=502)
    )
    statuses = [ec.get("/odata/v2/User", {"$format": "json"}).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


def test_a_token_that_expires_between_pages_answers_401_on_the_next_page(sandbox, sf, ec):
    sandbox.set_faults(Faults(apis=("successfactors", "salesforce"), token_expires_after_pages=1))
    ec.token = ec.fetch_token()
    first = ec.get("/odata/v2/User", {"$format": "json", "customPageSize": "50"})
    assert first.status_code == 200
    next_url = first.json()["d"]["__next"]
    expired = ec.get(next_url)
    assert expired.status_code == 401 and "error" in expired.json()
    ec.token = ec.fetch_token()  # a fresh token serves the next page
    assert ec.get(next_url).status_code == 200
    sf.token = sf.fetch_token()
    assert sf.query("SELECT Id FROM User LIMIT 1").status_code == 200
    refused = sf.query("SELECT Id FROM User LIMIT 1")
    assert refused.status_code == 401 and refused.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_a_truncated_body_breaks_mid_answer(sandbox, lrn):
    sandbox.set_faults(Faults(apis=("learning",), truncate_next=1))
    with pytest.raises(requests.exceptions.RequestException):
        lrn.history("100060").json()
    assert lrn.history("100060").status_code == 200


def test_an_answer_of_unknown_shape_lacks_its_records_key(sandbox, sf, ec, lrn):
    sandbox.set_faults(Faults(unknown_shape_next=1))
    assert "records" not in sf.query(SOQL).json()
    assert "records" in sf.query(SOQL).json()
    assert "results" not in ec.get("/odata/v2/User", {"$format": "json"}).json()["d"]
    assert "value" not in lrn.history("100060").json()


def test_malformed_records_come_in_every_requested_kind(sandbox, sf):
    clean = {r["Id"]: r for r in sf.query(SOQL).json()["records"]}
    sandbox.set_faults(Faults(apis=("salesforce",), malformed_rate=0.2))
    broken = sf.query(SOQL).json()["records"]
    ids = [r["Id"] for r in broken]
    assert len(ids) > len(set(ids))  # duplicate ids
    assert any("Audit_Phase__c" not in r for r in broken)  # missing key
    assert any(r.get("Audit_Phase__c") == "Phase 9" for r in broken)  # outside the picklist
    assert any(r["SystemModstamp"] == "2026-02-30T25:61:00.000+0000" for r in broken)
    untouched = [r for r in broken if r == clean[r["Id"]]]
    assert len(untouched) > 0.6 * len(clean)
    again = sf.query(SOQL).json()["records"]
    assert again == broken  # the same records break every time


def test_a_new_custom_field_appears_on_the_drift_day(sandbox, sf, ec, lrn):
    sandbox.set_faults(Faults(schema_drift_day=2))
    describe = lambda: {f["name"] for f in sf.get(f"{V}/sobjects/User/describe").json()["fields"]}  # noqa: E731
    assert "Cost_Center__c" not in describe()
    assert sf.query("SELECT Id, Cost_Center__c FROM User").json()[0]["errorCode"] == "INVALID_FIELD"
    sandbox.set_day(2)
    assert "Cost_Center__c" in describe()
    rows = sf.query("SELECT Id, Cost_Center__c FROM User").json()["records"]
    assert all(r["Cost_Center__c"].startswith("CC-") for r in rows)
    assert "Cost_Center__c" not in sf.query("SELECT Id FROM User").json()["records"][0]
    assert "cust_costCenter" in ec.get("/odata/v2/User/$metadata").text
    assert "cust_costCenter" in ec.users()[0]
    assert "costCenterID" in lrn.history("100060").json()["value"][0]


def test_faults_and_days_can_be_set_over_http(sandbox, sf):
    control = f"{sandbox.base_url}/__sandbox__"
    answer = requests.post(
        f"{control}/faults", json={"salesforce": {"rate_limit_burst": 1}}, timeout=10
    )
    assert (
        answer.status_code == 200 and answer.json()["faults"]["salesforce"]["rate_limit_burst"] == 1
    )
    assert answer.json()["faults"]["learning"] is None
    assert sf.query(SOQL).status_code == 429
    assert sf.query(SOQL).status_code == 200
    requests.post(f"{control}/faults", json={}, timeout=10)
    state = requests.post(f"{control}/day", json={"advance": 2}, timeout=10).json()
    assert state["day"] == 2 and sandbox.day == 2
    assert (
        requests.post(f"{control}/day", json={"day": 5}, timeout=10).json()["date"] == "2026-03-07"
    )
    bad = requests.post(f"{control}/faults", json={"malformed_rate": 3}, timeout=10)
    assert bad.status_code == 400
    config = requests.get(f"{control}/config", timeout=10).json()
    assert config == sandbox.source_config()


def test_a_connection_reset_drops_the_request_without_an_answer(sandbox, sf, ec, lrn):
    sandbox.set_faults(Faults(connection_reset_next=1))
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.query(SOQL)
    assert sf.query(SOQL).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        ec.get("/odata/v2/User", {"$format": "json"})
    with pytest.raises(requests.exceptions.ConnectionError):
        lrn.history("100060")
    assert lrn.history("100060").status_code == 200


def test_a_stalled_answer_outlasts_a_client_read_timeout(sandbox, ec):
    sandbox.set_faults(Faults(apis=("successfactors",), stall_next=1, stall_seconds=1.5))
    url = f"{sandbox.base_url}/odata/v2/User"
    headers = {"Authorization": f"Bearer {ec.token}"}
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, params={"$format": "json"}, headers=headers, timeout=(5, 0.5))
    answer = requests.get(url, params={"$format": "json"}, headers=headers, timeout=(5, 0.5))
    assert answer.status_code == 200


def test_a_token_endpoint_that_fails_once_answers_503_in_oauth_shape(sandbox, sf, ec, lrn):
    sandbox.set_faults(Faults(token_failure_next=1))
    for client in (sf, ec, lrn):
        config = client.config
        if client is sf:
            url = f"{config['instance_url']}/services/oauth2/token"
            refused = requests.post(url, data={"grant_type": "client_credentials"}, timeout=10)
        elif client is ec:
            refused = ec.request_token(ec.assertion())
        else:
            refused = lrn.request_token()
        assert refused.status_code == 503
        assert refused.json()["error"] == "temporarily_unavailable"
        assert client.fetch_token()


def test_an_empty_page_in_the_middle_continues_under_a_new_skiptoken(sandbox, ec, lrn):
    everyone = ec.users(customPageSize="50")
    sandbox.set_faults(Faults(empty_page_next=2))
    first = ec.get("/odata/v2/User", {"$format": "json", "customPageSize": "50"}).json()["d"]
    empty = ec.get(first["__next"]).json()["d"]
    assert empty["results"] == [] and empty["__next"] != first["__next"]
    again = ec.get(empty["__next"]).json()["d"]
    assert again["results"] == [] and again["__next"] not in (first["__next"], empty["__next"])
    assert ec.users(customPageSize="50") == everyone  # counters spent: pages as before

    catalog = (
        "/learning/odatav4/public/admin/catalog-service/v1/CatalogsFeed('CORPORATE')/CoursesFeed"
    )
    sandbox.set_faults(Faults(apis=("learning",), empty_page_next=1))
    page = lrn.get(catalog).json()
    assert page["value"] and "@odata.nextLink" in page
    empty = lrn.get(page["@odata.nextLink"]).json()
    assert empty["value"] == [] and empty["@odata.nextLink"] != page["@odata.nextLink"]
    assert lrn.get(empty["@odata.nextLink"]).json()["value"]


def test_an_empty_salesforce_page_names_a_new_query_locator():
    from ingest.sandbox import Sandbox
    from tests.sandbox.clients import SalesforceClient

    with Sandbox(seed=7, scale=450) as sandbox:
        sf = SalesforceClient(sandbox)
        batch = {"Sforce-Query-Options": "batchSize=200"}
        everyone = sf.query_all_pages(SOQL, headers=batch)
        sandbox.set_faults(Faults(apis=("salesforce",), empty_page_next=1))
        first = sf.query(SOQL, headers=batch).json()
        empty = sf.get(first["nextRecordsUrl"]).json()
        assert empty["records"] == [] and empty["done"] is False
        assert empty["totalSize"] == first["totalSize"] == len(everyone)
        assert (
            empty["nextRecordsUrl"].split("/")[-1].split("-")[0]
            != (first["nextRecordsUrl"].split("/")[-1].split("-")[0])
        )
        rest = sf.get(empty["nextRecordsUrl"]).json()
        assert [r["Id"] for r in first["records"] + rest["records"]] == [
            r["Id"] for r in everyone[:400]
        ]
