"""SuccessFactors Learning (OData v4): learning items, assignments and completions.

The catalogue is read whole (it is small). Assignments (the learner's to-do list) and
learning history are per-learner services: an admin token plus ``criteria/targetUserID``,
throttled by SAP and "not meant for bulk extraction" — so a run reads only some of the
employees Employee Central has landed (``plan_reads``: changed or new ones, those with an
assignment due soon, and a rotating sweep of the least recently read, within a request
budget), a few at a time, never faster than the configured interval. Each learner read
adds a row to ``learner_reads`` in the same load as their rows, so "last read" moves only
when they land.

A learner the LMS will not answer for (unknown there: 404; or a 400/403 naming them) is a
reject of that resource, not a failure of Learning: the other learners load, and the reject
counts against the quality gate. Anything else (auth, throttle or server errors that
outlast their retries) still fails the resource.
"""

from __future__ import annotations

import base64
import math
import re
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from ingest.config import SECRET, URL, RunOptions
from ingest.errors import SourceError
from ingest.quality import RecordContract, parse_epoch_ms
from ingest.sources.auth import LearningToken
from ingest.sources.http import ApiClient, HttpStatusError, Pacer, retrying_client
from ingest.sources.incremental import Companion, Rejected, Window
from ingest.sources.paging import Page, Paging, announced_total
from ingest.sources.source import Landed, LearnerCoverage, ResourceSpec, Row, Source


@dataclass(frozen=True)
class LearningSettings:
    """``[sources.successfactors_learning]``: an admin OAuth client of the Learning tenant."""

    api_url: str = field(metadata=URL)
    client_id: str
    client_secret: str = field(repr=False, metadata=SECRET)
    user_id: str
    company_id: str

    def derived_secrets(self) -> list[str]:
        """The token request's Basic credential: base64 hides the secret inside the pair."""
        return [base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()]


ROOT = "/learning/odatav4/public"
CATALOG_SERVICE = f"{ROOT}/admin/catalog-service/v1"
TODO_SERVICE = f"{ROOT}/user/learningplan-service/v1/UserTodoLearningItems"
HISTORY_SERVICE = f"{ROOT}/user/userlearning-service/v1/learninghistorys"
# Completions are filtered by completion date, and some are recorded days late: look back.
HISTORY_LOOKBACK = timedelta(days=31)
# Learners' rows reach dlt in pages of at least this many rows (whole learners each), and at
# most this many learners per worker are read ahead of the page being written: memory stays
# the same however many learners there are and nearly so however many completions each has
# (the 64-learner batches this replaced held ~22,000 rows at 340 completions a learner).
ROWS_PER_PAGE = 5_000
LEARNERS_AHEAD_PER_WORKER = 2
# The raw table of learner reads: one row per learner and per-learner resource read.
LEARNER_READS = "learner_reads"
PER_LEARNER_RESOURCES = ("learning_assignments", "learning_completions")
# What a learner costs a run: one to-do list and one history request (more only when a
# list runs past one page).
REQUESTS_PER_LEARNER = len(PER_LEARNER_RESOURCES)
READ, NOT_READABLE = "read", "not_readable"
# Window.notes key: learner -> earliest completions window start not yet read for them
# (None: their whole history), for learners whose history failed on an earlier run.
LEARNERS_BEHIND = "learners_behind"
NUMBER = (int, float)

