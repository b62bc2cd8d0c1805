"""Plain helpers shared by the tests: databases on the test server, the loader's and dbt's
command lines, free ports. Fixtures live in ``conftest.py``; tests import these from here."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg2

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox
from ingest.target import LOCAL_HOST, LOCAL_PORT, LOCAL_USER

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free port for a test server, never the local warehouse's own (the kernel may offer
    it: a test server left there would block `make lint`'s `warehouse up`)."""
    while True:
        with socket.socket() as probe:
            probe.bind((LOCAL_HOST, 0))
            port = probe.getsockname()[1]
        if port != LOCAL_PORT:
            return port


@dataclass
class Database:
    """One throw-away database on a test server, and the environment that points at it."""

    host: str
    port: int
    user: str
    password: str
    name: str

    @property
    def env(self) -> dict[str, str]:
        """The process environment for ``python -m ingest`` and ``dbt`` aimed at this database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SOURCES__"))}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGPASSWORD=self.password,
            PGDATABASE=self.name,
        )
        return env

    def connect(self) -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.name,
        )

    def query(self, sql: str, params: tuple | None = None) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()


def make_database(server: LocalWarehouse, template: Database | None = None) -> Database:
    """A new database on ``server``: empty, or a copy of what ``template`` holds now."""
    password = server.password
    assert password is not None, "test servers are password-protected"
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(
        host=LOCAL_HOST, port=server.port, user=LOCAL_USER, password=password, dbname="postgres"
    )
    conn.autocommit = True
    copy_of = f' template "{template.name}"' if template is not None else ""
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"{copy_of}')
    conn.close()
    return Database(LOCAL_HOST, server.port, LOCAL_USER, password, name)


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingest ARGS`` as a user would, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def loader_env(database: Database, sandbox: Sandbox, **ingest: str) -> dict[str, str]:
    """The environment a user would export: warehouse, the sandbox tenant's settings, and
    ``INGEST__*`` run options (quick retries; Learning's throttle off, and every learner
    read every run — simulated days pass in seconds, too fast for the sweep — unless asked)."""
    env = dict(database.env)
    for source, values in sandbox.source_config().items():
        for key, value in values.items():
            env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
    env["INGEST__REQUEST_BACKOFF_FACTOR"] = "0.05"
    ingest.setdefault("learning_min_interval_seconds", "0")
    ingest.setdefault("learning_full_sweep_days", "0")
    for key, value in ingest.items():
        env[f"INGEST__{key.upper()}"] = value
    return env


def dbt_profile_args() -> list[str]:
    """``--profiles-dir`` of a directory holding the committed profiles.yml.example."""
    known = os.environ.get("PYTEST_DBT_PROFILES_DIR")
    profiles_dir = Path(known) if known else Path()
    if not known or not (profiles_dir / "profiles.yml").exists():
        profiles_dir = Path(tempfile.mkdtemp(prefix="dbt-profiles-"))
        shutil.copy(REPO_ROOT / "profiles.yml.example", profiles_dir / "profiles.yml")
        os.environ["PYTEST_DBT_PROFILES_DIR"] = str(profiles_dir)
    return ["--profiles-dir", str(profiles_dir)]


def run_dbt(
    args: list[str], env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt ARGS`` from the repository root with the committed profiles.yml.example."""
    return subprocess.run(
        [str(BIN / "dbt"), "--no-use-colors", *args, *dbt_profile_args()],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class DbtRun:
    """What one dbt invocation did: exit code, output and node statuses from run_results."""

    returncode: int
    output: str
    statuses: dict[str, str] = field(default_factory=dict)

    def status(self, name: str) -> str | None:
        """Status of the first node whose unique id ends with ``.name`` (model, snapshot, test)."""
        for unique_id, status in self.statuses.items():
            if unique_id.split(".")[-1] == name or unique_id.split(".")[2] == name:
                return status
        return None

    @property
    def failures(self) -> dict[str, str]:
        """Nodes that errored or whose test failed (warnings are not failures)."""
        return {
            unique_id: status
            for unique_id, status in self.statuses.items()
            if status in ("error", "fail", "runtime error")
        }


def run_dbt_recorded(args: list[str], env: dict[str, str], target_dir: Path) -> DbtRun:
    """``dbt ARGS`` with its own target and log directory, read back with node statuses."""
    result_files = [target_dir / "run_results.json", target_dir / "sources.json"]
    for stale in result_files:
        stale.unlink(missing_ok=True)
    result = run_dbt(
        [*args, "--target-path", str(target_dir), "--log-path", str(target_dir / "logs")], env
    )
    statuses: dict[str, str] = {}
    for results_file in result_files:
        if results_file.exists():
            for item in json.loads(results_file.read_text())["results"]:
                statuses[item["unique_id"]] = item["status"]
    return DbtRun(result.returncode, result.stdout + result.stderr, statuses)


# Apprise's custom JSON, remapped to Slack's incoming-webhook payload: only {"text": ...}.
SLACK_STYLE = "?:message=text&:title=&:version=&:attachments=&:type="


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.server.received.append((self.path, json.loads(self.rfile.read(length))))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@contextmanager
def webhook_receiver() -> Iterator[ThreadingHTTPServer]:
    """A Slack-compatible webhook on loopback; ``.received`` holds (path, JSON) of each POST."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookHandler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def slack_webhook_url(server: ThreadingHTTPServer, token: str) -> str:
    """The Apprise URL that posts ``{"text": ...}`` to ``server`` under ``/hooks/<token>``."""
    return f"json://127.0.0.1:{server.server_port}/hooks/{token}{SLACK_STYLE}"
