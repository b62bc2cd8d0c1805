"""Faults on demand: the failures a loader must survive, injectable per API.

Faults act on *data requests* (query pages, entity-set pages, learning collections), not
on token, describe or ``$metadata`` calls (only ``token_failure_next`` hits token calls),
so a test can reason about exactly which answer goes wrong. Malformed records are picked by
a hash of the record key, so the same records break on every run.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ingest.sandbox.company import stable_hash, unit_interval

API_NAMES = ("salesforce", "successfactors", "learning")
MALFORMED_KINDS = ("missing_key", "bad_date", "bad_value", "duplicate_id")
# Records an attacker (or a careless customisation) could send; only when asked for by name.
HOSTILE_KINDS = ("nul_byte", "not_an_object", "reserved_field", "colliding_field")
# Records that are odd but valid: each must land exactly as sent, never rejected or altered.
EXOTIC_KINDS = ("sql_key", "huge_text", "unicode_text", "control_characters")
HUGE_TEXT_CHARACTERS = 10 * 1024 * 1024
_EXOTIC_TEXT = {
    "sql_key": "'); drop table users; --",
    "unicode_text": "Zoë Ørsted-Nguyễn 山田 👩🏽‍💻 مرحبا e\u0301",
    "control_characters": "tab\there\r\nbell\x07 escape\x1b[0m del\x7f",
}


def exotic_text(kind: str) -> str:
    """The odd but valid text of one of EXOTIC_KINDS (10 MB of it for ``huge_text``)."""
    return "x" * HUGE_TEXT_CHARACTERS if kind == "huge_text" else _EXOTIC_TEXT[kind]


@dataclass(frozen=True)
class Faults:
    """What should go wrong, and on which APIs (``apis``)."""

    apis: tuple[str, ...] = API_NAMES
    rate_limit_every: int = 0  # every Nth data request answers 429 with Retry-After
    rate_limit_burst: int = 0  # the next N data requests answer 429
    retry_after_seconds: int = 1
    server_error_every: int = 0  # every Nth data request answers server_error_status
    server_error_burst: int = 0  # the next N data requests answer server_error_status
    server_error_status: int = 503
    token_expires_after_pages: int = 0  # a token dies after serving N pages: 401 on the next
    truncate_next: int = 0  # the next N data answers are cut off mid-body
    unknown_shape_next: int = 0  # the next N data answers lack their records key
    malformed_rate: float = 0.0  # share of records broken in one of malformed_kinds
    malformed_kinds: tuple[str, ...] = MALFORMED_KINDS
    # Entity sets whose records break (e.g. "FODepartment"); empty: every entity set.
    malformed_entities: tuple[str, ...] = ()
    schema_drift_day: int | None = None  # from this day a new custom field exists
    # Learning: these learners are unknown to the LMS (404 for their per-learner services).
    unknown_learners: tuple[str, ...] = ()
    # Paging gone wrong, on every paged collection of the API:
    next_link_loops_back: bool = False  # the last page names the second page again
    next_link_never_ends: bool = False  # past the last record, empty pages name further ones
    next_link_origin: str = ""  # next links lead to this scheme://host:port instead
    # The network and the servers behind an API misbehaving (issue 10, API faults):
    connection_reset_next: int = 0  # the next N data requests: the socket closes, no answer
    stall_next: int = 0  # the next N data answers wait stall_seconds before they are sent
    stall_seconds: float = 5.0
    token_failure_next: int = 0  # the next N token requests answer 503 (token calls too)
    # The next N continuation pages answer no records; their next link continues from where
    # they stood under a new locator or skiptoken, as a real server's would.
    empty_page_next: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.apis) - set(API_NAMES)
        if unknown:
            raise ValueError(f"unknown APIs {sorted(unknown)}; use {API_NAMES}")
        known_kinds = MALFORMED_KINDS + HOSTILE_KINDS + EXOTIC_KINDS
        bad_kinds = set(self.malformed_kinds) - set(known_kinds)
        if bad_kinds or not self.malformed_kinds:
            raise ValueError(f"malformed_kinds must be a non-empty subset of {known_kinds}")
        if not 0.0 <= self.malformed_rate <= 1.0:
            raise ValueError("malformed_rate must be between 0 and 1")
        if not 500 <= self.server_error_status <= 599:
            raise ValueError("server_error_status must be a 5xx status")
        counters = (
            self.rate_limit_every,
            self.rate_limit_burst,
            self.server_error_every,
            self.server_error_burst,
            self.token_expires_after_pages,
            self.truncate_next,
            self.unknown_shape_next,
            self.retry_after_seconds,
            self.connection_reset_next,
            self.stall_next,
            self.token_failure_next,
            self.empty_page_next,
        )
        if any(n < 0 for n in counters):
            raise ValueError("fault counts must not be negative")
        if not self.stall_seconds >= 0:
            raise ValueError("stall_seconds must not be negative")
        if self.next_link_origin and not self.next_link_origin.startswith(("http://", "https://")):
            raise ValueError("next_link_origin must look like http(s)://host:port")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["apis"] = list(self.apis)
        data["malformed_kinds"] = list(self.malformed_kinds)
        data["malformed_entities"] = list(self.malformed_entities)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}")
        values = dict(data)
        for name in ("apis", "malformed_kinds", "malformed_entities"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Rejection:
    status: int
    retry_after: int | None = None


@dataclass(frozen=True)
class Corruption:
    """How one API's records break: which fields, and into what."""

    id_field: str
    date_field: str
    bad_date: object
    value_field: str
    bad_value: object
    protected: tuple[str, ...] = ()  # keys never dropped (e.g. the envelope)
    text_field: str = ""  # a free-text field that odd but valid text may fill
    entity: str = ""  # the entity set these records belong to


