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
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.errors import ConfigurationError

if TYPE_CHECKING:
    from ingest.config import Given
    from ingest.progress import Reporter
    from ingest.run import RunRequest

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The checkout the package was installed from (an editable install, as `make install` does).
PACKAGE_CHECKOUT = Path(__file__).resolve().parents[1]
# dbt writes its artefacts here (relative to the project), apart from interactive runs'.
JOB_TARGET_PATH = "target/run-all"


@dataclass(frozen=True)
class BuildResult:
    """What one ``dbt build`` did: its exit code and the nodes that failed or warned."""

    returncode: int
    failed: dict[str, str] = field(default_factory=dict)  # unique id -> status
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
    """``dbt build`` of the whole project, its output passed through, its results read back."""
    root = project_root()
    target_path = root / JOB_TARGET_PATH
    results_file = target_path / "run_results.json"
    results_file.unlink(missing_ok=True)
    command = [dbt_executable(), "build", "--target-path", str(target_path), *extra_args]
    if as_of_date:
        command += ["--vars", json.dumps({"as_of_date": as_of_date})]
    completed = subprocess.run(command, cwd=root, env=dbt_environment(env), check=False)
    return read_build_results(completed.returncode, results_file)


def read_build_results(returncode: int, results_file: Path) -> BuildResult:
    """The failed and warning nodes of a finished build (none known when it wrote no results)."""
    if not results_file.exists():
        return BuildResult(returncode)
    document = json.loads(results_file.read_text())
    failed, warned = {}, []
    for item in document.get("results", []):
        status = item.get("status")
        if status in ("error", "fail", "runtime error"):
            failed[item["unique_id"]] = status
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
    """Load, then build, holding the job lock throughout; one exit code for both."""
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
    for unique_id, status in sorted(build.failed.items()):
        print(f"run-all: dbt {status}: {unique_id}", file=sys.stderr)
    if not build.ok:
        print(f"run-all: dbt build failed (exit {build.returncode})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
