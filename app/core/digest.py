"""Storm digests: many pending notifications of one destination summed up in one message.

Pure: `DigestBuilder` takes the pending notifications' groups (in queue order; a group's later
state replaces its earlier one), `Digest` is what one message says (groups fired and resolved,
the `top` most severe named with one line each, the rest counted, where to see them all), and
the `render_*` functions write it for Telegram (HTML, within 4096 characters), Slack (mrkdwn) and
as plain text (email and anything else). Every group given is either named or counted.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.models import Group
from app.core.render import (
    TELEGRAM_LIMIT,
    default_title,
    group_severity,
    severity_rank,
    slack_escape,
    utf16_len,
)
from app.core.sanitize import clean_line

DigestState = Literal["firing", "resolved"]

TITLE_LIMIT = 150
"""Characters of one group's line title (a digest is a summary: long names are cut)."""

SEE_ALL = "/alerts in this chat, the console (/ui) or `alertmedic incidents list`"
"""Where every group of a digest can be seen, one by one."""


@dataclass(frozen=True)
class DigestLine:
    """One group as a digest names it."""

    group_key: str
    title: str
    state: DigestState
    severity: str
    """`critical`, `warning` or `info` (of its firing alerts; resolved groups rank last)."""
    firing: int
    resolved: int

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key, most urgent first: firing before resolved, then by severity."""
        return (0 if self.state == "firing" else 1, -severity_rank(self.severity))


def digest_line(group: Group) -> DigestLine:
    return DigestLine(
        group_key=group.groupKey,
        title=clean_line(default_title(group), TITLE_LIMIT),
        state="firing" if group.status == "firing" and group.firing else "resolved",
        severity=group_severity(group),
        firing=len(group.firing),
        resolved=len(group.resolved),
    )


@dataclass(frozen=True)
class Digest:
    """What one digest message says."""

    fired: int
    """Groups whose latest state in the digest is firing."""
    resolved: int
    """Groups whose latest state in the digest is resolved."""
    named: tuple[DigestLine, ...]
    """The most urgent groups, one line each."""
    more_firing: int
    more_resolved: int
    """Groups counted, not named."""
    notifications: int
    """Pending notifications the digest replaces (a group may have had several)."""
    after: float
    """The storm threshold (`delivery.storm.after`) in seconds, for the message's first line."""
    see_all: str = SEE_ALL

    @property
    def groups(self) -> int:
        return self.fired + self.resolved


@dataclass
class DigestBuilder:
    """Collects pending notifications in queue order; `digest()` sums them up."""

    top: int
    after: float
    lines: dict[str, DigestLine] = field(default_factory=dict)
    notifications: int = 0

    def add(self, group: Group) -> None:
        self.notifications += 1
        self.lines.pop(group.groupKey, None)  # its latest state, at its latest place in the queue
        self.lines[group.groupKey] = digest_line(group)

    def digest(self) -> Digest:
        ordered = sorted(self.lines.values(), key=lambda line: line.rank)  # stable: queue order
        named, rest = ordered[: self.top], ordered[self.top :]
        fired = sum(1 for line in ordered if line.state == "firing")
        rest_firing = sum(1 for line in rest if line.state == "firing")
        return Digest(
            fired=fired,
            resolved=len(ordered) - fired,
            named=tuple(named),
            more_firing=rest_firing,
            more_resolved=len(rest) - rest_firing,
            notifications=self.notifications,
            after=self.after,
        )


_EMOJI = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_RESOLVED_EMOJI = "✅"


def _emoji(line: DigestLine) -> str:
    return _RESOLVED_EMOJI if line.state == "resolved" else _EMOJI.get(line.severity, "🟠")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def headline(d: Digest) -> str:
    """`Alert storm: 1000 alert groups (990 firing, 10 resolved)`."""
    return f"Alert storm: {_plural(d.groups, 'alert group')} ({d.fired} firing, {d.resolved} resolved)"


def _why(d: Digest) -> str:
    return f"More than this chat can take one by one within {d.after:g}s, so they come summed up here."


def _more(d: Digest) -> str | None:
    more = d.more_firing + d.more_resolved
    if not more:
        return None
    return f"…and {_plural(more, 'more group')} ({d.more_firing} firing, {d.more_resolved} resolved)."


def _alerts(line: DigestLine) -> str:
    parts = [f"{line.firing} firing"] if line.firing else []
    if line.resolved:
        parts.append(f"{line.resolved} resolved")
    return ", ".join(parts) or "no alerts"


def render_text(d: Digest) -> str:
    """Plain text (email bodies, files, any sink without markup)."""
    out = [headline(d), _why(d), ""]
    out += [f"{_emoji(line)} {line.title} — {_alerts(line)}" for line in d.named]
    if (more := _more(d)) is not None:
        out.append(more)
    out += ["", f"See every group: {d.see_all}."]
    return "\n".join(out)


def render_telegram(d: Digest) -> str:
    """HTML for sendMessage, within Telegram's 4096 visible characters: named lines that do not
    fit are counted with the rest (never cut mid-tag)."""
    head = f"<b>⚠️ {html.escape(headline(d), quote=False)}</b>\n{html.escape(_why(d), quote=False)}\n"
    tail = f"\nSee every group: {html.escape(d.see_all, quote=False)}."
    lines: list[str] = []
    visible = utf16_len(f"⚠️ {headline(d)}\n{_why(d)}\n") + utf16_len(f"\nSee every group: {d.see_all}.")
    room = TELEGRAM_LIMIT - visible - 120  # the "…and N more" line
    dropped: list[DigestLine] = []
    for line in d.named:
        shown = f"{_emoji(line)} {line.title} — {_alerts(line)}\n"
        if dropped or utf16_len(shown) > room:
            dropped.append(line)
            continue
        room -= utf16_len(shown)
        lines.append(f"{_emoji(line)} <b>{html.escape(line.title, quote=False)}</b> — {_alerts(line)}\n")
    if dropped:  # too long to name: counted instead
        firing = sum(1 for line in dropped if line.state == "firing")
        d = Digest(
            d.fired,
            d.resolved,
            tuple(line for line in d.named if line not in dropped),
            d.more_firing + firing,
            d.more_resolved + len(dropped) - firing,
            d.notifications,
            d.after,
            d.see_all,
        )
    more = _more(d)
    body = "".join(lines) + (f"{html.escape(more, quote=False)}\n" if more else "")
    return head + body + tail


def render_slack(d: Digest) -> dict[str, Any]:
    """The chat.postMessage body (without channel): `text` for notifications, mrkdwn sections
    of at most 10 lines (within Slack's 3000 characters each; `top` <= 30 keeps all of them
    under its 10,000 per message)."""

    def item(line: DigestLine) -> str:
        return f"{_emoji(line)} *{slack_escape(line.title)}* — {_alerts(line)}"

    sections = [f"*⚠️ {slack_escape(headline(d))}*\n{slack_escape(_why(d))}"]
    for start in range(0, len(d.named), 10):  # 10 lines of <= ~250 characters per section
        sections.append("\n".join(item(line) for line in d.named[start : start + 10]))
    if (more := _more(d)) is not None:
        sections.append(slack_escape(more))
    sections.append(f"See every group: {slack_escape(d.see_all)}.")
    return {
        "text": headline(d),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": s}} for s in sections],
    }
