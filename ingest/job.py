"""``python -m ingest run-all``: the scheduled job — load, then ``dbt build`` — under one lock.

What a cron line, a Kubernetes CronJob or an Airflow task calls. One exit code: 0 when the
load succeeded (rejects within the gate included) and the build passed, 1 when either half
failed (the build is skipped after a failed load: the marts would only be rebuilt from
yesterday's data), 2 for a usage or configuration error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ingest import alerts, history
from ingest.errors import ConfigurationError, PeoplestackError

if TYPE_CHECKING:
    from ingest.config import Given
    from ingest.progress import Reporter
    from ingest.run import RunRequest
    from ingest.target import WarehouseTarget

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The checkout the package was installed from (an editable install, as `make install` does).
PACKAGE_CHECKOUT = Path(__file__).resolve().parents[1]
# dbt writes its artefacts here (relative to the project), apart from interactive runs'.
JOB_TARGET_PATH = "target/run-all"
# The alert of a job that stopped before its end without a verdict of its own (its load
# and build alert for themselves).
JOB_NOT_RUN = "job_not_run"
# Unit tests check the models' code on fixed rows, not the day's data: CI runs them (`make
# test`); the daily build leaves them out, as dbt Labs advises for production (they were
# about a sixth of the build's node time on the medium demo).
PRODUCTION_EXCLUDES = ("--exclude", "resource_type:unit_test")


@dataclass(frozen=True)
class FailedNode:
    """A node of the build that errored, or a test that failed (``failures`` rows)."""

    unique_id: str
    status: str
    failures: int | None
    message: str


@dataclass(frozen=True)
class BuildResult:
    """What one ``dbt build`` did: its exit code and the nodes that failed or warned."""

    returncode: int
    failed: list[FailedNode] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)
    invocation_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise ConfigurationError("dbt is not installed: `make install` installs it")
    return found


def dbt_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The loader's warehouse, for dbt: profiles.yml reads the libpq variables, and the local
    warehouse's password comes from its passfile (unless PGPASSWORD or PGPASSFILE is set)."""
    from ingest.target import PASSFILE_NAME, local_root

    env = dict(os.environ if env is None else env)
    if not env.get("PGHOST") and not env.get("PGPASSWORD") and not env.get("PGPASSFILE"):
        env["PGPASSFILE"] = str(local_root(env) / PASSFILE_NAME)
    return env


def project_root() -> Path:
    """Where ``dbt build`` runs: the current directory when it holds the dbt project (a
    container's working directory, a cron line's ``cd``), else the checkout of the package."""
    for candidate in (Path.cwd(), PACKAGE_CHECKOUT):
        if (candidate / "dbt_project.yml").exists():
            return candidate
    raise ConfigurationError(
        f"no dbt_project.yml in {Path.cwd()} or {PACKAGE_CHECKOUT}: run-all runs from the "
        "project's directory"
    )


def run_dbt_build(
    as_of_date: str | None, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
) -> BuildResult:
    """``dbt build`` of the whole project but its unit tests, its output passed through, its
    results read back."""
    root = project_root()
    target_path = root / JOB_TARGET_PATH
    results_file = target_path / "run_results.json"
    results_file.unlink(missing_ok=True)
    command = [
        *(dbt_executable(), "build", "--target-path", str(target_path)),
        *PRODUCTION_EXCLUDES,
        *extra_args,
    ]
    if as_of_date:
        command += ["--vars", json.dumps({"as_of_date": as_of_date})]
    completed = subprocess.run(command, cwd=root, env=dbt_environment(env), check=False)
    return read_build_results(completed.returncode, results_file)


def read_build_results(returncode: int, results_file: Path) -> BuildResult:
    """The failed and warning nodes of a finished build (none known when it wrote no results)."""
    if not results_file.exists():
        return BuildResult(returncode)
    document = json.loads(results_file.read_text())
    failed, warned = [], []
    for item in document.get("results", []):
        status = item.get("status")
        if status in ("error", "fail", "runtime error"):
            message = " ".join(str(item.get("message") or "").split())[:500]
            failed.append(FailedNode(item["unique_id"], status, item.get("failures"), message))
        elif status == "warn":
            warned.append(item["unique_id"])
    invocation = document.get("metadata", {}).get("invocation_id")
    return BuildResult(returncode, failed, warned, invocation)


