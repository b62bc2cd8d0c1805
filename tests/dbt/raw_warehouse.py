"""Raw tables exactly as the loader writes them, row builders in each API's wire format, and
real dbt builds over them (``RawWarehouse``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg2 import sql

from ingest.sources.incremental import LOADER_COLUMNS
from ingest.sources.raw_tables import table_columns
from tests.support import DbtRun, run_dbt_recorded

DLT_COLUMNS = (
    ("_extracted_at", "timestamptz not null"),
    ("_dlt_load_id", "text not null"),
    ("_dlt_id", "text not null unique"),
)
# dlt's Postgres type of each of its data types.
POSTGRES_TYPES = {
    "text": "varchar",
    "bigint": "bigint",
    "double": "double precision",
    "bool": "boolean",
    "timestamp": "timestamptz",
}


def _layout(loader_source: str, table: str) -> tuple[tuple[str, str], ...]:
    """The columns the loader declares for a raw table, as dlt creates them in Postgres."""
    return tuple(
        (name, POSTGRES_TYPES[data_type])
        for name, data_type in table_columns(loader_source, table).items()
        if name not in LOADER_COLUMNS
    )


RAW_TABLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("salesforce", "users"): _layout("salesforce", "users"),
    ("successfactors", "users"): _layout("successfactors", "users"),
    ("successfactors", "org_units"): _layout("successfactors", "org_units"),
}
# SuccessFactors Learning lands in raw_successfactors too, but only once the loader has run that
# source: like the loader, the helpers create all of them at the first Learning load.
LEARNING_TABLES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("successfactors", table): _layout("successfactors_learning", table)
    for table in ("learning_items", "learning_assignments", "learning_completions", "learner_reads")
}
LEARNING_MARTS = (
    "dim_learning_item",
    "fct_learning_completions",
    "fct_learning_assignments",
    "agg_compliance_by_org_unit",
    "dim_salesforce_user_compliance",
)
MARTS = (
    "dim_salesforce_user_scd",
    "dim_employee_scd",
    "dim_employee",
    "dim_org_unit",
    "dim_org_unit_scd",
    "dim_person",
    "fct_org_changes",
    *LEARNING_MARTS,
)
COMPONENT_TYPE_DESCRIPTIONS = {"CERT": "Certification", "COURSE": "Course", "ELEARN": "eLearning"}
OPEN_END = "/Date(253402214400000)/"  # 9999-12-31
EPOCH_START = "/Date(-2208988800000)/"  # 1900-01-01


def utc(text: str) -> datetime:
    """``'2026-03-02 08:01'`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def naive(text: str) -> datetime:
    """``'2026-03-02 08:01'`` as the naive UTC datetime the marts hold."""
    return datetime.fromisoformat(text)


def salesforce_time(moment: datetime) -> str:
    """Salesforce's REST format: ``2026-03-02T08:01:07.000+0000``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def odata_time(moment: datetime, offset: bool = True) -> str:
    """OData v2: ``/Date(1772352000000+0000)/`` (or without the offset)."""
    millis = int(moment.astimezone(UTC).timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as Learning (OData v4) sends dates."""
    return int(moment.astimezone(UTC).timestamp() * 1000)


def sf_id(n: int) -> str:
    """An 18-character Salesforce User Id."""
    return f"005{n:012d}AAA"


class RawWarehouse:
    """One test database: append raw versions as the loader would, build, read the marts."""

    def __init__(self, database: Any, target_dir: Path, prefix: str = "") -> None:
        self.database = database
        self.target_dir = target_dir
        self.prefix = prefix
        self._loads = 0

    @property
    def env(self) -> dict[str, str]:
        env = dict(self.database.env)
        if self.prefix:
            env["PEOPLESTACK_SCHEMA_PREFIX"] = self.prefix
        else:
            env.pop("PEOPLESTACK_SCHEMA_PREFIX", None)
        return env

    def schema(self, name: str) -> str:
        return f"{self.prefix}_{name}" if self.prefix else name

    def query(self, text: str, params: tuple | None = None) -> list[tuple]:
        return self.database.query(text, params)

    def execute(self, statement: sql.Composable | str, params: Any = None) -> None:
        conn = self.database.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
        finally:
            conn.close()

    def create_raw_tables(self) -> None:
        """The raw tables as dlt creates them (deletions and Learning come later, as with the
        loader)."""
        for (source, table), columns in RAW_TABLES.items():
            self.create_table(source, table, columns)

    def create_table(self, source: str, table: str, columns: tuple[tuple[str, str], ...]) -> None:
        schema = sql.Identifier(self.schema(f"raw_{source}"))
        self.execute(sql.SQL("create schema if not exists {}").format(schema))
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
            for name, kind in (*columns, *DLT_COLUMNS)
        )
        self.execute(
            sql.SQL("create table if not exists {}.{} ({})").format(
                schema, sql.Identifier(table), definition
            )
        )

    def add_column(self, source: str, table: str, name: str, kind: str) -> None:
        """Schema drift: a column the loader starts writing (dlt adds it to the table)."""
        self.execute(
            sql.SQL("alter table {}.{} add column if not exists {} {}").format(
                sql.Identifier(self.schema(f"raw_{source}")),
                sql.Identifier(table),
                sql.Identifier(name),
                sql.SQL(kind),
            )
        )

    def append(
        self, source: str, table: str, rows: list[Mapping[str, Any]], extracted_at: datetime
    ) -> None:
        """Append versions to a raw table as one load fetched at ``extracted_at``."""
        self._loads += 1
        load_id = f"{extracted_at.timestamp():.6f}.{self._loads}"
        if (source, table) in LEARNING_TABLES:
            for (learning_source, learning_table), layout in LEARNING_TABLES.items():
                self.create_table(learning_source, learning_table, layout)
        layout = RAW_TABLES.get((source, table)) or LEARNING_TABLES[(source, table)]
        columns = [name for name, _ in layout]
        for row in rows:
            unknown = set(row) - set(columns)
            assert not unknown, f"not a column of {source}.{table}: {unknown}"
            values = [row.get(name) for name in columns]
            self.execute(
                sql.SQL("insert into {}.{} ({}) values ({})").format(
                    sql.Identifier(self.schema(f"raw_{source}")),
                    sql.Identifier(table),
                    sql.SQL(", ").join(
                        sql.Identifier(name) for name in [*columns, *(c for c, _ in DLT_COLUMNS)]
                    ),
                    sql.SQL(", ").join(sql.Placeholder() for _ in range(len(columns) + 3)),
                ),
                [*values, extracted_at, load_id, uuid.uuid4().hex],
            )

    def salesforce_users(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("salesforce", "users", list(rows), extracted_at)

    def employees(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("successfactors", "users", list(rows), extracted_at)

    def org_units(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("successfactors", "org_units", list(rows), extracted_at)

    def learning_items(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("successfactors", "learning_items", list(rows), extracted_at)

    def learning_assignments(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("successfactors", "learning_assignments", list(rows), extracted_at)

    def learning_completions(self, extracted_at: datetime, *rows: Mapping[str, Any]) -> None:
        self.append("successfactors", "learning_completions", list(rows), extracted_at)

    def mark_deleted(self, source: str, key: str, detected_at: datetime) -> None:
        """What the loader writes when a full refresh no longer returns ``key``."""
        schema = sql.Identifier(self.schema(f"raw_{source}"))
        self.execute(
            sql.SQL(
                "create table if not exists {}.deletions (resource text not null,"
                " record_key text not null, detected_at timestamptz not null,"
                " _dlt_load_id text not null)"
            ).format(schema)
        )
        self.execute(
            sql.SQL("insert into {}.deletions values ('users', %s, %s, %s)").format(schema),
            (key, detected_at, f"{detected_at.timestamp():.6f}"),
        )

    def dbt(self, *args: str) -> DbtRun:
        """Run dbt with this database's environment; results land in the module's target dir."""
        return run_dbt_recorded(list(args), self.env, self.target_dir)

    def build(self, *args: str) -> DbtRun:
        """``dbt build``, which must succeed."""
        run = self.dbt("build", *args)
        assert run.returncode == 0, run.output[-6000:]
        return run

    def rows(self, relation: str, columns: str, where: str = "true", order: str = "1") -> list:
        """Rows of ``schema.table`` (schema without prefix) as tuples."""
        schema, table = relation.split(".")
        relation_name = f'"{self.schema(schema)}"."{table}"'
        return self.query(f"select {columns} from {relation_name} where {where} order by {order}")

    def table(self, relation: str) -> list[tuple]:
        """Every row of a relation, in a stable order (for before/after comparisons)."""
        return sorted(self.rows(relation, "*"), key=repr)

    def read(self, relation: str) -> list[dict[str, Any]]:
        """Every row of ``schema.table`` (schema without prefix) as a dict."""
        schema, table = relation.split(".")
        conn = self.database.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("select * from {}.{}").format(
                        sql.Identifier(self.schema(schema)), sql.Identifier(table)
                    )
                )
                names = [column.name for column in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    def marts(self) -> dict[str, list[dict[str, Any]]]:
        """Every mart, read in full: what analysts would see right now."""
        return {table: self.read(f"marts.{table}") for table in MARTS}


def salesforce_user(
    number: int,
    modified_at: datetime,
    *,
    name: str | None = None,
    email: str | None = None,
    division: str | None = "North",
    audit_phase: str | None = "Phase1",
    is_active: bool | None = True,
    employee_number: str | None = None,
    federation_identifier: str | None = None,
    system_modified_at: datetime | None = None,
) -> dict[str, Any]:
    """One version of a raw Salesforce user, modified at ``modified_at``."""
    full_name = name or f"User {number}"
    first, _, last = full_name.partition(" ")
    return {
        "id": sf_id(number),
        "username": f"user{number}@example.com.sf",
        "name": full_name,
        "first_name": first,
        "last_name": last,
        "email": email if email is not None else f"user{number}@example.com",
        "division": division,
        "department": "Sales",
        "title": "Account Executive",
        "audit_phase_c": audit_phase,
        "is_active": is_active,
        "employee_number": employee_number,
        "federation_identifier": federation_identifier,
        "manager_id": None,
        "created_date": salesforce_time(utc("2025-06-01 09:00")),
        "last_modified_date": salesforce_time(modified_at),
        "system_modstamp": salesforce_time(system_modified_at or modified_at),
    }


def employee(
    user_id: str,
    modified_at: datetime,
    *,
    department: str | None = "SALES",
    division: str | None = "Commercial",
    location: str | None = "Berlin",
    title: str | None = "Analyst",
    status: str | None = "t",
    manager: str | None = None,
    email: str | None = None,
    first_name: str = "Emma",
    last_name: str | None = None,
) -> dict[str, Any]:
    """One version of a raw Employee Central user, modified at ``modified_at``."""
    return {
        "user_id": user_id,
        "username": user_id.lower(),
        "first_name": first_name,
        "last_name": last_name or user_id.title(),
        "email": email if email is not None else f"{user_id.lower()}@example.com",
        "department": department,
        "division": division,
        "location": location,
        "title": title,
        "status": status,
        "hire_date": odata_time(utc("2024-01-15 00:00"), offset=False),
        "last_modified_date_time": odata_time(modified_at),
        "manager_user_id": manager,
    }


def org_unit(
    code: str,
    modified_at: datetime,
    *,
    name: str | None = None,
    parent: str | None = None,
    head: str | None = None,
    status: str = "A",
    start: str = EPOCH_START,
    end: str = OPEN_END,
) -> dict[str, Any]:
    """One version of a raw FODepartment segment (open-ended from 1900 unless told)."""
    return {
        "external_code": code,
        "start_date": start,
        "end_date": end,
        "name": name or code.title(),
        "description": f"The {code.lower()} unit",
        "parent": parent,
        "head_of_unit": head,
        "status": status,
        "last_modified_date_time": odata_time(modified_at),
    }


def learning_item(
    component_id: str,
    component_type: str,
    revised_at: datetime,
    *,
    title: str | None = None,
    catalog: str = "CORPORATE",
    credit_hours: float = 1.5,
    cpe_hours: float = 0.5,
    active: bool = True,
) -> dict[str, Any]:
    """One raw catalogue row of a learning item: one revision as read from one catalog."""
    return {
        "component_id": component_id,
        "component_type_id": component_type,
        "revision_date": epoch_ms(revised_at),
        "title": title or f"Item {component_id}",
        "credit_hours": credit_hours,
        "cpe_hours": cpe_hours,
        "catalog_id": catalog,
        "component_classification": "COURSE",
        "description": f"About {component_id}",
        "domain_id": "COMPLIANCE" if component_type == "CERT" else "CORPORATE",
        "domain_desc": "Compliance" if component_type == "CERT" else "Corporate",
        "delivery_method_id": "ILT" if component_type == "COURSE" else "ONLINE",
        "delivery_method_desc": "Instructor-led" if component_type == "COURSE" else "Online",
        "total_length": credit_hours,
        "contact_hours": credit_hours if component_type == "COURSE" else 0.0,
        "active": active,
    }


def learning_assignment(
    user_id: str,
    component_id: str,
    component_type: str,
    assigned_at: datetime,
    due_at: datetime,
    *,
    requirement_type: str = "MANAGER",
    is_required: bool = True,
    extracted_at: datetime | None = None,
) -> dict[str, Any]:
    """One raw to-do list row (``UserTodoLearningItems``) of an assignment."""
    days_remaining = (due_at - extracted_at).days if extracted_at else None
    return {
        "user_id": user_id,
        "component_id": component_id,
        "component_type_id": component_type,
        "assigned_date": epoch_ms(assigned_at),
        "required_date": epoch_ms(due_at),
        "revision_date": epoch_ms(utc("2025-01-01 00:00")),
        "is_required": is_required,
        "component_type_desc": COMPONENT_TYPE_DESCRIPTIONS[component_type],
        "component_key": 10_000 + int(component_id.rsplit("-", 1)[-1]),
        "revision_number": "1",
        "title": f"Item {component_id}",
        "description": f"About {component_id}",
        "component_length": 1.5,
        "credit_hours": 1.5,
        "cpe_hours": 0.5,
        "contact_hours": 0.0,
        "days_remaining": days_remaining,
        "requirement_type_id": requirement_type,
        "requirement_type_description": requirement_type.replace("_", " ").title(),
        "add_user": "MANAGER" if requirement_type == "MANAGER" else "SYSTEM",
    }


def learning_completion(
    record_id: str,
    user_id: str,
    component_id: str,
    component_type: str,
    completed_at: datetime,
    *,
    passed: bool = True,
    updated_at: datetime | None = None,
) -> dict[str, Any]:
    """One raw learning history row: a successful completion, or a failed attempt."""
    outcome = "COMPLETE" if passed else "FAILED"
    return {
        "student_component_id": record_id,
        "target_user_id": user_id,
        "component_id": component_id,
        "component_type_id": component_type,
        "completion_status_id": f"{component_type}-{outcome}",
        "completion_date": epoch_ms(completed_at),
        "grade": "90" if passed else "40",
        "credit_hours": 1.5 if passed else 0.0,
        "cpe_hours": 0.5 if passed else 0.0,
        "provide_credit": passed,
        "last_update_timestamp": epoch_ms(updated_at or completed_at),
        "component_key": str(10_000 + int(component_id.rsplit("-", 1)[-1])),
        "revision_date": epoch_ms(utc("2025-01-01 00:00")),
        "revision_number": "1",
        "title": f"Item {component_id}",
        "completion_status_desc": "Completed" if passed else "Failed",
        "total_hours": 1.5,
        "contact_hours": 0.0,
    }


def history(
    rows: list[dict[str, Any]], key_column: str, key: str, *columns: str
) -> list[tuple[Any, ...]]:
    """The versions of one key, oldest first, as tuples of ``columns``."""
    mine = sorted((r for r in rows if r[key_column] == key), key=lambda r: r["valid_from"])
    return [tuple(r[c] for c in columns) for r in mine]
