"""``--sandbox``: the built-in sandbox as a tenant, resolved to ordinary source settings.

The sandbox runs as its own process (``python -m ingest.sandbox serve``), exactly like a
remote tenant: the loader learns its URL from the first line it prints and its credentials
from its ``/__sandbox__/config`` endpoint, and never imports it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import requests

from ingest.config import Given
from ingest.errors import PeoplestackError

# The sandbox answers Learning calls unthrottled so the demo's 6,000 learners take seconds,
# not the ~100 minutes SAP's throttle would impose; a configured interval still wins.
LEARNING_INTERVAL_SECONDS = 0.0
# The demo's simulated days pass minutes apart, too fast for a sweep timed by the clock:
# every learner is read on each of them (a configured value still wins).
LEARNING_FULL_SWEEP_DAYS = 0.0
STOP_WAIT_SECONDS = 10


class SandboxError(PeoplestackError):
    """The built-in sandbox could not be started."""


@contextlib.contextmanager
def sandbox_tenant(seed: int, scale: str, day: int) -> Iterator[Given]:
    """A sandbox process for the duration of the block, and the settings to reach it."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "ingest.sandbox", "serve", "--port", "0"),
            *("--seed", str(seed), "--scale", scale, "--day", str(day)),
            *("--learning-min-interval-seconds", str(LEARNING_INTERVAL_SECONDS)),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = _announced_url(process)
        yield Given(
            sources=_source_settings(url),
            run_options={
                "learning_min_interval_seconds": LEARNING_INTERVAL_SECONDS,
                "learning_full_sweep_days": LEARNING_FULL_SWEEP_DAYS,
            },
        )
    finally:
        _stop(process)


def _announced_url(process: subprocess.Popen[str]) -> str:
    """The URL from the sandbox's first line: ``sandbox serving ... at http://host:port``."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if " at http" not in line:
        process.wait(timeout=STOP_WAIT_SECONDS)
        raise SandboxError(
            f"the built-in sandbox did not start (exit code {process.returncode}); "
            "its error is printed above"
        )
    return line.rsplit(" at ", 1)[1]


def _source_settings(url: str) -> dict[str, dict[str, str]]:
    try:
        response = requests.get(f"{url}/__sandbox__/config", timeout=30)
        response.raise_for_status()
        return dict(response.json())
    except (requests.RequestException, ValueError) as exc:
        raise SandboxError(
            f"the built-in sandbox at {url} did not give its settings: {exc}"
        ) from None


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
