"""Broken configuration: one line naming the setting, exit 2, no traceback, nothing touched.

The loader validates its settings before it reaches for the warehouse or any API, so these
runs point at a warehouse and tenants that do not exist: had a bad setting got through, the
run would fail later, differently (exit 1, unreachable warehouse).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.figures import Figures
from tests.support import free_port, run_cli, run_dbt

SQL_IN_A_PREFIX = "z'||lo_from_bytea(4242,'pwned')||'"
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _env(**settings: str) -> dict[str, str]:
    """A complete configuration of every source, aimed at nothing that listens."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "SOURCES__", "INGEST__", "PEOPLESTACK_"))
    }
    env.update(
        PGHOST="127.0.0.1",
        PGPORT=str(free_port()),
        PGUSER="nobody",
        PGPASSWORD="not-a-password",
        PGDATABASE="nothing",
        SOURCES__SALESFORCE__INSTANCE_URL=nowhere,
        SOURCES__SALESFORCE__CLIENT_ID="id",
        SOURCES__SALESFORCE__CLIENT_SECRET="secret",
        SOURCES__SUCCESSFACTORS__API_URL=nowhere,
        SOURCES__SUCCESSFACTORS__COMPANY_ID="company",
        SOURCES__SUCCESSFACTORS__CLIENT_ID="id",
        SOURCES__SUCCESSFACTORS__USER_ID="user",
        SOURCES__SUCCESSFACTORS__ASSERTION="assertion",
        SOURCES__SUCCESSFACTORS_LEARNING__API_URL=nowhere,
        SOURCES__SUCCESSFACTORS_LEARNING__CLIENT_ID="id",
        SOURCES__SUCCESSFACTORS_LEARNING__CLIENT_SECRET="secret",
        SOURCES__SUCCESSFACTORS_LEARNING__USER_ID="user",
        SOURCES__SUCCESSFACTORS_LEARNING__COMPANY_ID="company",
    )
    env.update(settings)
    return env


BAD_SETTINGS = [
    # (trial name, environment, extra arguments, the setting the one line must name)
    ("schema prefix with a quote", {"PEOPLESTACK_SCHEMA_PREFIX": SQL_IN_A_PREFIX}, []),
    ("schema prefix in uppercase", {"PEOPLESTACK_SCHEMA_PREFIX": "PR42"}, []),
    ("schema prefix with a space", {"PEOPLESTACK_SCHEMA_PREFIX": "pr 42"}, []),
    ("schema prefix too long for a schema name", {"PEOPLESTACK_SCHEMA_PREFIX": "p" * 40}, []),
    ("schema prefix set as a run option", {"INGEST__SCHEMA_PREFIX": "pr-42"}, []),
    (
        "http:// for a remote Salesforce",
        {"SOURCES__SALESFORCE__INSTANCE_URL": "http://acme.my.salesforce.com"},
        [],
    ),
    (
        "Salesforce instance URL without a scheme",
        {"SOURCES__SALESFORCE__INSTANCE_URL": "acme.my.salesforce.com"},
        [],
    ),
    ("SuccessFactors API URL without a host", {"SOURCES__SUCCESSFACTORS__API_URL": "https://"}, []),
    (
        "http:// for a remote Learning tenant",
        {"SOURCES__SUCCESSFACTORS_LEARNING__API_URL": "http://acme.plateau.com"},
        [],
    ),
    ("page size 0", {"INGEST__PAGE_SIZE": "0"}, []),
    ("page size negative", {"INGEST__PAGE_SIZE": "-5"}, []),
    ("page size not a number", {"INGEST__PAGE_SIZE": "lots"}, []),
    ("overlap negative", {"INGEST__OVERLAP_MINUTES": "-10"}, []),
    ("run deadline 0", {"INGEST__RUN_DEADLINE_MINUTES": "0"}, []),
    ("run deadline negative", {"INGEST__RUN_DEADLINE_MINUTES": "-1"}, []),
    ("--since garbage", {}, ["--since", "yesterday-ish"]),
    ("--since in the future", {}, ["--since", TOMORROW]),
]
NAMED = {
    "schema prefix set as a run option": "ingest.schema_prefix",
    "http:// for a remote Salesforce": "sources.salesforce.instance_url",
    "Salesforce instance URL without a scheme": "sources.salesforce.instance_url",
    "SuccessFactors API URL without a host": "sources.successfactors.api_url",
    "http:// for a remote Learning tenant": "sources.successfactors_learning.api_url",
}


def _named(trial: str, env: dict[str, str], args: list[str]) -> str:
    if trial in NAMED:
        return NAMED[trial]
    if args:
        return args[0]
    (variable,) = env
    return variable if variable.startswith("PEOPLESTACK_") else f"ingest.{variable[8:].lower()}"


@pytest.mark.parametrize(
    ("trial", "settings", "args"), [pytest.param(*case, id=case[0]) for case in BAD_SETTINGS]
)
def test_a_bad_setting_is_one_line_naming_it_with_exit_2(
    trial: str, settings: dict[str, str], args: list[str], figures: Figures
) -> None:
    with figures.trial("bad input", trial):
        result = run_cli(["--log-format", "plain", *args], _env(**settings), timeout=120)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert _named(trial, settings, args) in lines[0]


@pytest.mark.parametrize(
    "settings",
    [
        {
            "PEOPLESTACK_SCHEMA_PREFIX": "pr_42",
            "SOURCES__SALESFORCE__INSTANCE_URL": "http://localhost:8765",
        },
        {
            "PEOPLESTACK_SCHEMA_PREFIX": "_" + "p" * 35,  # the longest allowed
            "SOURCES__SALESFORCE__INSTANCE_URL": "http://[::1]:8765",
            "INGEST__PAGE_SIZE": "1",
            "INGEST__OVERLAP_MINUTES": "0",
        },
    ],
    ids=["plain", "least"],
)
def test_good_settings_pass_to_the_warehouse(settings: dict[str, str]) -> None:
    result = run_cli(["--log-format", "plain", "--sources", "salesforce"], _env(**settings))
    assert result.returncode == 1  # the unreachable warehouse, after the settings passed
    assert "warehouse" in result.stderr.lower() or "connect" in result.stderr.lower()


def test_dbt_refuses_a_schema_prefix_that_would_run_as_sql(
    tmp_path: Path, figures: Figures
) -> None:
    with figures.trial("bad input", "schema prefix with a quote (dbt)"):
        env = {**_env(), "PEOPLESTACK_SCHEMA_PREFIX": SQL_IN_A_PREFIX}
        result = run_dbt(
            ["parse", "--target-path", str(tmp_path), "--log-path", str(tmp_path)], env
        )
        assert result.returncode != 0
        assert "PEOPLESTACK_SCHEMA_PREFIX must be lowercase letters" in result.stdout
