"""A fourth source, written the way a newcomer would add one: one module-sized definition and
one registry line, nothing else of the loader touched — loaded end to end over real HTTP
into a real Postgres, through the real command line (in this process, where it is
registered)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ingest import cli
from ingest.config import SECRET, URL, RunOptions
from ingest.quality import RecordContract, parse_iso_datetime
from ingest.sources import registry
from ingest.sources.incremental import Window
from ingest.sources.source import Landed, ResourceSpec, Source
from tests.support import Database

TOKEN = "badge-token-0123456789"
PAGE_SIZE = 2


# ---- the extra source: what a newcomer writes in ingest/sources/badges.py


@dataclass(frozen=True)
class BadgeSettings:
    api_url: str = field(metadata=URL)
    token: str = field(repr=False, metadata=SECRET)


BADGE_CONTRACT = RecordContract(
    key=("badgeId",),
    cursor="modifiedAt",
    parse_time=parse_iso_datetime,
    timestamps=("modifiedAt",),
    types={"badgeId": str, "holder": str, "active": bool},
)
BADGE_COLUMNS = {
    "badge_id": {"data_type": "text"},
    "holder": {"data_type": "text"},
    "active": {"data_type": "bool"},
    "modified_at": {"data_type": "text"},
}


def badge_resources(settings: BadgeSettings, options: RunOptions, landed: Landed) -> list:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {settings.token}"
    sent = [0]

    def fetch(window: Window) -> Iterator[list[dict[str, Any]]]:
        params = {"since": window.start.isoformat()} if window.start else {}
        url: str | None = f"{settings.api_url}/badges"
        while url:
            sent[0] += 1
            body = session.get(url, params=params, timeout=10).json()
            params = {}
            yield body["items"]
            url = f"{settings.api_url}{body['next']}" if body["next"] else None

    return [ResourceSpec("badges", BADGE_CONTRACT, fetch, dict, requests_made=lambda: sent[0])]


def badge_probe(settings: BadgeSettings, options: RunOptions) -> str:
    return "badges reachable"


BADGES = Source(
    name="badges",
    title="the badge system",
    raw_schema="raw_badges",
    settings=BadgeSettings,
    tables={"badges": BADGE_COLUMNS},
    resources=badge_resources,
    probe=badge_probe,
    deletion_keys={"badges": "badge_id"},
)


# ---- its API, on loopback


class BadgeApi(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BadgeHandler)
        self.badges: dict[str, dict[str, Any]] = {}
        self.requests_seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def put(self, badge_id: str, holder: str, active: bool, modified_at: str) -> None:
        self.badges[badge_id] = {
            "badgeId": badge_id,
            "holder": holder,
            "active": active,
            "modifiedAt": modified_at,
        }


class _BadgeHandler(BaseHTTPRequestHandler):
    server: BadgeApi

    def do_GET(self) -> None:
        self.server.requests_seen.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"error": "unauthorized"})
            return
        query = parse_qs(urlsplit(self.path).query)
        since = query.get("since", [None])[0]
        page = int(query.get("page", ["0"])[0])
        rows = sorted(self.server.badges.values(), key=lambda b: (b["modifiedAt"], b["badgeId"]))
        if since:
            rows = [
                b
                for b in rows
                if datetime.fromisoformat(b["modifiedAt"]) >= datetime.fromisoformat(since)
            ]
        chunk = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        more = (page + 1) * PAGE_SIZE < len(rows)
        suffix = f"&since={since}" if since else ""
        self._send(
            200, {"items": chunk, "next": f"/badges?page={page + 1}{suffix}" if more else None}
        )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def badge_api() -> Iterator[BadgeApi]:
    api = BadgeApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()


@pytest.fixture
def badges_registered() -> Iterator[Source]:
    registry.register(BADGES)
    yield BADGES
    del registry.SOURCES[BADGES.name]


@pytest.fixture
def configured(
    database: Database, badge_api: BadgeApi, monkeypatch: pytest.MonkeyPatch
) -> Database:
    """Only the badge system configured, like any source: dlt's environment variables."""
    for name, value in database.env.items():
        monkeypatch.setenv(name, value)
    for name in ("SALESFORCE", "SUCCESSFACTORS", "SUCCESSFACTORS_LEARNING"):
        for variable in list(os.environ):
            if variable.startswith(f"SOURCES__{name}__"):
                monkeypatch.delenv(variable)
    monkeypatch.setenv("SOURCES__BADGES__API_URL", badge_api.url)
    monkeypatch.setenv("SOURCES__BADGES__TOKEN", TOKEN)
    return database


def test_a_registered_fourth_source_loads_end_to_end_incrementally(
    badges_registered: Source,
    badge_api: BadgeApi,
    configured: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for n in range(5):
        badge_api.put(f"B{n}", f"holder {n}", True, f"2026-01-0{n + 1}T08:00:00+00:00")

    assert cli.main(["--log-format", "plain"]) == 0  # every configured source: the badges
    first = configured.query("select badge_id, holder, active from raw_badges.badges order by 1")
    assert first == [(f"B{n}", f"holder {n}", True) for n in range(5)]

    badge_api.put("B1", "holder 1", False, "2026-01-09T08:00:00+00:00")
    badge_api.requests_seen.clear()
    assert cli.main(["--sources", "badges", "--log-format", "plain"]) == 0
    # Incremental: asked from the cursor less the overlap, and only the new version landed.
    assert all("since=2026-01-05" in path for path in badge_api.requests_seen)
    versions = configured.query(
        "select badge_id, active from raw_badges.badges where badge_id = 'B1' order by active"
    )
    assert versions == [("B1", False), ("B1", True)]
    ledger = configured.query(
        "select r.source, r.resource, r.status, r.rows_loaded from ops.ingest_run_resources as r"
        " join ops.ingest_runs as run using (run_id) order by run.started_at"
    )
    assert ledger == [("badges", "badges", "SUCCESS", 5), ("badges", "badges", "SUCCESS", 1)]

    badge_api.badges.pop("B4")
    assert cli.main(["--sources", "badges", "--full-refresh", "--log-format", "plain"]) == 0
    assert configured.query("select record_key from raw_badges.deletions") == [("B4",)]

    assert cli.main(["check", "--log-format", "plain"]) == 0
    out = capsys.readouterr().out
    assert "badges: OK (badges reachable)" in out
    assert TOKEN not in out
