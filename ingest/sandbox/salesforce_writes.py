"""Salesforce writes on ``User``: Bulk API 2.0 ingest jobs and sObject Collections.

Paths, under ``/services/data/vNN.N`` (same token, quota and ``Sforce-Limit-Info`` as reads):
``POST jobs/ingest`` · ``PUT jobs/ingest/{id}/batches`` (``text/csv``, once per job) ·
``PATCH jobs/ingest/{id}`` (``UploadComplete`` or ``Aborted``) · ``GET jobs/ingest/{id}``
(``InProgress`` for ``bulk_polls_in_progress`` polls, then its final state) ·
``GET jobs/ingest/{id}/successfulResults/``, ``failedResults/``, ``unprocessedrecords/`` ·
``PATCH composite/sobjects`` (sObject Collections update, up to 200 records).

Only ``update`` of ``User`` is emulated. A job is processed when a poll first reveals its
final state. Written values live in the world's ``UserWrites``: they outlive day changes,
and each write moves its users' LastModifiedDate and SystemModstamp to one moment later than
anything served so far, so a loader run right after a push reads the change incrementally.
Error codes and texts are Salesforce's own (Bulk API 2.0 and REST API guides, and answers
quoted by public clients).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ingest.sandbox.clock import day_start, salesforce_datetime
from ingest.sandbox.salesforce import (
    LEARNING_FIELDS,
    USER_FIELDS,
    FieldSpec,
    error,
    id_suffix,
    salesforce_id,
    updateable,
    user_fields,
    user_id,
    user_index,
)
from ingest.sandbox.web import Request, Response, json_response
from ingest.sandbox.world import Settings, World

MAX_COLLECTION_RECORDS = 200
NULL_CELL = "#N/A"  # a Bulk API cell that sets its field to null (an empty cell leaves it)
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
FINAL_STATES = ("JobComplete", "Failed", "Aborted")
# Messages Salesforce gives with the codes tests script through ``write_failures``.
FAILURE_MESSAGES = {
    "ENTITY_IS_DELETED": "entity is deleted",
    "INVALID_CROSS_REFERENCE_KEY": "invalid cross reference id",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "The record failed a validation rule",
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
}
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header"
)
FIELD_SECURITY = (
    "Please check the security settings of this field and verify that it is read/write for "
    "your profile or permission set."
)
WRITE_SETTINGS = (
    "absent_user_fields",
    "read_only_user_fields",
    "bulk_polls_in_progress",
    "write_failures",
    "failing_bulk_jobs",
)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordError:
    """Why one record was not written: Salesforce's status code, message and fields."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_collections(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def as_bulk(self) -> str:
        """``sf__Error``: ``CODE:message:Field --`` (``CODE:message:--`` without fields)."""
        return f"{self.code}:{self.message}:{','.join(self.fields)}{' ' if self.fields else ''}--"


class RecordFailed(Exception):
    def __init__(self, reason: RecordError) -> None:
        super().__init__(reason.message)
        self.reason = reason


