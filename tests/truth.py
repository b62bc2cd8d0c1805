"""What a daily observer of the sandbox's company must see: the expected SCD versions.

The sandbox's company knows every record's state on every simulated day, so the versions a
job running on those days could observe are known exactly, with the source's own
modification times (UTC, as plain timestamps like the marts hold them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ingest.sandbox.company import Company
from ingest.sandbox.salesforce import user_id as salesforce_user_id


def utc(epoch_seconds: int) -> datetime:
    """An epoch second as the marts hold it: UTC, without a time zone."""
    return datetime.fromtimestamp(epoch_seconds, UTC).replace(tzinfo=None)


def expected_versions(states: list[tuple[tuple, int]]) -> list[tuple]:
    """Versions a daily observer sees: a new one when the tracked values differ from the
    previous observation's, starting at that observation's source modification time."""
    versions: list[list] = []
    for tracked, modified_at in states:
        if not versions or versions[-1][0] != tracked:
            if versions:
                versions[-1][2] = utc(modified_at)
            versions.append([tracked, utc(modified_at), None])
    return [(*tracked, start, end) for tracked, start, end in versions]


def salesforce_user_versions(company: Company, days: Sequence[int]) -> dict[str, list[tuple]]:
    """Every Salesforce user's versions seen on ``days``: (division, audit_phase, is_active,
    valid_from, valid_to)."""
    expected = {}
    for j in range(company.salesforce_users):
        states = [company.salesforce_user(j, day) for day in days]
        expected[salesforce_user_id(j)] = expected_versions(
            [((u.division, u.phase, u.active), u.last_modified) for u in states]
        )
    return expected


def employee_versions(company: Company, days: Sequence[int]) -> dict[str, list[tuple]]:
    """Every employee's versions seen on ``days``: (department, division, location, title,
    manager, is_active, valid_from, valid_to)."""
    expected: dict[str, list[tuple]] = {}
    for index in range(company.employee_count(days[-1])):
        states = []
        for day in days:
            if index >= company.employee_count(day):
                continue  # not hired yet
            e = company.employee(index, day)
            manager = company.user_id(e.manager) if e.manager is not None else None
            tracked = (e.department, e.division, e.location, e.title, manager, e.active)
            states.append((tracked, e.last_modified))
        expected[company.user_id(index)] = expected_versions(states)
    return expected


def salesforce_user_history(database: Any) -> dict[str, list[tuple]]:
    """What ``dim_salesforce_user_scd`` holds, in the shape of ``salesforce_user_versions``."""
    return _history(
        database,
        "select salesforce_user_id, division, audit_phase, is_active, valid_from, valid_to"
        " from marts.dim_salesforce_user_scd order by salesforce_user_id, valid_from",
    )


def employee_history(database: Any) -> dict[str, list[tuple]]:
    """What ``dim_employee_scd`` holds, in the shape of ``employee_versions``."""
    return _history(
        database,
        "select employee_id, department, division, location, title, manager_employee_id,"
        " is_active, valid_from, valid_to from marts.dim_employee_scd"
        " order by employee_id, valid_from",
    )


def _history(database: Any, query: str) -> dict[str, list[tuple]]:
    versions: dict[str, list[tuple]] = {}
    for key, *version in database.query(query):
        versions.setdefault(key, []).append(tuple(version))
    return versions
