"""SuccessFactors Employee Central (OData v2): ``User`` and the ``FODepartment`` org tree."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingest.config import SECRET, URL, RunOptions, setting_location
from ingest.errors import ConfigurationError, SourceError
from ingest.quality import RecordContract, parse_odata_date
from ingest.sources.auth import SuccessFactorsToken
from ingest.sources.http import ApiClient, retrying_client
from ingest.sources.incremental import Window
from ingest.sources.paging import Page, Paging, announced_total
from ingest.sources.source import Landed, ResourceSpec, Source

naming = NamingConvention()


@dataclass(frozen=True)
class SuccessFactorsSettings:
    """``[sources.successfactors]``: OAuth 2.0 SAML bearer for the OData v2 API."""

    api_url: str = field(metadata=URL)
    company_id: str
    client_id: str
    user_id: str
    # Exactly one of these: a PEM key to sign the SAML assertion here, or an assertion
    # issued by the company's identity provider.
    private_key: str | None = field(default=None, repr=False, metadata=SECRET)
    assertion: str | None = field(default=None, repr=False, metadata=SECRET)

    def validate(self) -> None:
        if not (self.private_key or self.assertion):
            raise ConfigurationError(
                "missing setting sources.successfactors.private_key (or .assertion): "
                + setting_location("successfactors", "private_key", secret=True)
            )


# Without a status predicate the API returns active users only: name every status.
ALL_STATUSES = "status in 't','f','T','F','e','d'"
USER_FIELDS = (
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
)
USER_CONTRACT = RecordContract(
    key=("userId",),
    cursor="lastModifiedDateTime",
    parse_time=parse_odata_date,
    timestamps=("hireDate", "lastModifiedDateTime"),
    types=dict.fromkeys(USER_FIELDS, str),
)
USER_COLUMNS: dict[str, dict[str, Any]] = {
    **{naming.normalize_identifier(name): {"data_type": "text"} for name in USER_FIELDS},
    "manager_user_id": {"data_type": "text"},
}

ORG_UNIT_FIELDS = (
    "externalCode",
    "startDate",
    "endDate",
    "name",
    "description",
    "parent",
    "headOfUnit",
    "status",
    "lastModifiedDateTime",
)
ORG_UNIT_CONTRACT = RecordContract(
    key=("externalCode", "startDate"),
    cursor="lastModifiedDateTime",
    parse_time=parse_odata_date,
    timestamps=("startDate", "endDate", "lastModifiedDateTime"),
    types=dict.fromkeys(ORG_UNIT_FIELDS, str),
)
ORG_UNIT_COLUMNS: dict[str, dict[str, Any]] = {
    naming.normalize_identifier(name): {"data_type": "text"} for name in ORG_UNIT_FIELDS
}
PAGE_SIZE = 1000


class SuccessFactorsApi:
    """The Employee Central OData v2 API of one company."""

    def __init__(self, settings: SuccessFactorsSettings, options: RunOptions) -> None:
        self.settings = settings
        self._page_size = max(1, min(PAGE_SIZE, options.page_size or PAGE_SIZE))
        client = retrying_client(options)
        self.tokens = SuccessFactorsToken(settings, client.session)
        self.client = ApiClient("SuccessFactors", lambda: settings.api_url, self.tokens, client)
        self.paging = Paging("SuccessFactors", lambda: settings.api_url, options)

    def pages(self, entity: str, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Every page of an entity set, following the server's ``__next`` links."""
        first = {
            "$format": "json",
            "customPageSize": str(self._page_size),
            "paging": "snapshot",
            "$inlinecount": "allpages",  # the count bounds the pages a walk may take
            **params,
        }
        yield from self.paging.walk(
            entity,
            lambda: _page_of(entity, self.client.get_json(f"/odata/v2/{entity}", first)),
            lambda next_url: _page_of(entity, self.client.get_json(next_url)),
        )