class RequestRejected(Exception):
    """The whole sObject Collections request is refused (400), as Salesforce refuses it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Attempt:
    """One record of a write: the Id as sent, the user it names, what it sets, and why not."""

    sent_id: str
    index: int | None
    fields: dict[str, Any]
    error: RecordError | None = None

    def log_entry(self, via: str) -> dict[str, Any]:
        return {"via": via, "id": self.sent_id, "fields": self.fields, "success": not self.error}


def resolve_user(world: World, sent: str) -> int:
    """The index of the user an Id names; RecordFailed as Salesforce answers a bad one."""
    if not sent:
        raise RecordFailed(RecordError("MISSING_ARGUMENT", "Id not specified in an update call"))
    index = user_index(sent)
    if index is None or (len(sent) == 18 and sent[15:] != id_suffix(sent[:15])):
        raise RecordFailed(
            RecordError("MALFORMED_ID", f"User ID: id value of incorrect type: {sent}", ("Id",))
        )
    if not 0 <= index < world.company.salesforce_users or user_id(index)[:15] != sent[:15]:
        raise RecordFailed(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"))
    return index


def scripted_failure(settings: Settings, index: int) -> RecordError | None:
    """The failure a test set for this user (``write_failures``), by 18- or 15-char Id."""
    if not settings.write_failures:
        return None
    sf_id = user_id(index)
    code = settings.write_failures.get(sf_id) or settings.write_failures.get(sf_id[:15])
    if code is None:
        return None
    return RecordError(code, FAILURE_MESSAGES.get(code, "sandbox write failure"))


# --------------------------------------------------------------------------- values


def cell_value(world: World, spec: FieldSpec, text: str, column: int) -> Any:
    """A Bulk API cell (not empty) as the value it sets, or RecordFailed."""
    if text == NULL_CELL:
        return checked_value(world, spec, None)
    try:
        value = _parse_text(spec, text)
    except ValueError:
        raise RecordFailed(
            RecordError(
                "INVALID_FIELD",
                f"Failed to deserialize field at col {column}. Due to, '{text}' is not a valid "
                f"value for the type {spec.soap_type}",
                (spec.name,),
            )
        ) from None
    return checked_value(world, spec, value)


def _parse_text(spec: FieldSpec, text: str) -> Any:
    if spec.type == "double":
        if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text):
            raise ValueError(text)
        return Decimal(text)
    if spec.type == "date":
        return _date(text)
    if spec.type == "boolean":
        if text.lower() not in ("true", "false"):
            raise ValueError(text)
        return text.lower() == "true"
    return text


def json_value(world: World, spec: FieldSpec, value: Any) -> Any:
    """A JSON value as the value it sets: RequestRejected if it cannot be read as the
    field's type (Salesforce refuses the whole request), RecordFailed if the field refuses it."""
    if value is None:
        return checked_value(world, spec, None)
    try:
        if spec.type == "double":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(value)  # NaN and Infinity are not JSON
            parsed: Any = _parse_text(spec, value if isinstance(value, str) else str(value))
        elif spec.type == "date":
            parsed = _date(value) if isinstance(value, str) else _refuse(value)
        elif spec.type == "boolean":
            parsed = value if isinstance(value, bool) else _refuse(value)
        elif isinstance(value, dict | list):
            raise ValueError(value)
        else:  # text fields take JSON scalars as their text
            parsed = value if isinstance(value, str) else _json_text(value)
    except ValueError:
        kind = {"double": "double", "date": "date", "boolean": "boolean"}.get(spec.type, "String")
        raise RequestRejected(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {kind} from {_json_token(value)} value "
            f"{_json_text(value)} or request may be missing a required field",
        ) from None
    return checked_value(world, spec, parsed)


def checked_value(world: World, spec: FieldSpec, value: Any) -> Any:
    """The value as stored and served, once the field's own rules accept it."""
    label = spec.label
    if value is None:
        if not spec.nillable:
            raise RecordFailed(
                RecordError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{spec.name}]",
                    (spec.name,),
                )
            )
        return None
    if spec.type == "double":
        return _number(spec, value)
    if not isinstance(value, str) or spec.type == "date":
        return value
    if spec.length and len(value) > spec.length:
        raise RecordFailed(
            RecordError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {value[:40]} (max length={spec.length})",
                (spec.name,),
            )
        )
    if spec.restricted and value not in spec.picklist:
        raise RecordFailed(
            RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{label}: bad value for restricted picklist field: {value}",
                (spec.name,),
            )
        )
    if spec.type == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise RecordFailed(
            RecordError(
                "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {value}", (spec.name,)
            )
        )
    if spec.type == "reference":
        return _reference(world, spec, value)
    return value


def _number(spec: FieldSpec, value: Decimal) -> float:
    """Rounded to the field's scale; more integer digits than it holds fail the record.
    Served as a JSON number with a fraction (``3.0``), as Salesforce's REST API sends them."""
    rounded = value.quantize(Decimal(1).scaleb(-spec.scale), rounding=ROUND_HALF_UP)
    if spec.precision and rounded.adjusted() >= spec.precision - spec.scale:
        raise RecordFailed(
            RecordError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{spec.label}: value outside of valid range on numeric field: {value}",
                (spec.name,),
            )
        )
    return float(rounded)


