"""Alerts through real receivers on loopback: a webhook (HTTP server in a thread, Slack-style
``{"text": ...}``) and an SMTP server (aiosmtpd, STARTTLS with a self-signed certificate and
AUTH LOGIN); the throttle and the outcomes in the warehouse's ``ops.alerts``."""

from __future__ import annotations

import datetime as dt
import email
import io
import ipaddress
import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest import alerts, redaction
from ingest.alerts import Alerts, AlertSettings
from ingest.errors import ConfigurationError
from ingest.progress import Reporter
from ingest.target import resolve_target
from tests.support import (
    SLACK_STYLE,
    Database,
    free_port,
    run_cli,
    slack_webhook_url,
    webhook_receiver,
)

WEBHOOK_TOKEN = "T0K3N-webhook-9f8e7d6c5b4a"
SMTP_USER = "alerts-bot"
SMTP_PASSWORD = "smtp-pa55word-3c2b1a"
# ---- receivers


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    """A Slack-compatible webhook receiver; ``.received`` holds (path, JSON) of each POST."""
    with webhook_receiver() as server:
        yield server


def _webhook_url(server: ThreadingHTTPServer) -> str:
    return slack_webhook_url(server, WEBHOOK_TOKEN)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.pem", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == SMTP_USER
            and data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            self.logins.append(f"{mechanism}:{SMTP_USER}")
        return AuthResult(success=ok)


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Controller, _Inbox]]:
    """An SMTP server that requires STARTTLS and login; its certificate is trusted by this
    process (SSL_CERT_FILE), so the client verifies it as it would a real server's."""
    cert_path, key_path = _self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    inbox = _Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        auth_exclude_mechanism=["PLAIN"],  # AUTH LOGIN only, as some servers offer
        authenticator=inbox.authenticate,
    )
    controller.start()
    yield controller, inbox
    controller.stop()


def _mail_url(controller: Controller) -> str:
    return (
        f"mailtos://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{controller.port}"
        "?mode=starttls&from=alerts@example.com&to=oncall@example.com&format=text"
    )


def _alerts(database: Database, urls: list[str], **settings: Any) -> tuple[Alerts, io.StringIO]:
    """An Alerts writing its log lines to a buffer, with the URLs' secrets registered for
    masking (as the loader does at its edge)."""
    config = AlertSettings(urls=tuple(urls), **settings)
    for secret in config.secrets():
        redaction.register(secret)
    log = io.StringIO()
    return Alerts(config, resolve_target(database.env), "ops", Reporter("plain", log)), log


def _rows(database: Database) -> list[tuple]:
    return database.query(
        "select alert_key, outcome, suppressed_before, channels, sent_at is not null"
        " from ops.alerts order by alert_id"
    )


def _plain_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


# ---- delivery


def test_each_alert_kind_arrives_once_on_the_webhook_and_by_mail(
    database: Database, webhook: ThreadingHTTPServer, smtp: tuple[Controller, _Inbox]
) -> None:
    controller, inbox = smtp
    sender, log = _alerts(database, [_webhook_url(webhook), _mail_url(controller)])

    outcomes = [
        sender.loader_run_finished("20250101T000000-abc123", "FAILED", "salesforce: boom"),
        sender.loader_run_finished("20250101T000000-abc124", "SUCCESS_WITH_REJECTS", None),
        sender.dbt_test_failed("not_null_dim_employee_employee_id", 3),
        sender.source_stale("raw_salesforce.users", None, "24 hours"),
        sender.rows_dropped("marts.dim_employee", previous=1000, current=400),
    ]

    assert outcomes == [alerts.SENT] * 5
    subjects = [
        "peoplestack: loader run FAILED",
        "peoplestack: loader run SUCCESS_WITH_REJECTS",
        "peoplestack: dbt test failed: not_null_dim_employee_employee_id",
        "peoplestack: stale source raw_salesforce.users",
        "peoplestack: row count drop in marts.dim_employee",
    ]
    # The webhook: one Slack-style payload per alert, the text alone, subject first.
    assert [path for path, _ in webhook.received] == [f"/hooks/{WEBHOOK_TOKEN}"] * 5  # type: ignore[attr-defined]
    payloads = [payload for _, payload in webhook.received]  # type: ignore[attr-defined]
    assert all(set(p) == {"text"} for p in payloads)
    assert [p["text"].splitlines()[0] for p in payloads] == subjects
    assert "salesforce: boom" in payloads[0]["text"]
    assert "3 failing row(s)" in payloads[2]["text"]
    assert "never loaded" in payloads[3]["text"]
    assert "60% fewer than the 1000" in payloads[4]["text"]
    # The mail: over STARTTLS after login, one per alert, with the subject and the body.
    assert [m["Subject"] for m in inbox.messages] == subjects
    assert inbox.logins == [f"LOGIN:{SMTP_USER}"] * 5
    assert all(m["To"] == "oncall@example.com" for m in inbox.messages)
    assert "Loader run 20250101T000000-abc123 finished FAILED" in _plain_text(inbox.messages[0])
    assert [r[1] for r in _rows(database)] == [alerts.SENT] * 5
    assert "delivered" in _rows(database)[0][3]
    assert WEBHOOK_TOKEN not in log.getvalue() and SMTP_PASSWORD not in log.getvalue()


