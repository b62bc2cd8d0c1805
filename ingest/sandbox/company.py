"""The synthetic company behind all three APIs, deterministic in (seed, scale, day).

Records are never stored whole. Per-entity constants (names, hire dates, ...) are hashed
from (seed, index) on demand; what changes over days lives in compact columns (``array``)
rebuilt by replaying each day's events, so a 200,000-user company costs a few MB.
Each simulated day's events come from a RNG seeded by (seed, day) and touch only a small
share of the entities, so untouched records keep their old timestamps.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

from ingest.sandbox.clock import DAY0_EPOCH, SECONDS_PER_DAY, day_start, parse_iso

SCALES: dict[str, int] = {"small": 200, "medium": 5_000, "large": 200_000}
MIN_SALESFORCE_USERS = 50
# The org, its people and their accounts start long before day 0.
ORG_START_EPOCH = parse_iso("2015-01-01") or 0
EMPLOYEES_PER_SALESFORCE_USER = 1.2

DIVISIONS = ("North", "South", "East", "West", "Central")
AUDIT_PHASES = ("Phase1", "Phase2", "Phase3", "Complete")
AREAS = (
    ("COMM", "Commercial", ("Sales", "Marketing", "Customer Success", "Partnerships")),
    ("OPS", "Operations", ("Manufacturing", "Logistics", "Procurement", "Quality")),
    ("TECH", "Technology", ("Engineering", "IT Services", "Data", "Security")),
    ("CORP", "Corporate Services", ("Finance", "People", "Legal", "Facilities")),
)
TEAM_WORDS = (
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Delivery",
    "Platform",
    "Planning",
    "Support",
    "Programs",
    "Insights",
    "Field",
)
LOCATIONS = (
    "Berlin",
    "Chicago",
    "Dublin",
    "Lisbon",
    "Madrid",
    "Milan",
    "Paris",
    "Toronto",
    "Warsaw",
    "Zurich",
    "Austin",
    "Singapore",
)
HEAD_TITLES = ("Chief Executive Officer", "Vice President", "Director", "Manager", "Team Lead")
STAFF_TITLES = (
    "Analyst",
    "Senior Analyst",
    "Engineer",
    "Senior Engineer",
    "Specialist",
    "Coordinator",
    "Consultant",
    "Associate",
    "Accountant",
    "Technician",
    "Account Executive",
    "Designer",
    "Administrator",
    "Planner",
    "Buyer",
    "Recruiter",
    "Advisor",
    "Product Owner",
)
TITLES = HEAD_TITLES + STAFF_TITLES
FIRST_NAMES = (
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kara",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aditi",
    "Bruno",
    "Chloe",
    "Dario",
    "Emil",
    "Fatima",
    "Gil",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Lena",
    "Marco",
    "Nadia",
    "Oscar",
    "Priya",
    "Rafael",
    "Sofia",
    "Tomas",
    "Uma",
    "Viktor",
    "Wanda",
    "Yara",
    "Zaid",
)
LAST_NAMES = (
    "Berg",
    "Costa",
    "Diaz",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ulrich",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmer",
    "Andersen",
    "Bauer",
    "Chen",
    "Dubois",
    "Evans",
    "Ferreira",
    "Gruber",
    "Horvat",
    "Ito",
    "Jovanovic",
    "Keller",
    "Lopez",
    "Martin",
    "Nielsen",
    "Olsen",
    "Patel",
    "Ramos",
    "Schmidt",
    "Torres",
    "Vogel",
    "Wagner",
    "Young",
    "Ziegler",
    "Murphy",
    "Kelly",
    "Byrne",
    "Walsh",
    "Romano",
    "Conti",
    "Kaur",
    "Singh",
    "Sato",
    "Kim",
    "Park",
    "Nguyen",
)
COMPANY_DOMAIN = "larkspur.example"
CONTRACTOR_DOMAIN = "partners.example"


def stable_hash(*parts: object) -> int:
    """64-bit hash that is stable across processes (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def unit_interval(*parts: object) -> float:
    """Deterministic float in [0, 1) for (parts)."""
    return stable_hash(*parts) / 2**64


def resolve_scale(scale: str | int) -> int:
    """Number of Salesforce users for a named or explicit scale."""
    if isinstance(scale, bool):
        raise ValueError(f"scale must be a name or a number, not {scale!r}")
    if isinstance(scale, int):
        count = scale
    elif isinstance(scale, str) and scale.isdigit():
        count = int(scale)
    elif scale in SCALES:
        count = SCALES[scale]
    else:
        raise ValueError(f"unknown scale {scale!r}: use one of {sorted(SCALES)} or a number")
    if count < MIN_SALESFORCE_USERS:
        raise ValueError(f"scale must be at least {MIN_SALESFORCE_USERS} Salesforce users")
    return count


def person_name(index: int, salt: int, last_name_version: int = 0) -> tuple[str, str, int]:
    """(first, last, block) for a person; (first, last) repeats only every len*len people.

    A coprime stride makes each block of len(FIRST)*len(LAST) indexes a permutation of all
    name pairs, so ``block`` alone disambiguates e-mail addresses.
    """
    combos = len(FIRST_NAMES) * len(LAST_NAMES)
    block, rest = divmod(index, combos)
    pair = (rest * 7_919 + salt) % combos
    first, last = divmod(pair, len(LAST_NAMES))
    last = (last + 17 * last_name_version) % len(LAST_NAMES)
    return FIRST_NAMES[first], LAST_NAMES[last], block


def email_for(first: str, last: str, block: int, domain: str) -> str:
    suffix = "" if block == 0 else str(block + 1)
    return f"{first}.{last}{suffix}@{domain}".lower()


def _daily_count(rng: random.Random, population: int, rate: float) -> int:
    """How many of ``population`` an event with this daily ``rate`` touches today.

    The fraction of the expected count is rounded up by chance, so small companies see
    rare events on some days instead of never.
    """
    expected = population * rate
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _event_time(rng: random.Random, day: int) -> int:
    """A working-hours moment of ``day``: changes of day d carry times within day d."""
    return day_start(day) + 6 * 3600 + rng.randrange(12 * 3600)


# --------------------------------------------------------------------------- org chart


@dataclass(frozen=True)
class OrgChart:
    """The org-unit tree as created; moves over days are kept in :class:`OrgState`."""

    codes: tuple[str, ...]
    names: tuple[str, ...]
    levels: tuple[int, ...]
    areas: tuple[int, ...]  # index of the level-2 ancestor (the root's own index for root)
    parents: tuple[int, ...]  # initial parent index, -1 for the root
    leaves: tuple[int, ...]
    teams: tuple[int, ...]  # level-4 units: the subtrees a re-org moves
    functions_by_area: dict[int, tuple[int, ...]]
    created: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.codes)


