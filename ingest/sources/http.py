"""HTTP to the source APIs: dlt's retrying client, plus what the APIs need on top of it.

dlt's ``Client`` (public arguments only) gives each thread its own session with the run's
timeout, and retries 429 (honouring ``Retry-After``), 5xx, timeouts and dropped
connections with bounded exponential backoff inside that session. A paced caller cannot
retry inside the session (every attempt must wait its turn), so it retries around each
paced send with the same policy, assembled from dlt's public retry pieces, plus jitter.
On top: a token renewal shared by every worker on 401, a retry of bodies that end mid-JSON,
a hook to watch quota headers, an optional minimum interval between sends (throttled
services), and errors that quote the API's own message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import (
    DEFAULT_RETRY_EXCEPTIONS,
    DEFAULT_RETRY_STATUS,
    retry_if_status,
    wait_exponential_retry_after,
)
from tenacity import (
    Retrying,
    retry_any,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random,
)

from ingest.config import RunOptions
from ingest.errors import SourceError
from ingest.sources.auth import TokenProvider, error_text, request_failure

UNPARSEABLE_BODY_ATTEMPTS = 3
MAX_RETRY_DELAY_SECONDS = 120


class HttpStatusError(SourceError):
    """An API's error answer, after any retries: its HTTP status and the API's own reason."""

    def __init__(self, message: str, status: int, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class HttpClient:
    """dlt's ``Client`` for one API, counting every attempt sent (each counts against quota).

    With ``retry_in_session`` its sessions retry by dlt's policy; without, a send is tried
    once and the caller retries with ``retrying()`` (a paced caller must pace every attempt).
    """

    def __init__(self, options: RunOptions, *, retry_in_session: bool = True) -> None:
        self.retry_in_session = retry_in_session
        self._options = options
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        retries: dict[str, Any] = {"request_max_attempts": options.request_max_attempts}
        if not retry_in_session:
            retries = {"request_max_attempts": 1, "status_codes": (), "exceptions": ()}
        self._client = Client(
            request_timeout=options.request_timeout_seconds,
            raise_for_status=False,
            request_backoff_factor=options.request_backoff_factor,
            request_max_retry_delay=MAX_RETRY_DELAY_SECONDS,
            # Set on each thread's session: response hooks run once per attempt sent.
            session_attrs={"hooks": {"response": [self._count]}},
            **retries,
        )

    @property
    def session(self) -> requests.Session:
        """This thread's session (requests sessions are not shared between threads)."""
        return self._client.session

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._count_lock:
            self.requests_sent += 1

    def retrying(self) -> Retrying:
        """dlt's retry policy (429 and 5xx, timeouts and dropped connections, bounded attempts,
        exponential backoff or ``Retry-After``) with random jitter, so workers do not retry
        in step; the last answer is returned when attempts run out."""
        backoff = self._options.request_backoff_factor
        return Retrying(
            retry=retry_any(
                retry_if_status(DEFAULT_RETRY_STATUS),
                retry_if_exception_type(DEFAULT_RETRY_EXCEPTIONS),
            ),
            wait=wait_exponential_retry_after(multiplier=backoff, max=MAX_RETRY_DELAY_SECONDS)
            + wait_random(0, max(backoff, 0.05)),
            stop=stop_after_attempt(self._options.request_max_attempts),
            reraise=True,
            retry_error_callback=lambda state: state.outcome.result(),
        )


def retrying_client(options: RunOptions, *, retry_in_session: bool = True) -> HttpClient:
    """A per-thread-session HTTP client with bounded retries and the run's timeout (a try
    that times out, connecting or reading, is retried like a dropped connection)."""
    return HttpClient(options, retry_in_session=retry_in_session)


