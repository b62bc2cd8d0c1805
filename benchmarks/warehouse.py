"""The benchmark's own embedded Postgres (``python -m ingest warehouse up`` in a directory of
its own, on a free port), and plain SQL against it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from benchmarks.processes import PYTHON, BenchError
from benchmarks.settings import REPO_ROOT

# The project's own warehouse listens here; the benchmark never touches it.
PROJECT_WAREHOUSE_PORT = 55432
DATABASE = "peoplestack"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 other than the project warehouse's."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != PROJECT_WAREHOUSE_PORT:
            return port


@dataclass(frozen=True)
class BenchWarehouse:
    """A local warehouse in ``root`` on ``port``; ``env`` reaches it (loader, dbt, psql)."""

    root: Path
    port: int

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SOURCES__"))}
        env.update(
            PEOPLESTACK_WAREHOUSE_DIR=str(self.root),
            PGPORT=str(self.port),
            PGPASSFILE=str(self.root / "pgpass"),
            PGDATABASE=DATABASE,
        )
        return env

    def _manage(self, action: str) -> None:
        done = subprocess.run(
            [PYTHON, "-m", "ingest", "warehouse", action],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"warehouse {action} failed: {done.stderr.strip() or done.stdout}")

    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._manage("up")

    def down(self) -> None:
        self._manage("down")

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg2.extensions.connection]:
        """An autocommit connection; the password comes from the warehouse's passfile."""
        conn = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=DATABASE,
            passfile=str(self.root / "pgpass"),
        )
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def query(self, statement: sql.Composable | str, params: tuple = ()) -> list[tuple[Any, ...]]:
        with self.connection() as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def drop_schemas(self, prefix: str) -> None:
        """Drop every schema of one prefix (a data set the benchmark no longer needs)."""
        names = self.query(
            "select nspname from pg_namespace where nspname like %s", (f"{prefix}\\_%",)
        )
        for (name,) in names:
            self.query(sql.SQL("drop schema {} cascade").format(sql.Identifier(name)))

    def server_version(self) -> str:
        return str(self.query("show server_version")[0][0])
