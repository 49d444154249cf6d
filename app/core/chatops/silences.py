"""The Alertmanager silence that covers exactly one alert group, as API v2 wants it.

Alertmanager names a group by `groupKey` = `<route key>:<group labels>`, the route key being the
matchers of each route from the root (`{}/{severity="critical"}`). Equality matchers on the group
labels alone would also silence the same labels reaching other routes; adding the route's own
matchers limits the silence to what reaches that route, i.e. to exactly that group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.matchers import Matcher, MatcherError, MatchOp, parse_matchers

_GO_ESCAPES = {'"', "\\", "n"}
"""Escapes in a Go %q string that the matcher parser reads back exactly."""


class SilenceScopeError(ValueError):
    """No silence can cover exactly this group; the message says why (shown to the person)."""


@dataclass(frozen=True)
class SilenceMatcher:
    """One matcher of an API v2 silence."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}

    @classmethod
    def from_matcher(cls, m: Matcher) -> SilenceMatcher:
        return cls(m.name, m.value, m.op in (MatchOp.RE, MatchOp.NRE), m.op in (MatchOp.EQ, MatchOp.RE))


@dataclass(frozen=True)
class SilenceRequest:
    """A silence to create: `POST /api/v2/silences` body via `to_api`."""

    matchers: tuple[SilenceMatcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def to_api(self) -> dict[str, Any]:
        return {
            "matchers": [m.to_api() for m in self.matchers],
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
            "createdBy": self.created_by,
            "comment": self.comment,
        }


def route_matchers(group_key: str) -> list[Matcher]:
    """The matchers of every route on the path in `group_key` (the part before the group labels)."""
    segments: list[str] = []
    i = 0
    while True:
        if i >= len(group_key) or group_key[i] != "{":
            raise SilenceScopeError(f"cannot read the route of group key {group_key!r}")
        end = _closing(group_key, i)
        segments.append(group_key[i : end + 1])
        sep = group_key[end + 1 : end + 2]
        i = end + 2
        if sep == ":":
            break
        if sep != "/":
            raise SilenceScopeError(f"cannot read the route of group key {group_key!r}")
    out: list[Matcher] = []
    for seg in segments:
        if not _known_escapes(seg):
            raise SilenceScopeError(f"route matchers {seg} use escapes that cannot be reproduced exactly")
        try:
            out += parse_matchers(seg)
        except MatcherError as exc:
            raise SilenceScopeError(f"cannot read route matchers {seg}: {exc}") from None
    return out


def _known_escapes(text: str) -> bool:
    j = 0
    while j < len(text):
        if text[j] == "\\":
            if text[j + 1 : j + 2] not in _GO_ESCAPES:
                return False
            j += 1
        j += 1
    return True


def _closing(text: str, start: int) -> int:
    quoted = escaped = False
    for j in range(start + 1, len(text)):
        c = text[j]
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == "}" and not quoted:
            return j
    raise SilenceScopeError(f"unbalanced braces in group key {text!r}")


def group_silence_matchers(group_labels: Mapping[str, str], group_key: str) -> tuple[SilenceMatcher, ...]:
    """Matchers covering exactly the group: its group labels (equality) and its route's matchers.

    Raises SilenceScopeError when that would be no matcher at all (it would silence everything)."""
    out = [SilenceMatcher(name, value) for name, value in sorted(group_labels.items())]
    for m in route_matchers(group_key):
        one = SilenceMatcher.from_matcher(m)
        if one not in out:
            out.append(one)
    if not out:
        raise SilenceScopeError(
            "this group has no group labels and its route no matchers: a silence would cover every alert"
        )
    return tuple(out)


def group_silence(
    group_labels: Mapping[str, str],
    group_key: str,
    *,
    now: datetime,
    duration: timedelta,
    created_by: str,
    comment: str,
    alert_name: str,
) -> SilenceRequest:
    """The silence for a Silence tap or `/silence`: from now for `duration`, the person's
    comment or one naming the alert."""
    if duration <= timedelta(0):
        raise SilenceScopeError(f"a silence needs a positive duration, got {duration}")
    text = comment.strip() or f"silenced from chat: {alert_name}"
    return SilenceRequest(
        group_silence_matchers(group_labels, group_key), now, now + duration, created_by, text
    )