ITEM_CONTRACT = RecordContract(
    # An item is listed once per catalog it is in; each listing is kept (catalogID is ours).
    key=("componentTypeID", "componentID", "catalogID"),
    cursor="revisionDate",
    parse_time=parse_epoch_ms,
    timestamps=("revisionDate",),
    types={"componentID": str, "title": str, "creditHours": NUMBER, "cpeHours": NUMBER},
)
ASSIGNMENT_CONTRACT = RecordContract(
    key=("userID", "componentTypeID", "componentID", "assignedDate"),
    cursor=None,  # the to-do list has no modification time: a version is its dates
    parse_time=parse_epoch_ms,
    timestamps=("assignedDate", "requiredDate", "revisionDate"),
    types={"userID": str, "componentID": str, "isRequired": bool},
    version_fields=("requiredDate", "revisionDate"),
)
COMPLETION_CONTRACT = RecordContract(
    key=("studentComponentID",),
    cursor="lastUpdateTimestamp",
    parse_time=parse_epoch_ms,
    timestamps=("completionDate", "lastUpdateTimestamp", "revisionDate"),
    types={
        "componentID": str,
        "completionStatusID": str,
        "provideCredit": bool,
        "creditHours": NUMBER,
    },
)
_TEXT = {"data_type": "text"}
_BIG = {"data_type": "bigint"}
_NUM = {"data_type": "double"}
_BOOL = {"data_type": "bool"}
# Every column staging reads is declared, so it exists from the first load even when a
# tenant never sends the field (dlt creates undeclared columns only when a value arrives).
ITEM_COLUMNS: dict[str, dict[str, Any]] = {
    "component_id": _TEXT,
    "component_type_id": _TEXT,
    "revision_date": _BIG,
    "title": _TEXT,
    "credit_hours": _NUM,
    "cpe_hours": _NUM,
    "catalog_id": _TEXT,
    "component_classification": _TEXT,
    "description": _TEXT,
    "domain_id": _TEXT,
    "domain_desc": _TEXT,
    "delivery_method_id": _TEXT,
    "delivery_method_desc": _TEXT,
    "total_length": _NUM,
    "contact_hours": _NUM,
    "active": _BOOL,
}
ASSIGNMENT_COLUMNS: dict[str, dict[str, Any]] = {
    "user_id": _TEXT,
    "component_id": _TEXT,
    "component_type_id": _TEXT,
    "assigned_date": _BIG,
    "required_date": _BIG,
    "revision_date": _BIG,
    "is_required": _BOOL,
    "component_type_desc": _TEXT,
    "component_key": _BIG,
    "revision_number": _TEXT,
    "title": _TEXT,
    "description": _TEXT,
    "component_length": _NUM,
    "credit_hours": _NUM,
    "cpe_hours": _NUM,
    "contact_hours": _NUM,
    "days_remaining": _BIG,
    "requirement_type_id": _TEXT,
    "requirement_type_description": _TEXT,
    "add_user": _TEXT,
}
COMPLETION_COLUMNS: dict[str, dict[str, Any]] = {
    "student_component_id": _TEXT,
    "target_user_id": _TEXT,
    "component_id": _TEXT,
    "component_type_id": _TEXT,
    "completion_status_id": _TEXT,
    "completion_date": _BIG,
    "grade": _TEXT,
    "credit_hours": _NUM,
    "cpe_hours": _NUM,
    "provide_credit": _BOOL,
    "last_update_timestamp": _BIG,
    "component_key": _TEXT,
    "revision_date": _BIG,
    "revision_number": _TEXT,
    "title": _TEXT,
    "completion_status_desc": _TEXT,
    "total_hours": _NUM,
    "contact_hours": _NUM,
}
READ_COLUMNS: dict[str, dict[str, Any]] = {
    "user_id": _TEXT,
    "resource": _TEXT,
    "outcome": _TEXT,
    "read_at": {"data_type": "timestamp"},
}


@dataclass(frozen=True)
class ReadPlan:
    """Which learners a run reads, most urgent first, and what that leaves behind."""

    learners: list[str]
    coverage: LearnerCoverage


