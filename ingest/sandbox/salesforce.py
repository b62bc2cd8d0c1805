"""Salesforce REST API over the ``User`` object: OAuth, versions, describe and SOQL.

Paths: ``POST /services/oauth2/token``, ``GET /services/data/``,
``GET /services/data/vNN.N/sobjects/User/describe``, ``GET .../sobjects/User/{Id}``,
``GET .../query?q=``, ``GET .../queryAll?q=`` and ``GET .../query/{locator}-{offset}``;
the write paths (Bulk API 2.0 ``jobs/ingest``, ``composite/sobjects``) are answered by
``salesforce_writes.py`` behind the same token and quota. Errors are JSON arrays
``[{"message", "errorCode", "fields"}]``; every REST answer carries
``Sforce-Limit-Info: api-usage=used/limit``. Values clients wrote win over generated ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import operator
import re
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ingest.sandbox.clock import salesforce_datetime
from ingest.sandbox.company import AUDIT_PHASES, DIVISIONS, SalesforceUser, stable_hash
from ingest.sandbox.faults import Corruption
from ingest.sandbox.soql import (
    BoolOp,
    Comparison,
    Condition,
    InList,
    Literal,
    Query,
    SoqlError,
    parse_soql,
)
from ingest.sandbox.web import Request, Response, connection_reset, json_response
from ingest.sandbox.world import World

API = "salesforce"
VERSIONS = (
    ("Winter '24", "59.0"),
    ("Spring '24", "60.0"),
    ("Summer '24", "61.0"),
    ("Winter '25", "62.0"),
    ("Spring '25", "63.0"),
    ("Summer '25", "64.0"),
    ("Winter '26", "65.0"),
    ("Spring '26", "66.0"),
)
SUPPORTED_VERSIONS = {v for _label, v in VERSIONS}
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
TOKEN_LIFETIME_SECONDS = 2 * 3600
DRIFT_FIELD = "Cost_Center__c"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, number: int, pod: str = "5g") -> str:
    """An 18-character id: key prefix, pod, base-62 number and the case-safe suffix."""
    digits = ""
    for _ in range(10):
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    short = prefix + pod + digits
    return short + id_suffix(short)


def id_suffix(short: str) -> str:
    """The 3 characters that make a 15-character id case-safe: one per 5, flagging uppercase."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(short[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += _CHECKSUM[bits]
    return suffix


def user_id(index: int) -> str:
    return salesforce_id("005", 1_000_000 + index)


def user_index(sf_id: str) -> int | None:
    if len(sf_id) not in (15, 18) or not sf_id.startswith("005"):
        return None
    number = 0
    for ch in sf_id[5:15]:
        if ch not in _BASE62:
            return None
        number = number * 62 + _BASE62.index(ch)
    return number - 1_000_000


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    custom: bool = False
    length: int = 0
    nillable: bool = True
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    # A restricted picklist refuses values outside ``picklist``.
    restricted: bool = False
    # Numbers: Number(18, 0) is precision 18, scale 0.
    precision: int = 0
    scale: int = 0

    @property
    def soap_type(self) -> str:
        return {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "datetime": "xsd:dateTime",
            "date": "xsd:date",
            "double": "xsd:double",
        }.get(self.type, "xsd:string")


