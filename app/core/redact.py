"""Redaction of secrets in text that leaves the process (log lines, error notes), run by RE2.

Patterns are unanchored RE2 searches (linear time in the text, so a log line cannot stall the
service). The built-in patterns always apply, also when the configured list is empty; each
keeps the part that says what was there (``password=``, ``Bearer``, ``https://``) and replaces
the secret itself. A configured pattern's whole match becomes «redacted».

No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from app.core.goregex import RegexError

__all__ = ["BUILTIN_PATTERNS", "MARK", "Pattern", "Redactor"]

MARK = "«redacted»"

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@dataclass(frozen=True)
class Pattern:
    """One compiled redaction pattern. `keep` and `tail` name the groups kept before and after
    the mark (0: none)."""

    source: str
    keep: int = 0
    tail: int = 0
    program: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(cls, source: str, *, keep: int = 0, tail: int = 0) -> Pattern:
        """Raises RegexError (a ValueError's sibling: catch both) on a pattern RE2 rejects."""
        try:
            program = re2.compile(source, _OPTIONS)
        except re2.error as exc:
            message = exc.args[0] if exc.args else "invalid regex"
            text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
            raise RegexError(f"invalid regex: {text}", None) from None
        return cls(source, keep, tail, program)

    def _replace(self) -> Callable[[Any], str]:
        def group(m: Any, n: int) -> str:
            return str(m.group(n) or "") if n else ""

        return lambda m: f"{group(m, self.keep)}{MARK}{group(m, self.tail)}"


BUILTIN_PATTERNS: tuple[Pattern, ...] = (
    # password=…, "token": "…", Authorization: Bearer … (the key and separator are kept).
    Pattern.compile(
        r"(?i)(\b(?:password|passwd|pwd|secret|client[_-]?secret|token|access[_-]?token|"
        r"api[_-]?key|access[_-]?key|secret[_-]?key|authorization)\"?\s*[=:]\s*\"?"
        r"(?:(?:bearer|basic)\s+)?)[^\s\"'&,;«]+",
        keep=1,
    ),
    # Authorization headers: "Bearer <token>", "Basic <base64>".
    Pattern.compile(r"(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*", keep=1),
    # JSON Web Tokens: three base64url parts, the first two JSON objects ("eyJ" = '{"').
    Pattern.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    # AWS access key ids.
    Pattern.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b"),
    # Credentials in a URL: scheme://user:password@host.
    Pattern.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s:@]+:[^/\s@]*(@)", keep=1, tail=2),
)


@dataclass(frozen=True)
class Redactor:
    """The built-in patterns followed by the configured ones."""

    configured: tuple[Pattern, ...] = ()

    @classmethod
    def compile(cls, sources: Sequence[str]) -> Redactor:
        """Raises ValueError naming the index of the first pattern RE2 rejects."""
        patterns = []
        for i, source in enumerate(sources):
            try:
                patterns.append(Pattern.compile(source))
            except RegexError as exc:
                raise ValueError(f"[{i}]: {exc.reason}") from None
        return cls(tuple(patterns))

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        return BUILTIN_PATTERNS + self.configured

    def redact(self, text: str) -> tuple[str, int]:
        """`text` with every match replaced, and how many replacements were made."""
        total = 0
        for pattern in self.patterns:
            text, n = pattern.program.subn(pattern._replace(), text)
            total += n
        return text, total
