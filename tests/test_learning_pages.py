"""Learners' rows reach dlt in pages of whole learners of a bounded size, read a bounded
number of learners ahead: memory does not grow with the workforce or with a learner's
history (64-learner batches, read all at once, held ~22,000 rows at 340 completions each)."""

from __future__ import annotations

import threading
from typing import Any

from ingest.sources import learning
from ingest.sources.incremental import Companion


def test_pages_are_whole_learners_of_bounded_size_read_a_few_learners_ahead() -> None:
    learners = [f"L{n:03}" for n in range(200)]
    per_learner = 700  # so a page holds 8 learners (5,600 rows)
    workers = 4
    started: list[str] = []
    lock = threading.Lock()

    def fetch_one(user_id: str) -> list[dict[str, Any]]:
        with lock:
            started.append(user_id)
        return [{"learner": user_id, "n": n} for n in range(per_learner)]

    pages = learning._per_learner("learning_completions", learners, workers, fetch_one)
    consumed: list[str] = []
    most_ahead = 0
    for page in pages:
        rows = [row for row in page if not isinstance(row, Companion)]
        reads = [row.row["user_id"] for row in page if isinstance(row, Companion)]
        # whole learners, in order, each with its read recorded
        assert [row["learner"] for row in rows] == [u for u in reads for _ in range(per_learner)]
        assert learning.ROWS_PER_PAGE <= len(page) < learning.ROWS_PER_PAGE + per_learner + 1
        consumed.extend(reads)
        with lock:
            most_ahead = max(most_ahead, len(started) - len(consumed))

    assert consumed == learners
    assert most_ahead <= workers * learning.LEARNERS_AHEAD_PER_WORKER


def test_the_last_page_holds_the_rest_and_no_learner_no_page() -> None:
    def fetch_one(user_id: str) -> list[dict[str, Any]]:
        return [{"learner": user_id}]

    pages = list(learning._per_learner("learning_completions", ["A", "B", "C"], 2, fetch_one))
    assert len(pages) == 1 and len(pages[0]) == 6  # three rows and three reads
    assert list(learning._per_learner("learning_completions", [], 2, fetch_one)) == []
