"""What a killed run leaves behind is never read as data and is cleared by the next run."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.sandbox import Sandbox
from tests.reliability.figures import Figures
from tests.support import Database, loader_env, run_cli, run_dbt_recorded

UNFINISHED_LOAD_ID = "1700000000.123456"
ORPHANS = 40


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as running:
        yield running


def _leave_rows_of_an_unfinished_load(database: Database) -> None:
    """What SIGKILL during dlt's load step leaves: rows under a load `_dlt_loads` never lists."""
    database.query(
        "create temporary table copies as select * from raw_salesforce.users limit %s;"
        " update copies set _dlt_load_id = %s, _dlt_id = md5(random()::text);"
        " insert into raw_salesforce.users select * from copies",
        (ORPHANS, UNFINISHED_LOAD_ID),
    )


def _dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_rows_of_an_unfinished_load_are_ignored_by_staging_and_cleared_by_the_next_run(
    database: Database, sandbox: Sandbox, tmp_path: Path, figures: Figures
) -> None:
    with figures.trial("fault", "rows of a load killed midway (SIGKILL during load)"):
        env = {**loader_env(database, sandbox), "TMPDIR": str(tmp_path)}
        first = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
        assert first.returncode == 0, first.stderr
        committed = database.query("select count(*) from raw_salesforce.users")[0][0]
        _leave_rows_of_an_unfinished_load(database)
        killed_workdir = tmp_path / f"peoplestack-dlt-{_dead_pid()}-x1y2"
        (killed_workdir / "pipeline").mkdir(parents=True)
        (killed_workdir / "pipeline" / "records.jsonl").write_text('{"Name": "Ada"}\n')
        live_workdir = tmp_path / "peoplestack-dlt-1-live"  # pid 1 is always alive
        live_workdir.mkdir()

        build = run_dbt_recorded(
            ["run", "--select", "+stg_salesforce__user_versions"], env, tmp_path / "target"
        )
        assert build.returncode == 0, build.output
        staged = database.query("select count(*) from staging.stg_salesforce__user_versions")
        assert staged == [(committed,)]

        rerun = run_cli(["--log-format", "plain", "--sources", "salesforce"], env)
        assert rerun.returncode == 0, rerun.stderr
        assert f"discarded {ORPHANS} row(s) in raw_salesforce" in rerun.stderr
        unfinished = database.query(
            "select count(*) from raw_salesforce.users where _dlt_load_id = %s",
            (UNFINISHED_LOAD_ID,),
        )
        assert unfinished == [(0,)]
        assert database.query("select count(*) from raw_salesforce.users") == [(committed,)]
        # The killed run's directory is gone; the live process's stays; the runs' own went.
        remaining = sorted(path.name for path in tmp_path.glob("peoplestack-dlt-*"))
        assert remaining == [live_workdir.name]
