"""The request and response values every API handler works with (no framework needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, quote

ODATA_SAFE = "$',/:()"


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    query_string: str
    headers: Message
    body: bytes
    base_url: str  # scheme://host:port the client used, for absolute links

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (``+`` and ``%xx`` decoded); the last value of a repeat wins."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)
    # Fault injection: send the full Content-Length but only part of the body, then close.
    truncate: bool = False
    # Fault injection: close the connection without answering (the client sees a reset).
    reset: bool = False
    # Fault injection: wait this long before answering (a client's read timeout fires first).
    stall_seconds: float = 0.0


def connection_reset() -> Response:
    """No answer at all: the server drops the connection."""
    return Response(0, reset=True)


def dump_json(payload: Any) -> bytes:
    """Compact, key-order-preserving JSON: same data gives the same bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, dump_json(payload), headers=dict(headers or {}))


def xml_response(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"), content_type="application/xml;charset=UTF-8")


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` percent-encoded, keeping OData's ``$ ' , ( )`` readable."""
    if not params:
        return url
    return (
        url
        + "?"
        + "&".join(f"{quote(k, safe='$')}={quote(v, safe=ODATA_SAFE)}" for k, v in params.items())
    )
