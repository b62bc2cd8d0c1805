"""Contract tests for the Salesforce write APIs (Bulk API 2.0 ingest, sObject Collections),
through real HTTP, with what arrived checked in SOQL and in the sandbox's write log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import requests

from ingest.sandbox import Sandbox
from ingest.sandbox.salesforce import user_id
from tests.sandbox.clients import SalesforceClient

V = "/services/data/v62.0"
LEARNING = (
    "Learning_Compliance_Status__c",
    "Learning_Overdue_Count__c",
    "Learning_Next_Due_Date__c",
    "Learning_Certification_Expiry__c",
    "Learning_Compliance_As_Of__c",
)
SF_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


# --------------------------------------------------------------------------- helpers


def create_job(sf: SalesforceClient, **overrides: str) -> requests.Response:
    body = {
        "object": "User",
        "operation": "update",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
        **overrides,
    }
    return sf.send("POST", f"{V}/jobs/ingest", json=body)


def upload(sf: SalesforceClient, job_id: str, text: str) -> requests.Response:
    data = text.encode("utf-8")
    return sf.send(
        "PUT", f"{V}/jobs/ingest/{job_id}/batches", data=data, headers={"Content-Type": "text/csv"}
    )


def close(sf: SalesforceClient, job_id: str) -> requests.Response:
    return sf.send("PATCH", f"{V}/jobs/ingest/{job_id}", json={"state": "UploadComplete"})


def poll(sf: SalesforceClient, job_id: str) -> list[dict[str, Any]]:
    """Every JobInfo a client polling until the job ends sees."""
    seen = []
    for _ in range(20):
        info = sf.get(f"{V}/jobs/ingest/{job_id}").json()
        seen.append(info)
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return seen
    raise AssertionError(f"job {job_id} never ended: {seen[-1]}")


def run_job(sf: SalesforceClient, text: str, line_ending: str = "LF") -> tuple[str, dict]:
    """Create, upload, close and poll one update job; its id and last JobInfo."""
    job_id = create_job(sf, lineEnding=line_ending).json()["id"]
    assert upload(sf, job_id, text).status_code == 201
    assert close(sf, job_id).status_code == 200
    return job_id, poll(sf, job_id)[-1]


def results(sf: SalesforceClient, job_id: str, part: str) -> str:
    answer = sf.get(f"{V}/jobs/ingest/{job_id}/{part}/")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    return answer.text


def collections(sf: SalesforceClient, records: list[dict], all_or_none: bool = False) -> Any:
    body = {
        "allOrNone": all_or_none,
        "records": [{"attributes": {"type": "User"}, **r} for r in records],
    }
    return sf.send("PATCH", f"{V}/composite/sobjects", json=body)


def user_ids(sf: SalesforceClient, n: int) -> list[str]:
    return [
        r["Id"] for r in sf.query(f"SELECT Id FROM User ORDER BY Id LIMIT {n}").json()["records"]
    ]


def users(sf: SalesforceClient, ids: list[str], *fields: str) -> dict[str, dict[str, Any]]:
    wanted = ", ".join(f"'{i}'" for i in ids)
    soql = f"SELECT Id, {', '.join(fields)} FROM User WHERE Id IN ({wanted})"
    return {r["Id"]: r for r in sf.query(soql).json()["records"]}


def latest_modstamp(sf: SalesforceClient) -> dt.datetime:
    records = sf.query_all_pages("SELECT SystemModstamp FROM User")
    return max(dt.datetime.strptime(r["SystemModstamp"], SF_FORMAT) for r in records)


def modstamp(record: dict[str, Any]) -> dt.datetime:
    return dt.datetime.strptime(record["SystemModstamp"], SF_FORMAT)


# --------------------------------------------------------------------------- describe


def test_describe_lists_the_learning_fields_as_writable_nillable_custom_fields(sf):
    fields = {f["name"]: f for f in sf.get(f"{V}/sobjects/User/describe").json()["fields"]}
    for name in LEARNING:
        assert fields[name]["custom"] and fields[name]["nillable"]
        assert fields[name]["updateable"] and fields[name]["createable"]
    status = fields["Learning_Compliance_Status__c"]
    assert (status["type"], status["restrictedPicklist"]) == ("picklist", True)
    assert [p["value"] for p in status["picklistValues"]] == ["Compliant", "Due soon", "Overdue"]
    count = fields["Learning_Overdue_Count__c"]
    assert (count["type"], count["soapType"], count["precision"], count["scale"]) == (
        "double",
        "xsd:double",
        18,
        0,
    )
    for name in LEARNING[2:]:
        assert (fields[name]["type"], fields[name]["soapType"]) == ("date", "xsd:date")
    assert not fields["SystemModstamp"]["updateable"]


def test_the_learning_fields_are_null_until_written(sf):
    records = sf.query(f"SELECT Id, {', '.join(LEARNING)} FROM User").json()["records"]
    assert len(records) == 200
    assert all(r[name] is None for r in records for name in LEARNING)


# --------------------------------------------------------------------------- Bulk API 2.0


def test_a_bulk_update_job_lives_from_open_to_complete_and_its_changes_load_incrementally(
    sandbox, sf
):
    a, b, c = user_ids(sf, 3)
    served_before = latest_modstamp(sf)
    created = create_job(sf)
    job = created.json()
    assert created.status_code == 200 and job["state"] == "Open" and job["id"].startswith("750")
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    assert (job["operation"], job["object"], job["lineEnding"], job["apiVersion"]) == (
        "update",
        "User",
        "LF",
        62.0,
    )
    text = (
        "Id,Learning_Compliance_Status__c,Learning_Overdue_Count__c,Learning_Next_Due_Date__c\n"
        f"{a},Overdue,3,2026-04-01\n"
        f"{b},Compliant,0,2026-09-30\n"
        f"{c},Late,1,2026-05-01\n"
    )
    assert upload(sf, job["id"], text).status_code == 201
    closed = close(sf, job["id"])
    assert closed.status_code == 200 and closed.json()["state"] == "UploadComplete"

    seen = poll(sf, job["id"])
    assert [info["state"] for info in seen] == ["InProgress", "InProgress", "JobComplete"]
    assert (seen[-1]["numberRecordsProcessed"], seen[-1]["numberRecordsFailed"]) == (3, 1)
    assert results(sf, job["id"], "successfulResults") == (
        '"sf__Id","sf__Created",Id,Learning_Compliance_Status__c,Learning_Overdue_Count__c,'
        "Learning_Next_Due_Date__c\n"
        f'"{a}","false","{a}","Overdue","3","2026-04-01"\n'
        f'"{b}","false","{b}","Compliant","0","2026-09-30"\n'
    )
    assert results(sf, job["id"], "failedResults") == (
        '"sf__Id","sf__Error",Id,Learning_Compliance_Status__c,Learning_Overdue_Count__c,'
        "Learning_Next_Due_Date__c\n"
        f'"{c}","INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Learning Compliance Status: bad value '
        f'for restricted picklist field: Late:Learning_Compliance_Status__c --","{c}","Late",'
        '"1","2026-05-01"\n'
    )

    written = users(sf, [a, b, c], *LEARNING, "SystemModstamp", "LastModifiedDate")
    assert (
        written[a]["Learning_Compliance_Status__c"],
        written[a]["Learning_Overdue_Count__c"],
    ) == (
        "Overdue",
        3.0,
    )
    assert written[b]["Learning_Next_Due_Date__c"] == "2026-09-30"
    assert written[c]["Learning_Compliance_Status__c"] is None  # its record failed
    assert modstamp(written[a]) > served_before and modstamp(written[b]) > served_before
    assert written[a]["LastModifiedDate"] == written[a]["SystemModstamp"]
    # A loader run right after the push, reading from past everything it saw before:
    since = (served_before + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = sf.query_all_pages(
        f"SELECT Id, Learning_Compliance_Status__c FROM User WHERE SystemModstamp >= {since} "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert {r["Id"] for r in changed} == {a, b}
    assert [e["success"] for e in sandbox.salesforce_writes] == [True, True, False]
    assert sandbox.salesforce_writes[0] == {
        "via": "bulk",
        "id": a,
        "fields": {
            "Learning_Compliance_Status__c": "Overdue",
            "Learning_Overdue_Count__c": 3.0,
            "Learning_Next_Due_Date__c": "2026-04-01",
        },
        "success": True,
    }
    state = requests.get(f"{sandbox.base_url}/__sandbox__/state", timeout=10).json()
    assert state["salesforce_writes"] == {"bulk": 3, "collections": 0}


def test_how_many_polls_a_job_stays_in_progress_is_a_setting(sandbox, sf):
    (a,) = user_ids(sf, 1)
    sandbox.configure(bulk_polls_in_progress=0)
    job_id = create_job(sf).json()["id"]
    upload(sf, job_id, f"Id,Learning_Overdue_Count__c\n{a},1\n")
    close(sf, job_id)
    assert [i["state"] for i in poll(sf, job_id)] == ["JobComplete"]
    settings = requests.post(
        f"{sandbox.base_url}/__sandbox__/settings", json={"bulk_polls_in_progress": 4}, timeout=10
    )
    assert settings.status_code == 200
    job_id = create_job(sf).json()["id"]
    upload(sf, job_id, f"Id,Learning_Overdue_Count__c\n{a},2\n")
    close(sf, job_id)
    assert [i["state"] for i in poll(sf, job_id)] == ["InProgress"] * 4 + ["JobComplete"]


def test_na_sets_a_field_null_and_an_empty_cell_leaves_it(sf):
    a, b = user_ids(sf, 2)
    run_job(
        sf,
        "Id,Learning_Compliance_Status__c,Learning_Certification_Expiry__c\n"
        f"{a},Due soon,2027-01-31\n{b},Compliant,2026-12-31\n",
    )
    _, info = run_job(
        sf,
        "Id,Learning_Compliance_Status__c,Learning_Certification_Expiry__c\n"
        f"{a},#N/A,\n{b},,#N/A\n",
    )
    assert (info["state"], info["numberRecordsFailed"]) == ("JobComplete", 0)
    after = users(sf, [a, b], "Learning_Compliance_Status__c", "Learning_Certification_Expiry__c")
    assert after[a]["Learning_Compliance_Status__c"] is None
    assert after[a]["Learning_Certification_Expiry__c"] == "2027-01-31"
    assert after[b]["Learning_Compliance_Status__c"] == "Compliant"
    assert after[b]["Learning_Certification_Expiry__c"] is None


def test_rows_ended_otherwise_than_the_job_says_fail_the_whole_job(sandbox, sf):
    (a,) = user_ids(sf, 1)
    crlf = f"Id,Learning_Overdue_Count__c\r\n{a},7\r\n"
    job_id, info = run_job(sf, crlf, line_ending="LF")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"
    )
    assert results(sf, job_id, "unprocessedrecords") == crlf
    _, info = run_job(sf, f"Id,Learning_Overdue_Count__c\n{a},7\n", line_ending="CRLF")
    assert info["errorMessage"].endswith("Current LineEnding setting is CRLF")
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] is None
    _, info = run_job(sf, crlf, line_ending="CRLF")
    assert info["state"] == "JobComplete"
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] == 7.0


def test_quoted_cells_hold_delimiters_quotes_and_newlines(sf):
    a, b = user_ids(sf, 2)
    text = f'Id,Title\r\n{a},"Lead, ""Ops""\nEMEA"\r\n"{b}","Plain"\r\n'
    _, info = run_job(sf, text, line_ending="CRLF")
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 2)
    titles = users(sf, [a, b], "Title")
    assert titles[a]["Title"] == 'Lead, "Ops"\nEMEA' and titles[b]["Title"] == "Plain"


def test_a_header_naming_an_unknown_field_fails_the_whole_job(sandbox, sf):
    (a,) = user_ids(sf, 1)
    text = f"Id,Learning_Overdue_Count__c,Shoe_Size__c\n{a},4,42\n"
    job_id, info = run_job(sf, text)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Shoe_Size__c"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (0, 0)
    assert results(sf, job_id, "unprocessedrecords") == text
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] is None
    assert sandbox.salesforce_writes == []
    _, info = run_job(sf, f"Id,SystemModstamp\n{a},2026-03-02T00:00:00Z\n")
    assert (
        info["state"] == "Failed"
        and "Unable to create/update fields: SystemModstamp" in (info["errorMessage"])
    )


def test_a_job_takes_one_upload_and_only_while_open(sf):
    (a,) = user_ids(sf, 1)
    job_id = create_job(sf).json()["id"]
    assert upload(sf, job_id, f"Id,Learning_Overdue_Count__c\n{a},1\n").status_code == 201
    again = upload(sf, job_id, f"Id,Learning_Overdue_Count__c\n{a},2\n")
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "BULK_API_ERROR"
    assert set(again.json()[0]) == {"errorCode", "message"}
    close(sf, job_id)
    late = upload(sf, job_id, f"Id,Learning_Overdue_Count__c\n{a},3\n")
    assert late.status_code == 400 and late.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    poll(sf, job_id)
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] == 1.0
    assert sf.get(f"{V}/jobs/ingest/7505g0000000099AAA").status_code == 404


def test_an_aborted_job_writes_nothing_and_leaves_every_row_unprocessed(sandbox, sf):
    (a,) = user_ids(sf, 1)
    text = f"Id,Learning_Overdue_Count__c\n{a},1\n"
    job_id = create_job(sf).json()["id"]
    upload(sf, job_id, text)
    aborted = sf.send("PATCH", f"{V}/jobs/ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    assert [i["state"] for i in poll(sf, job_id)] == ["Aborted"]
    assert results(sf, job_id, "unprocessedrecords") == text
    assert sandbox.salesforce_writes == []


def test_bad_values_and_ids_fail_their_own_record_only(sf):
    a, b, c, d = user_ids(sf, 4)
    unknown = user_id(5000)  # well formed, but the small company has 200 users
    job_id, info = run_job(
        sf,
        "Id,Learning_Next_Due_Date__c,Learning_Overdue_Count__c\n"
        f"{a},2026-04-01,2\n"
        f"{b},01/04/2026,2\n"
        f"{c},2026-04-01,two\n"
        f"{d},2026-04-01,1e19\n"
        f"not-an-id,2026-04-01,2\n"
        f"{unknown},2026-04-01,2\n"
        ",2026-04-01,2\n",
    )
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (7, 6)
    failed = results(sf, job_id, "failedResults").splitlines()[1:]
    assert [line.split('","')[1] for line in failed] == [
        "INVALID_FIELD:Failed to deserialize field at col 1. Due to, '01/04/2026' is not a valid "
        "value for the type xsd:date:Learning_Next_Due_Date__c --",
        "INVALID_FIELD:Failed to deserialize field at col 2. Due to, 'two' is not a valid value "
        "for the type xsd:double:Learning_Overdue_Count__c --",
        "NUMBER_OUTSIDE_VALID_RANGE:Learning Overdue Count: value outside of valid range on "
        "numeric field: 1E+19:Learning_Overdue_Count__c --",
        "MALFORMED_ID:User ID: id value of incorrect type: not-an-id:Id --",
        "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--",
        "MISSING_ARGUMENT:Id not specified in an update call:--",
    ]
    assert failed[0].startswith(f'"{b}",') and failed[3].startswith('"",')
    written = users(sf, [a, b], "Learning_Next_Due_Date__c")
    assert written[a]["Learning_Next_Due_Date__c"] == "2026-04-01"
    assert written[b]["Learning_Next_Due_Date__c"] is None


def test_jobs_the_sandbox_cannot_run_are_refused_when_created(sf):
    insert = create_job(sf, operation="insert")
    assert insert.status_code == 400 and insert.json()[0]["errorCode"] == "INVALIDJOB"
    assert "update" in insert.json()[0]["message"]
    account = create_job(sf, object="Account")
    assert account.json() == [
        {"errorCode": "INVALIDJOB", "message": "InvalidJob : Unable to find object: Account"}
    ]
    ending = create_job(sf, lineEnding="CR")
    assert ending.status_code == 400 and ending.json() == [
        {
            "errorCode": "API_ERROR",
            "message": "Invalid value: 'CR' supplied for property: 'lineEnding'",
        }
    ]


# --------------------------------------------------------------------------- Collections


def test_collections_answer_one_result_per_record_in_order(sandbox, sf):
    a, b, c = user_ids(sf, 3)
    answer = collections(
        sf,
        [
            {"id": a, "Learning_Compliance_Status__c": "Overdue", "Learning_Overdue_Count__c": 2},
            {"id": b, "Learning_Compliance_Status__c": "Nearly"},
            {"id": "005-not-an-id", "Learning_Overdue_Count__c": 1},
            {"id": c, "Learning_Compliance_As_Of__c": "2026-03-02"},
        ],
    )
    assert answer.status_code == 200
    assert answer.json() == [
        {"id": a, "success": True, "errors": []},
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    "message": "Learning Compliance Status: bad value for restricted picklist "
                    "field: Nearly",
                    "fields": ["Learning_Compliance_Status__c"],
                }
            ],
        },
        {
            "success": False,
            "errors": [
                {
                    "statusCode": "MALFORMED_ID",
                    "message": "User ID: id value of incorrect type: 005-not-an-id",
                    "fields": ["Id"],
                }
            ],
        },
        {"id": c, "success": True, "errors": []},
    ]
    written = users(sf, [a, b, c], *LEARNING)
    assert written[a]["Learning_Overdue_Count__c"] == 2.0
    assert written[b]["Learning_Compliance_Status__c"] is None
    assert written[c]["Learning_Compliance_As_Of__c"] == "2026-03-02"
    assert [(e["via"], e["id"], e["success"]) for e in sandbox.salesforce_writes] == [
        ("collections", a, True),
        ("collections", b, False),
        ("collections", "005-not-an-id", False),
        ("collections", c, True),
    ]


def test_collections_take_at_most_200_records(sandbox, sf):
    ids = user_ids(sf, 200)
    records = [{"id": i, "Learning_Overdue_Count__c": 1} for i in ids]
    too_many = collections(sf, [*records, records[0]])
    assert too_many.status_code == 400
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert sandbox.salesforce_writes == []
    answer = collections(sf, records)
    assert answer.status_code == 200 and all(r["success"] for r in answer.json())


def test_all_or_none_rolls_every_record_back_when_one_fails(sandbox, sf):
    a, b = user_ids(sf, 2)
    answer = collections(
        sf,
        [
            {"id": a, "Learning_Overdue_Count__c": 5},
            {"id": b, "Learning_Compliance_Status__c": "Unknown"},
        ],
        all_or_none=True,
    ).json()
    assert answer[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert answer[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] is None
    assert not any(e["success"] for e in sandbox.salesforce_writes)


def test_json_null_sets_a_field_null(sf):
    (a,) = user_ids(sf, 1)
    collections(sf, [{"id": a, "Learning_Next_Due_Date__c": "2026-06-30"}])
    assert collections(sf, [{"id": a, "Learning_Next_Due_Date__c": None}]).json()[0]["success"]
    assert users(sf, [a], "Learning_Next_Due_Date__c")[a]["Learning_Next_Due_Date__c"] is None


def test_unknown_fields_refuse_the_request_and_system_fields_fail_their_record(sandbox, sf):
    a, b = user_ids(sf, 2)
    unknown = collections(sf, [{"id": a, "Learning_Overdue_Count__c": 1}, {"id": b, "Shoe__c": 1}])
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    assert unknown.json()[0]["message"] == "No such column 'Shoe__c' on sobject of type User"
    assert sandbox.salesforce_writes == []
    wrong_type = collections(sf, [{"id": a, "Learning_Next_Due_Date__c": "30/06/2026"}])
    assert (
        wrong_type.status_code == 400 and wrong_type.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    )
    system = collections(sf, [{"id": a, "SystemModstamp": "2026-03-02T00:00:00.000+0000"}]).json()
    assert system[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert system[0]["errors"][0]["fields"] == ["SystemModstamp"]


# --------------------------------------------------------------------------- tenants and faults


def test_scripted_write_failures_fail_those_records_on_both_apis_until_cleared(sandbox, sf):
    a, b = user_ids(sf, 2)
    settings = requests.post(
        f"{sandbox.base_url}/__sandbox__/settings",
        json={"write_failures": {a: "ENTITY_IS_DELETED", b: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}},
        timeout=10,
    )
    assert settings.status_code == 200
    job_id, info = run_job(sf, f"Id,Learning_Overdue_Count__c\n{a},1\n{b},1\n")
    assert info["numberRecordsFailed"] == 2
    failed = results(sf, job_id, "failedResults").splitlines()
    assert failed[1] == f'"{a}","ENTITY_IS_DELETED:entity is deleted:--","{a}","1"'
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION:" in failed[2]
    answer = collections(sf, [{"id": a, "Learning_Overdue_Count__c": 2}]).json()
    assert answer[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] is None
    sandbox.configure(write_failures={})
    assert collections(sf, [{"id": a, "Learning_Overdue_Count__c": 3}]).json()[0]["success"]


def test_failing_bulk_jobs_fail_the_next_jobs_whole(sandbox, sf):
    (a,) = user_ids(sf, 1)
    requests.post(
        f"{sandbox.base_url}/__sandbox__/settings", json={"failing_bulk_jobs": 1}, timeout=10
    )
    text = f"Id,Learning_Overdue_Count__c\n{a},1\n"
    job_id, info = run_job(sf, text)
    assert info["state"] == "Failed" and info["errorMessage"]
    assert results(sf, job_id, "unprocessedrecords") == text
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] is None
    _, info = run_job(sf, text)
    assert info["state"] == "JobComplete"
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] == 1.0


def test_a_tenant_may_lack_learning_fields_or_have_them_read_only(sandbox, sf):
    (a,) = user_ids(sf, 1)
    sandbox.configure(absent_user_fields=["Learning_Compliance_As_Of__c"])
    requests.post(
        f"{sandbox.base_url}/__sandbox__/settings",
        json={"read_only_user_fields": ["Learning_Overdue_Count__c"]},
        timeout=10,
    )
    fields = {f["name"]: f for f in sf.get(f"{V}/sobjects/User/describe").json()["fields"]}
    assert "Learning_Compliance_As_Of__c" not in fields
    assert not fields["Learning_Overdue_Count__c"]["updateable"]
    assert fields["Learning_Next_Due_Date__c"]["updateable"]
    absent = sf.query("SELECT Id, Learning_Compliance_As_Of__c FROM User")
    assert absent.status_code == 400 and absent.json()[0]["errorCode"] == "INVALID_FIELD"
    _, info = run_job(sf, f"Id,Learning_Compliance_As_Of__c\n{a},2026-03-02\n")
    assert (
        info["errorMessage"] == "InvalidBatch : Field name not found : Learning_Compliance_As_Of__c"
    )
    _, info = run_job(sf, f"Id,Learning_Overdue_Count__c\n{a},1\n")
    assert info["state"] == "Failed" and "Learning_Overdue_Count__c" in info["errorMessage"]
    refused = collections(sf, [{"id": a, "Learning_Overdue_Count__c": 1}]).json()
    assert refused[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    bad = requests.post(
        f"{sandbox.base_url}/__sandbox__/settings",
        json={"absent_user_fields": ["Email"]},
        timeout=10,
    )
    assert bad.status_code == 400


def test_written_values_survive_day_changes_and_the_later_modstamp_wins(sandbox, sf):
    a, b = user_ids(sf, 2)
    collections(sf, [{"id": a, "Learning_Compliance_Status__c": "Overdue"}])
    day0 = users(sf, [a], "SystemModstamp")[a]
    sandbox.set_day(3)
    later = users(sf, [a, b], "Learning_Compliance_Status__c", "SystemModstamp")
    assert later[a]["Learning_Compliance_Status__c"] == "Overdue"
    assert modstamp(later[a]) >= modstamp(day0)
    served = latest_modstamp(sf)
    collections(sf, [{"id": a, "Learning_Compliance_Status__c": "Compliant"}])
    again = users(sf, [a], "Learning_Compliance_Status__c", "SystemModstamp")[a]
    assert again["Learning_Compliance_Status__c"] == "Compliant"
    assert modstamp(again) > served


def test_each_write_moves_system_modstamp_strictly_later(sf):
    (a,) = user_ids(sf, 1)
    stamps = []
    for n in range(3):
        collections(sf, [{"id": a, "Learning_Overdue_Count__c": n}])
        stamps.append(modstamp(users(sf, [a], "SystemModstamp")[a]))
    assert stamps[0] < stamps[1] < stamps[2]


def test_the_learning_fields_filter_in_soql(sf):
    a, b = user_ids(sf, 2)
    collections(
        sf,
        [
            {"id": a, "Learning_Overdue_Count__c": 4, "Learning_Next_Due_Date__c": "2026-04-01"},
            {"id": b, "Learning_Overdue_Count__c": 1, "Learning_Next_Due_Date__c": "2026-09-01"},
        ],
    )
    over = sf.query("SELECT Id FROM User WHERE Learning_Overdue_Count__c > 2").json()
    assert [r["Id"] for r in over["records"]] == [a]
    due = sf.query("SELECT Id FROM User WHERE Learning_Next_Due_Date__c < 2026-05-01").json()
    assert [r["Id"] for r in due["records"]] == [a]


def test_the_write_paths_need_a_token_and_count_against_the_quota(sandbox, sf):
    for method, path in (("POST", "/jobs/ingest"), ("PATCH", "/composite/sobjects")):
        answer = requests.request(method, f"{sandbox.base_url}{V}{path}", json={}, timeout=10)
        assert answer.status_code == 401
        assert answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    used = sandbox.salesforce_api_usage
    answer = create_job(sf)
    assert answer.status_code == 200
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/15000"


def test_the_write_log_can_be_cleared(sandbox, sf):
    (a,) = user_ids(sf, 1)
    collections(sf, [{"id": a, "Learning_Overdue_Count__c": 1}])
    assert len(sandbox.salesforce_writes) == 1
    sandbox.clear_salesforce_writes()
    assert sandbox.salesforce_writes == []
    assert users(sf, [a], "Learning_Overdue_Count__c")[a]["Learning_Overdue_Count__c"] == 1.0


def test_a_fresh_sandbox_takes_write_settings_in_configure():
    with Sandbox(seed=3, scale="small") as sandbox:
        sandbox.configure(read_only_user_fields=["Title"], bulk_polls_in_progress=1)
        state = requests.get(f"{sandbox.base_url}/__sandbox__/state", timeout=10).json()
        assert state["salesforce_write_settings"]["read_only_user_fields"] == ["Title"]
        assert state["salesforce_write_settings"]["bulk_polls_in_progress"] == 1
