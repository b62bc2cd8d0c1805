"""Settings, resolved once at the edge through dlt's providers (.dlt/*.toml, environment)."""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import dlt

from ingest.errors import ConfigurationError

# A prefix becomes part of SQL identifiers (and dbt schema names): plain lowercase words
# only, short enough that the longest schema made from it (dlt's
# ``<prefix>_raw_successfactors_staging``) fits Postgres' 63-byte identifiers.
SCHEMA_PREFIX_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
SCHEMA_PREFIX_MAX_LENGTH = 63 - len("_raw_successfactors_staging")
# Plain http is for the sandbox on this machine only: anywhere else it carries secrets
# in clear.
LOCAL_HOSTS = {"localhost"}


@dataclass(frozen=True)
class RunOptions:
    """How a run behaves; defaults suit a daily job."""

    overlap_minutes: float = 10.0
    reject_threshold: float = 0.05
    # Rejects a resource may always have, whatever the rate: one bad record among five is
    # not a broken entity (see quality.verdict).
    reject_allowance: int = 1
    schema_prefix: str = ""
    lock_wait_seconds: float = 10.0
    quota_stop_ratio: float = 0.9
    request_max_attempts: int = 5
    request_backoff_factor: float = 1.0
    # Seconds an API may take to connect or to send the next bytes before the try is retried.
    request_timeout_seconds: float = 60.0
    learning_concurrency: int = 4
    learning_min_interval_seconds: float = 0.5
    # Learning is read per learner (two requests each): a run reads those whose Employee
    # Central record changed or who are new, those with an assignment due within
    # learning_due_soon_days, and a rotating sweep so that every learner is read at least
    # every learning_full_sweep_days (0: every learner every run); at most
    # learning_request_budget requests per run (0: no limit). See learning.plan_reads.
    learning_request_budget: int = 12_000
    learning_full_sweep_days: float = 7.0
    learning_due_soon_days: float = 14.0
    page_size: int = 0  # records asked per page; 0 = each API's maximum (2,000 and 1,000)
    # No run goes on longer than this: a stuck API must not hold the run lock for days.
    run_deadline_minutes: float = 360.0
    # Not a setting: when the run began (time.monotonic), which the deadline counts from.
    started_at: float = field(default_factory=time.monotonic, init=False, compare=False)

    def schema(self, name: str) -> str:
        """A warehouse schema name with the optional isolation prefix."""
        return f"{self.schema_prefix}_{name}" if self.schema_prefix else name

    @property
    def deadline(self) -> float:
        """The ``time.monotonic()`` at which the run must stop."""
        return self.started_at + self.run_deadline_minutes * 60


@dataclass(frozen=True)
class Given:
    """Settings handed over in code rather than configured: the built-in sandbox's tenant.
    Source settings given here win over configuration; run options only replace defaults."""

    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    run_options: Mapping[str, Any] = field(default_factory=dict)


# Markers for a settings field: a secret (read from secrets, masked from every output) and
# a URL (checked: https, or http to this machine only).
SECRET: dict[str, Any] = {"secret": True}
URL: dict[str, Any] = {"url": True}


def _is_secret(spec: Field[Any]) -> bool:
    return bool(spec.metadata.get("secret"))


def _lookup(key: str, secret: bool) -> Any:
    value = dlt.secrets.get(key) if secret else None
    if value is None:
        value = dlt.config.get(key)
    return value


def setting_location(source: str, name: str, secret: bool) -> str:
    """Where the user sets one setting of a source, in words."""
    file = ".dlt/secrets.toml" if secret else ".dlt/config.toml"
    return (
        f"set it in {file} under [sources.{source}] or as SOURCES__{source.upper()}__{name.upper()}"
    )


def is_configured(source: str, cls: type, given: Mapping[str, Any] | None = None) -> bool:
    """Whether any setting of ``source`` is present (``given`` or in dlt's providers)."""
    given = given or {}
    return any(
        given.get(spec.name) is not None
        or _lookup(f"sources.{source}.{spec.name}", _is_secret(spec)) is not None
        for spec in fields(cls)
    )


def load_source_settings(source: str, cls: type, given: Mapping[str, Any] | None = None) -> Any:
    """All settings of one source as ``cls``: ``given`` values first (the sandbox's), then
    dlt's providers; a missing one is a ConfigurationError naming where to set it."""
    given = given or {}
    values: dict[str, Any] = {}
    for spec in fields(cls):
        value = given.get(spec.name)
        if value is None:
            value = _lookup(f"sources.{source}.{spec.name}", _is_secret(spec))
        if value is None or value == "":
            if spec.default is not MISSING:  # optional: keep its default
                continue
            raise ConfigurationError(
                f"missing setting sources.{source}.{spec.name}: "
                + setting_location(source, spec.name, _is_secret(spec))
            )
        values[spec.name] = str(value)
        if spec.metadata.get("url"):
            _check_url(f"sources.{source}.{spec.name}", values[spec.name])
    settings = cls(**values)
    validate = getattr(settings, "validate", None)
    if validate is not None:  # rules across fields (one of two credentials, ...)
        validate()
    return settings


