"""Which Postgres the job uses, and `python -m ingest warehouse up|down|status` on real servers."""

from __future__ import annotations

import os

import psycopg2
import pytest

from ingest.target import LOCAL_DATABASE, LOCAL_HOST, LOCAL_PORT, resolve_target
from tests.support import REPO_ROOT, Database, free_port, run_cli, run_dbt


def test_without_pghost_the_local_warehouse_is_the_target() -> None:
    target = resolve_target({})
    assert target.is_local
    assert (target.host, target.port, target.database) == (LOCAL_HOST, LOCAL_PORT, LOCAL_DATABASE)


def test_libpq_variables_point_at_another_server() -> None:
    target = resolve_target(
        {
            "PGHOST": "db.example.internal",
            "PGPORT": "6432",
            "PGUSER": "loader",
            "PGPASSWORD": "pw",
            "PGDATABASE": "people",
        }
    )
    assert not target.is_local
    assert (target.host, target.port, target.user, target.database) == (
        "db.example.internal",
        6432,
        "loader",
        "people",
    )
    assert "pw" not in target.describe()


def _local_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PEOPLESTACK_WAREHOUSE_DIR"] = str(tmp_path / "warehouse")
    env["PGPORT"] = str(free_port())
    return env


def test_warehouse_up_status_down_manage_a_real_server(tmp_path) -> None:
    env = _local_env(tmp_path)
    port = int(env["PGPORT"])

    before = run_cli(["warehouse", "status"], env)
    assert before.returncode == 0, before.stderr
    assert "not created yet" in before.stdout

    up = run_cli(["warehouse", "up"], env)
    assert up.returncode == 0, up.stderr
    assert "running" in up.stdout
    assert str(tmp_path / "warehouse" / "pgpass") in up.stdout  # where its password is
    # The password libpq reads from the warehouse's passfile, as psql and dbt would.
    passfile = str(tmp_path / "warehouse" / "pgpass")
    conn = psycopg2.connect(
        host=LOCAL_HOST, port=port, user="postgres", dbname=LOCAL_DATABASE, passfile=passfile
    )
    with conn, conn.cursor() as cur:
        cur.execute("create table kept (x int); insert into kept values (42)")
    conn.close()

    assert run_cli(["warehouse", "up"], env).returncode == 0  # idempotent while running

    down = run_cli(["warehouse", "down"], env)
    assert down.returncode == 0, down.stderr
    assert "stopped" in run_cli(["warehouse", "status"], env).stdout
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(
            host=LOCAL_HOST, port=port, user="postgres", dbname=LOCAL_DATABASE, passfile=passfile
        )

    assert run_cli(["warehouse", "up"], env).returncode == 0
    conn = psycopg2.connect(
        host=LOCAL_HOST, port=port, user="postgres", dbname=LOCAL_DATABASE, passfile=passfile
    )
    with conn, conn.cursor() as cur:
        cur.execute("select x from kept")
        assert cur.fetchall() == [(42,)]  # the data outlives a restart
    conn.close()
    assert run_cli(["warehouse", "down"], env).returncode == 0


def test_warehouse_up_refuses_when_pghost_points_elsewhere(database: Database) -> None:
    result = run_cli(["warehouse", "up"], database.env)
    assert result.returncode == 2
    assert "PGHOST is set" in result.stderr
    status = run_cli(["warehouse", "status"], database.env)
    assert status.returncode == 0
    assert "external Postgres" in status.stdout and "reachable" in status.stdout


def test_a_wrong_password_is_one_clear_line_without_the_password(database: Database) -> None:
    env = {**database.env, "PGPASSWORD": "not-the-password"}
    result = run_cli(["warehouse", "status"], env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to the external Postgres")
    assert "not-the-password" not in result.stdout + result.stderr


def test_dbt_follows_pg_variables_to_a_password_protected_server(
    database: Database, tmp_path
) -> None:
    env = {**database.env, "PEOPLESTACK_WAREHOUSE_DIR": str(tmp_path / "unused")}
    result = run_dbt(["debug"], env)
    assert result.returncode == 0, result.stdout[-2000:]
    assert f"port: {database.port}" in result.stdout
    assert f"database: {database.name}" in result.stdout
    assert not (tmp_path / "unused").exists()  # the local warehouse was never started


def test_profiles_example_defaults_match_the_loader_defaults() -> None:
    example = (REPO_ROOT / "profiles.yml.example").read_text()
    target = resolve_target({})
    for variable, default in [
        ("PGHOST", target.host),
        ("PGPORT", str(target.port)),
        ("PGUSER", target.user),
        ("PGDATABASE", target.database),
    ]:
        assert f"env_var('{variable}', '{default}')" in example
