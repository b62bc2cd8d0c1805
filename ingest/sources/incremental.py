"""One raw resource: fetch a window of changes, check each record, de-duplicate, keep the cursor.

The cursor lives in dlt's resource state, which dlt stores in the warehouse in the same load
as the rows: it moves only when the rows it covers are loaded, and a new or emptied warehouse
has no state, so it gets a full load.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import dlt
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from ingest.accounting import ResourceCounters
from ingest.quality import RecordContract, reject_row
from ingest.sources.page_table import Row, column_types, page_table

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
# The overlap map is pruned to the window behind the newest cursor once it grows past this,
# and again each time it has doubled since: when every entry is inside the window (a long
# horizon, a full load of recent changes) a prune per record would make a run quadratic.
RECENT_PRUNE_SIZE = 20_000
# How many of its latest reads a run remembers to skip a version read twice. APIs repeat a
# record only near where it was first read (a page boundary that shifted under an offset, a
# learner's history page read again), so a window of this size catches them in memory that
# does not grow with the run. A run-wide set cost ~70 bytes a record: peak RSS went from
# +24% to -7% between 200,000 and 1,000,000 Salesforce users without it, and a load of
# 600,000 completions from 275 to 226 MB.
RUN_DEDUP_WINDOW = 100_000


@dataclass(frozen=True)
class Rejected:
    """What a source could not read, in place of its records (one learner's history answered
    404): a reject with the reason and what was asked, counted against the gate like a
    broken record, while the rest of the resource loads."""

    reason: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Companion:
    """A row for another of the source's tables, landed in the resource's own load (so only
    when its rows land): Learning's record of which learners it read."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Window:
    """Which changes a run asks for: everything (``start`` None) or those at/after ``start``;
    with an ``end``, only those before it (a backfill window: the cursor stays)."""

    start: datetime | None
    full_refresh: bool
    # What a source remembers beside the cursor (Learning: learners read behind it). Saved
    # with the rows, like the cursor, so it changes only when they load.
    notes: dict[str, Any] = field(default_factory=dict, compare=False)
    end: datetime | None = None

    @property
    def is_everything(self) -> bool:
        """Every record the API has: only then can a record's absence mean anything."""
        return self.start is None and self.end is None


def plan_window(
    state: Mapping[str, Any],
    overlap: timedelta,
    full_refresh: bool,
    since: datetime | None,
    until: datetime | None = None,
) -> Window:
    """Start from the stored cursor less the overlap, unless told otherwise."""
    if full_refresh:
        return Window(None, True)
    if since is not None or until is not None:
        return Window(since, False, end=until)
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
    fetch: Callable[[Window], Iterator[list[dict[str, Any] | Rejected | Companion]]],
    flatten: Callable[[dict[str, Any]], dict[str, Any]],
    counters: ResourceCounters,
    overlap: timedelta,
    full_refresh: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[ResourceCounters], None] | None = None,
    dedup_horizon: timedelta | bool | None = True,
    companions: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> DltResource:
    """A dlt resource appending every new version of ``table`` and its rejects.

    ``dedup_horizon``: how far behind the newest cursor versions are remembered to skip
    re-reads (True: the overlap; None: remember every key, for small sets without a cursor).
    ``companions``: the declared columns of the other tables the fetch sends ``Companion``
    rows to (append-only, with the loader's columns).
    """
    horizon = overlap if dedup_horizon is True else None
    if isinstance(dedup_horizon, timedelta):
        horizon = dedup_horizon
    all_columns = {
        **{column: {"nullable": True, **hint} for column, hint in columns.items()},
        **LOADER_COLUMNS,
    }
    # Column hints go to the versions table only (as a variant): the rejects table, fed by the
    # same pipe, would otherwise inherit them.
    table_hints = dlt.mark.make_hints(table_name=table, columns=all_columns)
    spec = _Spec(
        name=name,
        contract=contract,
        fetch=fetch,
        flatten=flatten,
        counters=counters,
        progress=progress,
        horizon=horizon,
        table_hints=table_hints,
        overlap=overlap,
        full_refresh=full_refresh,
        since=since,
        until=until,
        companion_hints={
            other: dlt.mark.make_hints(
                table_name=other,
                write_disposition="append",
                columns={
                    **{column: {"nullable": True, **hint} for column, hint in declared.items()},
                    **LOADER_COLUMNS,
                },
            )
            for other, declared in (companions or {}).items()
        },
    )

    def records() -> Iterator[Any]:
        yield from _versions(spec)

    return dlt.resource(
        records,
        name=name,
        table_name=table,
        write_disposition="append",
        # A value of another type on a known column is a reject (checked above), never a
        # silent variant column; new columns are welcome (schema drift).
        schema_contract={"tables": "evolve", "columns": "evolve", "data_type": "freeze"},
    )


