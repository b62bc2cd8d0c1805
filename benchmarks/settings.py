"""The benchmark's volumes and places, from ``BENCH_*`` variables (defaults: issue 12's)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# The sandbox makes 1.2 EC employees per Salesforce user (ingest/sandbox/company.py).
EMPLOYEES_PER_SALESFORCE_USER = 1.2
# Completions per learner without extra electives (certification chains, ad-hoc
# assignments), measured on the sandbox company at day 0.
BASE_COMPLETIONS_PER_LEARNER = 20.5


@dataclass(frozen=True)
class BenchSettings:
    """What one ``make bench`` measures; every figure scales from these."""

    salesforce_users: int = 200_000  # N: Salesforce users, and the EC scale
    memory_factor: int = 5  # peak RSS at N and at this many times N
    completions: int = 2_000_000  # M: learning completions in the Learning data set
    # Learners of the Learning data set (the demo's medium company); its daily run gives
    # Learning's requests per day at this size.
    learning_employees: int = 6_000
    # Further company sizes whose daily Learning requests are measured (a first run, then
    # the daily run, each within the default request budget).
    learning_day_employees: tuple[int, ...] = (50_000,)
    seed: int = 42
    work_dir: Path = REPO_ROOT / ".benchmarks"
    out_dir: Path = REPO_ROOT / "benchmarks"

    @property
    def elective_completions(self) -> int:
        """Past electives per learner so that the learners hold about ``completions``."""
        per_learner = self.completions / self.learning_employees
        return max(0, round(per_learner - BASE_COMPLETIONS_PER_LEARNER))


def scale_for_employees(employees: int) -> int:
    """The sandbox scale (Salesforce users) whose company has about ``employees``."""
    return max(50, round(employees / EMPLOYEES_PER_SALESFORCE_USER))


def load_settings(env: Mapping[str, str] | None = None) -> BenchSettings:
    """``BENCH_SF_USERS``, ``BENCH_MEMORY_FACTOR``, ``BENCH_COMPLETIONS``,
    ``BENCH_LEARNING_EMPLOYEES``, ``BENCH_LEARNING_DAY_EMPLOYEES`` (comma-separated),
    ``BENCH_SEED``, ``BENCH_WORK_DIR``, ``BENCH_OUT_DIR``; unset ones keep their defaults."""
    env = os.environ if env is None else env
    defaults = BenchSettings()

    def number(name: str, default: int) -> int:
        text = env.get(name, "").replace("_", "").strip()
        if not text:
            return default
        value = int(text)
        if value < 1:
            raise ValueError(f"{name} must be a positive number, not {text}")
        return value

    return BenchSettings(
        salesforce_users=number("BENCH_SF_USERS", defaults.salesforce_users),
        memory_factor=number("BENCH_MEMORY_FACTOR", defaults.memory_factor),
        completions=number("BENCH_COMPLETIONS", defaults.completions),
        learning_employees=number("BENCH_LEARNING_EMPLOYEES", defaults.learning_employees),
        learning_day_employees=_numbers(
            env.get("BENCH_LEARNING_DAY_EMPLOYEES"), defaults.learning_day_employees
        ),
        seed=number("BENCH_SEED", defaults.seed),
        work_dir=Path(env.get("BENCH_WORK_DIR") or defaults.work_dir).resolve(),
        out_dir=Path(env.get("BENCH_OUT_DIR") or defaults.out_dir).resolve(),
    )


def _numbers(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list ("" for none); unset keeps ``default``."""
    if text is None:
        return default
    return tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
