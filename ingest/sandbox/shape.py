"""How a tenant's data may differ from the demo company's, on purpose.

Real tenants are not the sandbox's company: an entity may answer zero rows (no FO
departments maintained, or no permission on them), optional fields may never be sent or
always be null, and datetimes may be written in another time zone. A ``TenantShape``
makes the sandbox answer that way, so tests can prove the product copes. Valid data only:
broken records are ``Faults``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Entity sets a shape can empty or thin out, as "<api>.<entity set>".
ENTITIES = (
    "salesforce.User",
    "successfactors.User",
    "successfactors.FODepartment",
    "learning.Catalogs",
    "learning.CoursesFeed",
    "learning.UserTodoLearningItems",
    "learning.learninghistorys",
)
# SAP's own alias of the learning history set.
_ALIASES = {"learning.LearningHistories": "learning.learninghistorys"}
_SALESFORCE_DATETIMES = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
_ODATA_OFFSET = re.compile(r"^/Date\((-?\d+)[+-]\d{4}\)/$")


@dataclass(frozen=True)
class TenantShape:
    """What this tenant does differently; the default is the demo company as it is."""

    # Entity sets answered with no rows at all.
    empty: frozenset[str] = frozenset()
    # Per entity set, fields its records never carry (SuccessFactors omits optional ones).
    omitted_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Per entity set, fields sent as null on every record.
    null_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Datetimes written in this zone (Salesforce datetimes, OData v2 DateTimeOffset): the
    # same instants, another offset on the wire.
    utc_offset_minutes: int = 0

    def __post_init__(self) -> None:
        named = set(self.empty) | set(self.omitted_fields) | set(self.null_fields)
        unknown = sorted(named - set(ENTITIES))
        if unknown:
            raise ValueError(f"unknown entity sets {unknown}; choose from {list(ENTITIES)}")
        if not -14 * 60 <= self.utc_offset_minutes <= 14 * 60:
            raise ValueError("utc_offset_minutes must be within ±14 hours")

    def is_empty(self, api: str, entity_set: str) -> bool:
        return _key(api, entity_set) in self.empty

    def reshape(self, api: str, entity_set: str, records: list[dict[str, Any]]) -> list[dict]:
        """The records as this tenant sends them (valid records only)."""
        key = _key(api, entity_set)
        if key in self.empty:
            return []
        omitted = self.omitted_fields.get(key, frozenset())
        nulled = self.null_fields.get(key, frozenset())
        if not (omitted or nulled or self.utc_offset_minutes):
            return records
        return [self._reshape_record(api, record, omitted, nulled) for record in records]

    def _reshape_record(
        self, api: str, record: dict[str, Any], omitted: frozenset[str], nulled: frozenset[str]
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {}
        for name, value in record.items():
            if name in omitted:
                continue
            if name in nulled:
                value = None
            elif self.utc_offset_minutes and isinstance(value, str):
                value = self._in_zone(api, name, value)
            shaped[name] = value
        return shaped

    def _in_zone(self, api: str, name: str, value: str) -> str:
        offset = self.utc_offset_minutes
        if api == "salesforce" and name in _SALESFORCE_DATETIMES:
            moment = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
            zone = dt.timezone(dt.timedelta(minutes=offset))
            local = moment.astimezone(zone)
            return (
                local.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{local.microsecond // 1000:03d}"
                + (local.strftime("%z"))
            )
        match = _ODATA_OFFSET.match(value)
        if api == "successfactors" and match:
            # OData v2 JSON: the milliseconds are UTC; the suffix is the offset in minutes.
            sign = "+" if offset >= 0 else "-"
            return f"/Date({match.group(1)}{sign}{abs(offset):04d})/"
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "empty": sorted(self.empty),
            "omitted_fields": {k: sorted(v) for k, v in self.omitted_fields.items()},
            "null_fields": {k: sorted(v) for k, v in self.null_fields.items()},
            "utc_offset_minutes": self.utc_offset_minutes,
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TenantShape:
        unknown = set(body) - {"empty", "omitted_fields", "null_fields", "utc_offset_minutes"}
        if unknown:
            raise ValueError(f"unknown shape settings {sorted(unknown)}")
        return cls(
            empty=frozenset(body.get("empty", ())),
            omitted_fields={k: frozenset(v) for k, v in body.get("omitted_fields", {}).items()},
            null_fields={k: frozenset(v) for k, v in body.get("null_fields", {}).items()},
            utc_offset_minutes=int(body.get("utc_offset_minutes", 0)),
        )


def _key(api: str, entity_set: str) -> str:
    key = f"{api}.{entity_set}"
    return _ALIASES.get(key, key)
