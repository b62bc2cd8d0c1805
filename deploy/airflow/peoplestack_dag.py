"""peoplestack's daily job as an Airflow DAG: ``ingest >> dbt_build``.

Copy this file into the DAGs folder of an Airflow whose workers have the project checked out
at ``PEOPLESTACK_HOME`` (default ``/opt/peoplestack``) with its venv (``make install``).
Settings come from the checkout's ``.dlt/*.toml`` or the workers' environment; put secrets
in an Airflow connection or secrets backend that exports them as environment variables.
One run at a time (``max_active_runs=1``); a failed task is retried with exponential
backoff (a failed load leaves data and cursors as they were, so a retry is safe), and a
task that fails for good calls ``notify_failure``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow import DAG

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

HOME = os.environ.get("PEOPLESTACK_HOME", "/opt/peoplestack")
PYTHON = f"{HOME}/.venv/bin/python"
DBT = f"{HOME}/.venv/bin/dbt"

log = logging.getLogger(__name__)


def notify_failure(context: dict[str, Any]) -> None:
    """A task failed for good: say which, where its log is, and which run it was."""
    instance = context["task_instance"]
    log.error(
        "peoplestack %s failed for %s (try %s); log: %s",
        instance.task_id,
        context.get("logical_date") or context.get("ds"),
        instance.try_number,
        instance.log_url,
    )


default_args = {
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=45),
    "on_failure_callback": notify_failure,
}

with DAG(
    dag_id="peoplestack",
    description="Load SuccessFactors and Salesforce, then dbt build the marts",
    schedule="15 5 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["peoplestack"],
) as dag:
    ingest = BashOperator(
        task_id="ingest",
        bash_command=f"{PYTHON} -m ingest --log-format json",
        cwd=HOME,
        # Exit 1: a source failed (a retry may pass); exit 2: a setting is wrong, and every
        # retry fails the same way until it is fixed.
        execution_timeout=timedelta(hours=6),
    )
    dbt_build = BashOperator(
        task_id="dbt_build",
        # Compliance is judged as of the run's logical date.
        bash_command=f"{DBT} build --vars '{{as_of_date: \"{{{{ ds }}}}\"}}'",
        cwd=HOME,
        execution_timeout=timedelta(hours=2),
    )
    ingest >> dbt_build
