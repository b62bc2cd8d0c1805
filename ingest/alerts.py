"""Alerts to the configured channels (Apprise URLs), throttled per key through ``ops.alerts``.

    alert(kind, subject, body, key)
      ─► no channel configured: one log line, recorded as NO_CHANNEL
      ─► the same key delivered within ``alerts.throttle_minutes``: SUPPRESSED (counted)
      ─► else each channel in turn: SENT when any delivered, FAILED when none did; the
         suppressed count since the last delivery goes into the message

The throttle lives in the warehouse, so it holds across processes (a cron job every 15
minutes alerts once an hour). A channel that fails never fails the run: one log line, and
its outcome recorded in the row. Apprise speaks webhooks (``json://`` with the payload
remapped to Slack's ``{"text": ...}``), SMTP (``mailtos://``, STARTTLS and login), Slack,
Teams and many more through one URL each.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import dlt
from psycopg2 import sql

from ingest.errors import ConfigurationError, describe
from ingest.progress import Reporter
from ingest.redaction import redact
from ingest.target import WarehouseTarget

# Alert kinds: what happened, for the ``kind`` column and the key's prefix.
LOADER_RUN = "loader_run"
DBT_TEST = "dbt_test"
STALE_SOURCE = "stale_source"
ROWS_DROP = "rows_drop"

# Outcomes, one per row of ops.alerts.
SENT, SUPPRESSED, FAILED, NO_CHANNEL = "SENT", "SUPPRESSED", "FAILED", "NO_CHANNEL"
_SENDING = "SENDING"  # between the decision and the delivery (a row a crash may leave)

# Advisory lock class of the alert keys ("alrt"), apart from the run and job locks.
ALERT_LOCK_KEY = 0x616C7274
# Schemes whose URL carries its secrets in clear, and their encrypted form: like the sources'
# http://, allowed to this machine only.
_CLEARTEXT_SCHEMES = {"json": "jsons", "xml": "xmls", "form": "forms", "mailto": "mailtos"}
# Schemes whose host part is a host (not a token, as in slack://TOKEN_A/...), so a log line
# may name it.
_HOST_SCHEMES = {"http", "https", *_CLEARTEXT_SCHEMES, *_CLEARTEXT_SCHEMES.values()}


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]`` in .dlt/config.toml (``urls`` in .dlt/secrets.toml) or ALERTS__* variables."""

    # Apprise URLs; a secret (webhook tokens, SMTP passwords), so never in a repr. Not marked
    # ``config.SECRET``: a tuple, masked through ``secrets()`` instead.
    urls: tuple[str, ...] = field(default=(), repr=False)
    throttle_minutes: float = 60.0
    # A table whose row count falls by more than this share from one run to the next alerts.
    rows_drop_threshold: float = 0.5

    def secrets(self) -> list[str]:
        """Each URL and the secrets inside it, to be masked from every output."""
        found: list[str] = []
        for url in self.urls:
            parts = urlsplit(url)
            # The path and query carry webhook tokens and extra credentials (+Authorization=).
            found += [url, unquote(parts.password or ""), parts.path, parts.query]
            found += [unquote(parts.path), unquote(parts.query)]
            if parts.scheme not in _HOST_SCHEMES:  # slack://TOKEN_A/TOKEN_B/...: all secret
                found.append(unquote(parts.netloc))
        return sorted({s for s in found if s.strip("/")}, key=len, reverse=True)


def load_settings() -> AlertSettings:
    """The alert settings from dlt's providers; a bad value is a ConfigurationError."""
    urls = _url_list(_lookup("urls", secret=True))
    values: dict[str, Any] = {"urls": urls}
    for name, least, share in (("throttle_minutes", 0.0, False), ("rows_drop_threshold", 0, True)):
        raw = _lookup(name, secret=False)
        if raw is None or raw == "":
            continue
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(f"alerts.{name} must be a number, not {raw!r}") from None
        if not value >= least or (share and not (0 < value <= 1)):
            rule = "a share more than 0 and at most 1" if share else f"at least {least:g}"
            raise ConfigurationError(f"alerts.{name} must be {rule}, not {raw!r}")
        values[name] = value
    for position, url in enumerate(urls, start=1):
        _check_url(position, url)
    return AlertSettings(**values)


