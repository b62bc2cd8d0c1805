"""Values land exactly as sent, whichever way a page takes to the warehouse: flat pages as one
Arrow table through ``COPY``, pages with values only dlt's row path handles (a nested
object, a number in a text column) as rows. An empty string stays an empty string, a null
stays NULL, and a column keeps the type the first value gave it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ingest import cli
from ingest.config import URL, RunOptions
from ingest.quality import RecordContract, parse_iso_datetime
from ingest.sources import registry
from ingest.sources.incremental import Window
from ingest.sources.page_table import Row, page_table
from ingest.sources.source import Landed, ResourceSpec, Source
from tests.support import Database


@dataclass(frozen=True)
class NoteSettings:
    api_url: str = field(metadata=URL)


NOTE_CONTRACT = RecordContract(
    key=("noteId",),
    cursor="modifiedAt",
    parse_time=parse_iso_datetime,
    timestamps=("modifiedAt",),
    types={"noteId": str, "text": str, "pinned": bool},
)
NOTE_COLUMNS = {
    "note_id": {"data_type": "text"},
    "text": {"data_type": "text"},
    "pinned": {"data_type": "bool"},
    "stars": {"data_type": "bigint"},
    "score": {"data_type": "double"},
    "modified_at": {"data_type": "text"},
    "ref": {"data_type": "text"},  # untyped by the contract, as Learning's Long ids are
}


def note_resources(settings: NoteSettings, options: RunOptions, landed: Landed) -> list:
    def fetch(window: Window) -> Iterator[list[dict[str, Any]]]:
        page = 0
        while True:
            body = requests.get(f"{settings.api_url}/notes?page={page}", timeout=10).json()
            yield body["items"]
            if not body["more"]:
                return
            page += 1

    return [ResourceSpec("notes", NOTE_CONTRACT, fetch, dict, requests_made=lambda: 0)]


NOTES = Source(
    name="notes",
    title="the notes API",
    raw_schema="raw_notes",
    settings=NoteSettings,
    tables={"notes": NOTE_COLUMNS},
    resources=note_resources,
    probe=lambda settings, options: "ok",
)


class NoteApi(ThreadingHTTPServer):
    """Serves ``pages``, one list of records each, exactly as set."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _NoteHandler)
        self.pages: list[list[Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _NoteHandler(BaseHTTPRequestHandler):
    server: NoteApi

    def do_GET(self) -> None:
        page = int(parse_qs(urlsplit(self.path).query)["page"][0])
        pages = self.server.pages
        body = {"items": pages[page] if page < len(pages) else [], "more": page + 1 < len(pages)}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def note_api(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[NoteApi, Database]]:
    """Only the notes API configured and registered, on loopback."""
    api = NoteApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    registry.register(NOTES)
    for name, value in database.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOURCES__NOTES__API_URL", api.url)
    yield api, database
    del registry.SOURCES[NOTES.name]
    api.shutdown()
    api.server_close()


def _note(n: int, **fields: Any) -> dict[str, Any]:
    return {"noteId": f"N{n}", "modifiedAt": f"2026-01-01T08:00:{n:02d}+00:00", **fields}


def _load() -> int:
    return cli.main(["--sources", "notes", "--log-format", "plain"])


def _columns(database: Database) -> dict[str, str]:
    rows = database.query(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = 'raw_notes' and table_name = 'notes'"
    )
    return dict(rows)


UTC_NOW = datetime.now(UTC)
ODD_TEXT = 'a "quoted", comma\nnew line\r\ttab \\ back \x07 bell Zoë 山田 👩🏽‍💻'


@pytest.mark.parametrize("row_path", [False, True], ids=["arrow page", "row page"])
def test_empty_string_and_null_land_distinct_and_text_exactly(
    note_api: tuple[NoteApi, Database], row_path: bool
) -> None:
    api, database = note_api
    page = [
        _note(0, text="", pinned=True, stars=3, score=1.5, label=""),
        _note(1, text=None, pinned=None, stars=None, score=None, label=None),
        _note(2, text=ODD_TEXT, pinned=False, stars=-7, score=2, label=ODD_TEXT),
        _note(3, ref=987783192725),  # a whole number in a text column: its digits
    ]
    if row_path:  # a nested object sends the whole page down dlt's row path
        page[2]["place"] = {"lat": 1.5, "lng": 2}
    api.pages = [page]
    assert _load() == 0
    landed = database.query(
        "select note_id, text, pinned, stars, score, label from raw_notes.notes order by 1"
    )
    assert landed == [
        ("N0", "", True, 3, 1.5, ""),
        ("N1", None, None, None, None, None),
        ("N2", ODD_TEXT, False, -7, 2.0, ODD_TEXT),
        ("N3", None, None, None, None, None),
    ]
    assert database.query("select note_id, ref from raw_notes.notes where ref is not null") == [
        ("N3", "987783192725")
    ]
    columns = _columns(database)
    assert columns["stars"] == "bigint" and columns["score"] == "double precision"
    assert columns["label"] == "character varying"
    assert columns["_extracted_at"] == "timestamp with time zone"
    assert database.query(
        "select count(distinct _dlt_id), count(distinct _dlt_load_id) from raw_notes.notes"
    ) == [(4, 1)]


def test_whole_numbers_in_a_text_column_keep_a_page_on_the_arrow_path() -> None:
    names = (("id", "id"), ("note", "note"))
    rows = [Row({"id": 5, "note": "x"}, names), Row({"id": "A7", "note": None}, names)]
    table = page_table(rows, {"id": "text", "note": "text"}, {}, UTC_NOW)
    assert table is not None
    assert table.column("id").to_pylist() == ["5", "A7"]
    # A bool or a float in a text column is dlt's to coerce: the row path.
    for odd in (True, 1.5):
        assert page_table([Row({"id": odd}, names[:1])], {"id": "text"}, {}, UTC_NOW) is None


def test_new_fields_get_the_column_types_dlt_gives_them_on_either_path(
    note_api: tuple[NoteApi, Database],
) -> None:
    api, database = note_api
    api.pages = [
        [_note(0, count=4, ratio=0.5, flag=True, seen="2026-01-02T10:00:00+00:00")],
        [_note(1, place={"lat": 1.5, "lng": 2}, tags=["a", "b"])],
    ]
    assert _load() == 0
    columns = _columns(database)
    assert columns["count"] == "bigint"
    assert columns["ratio"] == "double precision"
    assert columns["flag"] == "boolean"
    assert columns["seen"] == "timestamp with time zone"  # dlt's timestamp detection
    assert columns["place__lat"] == "double precision"  # nested objects flatten, as before
    assert database.query("select value from raw_notes.notes__tags order by 1") == [
        ("a",),
        ("b",),
    ]
    # A field that first appears on a later run becomes a column then (schema drift).
    api.pages = [[_note(5, extra="new")]]
    assert _load() == 0
    assert database.query("select extra from raw_notes.notes where note_id = 'N5'") == [("new",)]


def test_a_value_of_another_type_on_a_new_column_fails_the_resource_cleanly(
    note_api: tuple[NoteApi, Database], capsys: pytest.CaptureFixture[str]
) -> None:
    api, database = note_api
    api.pages = [[_note(0, level=1)], [_note(1, level="high")]]
    assert _load() == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "level" in err
    assert database.query(
        "select count(*) from information_schema.tables where table_schema = 'raw_notes'"
        " and table_name = 'notes'"
    ) in ([(0,)], [(1,)])
    if _columns(database):
        assert database.query("select count(*) from raw_notes.notes") == [(0,)]
