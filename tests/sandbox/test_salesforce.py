"""Contract tests for the Salesforce REST stand-in, through real HTTP."""

from __future__ import annotations

import re

import requests

from ingest.sandbox import Sandbox

SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
V = "/services/data/v62.0"


def test_client_credentials_token_has_the_documented_keys(sandbox):
    config = sandbox.source_config()["salesforce"]
    answer = requests.post(
        f"{config['instance_url']}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config["client_id"],
            "client_secret": config["client_secret"],
        },
        timeout=10,
    )
    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sandbox.base_url
    assert body["issued_at"].isdigit()


def test_a_wrong_client_secret_gets_no_token(sandbox):
    config = sandbox.source_config()["salesforce"]
    answer = requests.post(
        f"{sandbox.base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": config["client_id"],
            "client_secret": "nope",
        },
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client"


def test_versions_are_listed_without_a_token(sandbox):
    versions = requests.get(f"{sandbox.base_url}/services/data/", timeout=10).json()
    assert {"label", "url", "version"} <= set(versions[0])
    assert any(v["url"] == V for v in versions)


def test_describe_lists_standard_and_custom_fields(sf):
    describe = sf.get(f"{V}/sobjects/User/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert {
        "Id",
        "Division",
        "IsActive",
        "ManagerId",
        "EmployeeNumber",
        "FederationIdentifier",
        "SystemModstamp",
        "LastModifiedDate",
    } <= set(fields)
    phase = fields["Audit_Phase__c"]
    assert phase["custom"] is True
    assert [p["value"] for p in phase["picklistValues"]] == [
        "Phase1",
        "Phase2",
        "Phase3",
        "Complete",
    ]


def test_records_carry_attributes_ids_and_salesforce_datetimes(sf):
    page = sf.query(
        "SELECT Id, Username, SystemModstamp, LastModifiedDate, CreatedDate FROM User"
    ).json()
    assert page["totalSize"] == 200 and page["done"] is True and "nextRecordsUrl" not in page
    record = page["records"][0]
    assert list(record)[:2] == ["attributes", "Id"]
    assert record["attributes"] == {"type": "User", "url": f"{V}/sobjects/User/{record['Id']}"}
    assert all(len(r["Id"]) == 18 and r["Id"].startswith("005") for r in page["records"])
    assert all(
        SF_DATETIME.match(r[f])
        for r in page["records"]
        for f in ("SystemModstamp", "LastModifiedDate", "CreatedDate")
    )
    assert all(r["SystemModstamp"] >= r["LastModifiedDate"] for r in page["records"])


def test_query_pages_follow_a_relative_next_records_url_without_parameters():
    with Sandbox(seed=3, scale=450) as sandbox:
        from tests.sandbox.clients import SalesforceClient

        sf = SalesforceClient(sandbox)
        first = sf.query(
            "SELECT Id FROM User", headers={"Sforce-Query-Options": "batchSize=200"}
        ).json()
        assert first["totalSize"] == 450 and first["done"] is False
        assert len(first["records"]) == 200
        assert re.fullmatch(rf"{V}/query/01g\w{{15}}-200", first["nextRecordsUrl"])
        second = sf.get(first["nextRecordsUrl"]).json()
        third = sf.get(second["nextRecordsUrl"]).json()
        assert len(second["records"]) == 200 and len(third["records"]) == 50
        assert third["done"] is True and "nextRecordsUrl" not in third
        ids = [r["Id"] for page in (first, second, third) for r in page["records"]]
        assert len(set(ids)) == 450


def test_a_page_holds_2000_records_by_default_and_batch_size_is_clamped():
    with Sandbox(seed=3, scale=2100) as sandbox:
        from tests.sandbox.clients import SalesforceClient

        sf = SalesforceClient(sandbox)
        assert len(sf.query("SELECT Id FROM User").json()["records"]) == 2000
        small = sf.query("SELECT Id FROM User", headers={"Sforce-Query-Options": "batchSize=5"})
        assert len(small.json()["records"]) == 200


