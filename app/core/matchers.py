"""Alertmanager label matchers: parse, render and evaluate them, with Alertmanager's semantics.

The syntax is the "classic" matcher syntax of Alertmanager 0.25 (``labels.ParseMatchers``),
which is what Debian ships and what pasted Alertmanager configs use:

* a matcher is ``<label name> <op> <value>`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``;
  whitespace is allowed around each token; the label name matches
  ``[a-zA-Z_:][a-zA-Z0-9_:]*``;
* the value may be double-quoted; inside it ``\\"``, ``\\\\`` and ``\\n`` are escapes, any
  other backslash is literal; an empty value (``job=``) is the empty string;
* a list is comma-separated (commas inside quotes do not separate), optionally wrapped in
  ``{`` ... ``}`` and may end with a comma.

Evaluation: a missing label is the empty string, so ``foo=""`` matches alerts without ``foo``,
``foo!=""`` requires it and ``foo=~".*"`` matches its absence. Regular expressions use Go RE2
syntax, anchored like Alertmanager anchors them (the Go pattern ``^(?:<value>)$``), and run by
RE2 (:mod:`app.core.goregex`) in time linear in the label value; a pattern Go would not compile
is rejected with :class:`MatcherError`.

No I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.core.goregex import GoRegex, RegexError, compile_anchored

__all__ = [
    "MatchOp",
    "Matcher",
    "MatcherError",
    "format_matchers",
    "matchers_from_legacy",
    "matches_all",
    "parse_matcher",
    "parse_matchers",
]


class MatcherError(ValueError):
    """A matcher that cannot be parsed or compiled.

    ``reason`` says what is wrong, ``text`` is the input that was being read and ``position``
    the 0-based character offset in ``text`` where the problem is (``None`` if unknown).
    """

    def __init__(self, reason: str, text: str = "", position: int | None = None) -> None:
        self.reason = reason
        self.text = text
        self.position = position
        message = reason
        if position is not None:
            message += f" at position {position}"
        if text:
            message += f" in {text!r}"
        super().__init__(message)


class MatchOp(enum.StrEnum):
    """The four matcher operators, valued as they are written."""

    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label matcher. ``regex`` is the compiled, anchored pattern of ``=~``/``!~``."""

    name: str
    op: MatchOp
    value: str
    regex: GoRegex | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            op = MatchOp(self.op)
        except ValueError:
            raise MatcherError(f"unknown matcher operator {self.op!r}") from None
        object.__setattr__(self, "op", op)
        regex: GoRegex | None = None
        if op in (MatchOp.RE, MatchOp.NRE):
            try:
                regex = compile_anchored(self.value)
            except RegexError as exc:
                raise MatcherError(
                    f"invalid regular expression: {exc.reason}", self.value, exc.position
                ) from None
        object.__setattr__(self, "regex", regex)

    def matches_value(self, value: str) -> bool:
        """Whether a label value satisfies this matcher (absent labels are ``""``)."""
        if self.op is MatchOp.EQ:
            return value == self.value
        if self.op is MatchOp.NE:
            return value != self.value
        assert self.regex is not None
        found = self.regex.matches(value)
        return found if self.op is MatchOp.RE else not found

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels satisfies this matcher."""
        return self.matches_value(labels.get(self.name, ""))

    def __str__(self) -> str:
        return f'{self.name}{self.op.value}"{self.value.translate(_ESCAPES)}"'


# Alertmanager renders values with OpenMetrics escaping: only \, newline and " are escaped.
_ESCAPES = {ord("\\"): "\\\\", ord("\n"): "\\n", ord('"'): '\\"'}


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """The canonical ``{a="b",c=~"d"}`` form of a list of matchers."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


# --- parsing ---------------------------------------------------------------------------------

# Go RE2's \s is ASCII-only: tab, newline, form feed, carriage return and space.
_WS = "\t\n\f\r "
_LABEL_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:")
_LABEL_CHARS = _LABEL_START | frozenset("0123456789")
_MATCHER = re.compile(
    r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*",
    re.DOTALL,
)
_LEGACY_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPERATORS = "one of =, !=, =~, !~"


def parse_matcher(s: str) -> Matcher:
    """Parse one matcher such as ``severity="critical"`` or ``alertname =~ Model.*``.

    Like Alertmanager's ``labels.ParseMatcher``: no braces, no list.
    """
    return _parse_one(s, s, 0)


def parse_matchers(s: str) -> list[Matcher]:
    """Parse a comma-separated list of matchers, e.g. ``{foo="bar", baz!~"qu+x",}``.

    Like Alertmanager's ``labels.ParseMatchers``: one leading ``{`` and one trailing ``}`` are
    removed if present (each independently, as Alertmanager 0.25 does), commas inside double
    quotes do not separate, and a final empty item (trailing comma) is ignored. ``""`` and
    ``{}`` give an empty list.
    """
    offset = 0
    body = s
    if body.startswith("{"):
        body = body[1:]
        offset = 1
    if body.endswith("}"):
        body = body[:-1]

    tokens: list[tuple[str, int]] = []
    start = 0
    inside_quotes = False
    escaped = False
    for i, ch in enumerate(body):
        if ch == ",":
            if not inside_quotes:
                tokens.append((body[start:i], start))
                start = i + 1
            # A comma inside quotes is kept and, as in Alertmanager, leaves `escaped` as is.
            continue
        if ch == '"':
            if escaped:
                escaped = False
            else:
                inside_quotes = not inside_quotes
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
    rest = body[start:]
    stripped = _go_trim_space(rest)
    if stripped:
        lead = len(rest) - len(_go_trim_space_left(rest))
        tokens.append((stripped, start + lead))

    return [_parse_one(token, s, offset + at) for token, at in tokens]