class FaultInjector:
    """The live fault state of one API: the settings plus their counters."""

    def __init__(self, api: str, faults: Faults | None = None) -> None:
        self.api = api
        self._lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults | None) -> None:
        with self._lock:
            self.faults = faults if faults is not None and self.api in faults.apis else None
            self._requests = 0
            f = self.faults
            self._rate_burst = f.rate_limit_burst if f else 0
            self._error_burst = f.server_error_burst if f else 0
            self._truncate = f.truncate_next if f else 0
            self._unknown_shape = f.unknown_shape_next if f else 0
            self._resets = f.connection_reset_next if f else 0
            self._stalls = f.stall_next if f else 0
            self._token_failures = f.token_failure_next if f else 0
            self._empty_pages = f.empty_page_next if f else 0

    def reject_data_request(self) -> Rejection | None:
        """Count a data request; say whether it should fail (429 or 5xx) instead."""
        with self._lock:
            f = self.faults
            if f is None:
                return None
            self._requests += 1
            if self._rate_burst > 0:
                self._rate_burst -= 1
                return Rejection(429, f.retry_after_seconds)
            if f.rate_limit_every and self._requests % f.rate_limit_every == 0:
                return Rejection(429, f.retry_after_seconds)
            if self._error_burst > 0:
                self._error_burst -= 1
                return Rejection(f.server_error_status)
            if f.server_error_every and self._requests % f.server_error_every == 0:
                return Rejection(f.server_error_status)
            return None

    def take_unknown_shape(self) -> bool:
        with self._lock:
            if self._unknown_shape > 0:
                self._unknown_shape -= 1
                return True
            return False

    def take_truncate(self) -> bool:
        with self._lock:
            if self._truncate > 0:
                self._truncate -= 1
                return True
            return False

    def take_connection_reset(self) -> bool:
        return self._take("_resets")

    def take_stall(self) -> float:
        """Seconds the next answer waits before it is sent (0: none)."""
        return self.faults.stall_seconds if self.faults and self._take("_stalls") else 0.0

    def take_token_failure(self) -> bool:
        return self._take("_token_failures")

    def take_empty_page(self, offset: int, total: int) -> bool:
        """Whether the page at ``offset`` answers empty: only a page after the first that
        would have records, so the empty one sits in the middle of a walk."""
        return 0 < offset < total and self._take("_empty_pages")

    def pending(self) -> dict[str, int]:
        """One-shot faults not served yet, by setting (a test checks each one happened)."""
        with self._lock:
            counters = {
                "rate_limit_burst": self._rate_burst,
                "server_error_burst": self._error_burst,
                "truncate_next": self._truncate,
                "unknown_shape_next": self._unknown_shape,
                "connection_reset_next": self._resets,
                "stall_next": self._stalls,
                "token_failure_next": self._token_failures,
                "empty_page_next": self._empty_pages,
            }
        return {name: left for name, left in counters.items() if left}

    def _take(self, counter: str) -> bool:
        with self._lock:
            left = getattr(self, counter)
            if left > 0:
                setattr(self, counter, left - 1)
                return True
            return False

    def next_offset(self, offset: int, page_size: int, total: int) -> int | None:
        """Where the next link of the page at ``offset`` leads: the true next page, none
        after the last, or wherever a paging fault sends it."""
        end = offset + page_size
        if end < total:
            return end
        f = self.faults
        if f is not None and f.next_link_loops_back and offset > 0:
            return page_size
        if f is not None and f.next_link_never_ends:
            return end
        return None

    def link_origin(self, own: str) -> str:
        """The scheme://host:port next links carry: the API's own, or a foreign one."""
        f = self.faults
        return f.next_link_origin.rstrip("/") if f is not None and f.next_link_origin else own

    @property
    def token_page_limit(self) -> int:
        return self.faults.token_expires_after_pages if self.faults else 0

    def learner_unknown(self, user_id: str) -> bool:
        return self.faults is not None and user_id in self.faults.unknown_learners

    def drift_active(self, day: int) -> bool:
        f = self.faults
        return f is not None and f.schema_drift_day is not None and day >= f.schema_drift_day

    def malform(
        self, records: list[dict[str, Any]], seed: int, how: Corruption
    ) -> list[dict[str, Any]]:
        """Break a deterministic share of ``records`` in the configured ways."""
        f = self.faults
        if f is None or f.malformed_rate <= 0:
            return records
        if f.malformed_entities and how.entity not in f.malformed_entities:
            return records
        out: list[dict[str, Any]] = []
        for record in records:
            key = record.get(how.id_field)
            if unit_interval(seed, self.api, "malformed", key) >= f.malformed_rate:
                out.append(record)
                continue
            kind = f.malformed_kinds[
                stable_hash(seed, self.api, "kind", key) % len(f.malformed_kinds)
            ]
            broken = copy.deepcopy(record)
            if kind == "missing_key":
                droppable = [k for k in broken if k not in how.protected and k != how.id_field]
                if droppable:
                    del broken[how.value_field if how.value_field in droppable else droppable[-1]]
            elif kind == "bad_date" and how.date_field in broken:
                broken[how.date_field] = how.bad_date
            elif kind == "bad_value" and how.value_field in broken:
                broken[how.value_field] = how.bad_value
            elif kind == "nul_byte":  # valid JSON ("\u0000"), but no Postgres text holds it
                broken[how.id_field] = f"{broken[how.id_field]}\x00"
            elif kind == "not_an_object":
                broken = f"{key}"  # type: ignore[assignment]
            elif kind == "reserved_field":
                broken["_dlt_id"] = f"forged-{key}"
            elif kind == "sql_key":  # a key that would run as SQL if pasted into a statement
                broken[how.id_field] = f"{broken[how.id_field]}{exotic_text(kind)}"
            elif kind in EXOTIC_KINDS and how.text_field in broken:
                broken[how.text_field] = exotic_text(kind)
            elif kind == "colliding_field" and how.value_field in broken:
                # A second spelling of a field (creditHours, CreditHours): one column in SQL.
                name = how.value_field
                twin = name[0].swapcase() + name[1:]
                broken[twin] = how.bad_value
            out.append(broken)
            if kind == "duplicate_id":  # the same record, and so the same id, twice
                out.append(copy.deepcopy(record))
        return out

    def describe(self) -> dict[str, Any] | None:
        return self.faults.to_json() if self.faults else None