class _Spec(NamedTuple):
    """What one raw resource reads and how (the arguments of ``raw_resource``)."""

    name: str
    contract: RecordContract
    fetch: Callable[[Window], Iterator[list[dict[str, Any] | Rejected | Companion]]]
    flatten: Callable[[dict[str, Any]], dict[str, Any]]
    counters: ResourceCounters
    progress: Callable[[ResourceCounters], None] | None
    horizon: timedelta | None
    table_hints: Any
    overlap: timedelta
    full_refresh: bool
    since: datetime | None
    until: datetime | None
    companion_hints: Mapping[str, Any]


def _versions(spec: _Spec) -> Iterator[Any]:
    """The resource's items: table schemas first, then each page's new versions and rejects,
    and at the end the cursor and the dedup memory in the resource state."""
    name, counters, table_hints = spec.name, spec.counters, spec.table_hints
    state = dlt.current.resource_state()
    window = plan_window(state, spec.overlap, spec.full_refresh, spec.since, spec.until)
    window = dataclasses.replace(window, notes=state.setdefault("notes", {}))
    counters.full_window = window.is_everything
    extracted_at = datetime.now(UTC)
    # Both tables exist, with every declared column, from the first run on, even when
    # the API has no records for them: dbt's sources and snapshots need them from day one.
    yield dlt.mark.with_hints(
        dlt.mark.materialize_table_schema(), table_hints, create_table_variant=True
    )
    yield dlt.mark.with_hints(
        dlt.mark.materialize_table_schema(), REJECTS_HINTS, create_table_variant=True
    )
    for hints in spec.companion_hints.values():
        yield dlt.mark.with_hints(
            dlt.mark.materialize_table_schema(), hints, create_table_variant=True
        )
    memory = _VersionMemory(state, spec.horizon, spec.full_refresh, window.end is None)
    for page in spec.fetch(window):
        counters.pages += 1
        accepted, rejects = [], []
        companions: dict[str, list[dict[str, Any]]] = {}
        for record in page:
            if isinstance(record, Companion):  # not a record of this resource: not counted
                row = {**record.row, "_extracted_at": extracted_at}
                companions.setdefault(record.table, []).append(row)
                continue
            counters.extracted += 1
            row, reason = _judge(record, spec.contract, spec.flatten, memory)
            if row is not None:
                accepted.append(row)
            elif reason is None:
                counters.duplicates += 1
            else:
                counters.count_reject(reason)
                payload = record.payload if isinstance(record, Rejected) else record
                rejects.append(reject_row(name, reason, payload, extracted_at))
        counters.accepted += len(accepted)
        if accepted:
            item = _page_item(accepted, table_hints, extracted_at)
            yield dlt.mark.with_hints(item, table_hints, create_table_variant=True)
        if rejects:
            yield dlt.mark.with_hints(rejects, REJECTS_HINTS, create_table_variant=True)
        for other, rows in companions.items():
            hints = spec.companion_hints[other]
            yield dlt.mark.with_hints(rows, hints, create_table_variant=True)
        if spec.progress is not None:
            spec.progress(counters)
    memory.save(state)
    counters.finished_at = datetime.now(UTC)


class _VersionMemory:
    """The versions already landed near the cursor (the overlap re-reads them on purpose),
    the versions seen in this run, and the newest cursor value; saved in the resource state
    with the rows, so it moves only when they load.

    After a window with an end (``moves_cursor`` False) the cursor stays where it was: the
    changes after the end were not read, so the next run must still read them. What the
    window landed is remembered against that cursor, so the next run does not land it again.
    """

    def __init__(
        self,
        state: Mapping[str, Any],
        horizon: timedelta | None,
        full_refresh: bool,
        moves_cursor: bool = True,
    ) -> None:
        # key -> [version, modified at (ISO) or None]
        self._recent: dict[str, list[Any]] = dict(state.get("recent", {}))
        # This run's latest reads, as 128-bit digests of (key, version).
        self._last_reads = _LastReads(RUN_DEDUP_WINDOW)
        self._horizon = horizon  # None: remember every key
        self._full_refresh = full_refresh
        self._moves_cursor = moves_cursor
        self._prune_at = RECENT_PRUNE_SIZE
        cursor = state.get("cursor")
        self.newest: datetime | None = datetime.fromisoformat(cursor) if cursor else None

    def is_duplicate(self, key: str, version: str) -> bool:
        """Read again among this run's latest reads, the newest version of its key remembered
        behind the cursor, or landed before (a full refresh lands every version)."""
        landed = self._recent.get(key)
        return _digest(key, version) in self._last_reads or (
            not self._full_refresh and landed is not None and landed[0] == version
        )

    def remember(self, key: str, version: str, changed_at: datetime | None) -> None:
        self._last_reads.add(_digest(key, version))
        newer = changed_at is not None and (self.newest is None or changed_at > self.newest)
        if newer and self._moves_cursor:
            self.newest = changed_at
        self._recent[key] = [version, changed_at.isoformat() if changed_at else None]
        if self._horizon is not None and len(self._recent) > self._prune_at:
            self._recent = _within(self._recent, self.newest, self._horizon)
            self._prune_at = max(RECENT_PRUNE_SIZE, 2 * len(self._recent))

    def save(self, state: dict[str, Any]) -> None:
        if self.newest is not None:
            state["cursor"] = self.newest.isoformat()
        state["recent"] = (
            self._recent
            if self._horizon is None
            else _within(self._recent, self.newest, self._horizon)
        )


