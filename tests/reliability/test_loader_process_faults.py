"""The loader killed in each phase, the warehouse restarted or refusing a statement mid-load.

Each faulty run ends (killed, or exit 1 with a clear line), and a clean rerun leaves the raw
tables, the cursors and the marts exactly as a fault-free run of the same sandbox days does:
compared row for row, without the columns that say when or in which load a row landed.

The loader is killed at a moment read from its own dlt working directories (in a TMPDIR of
the test's): it is frozen (SIGSTOP) as soon as Learning's completions reach the phase, the
phase is checked again while it cannot move, then it gets SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ingest.local_warehouse import LocalWarehouse
from ingest.sandbox import Sandbox
from tests.reliability.figures import Figures
from tests.reliability.warehouse_state import (
    RUN_COLUMNS,
    Landed,
    assert_same,
    landed,
    marts,
)
from tests.support import (
    REPO_ROOT,
    Database,
    free_port,
    loader_env,
    make_database,
    run_cli,
)

# Each test loads the sandbox's company (twice) and kills or breaks a run: minutes in all.
pytestmark = pytest.mark.slow

SEED, SCALE = 7, 300  # about 12 s a run; Learning's completions load long enough to hit
LEARNING_PIPELINE = "peoplestack_successfactors_learning"
VICTIM = "learning_completions"
# -- what a run leaves in the warehouse ------------------------------------------------------


def uncommitted_rows(database: Database) -> int:
    """Rows, in any raw table (dlt's own included), of a load that never completed."""
    total = 0
    for schema, table in database.query(
        "select c.table_schema, c.table_name from information_schema.columns as c"
        " where c.table_schema like 'raw\\_%%' and c.column_name = '_dlt_load_id'"
    ):
        total += database.query(
            f'select count(*) from "{schema}"."{table}" as t where not exists (select 1 from'
            f' "{schema}"._dlt_loads as l where l.load_id = t._dlt_load_id and l.status = 0)'
        )[0][0]
    return total


def committed_rows(database: Database, schema: str, table: str) -> list[str]:
    """The rows staging reads: those of completed loads (dbt's `committed_rows`)."""
    if database.query("select to_regclass(%s) is null", (f"{schema}.{table}",))[0][0]:
        return []
    return [
        row
        for (row,) in database.query(
            f'select (to_jsonb(t) - %s::text[])::text from "{schema}"."{table}" as t'
            f' where t._dlt_load_id in (select load_id from "{schema}"._dlt_loads'
            " where status = 0) order by 1",
            (RUN_COLUMNS,),
        )
    ]


# -- the fault-free reference ----------------------------------------------------------------


@dataclass
class Reference:
    """The sandbox's days 0 and 1 loaded without faults; the marts built on demand."""

    database: Database
    days: list[Landed]
    target: Path
    _marts: dict[str, list[str]] = field(default_factory=dict)

    def marts(self) -> dict[str, list[str]]:
        if not self._marts:
            self._marts = marts(self.database, 1, self.target)
        return self._marts


@pytest.fixture(scope="module")
def reference(
    postgres_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Reference:
    database = make_database(postgres_server)
    days = []
    with Sandbox(seed=SEED, scale=SCALE, day=0, learning_min_interval_seconds=0) as sandbox:
        for day in (0, 1):
            sandbox.set_day(day)
            run = run_cli(["--log-format", "plain"], loader_env(database, sandbox))
            assert run.returncode == 0, run.stderr
            days.append(landed(database))
    return Reference(database, days, tmp_path_factory.mktemp("dbt-reference"))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=SEED, scale=SCALE, day=0, learning_min_interval_seconds=0) as running:
        yield running


# -- catching the loader in a phase ----------------------------------------------------------


def _any(pipeline: Path, pattern: str) -> bool:
    return next(pipeline.glob(pattern), None) is not None


def _in_extract(pipeline: Path) -> bool:
    """Completions are being written by the extract step (its folder has not been handed on)."""
    writing = [
        path
        for path in pipeline.glob(f"normalize/*/*/new_jobs/{VICTIM}.*")
        if path.parts[-4] != "extracted"
    ]
    return bool(writing) and not _any(pipeline, "normalize/extracted/*")


def _in_normalise(pipeline: Path) -> bool:
    """Completions are extracted and are being normalised (not yet a load package)."""
    return _any(pipeline, f"normalize/extracted/*/new_jobs/{VICTIM}.*") and not _any(
        pipeline, "load/normalized/*"
    )


def _in_load(pipeline: Path) -> bool:
    """The load has committed the new cursor but not the completions it covers."""
    return _any(pipeline, f"load/normalized/*/started_jobs/{VICTIM}.*") and _any(
        pipeline, "load/normalized/*/completed_jobs/_dlt_pipeline_state.*"
    )


PHASES: dict[str, Callable[[Path], bool]] = {
    "extract": _in_extract,
    "normalise": _in_normalise,
    "load": _in_load,
}


def _start_loader(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "--log-format", "plain"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reached(reached: Callable[[Path], bool], pipeline: Path) -> bool:
    """``reached(pipeline)``, False when dlt moved a folder away while it was being read."""
    try:
        return reached(pipeline)
    except FileNotFoundError:
        return False


def _wait_for_phase(
    run: subprocess.Popen[str], temp_root: Path, reached: Callable[[Path], bool]
) -> bool:
    """Freeze the run (SIGSTOP) the moment its Learning pipeline is in the phase; False when
    the run ended first."""
    pattern = f"peoplestack-dlt-{run.pid}-*/{LEARNING_PIPELINE}"
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        for pipeline in temp_root.glob(pattern):
            if _reached(reached, pipeline):
                os.kill(run.pid, signal.SIGSTOP)
                if _reached(reached, pipeline):  # still so, now that it cannot move
                    return True
                os.kill(run.pid, signal.SIGCONT)
        time.sleep(0.002)
    return False


# -- the faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", list(PHASES))
def test_a_run_killed_in_any_phase_is_rerun_exactly(
    phase: str,
    reference: Reference,
    database: Database,
    sandbox: Sandbox,
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", f"SIGKILL during {phase}"):
        temp_root = tmp_path / "tmp"
        temp_root.mkdir()
        env = {**loader_env(database, sandbox), "TMPDIR": str(temp_root)}
        run = _start_loader(env)
        try:
            assert _wait_for_phase(run, temp_root, PHASES[phase]), f"never saw {phase}"
        finally:
            run.kill()  # SIGKILL, also when frozen
            run.communicate(timeout=30)
        assert run.returncode == -signal.SIGKILL
        if phase == "load":
            # The worst moment: the new cursor is in the warehouse, its rows are not all.
            assert uncommitted_rows(database) > 0
        assert committed_rows(database, "raw_successfactors", VICTIM) == []

        rerun = run_cli(["--log-format", "plain"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert uncommitted_rows(database) == 0
        assert_same(landed(database), reference.days[0])
        assert database.query("select status from ops.ingest_runs order by started_at") == [
            ("ABANDONED",),
            ("SUCCESS",),
        ]
        assert not list(temp_root.glob("peoplestack-dlt-*")), "a killed run's files remain"

        # The cursors carry on as if nothing happened: the next day adds the same versions.
        sandbox.set_day(1)
        next_day = run_cli(["--log-format", "plain"], env)
        assert next_day.returncode == 0, next_day.stderr
        assert_same(landed(database), reference.days[1])
        if phase == "load":
            assert marts(database, 1, tmp_path / "target") == reference.marts()


def _loading_assignments(pipeline: Path) -> bool:
    """Learning's assignments are being inserted (completions, the last load, follow)."""
    return _any(pipeline, "load/normalized/*/started_jobs/learning_assignments.*")


def _assert_ends_clearly(stderr: str) -> str:
    """A failed run ends on one line saying so, without a traceback; that line."""
    assert "Traceback" not in stderr, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(("error: ", "run ")) and ("FAILED" in last or "error" in last), stderr
    return last


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[LocalWarehouse]:
    """A warehouse of this test's alone, so restarting it disturbs no other test."""
    server = LocalWarehouse(root=tmp_path / "pg", port=free_port(), password="restart-pw")
    server.up()
    yield server
    server.down()


def test_a_warehouse_restart_during_a_load_is_rerun_exactly(
    reference: Reference,
    own_server: LocalWarehouse,
    sandbox: Sandbox,
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", "the warehouse restarted during a load"):
        database = make_database(own_server)
        temp_root = tmp_path / "tmp"
        temp_root.mkdir()
        env = {**loader_env(database, sandbox), "TMPDIR": str(temp_root)}
        run = _start_loader(env)
        try:
            assert _wait_for_phase(run, temp_root, _loading_assignments), "never saw the load"
            own_server.down()  # ends every session: the run lock's and the load's
            os.kill(run.pid, signal.SIGCONT)
            own_server.up()
            _, stderr = run.communicate(timeout=300)
        finally:
            run.kill()
        # The run lock's session ended with the restart: the run must not load again.
        assert run.returncode == 1, stderr
        last = _assert_ends_clearly(stderr)
        assert "run lock" in stderr and "was lost" in stderr, last
        assert committed_rows(database, "raw_successfactors", VICTIM) == []

        rerun = run_cli(["--log-format", "plain"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert uncommitted_rows(database) == 0
        assert_same(landed(database), reference.days[0])
        assert not list(temp_root.glob("peoplestack-dlt-*"))


FULL_DISK = (
    "create table public.disk (is_full boolean not null);"
    " insert into public.disk values (true);"
    " create function public.write_or_fail() returns trigger language plpgsql as $$"
    " begin"
    "   if (select is_full from public.disk) then"
    "     raise exception 'could not extend file \"base/16384/24576\": No space left on device'"
    "       using errcode = 'disk_full', hint = 'Check free disk space.';"
    "   end if;"
    "   return null;"
    " end $$;"
)


@pytest.mark.parametrize(
    ("schema", "table"),
    [("raw_successfactors", VICTIM), ("raw_salesforce", "_dlt_loads")],
    ids=["inserting rows", "completing the load"],
)
def test_a_disk_full_during_a_load_fails_clearly_and_is_rerun_exactly(
    schema: str,
    table: str,
    reference: Reference,
    database: Database,
    sandbox: Sandbox,
    tmp_path: Path,
    figures: Figures,
) -> None:
    with figures.trial("fault", f"disk full (a failing statement) {table}"):
        env = loader_env(database, sandbox)
        first = run_cli(["--log-format", "plain"], env)
        assert first.returncode == 0, first.stderr
        # Postgres's own answer to a full disk, on every insert into the table until freed.
        database.query(FULL_DISK)
        database.query(
            f'create trigger disk_full before insert on "{schema}"."{table}"'
            " for each statement execute function public.write_or_fail()"
        )

        sandbox.set_day(1)
        failed = run_cli(["--log-format", "plain"], env)
        assert failed.returncode == 1, failed.stderr
        last = _assert_ends_clearly(failed.stderr)
        assert "No space left on device" in failed.stderr, failed.stderr
        # Staging sees the day before for what failed, nothing of the failed load.
        resource = VICTIM if table == VICTIM else "users"
        assert (
            committed_rows(database, schema, resource)
            == (reference.days[0].tables[f"{schema}.{resource}"])
        ), last

        database.query("update public.disk set is_full = false")  # space freed
        rerun = run_cli(["--log-format", "plain"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert uncommitted_rows(database) == 0
        assert_same(landed(database), reference.days[1])
        if table == VICTIM:
            assert marts(database, 1, tmp_path / "target") == reference.marts()