def test_where_on_system_modstamp_and_last_modified_date_filters_rows(sf):
    everyone = sf.query_all_pages("SELECT Id, SystemModstamp, LastModifiedDate FROM User")
    cut = sorted(r["SystemModstamp"] for r in everyone)[100]
    literal = cut[:19] + "Z"
    newer = sf.query_all_pages(
        f"SELECT Id, SystemModstamp FROM User WHERE SystemModstamp > {literal}"
    )
    assert newer and all(r["SystemModstamp"] > cut for r in newer)
    at_least = sf.query_all_pages(f"SELECT Id FROM User WHERE SystemModstamp >= {literal}")
    assert len(at_least) == len(newer) + sum(r["SystemModstamp"] == cut for r in everyone)
    window = sf.query_all_pages(
        "SELECT Id, LastModifiedDate FROM User WHERE LastModifiedDate >= 2025-01-01T00:00:00Z "
        f"AND LastModifiedDate < {literal} AND SystemModstamp <= {literal}"
    )
    assert all("2025-01-01" <= r["LastModifiedDate"] < cut for r in window)


def test_order_by_and_limit_shape_the_result(sf):
    rows = sf.query(
        "SELECT Id, SystemModstamp FROM User ORDER BY SystemModstamp ASC, Id LIMIT 25"
    ).json()
    stamps = [r["SystemModstamp"] for r in rows["records"]]
    assert rows["totalSize"] == 25 and stamps == sorted(stamps)
    by_id = [r["Id"] for r in sf.query("SELECT Id FROM User ORDER BY Id DESC").json()["records"]]
    assert by_id == sorted(by_id, reverse=True)


def test_query_all_answers_like_query_for_users(sf):
    soql = "SELECT Id, IsActive FROM User ORDER BY Id"
    assert sf.get(f"{V}/queryAll", params={"q": soql}).json() == sf.query(soql).json()


def test_an_unknown_field_is_invalid_field_in_a_json_array(sf):
    answer = sf.query("SELECT Id, Shoe_Size__c FROM User")
    assert answer.status_code == 400
    assert answer.json() == [
        {"message": answer.json()[0]["message"], "errorCode": "INVALID_FIELD", "fields": []}
    ]


def test_bad_soql_is_malformed_query(sf):
    for soql in (
        "SELECT FROM User",
        "SELECT Id User",
        "SELECT Id FROM User WHERE SystemModstamp >",
    ):
        answer = sf.query(soql)
        assert answer.status_code == 400
        assert answer.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_a_bad_token_is_invalid_session_id(sf):
    sf.token = "not-a-token"
    answer = sf.query("SELECT Id FROM User")
    assert answer.status_code == 401
    assert answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_every_answer_reports_api_usage_and_a_spent_quota_is_request_limit_exceeded(sandbox, sf):
    sandbox.configure(salesforce_daily_api_limit=10)
    for n in range(1, 11):
        answer = sf.query("SELECT Id FROM User LIMIT 1")
        assert answer.headers["Sforce-Limit-Info"] == f"api-usage={n}/10"
    refused = sf.query("SELECT Id FROM User LIMIT 1")
    assert refused.status_code == 403
    assert refused.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    sandbox.advance_day()  # the quota is daily
    assert sf.query("SELECT Id FROM User LIMIT 1").status_code == 200


def test_employee_numbers_and_federation_ids_mostly_match_employees_with_mismatches(sf, ec):
    users = sf.query_all_pages(
        "SELECT Id, EmployeeNumber, FederationIdentifier, IsActive FROM User"
    )
    employees = {e["userId"]: e["email"] for e in ec.users(**{"$filter": "status in 't','f'"})}
    numbers = [u["EmployeeNumber"] for u in users]
    matched = [u for u in users if u["EmployeeNumber"] in employees]
    assert len(matched) > 0.85 * len(users)
    assert any(n is None for n in numbers)  # contractors and missing numbers
    assert len(set(n for n in numbers if n)) < len([n for n in numbers if n])  # duplicates
    case_only = [
        u
        for u in matched
        if u["FederationIdentifier"] != employees[u["EmployeeNumber"]]
        and u["FederationIdentifier"].lower() == employees[u["EmployeeNumber"]]
    ]
    assert case_only
