"""Go regular expressions, compiled the way Alertmanager compiles matcher values, run by RE2.

Alertmanager compiles the value of a ``=~``/``!~`` matcher as the Go pattern ``^(?:<value>)$``
and asks whether it matches the label value (so a value like ``a)|(b`` escapes the anchors
there, and does here). Go's ``regexp`` implements RE2 syntax and semantics; the ``google-re2``
package (module ``re2``) runs the same: UTF-8 text, ``.`` does not match ``\\n`` unless ``(?s)``,
``$`` is the end of the text unless ``(?m)``, ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII, and
matching takes time linear in the label value, so no label value can stall the service.

This module is the typed face of that untyped package. On top of RE2 it rejects the few things
the Go of Alertmanager 0.25 rejects and RE2 takes (``\\C``, ``(?<name>...)``, group names that
are not ASCII words), words errors as Go does and finds where in the value the problem is.

No I/O.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import re2

__all__ = ["GoRegex", "RegexError", "compile_anchored"]


class RegexError(Exception):
    """A pattern Go would not compile: ``reason`` in Go's words, ``position`` in the value."""

    def __init__(self, reason: str, position: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class GoRegex:
    """A matcher value compiled as ``^(?:value)$``."""

    value: str
    program: Any = field(repr=False, compare=False)

    def matches(self, text: str) -> bool:
        """Whether the pattern matches `text`, like Go's ``Regexp.MatchString``."""
        return self.program.search(_utf8(text)) is not None


_PREFIX = "^(?:"
_SUFFIX = ")$"


@lru_cache(maxsize=4096)
def compile_anchored(value: str) -> GoRegex:
    """Compile `value` as Alertmanager does: the Go pattern ``^(?:value)$``.

    Raises RegexError with a position inside `value` (``None`` if there is no single place).
    """
    program, problem = _compile(_PREFIX + value + _SUFFIX)
    if problem is not None:
        # Explain the value on its own if it is wrong on its own: for "a)" or "x\" that points
        # at the culprit rather than at the ")" Alertmanager wraps it in.
        _, alone = _compile(value)
        if alone is not None:
            raise alone
        position = problem.position
        if position is not None:
            position = min(max(position - len(_PREFIX), 0), len(value))
        raise RegexError(problem.reason, position)
    for reason, position in _scan(value):
        if reason not in _PAREN_REASONS:
            raise RegexError(reason, position)
    return GoRegex(value, program)


def _options() -> Any:
    # RE2's defaults are Go's syntax and semantics (Perl classes and \b, UTF-8, leftmost-first,
    # "." without newline) and an 8 MiB memory budget per pattern, which also bounds its DFA.
    options = re2.Options()
    options.log_errors = False  # errors are raised, not printed on stderr
    options.never_capture = True  # only "does it match" is ever asked
    return options


_OPTIONS = _options()


def _compile(pattern: str) -> tuple[Any, RegexError | None]:
    try:
        pattern.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate
        return None, RegexError("invalid UTF-8", exc.start)
    program, message = _re2_compile(pattern)
    return program, None if message is None else _explain(pattern, message)


def _re2_compile(pattern: str) -> tuple[Any, str | None]:
    """The RE2 program of `pattern`, or RE2's error message."""
    try:
        return re2.compile(pattern.encode(), _OPTIONS), None
    except re2.error as exc:
        message = exc.args[0] if exc.args else ""
        return None, message.decode(errors="replace") if isinstance(message, bytes) else str(message)


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        # Lone surrogates (JSON "\ud800") are U+FFFD, as Go's JSON decoder makes them.
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text).encode()


# RE2's error codes in the words of Go's regexp/syntax.
_GO_WORDING = {
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large (over RE2's 8 MiB per pattern)",
}
_PAREN_REASONS = frozenset({"missing closing )", "unexpected )"})


def _explain(pattern: str, message: str) -> RegexError:
    """RE2's ``"<code>: <fragment>"`` error for `pattern` in Go's words, with its position."""
    code, _, fragment = message.partition(": ")
    reason = _GO_WORDING.get(code, code)
    if code == "invalid escape sequence":
        reason += f" {fragment}"
    if reason in _PAREN_REASONS:  # the fragment is the whole pattern: find the parenthesis
        found = [at for why, at in _scan(pattern) if why == reason]
        return RegexError(reason, found[0] if found else None)
    if code == "missing ]":  # the fragment runs from the "[" to the end
        return RegexError(reason, len(pattern) - len(fragment))
    if code == "trailing \\":
        return RegexError(reason, len(pattern) - 1)
    if not fragment:
        return RegexError(reason, None)
    # RE2 reports the first problem from the left, so the shortest prefix of the pattern that
    # gives the same error ends with the fragment.
    lo, hi = len(fragment), len(pattern)
    while lo < hi:
        mid = (lo + hi) // 2
        if _re2_compile(pattern[:mid])[1] == message:
            hi = mid
        else:
            lo = mid + 1
    return RegexError(reason, lo - len(fragment))


_GO_GROUP_NAME = frozenset(string.ascii_letters + string.digits + "_")


def _scan(pattern: str) -> list[tuple[str, int]]:
    """Problems found by reading `pattern` token by token, as Go's parser words them: what the
    Go of Alertmanager 0.25 rejects and RE2 takes, and unbalanced parentheses."""
    problems: list[tuple[str, int]] = []
    opened: list[int] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("\\Q", i):  # literal text up to \E
            end = pattern.find("\\E", i + 2)
            i = len(pattern) if end < 0 else end + 2
            continue
        if ch == "\\":
            if pattern.startswith("C", i + 1):
                problems.append(("invalid escape sequence \\C", i))
            i += 2
            continue
        if ch == "[":
            i = _class_end(pattern, i)
            continue
        if ch == "(":
            opened.append(i)
            if pattern.startswith("(?<", i):
                problems.append(("invalid or unsupported Perl syntax", i))
            elif pattern.startswith("(?P<", i):
                end = pattern.find(">", i + 4)
                if end > 0 and not set(pattern[i + 4 : end]) <= _GO_GROUP_NAME:
                    problems.append(("invalid named capture", i))
        elif ch == ")":
            if opened:
                opened.pop()
            else:
                problems.append(("unexpected )", i))
        i += 1
    if opened:
        problems.append(("missing closing )", opened[-1]))
    return problems


def _class_end(pattern: str, start: int) -> int:
    """The index after the character class that opens at `start`."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    first = True  # a "]" right after "[" or "[^" is a literal
    while i < len(pattern):
        if pattern[i] == "]" and not first:
            return i + 1
        first = False
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            if end >= 0:
                i = end + 2
                continue
        i += 2 if pattern[i] == "\\" else 1
    return len(pattern)
