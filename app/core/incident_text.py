"""Incidents as plain text for a terminal: `alertmedic incidents list` and `incidents show`.

No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.incidents import IncidentDetail, IncidentSummary, format_relative, format_utc

__all__ = ["render_detail", "render_list"]


def _flags(s: IncidentSummary) -> str:
    flags = []
    if s.acked_by:
        flags.append(f"acked by {s.acked_by}")
    if s.silenced_until is not None:
        flags.append(f"silenced until {format_utc(s.silenced_until)[11:16]}")
    if s.escalated:
        flags.append("escalated")
    if s.remediating:
        flags.append("remediating")
    return ", ".join(flags)


def render_list(items: Sequence[IncidentSummary], *, now: float) -> str:
    """One line per incident: id, state, severity, age, firing/total, namespace, title, flags."""
    if not items:
        return "no incidents\n"
    rows = [("ID", "STATE", "SEVERITY", "AGE", "ALERTS", "NAMESPACE", "TITLE", "")]
    for s in items:
        age = format_relative(now - s.first_fired).lstrip("+")
        rows.append(
            (
                s.id,
                s.state,
                s.severity or "-",
                age,
                f"{s.alerts_firing}/{s.alerts_total}",
                s.namespace or "-",
                s.title,
                _flags(s),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:7], widths, strict=True)) + "  " + r[7] for r in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_detail(detail: IncidentDetail) -> str:
    """The incident's facts, then its timeline in UTC and relative to its first `startsAt`."""
    s = detail.summary
    start = s.first_fired
    lines = [
        f"{s.title} ({s.severity or 'no severity'}) — {s.state}",
        f"id:        {s.id}",
        f"group:     {s.group_key}",
        f"receiver:  {', '.join(detail.receivers) or s.receiver}",
        f"namespace: {s.namespace or '-'}",
        f"started:   {format_utc(start)}",
    ]
    if s.resolved_at is not None:
        lines.append(f"resolved:  {format_utc(s.resolved_at)} ({format_relative(s.resolved_at - start)})")
    if flags := _flags(s):
        lines.append(f"state:     {flags}")
    for name, url in sorted(detail.links.items()):
        lines.append(f"{name + ':':<10} {url}")
    lines += ["", "timeline:"]
    for e in detail.events:
        by = f"  [{e.actor}]" if e.actor else ""
        lines.append(f"  {format_utc(e.at)[:-4]}  {format_relative(e.at - start):>9}  {e.summary}{by}")
    return "\n".join(lines) + "\n"