def sandbox_date(day: int) -> str:
    """The sandbox's calendar date of a simulated day (compliance is judged as of it)."""
    completed = subprocess.run(
        [sys.executable, "-m", "ingest.sandbox", "date", "--day", str(day)],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def run_all(
    request: RunRequest,
    reporter: Reporter,
    given: Given | None = None,
    as_of_date: str | None = None,
    dbt_args: Sequence[str] = (),
) -> int:
    """Load, then build, holding the job lock throughout; one exit code for both. A job that
    cannot even start (the warehouse down, another job running) alerts too."""
    from ingest import config, run
    from ingest.target import resolve_target

    options = config.load_run_options(given.run_options if given else None)
    alert_settings = alerts.load_settings()  # a wrong setting stops the job before it starts
    target = resolve_target()
    run.mask_secrets([], [target.password, *alert_settings.secrets()])
    alerting = alerts.Alerts(alert_settings, target, options.schema("ops"), reporter)
    try:
        return _locked_job(request, reporter, given, as_of_date, dbt_args, alerting)
    except ConfigurationError:
        raise
    except PeoplestackError as exc:
        alerting.alert(
            JOB_NOT_RUN,
            "peoplestack: the daily job did not run",
            f"run-all stopped before it could finish: {exc}",
            JOB_NOT_RUN,
        )
        raise


def _locked_job(
    request: RunRequest,
    reporter: Reporter,
    given: Given | None,
    as_of_date: str | None,
    dbt_args: Sequence[str],
    alerting: alerts.Alerts,
) -> int:
    from ingest import config, run
    from ingest.ledger import job_lock
    from ingest.target import ensure_reachable, resolve_target

    options = config.load_run_options(given.run_options if given else None)
    target = resolve_target()
    ensure_reachable(target)
    with job_lock(target, options.lock_wait_seconds, options.schema_prefix):
        loaded = run.load(request, reporter, given)
        if loaded != EXIT_OK:
            print("run-all: the load failed, so dbt build was skipped", file=sys.stderr)
            return loaded
        if request.dry_run:
            print("run-all: a dry run loads nothing, so dbt build was skipped")
            return EXIT_OK
        env = dict(os.environ, PEOPLESTACK_SCHEMA_PREFIX=options.schema_prefix)
        build = run_dbt_build(as_of_date, dbt_args, env=env)
        alert_after_build(alerting, build, target, options.schema("ops"))
    for node in build.failed:
        print(f"run-all: dbt {node.status}: {node.unique_id}", file=sys.stderr)
    if not build.ok:
        print(f"run-all: dbt build failed (exit {build.returncode})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def alert_after_build(
    alerting: alerts.Alerts, build: BuildResult, target: WarehouseTarget, ops_schema: str
) -> None:
    """The build's alerts: each failed test or node, each stale source resource, each table
    whose row count fell past the threshold since the previous build."""
    for node in build.failed:
        if node.unique_id.startswith("test."):
            alerting.dbt_test_failed(node.unique_id, node.failures or 0, node.message)
        else:
            alerting.alert(
                "dbt_node_failed",
                f"peoplestack: dbt {node.status} in {node.unique_id}",
                f"dbt build: {node.unique_id} ended {node.status}.\n{node.message}",
                f"dbt_node_failed:{node.unique_id}",
            )
    now = datetime.now(UTC)
    for item in history.source_freshness(target, ops_schema):
        if item.last_loaded_at is None or now - item.last_loaded_at > history.STALE_AFTER:
            hours = history.STALE_AFTER.total_seconds() / 3600
            alerting.source_stale(
                f"{item.source}.{item.resource}", item.last_loaded_at, f"{hours:.0f} hours"
            )
    if build.invocation_id:
        for change in history.row_count_changes(target, ops_schema, build.invocation_id):
            alerting.rows_dropped(change.relation, change.previous, change.current)
