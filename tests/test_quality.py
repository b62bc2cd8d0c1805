"""The quality gate's arithmetic: when a resource's rejects make it FAILED."""

from __future__ import annotations

import pytest

from ingest.quality import FAILED, SUCCESS, SUCCESS_WITH_REJECTS, verdict


@pytest.mark.parametrize(
    ("extracted", "rejected", "expected"),
    [
        (0, 0, SUCCESS),
        (5, 0, SUCCESS),
        (5, 1, SUCCESS_WITH_REJECTS),  # one bad record among five is not a broken entity
        (5, 2, FAILED),
        (5, 5, FAILED),  # nothing usable arrived
        (1, 1, FAILED),
        (40, 2, SUCCESS_WITH_REJECTS),  # 5 %: the rate applies once it exceeds the allowance
        (40, 3, FAILED),
        (1000, 50, SUCCESS_WITH_REJECTS),
        (1000, 51, FAILED),
    ],
)
def test_a_resource_fails_past_both_the_rate_and_the_allowance_or_when_all_is_rejected(
    extracted: int, rejected: int, expected: str
) -> None:
    assert verdict(extracted, rejected, threshold=0.05, allowance=1) == expected


def test_a_larger_allowance_tolerates_more_on_small_entities() -> None:
    assert verdict(10, 3, threshold=0.05, allowance=3) == SUCCESS_WITH_REJECTS
    assert verdict(10, 4, threshold=0.05, allowance=3) == FAILED
