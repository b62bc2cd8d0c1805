"""The quality gate's arithmetic: when a resource's rejects make it FAILED."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.quality import (
    FAILED,
    SUCCESS,
    SUCCESS_WITH_REJECTS,
    parse_epoch_ms,
    parse_salesforce_datetime,
    verdict,
)


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


SALESFORCE_TIMES = [
    "2026-03-02T08:01:07.000+0000",
    "2026-03-02T08:01:07.123-0530",
    "2026-03-02T08:01:07.000+0060",  # fromisoformat alone would carry this into the hour
    "2026-03-02T24:00:00.000+0000",
    "2026-02-29T08:01:07.000+0000",
    "2026-03-02T08:01:60.000+0000",
    "2026-03-02T08:01:07.000+2400",
    "2026-03-02T08:01:07+0000",
    "2026-03-02T08:01:07.5Z",
    "2026-03-02",
    "2026-03-02T08:01:07.000+00:00",
    "\u0662\u0660\u0662\u0666-03-02T08:01:07.000+0000",  # Arabic-Indic digits
    "",
]


@pytest.mark.parametrize("text", SALESFORCE_TIMES)
def test_a_salesforce_timestamp_parses_as_the_strict_format_says(text: str) -> None:
    try:
        expected: datetime | str = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
        expected = expected.astimezone(UTC)
    except ValueError:
        expected = "refused"
    try:
        parsed: datetime | str = parse_salesforce_datetime(text)
    except ValueError:
        parsed = "refused"
    assert parsed == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1764547200123, datetime(2025, 12, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        ("1764547200123", datetime(2025, 12, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        (-86400000, datetime(1969, 12, 31, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (True, "refused"),  # a bool is an int to Python, not a date to Learning
        (1764547200.5, "refused"),
        (None, "refused"),
        ("2025-12-01", "refused"),
    ],
)
def test_learning_epoch_milliseconds_parse_and_anything_else_is_refused(
    value: object, expected: datetime | str
) -> None:
    try:
        parsed: datetime | str = parse_epoch_ms(value)  # type: ignore[arg-type]
    except ValueError:
        parsed = "refused"
    assert parsed == expected
