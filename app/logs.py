"""Structured logs: one JSON object per line, with secrets scrubbed from every message.

Every value is bounded (LOG_VALUE_LIMIT characters, the traceback LOG_EXCEPTION_LIMIT) and every
control character is escaped, so a 500 KB label or a NUL in an alert cannot make a huge line or
break a line-oriented reader (tail, grep, a terminal, Loki's line splitter).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

LOG_VALUE_LIMIT = 2048
"""Characters of one logged value (the message, or one `extra=` field or item inside it)."""
LOG_EXCEPTION_LIMIT = 16384
"""Characters of a logged traceback."""
LOG_ITEMS_LIMIT = 100
"""Items kept of a logged list or dict."""

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_UNESCAPED = re.compile("[\x7f-\x9f\u2028\u2029]")
"""Controls json.dumps(ensure_ascii=False) leaves raw (it escapes U+0000-U+001F itself): DEL, C1
(U+0085 is a line break to Python's splitlines) and the Unicode line/paragraph separators."""


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _cut(text: str, limit: int) -> str:
    """`text`, or its head and how many characters were left out, in at most `limit`."""
    if len(text) <= limit:
        return text
    keep = limit - len("…(+ chars)") - len(str(len(text)))
    return f"{text[:keep]}…(+{len(text) - keep} chars)"


class JSONFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", ...extra}`; extras are the `extra=` keys of the call."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def bound(self, value: Any, limit: int = LOG_VALUE_LIMIT, depth: int = 0) -> Any:
        """`value` ready to log: strings scrubbed then cut (never half a secret), containers
        bounded in depth and items, anything else as its bounded `str()`."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict) and depth < 3:
            items = list(value.items())
            out = {
                self.bound(str(k), 200): self.bound(v, limit, depth + 1) for k, v in items[:LOG_ITEMS_LIMIT]
            }
            if len(items) > LOG_ITEMS_LIMIT:
                out["…"] = f"+{len(items) - LOG_ITEMS_LIMIT} more"
            return out
        if isinstance(value, list | tuple) and depth < 3:
            kept = [self.bound(v, limit, depth + 1) for v in value[:LOG_ITEMS_LIMIT]]
            if len(value) > LOG_ITEMS_LIMIT:
                kept.append(f"… +{len(value) - LOG_ITEMS_LIMIT} more")
            return kept
        return _cut(self.scrub(value if isinstance(value, str) else str(value)), limit)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.bound(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[self.bound(key, 200)] = self.bound(value)
        if record.exc_info:
            out["exception"] = self.bound(self.formatException(record.exc_info), LOG_EXCEPTION_LIMIT)
        line = json.dumps(out, default=str, ensure_ascii=False)
        return self.scrub(_UNESCAPED.sub(_escape, line))


def setup_logging(*, level: str = "info", secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "telegram", "aiohttp.access", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_secrets(secrets: Iterable[str]) -> None:
    """Scrub these too from every line (a reloaded configuration's new secrets)."""
    for handler in logging.getLogger().handlers:
        formatter = handler.formatter
        if isinstance(formatter, JSONFormatter):
            kept = {*formatter.secrets, *(s for s in secrets if s and len(s) >= 4)}
            formatter.secrets = sorted(kept, key=len, reverse=True)