class ApiClient:
    """GETs JSON from one API with a bearer token; counts requests; fails loudly.

    Not dlt's ``RESTClient`` with its auth classes (dlt 1.31, tried): there a 401 raises
    ``HTTPError`` (``OAuth2ClientCredentials`` renews only when its own clock says the token
    expired, and without a lock every worker fetches its own), and a body cut off mid-JSON
    fails the walk instead of being asked for again.
    """

    def __init__(
        self,
        name: str,
        base_url: Callable[[], str],
        tokens: TokenProvider,
        client: HttpClient,
        *,
        check_response: Callable[[requests.Response], None] | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        if pacer is not None and client.retry_in_session:
            raise ValueError("a paced ApiClient retries itself: its client must not")
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
        unparseable = 0
        while True:
            response = self.request("GET", path_or_url, params=params, headers=headers)
            try:
                return response.json()
            except ValueError:
                unparseable += 1
                if unparseable >= UNPARSEABLE_BODY_ATTEMPTS:
                    raise SourceError(
                        f"{self.name} sent a body that is not complete JSON for "
                        f"{_path_of(response.url)} ({unparseable} attempts)"
                    ) from None

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
    ) -> requests.Response:
        """One logical request (retried as configured, the token renewed on 401); an error
        answer raises HttpStatusError quoting the API's reason."""
        self._tokens.token()  # fetch the token first: the base URL may come with it
        url = urljoin(self._base_url().rstrip("/") + "/", path_or_url)
        call = _Call(method, url, params, json, data)
        while True:
            token = self._tokens.token()
            response = self._send(call, {**(headers or {}), "Authorization": f"Bearer {token}"})
            if response.status_code == 401:
                # A token may expire between pages, also for several workers at once: renewed
                # once for all of them, and retried until fresh tokens stop getting through.
                if self._tokens.renew(token):
                    continue
            else:
                self._tokens.accepted()
            if self._check_response is not None:
                self._check_response(response)
            if response.status_code >= 400:
                reason = error_text(response)
                where = _path_of(url) if method == "GET" else f"{method} {_path_of(url)}"
                raise HttpStatusError(
                    f"{self.name} answered HTTP {response.status_code} for {where}: {reason}",
                    response.status_code,
                    reason,
                )
            return response

    def _send(self, call: _Call, headers: Mapping[str, str]) -> requests.Response:
        try:
            if self._pacer is None:
                return self._sent(call, headers)  # retried inside the session
            # Throttled: each attempt waits its turn, or a retry lands just after another
            # worker's call, is throttled again and the retries cascade.
            return self._client.retrying()(self._paced, call, headers)
        except requests.RequestException as exc:
            raise SourceError(
                f"{self.name} could not be reached for {_path_of(call.url)}: {request_failure(exc)}"
            ) from None

    def _paced(self, call: _Call, headers: Mapping[str, str]) -> requests.Response:
        assert self._pacer is not None
        self._pacer.wait_turn()
        response = self._sent(call, headers)
        if response.status_code == 429:
            self._pacer.slow_down(_retry_after_seconds(response))
        return response

    def _sent(self, call: _Call, headers: Mapping[str, str]) -> requests.Response:
        return self._client.session.request(
            call.method,
            call.url,
            params=call.params,
            headers=dict(headers),
            json=call.json,
            data=call.data,
        )


@dataclass(frozen=True)
class _Call:
    """What one logical request sends (again on each retry)."""

    method: str
    url: str
    params: Mapping[str, str] | None
    json: Any
    data: bytes | None


class Pacer:
    """At least ``min_interval_seconds`` between sends, shared by every client of one tenant.

    Sends are serialised: a caller takes the lock, sleeps until its turn, marks its send time
    and goes, and the next turn counts from that mark, so a sender woken late delays the
    next one instead of squeezing the gap (reserving slots ahead did). A 429 holds every
    worker for its ``Retry-After`` and widens the interval for the next sends.
    """

    SLOW_SENDS = 20  # sends at the widened interval after a 429
    MAX_SLOWDOWN = 8  # the interval widens at most this many times over
    # A send reaches the server a little after its mark (thread scheduling, the network),
    # and not always equally late: keep this much more than the interval between marks.
    MARGIN_SHARE = 0.1
    MIN_MARGIN_SECONDS = 0.025

    def __init__(self, min_interval_seconds: float) -> None:
        self._interval = 0.0
        if min_interval_seconds > 0:
            margin = max(min_interval_seconds * self.MARGIN_SHARE, self.MIN_MARGIN_SECONDS)
            self._interval = min_interval_seconds + margin
        self._last_send: float | None = None
        self._not_before = 0.0
        self._slowdown = 1
        self._slow_sends_left = 0
        self._lock = threading.Lock()

    def wait_turn(self) -> None:
        """Sleep until this caller may send, and count the send from now."""
        with self._lock:
            due = self._not_before
            if self._last_send is not None:
                due = max(due, self._last_send + self._interval * self._slowdown)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._last_send = time.monotonic()
            if self._slow_sends_left > 0:
                self._slow_sends_left -= 1
                if self._slow_sends_left == 0:
                    self._slowdown = 1

    def slow_down(self, retry_after_seconds: float | None) -> None:
        """After a 429: nobody sends before ``Retry-After``; then a wider interval a while."""
        with self._lock:
            self._slowdown = min(self._slowdown * 2, self.MAX_SLOWDOWN)
            self._slow_sends_left = self.SLOW_SENDS
            hold = retry_after_seconds
            if hold is None:
                hold = self._interval * self._slowdown
            self._not_before = max(self._not_before, time.monotonic() + hold)


def _retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (the throttled services send seconds, not dates)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _path_of(url: str) -> str:
    """The URL without host or query (queries may be long; hosts say nothing new)."""
    return requests.utils.urlparse(url).path
