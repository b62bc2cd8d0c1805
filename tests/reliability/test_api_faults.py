"""Every API fault, on all three APIs: the run survives it or fails loudly, and a clean rerun
leaves raw tables, cursors and marts exactly as a fault-free run does.

Real CLI runs against a real sandbox over HTTP and a real Postgres, each fault on its own
database. One test compares raw tables and cursors; the other builds the marts of the same
databases and compares them row for row with the baseline's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Faults, Sandbox
from tests.reliability.figures import Figures
from tests.reliability.warehouse_state import (
    Landed,
    assert_same,
    assert_same_rows,
    landed,
    marts,
)
from tests.support import Database, loader_env, make_database, run_cli

# A loader run per fault and a rerun (minutes), and a dbt build per fault in the marts test:
# `make reliability` and CI run the module; `make test` covers faults in tests/test_ingest.py.
pytestmark = pytest.mark.slow

SEED, SCALE = 5, 250  # 250 Salesforce users, 300 employees: the smallest with two SF pages
PAGE_SIZE = "50"  # Salesforce asks 200 (its least): 2 pages; Employee Central 6 pages
SOURCES = "salesforce,successfactors,successfactors_learning"
RUN_TIMEOUT = 240
ALL = ("salesforce", "successfactors", "learning")


@dataclass(frozen=True)
class Fault:
    """One fault as a trial: what the sandbox does, and what the faulty run must do."""

    name: str  # as the figures table shows it
    faults: Faults | dict[str, Faults]
    survived: bool = True  # exit 0; otherwise exit 1 with clear_line on a FAILED line
    clear_line: str = ""
    ingest: dict[str, str] = field(default_factory=dict)  # INGEST__* options of the run
    within_seconds: float = RUN_TIMEOUT  # the faulty run ends sooner than this


FAULTS = [
    Fault(
        "429 storm with Retry-After: 3 in a row on each API",
        Faults(rate_limit_burst=3, retry_after_seconds=1),
    ),
    Fault(
        "bursts of 5xx: 500 on Salesforce, 502 on Employee Central, 503 on Learning",
        {
            "salesforce": Faults(apis=("salesforce",), server_error_burst=2),
            "successfactors": Faults(
                apis=("successfactors",), server_error_burst=2, server_error_status=502
            ),
            "learning": Faults(apis=("learning",), server_error_burst=2, server_error_status=503),
        },
    ),
    Fault(
        "503s outlasting every retry (Salesforce)",
        Faults(apis=("salesforce",), server_error_burst=3),
        survived=False,
        clear_line="Salesforce answered HTTP 503",
        ingest={"request_max_attempts": "3"},
    ),
    Fault("connection resets: 2 on each API", Faults(connection_reset_next=2)),
    Fault(
        "read timeouts: an answer stalled past the loader's 2 s timeout on each API",
        # Waiting the stall out (or the default 60 s timeout) would take longer than allowed.
        Faults(stall_next=1, stall_seconds=90),
        ingest={"request_timeout_seconds": "2"},
        within_seconds=60,
    ),
    Fault("a token expiring every 2 pages on each API", Faults(token_expires_after_pages=2)),
    Fault("a token endpoint failing once (503) on each API", Faults(token_failure_next=1)),
    Fault(
        "a token endpoint failing on every retry (Learning)",
        Faults(apis=("learning",), token_failure_next=3),
        survived=False,
        clear_line="SuccessFactors Learning token endpoint unavailable (HTTP 503",
        ingest={"request_max_attempts": "3"},
    ),
    Fault("a truncated JSON body on each API", Faults(truncate_next=1)),
    # Learning is read only once Employee Central has loaded: one run each way.
    Fault(
        "an answer of unknown shape on Salesforce and Learning",
        Faults(apis=("salesforce", "learning"), unknown_shape_next=1),
        survived=False,
        clear_line="answered in an unknown shape",
    ),
    Fault(
        "an answer of unknown shape on Employee Central",
        Faults(apis=("successfactors",), unknown_shape_next=1),
        survived=False,
        clear_line="SuccessFactors User answered in an unknown shape",
    ),
    Fault("an empty page in the middle of a walk on each API", Faults(empty_page_next=1)),
]
CASES = [pytest.param(f, id=f.name.split(":")[0].replace(" ", "-")[:40]) for f in FAULTS]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # The day never moves: every run reads the same company as the baseline.
    with Sandbox(seed=SEED, scale=SCALE, day=0, learning_min_interval_seconds=0) as running:
        yield running


@pytest.fixture(autouse=True)
def _faults_cleared(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.set_faults(None)


def _ingest(database: Database, sandbox: Sandbox, **ingest: str) -> tuple[int, str]:
    env = loader_env(database, sandbox, page_size=PAGE_SIZE, **ingest)
    result = run_cli(["--log-format", "plain", "--sources", SOURCES], env, timeout=RUN_TIMEOUT)
    return result.returncode, result.stderr


@dataclass
class Baseline:
    """A fault-free load of every source; its marts built on first demand."""

    database: Database
    landed: Landed
    target: Path
    _marts: dict[str, list[str]] = field(default_factory=dict)

    def marts(self) -> dict[str, list[str]]:
        if not self._marts:
            self._marts = marts(self.database, 0, self.target)
        return self._marts


@pytest.fixture(scope="module")
def baseline(
    postgres_server: LocalWarehouse, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Baseline:
    database = make_database(postgres_server)
    returncode, stderr = _ingest(database, sandbox)
    assert returncode == 0, stderr
    return Baseline(database, landed(database), tmp_path_factory.mktemp("dbt-baseline"))


@pytest.fixture(scope="module")
def rerun_after() -> dict[str, Database]:
    """Each fault's database after its faulty run and clean rerun, for the slow test to
    build marts on without loading again."""
    return {}


def _faulty_run_then_clean_rerun(
    fault: Fault,
    sandbox: Sandbox,
    postgres_server: LocalWarehouse,
    baseline: Baseline,
    done: dict[str, Database],
) -> Database:
    """A fresh database: the run with the fault (survived, and then already exact; or failed
    loudly), then a clean rerun that succeeds."""
    if fault.name in done:
        return done[fault.name]
    database = make_database(postgres_server)
    sandbox.set_faults(fault.faults)
    started = time.monotonic()
    returncode, stderr = _ingest(database, sandbox, **fault.ingest)
    assert "Traceback" not in stderr, stderr
    if fault.survived:
        assert returncode == 0, stderr
        assert_same(landed(database), baseline.landed)  # surviving is losing nothing
    else:
        assert returncode == 1, stderr
        failed = [line for line in stderr.splitlines() if ": FAILED — " in line]
        assert any(fault.clear_line in line for line in failed), stderr
    # Every one-shot fault was served: the trial really met the fault.
    assert sandbox.pending_faults() == {}, sandbox.pending_faults()
    assert time.monotonic() - started < fault.within_seconds

    sandbox.set_faults(None)
    returncode, stderr = _ingest(database, sandbox)
    assert returncode == 0, stderr
    done[fault.name] = database
    return database


@pytest.mark.parametrize("fault", CASES)
def test_a_rerun_after_an_api_fault_lands_exactly_the_fault_free_raw_tables_and_cursors(
    fault: Fault,
    sandbox: Sandbox,
    postgres_server: LocalWarehouse,
    baseline: Baseline,
    rerun_after: dict[str, Database],
    figures: Figures,
) -> None:
    outcome = "survived" if fault.survived else "failed loudly"
    with figures.trial("fault", f"API: {fault.name} ({outcome}; rerun exact)"):
        database = _faulty_run_then_clean_rerun(
            fault, sandbox, postgres_server, baseline, rerun_after
        )
        got = landed(database)
        assert_same(got, baseline.landed)
        assert sum(len(rows) for rows in got.tables.values()) > 1000


@pytest.mark.parametrize("fault", CASES)
def test_after_an_api_fault_and_a_rerun_the_marts_equal_the_fault_free_marts(
    fault: Fault,
    sandbox: Sandbox,
    postgres_server: LocalWarehouse,
    baseline: Baseline,
    rerun_after: dict[str, Database],
    figures: Figures,
    tmp_path: Path,
) -> None:
    with figures.trial("fault", f"API: {fault.name} (marts after the rerun exact)"):
        database = _faulty_run_then_clean_rerun(
            fault, sandbox, postgres_server, baseline, rerun_after
        )
        assert_same_rows(marts(database, 0, tmp_path / "target"), baseline.marts())
