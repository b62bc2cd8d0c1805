"""Writing field values onto Salesforce ``User`` records: describe check, sObject
Collections for small pushes, Bulk API 2.0 ingest for large ones.

Both report one ``WriteResult`` per record sent. Only what Salesforce confirmed counts as
written: a job whose outcome is unknown (polling gave up) reports nothing, so the next push
sends those records again (an update with the same values is harmless).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.errors import ConfigurationError, SourceError
from ingest.sources.http import HttpStatusError
from ingest.sources.salesforce import SalesforceApi

COLLECTION_SIZE = 200  # sObject Collections takes at most 200 records a call
BULK_JOB_MAX_RECORDS = 100_000  # well inside a job's 100 MB upload at these few columns
MAX_POLL_INTERVAL_SECONDS = 30.0
# In a Bulk API CSV an empty cell leaves the field as it is; this sets it to null.
CSV_NULL = "#N/A"
FINAL_JOB_STATES = ("JobComplete", "Failed", "Aborted")


@dataclass(frozen=True)
class UserUpdate:
    """The values to write onto one user (Salesforce field name -> wire value or None)."""

    user_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class WriteResult:
    user_id: str
    success: bool
    error_code: str | None = None
    error_message: str | None = None


# What to create in Salesforce Setup for each default field (shown when one is missing).
FIELD_ADVICE = {
    "Learning_Compliance_Status__c": "Picklist (restricted) with values Compliant, Due soon, "
    "Overdue",
    "Learning_Overdue_Count__c": "Number(18, 0)",
    "Learning_Next_Due_Date__c": "Date",
    "Learning_Certification_Expiry__c": "Date",
    "Learning_Compliance_As_Of__c": "Date",
}


def check_fields(api: SalesforceApi, fields: Sequence[str]) -> None:
    """Every target field exists on User and this user may update it; else exit 2 saying
    what to create or grant in Salesforce Setup."""
    describe = api.client.get_json(f"{api.data_path}/sobjects/User/describe")
    if not isinstance(describe, dict) or not isinstance(describe.get("fields"), list):
        raise SourceError("Salesforce describe answered in an unknown shape (no 'fields')")
    known = {f.get("name"): f for f in describe["fields"] if isinstance(f, dict)}
    missing = [name for name in fields if name not in known]
    read_only = [name for name in fields if name in known and not known[name].get("updateable")]
    problems = []
    if missing:
        advice = "; ".join(
            f"{name}: {FIELD_ADVICE.get(name, 'a custom field')}" for name in missing
        )
        problems.append(
            f"Salesforce User lacks field(s) {', '.join(missing)} — create them in Setup > "
            f"Object Manager > User > Fields & Relationships ({advice})"
        )
    if read_only:
        problems.append(
            f"Salesforce User field(s) {', '.join(read_only)} cannot be updated by the "
            "integration user — grant Edit in their field-level security"
        )
    if problems:
        raise ConfigurationError("; ".join(problems) + "; nothing was sent")


def write_with_collections(
    api: SalesforceApi, updates: Sequence[UserUpdate], done: Callable[[list[WriteResult]], None]
) -> None:
    """PATCH ``composite/sobjects``, 200 records a call, each record on its own
    (``allOrNone: false``); ``done`` gets each call's results as soon as it answers."""
    for start in range(0, len(updates), COLLECTION_SIZE):
        chunk = updates[start : start + COLLECTION_SIZE]
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "User"}, "id": u.user_id, **u.values} for u in chunk
            ],
        }
        answer = api.client.request(
            "PATCH", f"{api.data_path}/composite/sobjects", json=body
        ).json()
        if not isinstance(answer, list) or len(answer) != len(chunk):
            raise SourceError(
                "Salesforce composite/sobjects answered in an unknown shape "
                f"(expected {len(chunk)} results)"
            )
        done([_collection_result(u, r) for u, r in zip(chunk, answer, strict=True)])


