"""Paging that never ends, or leads elsewhere: every walk stops, loudly, and loads nothing.

Real CLI runs against a real sandbox over HTTP and a real Postgres. A faulty walk fails its
resource with one clear line, quickly; nothing of that resource lands and its cursor stays,
so a clean rerun loads exactly what a fault-free run (the module's baseline) loaded.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Faults, Sandbox
from tests.reliability.figures import Figures
from tests.support import Database, loader_env, make_database, run_cli

PAGE_SIZE = "200"  # 250 Salesforce users and 300 employees: two pages each
SECONDS_TO_FAIL = 45  # a walk that is stopped is stopped long before this
RUN_TIMEOUT = 120  # without the guards a walk runs until killed here


@dataclass(frozen=True)
class Walk:
    """One paged resource of one API, and how the loader is asked to read it."""

    api: str  # the sandbox's name for the API
    label: str  # the API's name for its next link, as the trials are named
    sources: str  # --sources (Learning is read per employee: Employee Central comes along)
    resource: str
    table: str


SALESFORCE = Walk(
    "salesforce",
    "Salesforce nextRecordsUrl",
    "salesforce",
    "salesforce.users",
    "raw_salesforce.users",
)
SUCCESSFACTORS = Walk(
    "successfactors",
    "SuccessFactors __next",
    "successfactors",
    "successfactors.users",
    "raw_successfactors.users",
)
LEARNING = Walk(
    "learning",
    "Learning @odata.nextLink",
    "successfactors,successfactors_learning",
    "successfactors_learning.learning_items",
    "raw_successfactors.learning_items",
)
WALKS = [pytest.param(w, id=w.api) for w in (SALESFORCE, SUCCESSFACTORS, LEARNING)]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # Faults are set per test and cleared after; the day never moves, so every run reads
    # the same data as the baseline.
    with Sandbox(seed=3, scale=250, learning_min_interval_seconds=0) as running:
        yield running


@pytest.fixture(autouse=True)
def _faults_cleared(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.set_faults(None)


@pytest.fixture(scope="module")
def baseline(postgres_server: LocalWarehouse, sandbox: Sandbox) -> Database:
    """A fault-free load of every source: what each clean rerun must equal."""
    database = make_database(postgres_server)
    env = loader_env(database, sandbox, page_size=PAGE_SIZE)
    result = _ingest(env, "--sources", LEARNING.sources + ",salesforce")
    assert result.returncode == 0, result.stderr
    return database


def _ingest(env: dict[str, str], *args: str) -> CompletedRun:
    started = time.monotonic()
    result = run_cli(["--log-format", "plain", *args], env, timeout=RUN_TIMEOUT)
    return CompletedRun(result.returncode, result.stderr, time.monotonic() - started)


@dataclass(frozen=True)
class CompletedRun:
    returncode: int
    stderr: str
    seconds: float


def _rows(database: Database, table: str) -> list[tuple]:
    """The table's rows without load bookkeeping (``_dlt_*``, ``_extracted_at``), sorted."""
    schema, name = table.split(".")
    exists = database.query("select to_regclass(%s) is not null", (table,))[0][0]
    if not exists:
        return []
    columns = [
        column
        for (column,) in database.query(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s and column_name not like '\\_%%'"
            " order by column_name",
            (schema, name),
        )
    ]
    rows = database.query(f"select {', '.join(columns)} from {table}")
    return sorted(rows, key=repr)


def _ledger(database: Database, resource: str) -> list[tuple]:
    """(status, extracted, loaded) of ``source.resource`` in each run, the latest first."""
    source, name = resource.split(".")
    return database.query(
        "select r.status, r.rows_extracted, r.rows_loaded"
        " from ops.ingest_run_resources as r join ops.ingest_runs as run using (run_id)"
        " where r.source = %s and r.resource = %s order by run.started_at desc",
        (source, name),
    )


