"""A parser for the SOQL subset an extractor uses on one object.

``SELECT f1, f2 FROM User [WHERE ...] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]`` where conditions combine ``= != <> < <= > >= LIKE IN NOT IN`` with
AND, OR, NOT and parentheses. Datetime literals are unquoted, as in real SOQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.sandbox.clock import parse_iso


class SoqlError(ValueError):
    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Literal:
    kind: str  # string | datetime | date | number | boolean | null
    value: object
    text: str


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    literal: Literal


@dataclass(frozen=True)
class InList:
    field: str
    literals: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # and | or | not
    parts: tuple[Condition, ...]


Condition = Comparison | InList | BoolOp


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: Condition | None
    order_by: tuple[OrderKey, ...]
    limit: int | None
    offset: int | None


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>!=|<>|<=|>=|=|<|>|,|\(|\))
  )""",
    re.VERBOSE,
)
KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "order",
    "by",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "limit",
    "offset",
    "in",
    "like",
    "true",
    "false",
    "null",
}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos:].split()[0]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def is_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "ident" and token[1].lower() == word

    def take_keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            found = self.peek()
            text = found[1] if found else "<end of query>"
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{text}' (expected {word.upper()})"
            )
        self.pos += 1

    def take(self, kind: str, value: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{token[1] if token else '<end of query>'}'"
            )
        self.pos += 1
        return token[1]

    def identifier(self) -> str:
        token = self.peek()
        if token is None or token[0] != "ident" or token[1].lower() in KEYWORDS:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{token[1] if token else '<end of query>'}'"
            )
        self.pos += 1
        return token[1]

    def query(self) -> Query:
        self.take_keyword("select")
        fields = [self.identifier()]
        while self.peek() == ("punct", ","):
            self.pos += 1
            fields.append(self.identifier())
        self.take_keyword("from")
        sobject = self.identifier()
        where = None
        if self.is_keyword("where"):
            self.pos += 1
            where = self.condition()
        order: list[OrderKey] = []
        if self.is_keyword("order"):
            self.pos += 1
            self.take_keyword("by")
            order.append(self.order_key())
            while self.peek() == ("punct", ","):
                self.pos += 1
                order.append(self.order_key())
        limit = offset = None
        if self.is_keyword("limit"):
            self.pos += 1
            limit = int(self.take("number"))
        if self.is_keyword("offset"):
            self.pos += 1
            offset = int(self.take("number"))
        if self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")  # type: ignore[index]
        return Query(tuple(fields), sobject, where, tuple(order), limit, offset)

    def order_key(self) -> OrderKey:
        name = self.identifier()
        descending = False
        if self.is_keyword("asc") or self.is_keyword("desc"):
            descending = self.tokens[self.pos][1].lower() == "desc"
            self.pos += 1
        nulls_last = descending  # SOQL: nulls first ascending, last descending
        if self.is_keyword("nulls"):
            self.pos += 1
            if self.is_keyword("first") or self.is_keyword("last"):
                nulls_last = self.tokens[self.pos][1].lower() == "last"
                self.pos += 1
            else:
                raise SoqlError("MALFORMED_QUERY", "expected FIRST or LAST after NULLS")
        return OrderKey(name, descending, nulls_last)

    def condition(self) -> Condition:
        parts = [self.conjunction()]
        while self.is_keyword("or"):
            self.pos += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("or", tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.negation()]
        while self.is_keyword("and"):
            self.pos += 1
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else BoolOp("and", tuple(parts))

    def negation(self) -> Condition:
        if self.is_keyword("not"):
            self.pos += 1
            return BoolOp("not", (self.negation(),))
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.condition()
            self.take("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        name = self.identifier()
        negated = False
        if self.is_keyword("not"):
            self.pos += 1
            negated = True
            if not self.is_keyword("in"):
                raise SoqlError("MALFORMED_QUERY", "expected IN after NOT")
        if self.is_keyword("in"):
            self.pos += 1
            self.take("punct", "(")
            values = [self.literal()]
            while self.peek() == ("punct", ","):
                self.pos += 1
                values.append(self.literal())
            self.take("punct", ")")
            return InList(name, tuple(values), negated)
        if self.is_keyword("like"):
            self.pos += 1
            return Comparison(name, "like", self.literal())
        token = self.peek()
        if token is None or token[0] != "punct" or token[1] in {",", "(", ")"}:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{token[1] if token else '<end of query>'}'"
            )
        self.pos += 1
        return Comparison(name, "!=" if token[1] == "<>" else token[1], self.literal())

    def literal(self) -> Literal:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        kind, text = token
        self.pos += 1
        if kind == "string":
            return Literal("string", re.sub(r"\\(.)", r"\1", text[1:-1]), text)
        if kind in ("datetime", "date"):
            epoch = parse_iso(text)
            if epoch is None:
                raise SoqlError("MALFORMED_QUERY", f"invalid date or datetime: {text}")
            return Literal(kind, epoch, text)
        if kind == "number":
            return Literal("number", float(text), text)
        if kind == "ident" and text.lower() in ("true", "false"):
            return Literal("boolean", text.lower() == "true", text)
        if kind == "ident" and text.lower() == "null":
            return Literal("null", None, text)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")


def parse_soql(text: str) -> Query:
    """Parse a SOQL query or raise :class:`SoqlError` (``MALFORMED_QUERY``)."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "query is empty")
    return _Parser(text).query()