def test_a_drop_within_the_threshold_and_a_good_run_alert_nothing(
    database: Database, webhook: ThreadingHTTPServer
) -> None:
    sender, _ = _alerts(database, [_webhook_url(webhook)], rows_drop_threshold=0.5)

    assert sender.rows_dropped("marts.dim_employee", previous=1000, current=600) is None
    assert sender.loader_run_finished("r1", "SUCCESS", None) is None
    assert sender.loader_run_finished("r2", "DRY_RUN", None) is None
    assert webhook.received == []  # type: ignore[attr-defined]


# ---- throttle


def test_the_same_alert_within_the_window_is_suppressed_and_counted_in_the_next(
    database: Database, webhook: ThreadingHTTPServer
) -> None:
    sender, log = _alerts(database, [_webhook_url(webhook)], throttle_minutes=60)

    first = sender.dbt_test_failed("unique_dim_person_person_key", 1)
    second = sender.dbt_test_failed("unique_dim_person_person_key", 2)
    third = sender.dbt_test_failed("unique_dim_person_person_key", 2)
    other = sender.dbt_test_failed("not_null_dim_person_person_key", 1)  # another key: its own

    assert (first, second, third, other) == (
        alerts.SENT,
        alerts.SUPPRESSED,
        alerts.SUPPRESSED,
        alerts.SENT,
    )
    assert len(webhook.received) == 2  # type: ignore[attr-defined]
    assert "alert suppressed" in log.getvalue()

    # An hour and more later (the rows moved back in time, as the clock would move forward):
    database.query(
        "update ops.alerts set raised_at = raised_at - interval '61 minutes',"
        " sent_at = sent_at - interval '61 minutes'"
    )
    after = sender.dbt_test_failed("unique_dim_person_person_key", 2)

    assert after == alerts.SENT
    text = webhook.received[-1][1]["text"]  # type: ignore[attr-defined]
    assert "(2 more of this alert suppressed since" in text
    assert _rows(database)[-1][:3] == ("dbt_test:unique_dim_person_person_key", alerts.SENT, 2)
    # ...and the count starts again from there.
    database.query("update ops.alerts set sent_at = sent_at - interval '61 minutes'")
    assert sender.dbt_test_failed("unique_dim_person_person_key", 2) == alerts.SENT
    assert "suppressed" not in webhook.received[-1][1]["text"]  # type: ignore[attr-defined]


def test_the_throttle_holds_across_processes(
    database: Database, webhook: ThreadingHTTPServer
) -> None:
    """Two senders (as two runs of a cron job would be) share the throttle in the warehouse."""
    one, _ = _alerts(database, [_webhook_url(webhook)])
    two, _ = _alerts(database, [_webhook_url(webhook)])

    assert one.source_stale("raw_successfactors.employees", None, "1 day") == alerts.SENT
    assert two.source_stale("raw_successfactors.employees", None, "1 day") == alerts.SUPPRESSED
    assert len(webhook.received) == 1  # type: ignore[attr-defined]


# ---- failing and missing channels


def test_a_dead_channel_is_logged_and_recorded_and_the_others_still_deliver(
    database: Database, webhook: ThreadingHTTPServer
) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hooks/{WEBHOOK_TOKEN}{SLACK_STYLE}"
    sender, log = _alerts(database, [dead, _webhook_url(webhook)])

    outcome = sender.loader_run_finished("r1", "FAILED", "successfactors: token refused")

    assert outcome == alerts.SENT
    assert len(webhook.received) == 1  # type: ignore[attr-defined]
    failed_lines = [line for line in log.getvalue().splitlines() if "failed" in line]
    assert len(failed_lines) == 1 and failed_lines[0].startswith(
        "alert channel #1 json://127.0.0.1:"
    )
    channels = _rows(database)[0][3]
    assert channels.startswith("#1 json://127.0.0.1:") and ": failed; #2 " in channels
    assert channels.endswith(": delivered")
    assert WEBHOOK_TOKEN not in log.getvalue() + channels


def test_an_alert_no_channel_took_is_not_throttled(database: Database) -> None:
    dead = f"json://127.0.0.1:{free_port()}/hooks/{WEBHOOK_TOKEN}{SLACK_STYLE}"
    sender, log = _alerts(database, [dead])

    assert sender.loader_run_finished("r1", "FAILED", "boom") == alerts.FAILED
    # Nothing arrived anywhere, so the next one is tried again, not suppressed.
    assert sender.loader_run_finished("r2", "FAILED", "boom") == alerts.FAILED
    assert [r[1:3] for r in _rows(database)] == [(alerts.FAILED, 0), (alerts.FAILED, 0)]
    assert "alert not sent to 0 of 1 channel(s): peoplestack: loader run FAILED" in log.getvalue()


