"""The scheduling recipes in deploy/ say what they must: each runs the job this repository
ships, parses, and keeps one job at a time."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
import yaml

from ingest.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _parses_as_ingest_command(argv: list[str]) -> None:
    """The arguments after ``python -m ingest`` are ones the loader's CLI accepts."""
    build_parser().parse_args(argv)


def test_the_crontab_line_runs_the_job_daily() -> None:
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1
    minute, hour, day, month, weekday, command = lines[0].split(maxsplit=5)
    assert 0 <= int(minute) < 60 and 0 <= int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")
    words = shlex.split(command.split("&&", 1)[1].split(">>", 1)[0])
    assert words[1:3] == ["-m", "ingest"]
    _parses_as_ingest_command(words[3:])
    assert words[3] == "run-all"


def test_the_kubernetes_cronjob_runs_one_job_at_a_time_with_secrets_from_a_secret() -> None:
    manifest = yaml.safe_load((DEPLOY / "kubernetes" / "cronjob.yaml").read_text())
    assert manifest["apiVersion"] == "batch/v1"
    assert manifest["kind"] == "CronJob"
    spec = manifest["spec"]
    assert len(spec["schedule"].split()) == 5
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    _parses_as_ingest_command(container["args"])
    assert container["args"][0] == "run-all"
    assert {"secretRef": {"name": "peoplestack"}} in container["envFrom"]
    plain = {item["name"]: item.get("value", "") for item in container["env"]}
    secret_like = [name for name in plain if "SECRET" in name or "PASSWORD" in name]
    assert not secret_like, f"secrets belong in the Secret, not the manifest: {secret_like}"


def test_the_dockerfile_runs_the_job_by_default() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT"))
    command = next(line for line in lines if line.startswith("CMD"))
    assert yaml.safe_load(entrypoint.split(maxsplit=1)[1]) == ["python", "-m", "ingest"]
    args = yaml.safe_load(command.split(maxsplit=1)[1])
    _parses_as_ingest_command(args)
    assert args[0] == "run-all"
    assert any(line.startswith("USER ") and "root" not in line for line in lines)


@pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None,
    reason="Airflow is not installed here (it is not a dependency of the project); "
    "install apache-airflow to import-check deploy/airflow/peoplestack_dag.py",
)
def test_the_airflow_dag_imports_with_ingest_then_dbt_build() -> None:
    spec = importlib.util.spec_from_file_location(
        "peoplestack_dag", DEPLOY / "airflow" / "peoplestack_dag.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    assert dag.max_active_runs == 1
    ingest, dbt_build = dag.get_task("ingest"), dag.get_task("dbt_build")
    assert dbt_build.upstream_task_ids == {"ingest"}
    for task in (ingest, dbt_build):
        assert task.retries >= 1 and task.retry_exponential_backoff
        assert task.on_failure_callback is not None


def test_the_airflow_dag_is_valid_python_that_names_both_tasks() -> None:
    """Without Airflow, at least: it compiles and wires ``ingest >> dbt_build``."""
    source = (DEPLOY / "airflow" / "peoplestack_dag.py").read_text()
    compile(source, "peoplestack_dag.py", "exec")
    assert "ingest >> dbt_build" in source
    assert "-m ingest" in source and "build" in source
