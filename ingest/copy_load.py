"""dlt's Postgres destination, loading CSV files with a ``COPY`` that keeps ``""`` apart from NULL.

Pages reach dlt as Arrow tables (``sources/page_table.py``), which it writes as CSV and
loads with ``COPY``. dlt 1.31's own ``COPY`` adds ``FORCE_NULL`` for every nullable column,
which turns a quoted empty string into NULL as well; raw tables keep the wire values, so an
empty string must land as one. Arrow's CSV writer quotes every string and leaves a null
unquoted, so a plain ``COPY ... (FORMAT csv, NULL '')`` reads both back as sent.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.common.destination.client import (
    HasFollowupJobs,
    LoadJob,
    PreparedTableSchema,
    RunnableLoadJob,
)
from dlt.common.storages.file_storage import FileStorage
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations.impl.postgres.postgres import PostgresClient

COPY_CHUNK_BYTES = 1 << 20
# Settings of the loader's own pipelines (dlt reads ``<PIPELINE>__<SECTION>__<KEY>``): Arrow
# pages get dlt's row columns, as dict rows do; intermediate files stay uncompressed (they
# live seconds on local disk, and gzip cost more than the rest of the write).
PIPELINE_SETTINGS = {
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID": "true",
    "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID": "true",
    "EXTRACT__DATA_WRITER__DISABLE_COMPRESSION": "true",
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
}


class _CsvCopyJob(RunnableLoadJob, HasFollowupJobs):
    """``COPY`` of one CSV file, its header naming the columns; NULL only when unquoted."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self._job_client: PostgresClient = None  # type: ignore[assignment]

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        table = sql_client.make_qualified_table_name(self.load_table_name)
        with FileStorage.open_zipsafe_ro(self._file_path, "rb") as f:
            header = f.readline().decode("utf-8").rstrip("\r\n").split(",")
            columns = ",".join(
                sql_client.escape_column_name(name.strip('"'), quote=True) for name in header
            )
            copy = (
                f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '', ENCODING 'utf-8')"
            )
            with (
                sql_client.begin_transaction(),
                sql_client.native_connection.cursor() as cursor,
            ):
                cursor.copy_expert(copy, f, size=COPY_CHUNK_BYTES)


class _Client(PostgresClient):
    def create_load_job(
        self, table: PreparedTableSchema, file_path: str, load_id: str, restore: bool = False
    ) -> LoadJob:
        if ParsedLoadJobFileName.parse(file_path).file_format == "csv":
            return _CsvCopyJob(file_path)
        return super().create_load_job(table, file_path, load_id, restore)


class PostgresCopy(dlt.destinations.postgres):
    """dlt's Postgres destination with the CSV ``COPY`` above; otherwise the same."""

    @property
    def client_class(self) -> type[PostgresClient]:
        return _Client

    @property
    def destination_type(self) -> str:
        # The same destination to dlt's state and config as before.
        return "dlt.destinations.postgres"


def pipeline_settings(pipeline_name: str) -> dict[str, Any]:
    """The environment entries that apply ``PIPELINE_SETTINGS`` to one pipeline only."""
    return {f"{pipeline_name.upper()}__{key}": value for key, value in PIPELINE_SETTINGS.items()}
