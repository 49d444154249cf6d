"""Escalation policy stepping: which receiver to notify next, and when. Pure; the caller keeps
`fired` (how many escalations were notified) durably, so a step never fires twice.

Every step's `after` counts from the group's first notification. With `repeat: N` the steps run
N more times, each round starting where the previous one ended (at the last step's `after`):
steps 10m, 30m with repeat 1 fire at 10m, 30m, 40m, 60m. Ack, silence or resolve stop it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class EscalationStep:
    """Notify `receiver` when the group is `after` seconds past its first notification."""

    after: float
    receiver: str


@dataclass(frozen=True)
class EscalationPolicy:
    """A named list of steps (strictly increasing `after`), run `repeat` more times."""

    name: str
    steps: tuple[EscalationStep, ...]
    repeat: int = 0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"escalation policy {self.name!r} has no steps")
        afters = [s.after for s in self.steps]
        if afters[0] <= 0 or any(b <= a for a, b in itertools.pairwise(afters)):
            raise ValueError(f"escalation policy {self.name!r}: steps' after must be positive and increasing")
        if self.repeat < 0:
            raise ValueError(f"escalation policy {self.name!r}: repeat must not be negative")


@dataclass(frozen=True)
class Escalation:
    """One scheduled notification: the `number`-th (0-based) of the policy's whole schedule."""

    number: int
    round: int
    step: int
    receiver: str
    after: float
    """Seconds after the first notification (rounds included)."""
    due_at: datetime


@dataclass(frozen=True)
class EscalationDecision:
    """What to do now: notify these (in order), then look again at `next_at` (None: done)."""

    notify: tuple[Escalation, ...]
    next_at: datetime | None


def schedule(policy: EscalationPolicy, first_notified_at: datetime) -> list[Escalation]:
    """Every escalation the policy can make for a group first notified at `first_notified_at`."""
    cycle = policy.steps[-1].after
    out: list[Escalation] = []
    for rnd in range(policy.repeat + 1):
        for index, step in enumerate(policy.steps):
            after = rnd * cycle + step.after
            due = first_notified_at + timedelta(seconds=after)
            out.append(Escalation(len(out), rnd, index, step.receiver, after, due))
    return out


def step_escalation(
    policy: EscalationPolicy,
    *,
    first_notified_at: datetime,
    fired: int,
    stopped: bool,
    now: datetime,
) -> EscalationDecision:
    """The escalations due at `now` that were not fired yet (all of them if several are overdue,
    e.g. after a restart), and when the next one is due. `stopped` (acknowledged, silenced or
    resolved): nothing, ever."""
    if stopped:
        return EscalationDecision((), None)
    pending = schedule(policy, first_notified_at)[fired:]
    due = tuple(e for e in pending if e.due_at <= now)
    later = pending[len(due) :]
    return EscalationDecision(due, later[0].due_at if later else None)


def escalation_line(escalation: Escalation) -> str:
    """The line the escalated notification carries: that it was escalated and why."""
    minutes = escalation.after / 60
    span = f"{minutes:g} min" if minutes < 120 else f"{minutes / 60:g} h"
    return f"⏫ escalated to {escalation.receiver}: not acknowledged {span} after the first notification"
