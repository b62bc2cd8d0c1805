"""What a killed run leaves behind, cleared by the next run under the run lock.

dlt commits a load table by table and marks it complete in ``_dlt_loads`` last, so a run
killed mid-load leaves rows under a load id ``_dlt_loads`` never lists (dbt's staging
ignores them too). Its cursor was not committed either, so the next run reads those records
again: the rows are copies-to-be, and are deleted. Each resource's dlt working directory
(records with personal data) lives in the system temp folder, named after the process that
made it, and is removed once that process is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from psycopg2 import sql

from ingest.target import WarehouseTarget

WORKDIR_PREFIX = "peoplestack-dlt-"


def workdir_prefix() -> str:
    """The prefix of this process's dlt working directories (it names the process)."""
    return f"{WORKDIR_PREFIX}{os.getpid()}-"


def remove_dead_workdirs(temp_root: Path | None = None) -> int:
    """Delete working directories whose process has ended; how many were removed."""
    root = Path(temp_root or tempfile.gettempdir())
    removed = 0
    for path in root.glob(f"{WORKDIR_PREFIX}*-*"):
        pid_text = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _is_alive(int(pid_text)) or not path.is_dir():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


def discard_uncommitted_rows(target: WarehouseTarget, schema: str) -> int:
    """Delete raw rows of loads that never completed; how many rows went."""
    with target.transaction() as cur:
        cur.execute(
            "select table_name from information_schema.columns"
            " where table_schema = %s and column_name = '_dlt_load_id'"
            " and exists (select 1 from information_schema.tables"
            "             where table_schema = %s and table_name = '_dlt_loads')"
            " order by table_name",
            (schema, schema),
        )
        tables = [name for (name,) in cur.fetchall()]
        discarded = 0
        for table in tables:
            cur.execute(
                sql.SQL(
                    "delete from {schema}.{table} as t where not exists ("
                    " select 1 from {schema}._dlt_loads as l"
                    " where l.load_id = t._dlt_load_id and l.status = 0)"
                ).format(schema=sql.Identifier(schema), table=sql.Identifier(table))
            )
            discarded += cur.rowcount
    return discarded


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
