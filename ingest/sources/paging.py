"""Walking an API's pages safely: every walk ends, and credentials stay with the API.

A next link is followed only if it points at the API's own origin (a bearer token must
never be sent elsewhere), has not been read before in this walk (a loop), and keeps the
walk within a margin of the record count the API announced, if it announced one. Before
every request the run's deadline is checked, so no walk outlives the run.

Not dlt's ``RESTClient.paginate`` with a ``JSONLinkPaginator`` (dlt 1.31, tried): it sends
the next link wherever it points, with the bearer token; follows a link that repeats
forever; and reads an answer without the data key as an empty page. Its only step between
an answer and the next send is the paginator's ``update_request``, which runs before the
page is handed on, so a deadline checked there misses the time the page takes downstream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingest.config import RunOptions
from ingest.errors import RunDeadlineError, SourceError

# Pages a walk may take beyond twice what the announced count needs: page sizes are hints.
EXTRA_PAGES = 3
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Page:
    """One answer of a paged collection."""

    records: list[dict[str, Any]]
    next_link: str | None
    total: int | None = None  # the records the whole walk holds, when the API says


class Paging:
    """Walks one API's paged collections under the guards above."""

    def __init__(self, api: str, base_url: Callable[[], str], options: RunOptions) -> None:
        self._api = api
        self._base_url = base_url
        self._options = options

    def walk(
        self, what: str, first: Callable[[], Page], follow: Callable[[str], Page]
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of every page, from ``first()`` then ``follow(next_link)``."""
        name = f"{self._api} {what}"
        self._check_deadline(name)
        page = first()
        max_pages = _max_pages(page)
        read: set[str] = set()
        pages = 1
        while True:
            yield page.records
            if page.next_link is None:
                return
            url = self._same_origin(name, page.next_link)
            if url in read:
                raise SourceError(
                    f"{name}: the next link leads back to a page already read "
                    f"({_path_of(url)}) after {pages} page(s); stopped an endless walk"
                )
            if max_pages is not None and pages >= max_pages:
                raise SourceError(
                    f"{name}: {pages} pages read and the API still names a next one, though "
                    f"it announced {page.total} record(s); stopped an endless walk"
                )
            read.add(url)
            self._check_deadline(name)
            page = follow(page.next_link)
            pages += 1

    def _same_origin(self, name: str, link: str) -> str:
        """The absolute next link; refused when it leaves the API's origin."""
        base = self._base_url().rstrip("/") + "/"
        url = urljoin(base, link)
        if _origin(url) != _origin(base):
            raise SourceError(
                f"{name}: the next link points to another origin ({_shown_origin(url)}, not "
                f"{_shown_origin(base)}); refused, credentials go only to the configured API"
            )
        return url

    def _check_deadline(self, name: str) -> None:
        if time.monotonic() >= self._options.deadline:
            raise RunDeadlineError(
                f"the run passed its deadline of {self._options.run_deadline_minutes:g} "
                f"minute(s) (ingest.run_deadline_minutes) while reading {name}; stopped"
            )


def _max_pages(first: Page) -> int | None:
    """Pages the announced count allows, with a margin; None when nothing was announced."""
    if first.total is None:
        return None
    per_page = max(len(first.records), 1)
    return 2 * math.ceil(first.total / per_page) + EXTRA_PAGES


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number: no origin of ours
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _shown_origin(url: str) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _path_of(url: str) -> str:
    return urlsplit(url).path


def announced_total(value: Any) -> int | None:
    """A record count as APIs announce it (a number, or OData v2's string); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
