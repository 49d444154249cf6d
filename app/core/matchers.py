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
syntax, anchored like Alertmanager anchors them (the Go pattern ``^(?:<value>)$``); they are
translated to an equivalent Python :mod:`re` pattern, and the constructs Python cannot express
are rejected with :class:`MatcherError`.

Stdlib only, no I/O.
"""

from __future__ import annotations

import bisect
import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache

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
    regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            op = MatchOp(self.op)
        except ValueError:
            raise MatcherError(f"unknown matcher operator {self.op!r}") from None
        object.__setattr__(self, "op", op)
        regex: re.Pattern[str] | None = None
        if op in (MatchOp.RE, MatchOp.NRE):
            try:
                regex = _compile_anchored(self.value)
            except _RegexError as exc:
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
        found = self.regex.search(value) is not None
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
            _compile_anchored(value)
        except _RegexError as exc:
            pos = where[min(exc.position, len(where) - 1)]
            raise MatcherError(f"invalid regular expression {value!r}: {exc.reason}", text, pos) from None
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


# --- Go RE2 -> Python re ---------------------------------------------------------------------


class _RegexError(Exception):
    def __init__(self, reason: str, position: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


_PREFIX = "^(?:"
_SUFFIX = ")$"


@lru_cache(maxsize=4096)
def _compile_anchored(value: str) -> re.Pattern[str]:
    """Compile `value` the way Alertmanager does: the Go pattern ``^(?:value)$``.

    Raises _RegexError with a position inside `value`.
    """
    try:
        pattern = _GoRegexTranslator(_PREFIX + value + _SUFFIX).translate()
    except _RegexError as exc:
        # Explain the value on its own if it is wrong on its own: for "a)" or "x\" that
        # points at the culprit rather than at the ")" Alertmanager wraps it in.
        try:
            _GoRegexTranslator(value).translate()
        except _RegexError as alone:
            raise alone from None
        pos = min(max(exc.position - len(_PREFIX), 0), len(value))
        raise _RegexError(exc.reason, pos) from None
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise _RegexError(f"not supported by Python's re module ({exc})", 0) from None


_MAX_CODEPOINT = 0x10FFFF
_Ranges = tuple[tuple[int, int], ...]

_PERL_CLASSES: dict[str, _Ranges] = {
    "d": ((0x30, 0x39),),
    "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
}
_POSIX_CLASSES: dict[str, _Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": ((0x30, 0x39),),
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
_UNICODE_CATEGORIES = frozenset(
    {"C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn"}
    | {"N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps"}
    | {"S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs"}
)
_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_OCTAL = "01234567"
_WORD_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
_HEX = "0123456789abcdefABCDEF"
_PY_FLAGS = "ims"  # Go flags Python can scope; Go's U (ungreedy) is applied by the translator.


def _normalize(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _negate(ranges: Iterable[tuple[int, int]]) -> _Ranges:
    out: list[tuple[int, int]] = []
    nxt = 0
    for lo, hi in _normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_CODEPOINT:
        out.append((nxt, _MAX_CODEPOINT))
    return tuple(out)


@cache
def _unicode_category(name: str) -> _Ranges:
    """Code point ranges of a Unicode general category (one or two letters), as Go has them."""
    if name == "Any":
        return ((0, _MAX_CODEPOINT),)
    ranges: list[tuple[int, int]] = []
    for cp in range(_MAX_CODEPOINT + 1):
        cat = unicodedata.category(chr(cp))
        # Go's one-letter C has no unassigned code points (Cn).
        if (cat == name or (len(name) == 1 and cat[0] == name)) and cat != "Cn":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return tuple(ranges)


@cache
def _case_orbits() -> tuple[tuple[int, frozenset[int]], ...]:
    """Every code point that has case variants, with all its variants (itself included)."""
    orbit: dict[int, set[int]] = {}
    for cp in range(0x20000):  # no code point above the SMP has case variants
        ch = chr(cp)
        variants = {ord(v) for v in (ch.lower(), ch.upper(), ch.casefold()) if len(v) == 1}
        variants.discard(cp)
        if not variants:
            continue
        merged = {cp} | variants
        for v in list(merged):
            merged |= orbit.get(v, set())
        for v in merged:
            orbit[v] = merged
    return tuple(sorted((cp, frozenset(members)) for cp, members in orbit.items()))


def _fold_closure(ranges: _Ranges) -> _Ranges:
    """`ranges` plus the case variants of everything in it."""
    items = _normalize(ranges)
    starts = [lo for lo, _ in items]
    extra: list[tuple[int, int]] = []
    for cp, members in _case_orbits():
        k = bisect.bisect_right(starts, cp) - 1
        if k >= 0 and cp <= items[k][1]:
            extra.extend((m, m) for m in members)
    return _normalize((*items, *extra))


def _class_char(cp: int) -> str:
    ch = chr(cp)
    if ch.isascii() and ch.isalnum():
        return ch
    if cp <= 0xFF:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def _render_class(ranges: Iterable[tuple[int, int]], negate: bool) -> str:
    items = _normalize(ranges)
    if not items:  # An empty set: match nothing (or, negated, anything).
        items, negate = ((0, _MAX_CODEPOINT),), not negate
    body = "".join(
        _class_char(lo) if lo == hi else f"{_class_char(lo)}-{_class_char(hi)}" for lo, hi in items
    )
    return f"[{'^' if negate else ''}{body}]"


@dataclass
class _Group:
    saved_flags: frozenset[str]
    out_index: int
    position: int
    openers: list[str] = field(default_factory=list)  # Python scopes for (?flags) directives
    emitted: int = 0  # how many of `openers` are open in the output right now


class _GoRegexTranslator:
    """Translate a Go RE2 pattern to a Python pattern with the same matches.

    It parses the pattern the way Go's regexp/syntax does (Perl flags) and re-emits it for
    Python: `$` and `\\z` become `\\Z`, `^` becomes `\\A` outside multi-line mode, Perl and
    POSIX classes are made ASCII-only, mid-pattern flag groups become scoped groups, `{,n}`
    and friends stay literal, lazy/ungreedy repetition is resolved, and everything Go rejects
    is rejected.
    """

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        self.flags: frozenset[str] = frozenset()
        self.stack = [_Group(self.flags, 0, 0)]
        self.atom_start: int | None = None  # out index of the last repeatable item
        self.atom_repeated = False  # that item already ends in a repetition
        self.last_repeat = False  # the previous token was a repetition operator

    def fail(self, reason: str, position: int | None = None) -> _RegexError:
        return _RegexError(reason, self.i if position is None else position)

    def translate(self) -> str:
        p = self.p
        while self.i < len(p):
            ch = p[self.i]
            if ch == "(":
                self.open_group()
            elif ch == ")":
                self.close_group()
            elif ch == "|":
                self.alternate()
            elif ch in "*+?":
                self.i += 1
                self.repeat(ch, self.i - 1)
            elif ch == "{":
                self.brace()
            elif ch == "[":
                self.char_class()
            elif ch == "^":
                self.i += 1
                self.atom("(?:^)" if "m" in self.flags else "(?:\\A)")
            elif ch == "$":
                self.i += 1
                self.atom("(?:$)" if "m" in self.flags else "(?:\\Z)")
            elif ch == ".":
                self.i += 1
                self.atom(".")
            elif ch == "\\":
                self.escape()
            else:
                self.i += 1
                self.atom(re.escape(ch))
        if len(self.stack) > 1:
            raise self.fail("missing closing )", self.stack[-1].position)
        self.out.append(")" * self.stack[0].emitted)
        return "".join(self.out)

    # -- emission helpers

    def flush(self) -> None:
        group = self.stack[-1]
        self.out.extend(group.openers[group.emitted :])
        group.emitted = len(group.openers)

    def atom(self, text: str) -> None:
        self.flush()
        self.atom_start = len(self.out)
        self.out.append(text)
        self.atom_repeated = False
        self.last_repeat = False

    def literal(self, cp: int) -> None:
        self.atom(re.escape(chr(cp)))

    # -- structure

    def open_group(self) -> None:
        p, start = self.p, self.i
        if not p.startswith("(?", start):
            self.i += 1
            self.push_group("(", start)
            return
        if p.startswith("(?P<", start):
            end = p.find(">", start + 4)
            name = p[start + 4 : end] if end >= 0 else ""
            if end < 0 or not name or not all(c in _WORD_CHARS for c in name):
                raise self.fail("invalid named capture", start)
            self.i = end + 1
            self.push_group("(", start)  # the name does not matter for matching
            return
        on: set[str] = set()
        off: set[str] = set()
        negative = False
        saw_flag = False
        j = start + 2
        while True:
            if j >= len(p):
                raise self.fail("missing closing )", start)
            c = p[j]
            if c in "imsU":
                (off if negative else on).add(c)
                saw_flag = True
            elif c == "-" and not negative:
                negative = True
                saw_flag = False
            elif c in ":)" and (saw_flag or not negative):
                break
            else:
                raise self.fail("invalid or unsupported Perl syntax", start)
            j += 1
        new_flags = (self.flags | on) - off
        self.i = j + 1
        if p[j] == ":":
            self.push_group(self.scope(self.flags, new_flags) or "(?:", start)
            self.flags = new_flags
        else:  # (?flags): applies to the rest of the current group
            opener = self.scope(self.flags, new_flags)
            if opener:
                self.stack[-1].openers.append(opener)
            self.flags = new_flags
            self.last_repeat = False

    @staticmethod
    def scope(old: frozenset[str], new: frozenset[str]) -> str:
        on = "".join(f for f in _PY_FLAGS if f in new and f not in old)
        off = "".join(f for f in _PY_FLAGS if f in old and f not in new)
        if not on and not off:
            return ""
        return f"(?{on}{'-' + off if off else ''}:"

    def push_group(self, opener: str, position: int) -> None:
        self.flush()
        self.stack.append(_Group(self.flags, len(self.out), position))
        self.out.append(opener)
        self.atom_start = None
        self.atom_repeated = False
        self.last_repeat = False

    def close_group(self) -> None:
        if len(self.stack) == 1:
            raise self.fail("unexpected )")
        self.i += 1
        group = self.stack.pop()
        self.out.append(")" * group.emitted + ")")
        self.flags = group.saved_flags
        self.atom_start = group.out_index
        self.atom_repeated = False
        self.last_repeat = False

    def alternate(self) -> None:
        self.i += 1
        group = self.stack[-1]
        self.out.append(")" * group.emitted + "|")
        group.emitted = 0
        self.atom_start = None
        self.atom_repeated = False
        self.last_repeat = False

    # -- repetition

    def repeat(self, op: str, position: int) -> None:
        if self.last_repeat:
            raise self.fail("invalid nested repetition operator", position)
        if self.atom_start is None:
            raise self.fail("missing argument to repetition operator", position)
        lazy = False
        if self.p.startswith("?", self.i):
            lazy = True
            self.i += 1
        if "U" in self.flags:
            lazy = not lazy
        if self.atom_repeated:  # Go allows x*(?i)* : repeat the repetition
            self.out.insert(self.atom_start, "(?:")
            self.out.append(")")
        self.out.append(op + ("?" if lazy else ""))
        self.atom_repeated = True
        self.last_repeat = True

    def brace(self) -> None:
        start = self.i
        parsed = self.parse_repeat(start)
        if parsed is None:  # not a repetition: a literal {
            self.i += 1
            self.atom("\\{")
            return
        lo, hi, end = parsed
        if lo > 1000 or hi > 1000 or (hi >= 0 and lo > hi):
            raise self.fail("invalid repeat count", start)
        self.i = end
        if hi == lo:
            op = f"{{{lo}}}"
        elif hi < 0:
            op = f"{{{lo},}}"
        else:
            op = f"{{{lo},{hi}}}"
        self.repeat(op, start)

    def parse_repeat(self, start: int) -> tuple[int, int, int] | None:
        """(min, max or -1 for unbounded, end index) of {n}, {n,} or {n,m} at `start`."""
        p = self.p
        j = start + 1
        lo, j = self.parse_int(j)
        if lo is None or j >= len(p):
            return None
        hi = lo
        if p[j] == ",":
            j += 1
            if j >= len(p):
                return None
            if p[j] == "}":
                hi = -1
            else:
                parsed, j = self.parse_int(j)
                if parsed is None:
                    return None
                hi = parsed
        if j >= len(p) or p[j] != "}":
            return None
        return lo, hi, j + 1

    def parse_int(self, j: int) -> tuple[int | None, int]:
        p = self.p
        k = j
        while k < len(p) and p[k] in "0123456789":
            k += 1
        digits = p[j:k]
        if not digits or (len(digits) > 1 and digits[0] == "0"):  # Go refuses leading zeros
            return None, j
        return (int(digits) if len(digits) < 8 else 10**9), k

    # -- escapes and classes

    def escape(self) -> None:
        p, start = self.p, self.i
        if start + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression", start)
        c = p[start + 1]
        if c == "Q":
            end = p.find("\\E", start + 2)
            text = p[start + 2 :] if end < 0 else p[start + 2 : end]
            self.i = len(p) if end < 0 else end + 2
            if not text:
                self.last_repeat = False
            for ch in text:
                self.literal(ord(ch))
            return
        # Python's \B never matches the empty string, Go's does: spell it as "not \b".
        assertions = {"A": "(?:\\A)", "z": "(?:\\Z)", "b": "(?a:\\b)", "B": "(?a:(?!\\b))"}
        if c in assertions:
            self.i += 2
            self.atom(assertions[c])
            return
        ranges = self.class_escape()
        if ranges is not None:
            self.atom(_render_class(*ranges))
            return
        self.literal(self.char_escape())

    def class_escape(self) -> tuple[_Ranges, bool] | None:
        """A Perl (\\d) or Unicode (\\pL) class escape at self.i, as (ranges, negated)."""
        p, start = self.p, self.i
        c = p[start + 1] if start + 1 < len(p) else ""
        if c.lower() in _PERL_CLASSES:
            self.i += 2
            return _PERL_CLASSES[c.lower()], c.isupper()
        if c not in ("p", "P"):
            return None
        negate = c == "P"
        if start + 2 >= len(p):
            raise self.fail("invalid character class range", start)
        if p[start + 2] == "{":
            end = p.find("}", start + 3)
            if end < 0:
                raise self.fail("invalid character class range", start)
            name = p[start + 3 : end]
            self.i = end + 1
        else:
            name = p[start + 2]
            self.i = start + 3
        if name.startswith("^"):
            negate, name = not negate, name[1:]
        if name != "Any" and name not in _UNICODE_CATEGORIES:
            raise self.fail(
                f"unsupported Unicode class \\p{{{name}}} (only general categories such as "
                "\\pL or \\p{Lu} are supported)",
                start,
            )
        return _unicode_category(name), negate

    def char_escape(self) -> int:
        """The code point of a single-character escape at self.i (Go's parseEscape)."""
        p, start = self.p, self.i
        if start + 1 >= len(p):
            raise self.fail("trailing backslash at end of expression", start)
        c = p[start + 1]
        j = start + 2
        if c in _OCTAL and (c == "0" or (j < len(p) and p[j] in _OCTAL)):
            value = int(c)
            for _ in range(2):
                if j < len(p) and p[j] in _OCTAL:
                    value = value * 8 + int(p[j])
                    j += 1
            self.i = j
            return value
        if c == "x":
            if j < len(p) and p[j] == "{":
                end = p.find("}", j + 1)
                digits = p[j + 1 : end] if end >= 0 else ""
                if not digits or any(d not in _HEX for d in digits):
                    raise self.fail("invalid escape sequence", start)
                value = int(digits, 16)
                if value > _MAX_CODEPOINT:
                    raise self.fail("invalid escape sequence", start)
                self.i = end + 1
                return value
            digits = p[j : j + 2]
            if len(digits) < 2 or any(d not in _HEX for d in digits):
                raise self.fail("invalid escape sequence", start)
            self.i = j + 2
            return int(digits, 16)
        if c in _SIMPLE_ESCAPES:
            self.i = j
            return _SIMPLE_ESCAPES[c]
        if c.isascii() and not c.isalnum():
            self.i = j
            return ord(c)
        raise self.fail(f"invalid escape sequence \\{c}", start)

    def char_class(self) -> None:
        p, start = self.p, self.i
        self.i += 1
        negate = False
        if self.p.startswith("^", self.i):
            negate = True
            self.i += 1
        ranges: list[tuple[int, int]] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing closing ]", start)
            if p[self.i] == "]" and not first:
                self.i += 1
                break
            first = False
            if p.startswith("[:", self.i):
                end = p.find(":]", self.i + 2)
                if end >= 0:
                    name = p[self.i + 2 : end]
                    posix = _POSIX_CLASSES.get(name.removeprefix("^"))
                    if posix is None:
                        raise self.fail("invalid character class range", self.i)
                    ranges.extend(self.negated(posix) if name.startswith("^") else posix)
                    self.i = end + 2
                    continue
            if p[self.i] == "\\":
                escaped = self.class_escape()
                if escaped is not None:
                    sub, sub_negated = escaped
                    ranges.extend(self.negated(sub) if sub_negated else sub)
                    continue
            item_start = self.i
            lo = self.class_char()
            hi = lo
            if self.i + 1 < len(p) and p[self.i] == "-" and p[self.i + 1] != "]":
                self.i += 1
                hi = self.class_char()
                if hi < lo:
                    raise self.fail("invalid character class range", item_start)
            ranges.append((lo, hi))
        self.atom(_render_class(ranges, negate))

    def negated(self, ranges: _Ranges) -> _Ranges:
        """The complement of a class item; under (?i) Go case-folds the set before negating it,
        so e.g. (?i)[[:^alpha:]] does not match k, K nor the Kelvin sign."""
        return _negate(_fold_closure(ranges) if "i" in self.flags else ranges)

    def class_char(self) -> int:
        if self.p[self.i] == "\\":
            return self.char_escape()
        self.i += 1
        return ord(self.p[self.i - 1])