def _fails_alone_then_reruns_clean(
    database: Database,
    baseline: Database,
    sandbox: Sandbox,
    walk: Walk,
    faulty: CompletedRun,
    clear_line: str,
) -> None:
    """The faulty run failed the resource quickly with one clear line and loaded none of it;
    the clean rerun then reads it whole (its cursor never moved) and equals the baseline."""
    assert faulty.returncode == 1, faulty.stderr
    assert faulty.seconds < SECONDS_TO_FAIL, faulty.seconds
    failed = [line for line in faulty.stderr.splitlines() if line.startswith(walk.resource)]
    assert any(f"{walk.resource}: FAILED — " in line and clear_line in line for line in failed), (
        faulty.stderr
    )
    assert "Traceback" not in faulty.stderr
    assert _rows(database, walk.table) == []
    assert _ledger(database, walk.resource)[0][0::2] == ("FAILED", 0)

    sandbox.set_faults(None)
    env = loader_env(database, sandbox, page_size=PAGE_SIZE)
    clean = _ingest(env, "--sources", walk.sources)
    assert clean.returncode == 0, clean.stderr
    expected = _rows(baseline, walk.table)
    assert _rows(database, walk.table) == expected and len(expected) > 40
    status, extracted, loaded = _ledger(database, walk.resource)[0]
    assert (status, loaded) == ("SUCCESS", len(expected)) and extracted >= len(expected)


@pytest.mark.parametrize("walk", WALKS)
def test_a_next_link_back_to_a_page_already_read_fails_fast_and_a_rerun_loads_all(
    database: Database, baseline: Database, sandbox: Sandbox, walk: Walk, figures: Figures
) -> None:
    with figures.trial("fault", f"{walk.label} loops back to a page already read"):
        sandbox.set_faults(Faults(apis=(walk.api,), next_link_loops_back=True))
        env = loader_env(database, sandbox, page_size=PAGE_SIZE)
        faulty = _ingest(env, "--sources", walk.sources)
        _fails_alone_then_reruns_clean(
            database, baseline, sandbox, walk, faulty, "leads back to a page already read"
        )


@pytest.mark.parametrize(
    ("walk", "clear_line"),
    [
        pytest.param(SALESFORCE, "though it announced 250 record(s)", id="salesforce-totalSize"),
        pytest.param(SUCCESSFACTORS, "though it announced", id="successfactors-__count"),
        # Learning announces no count: only the run's deadline ends the walk.
        pytest.param(LEARNING, "the run passed its deadline", id="learning-deadline"),
    ],
)
def test_a_next_link_that_never_ends_is_stopped_and_a_rerun_loads_all(
    database: Database,
    baseline: Database,
    sandbox: Sandbox,
    walk: Walk,
    clear_line: str,
    figures: Figures,
) -> None:
    stopper = "the run deadline" if walk is LEARNING else "the announced count"
    with figures.trial("fault", f"{walk.label} never ends ({stopper} stops it)"):
        env = loader_env(database, sandbox, page_size=PAGE_SIZE)
        if walk is LEARNING:  # Employee Central first, so the deadline falls on Learning
            assert _ingest(env, "--sources", "successfactors").returncode == 0
            env["INGEST__RUN_DEADLINE_MINUTES"] = "0.1"
        sandbox.set_faults(Faults(apis=(walk.api,), next_link_never_ends=True))
        sources = "successfactors_learning" if walk is LEARNING else walk.sources
        faulty = _ingest(env, "--sources", sources)
        _fails_alone_then_reruns_clean(database, baseline, sandbox, walk, faulty, clear_line)
        if walk is LEARNING:  # past the deadline, nothing more of the run loaded
            assert faulty.stderr.count("FAILED — the run passed its deadline") == 3
            for table in ("learning_assignments", "learning_completions"):  # the rerun's
                table = f"raw_successfactors.{table}"
                assert _rows(database, table) == _rows(baseline, table) != []


class _Trap(http.server.BaseHTTPRequestHandler):
    """Another origin: counts whatever reaches it."""

    received: list[str] = []

    def do_GET(self) -> None:
        self.received.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"records": [], "done": true}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on another port (so another origin): its URL and what it received."""
    received: list[str] = []
    handler = type("Trap", (_Trap,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("walk", WALKS)
def test_a_next_link_to_another_origin_is_refused_before_any_request(
    database: Database,
    sandbox: Sandbox,
    walk: Walk,
    trap: tuple[str, list[str]],
    figures: Figures,
) -> None:
    origin, received = trap
    with figures.trial("attack", f"{walk.label} to another host"):
        sandbox.set_faults(Faults(apis=(walk.api,), next_link_origin=origin))
        env = loader_env(database, sandbox, page_size=PAGE_SIZE)
        faulty = _ingest(env, "--sources", walk.sources)
        assert faulty.returncode == 1, faulty.stderr
        assert f"points to another origin ({origin}" in faulty.stderr
        assert received == []  # no request, so no token, ever reached it
        assert _rows(database, walk.table) == []
