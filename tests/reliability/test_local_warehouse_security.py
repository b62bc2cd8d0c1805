"""The local warehouse as an attacker on the same machine finds it (issue 10, defect 1).

Real servers in private temp folders: `up` must open no folder above the warehouse, the
server must run with a group of its own (never root's), and nobody gets in without the
generated password, which only its owner can read and which the loader and dbt find alone.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from ingest.local_warehouse import SERVER_ACCOUNT_WHEN_ROOT, LocalWarehouse
from ingest.target import LOCAL_HOST, LOCAL_USER
from tests.reliability.figures import Figures
from tests.support import REPO_ROOT, free_port, run_cli, run_dbt

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not IS_ROOT, reason="the server runs under another account only when started as root"
)


@dataclass
class Secured:
    """A warehouse made by `up` under a private (0700) folder holding a readable secret."""

    warehouse: LocalWarehouse
    private: Path
    secret_file: Path
    modes_before: dict[Path, int]


def _modes_up_to_root(path: Path) -> dict[Path, int]:
    return {folder: folder.stat().st_mode for folder in [path, *path.parents]}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    private = tmp_path_factory.mktemp("private0700")
    private.chmod(0o700)
    secret_file = private / "secrets.toml"  # like a 0644 .dlt/secrets.toml in a private home
    secret_file.write_text("client_secret = 'only-for-root'\n")
    secret_file.chmod(0o644)
    root = private / "repo" / ".warehouse"
    root.parent.mkdir()
    modes_before = _modes_up_to_root(private)
    warehouse = LocalWarehouse(root=root, port=free_port())
    warehouse.up()
    yield Secured(warehouse, private, secret_file, modes_before)
    warehouse.down()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SOURCES__"))}
    env.update(extra)
    return env


def _as_nobody(attempt: Callable[[], dict[str, str]]) -> dict[str, str]:
    """Run ``attempt`` in a child process as the ``nobody`` account, with no group of root.

    A fork, not an exec: the virtualenv's interpreter may sit in a folder nobody cannot
    enter, and psycopg2 is already loaded."""
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.environ.pop("PGPASSWORD", None)
            os.environ["PGPASSFILE"] = os.devnull
            outcome = attempt()
        except BaseException as exc:  # reported to the parent, which fails the test
            outcome = {"child error": repr(exc)}
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(child, 0)
    return json.loads(data)


def _connect_and_run_a_program(port: int, password: str | None) -> str:
    """Connect as the superuser and try ``COPY ... TO PROGRAM``; say how far it got."""
    try:
        conn = psycopg2.connect(
            host=LOCAL_HOST,
            port=port,
            user=LOCAL_USER,
            password=password,
            dbname="postgres",
            passfile=os.devnull,
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        return f"refused: {str(exc).strip().splitlines()[0]}"
    try:
        with conn.cursor() as cur:
            cur.execute("copy (select 1) to program 'id'")
        return "ran a program on the server"
    finally:
        conn.close()


def _password_in(passfile: Path) -> str:
    """The password field of the warehouse's one-line libpq passfile ("" when absent)."""
    try:
        line = passfile.read_text().strip()
    except FileNotFoundError:
        return ""
    return line.split(":", 4)[4] if line.count(":") >= 4 else ""


def _read(path: Path) -> str:
    try:
        path.read_text()
    except PermissionError:
        return "denied"
    return "read"


def test_up_opens_no_folder_above_the_warehouse(secured: Secured, figures: Figures) -> None:
    with figures.trial("attack", "up widens the modes of the folders above the warehouse"):
        assert stat.S_IMODE(secured.private.stat().st_mode) == 0o700
        assert _modes_up_to_root(secured.private) == secured.modes_before
        assert secured.warehouse.is_running()


@needs_root
def test_another_account_cannot_read_what_sits_above_the_warehouse(
    secured: Secured, figures: Figures
) -> None:
    with figures.trial("attack", "another local account reads a secret above the warehouse"):
        outcome = _as_nobody(lambda: {"secret": _read(secured.secret_file)})
        assert outcome == {"secret": "denied"}


