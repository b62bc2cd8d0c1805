"""What a run tells the person (or machine) watching it, with every secret masked."""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from ingest.accounting import ResourceCounters
from ingest.redaction import redact


class Reporter:
    """Progress per resource: a live line on a terminal, plain lines or JSON otherwise."""

    def __init__(self, log_format: str, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        if log_format == "auto":
            log_format = "tty" if self._stream.isatty() else "plain"
        self._format = log_format
        self._lock = threading.Lock()
        self._last_plain: dict[str, float] = {}

    def event(self, event: str, message: str, **fields: Any) -> None:
        """One thing that happened (run started, resource done, error, ...)."""
        with self._lock:
            if self._format == "json":
                record = {"ts": datetime.now(UTC).isoformat(), "event": event, **fields}
                record["message"] = message
                line = json.dumps(record, default=str)
            else:
                line = message
                if self._format == "tty":
                    line = "\r\x1b[K" + line
            self._stream.write(redact(line) + "\n")
            self._stream.flush()

    def progress(self, counters: ResourceCounters) -> None:
        """Pages, rows and rate of a resource in flight (throttled on plain output)."""
        name = f"{counters.source}.{counters.resource}"
        elapsed = max((datetime.now(UTC) - counters.started_at).total_seconds(), 1e-6)
        rate = counters.extracted / elapsed
        text = (
            f"{name}: {counters.pages} pages, {counters.extracted} rows "
            f"({counters.rejected} rejected), {rate:,.0f} rows/s"
        )
        with self._lock:
            if self._format == "tty":
                self._stream.write("\r\x1b[K" + text)
                self._stream.flush()
                return
            now = time.monotonic()
            if now - self._last_plain.get(name, 0.0) < 5.0:
                return
            self._last_plain[name] = now
        if self._format == "json":
            self.event(
                "progress",
                text,
                resource=name,
                pages=counters.pages,
                rows=counters.extracted,
                rejected=counters.rejected,
                rows_per_second=round(rate, 1),
            )
        else:
            self.event("progress", text)