USER_FIELDS = (
    FieldSpec("Id", "id", "User ID", length=18, nillable=False),
    FieldSpec("Username", "string", "Username", length=80, nillable=False),
    FieldSpec("LastName", "string", "Last Name", length=80, nillable=False),
    FieldSpec("FirstName", "string", "First Name", length=40),
    FieldSpec("Name", "string", "Full Name", length=121, nillable=False),
    FieldSpec("Email", "email", "Email", length=128, nillable=False),
    FieldSpec("Title", "string", "Title", length=80),
    FieldSpec("Department", "string", "Department", length=80),
    FieldSpec("Division", "string", "Division", length=80),
    FieldSpec("IsActive", "boolean", "Active", nillable=False),
    FieldSpec("ManagerId", "reference", "Manager ID", length=18, reference_to=("User",)),
    FieldSpec("EmployeeNumber", "string", "Employee Number", length=20),
    FieldSpec("FederationIdentifier", "string", "SAML Federation ID", length=512),
    FieldSpec("UserType", "picklist", "User Type", length=40, picklist=("Standard",)),
    FieldSpec("CreatedDate", "datetime", "Created Date", nillable=False),
    FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", nillable=False),
    FieldSpec("SystemModstamp", "datetime", "System Modstamp", nillable=False),
    FieldSpec(
        "Audit_Phase__c", "picklist", "Audit Phase", custom=True, length=255, picklist=AUDIT_PHASES
    ),
)
COMPLIANCE_STATUSES = ("Compliant", "Due soon", "Overdue")
# Written back by reverse ETL (``python -m ingest push``); null until a client writes them.
LEARNING_FIELDS = (
    FieldSpec(
        "Learning_Compliance_Status__c",
        "picklist",
        "Learning Compliance Status",
        custom=True,
        length=255,
        picklist=COMPLIANCE_STATUSES,
        restricted=True,
    ),
    FieldSpec(
        "Learning_Overdue_Count__c",
        "double",
        "Learning Overdue Count",
        custom=True,
        precision=18,
        scale=0,
    ),
    FieldSpec("Learning_Next_Due_Date__c", "date", "Learning Next Due Date", custom=True),
    FieldSpec(
        "Learning_Certification_Expiry__c", "date", "Learning Certification Expiry", custom=True
    ),
    FieldSpec("Learning_Compliance_As_Of__c", "date", "Learning Compliance As Of", custom=True),
)
DRIFT_SPEC = FieldSpec(DRIFT_FIELD, "string", "Cost Center", custom=True, length=20)
CORRUPTION = Corruption(
    id_field="Id",
    date_field="SystemModstamp",
    bad_date="2026-02-30T25:61:00.000+0000",
    value_field="Audit_Phase__c",
    bad_value="Phase 9",
    protected=("attributes",),
    entity="User",
    text_field="Title",
)


def error(status: int, code: str, message: str, fields: list[str] | None = None) -> Response:
    return json_response(status, [{"message": message, "errorCode": code, "fields": fields or []}])


@dataclass
class Cursor:
    locator: str
    version: str
    day: int
    fields: tuple[str, ...]
    indices: array
    batch: int


class WriteRoutes(Protocol):
    """The write paths (``salesforce_writes.py``), served behind this API's token and quota."""

    def route(self, request: Request, version: str, rest: str) -> Response | None:
        """The answer when ``rest`` is one of its paths, else None."""


