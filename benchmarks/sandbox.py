"""The sandbox tenant as its own process, started and driven only through its command line
and its ``/__sandbox__/`` endpoints, as the loader sees a remote tenant."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from benchmarks.processes import PYTHON, BenchError
from benchmarks.settings import REPO_ROOT

STOP_WAIT_SECONDS = 15


class SandboxProcess:
    """``python -m ingest.sandbox serve --port 0`` at one scale, unthrottled."""

    def __init__(
        self, scale: int, seed: int, log: Path, elective_completions: int | None = None
    ) -> None:
        self.scale = scale
        self.seed = seed
        self.log = log
        self.elective_completions = elective_completions
        self.url = ""
        self.startup_seconds = 0.0
        self._process: subprocess.Popen[str] | None = None
        self._log_file: Any = None

    def start(self) -> SandboxProcess:
        """Start it and wait until it serves; ``startup_seconds`` is how long that took."""
        args = [
            *(PYTHON, "-m", "ingest.sandbox", "serve", "--port", "0"),
            *("--seed", str(self.seed), "--scale", str(self.scale)),
            *("--learning-min-interval-seconds", "0"),
        ]
        if self.elective_completions is not None:
            args += ["--elective-completions", str(self.elective_completions)]
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("w")
        started = time.perf_counter()
        self._process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()  # printed once the company is built
        if " at http" not in line:
            self.stop()
            raise BenchError(f"the sandbox did not start; see {self.log}")
        self.url = line.rsplit(" at ", 1)[1]
        self.config()
        self.startup_seconds = time.perf_counter() - started
        return self

    def config(self) -> dict[str, dict[str, str]]:
        """The loader's settings for this tenant, one section per source."""
        return dict(self._call("GET", "config"))

    def state(self) -> dict[str, Any]:
        return dict(self._call("GET", "state"))

    def set_day(self, day: int) -> dict[str, Any]:
        return dict(self._call("POST", "day", {"day": day}))

    def date_of(self, day: int) -> str:
        """The simulated day's ISO date (dbt's ``as_of_date``)."""
        done = subprocess.run(
            [PYTHON, "-m", "ingest.sandbox", "date", "--day", str(day)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def loader_env(self, sources: tuple[str, ...] | None = None) -> dict[str, str]:
        """``SOURCES__*`` settings a user would export for this tenant (all its sources, or
        ``sources``), and Learning unthrottled as the sandbox is."""
        env = {"INGEST__LEARNING_MIN_INTERVAL_SECONDS": "0"}
        for source, values in self.config().items():
            if sources is not None and source not in sources:
                continue
            for key, value in values.items():
                env[f"SOURCES__{source.upper()}__{key.upper()}"] = str(value)
        return env

    def _call(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        # Moving the day replays the company's events: allow a big company its time.
        response = requests.request(
            method, f"{self.url}/__sandbox__/{action}", json=body, timeout=600
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
