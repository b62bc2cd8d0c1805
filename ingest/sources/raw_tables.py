"""Every raw table the loader writes, and the columns it declares for each.

dlt creates a column only when a non-null value arrives, unless it is declared; the loader
declares every column dbt's staging reads, so the tables have them from the first run.
``dbt_project/models/staging/*/_*__sources.yml`` repeats these names and types (dlt's type
names) for dbt, and a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.sources import learning, salesforce, successfactors
from ingest.sources.incremental import LOADER_COLUMNS

RAW_SCHEMAS = {
    "salesforce": "raw_salesforce",
    "successfactors": "raw_successfactors",
    "successfactors_learning": "raw_successfactors",
}
# (loader source, table) -> declared columns, as dlt column hints
DECLARED_COLUMNS: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]] = {
    ("salesforce", "users"): salesforce.USER_COLUMNS,
    ("successfactors", "users"): successfactors.USER_COLUMNS,
    ("successfactors", "org_units"): successfactors.ORG_UNIT_COLUMNS,
    ("successfactors_learning", "learning_items"): learning.ITEM_COLUMNS,
    ("successfactors_learning", "learning_assignments"): learning.ASSIGNMENT_COLUMNS,
    ("successfactors_learning", "learning_completions"): learning.COMPLETION_COLUMNS,
}


def table_columns(source: str, table: str) -> dict[str, str]:
    """Column name -> dlt data type of one raw versions table, the loader's own included."""
    columns = {**DECLARED_COLUMNS[(source, table)], **LOADER_COLUMNS}
    return {name: hint["data_type"] for name, hint in columns.items()}
