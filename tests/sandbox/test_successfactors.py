"""Contract tests for the SuccessFactors Employee Central stand-in (OAuth SAML bearer, OData v2)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlparse

from lxml import etree

from ingest.sandbox import Sandbox
from ingest.sandbox.saml import generate_signing_credentials

DATE = re.compile(r"^/Date\(-?\d+\)/$")
DATE_OFFSET = re.compile(r"^/Date\(-?\d+\+0000\)/$")
ALL_STATUSES = "status in 't','f','T','F','e','d'"


def _millis(value: str) -> int:
    return int(re.match(r"/Date\((-?\d+)", value).group(1))


def test_a_locally_signed_saml_assertion_buys_a_bearer_token(ec):
    answer = ec.request_token(ec.assertion())
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0


def test_an_assertion_signed_with_an_unregistered_key_is_rejected(ec):
    other_key, _cert = generate_signing_credentials()
    answer = ec.request_token(ec.assertion(private_key_pem=other_key))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_an_assertion_altered_after_signing_is_rejected(ec):
    xml = base64.b64decode(ec.assertion())
    tampered = xml.replace(b">sfapi<", b">admin<")
    assert tampered != xml
    answer = ec.request_token(base64.b64encode(tampered).decode())
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_expired_wrong_issuer_wrong_subject_and_wrong_audience_are_rejected(ec):
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    for overrides in (
        {"now": stale},
        {"user_id": "someone-else"},
        {"audience": "www.example.com"},
    ):
        answer = ec.request_token(ec.assertion(**overrides))
        assert answer.status_code == 400, overrides
        assert answer.json()["error"] == "invalid_grant"
    foreign = ec.request_token(ec.assertion(client_id="another-client"))
    assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_grant"
    unknown_client = ec.request_token(ec.assertion(), client_id="nobody")
    assert unknown_client.status_code == 401


def test_the_assertion_is_a_saml2_bearer_assertion_with_an_exclusive_c14n_signature(ec):
    root = etree.fromstring(base64.b64decode(ec.assertion()))
    ns = {"s": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#"}
    assert root.findtext("s:Issuer", namespaces=ns) == ec.config["client_id"]
    assert root.findtext("s:Subject/s:NameID", namespaces=ns) == ec.config["user_id"]
    assert root.findtext(".//s:Audience", namespaces=ns) == "www.successfactors.com"
    assert root.find(".//s:SubjectConfirmationData", ns).get("Recipient").endswith("/oauth/token")
    assert root.find("s:AuthnStatement", ns) is not None
    assert root[1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"  # right after Issuer
    methods = {
        e.get("Algorithm") for e in root.iter("{*}CanonicalizationMethod", "{*}SignatureMethod")
    }
    assert methods == {
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    }


def test_odata_calls_without_a_valid_token_get_an_odata_error(sandbox):
    import requests

    answer = requests.get(f"{sandbox.base_url}/odata/v2/User?$format=json", timeout=10)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert set(error) == {"code", "message"} and error["message"]["lang"] == "en-US"


def test_users_page_through_an_absolute_next_link_with_a_skiptoken(ec):
    first = ec.get("/odata/v2/User", {"$format": "json", "customPageSize": "50"}).json()["d"]
    assert len(first["results"]) == 50
    next_url = urlparse(first["__next"])
    assert next_url.scheme == "http" and next_url.path == "/odata/v2/User"
    query = parse_qs(next_url.query)
    assert "$skiptoken" in query and query["customPageSize"] == ["50"]
    everyone = ec.users(customPageSize="50")
    ids = [u["userId"] for u in everyone]
    count = int(ec.get("/odata/v2/User/$count").text)
    assert len(ids) == len(set(ids)) == count


def test_a_page_holds_1000_users_by_default():
    with Sandbox(seed=5, scale=1000) as sandbox:
        from tests.sandbox.clients import SuccessFactorsClient

        ec = SuccessFactorsClient(sandbox)
        first = ec.get("/odata/v2/User", {"$format": "json", "paging": "snapshot"}).json()["d"]
        assert len(first["results"]) == 1000 and "$skiptoken" in first["__next"]


def test_only_active_users_come_back_unless_the_filter_names_statuses(ec):
    default = ec.users()
    assert default and {u["status"] for u in default} == {"t"}
    everyone = ec.users(**{"$filter": ALL_STATUSES})
    assert {u["status"] for u in everyone} == {"t", "f"}
    inactive = ec.users(**{"$filter": "status eq 'f'"})
    assert inactive and {u["status"] for u in inactive} == {"f"}
    either = ec.users(**{"$filter": "status eq 'f' or status eq 't'"})
    assert len(either) == len(everyone) == len(default) + len(inactive)


def test_last_modified_filters_accept_datetimeoffset_comparisons(ec):
    everyone = ec.users(**{"$filter": ALL_STATUSES, "$select": "userId,lastModifiedDateTime"})
    stamps = sorted(_millis(u["lastModifiedDateTime"]) for u in everyone)
    cut_ms = stamps[len(stamps) // 2]
    cut = dt.datetime.fromtimestamp(cut_ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for op, check in (
        ("gt", lambda m: m > cut_ms),
        ("ge", lambda m: m >= cut_ms),
        ("lt", lambda m: m < cut_ms),
        ("le", lambda m: m <= cut_ms),
    ):
        rows = ec.users(
            **{"$filter": f"{ALL_STATUSES} and lastModifiedDateTime {op} datetimeoffset'{cut}'"}
        )
        assert rows and all(check(_millis(r["lastModifiedDateTime"])) for r in rows), op
        assert len(rows) == sum(check(m) for m in stamps), op
    between = ec.users(
        **{
            "$filter": "lastModifiedDateTime ge datetimeoffset'2020-01-01T00:00:00Z' "
            f"and lastModifiedDateTime lt datetimeoffset'{cut}'"
        }
    )
    assert all(r["status"] == "t" for r in between)


def test_user_fields_and_date_formats_match_the_metadata(ec):
    user = ec.users()[0]
    assert {
        "userId",
        "username",
        "firstName",
        "lastName",
        "email",
        "department",
        "division",
        "location",
        "title",
        "status",
        "hireDate",
        "lastModifiedDateTime",
        "manager",
    } <= set(user)
    assert user["__metadata"]["type"] == "SFOData.User"
    assert user["__metadata"]["uri"].endswith(f"/odata/v2/User('{user['userId']}')")
    assert DATE.match(user["hireDate"]) and DATE_OFFSET.match(user["lastModifiedDateTime"])
    metadata = ec.get("/odata/v2/$metadata").text
    root = etree.fromstring(metadata.encode())
    props = {p.get("Name"): p.get("Type") for p in root.iter("{*}Property")}
    assert (
        props["hireDate"] == "Edm.DateTime"
        and props["lastModifiedDateTime"] == "Edm.DateTimeOffset"
    )
    assert {e.get("Name") for e in root.iter("{*}EntitySet")} == {"User", "FODepartment"}


def test_the_manager_is_deferred_unless_expanded(ec):
    plain = ec.users(**{"$top": "5"})
    assert all(
        u["manager"]["__deferred"]["uri"].endswith(f"User('{u['userId']}')/manager") for u in plain
    )
    expanded = ec.users(**{"$expand": "manager", "$select": "userId,manager/userId"})
    ceo = [u for u in expanded if u["manager"] is None]
    assert len(ceo) == 1
    managed = [u for u in expanded if u["manager"] is not None]
    assert all(set(u) == {"__metadata", "userId", "manager"} for u in managed)
    assert all(set(u["manager"]) == {"__metadata", "userId"} for u in managed)
    follow = ec.get(plain[1]["manager"]["__deferred"]["uri"], {"$format": "json"}).json()["d"]
    assert follow is None or "userId" in follow


def test_managers_form_a_tree_and_departments_nest_at_least_four_deep(ec):
    users = {
        u["userId"]: u
        for u in ec.users(**{"$expand": "manager", "$select": "userId,manager/userId"})
    }
    for user_id in users:
        seen, current = set(), user_id
        while current is not None:
            assert current not in seen
            seen.add(current)
            manager = users[current]["manager"]
            current = manager["userId"] if manager else None
    units = ec.get("/odata/v2/FODepartment", {"$format": "json"}).json()["d"]["results"]
    parent = {u["externalCode"]: u["parent"] for u in units}

    def depth(code: str) -> int:
        return 1 if parent[code] is None else 1 + depth(parent[code])

    assert max(depth(c) for c in parent) >= 4
    assert set(parent[c] for c in parent if parent[c]) <= set(parent)


def test_orderby_top_and_skip_work_together(ec):
    rows = ec.users(**{"$orderby": "lastModifiedDateTime desc", "$top": "10", "$skip": "5"})
    stamps = [_millis(r["lastModifiedDateTime"]) for r in rows]
    assert len(rows) == 10 and stamps == sorted(stamps, reverse=True)


def test_departments_answer_as_of_today_unless_a_date_range_is_given(sandbox, ec):
    sandbox.set_day(20)  # twenty re-orgs have happened
    today = ec.get("/odata/v2/FODepartment", {"$format": "json"}).json()["d"]["results"]
    codes = [d["externalCode"] for d in today]
    assert len(codes) == len(set(codes))
    history = ec.get(
        "/odata/v2/FODepartment",
        {"$format": "json", "fromDate": "1900-01-01", "toDate": "9999-12-31"},
    ).json()["d"]["results"]
    assert len(history) > len(today)
    moved = [
        d
        for d in history
        if codes.count(d["externalCode"])
        and sum(h["externalCode"] == d["externalCode"] for h in history) > 1
    ]
    assert moved and all(DATE.match(d["startDate"]) and DATE.match(d["endDate"]) for d in moved)
    past = ec.get("/odata/v2/FODepartment", {"$format": "json", "asOfDate": "2026-03-02"}).json()
    assert len(past["d"]["results"]) == len(today)


def test_unknown_properties_and_bad_filters_are_odata_errors(ec):
    unknown = ec.get("/odata/v2/User", {"$format": "json", "$select": "shoeSize"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "COE_PROPERTY_NOT_FOUND"
    bad = ec.get("/odata/v2/User", {"$format": "json", "$filter": "status eq"})
    assert bad.status_code == 400 and "value" in bad.json()["error"]["message"]
    missing = ec.get("/odata/v2/Nothing", {"$format": "json"})
    assert missing.status_code == 404


def test_skiptoken_pages_stay_on_the_day_the_first_page_was_read(sandbox, ec):
    first = ec.get(
        "/odata/v2/User", {"$format": "json", "customPageSize": "100", "$filter": ALL_STATUSES}
    ).json()["d"]
    sandbox.advance_day(3)
    rest = ec.get(first["__next"]).json()["d"]
    token = json.loads(base64.b64decode(parse_qs(urlparse(first["__next"]).query)["$skiptoken"][0]))
    assert token["startRow"] == 100
    assert {r["userId"] for r in rest["results"]}.isdisjoint(
        {r["userId"] for r in first["results"]}
    )
