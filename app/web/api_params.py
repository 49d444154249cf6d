"""Query and path parameters of the JSON API, read strictly: a bad or unknown one is a 400 whose
JSON body names it (`{"status": "error", "field": "since", "error": "since: ..."}`), never a value
silently ignored or a 500."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from datetime import datetime

from aiohttp import web
from multidict import MultiMapping

MAX_TEXT = 256
"""Longest text parameter accepted (a label value to filter on)."""
MAX_SECONDS = 1e11
"""Latest time accepted as Unix seconds (the year 5138)."""
MAX_ID = 2**62
"""Largest numeric id accepted (the store's integers are 64-bit)."""
_INT = re.compile(r"[0-9]{1,19}")


class ParamError(web.HTTPBadRequest):
    """A parameter that cannot be used; raised from a handler, answered as JSON."""

    def __init__(self, field: str, message: str) -> None:
        body = {"status": "error", "field": field, "error": f"{field}: {message}"}
        super().__init__(text=json.dumps(body), content_type="application/json")
        self.field = field


def only(query: MultiMapping[str], allowed: Collection[str]) -> None:
    """Refuse parameters the operation does not know, and any given twice."""
    for name in query:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ParamError(name, f"unknown parameter (known: {known})")
        if len(query.getall(name)) > 1:
            raise ParamError(name, "given more than once")


def text(query: MultiMapping[str], name: str) -> str | None:
    """A free text parameter (None: not given)."""
    value = query.get(name)
    if value is None:
        return None
    if not value or len(value) > MAX_TEXT:
        raise ParamError(name, f"must be 1-{MAX_TEXT} characters")
    if "\x00" in value:  # no label holds one, and PostgreSQL text cannot
        raise ParamError(name, "must not contain NUL characters")
    return value


def choice(query: MultiMapping[str], name: str, choices: Collection[str], default: str) -> str:
    value = query.get(name, default)
    if value not in choices:
        raise ParamError(name, f"must be one of {', '.join(choices)}")
    return value


def flag(query: MultiMapping[str], name: str) -> bool:
    """`1`/`true` or `0`/`false` (absent: false)."""
    value = query.get(name, "0")
    if value not in ("0", "1", "true", "false"):
        raise ParamError(name, "must be 1, 0, true or false")
    return value in ("1", "true")


def integer(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not _INT.fullmatch(value) or not low <= int(value) <= high:
        raise ParamError(name, f"must be a whole number from {low} to {high}")
    return int(value)


def path_id(request: web.Request, *, high: int = MAX_ID) -> int:
    """The numeric `{id}` of the path (ASCII digits only, within the store's integers)."""
    return integer(request.match_info["id"], "id", default=0, low=1, high=high)


_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?P<frac>\.[0-9]+)?"
    r"(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def timestamp(query: MultiMapping[str], name: str) -> float | None:
    """A point in time: Unix seconds (`1764000000`, `1764000000.5`, up to MAX_SECONDS) or an
    RFC 3339 date-time (`2026-11-25T03:00:00Z`, `...03:00:00.25+01:00`; a leap second counts as
    the second before)."""
    value = query.get(name)
    if value is None:
        return None
    if _NUMBER.fullmatch(value):
        seconds = float(value)
        if seconds <= MAX_SECONDS:
            return seconds
    elif (m := _RFC3339.fullmatch(value)) is not None:
        clock = m["time"][:6] + "59" if m["time"].endswith("60") else m["time"]
        zone = "+00:00" if m["zone"] in ("Z", "z") else m["zone"]
        try:
            when = datetime.fromisoformat(f"{m['date']}T{clock}{zone}")
        except ValueError:
            when = None
        if when is not None:
            return when.timestamp() + float(m["frac"] or 0)
    raise ParamError(name, "must be Unix seconds or an RFC 3339 date-time, e.g. 2026-11-25T03:00:00Z")
