"""Dedup of repeated deliveries: Alertmanager HA peers and retries send the same group again.

A thread is (group key, destination). Its state remembers what was last accepted. A message whose
alert state equals the last accepted one within the dedup window is a duplicate; after the window
it is Alertmanager's repeat notification and is delivered again as a new message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from app.core.models import Alert

Decision = Literal["duplicate", "new", "update"]


@dataclass(frozen=True)
class ThreadState:
    signature: str
    firing: frozenset[str]
    accepted_at: float


def signature(alerts: Iterable[Alert]) -> str:
    """Identity of a group's alert state: which fingerprints fire and which are resolved.

    Like Alertmanager's own dedup stage, annotations and timestamps do not count: a change of
    a description alone is not a new notification.
    """
    firing = sorted(a.fingerprint for a in alerts if a.status == "firing")
    resolved = sorted({a.fingerprint for a in alerts if a.status == "resolved"} - set(firing))
    text = ",".join(firing) + "|" + ",".join(resolved)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def is_duplicate(prev: ThreadState | None, *, sig: str, now: float, window: float) -> bool:
    """The same alert state as last accepted, within the window. A store evaluates exactly this
    as the condition of its thread upsert (see app.store), so concurrent ingests agree."""
    return prev is not None and prev.signature == sig and now - prev.accepted_at < window


def kind_after(
    prev_signature: str | None, prev_firing: frozenset[str], *, sig: str, firing: frozenset[str]
) -> Decision:
    """What a message that is not a duplicate becomes, given the thread's previous state."""
    if prev_signature is None or prev_signature == sig:
        return "new"  # first time, or a repeat after the window
    if firing <= prev_firing:
        return "update"
    return "new"


def decide(
    prev: ThreadState | None, *, sig: str, firing: frozenset[str], now: float, window: float
) -> Decision:
    """`duplicate`: drop. `new`: send a new message (first time, new firing alerts, or a repeat
    after the window). `update`: only resolutions since last time: edit the message in place."""
    if is_duplicate(prev, sig=sig, now=now, window=window):
        return "duplicate"
    if prev is None:
        return "new"
    return kind_after(prev.signature, prev.firing, sig=sig, firing=firing)