def plan_reads(
    learners: list[str],
    changed_at: Mapping[str, datetime],
    last_read: Mapping[str, datetime],
    due_soon: Collection[str],
    now: datetime,
    options: RunOptions,
) -> ReadPlan:
    """The learners this run reads, in order: new ones and those whose Employee Central
    record landed since their last read (never read first); those with an assignment due
    soon; then the least recently read, enough that everyone is read at least every
    ``learning_full_sweep_days``; all cut at ``learning_request_budget``.

    ``changed_at``: when each learner's newest Employee Central version landed;
    ``last_read``: when both their lists last landed (absent: never).
    """
    never = [u for u in learners if u not in last_read]
    changed = sorted(
        (
            u
            for u in learners
            if u in last_read and u in changed_at and changed_at[u] > last_read[u]
        ),
        key=last_read.__getitem__,
    )
    urgent = never + changed
    taken = set(urgent)
    by_age = sorted((u for u in learners if u not in taken), key=last_read.__getitem__)
    due = [u for u in by_age if u in due_soon]
    taken.update(due)
    rest = [u for u in by_age if u not in taken]
    # Runs are assumed to come as often as the last one came after its predecessor.
    previous = max(last_read.values(), default=None)
    interval = max(now - previous, timedelta(0)) if previous else timedelta(days=1)
    sweep_days = options.learning_full_sweep_days
    promise = timedelta(days=sweep_days)
    if promise <= interval:  # 0: every learner every run
        at_risk, sweep = rest, rest
    else:
        # Due now: would be unread for longer than the promise by the next run.
        at_risk = [u for u in rest if last_read[u] + promise <= now + interval]
        # The steady share: the whole workforce once per (promise less one run), spread
        # over the runs, so that in steady state nobody becomes due and the reads stay
        # even from run to run (a sweep of exactly the promise would leave every learner
        # due a run early, and the first week's wave of new learners would never smooth).
        quota = math.ceil(len(learners) * (interval / (promise - interval)))
        sweep = rest[: max(quota, len(at_risk))]
    wanted = urgent + due + sweep
    budget = options.learning_request_budget
    limit = budget // REQUESTS_PER_LEARNER if budget else len(wanted)
    chosen = wanted[:limit]
    read = set(chosen)
    left = [u for u in learners if u not in read]
    left_read = [last_read[u] for u in left if u in last_read]
    coverage = LearnerCoverage(
        refreshed=len(chosen),
        total=len(learners),
        never_read=len(left) - len(left_read),
        oldest_read_at=min(left_read, default=now if chosen else None),
        warning=_shortfall(urgent, due, at_risk, chosen, last_read, budget, sweep_days),
    )
    return ReadPlan(chosen, coverage)


def _shortfall(
    urgent: list[str],
    due: list[str],
    at_risk: list[str],
    chosen: list[str],
    last_read: Mapping[str, datetime],
    budget: int,
    sweep_days: float,
) -> str | None:
    """What the budget left unread that the run meant to read, in words (None: nothing)."""
    read = set(chosen)
    missed_urgent = [u for u in urgent if u not in read]
    missed_due = [u for u in due if u not in read]
    missed_sweep = [u for u in at_risk if u not in read]
    if not (missed_urgent or missed_due or missed_sweep):
        return None
    parts = []
    if missed_urgent:
        parts.append(f"{len(missed_urgent)} new or changed learner(s)")
    if missed_due:
        parts.append(f"{len(missed_due)} with an assignment due soon")
    if missed_sweep:
        oldest = min(last_read[u] for u in missed_sweep)
        parts.append(
            f"{len(missed_sweep)} that will go more than {sweep_days:g} day(s) unread "
            f"(the oldest read at {oldest:%Y-%m-%d %H:%M} UTC)"
        )
    return (
        f"learning_request_budget ({budget} requests, {REQUESTS_PER_LEARNER} per learner) "
        f"left unread {', '.join(parts)}: the most urgent were read, the rest come first on "
        "the next runs; raise learning_request_budget or learning_full_sweep_days"
    )


