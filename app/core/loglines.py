"""Log lines made fit to show: newest last, at most `limit`, each line bounded and printable.

Loki answers newest first (direction=backward) and per stream; a message shows the `limit`
newest lines across streams in time order. Control characters are escaped (a line cannot
fake a new message line, move the cursor, or reverse text with a bidi override), ANSI colour
sequences are dropped, and a long line is cut with "…".

No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from app.core.enrichment import LogLine

__all__ = ["MAX_LINE_LENGTH", "clock_time", "printable", "shape_lines"]

MAX_LINE_LENGTH = 300
"""Characters of one shown log line; longer lines are cut."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Unicode characters that change how the text around them is shown: bidi overrides and
# isolates, line/paragraph separators, zero-width joiners used to hide text.
_INVISIBLE = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0x200B, 0x200E, 0x200F, 0xFEFF]
)


def printable(text: str) -> str:
    """`text` with ANSI colour codes dropped and control characters written as escapes."""
    text = _ANSI.sub("", text)
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in _INVISIBLE or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def clock_time(ns: int) -> str:
    """Loki's nanosecond timestamp as "HH:MM:SS" UTC."""
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%H:%M:%S")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def shape_lines(
    entries: Iterable[tuple[int, str]], *, limit: int, max_length: int = MAX_LINE_LENGTH
) -> tuple[LogLine, ...]:
    """The `limit` newest of (ns, raw line) entries, oldest first, each made printable and cut.

    Entries come newest first as Loki sends them (direction=backward), so lines with equal
    timestamps are shown in the reverse of the given order: the order they were written in."""
    ordered = sorted(enumerate(entries), key=lambda e: (e[1][0], -e[0]))
    newest = ordered[-limit:] if limit > 0 else []
    return tuple(LogLine(ns, clock_time(ns), _cut(printable(line), max_length)) for _, (ns, line) in newest)
