"""Learning: the course catalogue, and each learner's assignments and completions.

A learner's records are derived on the fly from (seed, employee, day), so millions of
completions exist without being stored: compliance certifications renew in chains
(complete, expire after the retraining period, renew), and ad-hoc assignments arrive on
random days and are completed, late or never.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ingest.sandbox.clock import DAY0_EPOCH, SECONDS_PER_DAY, day_of, day_start
from ingest.sandbox.company import ORG_START_EPOCH, Company, stable_hash

# Learners whose histories are kept worked out (a few per request in flight).
LEARNERS_KEPT = 64
COMPLIANCE = (
    ("Code of Conduct", 365),
    ("Data Privacy Essentials", 365),
    ("Information Security Awareness", 365),
    ("Anti-Bribery and Corruption", 730),
    ("Workplace Health and Safety", 730),
    ("Export Control Basics", 1095),
)
TOPICS = (
    "Negotiation Skills",
    "Project Management",
    "Excel for Analysts",
    "Coaching Conversations",
    "Cloud Fundamentals",
    "Customer Discovery",
    "Lean Operations",
    "Presentation Skills",
    "SQL Basics",
    "Budgeting",
    "Inclusive Leadership",
    "Time Management",
    "Agile Delivery",
    "Supplier Management",
    "Design Thinking",
    "Writing for Business",
    "Python Foundations",
    "Conflict Resolution",
    "Forecasting",
    "Product Discovery",
)
ASSIGNMENT_LOOKBACK_DAYS = 90
RETRAINING_WINDOW_DAYS = 60  # a certification reappears on the plan this long before expiry


@dataclass(frozen=True)
class Course:
    index: int
    component_id: str
    type_id: str  # CERT for compliance certifications, COURSE or ELEARN otherwise
    title: str
    description: str
    delivery_method: str
    domain: str
    credit_hours: float
    cpe_hours: float
    contact_hours: float
    revision_date: int
    retraining_days: int | None
    active: bool


@dataclass(frozen=True)
class Completion:
    course: Course
    completed: int
    passed: bool
    grade: int
    record_key: int  # stable studentComponentID-like number
    last_updated: int


@dataclass(frozen=True)
class Assignment:
    course: Course
    assigned: int
    required: int
    required_by: str  # who put it on the plan


def _quarter_hours(value: int, low: float, high: float) -> float:
    steps = int((high - low) * 4)
    return low + (value % (steps + 1)) / 4


class Coursework:
    """The learning side of :class:`Company`."""

    def __init__(self, company: Company, elective_completions: int | None = None) -> None:
        self.company = company
        # Past electives per learner: None keeps the demo's 0-4; a number makes learners'
        # histories longer (the benchmark's millions of completions from fewer learners).
        self.elective_completions = elective_completions
        self.courses = tuple(self._course(i) for i in range(self.course_count))
        # A history is read a page at a time (100 rows), and each page asks for all of it:
        # the last learners' histories, kept, save working each out again per page.
        self.completions = functools.lru_cache(maxsize=LEARNERS_KEPT)(self._completions)

    @property
    def course_count(self) -> int:
        return min(400, 40 + self.company.salesforce_users // 50)

    def _course(self, i: int) -> Course:
        h = stable_hash(self.company.seed, "course", i)
        if i < len(COMPLIANCE):
            title, retraining = COMPLIANCE[i]
            type_id, domain, method = "CERT", "COMPLIANCE", "ONLINE"
        else:
            topic = TOPICS[(i - len(COMPLIANCE)) % len(TOPICS)]
            level = (i - len(COMPLIANCE)) // len(TOPICS) + 1
            title = topic if level == 1 else f"{topic} {level}"
            retraining = None
            type_id = "ELEARN" if h % 3 else "COURSE"
            method = "ONLINE" if type_id == "ELEARN" else "ILT"
            domain = "CORPORATE"
        credit = _quarter_hours(h >> 8, 0.5, 6.0)
        cpe = 0.0 if (h >> 20) % 5 < 2 else _quarter_hours(h >> 24, 0.5, 4.0)
        revision = ORG_START_EPOCH + (h >> 32) % (DAY0_EPOCH - ORG_START_EPOCH - SECONDS_PER_DAY)
        return Course(
            index=i,
            component_id=f"CRS-{1000 + i}",
            type_id=type_id,
            title=title,
            description=f"{title}: {'required compliance training' if retraining else 'elective'}",
            delivery_method=method,
            domain=domain,
            credit_hours=credit,
            cpe_hours=cpe,
            contact_hours=credit if method == "ILT" else 0.0,
            revision_date=revision - revision % 60,
            retraining_days=retraining,
            active=(h >> 40) % 25 != 0,
        )

    # ---- one learner

    def _moment(self, employee: int, tag: object, day: int) -> int:
        """A completion time on ``day``: learners finish courses in working hours."""
        return (
            day_start(day)
            + 8 * 3600
            + stable_hash(self.company.seed, "t", employee, tag, day) % 36_000
        )

    def _learner_span(self, employee: int, day: int) -> tuple[int, int] | None:
        """(first day, last day) the learner can learn, or None if not hired by ``day``."""
        cols = self.company.state(day).employees
        if employee >= cols.count:
            return None
        first = day_of(cols.hired[employee])
        last = day if cols.active[employee] else min(day, day_of(cols.ended[employee]))
        return first, last

    def _completions(self, employee: int, day: int) -> tuple[Completion, ...]:
        """Everything the learner completed (or failed) up to the end of ``day``."""
        span = self._learner_span(employee, day)
        if span is None:
            return ()
        first, last = span
        results: list[Completion] = []
        for course in self.courses[: len(COMPLIANCE)]:
            for done_day in self._certification_days(employee, course, first, last):
                results.extend(self._attempts(employee, course, done_day, last))
        for assignment, done_day in self._adhoc(employee, first, last):
            if done_day is not None:
                results.extend(self._attempts(employee, assignment.course, done_day, last))
        for course, done_day in self._electives(employee, first):
            results.extend(self._attempts(employee, course, done_day, last))
        results.sort(key=lambda c: (c.completed, c.course.index))
        return tuple(results)

    def _electives(self, employee: int, first: int) -> list[tuple[Course, int]]:
        """Voluntary courses the learner completed before day 0, and the day of each."""
        seed, electives = self.company.seed, len(self.courses) - len(COMPLIANCE)
        done: list[tuple[Course, int]] = []
        if self.elective_completions is None:
            for n in range(stable_hash(seed, "electives", employee) % 5):
                h = stable_hash(seed, "elective", employee, n)
                course = self.courses[len(COMPLIANCE) + h % electives]
                done.append((course, first + 1 + (h >> 16) % max(1, -first)))
        else:
            # Electives in turn from a hashed start; a course comes round again only on a day
            # that gives its attempts (a pass, a failed try 3 days before) keys of their own.
            start = stable_hash(seed, "electives", employee)
            taken: set[tuple[int, int]] = set()
            for n in range(self.elective_completions):
                h = stable_hash(seed, "elective", employee, n)
                course = self.courses[len(COMPLIANCE) + (start + n) % electives]
                day = first + 1 + (h >> 16) % max(1, -first)
                days = {(course.index, day + shift) for shift in (-3, 0, 3)}
                if not days & taken:
                    taken |= days
                    done.append((course, day))
        return [(course, day) for course, day in done if day < 0]

    def _attempts(
        self, employee: int, course: Course, done_day: int, last: int
    ) -> list[Completion]:
        seed = self.company.seed
        h = stable_hash(seed, "attempt", employee, course.index, done_day)
        attempts = []
        if h % 20 == 0 and done_day - 3 <= last:  # a failed try a few days before passing
            attempts.append(self._completion(employee, course, done_day - 3, passed=False))
        if done_day <= last:
            attempts.append(self._completion(employee, course, done_day, passed=True))
        return attempts

    def _completion(
        self, employee: int, course: Course, done_day: int, *, passed: bool
    ) -> Completion:
        h = stable_hash(self.company.seed, "grade", employee, course.index, done_day)
        completed = self._moment(employee, course.index, done_day)
        return Completion(
            course=course,
            completed=completed,
            passed=passed,
            grade=70 + h % 31 if passed else 30 + h % 40,
            record_key=int(
                stable_hash(self.company.seed, "rec", employee, course.index, done_day) % 10**12
            ),
            last_updated=completed + (h >> 16) % 900,
        )

    def _certification_days(
        self, employee: int, course: Course, first: int, last: int
    ) -> list[int]:
        """Days the learner (re)certified: one completion per retraining period."""
        assert course.retraining_days is not None
        period, seed = course.retraining_days, self.company.seed
        h = stable_hash(seed, "cert", employee, course.index)
        start = first + 5 + h % 25  # new hires certify within their first month
        # The last pre-day-0 certification falls on a day spread over one period, so a
        # steady share of certifications expires on each simulated day.
        anchor = -1 - (h >> 12) % period
        if anchor >= start:  # a veteran: a few earlier certifications, one per period
            days = [anchor - period * k for k in (3, 2, 1) if anchor - period * k >= start]
            done = anchor
        else:
            days, done = [], start
        n = 0
        while done <= last:
            days.append(done)
            n += 1
            lag = stable_hash(seed, "renew", employee, course.index, n)
            # Renew up to 30 days early or up to 45 days late; a few learners lapse longer.
            delay = -30 + lag % 76 if lag % 12 else 120
            done += period + delay
        return days

    def _adhoc(self, employee: int, first: int, last: int) -> list[tuple[Assignment, int | None]]:
        """Assignments made by managers on random days, and the day each was completed."""
        seed, out = self.company.seed, []
        electives = len(self.courses) - len(COMPLIANCE)
        for day in range(max(first, -ASSIGNMENT_LOOKBACK_DAYS), last + 1):
            h = stable_hash(seed, "asg", employee, day)
            if h % 100:  # about one assignment per learner every hundred days
                continue
            course = self.courses[len(COMPLIANCE) + (h >> 8) % electives]
            assigned = day_start(day) + 7 * 3600 + (h >> 20) % 3600
            due = day + 14 + (h >> 32) % 47
            done: int | None = day + 1 + (h >> 40) % 75
            if (h >> 48) % 10 < 3:
                done = None  # never completed: stays on the plan, eventually overdue
            assignment = Assignment(
                course, assigned, day_start(due) + SECONDS_PER_DAY - 1, "MANAGER"
            )
            out.append((assignment, done if done is not None and done <= last else None))
        return out

    def assignments(self, employee: int, day: int) -> list[Assignment]:
        """Open items on the learner's plan at the end of ``day`` (required learning)."""
        span = self._learner_span(employee, day)
        if span is None or span[1] < day:  # leavers have no learning plan
            return []
        first, last = span
        today = day_start(day)
        items: list[Assignment] = []
        for course in self.courses[: len(COMPLIANCE)]:
            assert course.retraining_days is not None
            done = [d for d in self._certification_days(employee, course, first, last) if d <= day]
            if not done:
                assigned = day_start(first) + 9 * 3600
                items.append(
                    Assignment(
                        course, assigned, assigned + 30 * SECONDS_PER_DAY, "ASSIGNMENT_PROFILE"
                    )
                )
                continue
            expires = day_start(done[-1] + course.retraining_days)
            if today >= expires - RETRAINING_WINDOW_DAYS * SECONDS_PER_DAY:
                # Retraining: the certification is expiring (or has expired) and is due again.
                assigned = expires - RETRAINING_WINDOW_DAYS * SECONDS_PER_DAY + 9 * 3600
                items.append(Assignment(course, assigned, expires, "RETRAINING"))
        for assignment, done_day in self._adhoc(employee, first, last):
            if done_day is None and assignment.assigned <= today + SECONDS_PER_DAY:
                items.append(assignment)
        items.sort(key=lambda a: (a.required, a.course.index))
        return items
