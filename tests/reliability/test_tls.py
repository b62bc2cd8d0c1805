"""TLS verification is never turned off: a server with a certificate no one vouches for gets
no credentials, whatever it answers."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.sandbox import Sandbox
from tests.reliability.figures import Figures
from tests.support import Database, loader_env, run_cli


class Recorder(BaseHTTPRequestHandler):
    """Answers anything with 200 and remembers every request that got through TLS."""

    received: list[str] = []

    def _any(self) -> None:
        self.received.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _any

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def impostor(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on localhost whose certificate is self-signed."""
    cert, key = _self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    Recorder.received.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("source", ["salesforce", "successfactors"])
def test_a_server_whose_certificate_is_not_trusted_gets_no_credentials(
    database: Database, impostor: str, source: str, figures: Figures
) -> None:
    with (
        figures.trial("attack", f"{source}: a server with a self-signed certificate"),
        Sandbox(seed=7, scale="small", day=0, learning_min_interval_seconds=0) as sandbox,
    ):
        env = loader_env(database, sandbox)
        setting = "INSTANCE_URL" if source == "salesforce" else "API_URL"
        env[f"SOURCES__{source.upper()}__{setting}"] = impostor
        result = run_cli(["--log-format", "plain", "--sources", source], env)

        assert result.returncode == 1
        assert "TLS certificate is not trusted" in result.stderr
        assert "Traceback" not in result.stderr
        assert Recorder.received == []  # no request got through the handshake
