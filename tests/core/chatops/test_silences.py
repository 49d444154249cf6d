"""The silence covering one group: group labels plus the route's matchers from the group key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.chatops.silences import (
    SilenceMatcher,
    SilenceScopeError,
    group_silence,
    group_silence_matchers,
    route_matchers,
)

NOW = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)


def test_route_matchers_are_read_from_each_level_of_the_key() -> None:
    key = '{}/{severity="critical",team=~"db|infra"}/{env!="dev"}:{alertname="X", instance="a:1"}'
    assert [str(m) for m in route_matchers(key)] == ['severity="critical"', 'team=~"db|infra"', 'env!="dev"']


def test_quoted_braces_colons_and_slashes_do_not_split() -> None:
    key = '{}/{path="/a}:b{/"}:{alertname="X"}'
    assert [(m.name, m.value) for m in route_matchers(key)] == [("path", "/a}:b{/")]


def test_group_labels_and_route_matchers_make_the_silence() -> None:
    matchers = group_silence_matchers(
        {"alertname": "DiskFull", "cluster": "eu1"},
        '{}/{severity="critical"}:{alertname="DiskFull", cluster="eu1"}',
    )
    assert [m.to_api() for m in matchers] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
        {"name": "cluster", "value": "eu1", "isRegex": False, "isEqual": True},
        {"name": "severity", "value": "critical", "isRegex": False, "isEqual": True},
    ]


def test_negative_and_regex_route_matchers_keep_their_meaning() -> None:
    matchers = group_silence_matchers({"alertname": "X"}, '{}/{env!~"dev|test"}:{alertname="X"}')
    assert matchers[-1] == SilenceMatcher("env", "dev|test", is_regex=True, is_equal=False)


def test_a_group_label_repeated_by_the_route_is_one_matcher() -> None:
    matchers = group_silence_matchers({"alertname": "X"}, '{}/{alertname="X"}:{alertname="X"}')
    assert matchers == (SilenceMatcher("alertname", "X"),)


def test_nothing_to_match_is_refused() -> None:
    with pytest.raises(SilenceScopeError, match="would cover every alert"):
        group_silence_matchers({}, "{}:{}")


@pytest.mark.parametrize("key", ["", "alertname", "{}", "{}/", '{}/{a="b"', "{}/{a=}x:{}", '{}/{a="\\t"}:{}'])
def test_unreadable_group_keys_are_refused(key: str) -> None:
    with pytest.raises(SilenceScopeError):
        route_matchers(key)


def test_group_silence_body() -> None:
    request = group_silence(
        {"alertname": "X"},
        '{}:{alertname="X"}',
        now=NOW,
        duration=timedelta(hours=4),
        created_by="alice (telegram)",
        comment="",
        alert_name="X",
    )
    assert request.to_api() == {
        "matchers": [{"name": "alertname", "value": "X", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-11-25T03:12:00+00:00",
        "endsAt": "2026-11-25T07:12:00+00:00",
        "createdBy": "alice (telegram)",
        "comment": "silenced from chat: X",
    }
    with pytest.raises(SilenceScopeError, match="positive duration"):
        group_silence(
            {"a": "b"}, "{}:{}", now=NOW, duration=timedelta(0), created_by="x", comment="", alert_name="X"
        )
