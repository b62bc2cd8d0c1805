"""Salesforce ``User`` through the REST query API into ``raw_salesforce.users``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingest.config import SECRET, URL, RunOptions
from ingest.errors import SourceError
from ingest.quality import RecordContract, parse_salesforce_datetime
from ingest.sources.auth import SalesforceToken
from ingest.sources.http import ApiClient, retrying_client
from ingest.sources.incremental import Window
from ingest.sources.paging import Page, Paging, announced_total
from ingest.sources.source import Landed, ResourceSpec, Source

naming = NamingConvention()


@dataclass(frozen=True)
class SalesforceSettings:
    """``[sources.salesforce]``: a connected app's client-credentials flow."""

    instance_url: str = field(metadata=URL)
    client_id: str
    client_secret: str = field(repr=False, metadata=SECRET)
    api_version: str = "62.0"


# The fields the warehouse relies on; custom fields (``__c``) the org adds come along too.
USER_FIELDS = (
    "Id",
    "Username",
    "Name",
    "FirstName",
    "LastName",
    "Email",
    "Division",
    "Department",
    "Title",
    "Audit_Phase__c",
    "IsActive",
    "EmployeeNumber",
    "FederationIdentifier",
    "ManagerId",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
)
USER_TIMESTAMPS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
USER_CONTRACT = RecordContract(
    key=("Id",),
    cursor="SystemModstamp",
    parse_time=parse_salesforce_datetime,
    timestamps=USER_TIMESTAMPS,
    types={
        **{name: str for name in USER_FIELDS if name not in ("IsActive",)},
        "IsActive": bool,
    },
    selected=USER_FIELDS,
)
# Raw keeps the wire values; timestamps stay text exactly as sent (staging casts them).
USER_COLUMNS: dict[str, dict[str, Any]] = {
    naming.normalize_identifier(name): {"data_type": "bool" if name == "IsActive" else "text"}
    for name in USER_FIELDS
}
PAGE_SIZE = 2000
MIN_PAGE_SIZE = 200  # batchSize is a hint between 200 and 2,000


class SalesforceApi:
    """The REST API of one org, with its token and a quota guard."""

    def __init__(self, settings: SalesforceSettings, options: RunOptions) -> None:
        self.settings = settings
        self._quota_stop_ratio = options.quota_stop_ratio
        self._page_size = max(MIN_PAGE_SIZE, min(PAGE_SIZE, options.page_size or PAGE_SIZE))
        client = retrying_client(options)
        self.tokens = SalesforceToken(settings, client.session)
        self.client = ApiClient(
            "Salesforce",
            lambda: self.tokens.instance_url,
            self.tokens,
            client,
            check_response=self._check_quota,
        )
        self.paging = Paging("Salesforce", lambda: self.tokens.instance_url, options)

    @property
    def data_path(self) -> str:
        return f"/services/data/v{self.settings.api_version}"

    def _check_quota(self, response: requests.Response) -> None:
        if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
            raise SourceError("Salesforce API quota is spent (REQUEST_LIMIT_EXCEEDED); stopped")
        usage = _api_usage(response.headers.get("Sforce-Limit-Info", ""))
        if usage is not None and usage[1] > 0 and usage[0] / usage[1] >= self._quota_stop_ratio:
            raise SourceError(
                f"Salesforce API usage is at {usage[0]}/{usage[1]} "
                f"(stopping at {self._quota_stop_ratio:.0%} to leave the org's quota to others)"
            )

    def user_fields(self) -> list[str]:
        """The known fields plus every custom field the org's User has today."""
        describe = self.client.get_json(f"{self.data_path}/sobjects/User/describe")
        if not isinstance(describe, dict) or not isinstance(describe.get("fields"), list):
            raise SourceError("Salesforce describe answered in an unknown shape (no 'fields')")
        available = [f.get("name") for f in describe["fields"] if isinstance(f, dict)]
        missing = [name for name in USER_FIELDS if name not in available]
        if missing:
            raise SourceError(f"Salesforce User lacks field(s) {', '.join(missing)}")
        custom = sorted(n for n in available if n.endswith("__c") and n not in USER_FIELDS)
        return [*USER_FIELDS, *custom]

    def query_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """All pages of one SOQL query, following ``nextRecordsUrl``."""
        headers = {"Sforce-Query-Options": f"batchSize={self._page_size}"}
        yield from self.paging.walk(
            "query",
            lambda: _page_of(self.client.get_json(f"{self.data_path}/query", {"q": soql}, headers)),
            lambda next_url: _page_of(self.client.get_json(next_url, headers=headers)),
        )


def users_soql(fields: list[str], window: Window) -> str:
    bounds = []
    if window.start is not None:
        bounds.append(f"SystemModstamp >= {_soql_datetime(window.start)}")
    if window.end is not None:
        bounds.append(f"SystemModstamp < {_soql_datetime(window.end)}")
    where = f" WHERE {' AND '.join(bounds)}" if bounds else ""
    return f"SELECT {', '.join(fields)} FROM User{where} ORDER BY SystemModstamp ASC, Id ASC"


def _soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_users(api: SalesforceApi, window: Window) -> Iterator[list[dict[str, Any]]]:
    yield from api.query_pages(users_soql(api.user_fields(), window))


def flatten_user(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("attributes", None)
    return record


def _page_of(body: Any) -> Page:
    """Records, next link and total of a query answer; any other shape is an error."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("records"), list)
        or not isinstance(body.get("done"), bool)
    ):
        keys = sorted(body)[:6] if isinstance(body, dict) else type(body).__name__
        raise SourceError(f"Salesforce query answered in an unknown shape (keys: {keys})")
    next_url = body.get("nextRecordsUrl")
    if not body["done"] and not isinstance(next_url, str):
        raise SourceError("Salesforce query says it is not done but gives no nextRecordsUrl")
    return Page(
        body["records"],
        next_url if not body["done"] else None,
        announced_total(body.get("totalSize")),
    )


def _api_usage(header: str) -> tuple[int, int] | None:
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "api-usage" and "/" in value:
            used, _, limit = value.partition("/")
            try:
                return int(used), int(limit)
            except ValueError:
                return None
    return None


def resources(
    settings: SalesforceSettings, options: RunOptions, landed: Landed
) -> list[ResourceSpec]:
    """``users``: every version of every User, changed since the cursor."""
    api = SalesforceApi(settings, options)
    return [
        ResourceSpec(
            "users",
            USER_CONTRACT,
            fetch=lambda window: fetch_users(api, window),
            flatten=flatten_user,
            requests_made=lambda: api.client.requests_made,
        )
    ]


def probe(settings: SalesforceSettings, options: RunOptions) -> str:
    """Authenticate and describe User."""
    fields = SalesforceApi(settings, options).user_fields()
    return f"User has {len(fields)} fields to load"


SOURCE = Source(
    name="salesforce",
    title="Salesforce",
    raw_schema="raw_salesforce",
    settings=SalesforceSettings,
    tables={"users": USER_COLUMNS},
    resources=resources,
    probe=probe,
    deletion_keys={"users": "id"},
    bounded_reads=True,
)