def _lookup(name: str, secret: bool) -> Any:
    value = dlt.secrets.get(f"alerts.{name}") if secret else None
    return dlt.config.get(f"alerts.{name}") if value is None else value


def _url_list(value: Any) -> tuple[str, ...]:
    """A TOML list, or a text of URLs separated by spaces or new lines (a variable)."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ConfigurationError(
                    "alerts.urls must be a list of Apprise URLs or URLs separated by spaces; "
                    "the value given starts with [ but is not a JSON list"
                ) from None
        else:
            value = text.split()
    if not isinstance(value, list | tuple) or not all(isinstance(u, str) for u in value):
        raise ConfigurationError("alerts.urls must be a list of Apprise URLs (strings)")
    return tuple(u.strip() for u in value if u.strip())


def _check_url(position: int, url: str) -> None:
    """A URL Apprise understands; cleartext schemes to this machine only. Errors name the
    entry by position and scheme: the URL itself is a secret."""
    import apprise  # here: its import and plugin scan cost every run ~1 s, alerts or not

    scheme = urlsplit(url).scheme.lower() or "(none)"
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise ConfigurationError(
            f"alerts.urls entry {position} ({scheme}://…) is not a notification URL Apprise "
            "understands (README: Alerts)"
        )
    host = getattr(plugin, "smtp_host", None) or getattr(plugin, "host", None) or ""
    if scheme in _CLEARTEXT_SCHEMES and not _is_loopback(host):
        raise ConfigurationError(
            f"alerts.urls entry {position} must use {_CLEARTEXT_SCHEMES[scheme]}:// "
            f"({scheme}:// only to this machine): its secrets would cross the network in clear"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Channel:
    """One configured notification URL, named without its secrets."""

    label: str
    url: str = field(repr=False)


def channels(settings: AlertSettings) -> list[Channel]:
    """The configured URLs as channels, each labelled for log lines and ops.alerts."""
    found = []
    for position, url in enumerate(settings.urls, start=1):
        parts = urlsplit(url)
        where = f" {parts.hostname}" + (f":{parts.port}" if parts.port else "")
        label = f"{parts.scheme}://" + (where.strip() if parts.scheme in _HOST_SCHEMES else "")
        found.append(Channel(redact(f"#{position} {label}"), url))
    return found


class Alerts:
    """Sends alerts; one instance per process, built at the edge from resolved settings."""

    def __init__(
        self, settings: AlertSettings, target: WarehouseTarget, schema: str, reporter: Reporter
    ) -> None:
        self.settings = settings
        self._channels = channels(settings)
        self._target = target
        self._schema = schema
        self._reporter = reporter

    def ensure_table(self) -> None:
        """``ops.alerts``: one row per alert raised, its outcome and each channel's."""
        with self._target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    """
                    create schema if not exists {schema};
                    create table if not exists {schema}.alerts (
                        alert_id bigserial primary key,
                        alert_key text not null,
                        kind text not null,
                        subject text not null,
                        raised_at timestamptz not null default now(),
                        sent_at timestamptz,
                        outcome text not null,
                        suppressed_before bigint not null default 0,
                        channels text
                    );
                    create index if not exists alerts_key_raised_at
                        on {schema}.alerts (alert_key, raised_at);
                    """
                ).format(schema=sql.Identifier(self._schema))
            )

    def alert(self, kind: str, subject: str, body: str, key: str) -> str:
        """Deliver one alert unless the same ``key`` was delivered within the throttle window;
        returns the outcome (SENT, SUPPRESSED, FAILED, NO_CHANNEL). Never raises for a
        channel's failure; a warehouse failure is one log line and FAILED."""
        subject, body = redact(subject), redact(body)
        try:
            return self._alert(kind, subject, body, key)
        except Exception as exc:  # the alert must not fail what it reports on; said, not hidden
            self._reporter.event(
                "alert_failed",
                f"alert not sent: {subject} — could not record it in {self._schema}.alerts: "
                f"{describe(exc)}",
                kind=kind,
                key=key,
            )
            return FAILED

    def loader_run_finished(self, run_id: str, status: str, errors: str | None) -> str | None:
        """A FAILED or SUCCESS_WITH_REJECTS loader run; other statuses alert nothing."""
        if status not in ("FAILED", "SUCCESS_WITH_REJECTS"):
            return None
        detail = (
            f"Errors: {errors}" if errors else "Some records were rejected by the quality gate."
        )
        body = f"Loader run {run_id} finished {status}.\n{detail}\nSee: python -m ingest status"
        return self.alert(
            LOADER_RUN, f"peoplestack: loader run {status}", body, f"{LOADER_RUN}:{status}"
        )

    def dbt_test_failed(self, test: str, failures: int, message: str = "") -> str:
        """A dbt test that failed (``failures`` rows), one key per test."""
        body = f"dbt test {test} failed with {failures} failing row(s)." + (
            f"\n{message}" if message else ""
        )
        return self.alert(
            DBT_TEST, f"peoplestack: dbt test failed: {test}", body, f"{DBT_TEST}:{test}"
        )

    def source_stale(self, table: str, last_loaded_at: datetime | None, max_age: str) -> str:
        """A source table not loaded for longer than ``max_age`` (words, e.g. "24 hours")."""
        when = (
            f"last loaded {last_loaded_at:%Y-%m-%d %H:%M %Z}" if last_loaded_at else "never loaded"
        )
        body = f"Source table {table} is stale: {when}, expected within {max_age}."
        return self.alert(
            STALE_SOURCE, f"peoplestack: stale source {table}", body, f"{STALE_SOURCE}:{table}"
        )

    def rows_dropped(self, table: str, previous: int, current: int) -> str | None:
        """An alert when ``table`` lost more than ``alerts.rows_drop_threshold`` of its rows
        since the previous run; None when it did not."""
        if previous <= 0 or (previous - current) / previous <= self.settings.rows_drop_threshold:
            return None
        share = (previous - current) / previous
        body = (
            f"Table {table} has {current} row(s), {share:.0%} fewer than the {previous} of the "
            f"previous run (alerts.rows_drop_threshold: {self.settings.rows_drop_threshold:.0%})."
        )
        return self.alert(
            ROWS_DROP, f"peoplestack: row count drop in {table}", body, f"{ROWS_DROP}:{table}"
        )

    def _alert(self, kind: str, subject: str, body: str, key: str) -> str:
        try:
            self.ensure_table()
            if not self._channels:
                self._insert(key, kind, subject, NO_CHANNEL)
            else:
                decision = self._decide(kind, subject, key)
        except Exception as exc:  # the warehouse is down: what may need saying most of all
            return self._deliver_unrecorded(kind, subject, body, key, exc)
        if not self._channels:
            self._no_channel(kind, subject, key)
            return NO_CHANNEL
        if decision is None:
            self._reporter.event(
                "alert_suppressed",
                f"alert suppressed (same alert sent within alerts.throttle_minutes="
                f"{self.settings.throttle_minutes:g}): {subject}",
                kind=kind,
                key=key,
            )
            return SUPPRESSED
        alert_id, suppressed, last_sent = decision
        if suppressed:
            since = f" since {last_sent:%Y-%m-%d %H:%M %Z}" if last_sent else ""
            body += f"\n\n({suppressed} more of this alert suppressed{since} by the throttle.)"
        results = [self._deliver(channel, kind, subject, body) for channel in self._channels]
        outcome = SENT if any(ok for _, ok in results) else FAILED
        summary = "; ".join(f"{c.label}: {'delivered' if ok else 'failed'}" for c, ok in results)
        with self._target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "update {}.alerts set outcome = %s, channels = %s,"
                    " sent_at = case when %s then now() end where alert_id = %s"
                ).format(sql.Identifier(self._schema)),
                (outcome, summary, outcome == SENT, alert_id),
            )
        delivered = sum(ok for _, ok in results)
        self._reporter.event(
            "alert_sent" if outcome == SENT else "alert_failed",
            f"alert {'sent' if outcome == SENT else 'not sent'} to {delivered} of "
            f"{len(results)} channel(s): {subject}",
            kind=kind,
            key=key,
            channels=summary,
        )
        return outcome

    def _no_channel(self, kind: str, subject: str, key: str) -> None:
        self._reporter.event(
            "alert_not_sent",
            f"alert not sent, no channel is configured (set alerts.urls): {subject}",
            kind=kind,
            key=key,
        )

    def _deliver_unrecorded(
        self, kind: str, subject: str, body: str, key: str, cause: Exception
    ) -> str:
        """The alert without the throttle, which lives in the warehouse that failed: better
        twice than not at all."""
        self._reporter.event(
            "alert_unrecorded",
            f"alert not recorded in {self._schema}.alerts ({describe(cause)}), so it is not "
            f"throttled: {subject}",
            kind=kind,
            key=key,
        )
        if not self._channels:
            self._no_channel(kind, subject, key)
            return NO_CHANNEL
        results = [self._deliver(channel, kind, subject, body) for channel in self._channels]
        return SENT if any(ok for _, ok in results) else FAILED

    def _decide(self, kind: str, subject: str, key: str) -> tuple[int, int, datetime | None] | None:
        """Under the key's lock: None (suppressed, recorded) or the new row's id, the count
        suppressed since the last delivery, and when that was."""
        table = sql.Identifier(self._schema, "alerts")
        with self._target.transaction() as cur:
            cur.execute(
                "select pg_advisory_xact_lock(%s, %s)",
                (ALERT_LOCK_KEY, zlib.crc32(f"{self._schema}.{key}".encode()) - 2**31),
            )
            cur.execute(
                sql.SQL(
                    "select max(sent_at), max(sent_at) > now() - make_interval(secs => %s)"
                    " from {} where alert_key = %s and outcome = %s"
                ).format(table),
                (self.settings.throttle_minutes * 60, key, SENT),
            )
            last_sent, within_window = cur.fetchone()
            if within_window:
                cur.execute(
                    sql.SQL(
                        "insert into {} (alert_key, kind, subject, outcome) values (%s, %s, %s, %s)"
                    ).format(table),
                    (key, kind, subject, SUPPRESSED),
                )
                return None
            cur.execute(
                sql.SQL(
                    "select count(*) from {} where alert_key = %s and outcome = %s"
                    " and raised_at > coalesce(%s, '-infinity'::timestamptz)"
                ).format(table),
                (key, SUPPRESSED, last_sent),
            )
            suppressed = cur.fetchone()[0]
            cur.execute(
                sql.SQL(
                    "insert into {} (alert_key, kind, subject, outcome, suppressed_before)"
                    " values (%s, %s, %s, %s, %s) returning alert_id"
                ).format(table),
                (key, kind, subject, _SENDING, suppressed),
            )
            return cur.fetchone()[0], suppressed, last_sent

    def _insert(self, key: str, kind: str, subject: str, outcome: str) -> None:
        with self._target.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "insert into {} (alert_key, kind, subject, outcome) values (%s, %s, %s, %s)"
                ).format(sql.Identifier(self._schema, "alerts")),
                (key, kind, subject, outcome),
            )

    def _deliver(
        self, channel: Channel, kind: str, subject: str, body: str
    ) -> tuple[Channel, bool]:
        """One channel; a failure is one log line naming the channel (never its URL)."""
        import apprise

        notifier = apprise.Apprise()
        notifier.add(channel.url)
        notify_type = (
            apprise.NotifyType.FAILURE if kind == LOADER_RUN else apprise.NotifyType.WARNING
        )
        with _apprise_warnings() as warnings:
            try:
                # The subject leads the body too: a Slack-style {"text": ...} payload has no title.
                ok = bool(
                    notifier.notify(
                        body=f"{subject}\n\n{body}", title=subject, notify_type=notify_type
                    )
                )
            except Exception as exc:  # a plugin's bug must not fail the run either
                warnings.append(describe(exc))
                ok = False
        if not ok:
            reason = warnings[-1] if warnings else "the channel refused it"
            self._reporter.event(
                "alert_channel_failed",
                f"alert channel {channel.label} failed: {redact(reason)}",
                channel=channel.label,
                kind=kind,
            )
        return channel, ok


@contextmanager
def _apprise_warnings() -> Iterator[list[str]]:
    """Apprise's warnings during one delivery, kept (for our one log line) instead of
    printed through the root logger, where they could repeat a URL."""
    logger = logging.getLogger("apprise")
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(" ".join(record.getMessage().split()))

    handler = _Keep(logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