def _date(text: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    dt.date.fromisoformat(text)  # a day that does not exist raises ValueError
    return text


def _reference(world: World, spec: FieldSpec, value: str) -> str:
    try:
        return user_id(resolve_user(world, value))
    except RecordFailed as failed:
        if failed.reason.code == "INVALID_CROSS_REFERENCE_KEY":
            raise
        raise RecordFailed(
            RecordError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{spec.label}: id value of incorrect type: {value}",
                (spec.name,),
            )
        ) from None


def _refuse(value: Any) -> Any:
    raise ValueError(value)


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json_token(value: Any) -> str:
    """Jackson's name for a JSON value's token, as Salesforce quotes it in parser errors."""
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "VALUE_STRING"


# --------------------------------------------------------------------------- CSV


class CsvRejected(Exception):
    """The upload cannot be read: the whole job fails with this message."""


def csv_pattern(delimiter: str) -> re.Pattern[str]:
    """One cell (RFC 4180: quoted with ``""`` for a quote, or plain) and what ends it."""
    d = re.escape(delimiter)
    return re.compile(rf'(?:"((?:[^"]|"")*)"|([^"\r\n{d}]*))({d}|\r\n|\n|\r|\Z)')


def parse_csv(text: str, delimiter: str, line_ending: str) -> list[list[str]]:
    """The rows of an upload; a row ended otherwise than the job says fails the job, as in
    Salesforce (newlines inside quoted cells are data, not row ends). Blank rows are skipped."""
    pattern, expected = csv_pattern(delimiter), LINE_ENDINGS[line_ending]
    rows: list[list[str]] = []
    row: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        match = pattern.match(text, pos)
        if match is None:
            line = text.count("\n", 0, pos) + 1
            raise CsvRejected(f"ClientInputError : Malformed CSV (a stray quote?) on line {line}")
        quoted, plain, ended_by = match.groups()
        row.append(plain if quoted is None else quoted.replace('""', '"'))
        pos = match.end()
        if ended_by == delimiter:
            if pos == end:  # a delimiter ending the data leaves an empty last cell
                row.append("")
            continue
        if ended_by and ended_by != expected:
            raise CsvRejected(
                "ClientInputError : LineEnding is invalid on user data. "
                f"Current LineEnding setting is {line_ending}"
            )
        rows.append(row)
        row = []
    if row:
        rows.append(row)
    return [r for r in rows if r != [""]]


