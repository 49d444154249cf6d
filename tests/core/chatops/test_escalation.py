"""Escalation stepping: offsets from the first notification, repeat rounds, stop, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.chatops.escalation import (
    EscalationPolicy,
    EscalationStep,
    escalation_line,
    schedule,
    step_escalation,
)

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
POLICY = EscalationPolicy(
    "critical-oncall",
    (EscalationStep(600, "oncall-secondary"), EscalationStep(1800, "team-lead-email")),
    repeat=1,
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_schedule_counts_from_first_notification_and_repeats() -> None:
    plan = schedule(POLICY, T0)
    assert [(e.number, e.round, e.step, e.receiver, e.due_at) for e in plan] == [
        (0, 0, 0, "oncall-secondary", at(10)),
        (1, 0, 1, "team-lead-email", at(30)),
        (2, 1, 0, "oncall-secondary", at(40)),
        (3, 1, 1, "team-lead-email", at(60)),
    ]


def test_nothing_before_the_first_step() -> None:
    d = step_escalation(POLICY, first_notified_at=T0, fired=0, stopped=False, now=at(9.99))
    assert d.notify == () and d.next_at == at(10)


def test_each_step_fires_once_in_order() -> None:
    fired = 0
    seen = []
    for minute in (10, 10, 20, 30, 35, 40, 60, 90):
        d = step_escalation(POLICY, first_notified_at=T0, fired=fired, stopped=False, now=at(minute))
        seen += [(minute, e.receiver) for e in d.notify]
        fired += len(d.notify)
    assert seen == [
        (10, "oncall-secondary"),
        (30, "team-lead-email"),
        (40, "oncall-secondary"),
        (60, "team-lead-email"),
    ]
    assert step_escalation(POLICY, first_notified_at=T0, fired=4, stopped=False, now=at(999)).next_at is None


def test_overdue_steps_after_a_restart_all_fire_once() -> None:
    d = step_escalation(POLICY, first_notified_at=T0, fired=0, stopped=False, now=at(45))
    assert [e.number for e in d.notify] == [0, 1, 2] and d.next_at == at(60)


def test_ack_silence_or_resolve_stop_it() -> None:
    d = step_escalation(POLICY, first_notified_at=T0, fired=1, stopped=True, now=at(45))
    assert d.notify == () and d.next_at is None


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="no steps"):
        EscalationPolicy("p", ())
    with pytest.raises(ValueError, match="positive and increasing"):
        EscalationPolicy("p", (EscalationStep(600, "a"), EscalationStep(600, "b")))
    with pytest.raises(ValueError, match="repeat"):
        EscalationPolicy("p", (EscalationStep(600, "a"),), repeat=-1)


def test_the_escalated_notification_says_why() -> None:
    first = schedule(POLICY, T0)[0]
    assert escalation_line(first) == (
        "⏫ escalated to oncall-secondary: not acknowledged 10 min after the first notification"
    )
