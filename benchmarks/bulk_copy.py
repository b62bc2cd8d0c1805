"""The floor's second half: ``COPY`` of the bare client's CSV files into the same Postgres."""

from __future__ import annotations

import time
from pathlib import Path

from psycopg2 import sql

from benchmarks.warehouse import BenchWarehouse

FLOOR_SCHEMA = "bench_floor"


def copy_tables(
    warehouse: BenchWarehouse, out_dir: Path, columns: dict[str, list[str]]
) -> dict[str, float]:
    """Seconds to ``COPY`` each ``<table>.csv`` into a fresh text table ``bench_floor.<table>``
    (one transaction per table, committed: what a loader's load step must at least do)."""
    seconds: dict[str, float] = {}
    with warehouse.connection() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(FLOOR_SCHEMA)))
        for table, names in columns.items():
            target = sql.Identifier(FLOOR_SCHEMA, table)
            cur.execute(sql.SQL("drop table if exists {}").format(target))
            cur.execute(
                sql.SQL("create table {} ({})").format(
                    target,
                    sql.SQL(", ").join(
                        sql.SQL("{} text").format(sql.Identifier(name)) for name in names
                    ),
                )
            )
            statement = sql.SQL("copy {} from stdin with (format csv, null '\\N')").format(target)
            started = time.perf_counter()
            with (out_dir / f"{table}.csv").open(encoding="utf-8") as data:
                cur.execute("begin")
                cur.copy_expert(statement.as_string(conn), data, size=1 << 20)
                cur.execute("commit")
            seconds[table] = time.perf_counter() - started
    return seconds