class _LastReads:
    """The last ``capacity`` digests added, as a set that forgets the oldest first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._members: set[bytes] = set()
        self._order: deque[bytes] = deque()

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._members

    def add(self, digest: bytes) -> None:
        if digest in self._members:
            return
        self._members.add(digest)
        self._order.append(digest)
        if len(self._order) > self._capacity:
            self._members.discard(self._order.popleft())


def _digest(key: str, version: str) -> bytes:
    """One (key, version) in 16 bytes; two pairs share one with odds of about 2^-128."""
    return hashlib.blake2b(
        f"{len(key)}:{key}{version}".encode("utf-8", "surrogatepass"), digest_size=16
    ).digest()


def _judge(
    record: Any,
    contract: RecordContract,
    flatten: Callable[[dict[str, Any]], dict[str, Any]],
    memory: _VersionMemory,
) -> tuple[Row | None, str | None]:
    """A new version's row; or no row and why (a reject); or neither (a duplicate)."""
    if isinstance(record, Rejected):  # not read at all: rejected as it is
        return None, record.reason
    row, reason = _row_of(record, contract, flatten)
    if row is None:
        return None, reason
    key, version = contract.key_of(record), contract.version_of(record)
    if memory.is_duplicate(key, version):
        return None, None
    changed_at = contract.parse_time(record[contract.cursor]) if contract.cursor else None
    memory.remember(key, version, changed_at)
    return row, None


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
) -> tuple[Row | None, str]:
    """The warehouse row of a record (its fields, not a copy), or None and why it cannot be one."""
    if not isinstance(record, dict):
        return None, f"record is not a JSON object (got {type(record).__name__})"
    reason = contract.violation(record)
    if reason is not None:
        return None, reason
    try:
        fields = flatten(record)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return None, f"record has an unexpected shape ({type(exc).__name__}: {exc})"
    names, bad_at, bad_reason = _columns_of(tuple(fields))
    # Field by field as the record has them: the first field that cannot land says why.
    for index, (api_field, value) in enumerate(fields.items()):
        if index == bad_at:
            return None, bad_reason
        if (type(value) is str and "\x00" in value) or (
            type(value) in (dict, list) and _holds_nul(value)
        ):
            return None, _nul_reason(api_field)
    return Row(fields, names), ""


@functools.lru_cache(maxsize=1024)
def _columns_of(api_fields: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], int, str]:
    """Each field's column, and the first field whose name cannot land (index, why; -1 if
    none). Records of one API share a few sets of field names, so this is worked out once."""
    named_by: dict[str, str] = {}
    for index, api_field in enumerate(api_fields):
        column = column_name(api_field)
        if column in RESERVED_COLUMNS or column.startswith("_dlt_"):
            return (
                (),
                index,
                (f"field {api_field!r} takes a column name the loader reserves ({column})"),
            )
        if column in named_by:
            # Two spellings of one column (CreditHours, credit_hours): one would overwrite
            # the other, silently, so the record is refused instead.
            return (
                (),
                index,
                (f"fields {named_by[column]!r} and {api_field!r} both become column {column}"),
            )
        if _holds_nul(api_field):
            return (), index, _nul_reason(api_field)
        named_by[column] = api_field
    return tuple((field, column) for column, field in named_by.items()), -1, ""


def _nul_reason(api_field: str) -> str:
    return f"field {api_field!r} holds a NUL character, which Postgres text cannot hold"


def _page_item(rows: list[Row], table_hints: Any, extracted_at: datetime) -> Any:
    """The page's accepted rows as one Arrow table, or as dicts where dlt's row path is needed
    (see ``page_table``)."""
    table = table_hints["table_name"]
    schema = dlt.current.source_schema()
    known = schema.get_table_columns(table) if table in schema.tables else {}
    declared = column_types(table_hints["columns"].items())
    item = page_table(rows, declared, column_types(known.items()), extracted_at)
    if item is not None:
        return item
    return [{**row.as_dict(), "_extracted_at": extracted_at} for row in rows]


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
