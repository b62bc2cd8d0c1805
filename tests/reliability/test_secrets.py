"""No secret, in any form it takes, reaches output, the ledger, the warehouse or dbt's files.

Scanned after normal runs with faults (expiring tokens, 5xx) and a dbt build, and after
runs against token servers that echo their request in the refusal: the client secret
URL-encoded in a form body, Learning's ``Basic base64(id:secret)`` header and the signed
SAML assertion all come back in an error message, as a careless real server's would.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from dlt.common.versioned_state import decompress_state

from ingest.sandbox import Faults, Sandbox
from tests.reliability.figures import Figures
from tests.support import Database, loader_env, run_cli, run_dbt_recorded

# Characters that URL-encoding, JSON and base64 each change.
TRICKY_SECRET = 's3cr/t+k=y&x"q~long-enough'


class EchoingTokenServer(BaseHTTPRequestHandler):
    """Refuses every token request, quoting the request's headers and body back."""

    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(body)
        echo = {
            "error": "invalid_client",
            "error_description": f"rejected {self.headers.get('Authorization')} {body.decode()}",
        }
        payload = json.dumps(echo).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingTokenServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=11, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _forms(secret: str) -> set[str]:
    """The shapes a secret takes on its way through HTTP, JSON and logs."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    lines = [line.strip() for line in secret.splitlines() if len(line.strip()) > 16]
    return {form for form in forms | set(lines) if len(form) >= 8}


def _configured_secrets(env: dict[str, str]) -> set[str]:
    secrets = {env["PGPASSWORD"]}
    for key, value in env.items():
        if key.endswith(("__CLIENT_SECRET", "__PRIVATE_KEY", "__ASSERTION")):
            secrets |= _forms(value)
    client_id = env["SOURCES__SUCCESSFACTORS_LEARNING__CLIENT_ID"]
    secret = env["SOURCES__SUCCESSFACTORS_LEARNING__CLIENT_SECRET"]
    secrets.add(base64.b64encode(f"{client_id}:{secret}".encode()).decode())
    return secrets


def _warehouse_texts(database: Database) -> dict[str, str]:
    """Every text column of every table the loader and dbt wrote, one place per table."""
    tables = database.query(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema not in ('pg_catalog', 'information_schema')"
        " and table_type = 'BASE TABLE'"
    )
    texts = {}
    for schema, table in tables:
        rows = database.query(f'select t::text from "{schema}"."{table}" as t')
        texts[f"table {schema}.{table}"] = "\n".join(row for (row,) in rows)
        if table == "_dlt_pipeline_state":  # dlt stores its state compressed: read it plain
            states = database.query(f'select state from "{schema}"."{table}"')
            texts[f"dlt state in {schema}"] = "\n".join(
                json.dumps(decompress_state(state)) for (state,) in states
            )
    return texts


def _files(root: Path) -> dict[str, str]:
    return {
        f"file {path.relative_to(root)}": path.read_text(errors="replace")
        for path in root.rglob("*")
        if path.is_file()
    }


def _scan(places: dict[str, str], secrets: set[str], figures: Figures, what: str) -> None:
    leaks = sorted(
        f"{place}: {secret[:6]}…"
        for place, text in places.items()
        for secret in secrets
        if secret in text
    )
    figures.record(
        "secret scan",
        what,
        tried=len(places),
        held=len(places) - len({leak.split(": ")[0] for leak in leaks}),
    )
    assert not leaks, leaks


def test_no_secret_leaks_from_runs_status_check_dbt_or_the_warehouse(
    database: Database, sandbox: Sandbox, tmp_path: Path, figures: Figures
) -> None:
    env = loader_env(database, sandbox)
    outputs: dict[str, str] = {}
    sandbox.set_faults(Faults(token_expires_after_pages=1, server_error_burst=1))
    for name, args in {
        "run (json)": ["--log-format", "json"],
        "run (plain)": ["--log-format", "plain"],
        "check": ["check"],
        "status": ["status"],
    }.items():
        result = run_cli(args, env)
        outputs[f"output of {name}"] = result.stdout + result.stderr
    sandbox.set_faults(Faults(apis=("salesforce",), unknown_shape_next=5))
    failed = run_cli(["--sources", "salesforce"], env)
    outputs["output of a failed run"] = failed.stdout + failed.stderr
    sandbox.set_faults(Faults())
    dbt = run_dbt_recorded(["build", "--select", "staging"], env, tmp_path / "target")
    outputs["output of dbt"] = dbt.output

    secrets = _configured_secrets(env)
    for api in ("salesforce", "successfactors", "learning"):
        secrets |= {token.value for token in sandbox.world.tokens.issued(api)}
    places = {**outputs, **_warehouse_texts(database), **_files(tmp_path / "target")}
    _scan(places, secrets, figures, "outputs, warehouse tables, dbt target/ and logs/")


def test_a_token_server_echoing_its_request_leaks_nothing(
    database: Database, sandbox: Sandbox, echo_server: str, figures: Figures
) -> None:
    env = loader_env(database, sandbox)
    env["SOURCES__SALESFORCE__INSTANCE_URL"] = echo_server
    env["SOURCES__SUCCESSFACTORS__API_URL"] = echo_server
    env["SOURCES__SUCCESSFACTORS_LEARNING__API_URL"] = echo_server
    for source in ("SALESFORCE", "SUCCESSFACTORS_LEARNING"):
        env[f"SOURCES__{source}__CLIENT_SECRET"] = TRICKY_SECRET + source
    EchoingTokenServer.received.clear()

    outputs = {}
    for name, args in {"run": ["--log-format", "json"], "check": ["check"]}.items():
        result = run_cli(args, env)
        assert result.returncode == 1, result.stdout + result.stderr
        outputs[f"output of {name}"] = result.stdout + result.stderr
    status = run_cli(["status"], env)
    outputs["output of status"] = status.stdout + status.stderr
    assert "refused the credentials" in outputs["output of run"]

    secrets = _configured_secrets(env)
    for body in EchoingTokenServer.received:  # the SAML assertions the loader signed
        for assertion in parse_qs(body.decode()).get("assertion", []):
            secrets |= _forms(assertion)
    assert any(b"assertion=" in body for body in EchoingTokenServer.received)
    places = {**outputs, **_warehouse_texts(database)}
    _scan(places, secrets, figures, "outputs and ledger after token servers echo requests")
