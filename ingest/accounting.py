"""What each resource did in a run, counted as it happens; the reporter shows it and the
ledger records it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime


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
