"""`permissions:`: which chat user may perform which verb, on which alerts. Fails closed.

A rule grants its `allow` verbs to its `users`, optionally only on alerts its `matchers` match
(every alert of the group must match: a right on staging alerts is no right on a group that also
holds a production alert). No rules, an unknown user or a missing verb: refused, with the reason
to show the person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.core.chatops.actions import Actor, Verb
from app.core.matchers import Matcher, format_matchers, matches_all


@dataclass(frozen=True)
class PermissionRule:
    """One `permissions:` entry: these users may do these verbs (on alerts the matchers match)."""

    users: frozenset[str]
    allow: frozenset[Verb]
    matchers: tuple[Matcher, ...] = ()


@dataclass(frozen=True)
class Decision:
    """The answer of `authorize`: allowed or not, and why (shown to a refused person)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def authorize(
    rules: Sequence[PermissionRule],
    actor: Actor,
    verb: Verb,
    alerts: Iterable[Mapping[str, str]],
) -> Decision:
    """May `actor` perform `verb` on the group whose alerts have the labels `alerts`?

    Allowed when one rule names the actor, grants the verb, and has no matchers or matchers that
    every alert matches (a group without alerts matches no matchers)."""
    labels = list(alerts)
    mine = [r for r in rules if actor.key in r.users]
    if not rules:
        return Decision(False, "chat actions are not enabled: no permissions are configured")
    if not mine:
        return Decision(False, f"{actor.key} is not in permissions (ask for it to be added; /whoami)")
    granting = [r for r in mine if verb in r.allow]
    if not granting:
        return Decision(False, f"{actor.key} may not {verb.value}")
    for rule in granting:
        if not rule.matchers:
            return Decision(True, f"{actor.key} may {verb.value}")
        if labels and all(matches_all(rule.matchers, one) for one in labels):
            return Decision(
                True, f"{actor.key} may {verb.value} alerts matching {format_matchers(rule.matchers)}"
            )
    scopes = " or ".join(format_matchers(r.matchers) for r in granting)
    return Decision(False, f"{actor.key} may {verb.value} only alerts matching {scopes}")


def is_known(rules: Sequence[PermissionRule], actor: Actor) -> bool:
    """Whether any rule names `actor` (read-only commands such as /alerts need that much)."""
    return any(actor.key in r.users for r in rules)
