"""Untrusted text made safe to show: control characters replaced, long values cut.

Labels and annotations come from whoever can reach Alertmanager; a value may be 500 KB long or
carry NUL, BEL or a terminal escape. Everything a message shows passes through here first.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
"""What a control character becomes: visible, so a reader knows something was there."""
ELLIPSIS = "…"

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
"""C0 and C1 controls except tab, newline and carriage return; DEL; the Unicode line and
paragraph separators (line breaks to many readers); lone surrogates (not encodable as UTF-8)."""
_BREAKS = re.compile("[\t\n\r]")


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
    return len(text) <= limit and not _CONTROL.search(text) and not _BREAKS.search(text)


def is_clean_text(text: str, limit: int) -> bool:
    """True when `clean_text(text, limit)` would return `text` unchanged (cheap to check)."""
    return len(text) <= limit and "\r" not in text and not _CONTROL.search(text)
