"""Fixtures for the sandbox contract tests: a running sandbox and thin API clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.sandbox import Sandbox
from tests.sandbox.clients import LearningClient, SalesforceClient, SuccessFactorsClient


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed=7, scale="small", learning_min_interval_seconds=0) as running:
        yield running


@pytest.fixture
def sf(sandbox: Sandbox) -> SalesforceClient:
    return SalesforceClient(sandbox)


@pytest.fixture
def ec(sandbox: Sandbox) -> SuccessFactorsClient:
    return SuccessFactorsClient(sandbox)


@pytest.fixture
def lrn(sandbox: Sandbox) -> LearningClient:
    return LearningClient(sandbox)