class LearningApi:
    """The Learning OData v4 services of one tenant, paced to its throttle."""

    def __init__(self, settings: LearningSettings, options: RunOptions, pacer: Pacer) -> None:
        # Token calls retry in their session; data calls are paced, so ApiClient retries
        # them, every attempt waiting its turn.
        self.tokens = LearningToken(settings, retrying_client(options).session)
        client = retrying_client(options, retry_in_session=False)
        self.client = ApiClient(
            "SuccessFactors Learning", lambda: settings.api_url, self.tokens, client, pacer=pacer
        )
        self.paging = Paging("SuccessFactors Learning", lambda: settings.api_url, options)

    def pages(self, path: str, params: dict[str, str] | None = None) -> Iterator[list[dict]]:
        """Every page of a collection, following ``@odata.nextLink``."""
        yield from self.paging.walk(
            path.rsplit("/", 1)[-1],
            lambda: _page_of(path, self.client.get_json(path, params)),
            lambda next_link: _page_of(path, self.client.get_json(next_link)),
        )


def fetch_items(api: LearningApi, window: Window) -> Iterator[list[dict[str, Any]]]:
    catalogs = [row for page in api.pages(f"{CATALOG_SERVICE}/Catalogs") for row in page]
    for catalog in catalogs:
        catalog_id = str(catalog.get("catalogID", ""))
        for page in api.pages(f"{CATALOG_SERVICE}/CatalogsFeed('{catalog_id}')/CoursesFeed"):
            yield [{**row, "catalogID": catalog_id} for row in page]


def _per_learner(
    resource: str,
    learners: list[str],
    concurrency: int,
    fetch_one: Callable[[str], list[dict[str, Any]]],
) -> Iterator[list[Row]]:
    """Learners' rows in pages of whole learners (``ROWS_PER_PAGE``), ``concurrency`` requests
    in flight and a few learners read ahead, each learner's with a row of ``learner_reads``;
    a learner the LMS will not answer for becomes one reject instead of their rows (none
    kept, even from pages read before the error: a learner is read whole or not at all)."""

    def read(user_id: str) -> list[Row]:
        rows: list[Row]
        try:
            rows, outcome = list(fetch_one(user_id)), READ
        except HttpStatusError as exc:
            if not _about_learner(exc, user_id):
                raise
            rows, outcome = [_learner_reject(user_id, exc)], NOT_READABLE
        done = {"user_id": user_id, "resource": resource, "outcome": outcome}
        return [*rows, Companion(LEARNER_READS, {**done, "read_at": datetime.now(UTC)})]

    workers = max(concurrency, 1)
    waiting = iter(learners)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reading = deque(
            pool.submit(read, user) for user in islice(waiting, workers * LEARNERS_AHEAD_PER_WORKER)
        )
        page: list[Row] = []
        while reading:
            page.extend(reading.popleft().result())
            reading.extend(pool.submit(read, user) for user in islice(waiting, 1))
            if len(page) >= ROWS_PER_PAGE:
                yield page
                page = []
        if page:
            yield page


def _about_learner(exc: HttpStatusError, user_id: str) -> bool:
    """Whether an error answer is about this learner (unknown to the LMS, or not theirs to
    read), not about the loader's access as a whole: a 404, or a 400/403 naming them."""
    if exc.status == 404:
        return True
    named = re.search(rf"(?<![\w.-]){re.escape(user_id)}(?![\w.-])", exc.reason)
    return exc.status in (400, 403) and named is not None


def _learner_reject(user_id: str, exc: HttpStatusError) -> Rejected:
    return Rejected(
        f"learner not readable (HTTP {exc.status}): {user_id}: {exc.reason}",
        {"learner": user_id, "status": exc.status, "reason": exc.reason},
    )


def _criteria(user_id: str, **extra: str) -> dict[str, str]:
    clauses = [f"criteria/targetUserID eq '{user_id.replace(chr(39), chr(39) * 2)}'"]
    clauses += [f"criteria/{name} eq {value}" for name, value in extra.items()]
    return {"$filter": " and ".join(clauses)}


