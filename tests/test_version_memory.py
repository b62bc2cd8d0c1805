"""The dedup memory behind the cursor: bounded, and pruned in amortised constant time even
when every version it holds is inside the horizon (a quadratic prune once made a 2-million-
completion Learning load fall from 4,000 to under 600 rows/s)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.sources import incremental
from ingest.sources.incremental import RECENT_PRUNE_SIZE, _VersionMemory

START = datetime(2026, 3, 2, tzinfo=UTC)


def test_versions_inside_the_horizon_are_pruned_a_logarithmic_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prunes = []
    real_within = incremental._within

    def counting_within(*args: object) -> dict:
        prunes.append(1)
        return real_within(*args)

    monkeypatch.setattr(incremental, "_within", counting_within)
    memory = _VersionMemory({}, horizon=timedelta(days=365), full_refresh=False)
    records = 8 * RECENT_PRUNE_SIZE
    for n in range(records):
        memory.remember(f"key-{n}", "v1", START + timedelta(seconds=n))

    assert len(prunes) <= 4  # at 20,000, 40,000, 80,000 and 160,000 entries, not per record
    state: dict = {}
    memory.save(state)
    assert len(state["recent"]) == records  # all inside the horizon: all remembered
    assert memory.is_duplicate("key-7", "v1")


def test_versions_behind_the_horizon_are_forgotten_when_saved() -> None:
    memory = _VersionMemory({}, horizon=timedelta(minutes=10), full_refresh=False)
    for n in range(3 * RECENT_PRUNE_SIZE):
        memory.remember(f"key-{n}", "v1", START + timedelta(seconds=n))

    state: dict = {}
    memory.save(state)
    assert len(state["recent"]) == 601  # the last ten minutes of one change a second
    assert state["cursor"] == (START + timedelta(seconds=3 * RECENT_PRUNE_SIZE - 1)).isoformat()


def test_a_run_remembers_its_latest_reads_in_memory_that_does_not_grow() -> None:
    """A version read again soon after (a shifted page boundary) is a duplicate; the run's
    memory of its reads stays at ``RUN_DEDUP_WINDOW`` digests however long the run is."""
    memory = _VersionMemory({}, horizon=timedelta(minutes=10), full_refresh=True)
    reads = 3 * incremental.RUN_DEDUP_WINDOW
    for n in range(reads):
        memory.remember(f"key-{n}", "v1", START)

    assert memory.is_duplicate(f"key-{reads - 1}", "v1")
    assert memory.is_duplicate(f"key-{reads - incremental.RUN_DEDUP_WINDOW}", "v1")
    assert not memory.is_duplicate(f"key-{reads - 1}", "v2")
    # read before the window: forgotten (a full refresh has no other memory to ask)
    assert not memory.is_duplicate(f"key-{reads - incremental.RUN_DEDUP_WINDOW - 1}", "v1")
    assert len(memory._last_reads._members) == incremental.RUN_DEDUP_WINDOW
    assert len(memory._last_reads._order) == incremental.RUN_DEDUP_WINDOW
