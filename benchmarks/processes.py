"""Child processes timed on the wall clock, with their own peak resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable


@dataclass(frozen=True)
class Finished:
    """How a child process ended, how long it took and the most memory it held."""

    args: tuple[str, ...]
    exit_code: int
    seconds: float
    peak_rss_mb: float
    log: Path

    def check(self) -> Finished:
        """Raise BenchError with the end of its log unless it succeeded."""
        if self.exit_code != 0:
            tail = self.log.read_text(errors="replace").splitlines()[-25:]
            raise BenchError(
                f"{' '.join(self.args[:6])} ... exited {self.exit_code} after "
                f"{self.seconds:.1f} s; log {self.log}:\n" + "\n".join(tail)
            )
        return self


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def run_measured(
    args: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> Finished:
    """Run ``args`` to its end; its output goes to ``log``. The peak RSS is the child's own
    (``wait4`` gives each child's rusage, unlike ``RUSAGE_CHILDREN``'s running maximum)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(args), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in kilobytes.
    return Finished(tuple(args), process.returncode, seconds, usage.ru_maxrss / 1024, log)