def matchers_from_legacy(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Matchers for a route's deprecated ``match`` (equality) and ``match_re`` (regex) maps.

    Label names must be valid Prometheus label names (``[a-zA-Z_][a-zA-Z0-9_]*``), as
    Alertmanager requires for these keys. The ``match`` matchers come first, then the
    ``match_re`` ones, each in mapping order.
    """
    out: list[Matcher] = []
    sources = (("match", match, MatchOp.EQ), ("match_re", match_re, MatchOp.RE))
    for key, mapping, op in sources:
        for name, value in mapping.items():
            if not isinstance(name, str) or _LEGACY_LABEL_NAME.fullmatch(name) is None:
                raise MatcherError(f"{key}: invalid label name {name!r}")
            if not isinstance(value, str):
                raise MatcherError(f"{key}: the value of {name!r} must be a string")
            try:
                out.append(Matcher(name, op, value))
            except MatcherError as exc:
                raise MatcherError(f"{key}: {name}: {exc.reason}", exc.text, exc.position) from None
    return out


def _go_is_space(ch: str) -> bool:
    # Go's unicode.IsSpace, used by strings.TrimSpace.
    return ch in "\t\n\v\f\r \x85\xa0" or (ord(ch) > 0xFF and ch.isspace())


def _go_trim_space_left(s: str) -> str:
    i = 0
    while i < len(s) and _go_is_space(s[i]):
        i += 1
    return s[i:]


def _go_trim_space(s: str) -> str:
    s = _go_trim_space_left(s)
    j = len(s)
    while j > 0 and _go_is_space(s[j - 1]):
        j -= 1
    return s[:j]


def _parse_one(token: str, text: str, at: int) -> Matcher:
    """Parse `token`, found at offset `at` of `text` (errors point into `text`)."""
    m = _MATCHER.fullmatch(token)
    if m is None:
        reason, pos = _diagnose(token)
        raise MatcherError(f"bad matcher format: {reason}", text, at + pos)
    name, op_text, raw = m.group(1), m.group(2), m.group(3)
    raw_at = at + m.start(3)
    value, where = _unquote(raw, text, raw_at)
    op = MatchOp(op_text)
    if op in (MatchOp.RE, MatchOp.NRE):
        try:
            compile_anchored(value)
        except RegexError as exc:
            found = None if exc.position is None else where[min(exc.position, len(where) - 1)]
            raise MatcherError(f"invalid regular expression {value!r}: {exc.reason}", text, found) from None
    return Matcher(name, op, value)


def _diagnose(token: str) -> tuple[str, int]:
    """Why `token` is not a matcher, and where."""
    i = 0
    while i < len(token) and token[i] in _WS:
        i += 1
    if i == len(token):
        return "empty matcher", i
    if token[i] not in _LABEL_START:
        if token[i] in "=!":
            return "missing label name before the operator", i
        return f"invalid label name: unexpected {token[i]!r}", i
    start = i
    while i < len(token) and token[i] in _LABEL_CHARS:
        i += 1
    name = token[start:i]
    while i < len(token) and token[i] in _WS:
        i += 1
    if i == len(token):
        return f"missing operator ({_OPERATORS}) after label name {name!r}", i
    return f"expected an operator ({_OPERATORS}) after label name {name!r}, found {token[i]!r}", i


def _unquote(raw: str, text: str, at: int) -> tuple[str, list[int]]:
    """The value of a raw matcher value and, for each of its characters plus the end, the
    offset in `text` it came from."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    base = at + (1 if quoted else 0)
    out: list[str] = []
    where: list[int] = []
    expect_closing = quoted
    escaped = False
    last = len(body) - 1
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
                where.append(base + i - 1)
            elif ch in '"\\':
                out.append(ch)
                where.append(base + i - 1)
            else:  # A spurious escape: the backslash is literal.
                out += ["\\", ch]
                where += [base + i - 1, base + i]
            continue
        if ch == "\\":
            if i < last:
                escaped = True
                continue
            out.append("\\")  # A backslash as the last character is literal.
            where.append(base + i)
        elif ch == '"':
            if not expect_closing:
                raise MatcherError("unescaped double quote in matcher value", text, base + i)
            if i < last:
                reason = "unescaped double quote inside quoted matcher value"
                if body[i + 1 :].strip(_WS) == "}":
                    reason += (
                        " (a closing '}' is only removed when it is the very last character:"
                        " remove what follows it, e.g. the newline a YAML '|' block keeps)"
                    )
                raise MatcherError(reason, text, base + i)
            expect_closing = False
        else:
            out.append(ch)
            where.append(base + i)
    if expect_closing:
        raise MatcherError("unterminated quoted matcher value (missing closing '\"')", text, at)
    where.append(base + len(body))
    return "".join(out), where
