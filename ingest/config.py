"""Settings, resolved once at the edge through dlt's providers (.dlt/*.toml, environment)."""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import dlt

from ingest.errors import ConfigurationError

SOURCE_NAMES = ("salesforce", "successfactors", "successfactors_learning")


@dataclass(frozen=True)
class SalesforceSettings:
    instance_url: str
    client_id: str
    client_secret: str = field(repr=False)
    api_version: str = "62.0"


@dataclass(frozen=True)
class SuccessFactorsSettings:
    api_url: str
    company_id: str
    client_id: str
    user_id: str
    # Exactly one of these: a PEM key to sign the SAML assertion here, or an assertion
    # issued by the company's identity provider.
    private_key: str | None = field(default=None, repr=False)
    assertion: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LearningSettings:
    api_url: str
    client_id: str
    client_secret: str = field(repr=False)
    user_id: str
    company_id: str


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
    learning_concurrency: int = 4
    learning_min_interval_seconds: float = 0.5
    page_size: int = 0  # records asked per page; 0 = each API's maximum (2,000 and 1,000)

    def schema(self, name: str) -> str:
        """A warehouse schema name with the optional isolation prefix."""
        return f"{self.schema_prefix}_{name}" if self.schema_prefix else name


SourceSettings = SalesforceSettings | SuccessFactorsSettings | LearningSettings
_SETTINGS_CLASSES: dict[str, type] = {
    "salesforce": SalesforceSettings,
    "successfactors": SuccessFactorsSettings,
    "successfactors_learning": LearningSettings,
}
_SECRET_FIELDS = {"client_secret", "private_key", "assertion"}


def _lookup(key: str) -> Any:
    value = dlt.secrets.get(key) if key.rsplit(".", 1)[-1] in _SECRET_FIELDS else None
    if value is None:
        value = dlt.config.get(key)
    return value


def _where(source: str, name: str) -> str:
    file = ".dlt/secrets.toml" if name in _SECRET_FIELDS else ".dlt/config.toml"
    return (
        f"set it in {file} under [sources.{source}] or as SOURCES__{source.upper()}__{name.upper()}"
    )


def is_configured(source: str) -> bool:
    """Whether any setting of ``source`` is present."""
    cls = _SETTINGS_CLASSES[source]
    return any(_lookup(f"sources.{source}.{f.name}") is not None for f in fields(cls))


def load_source_settings(source: str) -> SourceSettings:
    """All settings of one source; a missing one is a ConfigurationError naming where to set it."""
    if source not in _SETTINGS_CLASSES:
        raise ConfigurationError(
            f"unknown source {source!r}; choose from {', '.join(SOURCE_NAMES)}"
        )
    cls = _SETTINGS_CLASSES[source]
    values: dict[str, Any] = {}
    for spec in fields(cls):
        value = _lookup(f"sources.{source}.{spec.name}")
        if value is None or value == "":
            if spec.default is not MISSING:  # optional: keep its default
                continue
            raise ConfigurationError(
                f"missing setting sources.{source}.{spec.name}: {_where(source, spec.name)}"
            )
        values[spec.name] = str(value)
    settings = cls(**values)
    if isinstance(settings, SuccessFactorsSettings) and not (
        settings.private_key or settings.assertion
    ):
        raise ConfigurationError(
            "missing setting sources.successfactors.private_key (or .assertion): "
            + _where("successfactors", "private_key")
        )
    return settings


def load_run_options() -> RunOptions:
    """Run options from ``[ingest]`` in .dlt/config.toml or INGEST__* variables."""
    values: dict[str, Any] = {}
    for spec in fields(RunOptions):
        value = dlt.config.get(f"ingest.{spec.name}")
        if value is not None:
            try:
                values[spec.name] = type(spec.default)(value)
            except ValueError:
                raise ConfigurationError(
                    f"ingest.{spec.name} must be a {type(spec.default).__name__}, not {value!r}"
                ) from None
    values.setdefault("schema_prefix", os.environ.get("PEOPLESTACK_SCHEMA_PREFIX", "").strip())
    return RunOptions(**values)


def secret_values(settings: list[SourceSettings], extra: list[str] | None = None) -> list[str]:
    """Every secret in the settings, to be masked from anything the loader prints."""
    secrets = [s for s in extra or [] if s]
    for item in settings:
        for name in _SECRET_FIELDS:
            value = getattr(item, name, None)
            if value:
                secrets.append(value)
                # A PEM key is also masked line by line, in case a fragment is printed.
                secrets.extend(line for line in value.splitlines() if len(line) > 16)
    return sorted(set(secrets), key=len, reverse=True)
