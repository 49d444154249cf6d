"""The dead-man's switch's pure part: which heartbeats a webhook proves alive, and its messages."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.heartbeats import Heartbeat, heartbeat_group, seen_by
from app.core.matchers import parse_matchers
from app.core.models import Alert

PROD = Heartbeat(
    "prometheus-prod",
    tuple(parse_matchers('alertname="Watchdog",prometheus="monitoring/k8s"')),
    300,
    "oncall",
)
STAGING = Heartbeat(
    "prometheus-staging", tuple(parse_matchers('alertname="Watchdog",prometheus=~".*staging"')), 600, "team"
)
T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)


def alert(status: str, **labels: str) -> Alert:
    return Alert(status=status, labels={"alertname": "Watchdog", **labels}, startsAt=T0, fingerprint="f")  # type: ignore[arg-type]


def test_only_a_firing_alert_matching_every_matcher_counts() -> None:
    beats = [PROD, STAGING]
    assert seen_by(beats, [alert("firing", prometheus="monitoring/k8s")]) == ["prometheus-prod"]
    assert seen_by(beats, [alert("firing", prometheus="monitoring/k8s-staging")]) == ["prometheus-staging"]
    assert seen_by(beats, [alert("resolved", prometheus="monitoring/k8s")]) == []
    assert seen_by(beats, [alert("firing", prometheus="other")]) == []
    both = [
        alert("resolved", prometheus="x"),
        alert("firing", prometheus="monitoring/k8s"),
        alert("firing", prometheus="a-staging"),
    ]
    assert seen_by(beats, both) == ["prometheus-prod", "prometheus-staging"]


def test_the_alarm_and_its_recovery_are_one_alert_of_one_group() -> None:
    at = T0.timestamp()
    alarm = heartbeat_group(PROD, alarmed_at=at, last_seen=at - 300)
    back = heartbeat_group(PROD, alarmed_at=at, last_seen=at - 300, recovered_at=at + 5400)
    assert alarm.groupKey == back.groupKey == "heartbeat:prometheus-prod" != STAGING.group_key
    assert (alarm.status, back.status, alarm.receiver) == ("firing", "resolved", "oncall")
    [a], [b] = alarm.alerts, back.alerts
    assert a.fingerprint == b.fingerprint and a.startsAt == b.startsAt == T0
    assert a.labels == {
        "alertname": "HeartbeatMissing",
        "heartbeat": "prometheus-prod",
        "severity": "critical",
    }
    assert a.annotations["summary"] == (
        "no heartbeat from prometheus-prod for 5m: Prometheus or Alertmanager may be down"
    )
    assert "the last at 2026-11-25 11:55:00 UTC" in a.annotations["description"]
    assert '{alertname="Watchdog",prometheus="monitoring/k8s"}' in a.annotations["description"]
    assert (
        b.annotations["summary"] == "heartbeat from prometheus-prod is back (the alarm was raised 1h30m ago)"
    )
    assert b.endsAt.timestamp() == at + 5400
    never = heartbeat_group(STAGING, alarmed_at=at, last_seen=None)
    assert never.alerts[0].annotations["summary"].startswith("no heartbeat from prometheus-staging for 10m:")
    assert "none since alertmedic started" in never.alerts[0].annotations["description"]
