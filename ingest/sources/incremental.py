"""One raw resource: fetch a window of changes, check each record, de-duplicate, keep the cursor.

The cursor lives in dlt's resource state, which dlt stores in the warehouse in the same load
as the rows: it moves only when the rows it covers are loaded, and a new or emptied warehouse
has no state, so it gets a full load.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from ingest.quality import RecordContract, reject_row

REJECTS_TABLE = "rejects"
# Rejects share the resource's pipe but not its columns: their own append-only table, with
# hints of its own (a resource-level column hint would be applied to both tables).
REJECTS_HINTS = dlt.mark.make_hints(
    table_name=REJECTS_TABLE,
    write_disposition="append",
    columns=[
        {"name": "resource", "data_type": "text", "nullable": False},
        {"name": "reason", "data_type": "text", "nullable": False},
        {"name": "payload", "data_type": "text", "nullable": False},
        {"name": "extracted_at", "data_type": "timestamp", "nullable": False},
    ],
)
# Columns the loader adds to every versions table (dlt adds `_dlt_load_id` and `_dlt_id`).
LOADER_COLUMNS: dict[str, dict[str, Any]] = {
    "_extracted_at": {"data_type": "timestamp", "nullable": False},
}
# Columns of every versions table that come from the loader and dlt, never from an API.
RESERVED_COLUMNS = frozenset({*LOADER_COLUMNS, "_dlt_id", "_dlt_load_id"})
# The overlap map is pruned to the window behind the newest cursor once it grows past this.
RECENT_PRUNE_SIZE = 20_000


@dataclass(frozen=True)
class Rejected:
    """What a source could not read, in place of its records (one learner's history answered
    404): a reject with the reason and what was asked, counted against the gate like a
    broken record, while the rest of the resource loads."""

    reason: str
    payload: Mapping[str, Any]


@dataclass
class ResourceCounters:
    """What one resource did in one run; the ledger records it."""

    source: str
    resource: str
    pages: int = 0
    extracted: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    api_requests: int = 0
    # Whether the run asked for everything (no cursor yet, or a full refresh): zero records
    # then means the entity is empty, not merely unchanged.
    full_window: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    reject_reasons: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_reject(self, reason: str) -> None:
        with self._lock:
            self.rejected += 1
            kind = reason.split(":")[0]
            self.reject_reasons[kind] = self.reject_reasons.get(kind, 0) + 1


@dataclass(frozen=True)
class Window:
    """Which changes a run asks for: everything (``start`` None) or those at/after ``start``."""

    start: datetime | None
    full_refresh: bool
    # What a source remembers beside the cursor (Learning: learners read behind it). Saved
    # with the rows, like the cursor, so it changes only when they load.
    notes: dict[str, Any] = field(default_factory=dict, compare=False)


def plan_window(
    state: Mapping[str, Any], overlap: timedelta, full_refresh: bool, since: datetime | None
) -> Window:
    """Start from the stored cursor less the overlap, unless told otherwise."""
    if full_refresh:
        return Window(None, True)
    if since is not None:
        return Window(since, False)
    cursor = state.get("cursor")
    if not cursor:
        return Window(None, False)
    return Window(datetime.fromisoformat(cursor) - overlap, False)


def raw_resource(
    *,
    name: str,
    table: str,
    columns: Mapping[str, Mapping[str, Any]],
    contract: RecordContract,
    fetch: Callable[[Window], Iterator[list[dict[str, Any] | Rejected]]],
    flatten: Callable[[dict[str, Any]], dict[str, Any]],
    counters: ResourceCounters,
    overlap: timedelta,
    full_refresh: bool = False,
    since: datetime | None = None,
    progress: Callable[[ResourceCounters], None] | None = None,
    dedup_horizon: timedelta | bool | None = True,
) -> DltResource:
    """A dlt resource appending every new version of ``table`` and its rejects.

    ``dedup_horizon``: how far behind the newest cursor versions are remembered to skip
    re-reads (True: the overlap; None: remember every key, for small sets without a cursor).
    """
    if dedup_horizon is True:
        dedup_horizon = overlap

    def records() -> Iterator[Any]:
        state = dlt.current.resource_state()
        window = plan_window(state, overlap, full_refresh, since)
        window = dataclasses.replace(window, notes=state.setdefault("notes", {}))
        counters.full_window = window.start is None
        extracted_at = datetime.now(UTC)
        # Both tables exist, with every declared column, from the first run on, even when
        # the API has no records for them: dbt's sources and snapshots need them from day one.
        yield dlt.mark.with_hints(
            dlt.mark.materialize_table_schema(), table_hints, create_table_variant=True
        )
        yield dlt.mark.with_hints(
            dlt.mark.materialize_table_schema(), REJECTS_HINTS, create_table_variant=True
        )
        # Versions already landed near the cursor: the overlap re-reads them on purpose.
        # key -> [version, modified at (ISO) or None]
        recent: dict[str, list[Any]] = dict(state.get("recent", {}))
        seen: set[tuple[str, str]] = set()
        newest: datetime | None = (
            datetime.fromisoformat(state["cursor"]) if state.get("cursor") else None
        )
        for page in fetch(window):
            counters.pages += 1
            accepted: list[dict[str, Any]] = []
            rejects: list[dict[str, Any]] = []
            for record in page:
                counters.extracted += 1
                if isinstance(record, Rejected):  # not read at all: rejected as it is
                    counters.count_reject(record.reason)
                    rejects.append(reject_row(name, record.reason, record.payload, extracted_at))
                    continue
                row, reason = _row_of(record, contract, flatten)
                if row is None:
                    counters.count_reject(reason)
                    rejects.append(reject_row(name, reason, record, extracted_at))
                    continue
                key, version = contract.key_of(record), contract.version_of(record)
                landed = recent.get(key)
                if (key, version) in seen or (
                    not full_refresh and landed is not None and landed[0] == version
                ):
                    counters.duplicates += 1
                    continue
                seen.add((key, version))
                changed_at = (
                    contract.parse_time(record[contract.cursor]) if contract.cursor else None
                )
                if changed_at is not None and (newest is None or changed_at > newest):
                    newest = changed_at
                recent[key] = [version, changed_at.isoformat() if changed_at else None]
                if dedup_horizon is not None and len(recent) > RECENT_PRUNE_SIZE:
                    recent = _within(recent, newest, dedup_horizon)
                row["_extracted_at"] = extracted_at
                accepted.append(row)
            counters.accepted += len(accepted)
            if accepted:
                yield dlt.mark.with_hints(accepted, table_hints, create_table_variant=True)
            if rejects:
                yield dlt.mark.with_hints(rejects, REJECTS_HINTS, create_table_variant=True)
            if progress is not None:
                progress(counters)
        if newest is not None:
            state["cursor"] = newest.isoformat()
        state["recent"] = (
            recent if dedup_horizon is None else _within(recent, newest, dedup_horizon)
        )
        counters.finished_at = datetime.now(UTC)

    all_columns = {
        **{column: {"nullable": True, **hint} for column, hint in columns.items()},
        **LOADER_COLUMNS,
    }
    # Column hints go to the versions table only (as a variant): the rejects table, fed by the
    # same pipe, would otherwise inherit them.
    table_hints = dlt.mark.make_hints(table_name=table, columns=all_columns)
    return dlt.resource(
        records,
        name=name,
        table_name=table,
        write_disposition="append",
        # A value of another type on a known column is a reject (checked above), never a
        # silent variant column; new columns are welcome (schema drift).
        schema_contract={"tables": "evolve", "columns": "evolve", "data_type": "freeze"},
    )


_NAMING = NamingConvention()


@functools.lru_cache(maxsize=4096)
def column_name(field: str) -> str:
    """The warehouse column of an API field, named here rather than by dlt's normalizer.

    dlt reads ``__`` in a data key as a nesting separator, so ``Audit_Phase__c`` would land
    as ``audit_phase__c`` while the declared hint (``normalize_identifier``) says
    ``audit_phase_c``: two columns for one field. Naming the keys first keeps them one.
    """
    return _NAMING.normalize_identifier(field)


def _row_of(
    record: Any, contract: RecordContract, flatten: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[dict[str, Any] | None, str]:
    """The warehouse row of a record, or None and why it cannot be one."""
    if not isinstance(record, dict):
        return None, f"record is not a JSON object (got {type(record).__name__})"
    reason = contract.violation(record)
    if reason is not None:
        return None, reason
    try:
        fields = flatten(record)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return None, f"record has an unexpected shape ({type(exc).__name__}: {exc})"
    row: dict[str, Any] = {}
    named_by: dict[str, str] = {}
    for api_field, value in fields.items():
        column = column_name(api_field)
        if column in RESERVED_COLUMNS or column.startswith("_dlt_"):
            return None, f"field {api_field!r} takes a column name the loader reserves ({column})"
        if column in named_by:
            # Two spellings of one column (CreditHours, credit_hours): one would overwrite
            # the other, silently, so the record is refused instead.
            return None, (
                f"fields {named_by[column]!r} and {api_field!r} both become column {column}"
            )
        if _holds_nul(api_field) or _holds_nul(value):
            return None, (
                f"field {api_field!r} holds a NUL character, which Postgres text cannot hold"
            )
        named_by[column] = api_field
        row[column] = value
    return row, ""


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _within(
    recent: dict[str, list[Any]], newest: datetime | None, horizon: timedelta
) -> dict[str, list[Any]]:
    """Only the versions modified within ``horizon`` of the newest cursor."""
    if newest is None:
        return recent
    cut = (newest - horizon).isoformat()
    return {key: v for key, v in recent.items() if v[1] is None or v[1] >= cut}
