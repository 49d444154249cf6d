"""Permissions fail closed: no rules, unknown user, missing verb, alerts outside the matchers."""

from __future__ import annotations

from app.core.chatops.actions import Actor, Provider, Verb
from app.core.chatops.permissions import PermissionRule, authorize, is_known
from app.core.matchers import parse_matchers

ALICE = Actor(Provider.TELEGRAM, "111111111", "@alice")
BOB = Actor(Provider.TELEGRAM, "222222222", "@bob")
SLACK_ALICE = Actor(Provider.SLACK, "U024BE7LH", "alice")
RULES = (
    PermissionRule(frozenset({"telegram:111111111", "slack:U024BE7LH"}), frozenset(Verb)),
    PermissionRule(
        frozenset({"telegram:222222222"}),
        frozenset({Verb.ACK, Verb.UNACK}),
        tuple(parse_matchers('namespace="staging"')),
    ),
)
STAGING = [{"alertname": "X", "namespace": "staging"}]
PROD = [{"alertname": "X", "namespace": "prod"}]


def test_granted_verbs_are_allowed_for_every_listed_id() -> None:
    for actor in (ALICE, SLACK_ALICE):
        for verb in Verb:
            assert authorize(RULES, actor, verb, PROD).allowed


def test_no_rules_refuse_everyone() -> None:
    decision = authorize((), ALICE, Verb.ACK, PROD)
    assert not decision.allowed and "no permissions are configured" in decision.reason


def test_unknown_user_is_refused_and_told_their_id() -> None:
    stranger = Actor(Provider.TELEGRAM, "333", "@eve")
    decision = authorize(RULES, stranger, Verb.ACK, PROD)
    assert not decision and "telegram:333 is not in permissions" in decision.reason
    assert not is_known(RULES, stranger) and is_known(RULES, BOB)


def test_same_id_on_another_provider_is_another_user() -> None:
    assert not authorize(RULES, Actor(Provider.SLACK, "111111111", "x"), Verb.ACK, PROD)


def test_missing_verb_is_refused() -> None:
    decision = authorize(RULES, BOB, Verb.SILENCE, STAGING)
    assert not decision and decision.reason == "telegram:222222222 may not silence"


def test_matchers_limit_the_grant_to_matching_alerts() -> None:
    assert authorize(RULES, BOB, Verb.ACK, STAGING)
    decision = authorize(RULES, BOB, Verb.ACK, PROD)
    assert not decision and 'only alerts matching {namespace="staging"}' in decision.reason


def test_every_alert_of_the_group_must_match() -> None:
    assert not authorize(RULES, BOB, Verb.ACK, STAGING + PROD)
    assert not authorize(RULES, BOB, Verb.ACK, [])  # nothing to match: refused
    assert authorize(RULES, ALICE, Verb.ACK, [])  # an unscoped grant needs no labels
