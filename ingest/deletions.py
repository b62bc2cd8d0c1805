"""Records that vanished from a source: after a full refresh, every key of a deletion-tracked
table that did not come back is recorded in the schema's ``deletions`` table."""

from __future__ import annotations

from psycopg2 import sql

from ingest.target import WarehouseTarget


def ensure_table(target: WarehouseTarget, schema_name: str) -> None:
    """``deletions`` exists from a source's first run, so dbt reads it from day one."""
    schema = sql.Identifier(schema_name)
    with target.transaction() as cur:
        cur.execute(sql.SQL("create schema if not exists {}").format(schema))
        cur.execute(
            sql.SQL(
                "create table if not exists {}.deletions (resource text not null,"
                " record_key text not null, detected_at timestamptz not null,"
                " _dlt_load_id text not null)"
            ).format(schema)
        )


def mark_deleted(
    target: WarehouseTarget, schema_name: str, table: str, key: str, load_ids: list[str]
) -> None:
    """Every key of ``table`` absent from the loads ``load_ids`` (a full refresh) is deleted,
    once: a key already marked since it was last seen is not marked again."""
    if not load_ids:
        return
    with target.transaction() as cur:
        cur.execute(
            sql.SQL(
                """
                insert into {schema}.deletions
                select %(resource)s, known.key, now(), %(load_id)s
                from (
                    select {key} as key, max(_extracted_at) as last_seen_at
                    from {schema}.{table} group by {key}
                ) as known
                where not exists (
                    select 1 from {schema}.{table} as t
                    where t.{key} = known.key and t._dlt_load_id = any(%(load_ids)s)
                )
                and not exists (
                    select 1 from {schema}.deletions as d
                    where d.resource = %(resource)s and d.record_key = known.key
                      and d.detected_at >= known.last_seen_at
                )
                """
            ).format(
                schema=sql.Identifier(schema_name),
                key=sql.Identifier(key),
                table=sql.Identifier(table),
            ),
            {"resource": table, "load_id": load_ids[0], "load_ids": load_ids},
        )