def _changed_since(window: Window) -> str | None:
    """The window as an OData filter on the modification time; None for everything."""
    bounds = []
    if window.start is not None:
        bounds.append(f"lastModifiedDateTime ge datetimeoffset'{_odata_datetime(window.start)}'")
    if window.end is not None:
        bounds.append(f"lastModifiedDateTime lt datetimeoffset'{_odata_datetime(window.end)}'")
    return " and ".join(bounds) or None


def _odata_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_users(api: SuccessFactorsApi, window: Window) -> Iterator[list[dict[str, Any]]]:
    since = _changed_since(window)
    yield from api.pages(
        "User",
        {
            "$select": ",".join([*USER_FIELDS, "manager/userId"]),
            "$expand": "manager",
            "$filter": f"{ALL_STATUSES} and {since}" if since else ALL_STATUSES,
        },
    )


def fetch_org_units(api: SuccessFactorsApi, window: Window) -> Iterator[list[dict[str, Any]]]:
    # Effective-dated: ask for every time segment, not only today's.
    params = {"$select": ",".join(ORG_UNIT_FIELDS), "fromDate": "1900-01-01"}
    since = _changed_since(window)
    if since:
        params["$filter"] = since
    yield from api.pages("FODepartment", params)


def flatten_user(record: dict[str, Any]) -> dict[str, Any]:
    manager = record.pop("manager", None)
    record["manager_user_id"] = manager.get("userId") if isinstance(manager, dict) else None
    return _plain_fields(record)


def flatten_org_unit(record: dict[str, Any]) -> dict[str, Any]:
    return _plain_fields(record)


def _plain_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The record without OData plumbing: ``__metadata``, and navigation properties that
    tenants send beside plain fields (``statusNav``, ``{"__deferred": ...}`` stubs), which
    would otherwise land as nested child tables."""
    return {
        name: value
        for name, value in record.items()
        if name != "__metadata" and not isinstance(value, dict | list)
    }


def _page_of(entity: str, body: Any) -> Page:
    """Rows, next link and count of an OData v2 answer; any other shape is an error."""
    d = body.get("d") if isinstance(body, dict) else None
    if not isinstance(d, dict) or not isinstance(d.get("results"), list):
        keys = sorted(body)[:6] if isinstance(body, dict) else type(body).__name__
        raise SourceError(f"SuccessFactors {entity} answered in an unknown shape (keys: {keys})")
    next_url = d.get("__next")
    if next_url is not None and not isinstance(next_url, str):
        raise SourceError(f"SuccessFactors {entity} gave a __next that is not a link")
    return Page(d["results"], next_url, announced_total(d.get("__count")))


def resources(
    settings: SuccessFactorsSettings, options: RunOptions, landed: Landed
) -> list[ResourceSpec]:
    """``users`` and ``org_units`` (every effective-dated segment), changed since the cursor."""
    # One client per resource, so the ledger can say which resource made which requests.
    users_api = SuccessFactorsApi(settings, options)
    units_api = SuccessFactorsApi(settings, options)
    return [
        ResourceSpec(
            "users",
            USER_CONTRACT,
            fetch=lambda window: fetch_users(users_api, window),
            flatten=flatten_user,
            requests_made=lambda: users_api.client.requests_made,
        ),
        ResourceSpec(
            "org_units",
            ORG_UNIT_CONTRACT,
            fetch=lambda window: fetch_org_units(units_api, window),
            flatten=flatten_org_unit,
            requests_made=lambda: units_api.client.requests_made,
        ),
    ]


def probe(settings: SuccessFactorsSettings, options: RunOptions) -> str:
    """Authenticate and read one User."""
    page = next(
        SuccessFactorsApi(settings, options).pages("User", {"$top": "1", "$select": "userId"})
    )
    return f"User answered with {len(page)} row"


SOURCE = Source(
    name="successfactors",
    title="Employee Central",
    raw_schema="raw_successfactors",
    settings=SuccessFactorsSettings,
    tables={"users": USER_COLUMNS, "org_units": ORG_UNIT_COLUMNS},
    resources=resources,
    probe=probe,
    deletion_keys={"users": "user_id"},
    bounded_reads=True,
)
