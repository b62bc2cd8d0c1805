"""``/__sandbox__/...``: move the simulated day, set faults and limits over HTTP.

``GET state`` | ``POST day {"day": N} or {"advance": n}`` | ``GET/POST faults`` (a Faults
object, a mapping api -> Faults, or ``{}`` to clear) | ``POST settings
{"salesforce_daily_api_limit", "learning_min_interval_seconds", "reset_api_usage", "shape",
"absent_user_fields", "read_only_user_fields", "bulk_polls_in_progress", "write_failures",
"failing_bulk_jobs"}`` | ``GET config`` (the loader configuration, secrets included: it is a
local sandbox).
"""

from __future__ import annotations

from typing import Any

from ingest.sandbox.clock import date_iso, day_start
from ingest.sandbox.faults import API_NAMES, Faults
from ingest.sandbox.salesforce_writes import WRITE_SETTINGS, apply_write_settings
from ingest.sandbox.shape import TenantShape
from ingest.sandbox.web import Request, Response, json_response
from ingest.sandbox.world import World

PREFIX = "/__sandbox__/"


def state_of(world: World) -> dict[str, Any]:
    company = world.company
    return {
        "seed": world.seed,
        "day": world.day,
        "date": date_iso(day_start(world.day)),
        "salesforce_users": company.salesforce_users,
        "employees": company.employee_count(world.day),
        "org_units": company.chart.size,
        "courses": len(world.coursework.courses),
        "salesforce_api_usage": world.salesforce_api_usage,
        "salesforce_daily_api_limit": world.settings.salesforce_daily_api_limit,
        "learning_min_interval_seconds": world.settings.learning_min_interval_seconds,
        "shape": world.settings.shape.to_json(),
        "salesforce_writes": _write_counts(world),
        "salesforce_write_settings": {
            "absent_user_fields": sorted(world.settings.absent_user_fields),
            "read_only_user_fields": sorted(world.settings.read_only_user_fields),
            "bulk_polls_in_progress": world.settings.bulk_polls_in_progress,
            "write_failures": dict(world.settings.write_failures),
            "failing_bulk_jobs": world.settings.failing_bulk_jobs,
        },
        "faults": {api: injector.describe() for api, injector in world.faults.items()},
    }


def _write_counts(world: World) -> dict[str, int]:
    """Records written (or refused) per API, as logged."""
    counts = {"bulk": 0, "collections": 0}
    for entry in list(world.user_writes.log):
        counts[entry["via"]] += 1
    return counts


def parse_faults(body: Any) -> Faults | dict[str, Faults] | None:
    """A Faults object, a mapping api -> Faults, or nothing (clear)."""
    if not body:
        return None
    if not isinstance(body, dict):
        raise ValueError("faults must be a JSON object")
    if set(body) <= set(API_NAMES) and all(isinstance(v, dict) for v in body.values()):
        return {api: Faults.from_json(value) for api, value in body.items()}
    return Faults.from_json(body)


def apply_settings(world: World, body: dict[str, Any]) -> None:
    unknown = set(body) - {
        "salesforce_daily_api_limit",
        "learning_min_interval_seconds",
        "reset_api_usage",
        "shape",
        *WRITE_SETTINGS,
    }
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    if "salesforce_daily_api_limit" in body:
        limit = int(body["salesforce_daily_api_limit"])
        if limit < 1:
            raise ValueError("salesforce_daily_api_limit must be >= 1")
        world.settings.salesforce_daily_api_limit = limit
    if "learning_min_interval_seconds" in body:
        interval = float(body["learning_min_interval_seconds"])
        if interval < 0:
            raise ValueError("learning_min_interval_seconds must be >= 0")
        world.settings.learning_min_interval_seconds = interval
    if "shape" in body:
        if not isinstance(body["shape"], dict):
            raise ValueError("shape must be a JSON object")
        world.settings.shape = TenantShape.from_json(body["shape"])
    apply_write_settings(world.settings, body)
    if body.get("reset_api_usage"):
        world.salesforce_api_usage = 0


def handle(world: World, request: Request) -> Response:
    action = request.path[len(PREFIX) :].strip("/")
    try:
        if action == "state" and request.method == "GET":
            return json_response(200, state_of(world))
        if action == "config" and request.method == "GET":
            return json_response(200, world.source_config(request.base_url))
        if action == "faults" and request.method == "GET":
            return json_response(200, state_of(world)["faults"])
        if request.method != "POST":
            return json_response(
                404, {"error": f"no such control: {request.method} {request.path}"}
            )
        body = request.json()
        if action == "day":
            if not isinstance(body, dict) or not ({"day", "advance"} & set(body)):
                raise ValueError('send {"day": N} or {"advance": n}')
            world.set_day(int(body["day"]) if "day" in body else world.day + int(body["advance"]))
        elif action == "faults":
            world.set_faults(parse_faults(body))
        elif action == "settings":
            if not isinstance(body, dict):
                raise ValueError("settings must be a JSON object")
            apply_settings(world, body)
        else:
            return json_response(404, {"error": f"no such control: {request.path}"})
    except (ValueError, TypeError) as exc:
        return json_response(400, {"error": str(exc)})
    return json_response(200, state_of(world))