def _collection_result(update: UserUpdate, answer: Any) -> WriteResult:
    if isinstance(answer, dict) and answer.get("success") is True:
        return WriteResult(update.user_id, True)
    errors = answer.get("errors") if isinstance(answer, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return WriteResult(
        update.user_id,
        False,
        str(first.get("statusCode") or "UNKNOWN_ERROR"),
        str(first.get("message") or "Salesforce gave no reason"),
    )


@dataclass(frozen=True)
class BulkPolling:
    first_interval_seconds: float
    timeout_seconds: float


def write_with_bulk(
    api: SalesforceApi,
    fields: Sequence[str],
    updates: Sequence[UserUpdate],
    polling: BulkPolling,
    done: Callable[[list[WriteResult]], None],
) -> None:
    """Bulk API 2.0 ``update`` jobs keyed by ``Id``, up to BULK_JOB_MAX_RECORDS each: create,
    upload the CSV, UploadComplete, poll until final, then read each record's result."""
    for start in range(0, len(updates), BULK_JOB_MAX_RECORDS):
        chunk = updates[start : start + BULK_JOB_MAX_RECORDS]
        done(_bulk_job(api, fields, chunk, polling))


def _bulk_job(
    api: SalesforceApi, fields: Sequence[str], updates: Sequence[UserUpdate], polling: BulkPolling
) -> list[WriteResult]:
    jobs = f"{api.data_path}/jobs/ingest"
    job = api.client.request(
        "POST",
        jobs,
        json={
            "object": "User",
            "operation": "update",
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        },
    ).json()
    job_id = job.get("id") if isinstance(job, dict) else None
    if not isinstance(job_id, str):
        raise SourceError("Salesforce did not answer a Bulk API job with its id")
    api.client.request(
        "PUT",
        f"{jobs}/{job_id}/batches",
        data=bulk_csv(fields, updates),
        headers={"Content-Type": "text/csv"},
    )
    api.client.request("PATCH", f"{jobs}/{job_id}", json={"state": "UploadComplete"})
    final = _poll(api, f"{jobs}/{job_id}", polling)
    return _bulk_results(api, f"{jobs}/{job_id}", final, updates)


def bulk_csv(fields: Sequence[str], updates: Sequence[UserUpdate]) -> bytes:
    """The upload: ``Id`` and the fields, LF line endings (the job says so), nulls as #N/A."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", *fields])
    for update in updates:
        writer.writerow([update.user_id, *(_csv_value(update.values.get(name)) for name in fields)])
    return out.getvalue().encode("utf-8")


def _csv_value(value: Any) -> str:
    return CSV_NULL if value is None else str(value)


def _poll(api: SalesforceApi, job_path: str, polling: BulkPolling) -> dict[str, Any]:
    """The job's info once it is final; waits grow from the first interval to 30 s."""
    deadline = time.monotonic() + polling.timeout_seconds
    interval = polling.first_interval_seconds
    while True:
        info = api.client.get_json(job_path)
        state = info.get("state") if isinstance(info, dict) else None
        if state in FINAL_JOB_STATES:
            return info
        if time.monotonic() + interval > deadline:
            raise SourceError(
                f"Salesforce Bulk API job {job_path.rsplit('/', 1)[1]} is still {state} after "
                f"{polling.timeout_seconds:.0f} s; its outcome is unknown, so nothing of it is "
                "recorded as pushed and the next push sends these records again"
            )
        time.sleep(interval)
        interval = min(interval * 2, MAX_POLL_INTERVAL_SECONDS)


def _bulk_results(
    api: SalesforceApi, job_path: str, info: dict[str, Any], updates: Sequence[UserUpdate]
) -> list[WriteResult]:
    """Each record's outcome from the job's result files; a record in neither (a failed or
    aborted job) failed with the job's own message."""
    results: dict[str, WriteResult] = {}
    try:
        for row in _result_rows(api, f"{job_path}/successfulResults/"):
            user_id = row.get("Id") or row.get("sf__Id") or ""  # the Id as it was sent
            results[user_id] = WriteResult(user_id, True)
        for row in _result_rows(api, f"{job_path}/failedResults/"):
            user_id = row.get("Id") or row.get("sf__Id") or ""
            code, message = split_bulk_error(row.get("sf__Error") or "")
            results[user_id] = WriteResult(user_id, False, code, message)
    except HttpStatusError:
        if info.get("state") == "JobComplete":
            raise
        # A job that failed as a whole may have no result files to give.
    job_error = str(info.get("errorMessage") or f"the job ended {info.get('state')}")
    return [
        results.get(u.user_id)
        or WriteResult(u.user_id, False, f"JOB_{str(info.get('state')).upper()}", job_error)
        for u in updates
    ]


def _result_rows(api: SalesforceApi, path: str) -> Iterator[dict[str, str]]:
    text = api.client.request("GET", path, headers={"Accept": "text/csv"}).text
    yield from csv.DictReader(io.StringIO(text))


def split_bulk_error(text: str) -> tuple[str, str]:
    """``ENTITY_IS_DELETED:entity is deleted:--`` -> (code, message)."""
    code, _, message = text.partition(":")
    message = message.removesuffix(":--").strip() or text
    return (code.strip() or "UNKNOWN_ERROR", message)
