"""What a source is to the rest of the loader: one interface, filled in by each source module.

A source module (``salesforce.py``, ``successfactors.py``, ``learning.py``) ends with one
``SOURCE = Source(...)``: its name, its raw schema, its settings class, the raw tables it
declares, and two functions — ``resources`` (what to fetch, as ``ResourceSpec``s) and
``probe`` (one cheap authenticated request). The run (``ingest/run.py``) knows sources only
through this interface and the registry (``ingest/sources/registry.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ingest.config import RunOptions
from ingest.quality import RecordContract
from ingest.sources.incremental import Companion, Rejected, Window

ColumnHints = Mapping[str, Mapping[str, Any]]
Row = dict[str, Any] | Rejected | Companion


class Landed(Protocol):
    """Read access to what sources have landed (Learning reads Employee Central's employees,
    its own assignments and its record of reads); the run supplies it, so a source module
    never opens the warehouse. Only rows of completed loads count."""

    def keys(self, source: str, table: str, key: str) -> list[str] | None:
        """Every ``key`` of ``source``'s ``table``, the most recently landed first; None when
        that table has never been created (the source never ran here)."""
        ...

    def newest(
        self,
        source: str,
        table: str,
        key: str,
        column: str,
        *,
        equals: Mapping[str, str] | None = None,
        between: tuple[str, Any, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Per ``key``, the greatest ``column`` among the table's rows whose ``equals``
        columns have those values and whose ``between`` column lies in [low, high]; None
        when the table has never been created."""
        ...


@dataclass(frozen=True)
class LearnerCoverage:
    """Which part of the workforce a per-learner resource read in a run, for the report and
    the ledger (Learning reads some learners per run, not all)."""

    refreshed: int  # learners read this run
    total: int  # learners Employee Central has landed
    never_read: int  # learners left unread who were never read (new ones over the budget)
    # The least recent last read among all learners once this run's reads land (None: every
    # learner left is unread, or there is none).
    oldest_read_at: datetime | None
    warning: str | None = None  # the budget cut the run short of its promise, and how


@dataclass(frozen=True)
class ResourceSpec:
    """One raw versions table a source fills, and how: fetch, check, flatten, count."""

    name: str
    contract: RecordContract
    fetch: Callable[[Window], Iterator[list[Row]]]
    flatten: Callable[[dict[str, Any]], dict[str, Any]]
    # API requests this resource has made so far (every attempt counts against a quota).
    requests_made: Callable[[], int]
    # How far behind the newest cursor versions are remembered to skip re-reads (True: the
    # overlap; None: every key, for small sets without a cursor). See incremental.py.
    dedup_horizon: timedelta | bool | None = True
    # Other tables of the source the fetch also writes ``Companion`` rows to, in the same load.
    companions: tuple[str, ...] = ()
    # Which learners the run read, for resources read per learner (None: not one of those).
    coverage: Callable[[], LearnerCoverage | None] | None = None


@dataclass(frozen=True)
class Source:
    """A source API as the loader sees it; each source module defines one."""

    name: str
    title: str  # what users call it ("Employee Central"), for messages
    raw_schema: str
    # A frozen dataclass of the source's settings (see config.load_source_settings).
    settings: type
    # Declared columns (dlt column hints) of every raw versions table the source fills.
    tables: Mapping[str, ColumnHints]
    resources: Callable[[Any, RunOptions, Landed], list[ResourceSpec]]
    probe: Callable[[Any, RunOptions], str]
    # Tables whose records can vanish, and their key column: after a full refresh, keys
    # that did not come back are recorded in the schema's ``deletions`` table.
    deletion_keys: Mapping[str, str] = field(default_factory=dict)
    # A source whose landed rows this one reads (it runs after it, in the same chain), and
    # what to tell the user when that source is not there.
    reads_from: str | None = None
    # Whether every resource reads a window of modification times ``[start, end)`` (so
    # ``--until`` can bound a run); a source read per person (Learning) does not.
    bounded_reads: bool = False
    reads_from_reason: str = ""
