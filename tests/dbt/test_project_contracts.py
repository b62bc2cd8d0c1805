"""What the loader, the dbt project and the README promise each other, read from dbt's manifest.

- Every column a raw table declares in dbt (`data_type`) is declared by the loader with the
  same type, so it exists from the loader's first run.
- Each mart's `meta.loader_sources` names exactly the loader sources its lineage reaches,
  and README's "mart → sources" table says the same.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.sources.raw_tables import DECLARED_COLUMNS, table_columns
from tests.support import REPO_ROOT, run_dbt

DLT_ROW_COLUMNS = {"_dlt_load_id": "text", "_dlt_id": "text"}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    target = tmp_path_factory.mktemp("parse")
    env = {k: v for k, v in os.environ.items() if k != "PEOPLESTACK_SCHEMA_PREFIX"}
    result = run_dbt(["parse", "--target-path", str(target), "--log-path", str(target)], env)
    assert result.returncode == 0, result.stdout[-3000:]
    yield json.loads((target / "manifest.json").read_text())


def _raw_tables(manifest: dict) -> dict[tuple[str, str], dict]:
    """Source tables the models read, keyed by (loader source, table)."""
    tables = {}
    for node in manifest["sources"].values():
        loader_source = node["config"]["meta"].get("loader_source")
        if loader_source:
            tables[(loader_source, node["name"])] = node
    return tables


def test_the_loader_declares_every_column_dbt_reads_with_its_type(manifest: dict) -> None:
    raw = _raw_tables(manifest)
    versions_tables = {key for key in raw if key[1] != "deletions"}
    assert versions_tables == set(DECLARED_COLUMNS)
    for key in versions_tables:
        in_dbt = {name: column["data_type"] for name, column in raw[key]["columns"].items()}
        assert in_dbt == {**table_columns(*key), **DLT_ROW_COLUMNS}, key


def test_every_raw_column_has_a_type_the_stand_in_knows(manifest: dict) -> None:
    known = {"text", "bigint", "double", "bool", "timestamp"}
    for key, node in _raw_tables(manifest).items():
        for name, column in node["columns"].items():
            assert column["data_type"] in known, (key, name)


def _upstream_loader_sources(manifest: dict, unique_id: str) -> set[str]:
    found: set[str] = set()
    pending, seen = [unique_id], set()
    while pending:
        node = manifest["nodes"].get(pending.pop())
        if node is None:
            continue
        for parent in node.get("depends_on", {}).get("nodes", []):
            if parent.startswith("source."):
                loader_source = manifest["sources"][parent]["config"]["meta"].get("loader_source")
                if loader_source:
                    found.add(loader_source)
            elif parent not in seen:
                seen.add(parent)
                pending.append(parent)
    return found


def _marts(manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


def test_each_mart_names_exactly_the_sources_its_lineage_reaches(manifest: dict) -> None:
    for name, node in _marts(manifest).items():
        declared = node["config"]["meta"].get("loader_sources")
        assert declared is not None, f"{name} has no meta.loader_sources"
        named = set(declared.get("needs", [])) | set(declared.get("enriched_by", []))
        assert named == _upstream_loader_sources(manifest, node["unique_id"]), name
        assert not set(declared.get("needs", [])) & set(declared.get("enriched_by", [])), name


def _readme_table() -> dict[str, tuple[set[str], set[str]]]:
    """README's "mart → sources" rows: mart -> (needs, enriched by)."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("| Mart | Needs (empty without) |", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, tuple[set[str], set[str]]] = {}
    for line in section.splitlines()[2:]:
        marts, needs, enriched = (cell.strip() for cell in line.strip("|").split("|"))
        rows.update(dict.fromkeys(re.findall(r"`(\w+)`", marts), (_names(needs), _names(enriched))))
    return rows


def _names(cell: str) -> set[str]:
    """Source names at the start of a cell ("a, b: what happens"); "—" or "either source"
    name none."""
    names = cell.split(":", 1)[0]
    if names in ("—", "either source"):
        return set()
    return {name.strip() for name in names.split(",")}


def test_the_readme_table_says_what_the_metadata_says(manifest: dict) -> None:
    table = _readme_table()
    marts = _marts(manifest)
    assert set(table) == set(marts)
    for name, node in marts.items():
        declared = node["config"]["meta"]["loader_sources"]
        assert table[name] == (set(declared["needs"]), set(declared["enriched_by"])), name


def test_sources_yml_is_where_the_loader_writes(manifest: dict) -> None:
    from ingest.sources.raw_tables import RAW_SCHEMAS

    for (loader_source, table), node in _raw_tables(manifest).items():
        assert node["schema"] == RAW_SCHEMAS[loader_source], (loader_source, table)
        assert Path(node["original_file_path"]).name.startswith("_")