class SalesforceApi:
    def __init__(self, world: World, writes: WriteRoutes | None = None) -> None:
        self.world = world
        self.writes = writes
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._resumes = 0  # locators made by empty pages, so each one is new
        self._lock = threading.Lock()

    # ---- routing

    def handle(self, request: Request) -> Response:
        path = request.path
        if path == "/services/oauth2/token":
            return (
                self._token(request)
                if request.method == "POST"
                else error(405, "METHOD_NOT_ALLOWED", "POST only")
            )
        if path.rstrip("/") == "/services/data":
            return json_response(
                200,
                [
                    {"label": label, "url": f"/services/data/v{v}", "version": v}
                    for label, v in VERSIONS
                ],
            )
        match = re.fullmatch(r"/services/data/v(\d+\.\d)(/.*)?", path)
        if not match:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = match.group(1), (match.group(2) or "/").rstrip("/")
        if version not in SUPPORTED_VERSIONS:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        token = self.world.tokens.check(API, request.header("Authorization"))
        if token is None:
            return self._with_usage(error(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        allowed, _used, _limit = self.world.use_salesforce_api()
        if not allowed:
            return self._with_usage(
                error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            )
        write = None if self.writes is None else self.writes.route(request, version, rest)
        if write is not None:
            response = write
        elif request.method != "GET":
            response = error(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are GET",
            )
        elif rest == "/sobjects/User/describe":
            response = json_response(200, self._describe(version))
        elif rest.startswith("/sobjects/User/"):
            response = self._record(version, rest.rsplit("/", 1)[1])
        elif rest in ("/query", "/queryAll"):
            response = self._data(token, lambda: self._query(request, version, rest == "/queryAll"))
        elif rest.startswith(("/query/", "/queryAll/")):
            response = self._data(token, lambda: self._query_more(rest.rsplit("/", 1)[1]))
        elif rest.startswith("/sobjects/"):
            response = error(404, "NOT_FOUND", "The requested resource does not exist")
        else:
            response = error(404, "NOT_FOUND", "The requested resource does not exist")
        return self._with_usage(response)

    def _with_usage(self, response: Response) -> Response:
        used, limit = (
            self.world.salesforce_api_usage,
            self.world.settings.salesforce_daily_api_limit,
        )
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
        return response

    # ---- OAuth 2.0 client credentials

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        creds = self.world.credentials
        if self.world.faults[API].take_token_failure():
            return json_response(
                503,
                {
                    "error": "temporarily_unavailable",
                    "error_description": "the token service is unavailable, retry later",
                },
            )
        if form.get("grant_type") != "client_credentials":
            return json_response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if form.get("client_id") != creds.salesforce_client_id:
            return json_response(
                400,
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            )
        if form.get("client_secret") != creds.salesforce_client_secret:
            return json_response(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        org_id = salesforce_id("00D", creds.salesforce_org_id_seed % 10**6, pod="5g")
        token = self.world.tokens.issue(
            API, creds.salesforce_client_id, TOKEN_LIFETIME_SECONDS, prefix=f"{org_id[:15]}!"
        )
        issued_at = str(int(time.time() * 1000))
        identity = f"{request.base_url}/id/{org_id}/{user_id(0)}"
        signature = hmac.new(
            creds.salesforce_client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        )
        return json_response(
            200,
            {
                "access_token": token.value,
                "instance_url": request.base_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(signature.digest()).decode("ascii"),
            },
        )

    # ---- describe and records

    def fields(self, day: int) -> tuple[FieldSpec, ...]:
        return user_fields(self.world, day)

    def _describe(self, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/User"
        return {
            "name": "User",
            "label": "User",
            "labelPlural": "Users",
            "keyPrefix": "005",
            "custom": False,
            "createable": True,
            "updateable": True,
            "deletable": False,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "fields": [
                _describe_field(spec, updateable(self.world, spec))
                for spec in self.fields(self.world.day)
            ],
            "childRelationships": [],
            "urls": {
                "sobject": base,
                "describe": f"{base}/describe",
                "rowTemplate": f"{base}/{{ID}}",
            },
        }

    def _record(self, version: str, sf_id: str) -> Response:
        index = user_index(sf_id)
        day = self.world.day
        if index is None or not 0 <= index < self.world.company.salesforce_users:
            return error(404, "NOT_FOUND", "The requested resource does not exist")
        names = tuple(spec.name for spec in self.fields(day))
        return json_response(200, self._format(version, Row(self, index, day), names))

    # ---- SOQL

    def _data(self, token: Any, produce: Callable[[], Response]) -> Response:
        """Apply per-request faults around a data page (query or queryMore)."""
        injector = self.world.faults[API]
        if injector.take_connection_reset():
            return connection_reset()
        rejection = injector.reject_data_request()
        if rejection is not None:
            if rejection.status == 429:
                response = error(429, "REQUEST_LIMIT_EXCEEDED", "Too many requests: retry later")
                response.headers["Retry-After"] = str(rejection.retry_after)
                return response
            return error(rejection.status, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
        response = produce()
        if response.status == 200:
            self.world.tokens.count_page(token, injector.token_page_limit)
            response.truncate = injector.take_truncate()
            response.stall_seconds = injector.take_stall()
        return response

    def _query(self, request: Request, version: str, include_deleted: bool) -> Response:
        text = request.query.get("q")
        if text is None:
            return error(400, "MALFORMED_QUERY", "A query string has to be specified")
        day = self.world.day
        try:
            query = parse_soql(text)
            fields, indices = self._execute(query, day)
        except SoqlError as exc:
            return error(400, exc.error_code, exc.message)
        batch = _batch_size(request.header("Sforce-Query-Options"))
        locator = salesforce_id(
            "01g", stable_hash(self.world.seed, day, text, batch, include_deleted) % 62**10
        )
        cursor = Cursor(locator, version, day, fields, indices, batch)
        with self._lock:
            self._cursors[locator] = cursor
            self._cursors.move_to_end(locator)
            while len(self._cursors) > 16:
                self._cursors.popitem(last=False)
        return self._page(cursor, 0)

    def _query_more(self, token: str) -> Response:
        locator, _, offset = token.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(locator)
        if cursor is None or not offset.isdigit():
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, int(offset))

    def _page(self, cursor: Cursor, offset: int) -> Response:
        shape = self.world.settings.shape
        total = 0 if shape.is_empty(API, "User") else len(cursor.indices)
        end = min(total, offset + cursor.batch)
        records = [
            self._format(cursor.version, Row(self, cursor.indices[k], cursor.day), cursor.fields)
            for k in range(offset, end)
        ]
        records = shape.reshape(API, "User", records)
        injector = self.world.faults[API]
        if injector.take_empty_page(offset, total):
            return self._empty_page(cursor, offset, total)
        records = injector.malform(records, self.world.seed, CORRUPTION)
        following = injector.next_offset(offset, cursor.batch, total)
        body: dict[str, Any] = {"totalSize": total, "done": following is None}
        if following is not None:
            # Relative, as Salesforce sends it; absolute only when a fault sends it elsewhere.
            origin = injector.link_origin("")
            body["nextRecordsUrl"] = (
                f"{origin}/services/data/v{cursor.version}/query/{cursor.locator}-{following}"
            )
        if not injector.take_unknown_shape():
            body["records"] = records
        return json_response(200, body)

    def _empty_page(self, cursor: Cursor, offset: int, total: int) -> Response:
        """No records, and a new locator that resumes at ``offset``: the walk goes on."""
        with self._lock:
            self._resumes += 1
            locator = salesforce_id(
                "01g", stable_hash(self.world.seed, cursor.locator, self._resumes) % 62**10
            )
            self._cursors[locator] = replace(cursor, locator=locator)
            while len(self._cursors) > 16:
                self._cursors.popitem(last=False)
        origin = self.world.faults[API].link_origin("")
        link = f"{origin}/services/data/v{cursor.version}/query/{locator}-{offset}"
        return json_response(
            200, {"totalSize": total, "done": False, "nextRecordsUrl": link, "records": []}
        )

    def _format(self, version: str, row: Row, names: tuple[str, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "attributes": {
                "type": "User",
                "url": f"/services/data/v{version}/sobjects/User/{row.get('Id')}",
            }
        }
        for name in names:
            value = row.get(name)
            record[name] = (
                salesforce_datetime(value) if name in _DATETIMES and value is not None else value
            )
        return record

    def _execute(self, query: Query, day: int) -> tuple[tuple[str, ...], array]:
        if query.sobject.lower() != "user":
            raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        specs = {spec.name.lower(): spec for spec in self.fields(day)}

        def resolve(name: str) -> FieldSpec:
            spec = specs.get(name.lower())
            if spec is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity 'User'. If you are attempting to use a "
                    "custom field, be sure to append the '__c' after the custom field name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                )
            return spec

        fields = tuple(resolve(name).name for name in query.fields)
        predicate = _compile(query.where, resolve) if query.where else None
        count = self.world.company.salesforce_users
        chosen = [j for j in range(count) if predicate is None or predicate(Row(self, j, day))]
        for key in reversed(query.order_by):
            spec = resolve(key.field)
            fold = spec.type not in ("id", "reference")  # ids are case-sensitive
            values = {j: Row(self, j, day).get(spec.name) for j in chosen}
            nulls_high = key.nulls_last != key.descending
            chosen.sort(
                key=lambda j, v=values: _sort_key(v[j], nulls_high, fold), reverse=key.descending
            )
        if query.offset:
            chosen = chosen[query.offset :]
        if query.limit is not None:
            chosen = chosen[: query.limit]
        return fields, array("i", chosen)


def user_fields(world: World, day: int) -> tuple[FieldSpec, ...]:
    """The User fields this tenant has on ``day`` (describe's ``fields``, in order)."""
    absent = world.settings.absent_user_fields
    learning = tuple(spec for spec in LEARNING_FIELDS if spec.name not in absent)
    drift = world.faults[API].drift_active(day)
    return USER_FIELDS + learning + ((DRIFT_SPEC,) if drift else ())


def updateable(world: World, spec: FieldSpec) -> bool:
    """Whether a client may write ``spec`` (describe's ``createable`` and ``updateable``)."""
    return spec.name not in _SYSTEM_FIELDS and spec.name not in world.settings.read_only_user_fields


_DATETIMES = {"CreatedDate", "LastModifiedDate", "SystemModstamp"}


class Row:
    """Field values of one user at one day; array-backed fields avoid building the record."""

    __slots__ = ("_user", "api", "cols", "day", "index", "written")

    def __init__(self, api: SalesforceApi, index: int, day: int) -> None:
        self.api, self.index, self.day = api, index, day
        self.cols = api.world.company.state(day).salesforce
        self._user: SalesforceUser | None = None
        self.written = api.world.user_writes.users.get(index)

    def get(self, name: str) -> Any:
        written = self.written
        if written is not None and name in written.values:
            return written.values[name]
        fast = _FAST.get(name)
        if fast is not None:
            return fast(self)
        if self._user is None:
            self._user = self.api.world.company.salesforce_user(self.index, self.day)
        return _FROM_RECORD[name](self._user)


def _since_write(row: Row, generated: int) -> int:
    """A write moves LastModifiedDate and SystemModstamp on; the later moment wins."""
    written = row.written
    return generated if written is None or written.moment < generated else written.moment


_FAST: dict[str, Callable[[Row], Any]] = {
    "Id": lambda r: user_id(r.index),
    "SystemModstamp": lambda r: _since_write(r, r.cols.system_modstamp[r.index]),
    "LastModifiedDate": lambda r: _since_write(r, r.cols.last_modified[r.index]),
    "IsActive": lambda r: bool(r.cols.active[r.index]),
    "Division": lambda r: DIVISIONS[r.cols.division[r.index]],
    "Audit_Phase__c": lambda r: AUDIT_PHASES[r.cols.phase[r.index]],
    "UserType": lambda r: "Standard",
    DRIFT_FIELD: lambda r: f"CC-{1000 + stable_hash(r.api.world.seed, 'cc', r.index) % 9000}",
    # Null until written (written values are answered before these are asked).
    **{spec.name: lambda r: None for spec in LEARNING_FIELDS},
}
_FROM_RECORD: dict[str, Callable[[SalesforceUser], Any]] = {
    "Username": lambda u: u.username,
    "LastName": lambda u: u.last_name,
    "FirstName": lambda u: u.first_name,
    "Name": lambda u: f"{u.first_name} {u.last_name}",
    "Email": lambda u: u.email,
    "Title": lambda u: u.title,
    "Department": lambda u: u.department,
    "ManagerId": lambda u: None if u.manager is None else user_id(u.manager),
    "EmployeeNumber": lambda u: u.employee_number,
    "FederationIdentifier": lambda u: u.federation_id,
    "CreatedDate": lambda u: u.created,
}


# Salesforce sets these itself: no client may write them.
_SYSTEM_FIELDS = ("Id", "Name", "CreatedDate", "LastModifiedDate", "SystemModstamp")


def _describe_field(spec: FieldSpec, writable: bool) -> dict[str, Any]:
    """One entry of ``fields`` in a describe answer, in Salesforce's key order."""
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type,
        "soapType": spec.soap_type,
        "length": spec.length,
        "precision": spec.precision,
        "scale": spec.scale,
        "custom": spec.custom,
        "nillable": spec.nillable,
        "filterable": True,
        "sortable": spec.type != "reference",
        "createable": writable,
        "updateable": writable,
        "unique": spec.name in ("Id", "Username"),
        "referenceTo": list(spec.reference_to),
        "relationshipName": "Manager" if spec.name == "ManagerId" else None,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in spec.picklist
        ],
        "restrictedPicklist": spec.restricted,
    }


def _sort_key(value: Any, nulls_high: bool, fold: bool) -> tuple[int, Any]:
    """SOQL sorts text case-insensitively, with nulls first ascending unless told otherwise."""
    if value is None:
        return (1 if nulls_high else -1, "")
    return (0, value.lower() if fold and isinstance(value, str) else value)


def _batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N`` asks for 200..2000 records a page."""
    if header:
        match = re.search(r"batchSize\s*=\s*(\d+)", header)
        if match:
            return max(MIN_BATCH, min(MAX_BATCH, int(match.group(1))))
    return DEFAULT_BATCH


def _compile(condition: Condition, resolve: Callable[[str], FieldSpec]) -> Callable[[Row], bool]:
    """A WHERE condition as a test of one row; bad fields or values raise SoqlError now."""
    if isinstance(condition, BoolOp):
        return _compile_bool(condition, resolve)
    spec = resolve(condition.field)
    if isinstance(condition, InList):
        return _compile_membership(spec, condition)
    assert isinstance(condition, Comparison)
    return _compile_comparison(spec, condition)


def _compile_bool(condition: BoolOp, resolve: Callable[[str], FieldSpec]) -> Callable[[Row], bool]:
    parts = [_compile(p, resolve) for p in condition.parts]
    if condition.op == "and":
        return lambda row: all(p(row) for p in parts)
    if condition.op == "or":
        return lambda row: any(p(row) for p in parts)
    return lambda row: not parts[0](row)


def _compile_membership(spec: FieldSpec, condition: InList) -> Callable[[Row], bool]:
    """IN / NOT IN, matching text case-insensitively as SOQL does."""
    values = {_literal_value(spec, lit) for lit in condition.literals}
    values = {v.lower() if isinstance(v, str) else v for v in values}

    def member(row: Row) -> bool:
        value = row.get(spec.name)
        found = (value.lower() if isinstance(value, str) else value) in values
        return found != condition.negated

    return member


def _compile_comparison(spec: FieldSpec, condition: Comparison) -> Callable[[Row], bool]:
    """``field op literal``: text compares case-insensitively; a null value matches only !=."""
    op, target = condition.op, _literal_value(spec, condition.literal)
    if op == "like":
        return _compile_like(spec, target)
    if target is None:
        if op not in ("=", "!="):
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR", "null can only be compared with = or !="
            )
        return lambda row: (row.get(spec.name) is None) == (op == "=")
    norm = (lambda v: v.lower()) if isinstance(target, str) else (lambda v: v)
    target = norm(target)
    test = _COMPARISONS[op]

    def check(row: Row) -> bool:
        value = row.get(spec.name)
        if value is None:
            return op == "!="
        return test(norm(value), target)

    return check


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compile_like(spec: FieldSpec, target: Any) -> Callable[[Row], bool]:
    """LIKE: ``%`` any run of characters, ``_`` one character, case-insensitively."""
    if not isinstance(target, str):
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", "LIKE needs a string value")
    pattern = re.compile(
        "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in target),
        re.IGNORECASE | re.DOTALL,
    )
    return lambda row: isinstance(v := row.get(spec.name), str) and bool(pattern.fullmatch(v))


_LITERAL_KINDS = {"datetime": "datetime", "boolean": "boolean", "date": "date", "double": "number"}
_SOQL_TYPES = {"datetime": "dateTime", "boolean": "boolean", "date": "date", "double": "double"}


def _literal_value(spec: FieldSpec, literal: Literal) -> Any:
    if literal.kind == "null":
        return None
    if literal.kind != _LITERAL_KINDS.get(spec.type, "string"):
        quoted = " and should not be enclosed in quotes" if literal.kind == "string" else ""
        raise SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{spec.name}' must be of type "
            f"{_SOQL_TYPES.get(spec.type, 'string')}{quoted}",
        )
    # Date values are kept as their wire text, which sorts as the dates do.
    return literal.text if spec.type == "date" else literal.value
