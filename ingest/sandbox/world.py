"""State shared by the three API handlers: the company, the day, tokens, faults, limits."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.sandbox.auth import TokenStore
from ingest.sandbox.company import Company, stable_hash
from ingest.sandbox.coursework import Coursework
from ingest.sandbox.faults import API_NAMES, FaultInjector, Faults
from ingest.sandbox.saml import generate_signing_credentials
from ingest.sandbox.shape import TenantShape

DEFAULT_SALESFORCE_DAILY_API_LIMIT = 15_000
# SAP throttles some Learning services to about one call per 500 ms per client.
DEFAULT_LEARNING_MIN_INTERVAL_SECONDS = 0.5
# A Bulk API 2.0 job answers InProgress to this many polls before its final state.
DEFAULT_BULK_POLLS_IN_PROGRESS = 2


@dataclass
class Settings:
    salesforce_daily_api_limit: int = DEFAULT_SALESFORCE_DAILY_API_LIMIT
    learning_min_interval_seconds: float = DEFAULT_LEARNING_MIN_INTERVAL_SECONDS
    # How this tenant differs from the demo company (empty entities, missing fields, ...).
    shape: TenantShape = field(default_factory=TenantShape)
    # Salesforce User fields this tenant lacks, or has but may not write (field security).
    absent_user_fields: frozenset[str] = frozenset()
    read_only_user_fields: frozenset[str] = frozenset()
    bulk_polls_in_progress: int = DEFAULT_BULK_POLLS_IN_PROGRESS
    # Salesforce user Id -> error code: writes to that user fail so until cleared.
    write_failures: Mapping[str, str] = field(default_factory=dict)
    # The next n Bulk API jobs to be processed end Failed.
    failing_bulk_jobs: int = 0


@dataclass(frozen=True)
class WrittenUser:
    """What clients wrote onto one Salesforce user (field -> value) and when, last."""

    values: Mapping[str, Any]
    moment: int


class UserWrites:
    """Values written onto Salesforce users, kept across days as a real org keeps them."""

    def __init__(self) -> None:
        self.users: dict[int, WrittenUser] = {}
        self.log: list[dict[str, Any]] = []
        self.last_moment = 0
        self._lock = threading.Lock()

    def commit(
        self, changes: Mapping[int, Mapping[str, Any]], log: list[dict[str, Any]], after: int
    ) -> int:
        """Apply one write's changes at one moment later than ``after`` and than every
        earlier write (epoch seconds), and log its records; returns the moment."""
        with self._lock:
            moment = max(after, self.last_moment) + 1
            if changes:
                self.last_moment = moment
            for index, values in changes.items():
                earlier = self.users.get(index)
                merged = {**(earlier.values if earlier else {}), **values}
                # Replaced whole, so a reader never sees half a write.
                self.users[index] = WrittenUser(merged, moment)
            self.log.extend(log)
            return moment

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()


@dataclass(frozen=True)
class Credentials:
    """What the tenants know about their one integration client each."""

    salesforce_client_id: str
    salesforce_client_secret: str
    salesforce_org_id_seed: int
    successfactors_company_id: str
    successfactors_client_id: str
    successfactors_user_id: str
    successfactors_private_key_pem: str
    successfactors_certificate_pem: str
    learning_client_id: str
    learning_client_secret: str
    learning_user_id: str
    learning_company_id: str


def make_credentials(seed: int) -> Credentials:
    """Ids and secrets follow from the seed; the signing key is fresh for each sandbox."""
    key_pem, cert_pem = generate_signing_credentials("peoplestack-sandbox")
    token = f"{stable_hash(seed, 'credentials'):016x}"
    company_id = f"LARKSPUR{seed % 1000:03d}T1"
    return Credentials(
        salesforce_client_id=f"3MVG9sandbox{token}",
        salesforce_client_secret=f"{stable_hash(seed, 'sf-secret'):016X}{token.upper()}",
        salesforce_org_id_seed=seed,
        successfactors_company_id=company_id,
        successfactors_client_id=f"{stable_hash(seed, 'ec-api-key'):016x}{token}"[:32],
        successfactors_user_id="sfapi",
        successfactors_private_key_pem=key_pem,
        successfactors_certificate_pem=cert_pem,
        # SAP's Learning token server knows the client by the company id.
        learning_client_id=company_id,
        learning_client_secret=f"{stable_hash(seed, 'lrn-secret'):016x}{token}",
        learning_user_id="lmsapi",
        learning_company_id=company_id,
    )


@dataclass
class World:
    seed: int
    company: Company
    coursework: Coursework
    credentials: Credentials
    settings: Settings = field(default_factory=Settings)
    tokens: TokenStore = field(default_factory=TokenStore)
    faults: dict[str, FaultInjector] = field(
        default_factory=lambda: {api: FaultInjector(api) for api in API_NAMES}
    )
    user_writes: UserWrites = field(default_factory=UserWrites)
    _day: int = 0
    salesforce_api_usage: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls, seed: int, scale: str | int, day: int, elective_completions: int | None = None
    ) -> World:
        company = Company(seed, scale)
        coursework = Coursework(company, elective_completions)
        world = cls(seed, company, coursework, make_credentials(seed))
        world.set_day(day)
        return world

    @property
    def day(self) -> int:
        return self._day

    def set_day(self, day: int) -> None:
        if day < 0:
            raise ValueError("day must be >= 0")
        self.company.state(day)  # replay outside the lock; cached for the handlers
        with self._lock:
            if day != self._day:
                self.salesforce_api_usage = 0  # the API quota is daily
            self._day = day

    def set_faults(self, faults: Faults | dict[str, Faults] | None) -> None:
        """One Faults for the APIs it names, or a mapping api -> Faults; None clears all."""
        if faults is None or isinstance(faults, Faults):
            for injector in self.faults.values():
                injector.configure(faults)
            return
        unknown = set(faults) - set(API_NAMES)
        if unknown:
            raise ValueError(f"unknown APIs {sorted(unknown)}")
        for api, injector in self.faults.items():
            chosen = faults.get(api)
            injector.configure(None if chosen is None else _only_for(chosen, api))

    def source_config(self, base_url: str) -> dict[str, dict[str, str]]:
        """Loader configuration in dlt's shape: one section per source."""
        c = self.credentials
        return {
            "salesforce": {
                "instance_url": base_url,
                "client_id": c.salesforce_client_id,
                "client_secret": c.salesforce_client_secret,
            },
            "successfactors": {
                "api_url": base_url,
                "company_id": c.successfactors_company_id,
                "client_id": c.successfactors_client_id,
                "user_id": c.successfactors_user_id,
                "private_key": c.successfactors_private_key_pem,
            },
            "successfactors_learning": {
                "api_url": base_url,
                "client_id": c.learning_client_id,
                "client_secret": c.learning_client_secret,
                "user_id": c.learning_user_id,
                "company_id": c.learning_company_id,
            },
        }

    def use_salesforce_api(self) -> tuple[bool, int, int]:
        """Count one Salesforce API call; (allowed, used, limit). Refused calls don't count."""
        with self._lock:
            limit = self.settings.salesforce_daily_api_limit
            if self.salesforce_api_usage >= limit:
                return False, self.salesforce_api_usage, limit
            self.salesforce_api_usage += 1
            return True, self.salesforce_api_usage, limit


def _only_for(faults: Faults, api: str) -> Faults:
    from dataclasses import replace

    return replace(faults, apis=(api,))
