"""The per-record contract (key present, timestamps parse, types coerce) and the run's verdict."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.redaction import redact

SUCCESS = "SUCCESS"
SUCCESS_WITH_REJECTS = "SUCCESS_WITH_REJECTS"
FAILED = "FAILED"

_ODATA_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


# Salesforce's exact shape, which ``fromisoformat`` reads ~25x faster than ``strptime``; the
# offset's minutes are bounded because ``fromisoformat`` would carry +0060 into the hour.
_SALESFORCE_SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}[0-5][0-9]"
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_salesforce_datetime(text: str) -> datetime:
    """``2026-03-02T08:01:07.000+0000`` (Salesforce's REST format) to an aware datetime."""
    if isinstance(text, str) and _SALESFORCE_SHAPE.fullmatch(text):
        return datetime.fromisoformat(text).astimezone(UTC)
    # Any other shape gets the strict parser, so what it refused is still refused.
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


def parse_odata_date(text: str) -> datetime:
    """OData v2 ``/Date(ms)/`` or ``/Date(ms+0000)/`` to an aware UTC datetime."""
    match = _ODATA_DATE.match(text)
    if match is None:
        raise ValueError(f"not an OData date: {text[:40]!r}")
    # The offset tells the zone the time was entered in; the milliseconds are already UTC.
    return _EPOCH + timedelta(milliseconds=int(match.group(1)))


def parse_epoch_ms(value: int | str) -> datetime:
    """Milliseconds since the epoch (SuccessFactors Learning's dates) to an aware datetime."""
    # Learning sends three or four of these per completion: a plain int takes the short way
    # (half the time of the checks below, which a bool would pass as an int).
    if type(value) is int:
        return _EPOCH + timedelta(milliseconds=value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not epoch milliseconds: {value!r}")
    return _EPOCH + timedelta(milliseconds=int(value))


def parse_iso_datetime(text: str) -> datetime:
    """ISO 8601 with a zone (OData v4 ``Edm.DateTimeOffset``) to an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {text[:40]!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class RecordContract:
    """What every record of one resource must satisfy before it is loaded."""

    key: tuple[str, ...]
    # The source's modification time of a record; None when the API has none.
    cursor: str | None
    parse_time: Callable[[Any], datetime]
    timestamps: tuple[str, ...] = ()
    types: Mapping[str, type | tuple[type, ...]] = field(default_factory=dict)
    # What makes two records of one key different versions (default: the cursor).
    version_fields: tuple[str, ...] = ()
    # Fields the API always sends when selected (null when empty), so a record without one
    # was cut or mangled on the way. Salesforce's query API does; SuccessFactors may omit an
    # optional field, so its contracts list none and a missing field lands as null.
    selected: tuple[str, ...] = ()

    def violation(self, record: Mapping[str, Any]) -> str | None:
        """Why the record breaks the contract, or None when it keeps it."""
        for name in self.key:
            value = record.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                return f"missing key {name}"
        for name in self.selected:
            if name not in record:
                return f"missing field {name}"
        for name in self.timestamps:
            value = record.get(name)
            if value is None:
                if name == self.cursor:
                    return f"missing {name}"
                continue
            try:
                self.parse_time(value)
            except (ValueError, TypeError, OverflowError):
                return f"{name} does not parse as a timestamp: {str(value)[:40]!r}"
        for name, expected in self.types.items():
            value = record.get(name)
            if value is None or type(value) is expected:  # the common case, decided at once
                continue
            if not _conforms(value, expected):
                return f"type clash on {name}: expected {_type_name(expected)}, got {value!r}"
        return None

    def key_of(self, record: Mapping[str, Any]) -> str:
        if len(self.key) == 1:  # most keys: the same text as the join, without building it
            return str(record[self.key[0]])
        return "|".join(str(record[name]) for name in self.key)

    def version_of(self, record: Mapping[str, Any]) -> str:
        if self.version_fields:
            return "|".join(str(record.get(name)) for name in self.version_fields)
        return str(record.get(self.cursor)) if self.cursor else ""


def reject_row(
    resource: str, reason: str, record: Mapping[str, Any], extracted_at: datetime
) -> dict[str, Any]:
    """A row of the rejects table: the reason and the payload exactly as received."""
    return {
        "resource": resource,
        "reason": redact(reason),
        "payload": redact(json.dumps(record, default=str, sort_keys=True)),
        "extracted_at": extracted_at,
    }


def verdict(extracted: int, rejected: int, threshold: float, allowance: int = 1) -> str:
    """SUCCESS, SUCCESS_WITH_REJECTS or FAILED for one resource of one run.

    A resource fails when its rejects exceed both ``threshold`` of what was extracted and a
    small absolute ``allowance`` (so one bad record among five is tolerated, while a rate
    only bites once there are enough records for it to mean something), or when every
    record was rejected (nothing usable arrived: the entity itself is broken).
    """
    if rejected == 0:
        return SUCCESS
    if rejected >= extracted:
        return FAILED
    if rejected <= max(threshold * extracted, allowance):
        return SUCCESS_WITH_REJECTS
    return FAILED


def _conforms(value: Any, expected: type | tuple[type, ...]) -> bool:
    # bool is an int in Python; a flag must be a real JSON boolean and vice versa.
    if isinstance(value, bool) != (expected is bool):
        return False
    if isinstance(value, expected):
        return True
    # OData sends Int64 and Decimal values as strings ("130166", "200.20") when the tenant
    # asks for IEEE 754 compatibility; a numeric string is a number (dlt casts it on load).
    numeric = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, str) and float in numeric:
        try:
            float(value)
        except ValueError:
            return False
        return value.strip().lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")
    return False


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {bool: "boolean", str: "text", int: "integer", float: "number"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(t, t.__name__) for t in expected)
    return names.get(expected, expected.__name__)
