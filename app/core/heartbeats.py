"""The dead-man's switch, pure: which heartbeats a webhook proves alive, and the alarm and the
recovery as an alert group of our own, so that they go out through the receiver's destinations
like any alert (rendering, retries, order, rate limits, the alarm's thread for the recovery).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.durations import format_duration
from app.core.matchers import Matcher, format_matchers, matches_all
from app.core.models import ZERO_TIME, Alert, Group

ALERTNAME = "HeartbeatMissing"
"""The `alertname` of the alarm's alert (its messages are titled with it)."""


@dataclass(frozen=True)
class Heartbeat:
    """One `heartbeats:` entry: alive while a firing alert matching `matchers` arrives at least
    every `timeout` seconds; else one alarm to `receiver`."""

    name: str
    matchers: tuple[Matcher, ...]
    timeout: float
    receiver: str

    @property
    def lane(self) -> str:
        """The lane of its timer (one per heartbeat)."""
        return heartbeat_lane(self.name)

    @property
    def group_key(self) -> str:
        return heartbeat_group_key(self.name)


def heartbeat_lane(name: str) -> str:
    return f"heartbeat:{name}"


def heartbeat_group_key(name: str) -> str:
    """The alarm's group key; Alertmanager's keys start with `{`, so it never meets one of them."""
    return f"heartbeat:{name}"


def seen_by(heartbeats: Iterable[Heartbeat], alerts: Sequence[Alert]) -> list[str]:
    """Names of the heartbeats that a firing alert among `alerts` matches."""
    firing = [a for a in alerts if a.status == "firing"]
    return [hb.name for hb in heartbeats if any(matches_all(hb.matchers, a.labels) for a in firing)]


def alarm_text(heartbeat: Heartbeat) -> str:
    return (
        f"no heartbeat from {heartbeat.name} for {format_duration(heartbeat.timeout)}: "
        "Prometheus or Alertmanager may be down"
    )


def recovery_text(heartbeat: Heartbeat, *, missing_for: float) -> str:
    ago = format_duration(max(1, round(missing_for)))
    return f"heartbeat from {heartbeat.name} is back (the alarm was raised {ago} ago)"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def heartbeat_group(
    heartbeat: Heartbeat, *, alarmed_at: float, last_seen: float | None, recovered_at: float | None = None
) -> Group:
    """The alarm (firing since `alarmed_at`) or, with `recovered_at`, its recovery (resolved)."""
    labels = {"alertname": ALERTNAME, "heartbeat": heartbeat.name, "severity": "critical"}
    if last_seen is None:
        seen = "none since alertmedic started"
    else:
        seen = f"the last at {_time(last_seen):%Y-%m-%d %H:%M:%S} UTC"
    description = (
        f"alertmedic receives no firing alert matching {format_matchers(heartbeat.matchers)} "
        f"({seen}). Check that Prometheus evaluates its rules and that Alertmanager delivers "
        "to alertmedic."
    )
    if recovered_at is None:
        summary, status, ends = alarm_text(heartbeat), "firing", ZERO_TIME
    else:
        summary = recovery_text(heartbeat, missing_for=recovered_at - alarmed_at)
        description = f"A firing alert matching {format_matchers(heartbeat.matchers)} arrived again."
        status, ends = "resolved", _time(recovered_at)
    annotations = {"summary": summary, "description": description}
    alert = Alert(
        status=status,
        labels=labels,
        annotations=annotations,
        startsAt=_time(alarmed_at),
        endsAt=ends,
        fingerprint=hashlib.sha256(heartbeat.name.encode()).hexdigest()[:16],
    )
    return Group(
        groupKey=heartbeat.group_key,
        status=alert.status,
        receiver=heartbeat.receiver,
        groupLabels={"heartbeat": heartbeat.name},
        commonLabels=labels,
        commonAnnotations=annotations,
        externalURL="",
        alerts=[alert],
    )