@needs_root
def test_the_server_runs_with_a_group_of_its_own(secured: Secured, figures: Figures) -> None:
    with figures.trial("attack", "the server process holds root's group"):
        pid = secured.warehouse.pid()
        assert pid is not None
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        fields = {line.split(":")[0]: line.split(":", 1)[1].split() for line in status}
        assert "0" not in fields["Uid"]
        assert "0" not in fields["Gid"], fields["Gid"]
        assert "0" not in fields["Groups"], fields["Groups"]


def test_no_password_no_connection(secured: Secured, figures: Figures) -> None:
    port = secured.warehouse.port
    with figures.trial("attack", "connect to the local warehouse without the password"):
        assert _connect_and_run_a_program(port, None).startswith("refused")
    with figures.trial("attack", "connect to the local warehouse with a guessed password"):
        assert _connect_and_run_a_program(port, "postgres").startswith("refused")


@needs_root
def test_another_local_account_cannot_get_in_nor_run_programs(
    secured: Secured, figures: Figures
) -> None:
    port = secured.warehouse.port
    passfile = secured.warehouse.passfile
    with figures.trial("attack", "another local account connects without the password"):
        outcome = _as_nobody(
            lambda: {
                "passfile": _read(passfile),
                "copy to program": _connect_and_run_a_program(port, None),
            }
        )
        assert outcome["passfile"] == "denied"
        assert outcome["copy to program"].startswith("refused"), outcome


def test_the_password_file_is_the_owners_alone(secured: Secured, figures: Figures) -> None:
    passfile = secured.warehouse.passfile
    with figures.trial("attack", "the local warehouse's password file is readable by others"):
        info = passfile.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == os.geteuid()
        assert len(_password_in(passfile)) >= 32
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", ".warehouse/pgpass"], cwd=REPO_ROOT, check=False
        )
        assert ignored.returncode == 0, "the password file must never be committed"


def test_the_loader_and_dbt_find_the_password_themselves(secured: Secured, tmp_path) -> None:
    warehouse = secured.warehouse
    env = _clean_env(PEOPLESTACK_WAREHOUSE_DIR=str(warehouse.root), PGPORT=str(warehouse.port))
    loader = run_cli(["status"], env)  # reads the ledger: a real connection
    assert loader.returncode == 0, loader.stderr
    assert "no runs recorded yet in the local warehouse" in loader.stdout

    # dbt reads profiles.yml.example; libpq takes the password from PGPASSFILE, as the
    # Makefile and scripts/demo.sh export it.
    dbt = run_dbt(["debug"], {**env, "PGPASSFILE": str(warehouse.passfile)})
    assert dbt.returncode == 0, dbt.stdout[-2000:]
    assert "All checks passed" in dbt.stdout
    without = run_dbt(["debug"], {**env, "PGPASSFILE": os.devnull})
    assert without.returncode != 0


def test_a_warehouse_that_trusted_everyone_gets_a_password_and_keeps_its_data(
    tmp_path, figures: Figures
) -> None:
    warehouse = LocalWarehouse(root=tmp_path / "old", port=free_port())
    warehouse.up()
    conn = psycopg2.connect(
        host=LOCAL_HOST, port=warehouse.port, user=LOCAL_USER, dbname="peoplestack",
        passfile=str(warehouse.passfile),
    )  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("create table kept (x int); insert into kept values (42)")
    conn.close()
    warehouse.down()
    # As an earlier version left it: every rule `trust`, no password file, and the folder
    # given to the server account.
    hba = warehouse.data_dir / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    warehouse.passfile.unlink()
    if IS_ROOT:
        account = pwd.getpwnam(SERVER_ACCOUNT_WHEN_ROOT)
        os.chown(warehouse.root, account.pw_uid, account.pw_gid)

    with figures.trial("attack", "a warehouse made by an earlier version trusts everyone"):
        warehouse.up()
        try:
            assert _connect_and_run_a_program(warehouse.port, None).startswith("refused")
            password = _password_in(warehouse.passfile)
            conn = psycopg2.connect(
                host=LOCAL_HOST, port=warehouse.port, user=LOCAL_USER, dbname="peoplestack",
                password=password, passfile=os.devnull,
            )  # fmt: skip
            with conn, conn.cursor() as cur:
                cur.execute("select x from kept")
                assert cur.fetchall() == [(42,)]
            conn.close()
            assert warehouse.root.stat().st_uid == os.geteuid()
        finally:
            warehouse.down()