def test_without_a_channel_one_line_says_the_alert_was_not_sent(database: Database) -> None:
    sender, log = _alerts(database, [])

    assert sender.dbt_test_failed("accepted_values_dim_employee_status", 7) == alerts.NO_CHANNEL
    assert log.getvalue().splitlines() == [
        "alert not sent, no channel is configured (set alerts.urls): "
        "peoplestack: dbt test failed: accepted_values_dim_employee_status"
    ]
    assert [r[1] for r in _rows(database)] == [alerts.NO_CHANNEL]


# ---- settings


def test_settings_come_from_the_environment_like_every_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALERTS__URLS", "json://127.0.0.1:9/a  mailtos://u:p@smtp.example.com")
    monkeypatch.setenv("ALERTS__THROTTLE_MINUTES", "15")
    monkeypatch.setenv("ALERTS__ROWS_DROP_THRESHOLD", "0.2")

    settings = alerts.load_settings()

    assert settings.urls == ("json://127.0.0.1:9/a", "mailtos://u:p@smtp.example.com")
    assert (settings.throttle_minutes, settings.rows_drop_threshold) == (15.0, 0.2)
    assert WEBHOOK_TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("THROTTLE_MINUTES", "soon", "alerts.throttle_minutes must be a number, not 'soon'"),
        ("THROTTLE_MINUTES", "-1", "alerts.throttle_minutes must be at least 0, not '-1'"),
        ("ROWS_DROP_THRESHOLD", "2", "alerts.rows_drop_threshold must be a share more than 0"),
        ("URLS", f"nosuchscheme://{WEBHOOK_TOKEN}", "alerts.urls entry 1 (nosuchscheme://…)"),
        ("URLS", f"json://hooks.example.com/{WEBHOOK_TOKEN}", "entry 1 must use jsons://"),
        ("URLS", f"mailto://u:{SMTP_PASSWORD}@smtp.example.com", "entry 1 must use mailtos://"),
    ],
)
def test_a_bad_setting_is_one_line_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"ALERTS__{name}", value)

    with pytest.raises(ConfigurationError) as raised:
        alerts.load_settings()

    assert message in str(raised.value)
    assert WEBHOOK_TOKEN not in str(raised.value) and SMTP_PASSWORD not in str(raised.value)
    assert "\n" not in str(raised.value)


# ---- wired into the loader


def test_a_failed_loader_run_alerts_and_keeps_its_exit_code(
    database: Database, webhook: ThreadingHTTPServer, smtp: tuple[Controller, _Inbox]
) -> None:
    """``python -m ingest`` against a tenant that does not answer: the run FAILS (exit 1),
    the alert arrives on both channels, and no secret reaches the console."""
    controller, inbox = smtp
    env = dict(database.env)
    env.update(
        SOURCES__SALESFORCE__INSTANCE_URL=f"http://127.0.0.1:{free_port()}",
        SOURCES__SALESFORCE__CLIENT_ID="client-id",
        SOURCES__SALESFORCE__CLIENT_SECRET="sf-client-secret-123456",
        INGEST__REQUEST_MAX_ATTEMPTS="1",
        ALERTS__URLS=f"{_webhook_url(webhook)} {_mail_url(controller)}",
    )  # SSL_CERT_FILE (the SMTP server's certificate) comes with the environment

    result = run_cli(["--sources", "salesforce"], env, timeout=120)

    assert result.returncode == 1, result.stderr
    sent = "alert sent to 2 of 2 channel(s): peoplestack: loader run FAILED"
    assert sent in result.stderr, result.stderr  # else the failed channel's line says why
    assert len(webhook.received) == 1  # type: ignore[attr-defined]
    assert webhook.received[0][1]["text"].startswith("peoplestack: loader run FAILED")  # type: ignore[attr-defined]
    assert [m["Subject"] for m in inbox.messages] == ["peoplestack: loader run FAILED"]
    output = result.stdout + result.stderr
    for secret in (WEBHOOK_TOKEN, SMTP_PASSWORD, "sf-client-secret-123456"):
        assert secret not in output
    assert [r[1] for r in _rows(database)] == [alerts.SENT]


def test_a_bad_alert_setting_stops_the_loader_before_it_runs(database: Database) -> None:
    env = dict(database.env)
    env["ALERTS__THROTTLE_MINUTES"] = "hourly"

    result = run_cli(["--sources", "salesforce"], env, timeout=60)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: alerts.throttle_minutes must be a number, not 'hourly'"
    )