def build_org_chart(seed: int, employees: int) -> OrgChart:
    """A tree of at least four levels: company, areas, functions, teams (some sub-teams)."""
    leaf_target = max(12, employees // 18)
    function_count = max(8, round(math.sqrt(leaf_target)))
    draft = _ChartDraft()
    # A unit's index, and so its code, is the order it was added in: keep this order.
    root = draft.add("Larkspur Industries", 1, -1, 0)
    area_units = [draft.add(name, 2, root, -1) for _code, name, _functions in AREAS]
    functions, functions_by_area = _add_functions(draft, area_units, function_count)
    teams = _add_teams(draft, seed, functions, leaf_target)
    _add_sub_teams(draft, teams)
    return draft.finish(seed, teams, functions_by_area)


@dataclass
class _ChartDraft:
    """The org chart's columns while units are still being added."""

    codes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)

    def add(self, name: str, level: int, parent: int, area: int) -> int:
        """Append a unit and return its index; ``area`` -1 makes the unit its own area."""
        index = len(self.codes)
        self.codes.append(f"D{10000 + index}")
        self.names.append(name)
        self.levels.append(level)
        self.parents.append(parent)
        self.areas.append(index if area < 0 else area)
        return index

    def finish(
        self, seed: int, teams: list[int], functions_by_area: dict[int, list[int]]
    ) -> OrgChart:
        has_children = set(self.parents)
        leaves = tuple(u for u in range(len(self.codes)) if u not in has_children)
        span = DAY0_EPOCH - ORG_START_EPOCH
        created = tuple(
            ORG_START_EPOCH + stable_hash(seed, "unit-created", u) % span
            for u in range(len(self.codes))
        )
        return OrgChart(
            codes=tuple(self.codes),
            names=tuple(self.names),
            levels=tuple(self.levels),
            areas=tuple(self.areas),
            parents=tuple(self.parents),
            leaves=leaves,
            teams=tuple(teams),
            functions_by_area={a: tuple(f) for a, f in functions_by_area.items()},
            created=created,
        )