def csv_text(header: list[str], rows: Iterable[list[str]]) -> bytes:
    """Result CSV as Salesforce writes it: ``sf__`` names quoted, the uploaded column names
    as they came (quoted only where they must be), every value quoted, LF row ends."""

    def name(text: str) -> str:
        must = text.startswith("sf__") or re.search(r'[,"\r\n]', text)
        return _quote(text) if must else text

    lines = [",".join(name(h) for h in header)]
    lines += [",".join(_quote(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


# --------------------------------------------------------------------------- bulk jobs


@dataclass
class BulkJob:
    id: str
    version: str
    line_ending: str
    delimiter: str
    created: int
    modstamp: int
    state: str = "Open"
    data: bytes | None = None
    polls: int = 0
    error_message: str | None = None
    header: list[str] = field(default_factory=list)
    # (cells as uploaded, sf__Id, why it failed or None), in upload order.
    results: list[tuple[list[str], str, RecordError | None]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """JobInfo in Salesforce's key order (Get Job Info)."""
        failed = sum(1 for *_, why in self.results if why is not None)
        body = self.head()
        body.update(
            {
                "jobType": "V2Ingest",
                "lineEnding": self.line_ending,
                "columnDelimiter": self.delimiter,
                "numberRecordsProcessed": len(self.results),
                "numberRecordsFailed": failed,
                "retries": 0,
                "totalProcessingTime": 5 * len(self.results),
                "apiActiveProcessingTime": 4 * len(self.results),
                "apexProcessingTime": 0,
            }
        )
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        return body

    def created_info(self) -> dict[str, Any]:
        """What Create a Job answers: the job, where to upload, and how to write the CSV."""
        return {
            **self.head(),
            "contentUrl": f"services/data/v{self.version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter,
        }

    def head(self) -> dict[str, Any]:
        """What every JobInfo starts with; Upload Complete and Abort answer just this."""
        return {
            "id": self.id,
            "operation": "update",
            "object": "User",
            "createdById": user_id(0),  # the integration user the token belongs to
            "createdDate": salesforce_datetime(self.created),
            "systemModstamp": salesforce_datetime(self.modstamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
        }


def bulk_error(status: int, code: str, message: str) -> Response:
    """Bulk API 2.0 errors: ``[{"errorCode", "message"}]``."""
    return json_response(status, [{"errorCode": code, "message": message}])


def _not_found() -> Response:
    return bulk_error(404, "NOT_FOUND", "The requested resource does not exist")


class SalesforceWrites:
    """The write paths of the Salesforce stand-in (see the module docstring)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._jobs: dict[str, BulkJob] = {}
        self._lock = threading.Lock()
        self._served: tuple[int, int] = (-1, 0)  # (day, its latest generated SystemModstamp)

    def route(self, request: Request, version: str, rest: str) -> Response | None:
        method = request.method
        if rest == "/composite/sobjects":
            if method != "PATCH":
                return _method_not_allowed(method, "PATCH")
            return self._collections(request)
        if rest == "/jobs/ingest":
            if method != "POST":
                return _method_not_allowed(method, "POST")
            return self._create_job(request, version)
        match = re.fullmatch(r"/jobs/ingest/(\w+)(?:/(\w+))?", rest)
        if match is None:
            return None
        job_id, part = match.groups()
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return _not_found()
            return self._job_request(job, request, part)

    def _job_request(self, job: BulkJob, request: Request, part: str | None) -> Response:
        method = request.method
        if part is None:
            if method == "PATCH":
                return self._change_state(job, request)
            return self._poll(job) if method == "GET" else _method_not_allowed(method, "GET, PATCH")
        if part == "batches":
            return (
                self._upload(job, request)
                if method == "PUT"
                else _method_not_allowed(method, "PUT")
            )
        if part in ("successfulResults", "failedResults", "unprocessedrecords"):
            return (
                self._results(job, part) if method == "GET" else _method_not_allowed(method, "GET")
            )
        return _not_found()

    # ---- the moment of a write

    def _latest_served(self) -> int:
        """The latest SystemModstamp served today or written (a write must come after it),
        and not before today began: a write happens on the simulated day."""
        day = self.world.day
        if self._served[0] != day:
            stamps = self.world.company.state(day).salesforce.system_modstamp
            self._served = (day, max(day_start(day), max(stamps, default=0)))
        return max(self._served[1], self.world.user_writes.last_moment)

    def _commit(self, via: str, attempts: list[Attempt]) -> None:
        changes: dict[int, dict[str, Any]] = {}
        for attempt in attempts:
            if attempt.error is None and attempt.index is not None:
                changes.setdefault(attempt.index, {}).update(attempt.fields)
        log = [attempt.log_entry(via) for attempt in attempts]
        self.world.user_writes.commit(changes, log, after=self._latest_served())

    # ---- Bulk API 2.0: the job's life

    def _create_job(self, request: Request, version: str) -> Response:
        try:
            body = request.json()
        except ValueError:
            return bulk_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        if not isinstance(body, dict):
            return bulk_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        refusal = _refuse_job(body)
        if refusal is not None:
            return refusal
        with self._lock:
            now = self._latest_served()
            number = len(self._jobs) + 1
            job_id = salesforce_id("750", number, pod="5g")
            job = BulkJob(
                job_id,
                version,
                body.get("lineEnding", "LF"),
                body.get("columnDelimiter", "COMMA"),
                created=now,
                modstamp=now,
            )
            self._jobs[job_id] = job
        return json_response(200, job.created_info())

    def _upload(self, job: BulkJob, request: Request) -> Response:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "text/csv":
            return bulk_error(
                400,
                "INVALIDCONTENTTYPE",
                f"InvalidContentType : expected text/csv, got '{content_type}'",
            )
        if job.state != "Open":
            return bulk_error(
                400,
                "INVALIDJOBSTATE",
                f"InvalidJobState : Data goes only to an Open job; this one is {job.state}",
            )
        if job.data is not None:
            # Salesforce's words, spelling included.
            return bulk_error(
                400,
                "BULK_API_ERROR",
                f"Found multipe contents for job: <{job.id[:15]}>, please 'Close' / 'Abort' / "
                "'Delete' the current Job then create a new Job and make sure you only do 'PUT' "
                "once on a given Job.",
            )
        job.data = request.body
        return Response(201)

    def _change_state(self, job: BulkJob, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return bulk_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        wanted = body.get("state") if isinstance(body, dict) else None
        if wanted not in ("UploadComplete", "Aborted"):
            return bulk_error(
                400,
                "INVALIDJOBSTATE",
                f"InvalidJobState : Invalid state for an ingest job: {wanted}",
            )
        allowed = (
            ("Open",) if wanted == "UploadComplete" else ("Open", "UploadComplete", "InProgress")
        )
        if job.state not in allowed:
            return bulk_error(
                400,
                "INVALIDJOBSTATE",
                f"InvalidJobState : Cannot change a {job.state} job to {wanted}",
            )
        job.state, job.modstamp = wanted, self._latest_served()
        return json_response(200, job.head())

    def _poll(self, job: BulkJob) -> Response:
        """Answer InProgress ``bulk_polls_in_progress`` times, then process the job once."""
        if job.state in ("UploadComplete", "InProgress"):
            if job.polls < self.world.settings.bulk_polls_in_progress:
                job.polls += 1
                job.state = "InProgress"
            else:
                self._process(job)
                job.modstamp = self._latest_served()
        return json_response(200, job.info())

    def _results(self, job: BulkJob, part: str) -> Response:
        if job.state not in FINAL_STATES:
            return bulk_error(
                400,
                "INVALIDJOBSTATE",
                f"InvalidJobState : The job is {job.state}, not yet processed",
            )
        if part == "unprocessedrecords":
            if job.state == "JobComplete":
                return _csv_response(csv_text(job.header, []), 0)
            # Nothing of a failed or aborted job was processed: its upload comes back whole.
            return _csv_response(job.data or b"", None)
        failed = part == "failedResults"
        header = ["sf__Id", "sf__Error" if failed else "sf__Created", *job.header]
        rows = [
            [sf_id, why.as_bulk() if why else "false", *cells]
            for cells, sf_id, why in job.results
            if (why is not None) == failed
        ]
        return _csv_response(csv_text(header, rows), len(rows))

    # ---- Bulk API 2.0: processing

    def _process(self, job: BulkJob) -> None:
        settings = self.world.settings
        if settings.failing_bulk_jobs > 0:
            settings.failing_bulk_jobs -= 1
            job.state = "Failed"
            job.error_message = (
                "UNKNOWN_EXCEPTION : An unexpected error occurred. Please include this ErrorId "
                f"if you contact support: {job.id[-10:]}-1 (sandbox failing_bulk_jobs)"
            )
            return
        try:
            rows = _uploaded_rows(job)
            columns = self._columns(rows[0])
        except CsvRejected as rejected:
            job.state, job.error_message = "Failed", str(rejected)
            return
        job.header, data = rows[0], rows[1:]
        attempts = [self._row_attempt(columns, cells) for cells in data]
        self._commit("bulk", attempts)
        job.results = [
            (cells, "" if a.index is None else user_id(a.index), a.error)
            for cells, a in zip(data, attempts, strict=True)
        ]
        job.state = "JobComplete"

    def _columns(self, header: list[str]) -> list[FieldSpec]:
        """The field of each column; a name not found or not writable fails the whole job."""
        specs = {spec.name.lower(): spec for spec in user_fields(self.world, self.world.day)}
        columns = []
        for name in header:
            spec = specs.get(name.strip().lower())
            if spec is None:
                raise CsvRejected(f"InvalidBatch : Field name not found : {name}")
            if spec.name != "Id" and not updateable(self.world, spec):
                raise CsvRejected(
                    f"InvalidBatch : Unable to create/update fields: {spec.name}. {FIELD_SECURITY}"
                )
            if spec in columns:
                raise CsvRejected(f"InvalidBatch : Duplicate field name: {spec.name}")
            columns.append(spec)
        if not any(spec.name == "Id" for spec in columns):
            raise CsvRejected("InvalidBatch : The 'update' batch must contain an 'Id' column")
        return columns

    def _row_attempt(self, columns: list[FieldSpec], cells: list[str]) -> Attempt:
        values: dict[str, Any] = {}
        reason: RecordError | None = None
        sent_id = ""
        for number, (spec, text) in enumerate(zip(columns, cells, strict=True)):
            if spec.name == "Id":
                sent_id = text
            elif text != "":  # an empty cell leaves the field as it is
                try:
                    values[spec.name] = cell_value(self.world, spec, text, number)
                except RecordFailed as failed:
                    values[spec.name] = text
                    reason = reason or failed.reason
        return self._attempt(sent_id, values, reason)

    def _attempt(self, sent_id: str, values: dict[str, Any], reason: RecordError | None) -> Attempt:
        """The Id is judged first, then a scripted failure, then the values."""
        try:
            index = resolve_user(self.world, sent_id)
        except RecordFailed as failed:
            return Attempt(sent_id, None, values, failed.reason)
        scripted = scripted_failure(self.world.settings, index)
        return Attempt(sent_id, index, values, scripted or reason)

    # ---- sObject Collections

    def _collections(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            return error(400, "JSON_PARSER_ERROR", "The request body needs a 'records' list")
        if len(records) > MAX_COLLECTION_RECORDS:
            return error(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = body.get("allOrNone", False)
        if not isinstance(all_or_none, bool):
            return error(400, "JSON_PARSER_ERROR", "allOrNone must be true or false")
        with self._lock:
            try:
                attempts = [self._json_attempt(record) for record in records]
            except RequestRejected as rejected:
                return error(400, rejected.code, rejected.message)
            if all_or_none and any(a.error for a in attempts):
                for attempt in attempts:
                    attempt.error = attempt.error or RecordError(
                        "ALL_OR_NONE_OPERATION_ROLLED_BACK", ROLLED_BACK
                    )
            self._commit("collections", attempts)
        return json_response(200, [_save_result(a) for a in attempts])

    def _json_attempt(self, record: Any) -> Attempt:
        if not isinstance(record, dict):
            raise RequestRejected("JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes")
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        if not kind:
            raise RequestRejected("INVALID_TYPE", "Must send a concrete entity type.")
        if str(kind).lower() != "user":
            raise RequestRejected("INVALID_TYPE", f"sObject type '{kind}' is not supported.")
        specs = {spec.name.lower(): spec for spec in user_fields(self.world, self.world.day)}
        sent_id, values, reason, locked = "", {}, None, []
        for key, value in record.items():
            if key == "attributes":
                continue
            spec = specs.get(key.lower())
            if spec is None:
                raise RequestRejected(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type User"
                )
            if spec.name == "Id":
                sent_id = "" if value is None else value if isinstance(value, str) else str(value)
                continue
            if not updateable(self.world, spec):
                locked.append(spec.name)
                values[spec.name] = value
                continue
            try:
                values[spec.name] = json_value(self.world, spec, value)
            except RecordFailed as failed:
                values[spec.name] = value
                reason = reason or failed.reason
        if locked:
            reason = RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. {FIELD_SECURITY}",
                tuple(locked),
            )
        return self._attempt(sent_id, values, reason)


def _save_result(attempt: Attempt) -> dict[str, Any]:
    """A SaveResult: the id only when the record was saved, as Salesforce answers."""
    if attempt.error is None and attempt.index is not None:
        return {"id": user_id(attempt.index), "success": True, "errors": []}
    assert attempt.error is not None
    return {"success": False, "errors": [attempt.error.as_collections()]}


def _refuse_job(body: dict[str, Any]) -> Response | None:
    """Why a job cannot be created (Salesforce's answers), or None."""
    for name, allowed in (
        ("operation", OPERATIONS),
        ("contentType", ("CSV",)),
        ("lineEnding", tuple(LINE_ENDINGS)),
        ("columnDelimiter", tuple(DELIMITERS)),
    ):
        value = body.get(name, allowed[0] if name != "operation" else None)
        if value not in allowed:
            return bulk_error(
                400, "API_ERROR", f"Invalid value: '{value}' supplied for property: '{name}'"
            )
    if str(body.get("object", "")).lower() != "user":
        return bulk_error(
            400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object', '')}"
        )
    if body["operation"] != "update":
        return bulk_error(
            400,
            "INVALIDJOB",
            f"InvalidJob : This sandbox emulates only the 'update' operation on User, "
            f"not '{body['operation']}'",
        )
    return None


def _uploaded_rows(job: BulkJob) -> list[list[str]]:
    if not job.data:
        raise CsvRejected("InvalidBatch : No data was uploaded for this job")
    try:
        text = job.data.decode("utf-8")
    except UnicodeDecodeError:
        raise CsvRejected("ClientInputError : The uploaded data is not UTF-8") from None
    rows = parse_csv(text, DELIMITERS[job.delimiter], job.line_ending)
    if not rows:
        raise CsvRejected("InvalidBatch : No data was uploaded for this job")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise CsvRejected(
                f"ClientInputError : Row {number} has {len(row)} columns; the header has {width}"
            )
    return rows


def _csv_response(body: bytes, records: int | None) -> Response:
    headers = {"Sforce-Locator": "null"}
    if records is not None:
        headers["Sforce-NumberOfRecords"] = str(records)
    return Response(200, body, content_type="text/csv", headers=headers)


def _method_not_allowed(method: str, allowed: str) -> Response:
    return error(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


# --------------------------------------------------------------------------- settings


def apply_write_settings(settings: Settings, body: Mapping[str, Any]) -> None:
    """Set the write settings ``body`` names (checked; ValueError names what is wrong)."""
    learning = {spec.name for spec in LEARNING_FIELDS}
    known = learning | {spec.name for spec in USER_FIELDS}
    if "absent_user_fields" in body:
        absent = _names(body["absent_user_fields"], "absent_user_fields")
        if absent - learning:
            raise ValueError(
                f"absent_user_fields: {sorted(absent - learning)} are not among {sorted(learning)}"
            )
        settings.absent_user_fields = frozenset(absent)
    if "read_only_user_fields" in body:
        read_only = _names(body["read_only_user_fields"], "read_only_user_fields")
        if read_only - known:
            raise ValueError(
                f"read_only_user_fields: unknown User fields {sorted(read_only - known)}"
            )
        settings.read_only_user_fields = frozenset(read_only)
    if "bulk_polls_in_progress" in body:
        settings.bulk_polls_in_progress = _count(
            body["bulk_polls_in_progress"], "bulk_polls_in_progress"
        )
    if "failing_bulk_jobs" in body:
        settings.failing_bulk_jobs = _count(body["failing_bulk_jobs"], "failing_bulk_jobs")
    if "write_failures" in body:
        failures = body["write_failures"] or {}
        if not isinstance(failures, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in failures.items()
        ):
            raise ValueError("write_failures must map Salesforce user Ids to error codes")
        settings.write_failures = dict(failures)


def _names(value: Any, setting: str) -> set[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"{setting} must be a list of field names")
    return {str(name) for name in value}


def _count(value: Any, setting: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{setting} must be a whole number >= 0")
    return value
