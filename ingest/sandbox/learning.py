"""SuccessFactors Learning: the Learning OAuth token server and three OData v4 services.

Paths (see README for the sources):
``POST /learning/oauth-api/rest/v1/token``;
``GET /learning/odatav4/public/admin/catalog-service/v1/Catalogs`` and
``.../CatalogsFeed('{catalogID}')/CoursesFeed`` (learning items);
``GET /learning/odatav4/public/user/learningplan-service/v1/UserTodoLearningItems``
(assignments, per learner); ``GET /learning/odatav4/public/user/userlearning-service/v1/
learninghistorys`` (alias ``LearningHistories``; completions, per learner); ``$metadata`` of
each service. Per-learner services take ``$filter=criteria/targetUserID eq '<id>'`` with an
admin token; every client is throttled to one call per ``learning_min_interval_seconds``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from ingest.sandbox.auth import Token
from ingest.sandbox.clock import SECONDS_PER_DAY, day_start, epoch_ms
from ingest.sandbox.company import stable_hash
from ingest.sandbox.coursework import Assignment, Completion, Course
from ingest.sandbox.faults import Corruption
from ingest.sandbox.odata_filter import ODataFilterError, equalities, parse_filter
from ingest.sandbox.web import (
    Request,
    Response,
    connection_reset,
    json_response,
    with_query,
    xml_response,
)
from ingest.sandbox.world import World

API = "learning"
ROOT = "/learning/odatav4/public"
TOKEN_LIFETIME_SECONDS = 1800
PAGE_SIZE = 100  # per-learner collections
CATALOG_PAGE_SIZE = 20  # the catalogue pages in smaller chunks
DRIFT_FIELD = "costCenterID"
CATALOGS = (
    ("CORPORATE", "Corporate catalog: every learning item"),
    ("COMPLIANCE", "Required compliance training"),
)
HISTORY_SETS = ("learninghistorys", "LearningHistories")
HISTORY_CORRUPTION = Corruption(
    "studentComponentID",
    "completionDate",
    "2026-13-45",
    "completionStatusID",
    "UNKNOWN-STATUS",
    entity="learninghistorys",
)
TODO_CORRUPTION = Corruption(
    "componentID",
    "requiredDate",
    "tomorrow",
    "componentTypeID",
    "???",
    entity="UserTodoLearningItems",
)
COURSE_CORRUPTION = Corruption(
    "componentID", "revisionDate", "not-a-date", "componentTypeID", "???", entity="CoursesFeed"
)


def v4_error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def oauth_error(status: int, code: str, description: str) -> Response:
    return json_response(status, {"error": code, "error_description": description})


class LearningApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self._last_call: dict[str, float] = {}
        self._lock = threading.Lock()
        self.throttled = 0  # calls answered 429 by the throttle: a polite client makes none
        self._resumes = 0  # skiptokens made by empty pages, so each one is new

    # ---- routing

    def handle(self, request: Request) -> Response:
        if request.path == "/learning/oauth-api/rest/v1/token":
            if request.method != "POST":
                return json_response(
                    405, {"error": "invalid_request", "error_description": "use POST"}
                )
            return self._token(request)
        token = self.world.tokens.check(API, request.header("Authorization"))
        if token is None:
            return json_response(
                401, {"error": "invalid_token", "error_description": "The token has expired."}
            )
        throttled = self._throttle(token.client_id)
        if throttled is not None:
            return throttled
        if not request.path.startswith(ROOT + "/"):
            return v4_error(404, "NOT_FOUND", f"No service at {request.path}")
        match = re.fullmatch(r"/(admin|user)/([\w-]+)/v1(/.*)?", request.path[len(ROOT) :])
        if not match:
            return v4_error(404, "NOT_FOUND", f"No service at {request.path}")
        audience, service, rest = match.group(1), match.group(2), (match.group(3) or "/")
        key = f"{audience}/{service}"
        if key not in SERVICES:
            return v4_error(404, "NOT_FOUND", f"No service {key}/v1")
        if rest == "/$metadata":
            return xml_response(200, self._metadata(key))
        if key == "admin/catalog-service" and token.user_type != "admin":
            return v4_error(403, "FORBIDDEN", "An admin token is required for this service")
        if key == "admin/catalog-service" and rest == "/Catalogs":
            return self._data(token, request, lambda: self._catalogs(request, key))
        courses = re.fullmatch(r"/CatalogsFeed\('([^']*)'\)/CoursesFeed", rest)
        if key == "admin/catalog-service" and courses:
            return self._data(token, request, lambda: self._courses(request, key, courses.group(1)))
        if key == "user/learningplan-service" and rest == "/UserTodoLearningItems":
            return self._data(
                token,
                request,
                lambda: self._per_learner(request, token, key, "UserTodoLearningItems"),
            )
        if key == "user/userlearning-service" and rest.lstrip("/") in HISTORY_SETS:
            return self._data(
                token, request, lambda: self._per_learner(request, token, key, rest.lstrip("/"))
            )
        return v4_error(404, "NOT_FOUND", f"Resource {rest} not found in {key}/v1")

    def _throttle(self, client_id: str) -> Response | None:
        """About one call per interval per client, as SAP throttles Learning services."""
        interval = self.world.settings.learning_min_interval_seconds
        now = time.monotonic()
        with self._lock:
            last = self._last_call.get(client_id)
            if interval > 0 and last is not None and now - last < interval:
                wait = max(1, math.ceil(interval - (now - last)))
                response = v4_error(429, "TOO_MANY_REQUESTS", "Rate limit exceeded: retry later")
                response.headers["Retry-After"] = str(wait)
                self.throttled += 1
                return response
            self._last_call[client_id] = now
        return None

    # ---- token server

    def _token(self, request: Request) -> Response:
        """HTTP Basic client credentials and a JSON scope naming the user the token acts as."""
        creds = self.world.credentials
        if self.world.faults[API].take_token_failure():
            return oauth_error(503, "temporarily_unavailable", "Please retry later")
        client_id, secret = _basic_credentials(request.header("Authorization"))
        if client_id != creds.learning_client_id or secret != creds.learning_client_secret:
            return oauth_error(401, "invalid_client", "Bad client credentials")
        grant = _read_grant(request)
        if grant is None:
            return oauth_error(
                400,
                "invalid_request",
                "expected grant_type and scope {userId, companyId, userType, resourceType}",
            )
        refusal = self._refuse_grant(grant)
        if refusal is not None:
            return refusal
        token = self.world.tokens.issue(
            API,
            client_id,
            TOKEN_LIFETIME_SECONDS,
            user_id=str(grant.user_id),
            user_type=grant.user_type,
        )
        return json_response(
            200,
            {
                "access_token": token.value,
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "token_type": "Bearer",
            },
        )

    def _refuse_grant(self, grant: _Grant) -> Response | None:
        """The error for a grant this tenant does not give, or None to issue the token."""
        creds = self.world.credentials
        if grant.grant_type != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", grant.grant_type)
        if (
            grant.company_id != creds.learning_company_id
            or grant.resource_type != "learning_public_api"
        ):
            return oauth_error(400, "invalid_scope", "unknown companyId or resourceType")
        if grant.user_type == "admin" and grant.user_id != creds.learning_user_id:
            return oauth_error(400, "invalid_scope", f"{grant.user_id} is not an admin")
        if (
            grant.user_type == "user"
            and self.world.company.employee_index(str(grant.user_id)) is None
        ):
            return oauth_error(400, "invalid_scope", f"unknown user {grant.user_id}")
        if grant.user_type not in ("admin", "user"):
            return oauth_error(400, "invalid_scope", "userType is admin or user")
        return None

    # ---- collections

    def _data(self, token: Token, request: Request, produce: Callable[[], Response]) -> Response:
        injector = self.world.faults[API]
        if injector.take_connection_reset():
            return connection_reset()
        rejection = injector.reject_data_request()
        if rejection is not None:
            response = v4_error(
                rejection.status,
                "TOO_MANY_REQUESTS" if rejection.status == 429 else "SERVICE_UNAVAILABLE",
                "Please retry later",
            )
            if rejection.retry_after is not None:
                response.headers["Retry-After"] = str(rejection.retry_after)
            return response
        response = produce()
        if response.status == 200:
            self.world.tokens.count_page(token, injector.token_page_limit)
            response.truncate = injector.take_truncate()
            response.stall_seconds = injector.take_stall()
        return response

    def _catalogs(self, request: Request, key: str) -> Response:
        rows = [{"catalogID": cid, "description": desc} for cid, desc in CATALOGS]
        return self._page(request, key, "Catalogs", rows, None)

    def _courses(self, request: Request, key: str, catalog: str) -> Response:
        if catalog not in {cid for cid, _ in CATALOGS}:
            return v4_error(404, "NOT_FOUND", f"Catalog {catalog} not found")
        day = self._day(request)
        courses = self.world.coursework.courses
        if catalog == "COMPLIANCE":
            courses = tuple(c for c in courses if c.retraining_days)
        drift = self.world.faults[API].drift_active(day)
        rows = [self._course_json(c, drift) for c in courses]
        return self._page(request, key, "CoursesFeed", rows, COURSE_CORRUPTION, CATALOG_PAGE_SIZE)

    def _course_json(self, course: Course, drift: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "criteria": None,
            "componentID": course.component_id,
            "componentTypeID": course.type_id,
            "revisionDate": epoch_ms(course.revision_date),
            "componentClassification": "COURSE",
            "title": course.title,
            "description": course.description,
            "domainID": course.domain,
            "domainDesc": course.domain.title(),
            "deliveryMethodID": course.delivery_method,
            "deliveryMethodDesc": "Online"
            if course.delivery_method == "ONLINE"
            else "Instructor-led",
            "totalLength": course.credit_hours,
            "creditHours": course.credit_hours,
            "cpeHours": course.cpe_hours,
            "contactHours": course.contact_hours,
            "active": course.active,
        }
        if drift:
            row[DRIFT_FIELD] = (
                f"CC-{1000 + stable_hash(self.world.seed, 'lcc', course.index) % 9000}"
            )
        return row

    def _per_learner(self, request: Request, token: Token, key: str, entity_set: str) -> Response:
        text = request.query.get("$filter")
        if not text:  # SAP: the filter is mandatory; these services are not for bulk reads
            return v4_error(
                400, "BAD_REQUEST", "The URI is malformed: $filter with criteria is required"
            )
        try:
            criteria = equalities(parse_filter(text))
        except ODataFilterError as exc:
            return v4_error(400, "BAD_REQUEST", f"The URI is malformed: {exc}")
        target = criteria.get("criteria/targetUserID")
        if token.user_type == "admin" and target is None:
            return v4_error(
                400, "BAD_REQUEST", "criteria/targetUserID is required with an admin token"
            )
        if token.user_type == "user":
            if target is not None and target != token.user_id:
                return v4_error(403, "FORBIDDEN", "A user token can only read its own records")
            target = token.user_id
        if self.world.faults[API].learner_unknown(str(target)):
            return v4_error(404, "NOT_FOUND", f"User with ID {target} does not exist")
        day = self._day(request)
        company = self.world.company
        index = company.employee_index(str(target))
        exists = index is not None and index < company.employee_count(day)
        drift = self.world.faults[API].drift_active(day)
        if entity_set == "UserTodoLearningItems":
            items = (
                self.world.coursework.assignments(index, day)
                if exists and index is not None
                else []
            )
            rows = [self._todo_json(str(target), a, day, drift) for a in items]
            limit = criteria.get("criteria/maxRowNum")
            corruption = TODO_CORRUPTION
        else:
            done = (
                self.world.coursework.completions(index, day)
                if exists and index is not None
                else []
            )
            rows = [self._history_json(c, n, drift) for n, c in enumerate(reversed(done))]
            rows = _history_window(rows, criteria)
            limit = criteria.get("criteria/maxNumberToRetrieve")
            corruption = HISTORY_CORRUPTION
        if isinstance(limit, float) and limit >= 0:
            rows = rows[: int(limit)]
        return self._page(request, key, entity_set, rows, corruption)

    def _todo_json(self, user: str, a: Assignment, day: int, drift: bool) -> dict[str, Any]:
        course = a.course
        row: dict[str, Any] = {
            "criteria": None,
            "userID": user,
            "componentTypeID": course.type_id,
            "componentTypeDesc": {
                "CERT": "Certification",
                "COURSE": "Course",
                "ELEARN": "eLearning",
            }[course.type_id],
            "componentID": course.component_id,
            "componentKey": 10_000 + course.index,
            "revisionDate": epoch_ms(course.revision_date),
            "revisionNumber": "1",
            "title": course.title,
            "description": course.description,
            "componentLength": course.credit_hours,
            "creditHours": course.credit_hours,
            "cpeHours": course.cpe_hours,
            "contactHours": course.contact_hours,
            "assignedDate": epoch_ms(a.assigned),
            "requiredDate": epoch_ms(a.required),
            # Whole days until the due date as of the simulated day; negative when overdue.
            "daysRemaining": math.floor((a.required - day_start(day)) / SECONDS_PER_DAY),
            "isRequired": True,
            "requirementTypeId": a.required_by,
            "requirementTypeDescription": {
                "ASSIGNMENT_PROFILE": "Required by assignment profile",
                "RETRAINING": "Retraining: certification expires",
                "MANAGER": "Assigned by manager",
            }[a.required_by],
            "addUser": "SYSTEM" if a.required_by != "MANAGER" else "MANAGER",
        }
        if drift:
            row[DRIFT_FIELD] = (
                f"CC-{1000 + stable_hash(self.world.seed, 'lcc', course.index) % 9000}"
            )
        return row

    def _history_json(self, c: Completion, seq: int, drift: bool) -> dict[str, Any]:
        course = c.course
        credit = course.credit_hours if c.passed else 0.0
        row: dict[str, Any] = {
            "criteria": None,
            "studentComponentID": c.record_key,
            "componentTypeID": course.type_id,
            "componentID": course.component_id,
            "componentKey": str(10_000 + course.index),
            "revisionDate": epoch_ms(course.revision_date),
            "revisionNumber": "1",
            "title": course.title,
            "completionStatusID": f"{course.type_id}-{'COMPLETE' if c.passed else 'FAILED'}",
            "completionStatusDesc": "Completed" if c.passed else "Failed",
            "completionDate": epoch_ms(c.completed),
            "grade": str(c.grade),
            "provideCredit": c.passed,
            "totalHours": course.credit_hours,
            "creditHours": credit,
            "contactHours": course.contact_hours if c.passed else 0.0,
            "cpeHours": course.cpe_hours if c.passed else 0.0,
            "instructorName": None,
            "comments": None,
            "lastUpdateTimestamp": epoch_ms(c.last_updated),
            "scheduleID": None,
            "seqNum": seq + 1,
        }
        if drift:
            row[DRIFT_FIELD] = (
                f"CC-{1000 + stable_hash(self.world.seed, 'lcc', course.index) % 9000}"
            )
        return row

    # ---- paging and metadata

    def _day(self, request: Request) -> int:
        """Later pages are read from the day the first page was (a bad token fails in _page)."""
        token = request.query.get("$skiptoken")
        try:
            return _decode_skiptoken(token)[1] if token else self.world.day
        except ValueError:
            return self.world.day

    def _page(
        self,
        request: Request,
        key: str,
        entity_set: str,
        rows: list[dict[str, Any]],
        corruption: Corruption | None,
        page_size: int = PAGE_SIZE,
    ) -> Response:
        params = request.query
        try:
            skip, top, offset = _paging(params)
        except ValueError:
            return v4_error(400, "BAD_REQUEST", "Invalid $top, $skip or $skiptoken")
        rows = self.world.settings.shape.reshape(API, entity_set, rows)
        rows = rows[skip:] if top is None else rows[skip : skip + top]
        total = len(rows)
        chunk = rows[offset : offset + page_size]
        injector = self.world.faults[API]
        if corruption is not None:
            chunk = injector.malform(chunk, self.world.seed, corruption)
        # An empty page resumes where it stood, under a skiptoken not seen before.
        resumed = injector.take_empty_page(offset, total)
        if resumed:
            chunk = []
        service_root = f"{request.base_url}{ROOT}/{key}/v1"
        body: dict[str, Any] = {"@odata.context": f"{service_root}/$metadata#{entity_set}"}
        if params.get("$count") == "true":
            body["@odata.count"] = total
        if not injector.take_unknown_shape():
            body["value"] = chunk
        following = offset if resumed else injector.next_offset(offset, page_size, total)
        if following is not None:
            body["@odata.nextLink"] = self._next_link(request, following, resumed)
        return json_response(200, body)

    def _next_link(self, request: Request, following: int, resumed: bool) -> str:
        """This request again with a ``$skiptoken`` for ``following``, pinned to its day."""
        kept = [
            (k, v)
            for k, v in parse_qsl(request.query_string, keep_blank_values=True)
            if k != "$skiptoken"
        ]
        resume = 0
        if resumed:
            with self._lock:
                self._resumes += 1
                resume = self._resumes
        token = _encode_skiptoken(following, self._day(request), resume)
        origin = self.world.faults[API].link_origin(request.base_url)
        return with_query(f"{origin}{request.path}", dict([*kept, ("$skiptoken", token)]))

    def _metadata(self, key: str) -> str:
        sets = "".join(
            f'<EntitySet Name="{name}" EntityType="{_NAMESPACE}.{etype}"/>'
            for name, etype in SERVICES[key]
        )
        types = "".join(
            f'<EntityType Name="{etype}"><Key><PropertyRef Name="{TYPES[etype][0][0]}"/></Key>'
            + "".join(f'<Property Name="{n}" Type="{t}"/>' for n, t in TYPES[etype])
            + "</EntityType>"
            for etype in dict.fromkeys(etype for _name, etype in SERVICES[key])
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
            "<edmx:DataServices>"
            f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{_NAMESPACE}">'
            f'{types}<EntityContainer Name="EntityContainer">{sets}</EntityContainer>'
            "</Schema></edmx:DataServices></edmx:Edmx>"
        )


_NAMESPACE = "com.sap.lms.odata"
SERVICES: dict[str, tuple[tuple[str, str], ...]] = {
    "admin/catalog-service": (("Catalogs", "Catalog"), ("CoursesFeed", "CourseFeed")),
    "user/learningplan-service": (("UserTodoLearningItems", "UserTodoLearningItem"),),
    "user/userlearning-service": (
        ("learninghistorys", "LearningHistory"),
        ("LearningHistories", "LearningHistory"),
    ),
}
_S, _D, _L, _B, _I = "Edm.String", "Edm.Double", "Edm.Int64", "Edm.Boolean", "Edm.Int32"
TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "Catalog": (("catalogID", _S), ("description", _S)),
    "CourseFeed": (
        ("componentID", _S),
        ("componentTypeID", _S),
        ("revisionDate", _L),
        ("componentClassification", _S),
        ("title", _S),
        ("description", _S),
        ("domainID", _S),
        ("domainDesc", _S),
        ("deliveryMethodID", _S),
        ("deliveryMethodDesc", _S),
        ("totalLength", _D),
        ("creditHours", _D),
        ("cpeHours", _D),
        ("contactHours", _D),
        ("active", _B),
    ),
    "UserTodoLearningItem": (
        ("componentID", _S),
        ("userID", _S),
        ("componentTypeID", _S),
        ("componentTypeDesc", _S),
        ("componentKey", _L),
        ("revisionDate", _L),
        ("revisionNumber", _S),
        ("title", _S),
        ("description", _S),
        ("componentLength", _D),
        ("creditHours", _D),
        ("cpeHours", _D),
        ("contactHours", _D),
        ("assignedDate", _L),
        ("requiredDate", _L),
        ("daysRemaining", _I),
        ("isRequired", _B),
        ("requirementTypeId", _S),
        ("requirementTypeDescription", _S),
        ("addUser", _S),
    ),
    "LearningHistory": (
        ("studentComponentID", _L),
        ("componentTypeID", _S),
        ("componentID", _S),
        ("componentKey", _S),
        ("revisionDate", _L),
        ("revisionNumber", _S),
        ("title", _S),
        ("completionStatusID", _S),
        ("completionStatusDesc", _S),
        ("completionDate", _L),
        ("grade", _S),
        ("provideCredit", _B),
        ("totalHours", _D),
        ("creditHours", _D),
        ("contactHours", _D),
        ("cpeHours", _D),
        ("instructorName", _S),
        ("comments", _S),
        ("lastUpdateTimestamp", _L),
        ("scheduleID", _L),
        ("seqNum", _I),
    ),
}


class _Grant(NamedTuple):
    """What a token request asks for; values are as sent, so of any JSON type."""

    grant_type: Any
    user_id: Any
    company_id: Any
    user_type: Any
    resource_type: Any


def _basic_credentials(authorization: str | None) -> tuple[str, str]:
    """(client_id, secret) from an HTTP Basic header; empty strings when there is none."""
    auth = authorization or ""
    try:
        client_id, _, secret = (
            base64.b64decode(auth[6:] if auth[:6].lower() == "basic " else "", validate=True)
            .decode()
            .partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return client_id, secret


def _read_grant(request: Request) -> _Grant | None:
    """The JSON body's grant type and scope, or None when it is not that shape."""
    try:
        body = request.json()
        scope = body["scope"]
        return _Grant(
            body["grant_type"],
            scope["userId"],
            scope["companyId"],
            scope["userType"],
            scope["resourceType"],
        )
    except (ValueError, KeyError, TypeError):
        return None


def _history_window(rows: list[dict[str, Any]], criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """criteria/fromDate and criteria/toDate (epoch ms) bound completion dates."""
    start, end = criteria.get("criteria/fromDate"), criteria.get("criteria/toDate")
    if isinstance(start, float):
        rows = [r for r in rows if r["completionDate"] >= start]
    if isinstance(end, float):
        rows = [r for r in rows if r["completionDate"] <= end]
    return rows


def _paging(params: dict[str, str]) -> tuple[int, int | None, int]:
    """($skip, $top or None, the $skiptoken's offset); ValueError when one is not valid."""
    skip = int(params.get("$skip") or 0)
    top = int(params["$top"]) if params.get("$top") else None
    token = params.get("$skiptoken")
    offset = _decode_skiptoken(token)[0] if token else 0
    return skip, top, offset


def _encode_skiptoken(offset: int, day: int, resume: int = 0) -> str:
    position = {"o": offset, "d": day, **({"r": resume} if resume else {})}
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["o"]), int(data["d"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValueError("bad $skiptoken") from exc
