"""The guards of self-healing as pure functions over a small slot record a store keeps.

Slots (what a store persists; one table, PRIMARY KEY (key)):

    key          text    what is held, see below
    holder       text    the intent (job) that holds it
    taken_at     float   epoch seconds
    expires_at   float   the slot is free again from then on (inf: never; purge after retention)

Keys (a `dry/` prefix in dry run, so a rehearsal never blocks the real thing):

    once/{action}/{target.key}/{fingerprint}@{episode}     once-until-resolved: one run per firing
                                                            episode (startsAt) of the alert; a new
                                                            episode is a new key, so it re-arms
                                                            without any delete on resolve
    cooldown/{action}/{target.key}                          expires `cooldown` after the action
    breaker/{target.key}/{i}  for i in 0..max_actions-1     one per action on the target within
                                                            `within`: when all are held, refused

A claim takes a slot when it is absent, expired, or already held by the same holder (a retried job
re-decides idempotently). Every claim of one decision is taken in ONE transaction, all or none;
with several replicas the primary key makes exactly one of them win, e.g. in SQL:

    INSERT INTO remediation_slots (key, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, taken_at = excluded.taken_at,
        expires_at = excluded.expires_at
    WHERE remediation_slots.expires_at <= excluded.taken_at
       OR remediation_slots.holder = excluded.holder
    RETURNING holder            -- no row back: someone else holds it; roll back, re-decide

Guards run in the order of refusals.GUARD_ORDER; dry-run and approval come last and are not
refusals: they turn "act" into "would" or "await_approval" (the slots are claimed all the same,
so a storm in dry run reports one "would …" and refuses the rest like the real thing would).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.core.durations import format_duration
from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.planner import Intent
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.rollout import workload_refusal
from app.core.remediation.scaling import desired_replicas
from app.core.remediation.targets import Target

ClaimKind = Literal["once", "cooldown", "breaker"]


@dataclass(frozen=True)
class Slot:
    """One row of the slot table."""

    key: str
    holder: str
    taken_at: float
    expires_at: float

    def held_against(self, holder: str, now: float) -> bool:
        return self.holder != holder and self.expires_at > now


@dataclass(frozen=True)
class Claim:
    """A slot to take (insert or take over) when the decision is carried out."""

    key: str
    kind: ClaimKind
    expires_at: float

    def slot(self, holder: str, now: float) -> Slot:
        return Slot(self.key, holder, now, self.expires_at)


DecisionKind = Literal["act", "would", "await_approval", "refused"]


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    claims: tuple[Claim, ...] = ()
    refusal: Refusal | None = None
    replicas: int | None = None
    """scale: the absolute replicas to set (fixed now, so a retried job sets the same number)."""


def _prefix(policy: Policy) -> str:
    return "dry/" if policy.dry_run else ""


def once_key(intent: Intent, target: Target, policy: Policy) -> str:
    return f"{_prefix(policy)}once/{intent.action}/{target.key}/{intent.fingerprint}@{intent.episode}"


def cooldown_key(action: str, target: Target, policy: Policy) -> str:
    return f"{_prefix(policy)}cooldown/{action}/{target.key}"


def breaker_keys(target: Target, policy: Policy) -> list[str]:
    return [f"{_prefix(policy)}breaker/{target.key}/{i}" for i in range(policy.breaker_max_actions)]


def slot_keys(intent: Intent, spec: ActionSpec, policy: Policy) -> list[str]:
    """The slots a store must read for `decide` (none when the intent is refused already)."""
    if intent.target is None or intent.refusal is not None:
        return []
    keys = []
    if spec.once_until_resolved:
        keys.append(once_key(intent, intent.target, policy))
    if spec.cooldown > 0:
        keys.append(cooldown_key(spec.name, intent.target, policy))
    return keys + breaker_keys(intent.target, policy)


def stored_guards(
    intent: Intent, spec: ActionSpec, policy: Policy, *, slots: Mapping[str, Slot], holder: str, now: float
) -> Refusal | tuple[Claim, ...]:
    """Guards 1 to 5: the planner's refusal, once-until-resolved, cooldown, circuit breaker.
    Returns the refusal, or the claims to take if the action goes ahead."""
    if intent.refusal is not None:
        return intent.refusal
    target = intent.target
    assert target is not None, "an intent without a target carries a refusal"
    claims: list[Claim] = []
    if spec.once_until_resolved:
        key = once_key(intent, target, policy)
        slot = slots.get(key)
        if slot is not None and slot.held_against(holder, now):
            return Refusal(Guard.ONCE, f"already acted for this firing episode ({_ago(slot, now)})")
        claims.append(Claim(key, "once", math.inf))
    if spec.cooldown > 0:
        key = cooldown_key(spec.name, target, policy)
        slot = slots.get(key)
        if slot is not None and slot.held_against(holder, now):
            return Refusal(
                Guard.COOLDOWN,
                f"{spec.name} acted on {target} {_ago(slot, now)} "
                f"(cooldown {format_duration(spec.cooldown)})",
            )
        claims.append(Claim(key, "cooldown", now + spec.cooldown))
    breaker = _free_breaker_slot(target, policy, slots, holder, now)
    if breaker is None:
        held = [s for k in breaker_keys(target, policy) if (s := slots.get(k)) is not None]
        nxt = min(s.expires_at for s in held) - now if held else 0.0
        return Refusal(
            Guard.BREAKER,
            f"{policy.breaker_max_actions} actions on {target} within "
            f"{format_duration(policy.breaker_within)} (next allowed in {format_duration(max(nxt, 1))}); "
            "humans decide",
        )
    claims.append(Claim(breaker, "breaker", now + policy.breaker_within))
    return tuple(claims)


def _free_breaker_slot(
    target: Target, policy: Policy, slots: Mapping[str, Slot], holder: str, now: float
) -> str | None:
    keys = breaker_keys(target, policy)
    for key in keys:  # a slot this holder took already: the same decision again
        slot = slots.get(key)
        if slot is not None and slot.holder == holder:
            return key
    for key in keys:
        slot = slots.get(key)
        if slot is None or not slot.held_against(holder, now):
            return key
    return None


def _ago(slot: Slot, now: float) -> str:
    return f"{format_duration(max(now - slot.taken_at, 1))} ago"


def live_guards(spec: ActionSpec, target: Target, live: Mapping[str, Any] | None) -> Refusal | int | None:
    """Guard 6 on the object as just read (rollout_restart, scale): paused / still rolling, or for
    scale the replicas to set (an int) or a refusal when at its bound. None: nothing to check."""
    if live is None:
        return None
    if spec.kind == "rollout_restart":
        return workload_refusal(target.kind, live)
    if spec.kind == "scale" and spec.scale is not None:
        current = (live.get("spec") or {}).get("replicas")
        wanted = desired_replicas(spec.scale, current if isinstance(current, int) else 0)
        return Refusal(Guard.REPLICAS, wanted) if isinstance(wanted, str) else wanted
    return None


def decide(
    intent: Intent,
    spec: ActionSpec,
    policy: Policy,
    *,
    slots: Mapping[str, Slot],
    holder: str,
    now: float,
    live: Mapping[str, Any] | None = None,
) -> Decision:
    """Every guard in order. `live` is the target object as just read (the workload for
    rollout_restart, the Scale for scale); None skips the live guard (e.g. `actions test` without
    cluster access). A worker may call `stored_guards` first to spare the API read on a storm."""
    stored = stored_guards(intent, spec, policy, slots=slots, holder=holder, now=now)
    if isinstance(stored, Refusal):
        return Decision("refused", refusal=stored)
    assert intent.target is not None
    checked = live_guards(spec, intent.target, live)
    if isinstance(checked, Refusal):
        return Decision("refused", refusal=checked)
    if policy.dry_run:
        return Decision("would", stored, replicas=checked)
    if spec.approval_required:
        return Decision("await_approval", stored, replicas=checked)
    return Decision("act", stored, replicas=checked)


def released_when(
    outcome: Literal["rejected", "expired", "cancelled"], claims: tuple[Claim, ...]
) -> list[str]:
    """Slot keys to free when an action awaiting approval never runs. Nothing was done, so the
    breaker slot goes back; a rejected or expired action keeps its once and cooldown slots (a human
    said no, or nobody answered: do not ask again at once); a cancelled one (the alert resolved)
    frees its cooldown too."""
    kinds: set[ClaimKind] = {"breaker"} if outcome != "cancelled" else {"breaker", "cooldown"}
    return [c.key for c in claims if c.kind in kinds]
