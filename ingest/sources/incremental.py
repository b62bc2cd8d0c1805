"""One raw resource: fetch a window of changes, check each record, de-duplicate, keep the cursor.

The cursor lives in dlt's resource state, which dlt stores in the warehouse in the same load
as the rows: it moves only when the rows it covers are loaded, and a new or emptied warehouse
has no state, so it gets a full load.
"""

from __future__ import annotations

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
# The overlap map is pruned to the window behind the newest cursor once it grows past this.
RECENT_PRUNE_SIZE = 20_000


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
    fetch: Callable[[Window], Iterator[list[dict[str, Any]]]],
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
                reason = contract.violation(record)
                if reason is not None:
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
                row = {column_name(k): v for k, v in flatten(record).items()}
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


def _within(
    recent: dict[str, list[Any]], newest: datetime | None, horizon: timedelta
) -> dict[str, list[Any]]:
    """Only the versions modified within ``horizon`` of the newest cursor."""
    if newest is None:
        return recent
    cut = (newest - horizon).isoformat()
    return {key: v for key, v in recent.items() if v[1] is None or v[1] >= cut}
