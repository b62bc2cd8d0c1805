"""HTTP to the source APIs: dlt's retrying client, plus what the APIs need on top of it.

dlt's ``Client`` retries 429 (honouring ``Retry-After``), 5xx and connection errors with
exponential backoff; here it also gets jitter, so parallel workers do not retry in step.
On top: one token renewal and retry on 401, a retry of bodies that end mid-JSON, a hook to
watch quota headers, an optional minimum interval between calls (throttled services), and
errors that quote the API's own message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin

import requests
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import _make_retry
from dlt.sources.helpers.requests.session import Session
from tenacity import wait_random

from ingest.errors import SourceError
from ingest.sources.auth import TokenProvider, error_text

UNPARSEABLE_BODY_ATTEMPTS = 3
REQUEST_TIMEOUT_SECONDS = 60


class _JitteredClient(Client):
    """dlt's retrying client with random jitter added to every backoff."""

    def __init__(self, jitter_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._jitter_seconds = jitter_seconds
        self._count_lock = threading.Lock()
        self.requests_sent = 0

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._count_lock:  # every attempt counts against the API's quota
            self.requests_sent += 1

    def _make_session(self) -> Session:
        session = Session(**self._session_kwargs)  # type: ignore[arg-type]
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
        session.hooks["response"].append(self._count)
        retry = _make_retry(**self._retry_kwargs)
        retry = retry.copy(wait=retry.wait + wait_random(0, self._jitter_seconds))
        session.send = retry.wraps(session.send)  # type: ignore[method-assign]
        return session


def retrying_client(max_attempts: int, backoff_factor: float) -> _JitteredClient:
    """A per-thread-session HTTP client with bounded, jittered retries."""
    return _JitteredClient(
        jitter_seconds=max(backoff_factor, 0.05),
        request_timeout=REQUEST_TIMEOUT_SECONDS,
        raise_for_status=False,
        request_max_attempts=max_attempts,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=120,
    )


class ApiClient:
    """GETs JSON from one API with a bearer token; counts requests; fails loudly."""

    def __init__(
        self,
        name: str,
        base_url: Callable[[], str],
        tokens: TokenProvider,
        client: _JitteredClient,
        *,
        check_response: Callable[[requests.Response], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.name = name
        self._base_url = base_url
        self._tokens = tokens
        self._client = client
        self._check_response = check_response
        self._pacer = pacer

    @property
    def requests_made(self) -> int:
        return self._client.requests_sent

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One logical GET (retried as configured); the decoded JSON body."""
        self._tokens.token()  # fetch the token first: the base URL may come with it
        url = urljoin(self._base_url().rstrip("/") + "/", path_or_url)
        renewed = False
        unparseable = 0
        while True:
            token = self._tokens.token()
            response = self._send(
                url, params, {**(headers or {}), "Authorization": f"Bearer {token}"}
            )
            if response.status_code == 401 and not renewed:
                renewed = True  # a token may expire between pages: renew once, then give up
                self._tokens.renew(token)
                continue
            if self._check_response is not None:
                self._check_response(response)
            if response.status_code >= 400:
                raise SourceError(
                    f"{self.name} answered HTTP {response.status_code} for "
                    f"{_path_of(url)}: {error_text(response)}"
                )
            try:
                return response.json()
            except ValueError:
                unparseable += 1
                if unparseable >= UNPARSEABLE_BODY_ATTEMPTS:
                    raise SourceError(
                        f"{self.name} sent a body that is not complete JSON for {_path_of(url)} "
                        f"({unparseable} attempts)"
                    ) from None

    def _send(
        self, url: str, params: Mapping[str, str] | None, headers: Mapping[str, str]
    ) -> requests.Response:
        if self._pacer is not None:
            self._pacer.wait_turn()
        try:
            response = self._client.session.get(url, params=params, headers=dict(headers))
        except requests.RequestException as exc:
            raise SourceError(
                f"{self.name} could not be reached for {_path_of(url)}: {type(exc).__name__}"
            ) from None
        return response


class Pacer:
    """At least ``min_interval_seconds`` between calls, shared by every client of one tenant."""

    def __init__(self, min_interval_seconds: float) -> None:
        self._interval = min_interval_seconds
        self._next_call_at = 0.0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        if self._interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next_call_at - now
            # A tenth more than the interval: arrival jitter must not make calls look early.
            self._next_call_at = max(now, self._next_call_at) + self._interval * 1.1
        if wait > 0:
            time.sleep(wait)


def _path_of(url: str) -> str:
    """The URL without host or query (queries may be long; hosts say nothing new)."""
    return requests.utils.urlparse(url).path
