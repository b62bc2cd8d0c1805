"""Which Postgres the job writes to, and how to talk to it.

The libpq variables decide: with ``PGHOST`` set, both the loader and dbt use that server.
Without it, both use the *local warehouse* (``ingest/local_warehouse.py``), listening on
127.0.0.1 and asking for the password kept in its libpq passfile ``.warehouse/pgpass``.
Every other ``PG*`` variable falls back to the same default in both halves
(``profiles.yml.example`` repeats them), so the two can never disagree.
Every module that talks to Postgres opens its sessions through ``WarehouseTarget``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2

from ingest.errors import WarehouseError

# Where the local warehouse listens, and as whom the loader and dbt log in to it.
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 55432
LOCAL_USER = "postgres"
LOCAL_DATABASE = "peoplestack"
# The local warehouse's password, as a libpq passfile in its directory.
PASSFILE_NAME = "pgpass"

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
    # The local warehouse's libpq passfile: its password is read from it when connecting,
    # so a target resolved before the first ``warehouse up`` still finds it.
    passfile: Path | None = None

    def current_password(self) -> str:
        """The password to send: ``PGPASSWORD``, else the local warehouse's passfile."""
        if self.password or self.passfile is None:
            return self.password
        return read_passfile_password(self.passfile)

    def describe(self) -> str:
        """Where the warehouse is, without the password."""
        kind = "local warehouse" if self.is_local else "external Postgres"
        return f"{kind} {self.user}@{self.host}:{self.port}/{self.database}"

    def connect(
        self, database: str | None = None, *, keepalive: bool = False, wait_seconds: float = 0
    ) -> psycopg2.extensions.connection:
        """Open a psycopg2 connection (autocommit off); ``keepalive`` for long-idle sessions,
        ``wait_seconds`` to keep trying a server that is still starting."""
        # TCP keepalives find a dead peer (and keep middleboxes from dropping a quiet session).
        probes = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                return psycopg2.connect(
                    **(probes if keepalive else {}),
                    host=self.host,
                    port=self.port,
                    user=self.user,
                    password=self.current_password() or None,
                    dbname=database or self.database,
                    connect_timeout=10,
                )
            except psycopg2.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise WarehouseError(
                        f"cannot connect to the {self.describe()}: {_first_line(exc)}"
                    ) from None
                time.sleep(0.2)

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

    @contextlib.contextmanager
    def session(
        self, database: str | None = None, *, keepalive: bool = False, wait_seconds: float = 0
    ) -> Iterator[psycopg2.extensions.connection]:
        """An autocommit connection, for what no transaction may hold (``create database``)
        or what lives as long as the session (advisory locks); it always closes."""
        conn = self.connect(database, keepalive=keepalive, wait_seconds=wait_seconds)
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()  # closing also releases the session's advisory locks

    def sqlalchemy_url(self) -> str:
        """A ``postgresql://`` URL for dlt's Postgres destination."""
        # dlt insists on a password, even for a server that would not ask for one.
        password = quote(self.current_password() or "unused", safe="")
        return (
            f"postgresql://{quote(self.user, safe='')}:{password}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )


def resolve_target(env: Mapping[str, str] | None = None) -> WarehouseTarget:
    """Read the libpq variables; no ``PGHOST`` means the local warehouse, whose password
    comes from its passfile unless ``PGPASSWORD`` is set."""
    env = os.environ if env is None else env
    port_text = env.get("PGPORT") or str(LOCAL_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise WarehouseError(f"PGPORT must be a number, not {port_text!r}") from None
    host = env.get("PGHOST") or ""
    passfile = None if host else local_root(env) / PASSFILE_NAME
    password = env.get("PGPASSWORD") or ""
    if passfile is not None and not password:
        password = read_passfile_password(passfile)  # empty before the first `warehouse up`
    return WarehouseTarget(
        host=host or LOCAL_HOST,
        port=port,
        user=env.get("PGUSER") or LOCAL_USER,
        password=password,
        database=env.get("PGDATABASE") or LOCAL_DATABASE,
        is_local=not host,
        passfile=passfile,
    )


def ensure_reachable(target: WarehouseTarget) -> None:
    """Start the local warehouse on demand; check an external one answers."""
    if target.is_local:
        # Imported here: only a run against the local warehouse needs the server code,
        # which itself builds on this module.
        from ingest.local_warehouse import LocalWarehouse

        LocalWarehouse.for_target(target).up()
    target.connect().close()


def local_root(env: Mapping[str, str] | None = None) -> Path:
    """The local warehouse's directory: ``PEOPLESTACK_WAREHOUSE_DIR``, else ``.warehouse/``."""
    env = os.environ if env is None else env
    configured = env.get("PEOPLESTACK_WAREHOUSE_DIR")
    return Path(configured) if configured else PROJECT_ROOT / ".warehouse"


def read_passfile_password(passfile: Path) -> str:
    """The password in a libpq passfile written by ``LocalWarehouse``; empty when absent."""
    try:
        text = passfile.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise WarehouseError(f"cannot read the password file {passfile}: {exc.strerror}") from None
    for line in text.splitlines():
        fields = _passfile_fields(line)
        if len(fields) == 5 and not line.startswith("#"):
            return fields[4]
    return ""


def _passfile_fields(line: str) -> list[str]:
    """A passfile line's colon-separated fields, with ``\\:`` and ``\\\\`` unescaped."""
    fields, current = [], []
    characters = iter(line)
    for character in characters:
        if character == "\\":
            current.append(next(characters, ""))
        elif character == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
    fields.append("".join(current))
    return fields


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