def fetch_assignments(
    api: LearningApi, learners: list[str], concurrency: int
) -> Iterator[list[Row]]:
    # A learner's whole to-do list is read each time they are: one not read today is read
    # whole later, and their landed versions stay as they are (nothing is marked deleted by
    # absence).
    def one(user_id: str) -> list[dict[str, Any]]:
        return [row for page in api.pages(TODO_SERVICE, _criteria(user_id)) for row in page]

    yield from _per_learner("learning_assignments", learners, concurrency, one)


def fetch_completions(
    api: LearningApi,
    learners: list[str],
    concurrency: int,
    window: Window,
    history_read: Mapping[str, datetime] | None = None,
) -> Iterator[list[Row]]:
    """Each learner's history since the window or since their history was last read
    (``history_read``), whichever is earlier, less the look-back: a learner the sweep
    reads once a week still gets every completion recorded late since.

    The cursor is one for all learners, and it moves on when a learner fails. So a learner
    that failed is noted (in ``window.notes``, saved with the rows like the cursor) with the
    earliest window start not read for them, and read from there on every run until a read
    succeeds: a failed learner never loses history to a cursor that moved past it.
    """
    behind: dict[str, str | None] = {}
    if window.start is not None:  # a full read covers everyone from the beginning
        behind = dict(window.notes.get(LEARNERS_BEHIND, {}))

    def start_for(user_id: str) -> datetime | None:
        if window.start is None:
            return None
        start = window.start
        last = (history_read or {}).get(user_id)
        if last is not None and last < start:
            start = last
        if user_id not in behind:
            return start
        missed = behind[user_id]
        return None if missed is None else min(datetime.fromisoformat(missed), start)

    def one(user_id: str) -> list[dict[str, Any]]:
        extra: dict[str, str] = {}
        start = start_for(user_id)
        if start is not None:
            since = start - HISTORY_LOOKBACK
            extra["fromDate"] = str(int(since.timestamp() * 1000))
        rows = []
        for page in api.pages(HISTORY_SERVICE, _criteria(user_id, **extra)):
            # History rows do not name their learner: keep whom they were asked for.
            rows.extend({**row, "targetUserID": user_id} for row in page)
        return rows

    failed: set[str] = set()
    for rows in _per_learner("learning_completions", learners, concurrency, one):
        failed.update(str(r.payload["learner"]) for r in rows if isinstance(r, Rejected))
        yield rows
    known = set(learners)
    still_behind = {user: start for user, start in behind.items() if user not in known}
    for user_id in failed:
        start = start_for(user_id)
        still_behind[user_id] = None if start is None else start.isoformat()
    window.notes[LEARNERS_BEHIND] = still_behind