def load_run_options(defaults: Mapping[str, Any] | None = None) -> RunOptions:
    """Run options from ``[ingest]`` in .dlt/config.toml or INGEST__* variables; ``defaults``
    replace the built-in defaults (the sandbox's) and yield to anything configured."""
    values: dict[str, Any] = {}
    for spec in fields(RunOptions):
        value = dlt.config.get(f"ingest.{spec.name}") if spec.init else None
        if value is None and spec.init:
            value = (defaults or {}).get(spec.name)
        if value is not None:
            try:
                values[spec.name] = type(spec.default)(value)
            except ValueError:
                raise ConfigurationError(
                    f"ingest.{spec.name} must be a {type(spec.default).__name__}, not {value!r}"
                ) from None
            _check_bounds(spec.name, values[spec.name])
    if "schema_prefix" in values:
        _check_schema_prefix("ingest.schema_prefix", values["schema_prefix"])
    else:
        prefix = os.environ.get("PEOPLESTACK_SCHEMA_PREFIX", "").strip()
        _check_schema_prefix("PEOPLESTACK_SCHEMA_PREFIX", prefix)
        values["schema_prefix"] = prefix
    return RunOptions(**values)


# The least each numeric run option may be, and whether that least is itself allowed.
_LOWER_BOUNDS: dict[str, tuple[float, bool]] = {
    "overlap_minutes": (0, True),
    "reject_threshold": (0, True),
    "reject_allowance": (0, True),
    "lock_wait_seconds": (0, True),
    "quota_stop_ratio": (0, False),
    "request_max_attempts": (1, True),
    "request_backoff_factor": (0, True),
    "request_timeout_seconds": (0, False),
    "learning_concurrency": (1, True),
    "learning_min_interval_seconds": (0, True),
    "learning_request_budget": (0, True),  # 0: no limit
    "learning_full_sweep_days": (0, True),  # 0: every learner every run
    "learning_due_soon_days": (0, True),
    "page_size": (1, True),  # when set; unset means each API's maximum
    "run_deadline_minutes": (0, False),
}
_AT_MOST_ONE = {"reject_threshold", "quota_stop_ratio"}


def _check_bounds(name: str, value: Any) -> None:
    if name not in _LOWER_BOUNDS:
        return
    least, inclusive = _LOWER_BOUNDS[name]
    if not (value >= least if inclusive else value > least) or value != value:  # NaN
        relation = "at least" if inclusive else "more than"
        raise ConfigurationError(f"ingest.{name} must be {relation} {least:g}, not {value:g}")
    if name in _AT_MOST_ONE and value > 1:
        raise ConfigurationError(f"ingest.{name} is a share and must be at most 1, not {value:g}")


def _check_schema_prefix(name: str, prefix: str) -> None:
    """The prefix goes into SQL identifiers and dbt schema names: plain words only."""
    if not prefix:
        return
    if not SCHEMA_PREFIX_PATTERN.fullmatch(prefix) or prefix.startswith("pg_"):
        raise ConfigurationError(
            f"{name} must be lowercase letters, digits and underscores, starting with a letter "
            f"or underscore (and not pg_), not {prefix!r}"
        )
    if len(prefix) > SCHEMA_PREFIX_MAX_LENGTH:
        raise ConfigurationError(
            f"{name} must be at most {SCHEMA_PREFIX_MAX_LENGTH} characters (schema names built "
            f"from it must fit Postgres' 63), not {len(prefix)}"
        )


def _check_url(name: str, url: str) -> None:
    """An https URL with a host; http only for this machine (the sandbox)."""
    parts = urlsplit(url.strip())
    try:
        host, _port = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(
            f"{name} must be a URL with a scheme and a host (https://...), not {url!r}"
        )
    if parts.scheme == "http" and not _is_local(host):
        raise ConfigurationError(
            f"{name} must use https:// (http:// only for localhost), not {url!r}: "
            "credentials would cross the network in clear"
        )


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_values(settings: list[Any], extra: list[str] | None = None) -> list[str]:
    """Every secret in the settings, to be masked from anything the loader prints."""
    secrets = [s for s in extra or [] if s]
    for item in settings:
        for spec in fields(item):
            value = getattr(item, spec.name, None)
            if _is_secret(spec) and value:
                secrets.append(value)
                # A PEM key is also masked line by line, in case a fragment is printed.
                secrets.extend(line for line in value.splitlines() if len(line) > 16)
        derived = getattr(item, "derived_secrets", None)
        if derived is not None:  # forms the source makes of its secrets (a Basic pair)
            secrets.extend(derived())
    return sorted(set(secrets), key=len, reverse=True)
