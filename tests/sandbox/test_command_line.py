"""``python -m ingest.sandbox``: the sandbox's own command line, run as a user runs it."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import requests

from ingest.sandbox.clock import date_iso, day_start
from tests.support import REPO_ROOT

STARTUP_SECONDS = 60


def _sandbox_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingest.sandbox", *args]


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, or a failure naming what it said instead."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        process.kill()
        raise AssertionError(f"no line within {timeout} s; stderr: {process.communicate()[1]}")
    return process.stdout.readline()


def test_serve_on_port_zero_prints_the_real_url_answers_http_and_stops_on_sigterm():
    process = subprocess.Popen(
        _sandbox_command("serve", "--port", "0", "--seed", "7", "--scale", "small", "--day", "2"),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process, STARTUP_SECONDS)
        prefix = "sandbox serving seed=7 scale=small day=2 at http://127.0.0.1:"
        assert line.startswith(prefix), line
        url = line.removeprefix("sandbox serving seed=7 scale=small day=2 at ").strip()
        assert urlsplit(url).port not in (None, 0)

        answer = requests.get(f"{url}/__sandbox__/config", timeout=10)
        assert answer.status_code == 200
        assert answer.json()["salesforce"]["instance_url"] == url
        assert requests.get(f"{url}/__sandbox__/state", timeout=10).json()["day"] == 2

        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_serve_takes_the_learning_throttle_from_the_command_line():
    process = subprocess.Popen(
        _sandbox_command(
            "serve", "--port", "0", "--scale", "small", "--learning-min-interval-seconds", "0"
        ),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _first_line(process, STARTUP_SECONDS).rsplit(" at ", 1)[1].strip()
        state = requests.get(f"{url}/__sandbox__/state", timeout=10).json()
        assert state["learning_min_interval_seconds"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_date_prints_the_iso_date_of_a_simulated_day():
    for day in (0, 3, 400):
        result = subprocess.run(
            _sandbox_command("date", "--day", str(day)),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{date_iso(day_start(day))}\n"
