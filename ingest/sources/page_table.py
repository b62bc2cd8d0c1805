"""One Arrow table per page of accepted records, so dlt skips its row-by-row normalisation.

dlt writes an Arrow table to the warehouse through a CSV file and ``COPY``; a list of dicts
goes through its relational normaliser and ``INSERT ... VALUES``, ten times slower. The
table must land exactly as the rows would have, so a page becomes a table only when every
value has the type its column takes: the declared type (``text``, ``bool``, ``bigint``,
``double``), else the type the column already has in the schema, else (a new column) the
type dlt would infer from its first value; a whole number in a text column becomes its str(),
as dlt's coercion makes it. Anything else (a nested object, which dlt flattens into columns
and child tables; a float or a bool in a text column, which dlt coerces its own way; a
string dlt would detect as a timestamp) sends the page down dlt's row path, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import pyarrow as pa
from dlt.common.schema.detections import is_iso_timestamp

# dlt data type -> (Arrow type, the Python types of the values it takes from JSON)
_ARROW_TYPES: dict[str, tuple[pa.DataType, tuple[type, ...]]] = {
    "text": (pa.string(), (str,)),
    "bool": (pa.bool_(), (bool,)),
    "bigint": (pa.int64(), (int,)),
    "double": (pa.float64(), (float, int)),
}
# The type dlt gives a new column from the Python type of its first value.
_INFERRED = {str: "text", bool: "bool", int: "bigint", float: "double"}
_NONE = type(None)


class Row(NamedTuple):
    """An accepted record: its fields and, per field, the column it lands in."""

    fields: Mapping[str, Any]
    names: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """The row keyed by column, for dlt's row path."""
        return {column: self.fields[field] for field, column in self.names}


def page_table(
    rows: Sequence[Row],
    declared: Mapping[str, str],
    known: Mapping[str, str],
    extracted_at: datetime,
) -> pa.Table | None:
    """The page as one Arrow table, or None when some value needs dlt's row path.

    ``declared``: column -> dlt type of the table's declared columns; ``known``: column ->
    dlt type of the columns the schema has so far (earlier pages and runs).
    """
    field_of: dict[str, str] = {}
    for names in {row.names for row in rows}:
        for field, column in names:
            if field_of.setdefault(column, field) != field:
                return None  # two spellings of one column on one page: rare, let dlt sort it
    arrays: dict[str, pa.Array] = {}
    for column, field in field_of.items():
        values = [row.fields.get(field) for row in rows]
        array = _column(values, declared.get(column) or known.get(column))
        if array is None:
            if all(v is None for v in values) and column not in declared:
                continue  # dlt makes no column of nulls alone
            return None
        arrays[column] = array
    arrays["_extracted_at"] = pa.array(
        [extracted_at] * len(rows), type=pa.timestamp("us", tz="UTC")
    )
    return pa.table(arrays)


def _column(values: list[Any], data_type: str | None) -> pa.Array | None:
    """The column's values as an Arrow array of its type, or None if one does not fit."""
    kinds = {type(v) for v in values} - {_NONE}
    if data_type is None:  # a new column: dlt would type it from its first value
        first = next((v for v in values if v is not None), None)
        data_type = _INFERRED.get(type(first))
        if data_type is None or (data_type == "text" and is_iso_timestamp(str, first)):
            return None
    arrow_type, takes = _ARROW_TYPES.get(data_type, (None, ()))
    if arrow_type is None:
        return None
    if data_type == "text" and int in kinds and kinds <= {str, int}:
        # Whole numbers in a text column (Learning's Long ids, declared text): dlt's row
        # path would coerce each with str(), so the page need not take that path for them.
        return pa.array([str(v) if type(v) is int else v for v in values], type=arrow_type)
    if not kinds.issubset(takes):
        return None
    return pa.array(values, type=arrow_type)


def column_types(columns: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """Column -> dlt data type, for the columns that have one."""
    return {name: hint["data_type"] for name, hint in columns if "data_type" in hint}
