"""The HTTP server: one port, the three APIs and the control endpoint told apart by path."""

from __future__ import annotations

import logging
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from ingest.sandbox import control
from ingest.sandbox.learning import LearningApi
from ingest.sandbox.salesforce import SalesforceApi
from ingest.sandbox.salesforce_writes import SalesforceWrites
from ingest.sandbox.successfactors import SuccessFactorsApi
from ingest.sandbox.web import Request, Response, json_response
from ingest.sandbox.world import World

log = logging.getLogger(__name__)


class SandboxApp:
    """Routes a request to the API that owns its path."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.salesforce = SalesforceApi(world, writes=SalesforceWrites(world))
        self.successfactors = SuccessFactorsApi(world)
        self.learning = LearningApi(world)

    def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith(control.PREFIX):
            return control.handle(self.world, request)
        if path.startswith("/services/"):
            return self.salesforce.handle(request)
        if path.startswith("/odata/v2") or path == "/oauth/token":
            return self.successfactors.handle(request)
        if path.startswith("/learning/"):
            return self.learning.handle(request)
        return json_response(404, {"error": "not_found", "message": f"nothing at {path}"})


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        super().__init__(address, _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as real APIs do; every answer has a Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes; with Nagle on, the second waits for the
    # client's delayed ACK (~40 ms per request on Linux), which dominated per-learner calls.
    disable_nagle_algorithm = True
    server: SandboxServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        request = Request(
            self.command, unquote(parts.path), parts.query, self.headers, body, f"http://{host}"
        )
        try:
            response = self.server.app.handle(request)
        except Exception:  # a sandbox bug must still answer, and loudly
            log.exception("sandbox failed on %s %s", self.command, self.path)
            response = json_response(
                500, {"error": "internal_error", "message": "sandbox bug: see server log"}
            )
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.reset:
            # Linger 0: closing sends RST, not FIN, so the client reads "connection reset".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if response.stall_seconds:
            time.sleep(response.stall_seconds)
            try:
                self._write(response)
            except OSError:  # the client gave up waiting and closed: nobody to answer
                self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.truncate:
            # The promised length never arrives: the client sees a broken, partial body.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
