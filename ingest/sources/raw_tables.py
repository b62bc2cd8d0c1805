"""Every raw table the loader writes, and the columns it declares for each.

dlt creates a column only when a non-null value arrives, unless it is declared; the loader
declares every column dbt's staging reads, so the tables have them from the first run.
``dbt_project/models/staging/*/_*__sources.yml`` repeats these names and types (dlt's type
names) for dbt, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.sources.incremental import LOADER_COLUMNS
from ingest.sources.registry import SOURCES

RAW_SCHEMAS = {name: source.raw_schema for name, source in SOURCES.items()}
# (loader source, table) -> declared columns, as dlt column hints
DECLARED_COLUMNS: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]] = {
    (name, table): columns
    for name, source in SOURCES.items()
    for table, columns in source.tables.items()
}


def table_columns(source: str, table: str) -> dict[str, str]:
    """Column name -> dlt data type of one raw versions table, the loader's own included."""
    columns = {**DECLARED_COLUMNS[(source, table)], **LOADER_COLUMNS}
    return {name: hint["data_type"] for name, hint in columns.items()}
