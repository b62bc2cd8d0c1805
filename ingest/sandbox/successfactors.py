"""SuccessFactors Employee Central: OAuth SAML bearer and OData v2 ``User``/``FODepartment``.

Paths: ``POST /oauth/token``, ``GET /odata/v2/$metadata``, ``GET /odata/v2/{Entity}/$metadata``,
``GET /odata/v2/User``, ``/User/$count``, ``/User('{userId}')``, ``/User('{userId}')/manager``
and ``GET /odata/v2/FODepartment``. JSON answers are ``{"d": {"results": [...], "__next"}}``
with an absolute ``__next`` carrying ``$skiptoken``; errors are
``{"error": {"code", "message": {"lang": "en-US", "value"}}}``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlparse

from ingest.sandbox.clock import (
    END_OF_TIME_EPOCH,
    SECONDS_PER_DAY,
    date_iso,
    odata_datetime,
    odata_datetimeoffset,
    parse_iso,
)
from ingest.sandbox.company import Employee, OrgUnit, stable_hash
from ingest.sandbox.faults import Corruption
from ingest.sandbox.odata_filter import Expr, ODataFilterError, evaluate, parse_filter, paths
from ingest.sandbox.saml import SUCCESSFACTORS_AUDIENCE, SamlAssertionError, verify_signed_assertion
from ingest.sandbox.web import (
    Request,
    Response,
    connection_reset,
    json_response,
    with_query,
    xml_response,
)
from ingest.sandbox.world import World

API = "successfactors"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:saml2-bearer"
TOKEN_LIFETIME_SECONDS = 86_399
DEFAULT_PAGE, MAX_PAGE = 1000, 1000
DRIFT_FIELD = "cust_costCenter"
ACTIVE_STATUSES = ("t", "T")

# property -> EDM type, in $metadata order
USER_PROPERTIES = {
    "userId": "Edm.String",
    "username": "Edm.String",
    "firstName": "Edm.String",
    "lastName": "Edm.String",
    "email": "Edm.String",
    "department": "Edm.String",
    "division": "Edm.String",
    "location": "Edm.String",
    "title": "Edm.String",
    "status": "Edm.String",
    "hireDate": "Edm.DateTime",
    "lastModifiedDateTime": "Edm.DateTimeOffset",
}
DEPARTMENT_PROPERTIES = {
    "externalCode": "Edm.String",
    "startDate": "Edm.DateTime",
    "endDate": "Edm.DateTime",
    "name": "Edm.String",
    "description": "Edm.String",
    "parent": "Edm.String",
    "headOfUnit": "Edm.String",
    "status": "Edm.String",
    "lastModifiedDateTime": "Edm.DateTimeOffset",
}
USER_CORRUPTION = Corruption(
    "userId",
    "lastModifiedDateTime",
    "/Date(not-a-date)/",
    "status",
    "x",
    protected=("__metadata",),
    entity="User",
)
DEPARTMENT_CORRUPTION = Corruption(
    "externalCode",
    "lastModifiedDateTime",
    "/Date(not-a-date)/",
    "status",
    "Z",
    protected=("__metadata",),
    entity="FODepartment",
)


def odata_error(status: int, code: str, message: str) -> Response:
    return json_response(
        status, {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}
    )


def oauth_error(status: int, code: str, description: str) -> Response:
    return json_response(status, {"error": code, "error_description": description})


class QueryError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _bad_property(entity: str, name: str) -> QueryError:
    return QueryError(
        odata_error(
            400,
            "COE_PROPERTY_NOT_FOUND",
            f"[COE0021]Invalid property names: {entity}/{name}. Please check the property names.",
        )
    )


class SuccessFactorsApi:
    def __init__(self, world: World) -> None:
        self.world = world
        self._results: OrderedDict[str, array] = OrderedDict()
        self._resumes = 0  # skiptokens made by empty pages, so each one is new
        self._lock = threading.Lock()

    # ---- routing

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            if request.method != "POST":
                return oauth_error(405, "invalid_request", "use POST")
            return self._token(request)
        token = self.world.tokens.check(API, request.header("Authorization"))
        if token is None:
            return odata_error(
                401,
                "COE_GENERAL_UNAUTHORIZED",
                "[LGN0022]The access token is invalid, expired or revoked.",
            )
        rest = request.path[len("/odata/v2/") :] if request.path.startswith("/odata/v2/") else ""
        if request.method != "GET":
            return odata_error(405, "COE_METHOD_NOT_ALLOWED", "Only GET is supported here.")
        day = self.world.day
        if rest in ("$metadata", ""):
            return xml_response(200, self._metadata(("User", "FODepartment"), day))
        if rest in ("User/$metadata", "FODepartment/$metadata"):
            return xml_response(200, self._metadata((rest.split("/")[0],), day))
        try:
            if rest == "User/$count":
                indices, _day = self._user_indices(request.query, day)
                count = 0 if self.world.settings.shape.is_empty(API, "User") else len(indices)
                return Response(200, str(count).encode(), content_type="text/plain;charset=UTF-8")
            if rest in ("User", "FODepartment"):
                return self._data(token, request, rest)
            match = re.fullmatch(r"User\('([^']*)'\)(/manager)?", rest)
            if match:
                return self._single_user(request, match.group(1), bool(match.group(2)), day)
        except QueryError as exc:
            return exc.response
        entity = rest.split("(")[0].split("/")[0]
        return odata_error(
            404,
            "COE_ENTITY_NOT_FOUND",
            f"[COE0020]Entity {entity} is not found. Please check the entity name.",
        )

    # ---- OAuth 2.0 SAML bearer

    def _token(self, request: Request) -> Response:
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        creds = self.world.credentials
        if self.world.faults[API].take_token_failure():
            return oauth_error(503, "temporarily_unavailable", "token service unavailable, retry")
        if form.get("grant_type") != GRANT_TYPE:
            return oauth_error(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if form.get("company_id") != creds.successfactors_company_id:
            return oauth_error(400, "invalid_request", "unknown company_id")
        if form.get("client_id") != creds.successfactors_client_id:
            return oauth_error(
                401, "invalid_client", "client_id is not registered for this company"
            )
        if not form.get("assertion"):
            return oauth_error(400, "invalid_request", "assertion is required")
        try:
            # The signature must verify against the certificate registered for client_id.
            verified = verify_signed_assertion(
                form["assertion"], certificate_pem=creds.successfactors_certificate_pem
            )
        except SamlAssertionError as exc:
            return oauth_error(400, "invalid_grant", f"SAML assertion rejected: {exc}")
        if verified.issuer != creds.successfactors_client_id:
            return oauth_error(400, "invalid_grant", "assertion Issuer does not match client_id")
        if verified.name_id != creds.successfactors_user_id:
            return oauth_error(
                400, "invalid_grant", f"unknown user {verified.name_id!r} in Subject"
            )
        if SUCCESSFACTORS_AUDIENCE not in verified.audiences:
            return oauth_error(400, "invalid_grant", f"Audience must be {SUCCESSFACTORS_AUDIENCE}")
        if verified.recipient and not urlparse(verified.recipient).path.endswith("/oauth/token"):
            return oauth_error(400, "invalid_grant", "Recipient is not this token endpoint")
        token = self.world.tokens.issue(
            API, creds.successfactors_client_id, TOKEN_LIFETIME_SECONDS, user_id=verified.name_id
        )
        return json_response(
            200,
            {
                "access_token": token.value,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
            },
        )

    # ---- $metadata

    def _properties(self, entity: str, day: int) -> dict[str, str]:
        props = dict(USER_PROPERTIES if entity == "User" else DEPARTMENT_PROPERTIES)
        if self.world.faults[API].drift_active(day):
            props[DRIFT_FIELD] = "Edm.String"
        return props

    def _metadata(self, entities: tuple[str, ...], day: int) -> str:
        types, sets = [], []
        for entity in entities:
            keys = ["userId"] if entity == "User" else ["externalCode", "startDate"]
            props = "".join(
                f'<Property Name="{name}" Type="{edm}" '
                f'Nullable="{"false" if name in keys else "true"}"'
                ' sap:filterable="true" sap:sortable="true"/>'
                for name, edm in self._properties(entity, day).items()
            )
            nav = (
                (
                    '<NavigationProperty Name="manager" Relationship="SFOData.user_manager" '
                    'FromRole="user" ToRole="manager"/>'
                )
                if entity == "User"
                else ""
            )
            key_xml = "".join(f'<PropertyRef Name="{k}"/>' for k in keys)
            types.append(
                f'<EntityType Name="{entity}"><Key>{key_xml}</Key>{props}{nav}</EntityType>'
            )
            sets.append(f'<EntitySet Name="{entity}" EntityType="SFOData.{entity}"/>')
        association = association_set = ""
        if "User" in entities:
            association = (
                '<Association Name="user_manager">'
                '<End Type="SFOData.User" Multiplicity="*" Role="user"/>'
                '<End Type="SFOData.User" Multiplicity="0..1" Role="manager"/></Association>'
            )
            association_set = (
                '<AssociationSet Name="user_manager" Association="SFOData.user_manager">'
                '<End EntitySet="User" Role="user"/><End EntitySet="User" Role="manager"/>'
                "</AssociationSet>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
            'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
            'xmlns:sap="http://www.sap.com/Protocols/SAPData">'
            '<edmx:DataServices m:DataServiceVersion="2.0">'
            '<Schema Namespace="SFOData" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">'
            f"{''.join(types)}{association}"
            '<EntityContainer Name="EntityContainer" m:IsDefaultEntityContainer="true">'
            f"{''.join(sets)}{association_set}</EntityContainer>"
            "</Schema></edmx:DataServices></edmx:Edmx>"
        )

    # ---- collections

    def _data(self, token: Any, request: Request, entity: str) -> Response:
        injector = self.world.faults[API]
        if injector.take_connection_reset():
            return connection_reset()
        rejection = injector.reject_data_request()
        if rejection is not None:
            response = odata_error(
                rejection.status,
                "COE_GENERAL_SERVER_FAILURE"
                if rejection.status != 429
                else "COE_TOO_MANY_REQUESTS",
                "Please retry later.",
            )
            if rejection.retry_after is not None:
                response.headers["Retry-After"] = str(rejection.retry_after)
            return response
        response = self._collection(request, entity)
        if response.status == 200:
            self.world.tokens.count_page(token, injector.token_page_limit)
            response.truncate = injector.take_truncate()
            response.stall_seconds = injector.take_stall()
        return response

    def _collection(self, request: Request, entity: str) -> Response:
        params = request.query
        offset, pinned_day = _read_skiptoken(params.get("$skiptoken"))
        day = self.world.day if pinned_day is None else pinned_day
        page = _page_size(params.get("customPageSize"))
        total, records, corruption = self._page_records(request, entity, day, offset, page)
        shape = self.world.settings.shape
        if shape.is_empty(API, entity):
            total, records = 0, []
        records = shape.reshape(API, entity, records)
        injector = self.world.faults[API]
        records = injector.malform(records, self.world.seed, corruption)
        # An empty page resumes where it stood, under a skiptoken not seen before.
        resumed = injector.take_empty_page(offset, total)
        if resumed:
            records = []
        body: dict[str, Any] = {}
        if params.get("$inlinecount") == "allpages":
            body["__count"] = str(total)
        if not injector.take_unknown_shape():
            body["results"] = records
        following = offset if resumed else injector.next_offset(offset, page, total)
        if following is not None:
            body["__next"] = self._next_link(request, entity, following, page, day, resumed)
        return json_response(200, {"d": body})

    def _page_records(
        self, request: Request, entity: str, day: int, offset: int, page: int
    ) -> tuple[int, list[dict[str, Any]], Corruption]:
        """(how many rows match, this page's records as JSON, how this entity's records break)."""
        params = request.query
        if entity == "User":
            indices, _day = self._user_indices(params, day)
            chunk = indices[offset : offset + page]
            records = [self._user_json(request, i, day, params) for i in chunk]
            return len(indices), records, USER_CORRUPTION
        units = self._department_rows(params, day)
        records = [
            self._department_json(request, u, day, params) for u in units[offset : offset + page]
        ]
        return len(units), records, DEPARTMENT_CORRUPTION

    def _next_link(
        self, request: Request, entity: str, following: int, page: int, day: int, resumed: bool
    ) -> str:
        """This request again with a ``$skiptoken`` for ``following``, pinned to ``day``."""
        kept = [
            (k, v)
            for k, v in parse_qsl(request.query_string, keep_blank_values=True)
            if k != "$skiptoken"
        ]
        position = {"startRow": following, "endRow": following + page, "day": day}
        if resumed:
            with self._lock:
                self._resumes += 1
                position["resume"] = self._resumes
        token = base64.b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()
        origin = self.world.faults[API].link_origin(request.base_url)
        return with_query(f"{origin}/odata/v2/{entity}", dict([*kept, ("$skiptoken", token)]))

    def _user_indices(self, params: dict[str, str], day: int) -> tuple[array, int]:
        """Matching users in order; cached so later pages do not re-run the query."""
        key = json.dumps([day] + [params.get(k) for k in ("$filter", "$orderby", "$top", "$skip")])
        with self._lock:
            cached = self._results.get(key)
        if cached is not None:
            return cached, day
        expr = _parse_filter(params.get("$filter"))
        allowed = set(self._properties("User", day)) | {"manager/userId"}
        for path in paths(expr) if expr else set():
            if path not in allowed:
                raise _bad_property("User", path)
        # Without a status predicate the API shows active users only.
        wants_status = expr is not None and "status" in paths(expr)
        company = self.world.company
        chosen = []
        for i in range(company.employee_count(day)):
            row = _UserRow(self, i, day)
            if not wants_status and row.get("status") not in ACTIVE_STATUSES:
                continue
            if expr is None or evaluate(expr, row.get):
                chosen.append(i)
        chosen = _order(
            chosen,
            params.get("$orderby"),
            lambda i: _UserRow(self, i, day).get,
            allowed,
            "User",
            default=lambda i: i,
        )
        chosen = _top_skip(chosen, params)
        result = array("i", chosen)
        with self._lock:
            self._results[key] = result
            while len(self._results) > 16:
                self._results.popitem(last=False)
        return result, day

    def _user_json(
        self, request: Request, index: int, day: int, params: dict[str, str], nested: bool = False
    ) -> dict[str, Any]:
        employee = self.world.company.employee(index, day)
        base = f"{request.base_url}/odata/v2"
        uri = f"{base}/User('{employee.user_id}')"
        select = _split(params.get("$select"))
        expand = set(_split(params.get("$expand")))
        if nested:  # the expanded manager: its own fields as selected with manager/ prefix
            select = [s.split("/", 1)[1] for s in select if s.startswith("manager/")]
            expand = set()
        props = self._properties("User", day)
        top_select = [s for s in select if "/" not in s and s != "manager"]
        for name in top_select:
            if name not in props:
                raise _bad_property("User", name)
        values = _user_values(self.world.seed, employee, self.world.company.user_id, props)
        record: dict[str, Any] = {"__metadata": {"uri": uri, "type": "SFOData.User"}}
        for name in props:
            if not select or name in top_select:
                record[name] = values[name]
        deferred = {"__deferred": {"uri": f"{uri}/manager"}}
        if nested:  # an expanded manager's own manager stays deferred
            if not select:
                record["manager"] = deferred
            return record
        if not select or "manager" in select or any(s.startswith("manager/") for s in select):
            if "manager" in expand:
                record["manager"] = (
                    None
                    if employee.manager is None
                    else self._user_json(request, employee.manager, day, params, nested=True)
                )
            else:
                record["manager"] = deferred
        return record

    def _single_user(self, request: Request, user_id: str, manager: bool, day: int) -> Response:
        company = self.world.company
        index = company.employee_index(user_id)
        if index is None or index >= company.employee_count(day):
            return odata_error(
                404, "COE_ENTITY_NOT_FOUND", f"[COE0010]User('{user_id}') is not found."
            )
        if manager:
            index = company.employee(index, day).manager
            if index is None:
                return json_response(200, {"d": None})
        return json_response(200, {"d": self._user_json(request, index, day, request.query)})

    def _department_rows(self, params: dict[str, str], day: int) -> list[OrgUnit]:
        window = _effective_window(params)
        units = self.world.company.org_units(day, window)
        expr = _parse_filter(params.get("$filter"))
        allowed = set(self._properties("FODepartment", day))
        for path in paths(expr) if expr else set():
            if path not in allowed:
                raise _bad_property("FODepartment", path)
        if expr is not None:
            units = [
                u for u in units if evaluate(expr, lambda p, u=u: self._department_value(u, p))
            ]
        order = {id(u): u for u in units}
        keyed = _order(
            list(order),
            params.get("$orderby"),
            lambda k: lambda p: self._department_value(order[k], p),
            allowed,
            "FODepartment",
            default=lambda k: (order[k].code, order[k].start),
        )
        return _top_skip([order[k] for k in keyed], params)

    def _department_value(self, unit: OrgUnit, name: str) -> Any:
        chart = self.world.company.chart
        return {
            "externalCode": unit.code,
            "startDate": unit.start,
            "endDate": unit.end if unit.end is not None else END_OF_TIME_EPOCH,
            "name": unit.name,
            "description": f"{unit.name} (level {unit.level})",
            "parent": chart.codes[unit.parent] if unit.parent >= 0 else None,
            "headOfUnit": self.world.company.user_id(unit.head),
            "status": "A",
            "lastModifiedDateTime": unit.last_modified,
            DRIFT_FIELD: f"CC-{1000 + stable_hash(self.world.seed, 'dcc', unit.index) % 9000}",
        }[name]

    def _department_json(
        self, request: Request, unit: OrgUnit, day: int, params: dict[str, str]
    ) -> dict[str, Any]:
        start_iso = date_iso(unit.start) + "T00:00:00"
        uri = (
            f"{request.base_url}/odata/v2/FODepartment(externalCode='{unit.code}',"
            f"startDate=datetime'{start_iso}')"
        )
        select = _split(params.get("$select"))
        props = self._properties("FODepartment", day)
        for name in select:
            if name not in props:
                raise _bad_property("FODepartment", name)
        record: dict[str, Any] = {"__metadata": {"uri": uri, "type": "SFOData.FODepartment"}}
        for name, edm in props.items():
            if select and name not in select:
                continue
            value = self._department_value(unit, name)
            if edm == "Edm.DateTime":
                value = odata_datetime(value)
            elif edm == "Edm.DateTimeOffset":
                value = odata_datetimeoffset(value)
            record[name] = value
        return record


class _UserRow:
    """Typed values of one employee for $filter/$orderby, read lazily."""

    __slots__ = ("_employee", "api", "cols", "day", "index")

    def __init__(self, api: SuccessFactorsApi, index: int, day: int) -> None:
        self.api, self.index, self.day = api, index, day
        self.cols = api.world.company.state(day).employees
        self._employee: Employee | None = None

    def get(self, path: str) -> Any:
        if path == "status":
            return "t" if self.cols.active[self.index] else "f"
        if path == "lastModifiedDateTime":
            return self.cols.last_modified[self.index]
        if path == "userId":
            return self.api.world.company.user_id(self.index)
        if self._employee is None:
            self._employee = self.api.world.company.employee(self.index, self.day)
        employee = self._employee
        if path == "manager/userId":
            return (
                None
                if employee.manager is None
                else self.api.world.company.user_id(employee.manager)
            )
        props = self.api._properties("User", self.day)
        values = _user_values(
            self.api.world.seed, employee, self.api.world.company.user_id, props, typed=True
        )
        return values[path]


def _user_values(
    seed: int,
    e: Employee,
    user_id: Callable[[int], str],
    props: dict[str, str],
    typed: bool = False,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "userId": e.user_id,
        "username": e.username,
        "firstName": e.first_name,
        "lastName": e.last_name,
        "email": e.email,
        "department": e.department,
        "division": e.division,
        "location": e.location,
        "title": e.title,
        "status": "t" if e.active else "f",
        "hireDate": e.hired if typed else odata_datetime(e.hired),
        "lastModifiedDateTime": e.last_modified if typed else odata_datetimeoffset(e.last_modified),
    }
    if DRIFT_FIELD in props:
        values[DRIFT_FIELD] = f"CC-{1000 + stable_hash(seed, 'ecc', e.index) % 9000}"
    return values


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _parse_filter(text: str | None) -> Expr | None:
    if not text:
        return None
    try:
        return parse_filter(text)
    except ODataFilterError as exc:
        raise QueryError(
            odata_error(400, "COE_BAD_REQUEST", f"[COE0003]Invalid $filter: {exc}")
        ) from exc


def _order(
    items: list[Any],
    orderby: str | None,
    getter: Callable[[Any], Callable[[str], Any]],
    allowed: set[str],
    entity: str,
    default: Callable[[Any], Any],
) -> list[Any]:
    items = sorted(items, key=default)
    for clause in reversed(_split(orderby)):
        parts = clause.split()
        name, descending = parts[0], len(parts) > 1 and parts[1].lower() == "desc"
        if name not in allowed:
            raise _bad_property(entity, name)
        values = {id_: getter(id_)(name) for id_ in items}
        items.sort(
            key=lambda k: (values[k] is not None, values[k] if values[k] is not None else ""),
            reverse=descending,
        )
    return items


def _top_skip(items: list[Any], params: dict[str, str]) -> list[Any]:
    try:
        skip = int(params.get("$skip") or 0)
        top = int(params["$top"]) if params.get("$top") else None
    except ValueError as exc:
        raise QueryError(
            odata_error(400, "COE_BAD_REQUEST", "$top and $skip must be integers")
        ) from exc
    items = items[skip:]
    return items if top is None else items[:top]


def _page_size(value: str | None) -> int:
    if not value:
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise QueryError(
            odata_error(400, "COE_BAD_REQUEST", f"customPageSize must be 1..{MAX_PAGE}")
        )
    return int(value)


def _read_skiptoken(token: str | None) -> tuple[int, int | None]:
    """(offset, pinned day): later pages are read from the day the first page was."""
    if not token:
        return 0, None
    try:
        data = json.loads(base64.b64decode(token))
        return int(data["startRow"]), int(data["day"])
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryError(odata_error(400, "COE_BAD_REQUEST", "Invalid $skiptoken")) from exc


def _effective_window(params: dict[str, str]) -> tuple[int, int] | None:
    """fromDate/toDate give all segments overlapping the range; asOfDate one date."""

    def date(name: str) -> int | None:
        text = params.get(name)
        if not text:
            return None
        epoch = parse_iso(text)
        if epoch is None:
            raise QueryError(odata_error(400, "COE_BAD_REQUEST", f"Invalid {name}: {text}"))
        return epoch

    as_of, start, end = date("asOfDate"), date("fromDate"), date("toDate")
    if as_of is not None:
        return as_of, as_of
    if start is None and end is None:
        return None
    return (
        start if start is not None else -END_OF_TIME_EPOCH,
        end if end is not None else END_OF_TIME_EPOCH + SECONDS_PER_DAY,
    )
