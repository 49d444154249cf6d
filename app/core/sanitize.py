"""Untrusted text made safe to show: control characters replaced, long values cut.

Labels and annotations come from whoever can reach Alertmanager; a value may be 500 KB long or
carry NUL, BEL or a terminal escape. Everything a message shows passes through here first.
"""

from __future__ import annotations

import re
from collections.abc import Collection

REPLACEMENT = "\ufffd"
"""What a control character becomes: visible, so a reader knows something was there."""
ELLIPSIS = "…"

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
"""C0 and C1 controls except tab, newline and carriage return; DEL; the Unicode line and
paragraph separators (line breaks to many readers); lone surrogates (not encodable as UTF-8)."""
_BREAKS = re.compile("[\t\n\r]")
_LINE_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_TEXT_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def cut(text: str, limit: int) -> str:
    """`text` of at most `limit` code points, ending in `…` when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


def clean_line(text: str, limit: int) -> str:
    """One line: control characters replaced, tab/newline/CR as spaces, at most `limit` long."""
    text = cut(text, limit)
    if _CONTROL.search(text):
        text = _CONTROL.sub(REPLACEMENT, text)
    if _BREAKS.search(text):
        text = _BREAKS.sub(" ", text)
    return text


def clean_text(text: str, limit: int) -> str:
    """Several lines: newlines and tabs kept (CR LF and CR become LF), other controls replaced."""
    text = cut(text, limit)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(text):
        text = _CONTROL.sub(REPLACEMENT, text)
    return text


def is_clean_line(text: str, limit: int) -> bool:
    """True when `clean_line(text, limit)` would return `text` unchanged (cheap to check)."""
    return len(text) <= limit and not _LINE_UNSAFE.search(text)


def is_clean_text(text: str, limit: int) -> bool:
    """True when `clean_text(text, limit)` would return `text` unchanged (cheap to check)."""
    return len(text) <= limit and not _TEXT_UNSAFE.search(text)


def all_clean_lines(texts: Collection[str], limit: int) -> bool:
    """`is_clean_line` of every text, in one scan (the check runs on every alert shown)."""
    return max(map(len, texts), default=0) <= limit and not _LINE_UNSAFE.search("".join(texts))


def all_clean_texts(texts: Collection[str], limit: int) -> bool:
    """`is_clean_text` of every text, in one scan."""
    return max(map(len, texts), default=0) <= limit and not _TEXT_UNSAFE.search("".join(texts))
