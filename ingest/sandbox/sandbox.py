"""The public face of the sandbox: start it in a thread, move its day, break it on purpose."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from ingest.sandbox.faults import Faults
from ingest.sandbox.salesforce_writes import apply_write_settings
from ingest.sandbox.server import SandboxApp, SandboxServer
from ingest.sandbox.shape import TenantShape
from ingest.sandbox.world import World


class Sandbox:
    """A local stand-in for Salesforce, SuccessFactors EC and SuccessFactors Learning."""

    def __init__(
        self,
        seed: int = 42,
        scale: str | int = "small",
        day: int = 0,
        port: int = 0,
        faults: Faults | dict[str, Faults] | None = None,
        *,
        host: str = "127.0.0.1",
        salesforce_daily_api_limit: int | None = None,
        learning_min_interval_seconds: float | None = None,
        shape: TenantShape | None = None,
        elective_completions: int | None = None,
    ) -> None:
        self.world = World.create(seed, scale, day, elective_completions)
        self.world.set_faults(faults)
        self.configure(
            salesforce_daily_api_limit=salesforce_daily_api_limit,
            learning_min_interval_seconds=learning_min_interval_seconds,
            shape=shape,
        )
        self.host, self.port = host, port
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> Sandbox:
        """Serve in a background thread (port 0 picks a free port)."""
        if self._server is not None:
            return self
        self._server = SandboxServer((self.host, self.port), SandboxApp(self.world))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- the simulated company

    @property
    def day(self) -> int:
        return self.world.day

    def set_day(self, day: int) -> None:
        self.world.set_day(day)

    def advance_day(self, n: int = 1) -> int:
        self.world.set_day(self.world.day + n)
        return self.world.day

    def set_faults(self, faults: Faults | dict[str, Faults] | None) -> None:
        """Replace all faults: one Faults for the APIs it names, or a mapping api -> Faults."""
        self.world.set_faults(faults)

    def pending_faults(self) -> dict[str, dict[str, int]]:
        """One-shot faults not served yet, per API (empty once every one has happened)."""
        pending = {api: injector.pending() for api, injector in self.world.faults.items()}
        return {api: left for api, left in pending.items() if left}

    def configure(
        self,
        *,
        salesforce_daily_api_limit: int | None = None,
        learning_min_interval_seconds: float | None = None,
        reset_api_usage: bool = False,
        shape: TenantShape | None = None,
        absent_user_fields: Iterable[str] | None = None,
        read_only_user_fields: Iterable[str] | None = None,
        bulk_polls_in_progress: int | None = None,
        write_failures: Mapping[str, str] | None = None,
        failing_bulk_jobs: int | None = None,
    ) -> None:
        """Change the Salesforce daily API quota, the Learning throttle interval, the
        tenant's shape (empty entities, fields never sent, another time zone) or how it
        takes Salesforce writes: User fields it lacks or may not write, polls a Bulk API job
        stays InProgress, user Id -> error code for records that fail (``{}`` clears), and
        how many next bulk jobs fail whole. None leaves a setting as it is."""
        settings = self.world.settings
        writes = {
            "absent_user_fields": absent_user_fields,
            "read_only_user_fields": read_only_user_fields,
            "bulk_polls_in_progress": bulk_polls_in_progress,
            "write_failures": write_failures,
            "failing_bulk_jobs": failing_bulk_jobs,
        }
        apply_write_settings(settings, {k: v for k, v in writes.items() if v is not None})
        if shape is not None:
            settings.shape = shape
        if salesforce_daily_api_limit is not None:
            settings.salesforce_daily_api_limit = salesforce_daily_api_limit
        if learning_min_interval_seconds is not None:
            settings.learning_min_interval_seconds = learning_min_interval_seconds
        if reset_api_usage:
            self.world.salesforce_api_usage = 0

    @property
    def learning_calls_throttled(self) -> int:
        """Learning calls refused with 429 because they came faster than the throttle allows."""
        return self._server.app.learning.throttled if self._server is not None else 0

    @property
    def salesforce_api_usage(self) -> int:
        return self.world.salesforce_api_usage

    @property
    def salesforce_writes(self) -> list[dict[str, Any]]:
        """Every record written to Salesforce, in arrival order: ``{"via": "bulk" |
        "collections", "id", "fields", "success"}`` (fields as understood, else as sent)."""
        return [dict(entry) for entry in self.world.user_writes.log]

    def clear_salesforce_writes(self) -> None:
        """Forget the write log (written values stay)."""
        self.world.user_writes.clear_log()

    def source_config(self) -> dict[str, Any]:
        """The loader's configuration for this sandbox, in dlt's config shape."""
        return self.world.source_config(self.base_url)


def serve_forever(
    port: int,
    seed: int,
    scale: str,
    day: int,
    learning_min_interval_seconds: float | None = None,
    elective_completions: int | None = None,
) -> None:
    """Serve until interrupted; used by ``python -m ingest.sandbox serve``."""
    sandbox = Sandbox(
        seed=seed,
        scale=scale,
        day=day,
        port=port,
        learning_min_interval_seconds=learning_min_interval_seconds,
        elective_completions=elective_completions,
    ).start()
    url = sandbox.base_url
    print(f"sandbox serving seed={seed} scale={scale} day={day} at {url}", flush=True)
    print(f"  loader config:   curl {url}/__sandbox__/config", flush=True)
    print(
        f"  advance one day: curl -X POST {url}/__sandbox__/day -d '{{\"advance\": 1}}'", flush=True
    )
    print(f"  state:           curl {url}/__sandbox__/state", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
