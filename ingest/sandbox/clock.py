"""Simulated time: day 0 is a fixed date, and wire formats of the three APIs.

All data timestamps are whole seconds relative to the Unix epoch; authentication uses the
real clock (assertions and tokens are minted by real clients), data uses this one.
"""

from __future__ import annotations

import datetime as dt
import re

DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
DAY0_EPOCH = int(DAY0.timestamp())
SECONDS_PER_DAY = 86_400
# Far-future end date SuccessFactors uses for open effective-dated segments.
END_OF_TIME_EPOCH = int(dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp())


def day_start(day: int) -> int:
    """Epoch seconds of 00:00 UTC on simulated day ``day``."""
    return DAY0_EPOCH + day * SECONDS_PER_DAY


def day_of(epoch: int) -> int:
    """The simulated day an epoch second falls on (negative before day 0)."""
    return (epoch - DAY0_EPOCH) // SECONDS_PER_DAY


def date_iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d")


def salesforce_datetime(epoch: int) -> str:
    """``2026-03-02T08:01:07.000+0000``: Salesforce's REST form, no colon in the offset."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def odata_datetime(epoch: int) -> str:
    """OData v2 ``Edm.DateTime``: ``/Date(ms)/``."""
    return f"/Date({epoch * 1000})/"


def odata_datetimeoffset(epoch: int) -> str:
    """OData v2 ``Edm.DateTimeOffset`` in UTC: ``/Date(ms+0000)/``."""
    return f"/Date({epoch * 1000}+0000)/"


def epoch_ms(epoch: int) -> int:
    """Learning returns dates as Unix epoch milliseconds."""
    return epoch * 1000


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_iso(text: str) -> int | None:
    """Epoch seconds of an ISO-8601 date or datetime (UTC unless an offset is given)."""
    match = _ISO.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, _frac, zone = match.groups()
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=dt.UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return int(moment.timestamp())
