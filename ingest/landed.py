"""What sources have landed in the warehouse, read for other sources (``sources.source.Landed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    def newest(
        self,
        source: str,
        table: str,
        key: str,
        column: str,
        *,
        equals: Mapping[str, str] | None = None,
        between: tuple[str, Any, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Per ``key``, the greatest ``column`` of the rows of completed loads that match
        ``equals`` and lie within ``between`` (inclusive); None when the table does not exist."""
        schema = self._options.schema(registry.get(source).raw_schema)
        conditions = [
            sql.SQL("t._dlt_load_id in (select load_id from {loads} where status = 0)").format(
                loads=sql.Identifier(schema, "_dlt_loads")
            )
        ]
        params: list[Any] = []
        for name, value in (equals or {}).items():
            conditions.append(sql.SQL("t.{} = %s").format(sql.Identifier(name)))
            params.append(value)
        if between is not None:
            name, low, high = between
            conditions.append(sql.SQL("t.{} between %s and %s").format(sql.Identifier(name)))
            params.extend([low, high])
        with self._target.transaction() as cur:
            if not _table_exists(cur, schema, table):
                return None
            if not _table_exists(cur, schema, "_dlt_loads"):
                return {}
            cur.execute(
                sql.SQL(
                    "select t.{key}, max(t.{column}) from {table} as t where {conditions}"
                    " group by t.{key}"
                ).format(
                    key=sql.Identifier(key),
                    column=sql.Identifier(column),
                    table=sql.Identifier(schema, table),
                    conditions=sql.SQL(" and ").join(conditions),
                ),
                params,
            )
            return {value: newest for value, newest in cur.fetchall()}

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