def flatten(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("criteria", None)  # an echo of the request's filter, not data
    return record


def resources(
    settings: LearningSettings, options: RunOptions, landed: Landed
) -> list[ResourceSpec]:
    """The catalogue, and the to-do lists and learning histories of the learners this run
    reads (``plan_reads``)."""
    # Employees Employee Central has landed, the most recently changed first.
    everyone = landed.keys("successfactors", "users", "user_id")
    if everyone is None:
        raise SourceError(
            "SuccessFactors Learning is read per employee, and Employee Central has not "
            "landed yet: load the successfactors source first (or together)"
        )
    plan, history_read = _plan(everyone, options, landed)
    learners = plan.learners
    # No employee at all (Employee Central answered none): the catalogue still loads, and
    # the per-learner resources read nobody and report zero records.
    # SAP throttles per client: the three resources' requests share one pace.
    pacer = Pacer(options.learning_min_interval_seconds)
    items_api = LearningApi(settings, options, pacer)
    assignments_api = LearningApi(settings, options, pacer)
    completions_api = LearningApi(settings, options, pacer)
    workers = options.learning_concurrency
    return [
        ResourceSpec(
            "learning_items",
            ITEM_CONTRACT,
            fetch=lambda window: fetch_items(items_api, window),
            flatten=flatten,
            requests_made=lambda: items_api.client.requests_made,
            dedup_horizon=None,
        ),
        ResourceSpec(
            "learning_assignments",
            ASSIGNMENT_CONTRACT,
            fetch=lambda window: fetch_assignments(assignments_api, learners, workers),
            flatten=flatten,
            requests_made=lambda: assignments_api.client.requests_made,
            dedup_horizon=None,
            companions=(LEARNER_READS,),
            coverage=lambda: plan.coverage,
        ),
        ResourceSpec(
            "learning_completions",
            COMPLETION_CONTRACT,
            fetch=lambda window: fetch_completions(
                completions_api, learners, workers, window, history_read
            ),
            flatten=flatten,
            requests_made=lambda: completions_api.client.requests_made,
            # Histories are re-read from a learner's last read (up to a sweep ago) less the
            # look-back: versions are remembered that far, so re-reads are not landed again.
            dedup_horizon=HISTORY_LOOKBACK + timedelta(days=options.learning_full_sweep_days + 1),
            companions=(LEARNER_READS,),
            coverage=lambda: plan.coverage,
        ),
    ]


def _plan(
    everyone: list[str], options: RunOptions, landed: Landed
) -> tuple[ReadPlan, dict[str, datetime]]:
    """This run's plan from what has landed, and when each learner's history was last read."""
    now = datetime.now(UTC)
    reads = {
        resource: landed.newest(
            SOURCE_NAME, LEARNER_READS, "user_id", "read_at", equals={"resource": resource}
        )
        or {}
        for resource in PER_LEARNER_RESOURCES
    }
    both = set.intersection(*(set(read) for read in reads.values()))
    last_read = {u: min(read[u] for read in reads.values()) for u in both}
    changed_at = landed.newest("successfactors", "users", "user_id", "_extracted_at") or {}
    due_soon: Collection[str] = ()
    if options.learning_due_soon_days > 0:
        now_ms = int(now.timestamp() * 1000)
        horizon_ms = int(options.learning_due_soon_days * 86_400_000)
        between = ("required_date", now_ms, now_ms + horizon_ms)
        due_soon = set(
            landed.newest(
                SOURCE_NAME, "learning_assignments", "user_id", "required_date", between=between
            )
            or {}
        )
    plan = plan_reads(everyone, changed_at, last_read, due_soon, now, options)
    return plan, reads["learning_completions"]


def probe(settings: LearningSettings, options: RunOptions) -> str:
    """Authenticate and list the catalogs."""
    api = LearningApi(settings, options, Pacer(options.learning_min_interval_seconds))
    catalogs = next(api.pages(f"{CATALOG_SERVICE}/Catalogs"))
    return f"{len(catalogs)} catalog(s) visible"


def _page_of(path: str, body: Any) -> Page:
    """Rows, next link and count of an OData v4 answer; any other shape is an error."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        keys = sorted(body)[:6] if isinstance(body, dict) else type(body).__name__
        raise SourceError(
            f"SuccessFactors Learning {path.rsplit('/', 1)[-1]} answered in an unknown shape "
            f"(keys: {keys})"
        )
    next_link = body.get("@odata.nextLink")
    if next_link is not None and not isinstance(next_link, str):
        raise SourceError("SuccessFactors Learning gave an @odata.nextLink that is not a link")
    return Page(body["value"], next_link, announced_total(body.get("@odata.count")))


SOURCE_NAME = "successfactors_learning"
SOURCE = Source(
    name=SOURCE_NAME,
    title="SuccessFactors Learning",
    raw_schema="raw_successfactors",
    settings=LearningSettings,
    tables={
        "learning_items": ITEM_COLUMNS,
        "learning_assignments": ASSIGNMENT_COLUMNS,
        "learning_completions": COMPLETION_COLUMNS,
        LEARNER_READS: READ_COLUMNS,
    },
    resources=resources,
    probe=probe,
    reads_from="successfactors",
    reads_from_reason="Learning is read one employee at a time, for the employees Employee "
    "Central lands",
)
