"""``$filter`` expressions of OData v2/v4 as the SAP services accept them.

Comparisons ``eq ne gt ge lt le`` on property paths (``manager/userId``, ``criteria/
targetUserID``), SuccessFactors' ``status in 't','f'`` list form (with or without
parentheses), ``and``/``or``/``not`` and parentheses. Literals: ``'text'`` (``''``
escapes a quote), ``datetimeoffset'...'``, ``datetime'...'``, numbers, true/false/null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.sandbox.clock import parse_iso


class ODataFilterError(ValueError):
    pass


@dataclass(frozen=True)
class Lit:
    kind: str  # string | datetime | number | boolean | null
    value: Any


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    literal: Lit


@dataclass(frozen=True)
class Member:
    path: str
    literals: tuple[Lit, ...]


@dataclass(frozen=True)
class Logic:
    op: str  # and | or | not
    parts: tuple[Expr, ...]


Expr = Compare | Member | Logic
OPERATORS = {"eq", "ne", "gt", "ge", "lt", "le"}

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<dt>(?:datetimeoffset|datetime)'[^']*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?[LMDdmf]?)
  | (?P<path>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),])
  )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataFilterError(f"invalid $filter near: {text[pos : pos + 30]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "path" and token[1].lower() == word

    def fail(self) -> ODataFilterError:
        token = self.peek()
        return ODataFilterError(f"invalid $filter at {token[1] if token else 'end'!r}")

    def parse(self) -> Expr:
        expr = self.disjunction()
        if self.peek() is not None:
            raise self.fail()
        return expr

    def disjunction(self) -> Expr:
        parts = [self.conjunction()]
        while self.word("or"):
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logic("or", tuple(parts))

    def conjunction(self) -> Expr:
        parts = [self.unary()]
        while self.word("and"):
            self.pos += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Logic("and", tuple(parts))

    def unary(self) -> Expr:
        if self.word("not"):
            self.pos += 1
            return Logic("not", (self.unary(),))
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.disjunction()
            if self.peek() != ("punct", ")"):
                raise self.fail()
            self.pos += 1
            return inner
        return self.comparison()

    def comparison(self) -> Expr:
        token = self.peek()
        if token is None or token[0] != "path":
            raise self.fail()
        path = token[1]
        self.pos += 1
        if self.word("in"):
            self.pos += 1
            wrapped = self.peek() == ("punct", "(")
            if wrapped:
                self.pos += 1
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.pos += 1
                values.append(self.literal())
            if wrapped:
                if self.peek() != ("punct", ")"):
                    raise self.fail()
                self.pos += 1
            return Member(path, tuple(values))
        op = self.peek()
        if op is None or op[0] != "path" or op[1].lower() not in OPERATORS:
            raise self.fail()
        self.pos += 1
        return Compare(path, op[1].lower(), self.literal())

    def literal(self) -> Lit:
        token = self.peek()
        if token is None:
            raise self.fail()
        kind, text = token
        self.pos += 1
        if kind == "string":
            return Lit("string", text[1:-1].replace("''", "'"))
        if kind == "dt":
            epoch = parse_iso(text[text.index("'") + 1 : -1])
            if epoch is None:
                raise ODataFilterError(f"invalid date literal {text}")
            return Lit("datetime", epoch)
        if kind == "number":
            return Lit("number", float(text.rstrip("LMDdmf")))
        if kind == "path" and text.lower() in ("true", "false"):
            return Lit("boolean", text.lower() == "true")
        if kind == "path" and text.lower() == "null":
            return Lit("null", None)
        self.pos -= 1
        raise self.fail()


def parse_filter(text: str) -> Expr:
    """Parse a ``$filter`` value or raise :class:`ODataFilterError`."""
    return _Parser(text).parse()


def paths(expr: Expr) -> set[str]:
    """Every property path the expression mentions."""
    if isinstance(expr, Logic):
        return set().union(*(paths(p) for p in expr.parts))
    return {expr.path}


def equalities(expr: Expr) -> dict[str, Any]:
    """``path eq value`` terms joined by ``and`` (how Learning passes its criteria)."""
    if isinstance(expr, Compare) and expr.op == "eq":
        return {expr.path: expr.literal.value}
    if isinstance(expr, Logic) and expr.op == "and":
        merged: dict[str, Any] = {}
        for part in expr.parts:
            merged.update(equalities(part))
        return merged
    return {}


def evaluate(expr: Expr, value_of: Callable[[str], Any]) -> bool:
    """Whether a row matches; ``value_of(path)`` gives the row's (typed) value."""
    if isinstance(expr, Logic):
        if expr.op == "and":
            return all(evaluate(p, value_of) for p in expr.parts)
        if expr.op == "or":
            return any(evaluate(p, value_of) for p in expr.parts)
        return not evaluate(expr.parts[0], value_of)
    value = value_of(expr.path)
    if isinstance(expr, Member):
        return any(value == lit.value for lit in expr.literals)
    target = expr.literal.value
    if expr.op == "eq":
        return value == target
    if expr.op == "ne":
        return value != target
    if value is None or target is None:
        return False
    try:
        return {
            "gt": value > target,
            "ge": value >= target,
            "lt": value < target,
            "le": value <= target,
        }[expr.op]
    except TypeError as exc:
        raise ODataFilterError(f"cannot compare {expr.path} with {target!r}") from exc