def _add_functions(
    draft: _ChartDraft, area_units: list[int], count: int
) -> tuple[list[int], dict[int, list[int]]]:
    """Functions dealt round the areas; once an area's names run out they repeat, numbered."""
    functions_by_area: dict[int, list[int]] = {a: [] for a in area_units}
    functions: list[int] = []
    for n in range(count):
        area_pos = n % len(AREAS)
        area_unit = area_units[area_pos]
        base = AREAS[area_pos][2][(n // len(AREAS)) % len(AREAS[area_pos][2])]
        round_no = n // (len(AREAS) * len(AREAS[area_pos][2]))
        name = base if round_no == 0 else f"{base} {round_no + 1}"
        unit = draft.add(name, 3, area_unit, area_unit)
        functions.append(unit)
        functions_by_area[area_unit].append(unit)
    return functions, functions_by_area


def _add_teams(draft: _ChartDraft, seed: int, functions: list[int], count: int) -> list[int]:
    """Teams dealt round the functions, each named after its function and a seeded word."""
    teams: list[int] = []
    for n in range(count):
        function = functions[n % len(functions)]
        word = TEAM_WORDS[stable_hash(seed, "team", n) % len(TEAM_WORDS)]
        name = f"{draft.names[function]} {word} {n + 1}"
        teams.append(draft.add(name, 4, function, draft.areas[function]))
    return teams


def _add_sub_teams(draft: _ChartDraft, teams: list[int]) -> None:
    """Every fifth team is split into sub-teams A and B: a fifth level."""
    for n, team in enumerate(teams):
        if n % 5 == 0:
            for sub in ("A", "B"):
                draft.add(f"{draft.names[team]}{sub}", 5, team, draft.areas[team])


@dataclass
class Segment:
    """One effective-dated version of an org unit: valid from ``start`` (a day's 00:00)."""

    start: int
    parent: int
    last_modified: int


@dataclass
class OrgState:
    parents: list[int]
    moved: dict[int, list[Segment]] = field(default_factory=dict)

    def segments(self, chart: OrgChart, unit: int) -> list[Segment]:
        if unit in self.moved:
            return self.moved[unit]
        return [Segment(ORG_START_EPOCH, chart.parents[unit], chart.created[unit])]

    def copy(self) -> OrgState:
        moved = {
            u: [Segment(s.start, s.parent, s.last_modified) for s in segs]
            for u, segs in self.moved.items()
        }
        return OrgState(parents=list(self.parents), moved=moved)


# --------------------------------------------------------------------------- columns


@dataclass
class EmployeeColumns:
    """What changes about employees; index = employee number (hires are appended)."""

    unit: array
    location: array
    title: array
    active: array
    hired: array
    ended: array  # termination time, 0 while employed
    last_modified: array

    def copy(self) -> EmployeeColumns:
        return EmployeeColumns(*(array(col.typecode, col) for col in self.columns()))

    def columns(self) -> tuple[array, ...]:
        return (
            self.unit,
            self.location,
            self.title,
            self.active,
            self.hired,
            self.ended,
            self.last_modified,
        )

    @property
    def count(self) -> int:
        return len(self.unit)


@dataclass
class SalesforceColumns:
    division: array
    phase: array
    title: array
    name_version: array
    active: array
    last_modified: array
    system_modstamp: array

    def copy(self) -> SalesforceColumns:
        return SalesforceColumns(*(array(col.typecode, col) for col in self.columns()))

    def columns(self) -> tuple[array, ...]:
        return (
            self.division,
            self.phase,
            self.title,
            self.name_version,
            self.active,
            self.last_modified,
            self.system_modstamp,
        )


@dataclass
class DayState:
    day: int
    org: OrgState
    employees: EmployeeColumns
    salesforce: SalesforceColumns

    def copy(self) -> DayState:
        return DayState(self.day, self.org.copy(), self.employees.copy(), self.salesforce.copy())


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Employee:
    index: int
    user_id: str
    username: str
    first_name: str
    last_name: str
    email: str
    unit: int
    department: str
    division: str
    location: str
    title: str
    active: bool
    hired: int
    ended: int
    last_modified: int
    manager: int | None


@dataclass(frozen=True)
class SalesforceUser:
    index: int
    kind: str  # "employee" | "contractor" | "duplicate"
    employee: int | None
    first_name: str
    last_name: str
    username: str
    email: str
    federation_id: str
    employee_number: str | None
    title: str
    department: str
    division: str
    phase: str
    active: bool
    manager: int | None
    created: int
    last_modified: int
    system_modstamp: int


@dataclass(frozen=True)
class OrgUnit:
    index: int
    code: str
    name: str
    level: int
    parent: int
    head: int  # employee index
    start: int
    end: int | None  # None = open-ended
    last_modified: int


# --------------------------------------------------------------------------- company


class Company:
    """Everything about the synthetic company at any simulated day."""

    def __init__(self, seed: int, scale: str | int) -> None:
        self.seed = seed
        self.salesforce_users = resolve_scale(scale)
        self.initial_employees = round(self.salesforce_users * EMPLOYEES_PER_SALESFORCE_USER)
        self.chart = build_org_chart(seed, self.initial_employees)
        n = self.salesforce_users
        self.duplicate_users = max(1, n // 100)
        self.contractor_users = max(1, round(n * 0.06))
        self.mapped_users = n - self.duplicate_users - self.contractor_users
        self._lock = threading.Lock()
        self._states: OrderedDict[int, DayState] = OrderedDict()
        self._day0: DayState | None = None

    # ---- days

    def state(self, day: int) -> DayState:
        """Columns as of the end of ``day``; recent days are cached, others replayed."""
        if day < 0:
            raise ValueError("day must be >= 0")
        with self._lock:
            if day in self._states:
                self._states.move_to_end(day)
                return self._states[day]
            if self._day0 is None:
                self._day0 = self._initial_state()
            start = max((d for d in self._states if d < day), default=0)
            state = self._states.get(start, self._day0)
            for d in range(state.day + 1, day + 1):
                state = state.copy()
                state.day = d
                self._apply_day(state, d)
            self._states[day] = state
            while len(self._states) > 6:
                self._states.popitem(last=False)
            return state

    def _initial_state(self) -> DayState:
        org = OrgState(parents=list(self.chart.parents))
        employees = self._initial_employees()
        return DayState(0, org, employees, self._initial_salesforce(employees))

    def _initial_employees(self) -> EmployeeColumns:
        """Day 0's staff: the first ``chart.size`` head their unit, the rest sit in leaves."""
        chart, seed = self.chart, self.seed
        employees = EmployeeColumns(
            array("i"), array("b"), array("b"), array("b"), array("q"), array("q"), array("q")
        )
        heads = chart.size
        for i in range(self.initial_employees):
            h = stable_hash(seed, "emp", i)
            if i < heads:
                unit = i
                years = 4 + h % 10
                title = chart.levels[i] - 1
            else:
                unit = chart.leaves[h % len(chart.leaves)]
                years = (h >> 8) % 15
                title = len(HEAD_TITLES) + (h >> 16) % len(STAFF_TITLES)
            hired_day = -30 - years * 365 - (h >> 24) % 365
            hired = day_start(hired_day)
            last_modified = hired + (h >> 32) % (DAY0_EPOCH - hired - 3600)
            active = 0 if i >= heads and (h >> 40) % 100 < 4 else 1
            employees.unit.append(unit)
            employees.location.append((h >> 48) % len(LOCATIONS))
            employees.title.append(title)
            employees.active.append(active)
            employees.hired.append(hired)
            employees.ended.append(0 if active else last_modified)
            employees.last_modified.append(last_modified)
        return employees

    def _initial_salesforce(self, employees: EmployeeColumns) -> SalesforceColumns:
        """Day 0's Salesforce accounts; those of employees (and duplicates) take their title."""
        sf = SalesforceColumns(
            array("b"), array("b"), array("b"), array("b"), array("b"), array("q"), array("q")
        )
        for j in range(self.salesforce_users):
            h = stable_hash(self.seed, "sfu", j)
            created = self._salesforce_created(j, employees)
            last_modified = created + h % max(1, DAY0_EPOCH - created - 7200)
            system_modstamp = (
                last_modified + (h >> 20) % 3600 if (h >> 16) % 5 == 0 else last_modified
            )
            kind, employee = self.salesforce_kind(j)
            if kind == "employee":
                active = employees.active[employee] if (h >> 24) % 50 else 0
                title = employees.title[employee]
            elif kind == "duplicate":
                active = 1 if (h >> 24) % 5 == 0 else 0
                title = employees.title[employee]
            else:
                active = 1 if (h >> 24) % 10 else 0
                title = len(HEAD_TITLES) + TITLES[len(HEAD_TITLES) :].index("Consultant")
            phase_roll = (h >> 32) % 10
            sf.division.append((h >> 40) % len(DIVISIONS))
            sf.phase.append(
                0 if phase_roll < 4 else 1 if phase_roll < 7 else 2 if phase_roll < 9 else 3
            )
            sf.title.append(title)
            sf.name_version.append(0)
            sf.active.append(active)
            sf.last_modified.append(last_modified)
            sf.system_modstamp.append(system_modstamp)
        return sf

    def _salesforce_created(self, j: int, employees: EmployeeColumns) -> int:
        _kind, employee = self.salesforce_kind(j)
        h = stable_hash(self.seed, "sfu-created", j)
        if employee is not None:
            start = max(employees.hired[employee], ORG_START_EPOCH)
        else:
            start = DAY0_EPOCH - 3 * 365 * SECONDS_PER_DAY
        return start + h % max(1, DAY0_EPOCH - start - 86_400)

    def _apply_day(self, state: DayState, day: int) -> None:
        self._apply_org_day(state, day)
        self._apply_employee_day(state, day)
        self._apply_salesforce_day(state, day)

    def _apply_org_day(self, state: DayState, day: int) -> None:
        """One re-org a day: a team (with its sub-teams) moves under another function."""
        chart, org = self.chart, state.org
        rng = random.Random(f"{self.seed}/org/{day}")
        team = rng.choice(chart.teams)
        candidates = [
            f for f in chart.functions_by_area[chart.areas[team]] if f != org.parents[team]
        ]
        if not candidates:
            return
        new_parent = rng.choice(candidates)
        moment = _event_time(rng, day)
        segments = org.segments(chart, team)
        segments = [Segment(s.start, s.parent, s.last_modified) for s in segments]
        segments[-1].last_modified = moment  # its end date changes, so it is modified too
        segments.append(Segment(day_start(day), new_parent, moment))
        org.moved[team] = segments
        org.parents[team] = new_parent
        # The team head now reports to another function head: the head's record changes.
        self._touch(state.employees, team, moment)

    @staticmethod
    def _touch(cols: EmployeeColumns | SalesforceColumns, index: int, moment: int) -> None:
        if cols.last_modified[index] < moment:
            cols.last_modified[index] = moment
        if isinstance(cols, SalesforceColumns) and cols.system_modstamp[index] < moment:
            cols.system_modstamp[index] = moment

    def _apply_employee_day(self, state: DayState, day: int) -> None:
        """A day's moves, relocations, new titles and leavers, with as many hires as leavers."""
        cols, chart = state.employees, self.chart
        rng = random.Random(f"{self.seed}/ec/{day}")
        n, heads = cols.count, chart.size

        def pick_active() -> int | None:
            for _ in range(25):
                i = rng.randrange(heads, n)
                if cols.active[i]:
                    return i
            return None

        for _ in range(max(1, _daily_count(rng, n, 0.004))):  # department moves: new managers
            i = pick_active()
            leaf = rng.choice(chart.leaves)
            if i is not None and cols.unit[i] != leaf:
                cols.unit[i] = leaf
                self._touch(cols, i, _event_time(rng, day))
        for _ in range(max(1, _daily_count(rng, n, 0.003))):  # relocations
            i = pick_active()
            if i is not None:
                cols.location[i] = (cols.location[i] + 1 + rng.randrange(len(LOCATIONS) - 1)) % len(
                    LOCATIONS
                )
                self._touch(cols, i, _event_time(rng, day))
        for _ in range(_daily_count(rng, n, 0.002)):  # promotions and title changes
            i = pick_active()
            if i is not None:
                cols.title[i] = len(HEAD_TITLES) + rng.randrange(len(STAFF_TITLES))
                self._touch(cols, i, _event_time(rng, day))
        leavers = max(1, _daily_count(rng, n, 0.0015))
        for _ in range(leavers):  # terminations
            i = pick_active()
            if i is not None:
                moment = _event_time(rng, day)
                cols.active[i] = 0
                cols.ended[i] = moment
                self._touch(cols, i, moment)
        for _ in range(leavers):  # hires keep head count roughly level
            self._hire(cols, rng, day)

    def _hire(self, cols: EmployeeColumns, rng: random.Random, day: int) -> None:
        """Append a new employee, hired at the start of ``day``, in a random leaf unit."""
        moment = _event_time(rng, day)
        cols.unit.append(rng.choice(self.chart.leaves))
        cols.location.append(rng.randrange(len(LOCATIONS)))
        cols.title.append(len(HEAD_TITLES) + rng.randrange(len(STAFF_TITLES)))
        cols.active.append(1)
        cols.hired.append(day_start(day))
        cols.ended.append(0)
        cols.last_modified.append(moment)

    def _apply_salesforce_day(self, state: DayState, day: int) -> None:
        cols, n = state.salesforce, self.salesforce_users
        rng = random.Random(f"{self.seed}/sf/{day}")

        def count(rate: float, minimum: int = 1) -> int:
            return max(minimum, _daily_count(rng, n, rate))

        for _ in range(count(0.01)):  # tracked changes: Division or Audit_Phase__c
            j = rng.randrange(n)
            if rng.random() < 0.5 or cols.phase[j] == len(AUDIT_PHASES) - 1:
                cols.division[j] = (cols.division[j] + 1 + rng.randrange(len(DIVISIONS) - 1)) % len(
                    DIVISIONS
                )
            else:
                cols.phase[j] += 1
            self._touch(cols, j, _event_time(rng, day))
        for _ in range(count(0.005)):  # untracked changes only: Title or LastName
            j = rng.randrange(n)
            if rng.random() < 0.5:
                cols.title[j] = len(HEAD_TITLES) + rng.randrange(len(STAFF_TITLES))
            else:
                cols.name_version[j] = (cols.name_version[j] + 1) % 100
            self._touch(cols, j, _event_time(rng, day))
        for _ in range(count(0.002)):  # deactivations
            j = rng.randrange(n)
            if cols.active[j]:
                cols.active[j] = 0
                self._touch(cols, j, _event_time(rng, day))
        for _ in range(count(0.001, minimum=0) + (1 if day % 2 == 0 else 0)):  # reactivations
            for _attempt in range(25):
                j = rng.randrange(n)
                if not cols.active[j]:
                    cols.active[j] = 1
                    self._touch(cols, j, _event_time(rng, day))
                    break
        for _ in range(count(0.003)):  # system-only updates move SystemModstamp alone
            j = rng.randrange(n)
            moment = _event_time(rng, day)
            if cols.system_modstamp[j] < moment:
                cols.system_modstamp[j] = moment

    # ---- org units

    def head_of(self, unit: int) -> int:
        """Heads are the first employees, one per unit; they neither move nor leave."""
        return unit

    def manager_of(self, employee: int, unit: int, org: OrgState) -> int | None:
        if employee < self.chart.size and employee == unit:
            parent = org.parents[unit]
            return None if parent < 0 else self.head_of(parent)
        return self.head_of(unit)

    def org_units(self, day: int, window: tuple[int, int] | None) -> list[OrgUnit]:
        """Unit segments overlapping ``window`` (start, end epochs), or valid at day's date."""
        state, chart = self.state(day), self.chart
        lo, hi = window if window else (day_start(day), day_start(day))
        units: list[OrgUnit] = []
        for u in range(chart.size):
            segments = state.org.segments(chart, u)
            for n, seg in enumerate(segments):
                end = segments[n + 1].start - SECONDS_PER_DAY if n + 1 < len(segments) else None
                if seg.start <= hi and (end is None or end >= lo):
                    units.append(
                        OrgUnit(
                            u,
                            chart.codes[u],
                            chart.names[u],
                            chart.levels[u],
                            seg.parent,
                            self.head_of(u),
                            seg.start,
                            end,
                            seg.last_modified,
                        )
                    )
        return units

    # ---- employees

    def employee_count(self, day: int) -> int:
        return self.state(day).employees.count

    def user_id(self, employee: int) -> str:
        return str(100000 + employee)

    def employee_index(self, user_id: str) -> int | None:
        if not user_id.isdigit():
            return None
        index = int(user_id) - 100000
        return index if index >= 0 else None

    def employee(self, index: int, day: int) -> Employee:
        state = self.state(day)
        cols, chart = state.employees, self.chart
        first, last, block = person_name(index, self.seed)
        email = email_for(first, last, block, COMPANY_DOMAIN)
        unit = cols.unit[index]
        return Employee(
            index=index,
            user_id=self.user_id(index),
            username=email.split("@")[0],
            first_name=first,
            last_name=last,
            email=email,
            unit=unit,
            department=chart.codes[unit],
            division=AREAS[self._area_position(unit)][0],
            location=LOCATIONS[cols.location[index]],
            title=TITLES[cols.title[index]],
            active=bool(cols.active[index]),
            hired=cols.hired[index],
            ended=cols.ended[index],
            last_modified=cols.last_modified[index],
            manager=self.manager_of(index, unit, state.org),
        )

    def _area_position(self, unit: int) -> int:
        area_unit = self.chart.areas[unit]  # units 1..4 are the areas; the root counts as CORP
        return len(AREAS) - 1 if area_unit == 0 else area_unit - 1

    # ---- salesforce users

    def salesforce_kind(self, j: int) -> tuple[str, int | None]:
        if j < self.mapped_users:
            return "employee", j
        if j < self.mapped_users + self.contractor_users:
            return "contractor", None
        return "duplicate", stable_hash(self.seed, "dup", j) % self.mapped_users

    def salesforce_user(self, j: int, day: int) -> SalesforceUser:
        cols = self.state(day).salesforce
        kind, employee = self.salesforce_kind(j)
        h = stable_hash(self.seed, "sfu-id", j)
        version = cols.name_version[j]
        if employee is not None:
            account = self._employee_account(employee, version)
        else:
            account = self._contractor_account(j, version, h)
        account = _with_account_quirks(account, kind, h)
        return SalesforceUser(
            index=j,
            kind=kind,
            employee=employee,
            first_name=account.first_name,
            last_name=account.last_name,
            username=account.username,
            email=account.email,
            federation_id=account.federation_id,
            employee_number=account.employee_number,
            title=TITLES[cols.title[j]],
            department=account.department,
            division=DIVISIONS[cols.division[j]],
            phase=AUDIT_PHASES[cols.phase[j]],
            active=bool(cols.active[j]),
            manager=account.manager,
            created=self._salesforce_created(j, self._day0_employees()),
            last_modified=cols.last_modified[j],
            system_modstamp=cols.system_modstamp[j],
        )

    def _employee_account(self, employee: int, name_version: int) -> _Account:
        """An employee's account as it was made: day 0's department and manager."""
        first, last, block = person_name(employee, self.seed)
        email = email_for(first, last, block, COMPANY_DOMAIN)
        if name_version:  # a renamed person keeps the address made from the old name
            last = person_name(employee, self.seed, name_version)[1]
        unit = self._day0_employees().unit[employee]
        return _Account(
            first_name=first,
            last_name=last,
            email=email,
            username=email,
            federation_id=email,
            employee_number=self.user_id(employee),
            department=self.chart.names[unit],
            manager=self._manager_at_day0(employee, unit),
        )

    def _manager_at_day0(self, employee: int, unit: int) -> int | None:
        """Salesforce managers were set when the account was made and are not synced."""
        if employee < self.chart.size and employee == unit:
            parent = self.chart.parents[unit]
            return None if parent < 0 else self.head_of(parent)
        return self.head_of(unit)

    def _contractor_account(self, j: int, name_version: int, h: int) -> _Account:
        """A contractor: no employee behind it, a partner's address, a manager in a leaf."""
        first, last, block = person_name(j, self.seed + 1, name_version)
        email = email_for(first, last, block, CONTRACTOR_DOMAIN)
        leaves = self.chart.leaves
        return _Account(
            first_name=first,
            last_name=last,
            email=email,
            username=email,
            federation_id=email,
            employee_number=None,
            department="External",
            manager=self.head_of(leaves[h % len(leaves)]),
        )

    def _day0_employees(self) -> EmployeeColumns:
        if self._day0 is None:
            self.state(0)
        assert self._day0 is not None
        return self._day0.employees


class _Account(NamedTuple):
    """Who a Salesforce account names, before the quirks of :func:`_with_account_quirks`."""

    first_name: str
    last_name: str
    email: str
    username: str
    federation_id: str
    employee_number: str | None
    department: str
    manager: int | None


def _with_account_quirks(account: _Account, kind: str, h: int) -> _Account:
    """The untidiness of real accounts a loader has to match through, picked by hash."""
    if kind == "employee":
        roll = (h >> 8) % 100
        if roll < 3:  # mixed-case addresses: case-insensitive matching needed
            local, domain = account.email.split("@")
            email = local.title() + "@" + domain.title()
            return account._replace(email=email, federation_id=email)
        if roll < 5:  # account created without an employee number
            return account._replace(employee_number=None)
    elif kind == "duplicate":  # a second, usually stale account for the same person
        local, domain = account.email.split("@")
        return account._replace(username=f"{local}+{1 + (h >> 16) % 3}@{domain}")
    return account
