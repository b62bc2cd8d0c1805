"""What sources have landed in the warehouse, read for other sources (``sources.source.Landed``)."""

from __future__ import annotations

from psycopg2 import sql
from psycopg2.extensions import cursor

from ingest.config import RunOptions
from ingest.sources import registry
from ingest.target import WarehouseTarget


class WarehouseLanded:
    """Reads the raw schemas of one warehouse (under the run's schema prefix)."""

    def __init__(self, target: WarehouseTarget, options: RunOptions) -> None:
        self._target = target
        self._options = options

    def keys(self, source: str, table: str, key: str) -> list[str] | None:
        """Every ``key`` of the table, the most recently landed first; None when the table
        does not exist."""
        schema = self._options.schema(registry.get(source).raw_schema)
        with self._target.transaction() as cur:
            if not _table_exists(cur, schema, table):
                return None
            cur.execute(
                sql.SQL(
                    "select {key} from {schema}.{table} group by {key}"
                    " order by max(_extracted_at) desc, {key}"
                ).format(
                    key=sql.Identifier(key),
                    schema=sql.Identifier(schema),
                    table=sql.Identifier(table),
                )
            )
            return [value for (value,) in cur.fetchall()]

    def ever_loaded(self, source: str) -> bool:
        """Whether any of the source's raw tables exists (it has run here before)."""
        declared = registry.get(source)
        schema = self._options.schema(declared.raw_schema)
        with self._target.transaction() as cur:
            return any(_table_exists(cur, schema, table) for table in declared.tables)


def _table_exists(cur: cursor, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(format('%%I.%%I', %s, %s))", (schema, table))
    row = cur.fetchone()
    return row is not None and row[0] is not None
