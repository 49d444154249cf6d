"""Tests for the time intervals of app.core.routing: which results are muted at an instant.

Expectations follow Alertmanager: dispatch/route.go (a route's ``mute_time_intervals`` and
``active_time_intervals`` are its own, not inherited), notify's time stages (the active stage
runs before the mute stage) and config.go (the root may have neither; every name must be
defined). tests/e2e/test_time_intervals.py checks the same against a running Alertmanager.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.core.matchers import Matcher, MatchOp, parse_matchers
from app.core.routing import Muted, Route, Routed, match, match_at, match_paths, route_at, validate
from app.core.timeintervals import parse_time_intervals


def build(node: Mapping[str, Any]) -> Route:
    """A Route from an Alertmanager-style YAML route mapping, time intervals included."""
    return Route(
        receiver=node.get("receiver"),
        matchers=tuple(m for text in node.get("matchers", []) for m in parse_matchers(text)),
        continue_=bool(node.get("continue", False)),
        routes=tuple(build(child) for child in node.get("routes", [])),
        mute_time_intervals=tuple(node.get("mute_time_intervals", [])),
        active_time_intervals=tuple(node.get("active_time_intervals", [])),
    )


CONFIG = yaml.safe_load(
    """
time_intervals:
- name: offhours          # UTC nights and weekends
  time_intervals:
  - times: [{start_time: '18:00', end_time: '24:00'}, {start_time: '00:00', end_time: '08:00'}]
  - weekdays: [saturday, sunday]
- name: workhours
  time_intervals:
  - times: [{start_time: '08:00', end_time: '18:00'}]
    weekdays: ['monday:friday']
- name: maintenance
  time_intervals:
  - days_of_month: ['-1']
route:
  receiver: default
  routes:
  - matchers: ['env="staging"']
    receiver: staging-pager
    mute_time_intervals: [offhours]
    continue: true
  - matchers: ['env="staging"']
    receiver: staging-chat
  - matchers: ['team="db"']
    receiver: db-pager
    active_time_intervals: [workhours]
    mute_time_intervals: [maintenance]
  - matchers: ['team="web"']
    receiver: web
    mute_time_intervals: [maintenance, offhours]
    routes:
    - matchers: ['severity="critical"']
      receiver: web-pager
"""
)
TABLE, PROBLEMS = parse_time_intervals(CONFIG["time_intervals"])
ROOT = build(CONFIG["route"])

MONDAY_NOON = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
MONDAY_NIGHT = datetime(2024, 5, 6, 22, 0, tzinfo=UTC)
SATURDAY_NOON = datetime(2024, 5, 11, 12, 0, tzinfo=UTC)
LAST_OF_MONTH_NOON = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)  # a Friday


def test_table_is_valid() -> None:
    assert PROBLEMS == []
    assert (
        validate(ROOT, ["default", "staging-pager", "staging-chat", "db-pager", "web", "web-pager"], TABLE)
        == []
    )


@pytest.mark.parametrize(
    ("labels", "instant", "receivers", "muted"),
    [
        # Staging pages by day only; its chat (continue) gets it always.
        ({"env": "staging"}, MONDAY_NOON, ["staging-pager", "staging-chat"], []),
        ({"env": "staging"}, MONDAY_NIGHT, ["staging-chat"], [("staging-pager", "mute", ("offhours",))]),
        ({"env": "staging"}, SATURDAY_NOON, ["staging-chat"], [("staging-pager", "mute", ("offhours",))]),
        # Active intervals: db pages only in work hours, and not on the last day of the month.
        ({"team": "db"}, MONDAY_NOON, ["db-pager"], []),
        ({"team": "db"}, MONDAY_NIGHT, [], [("db-pager", "active", ("workhours",))]),
        ({"team": "db"}, LAST_OF_MONTH_NOON, [], [("db-pager", "mute", ("maintenance",))]),
        # Outside the active intervals AND inside a mute one: reported as not active, the
        # stage Alertmanager runs first.
        (
            {"team": "db"},
            datetime(2024, 8, 31, 12, 0, tzinfo=UTC),
            [],
            [("db-pager", "active", ("workhours",))],
        ),
        # Every mute interval that contains the instant is named, in the route's order.
        (
            {"team": "web"},
            datetime(2024, 5, 31, 20, 0, tzinfo=UTC),
            [],
            [("web", "mute", ("maintenance", "offhours"))],
        ),
        ({"team": "web"}, MONDAY_NIGHT, [], [("web", "mute", ("offhours",))]),
        # Not inherited: the child has no intervals of its own, so it is never muted.
        ({"team": "web", "severity": "critical"}, MONDAY_NIGHT, ["web-pager"], []),
        # The root has no intervals.
        ({}, MONDAY_NIGHT, ["default"], []),
    ],
)
def test_match_at(
    labels: dict[str, str],
    instant: datetime,
    receivers: list[str],
    muted: list[tuple[str, str, tuple[str, ...]]],
) -> None:
    routed = match_at(ROOT, labels, intervals=TABLE, at=instant)
    assert list(routed.receivers) == receivers
    assert [(m.receiver, m.reason.split("_")[0], m.intervals) for m in routed.muted] == muted
    # Every result of the plain walk is either notified or muted, nothing is lost.
    assert sorted([*routed.receivers, *(m.receiver for m in routed.muted)]) == sorted(match(ROOT, labels))


def test_match_at_paths_and_messages() -> None:
    routed = match_at(ROOT, {"env": "staging", "team": "db"}, intervals=TABLE, at=MONDAY_NIGHT)
    assert routed == Routed(
        receivers=("staging-chat",),
        paths=((1,),),
        muted=(Muted((0,), "staging-pager", "mute_time_intervals", ("offhours",)),),
    )
    routed = match_at(ROOT, {"team": "db"}, intervals=TABLE, at=MONDAY_NIGHT)
    assert [str(m) for m in routed.muted] == [
        "db-pager muted at route.routes[2]: outside its active time interval 'workhours'"
    ]
    routed = match_at(ROOT, {"team": "web"}, intervals=TABLE, at=datetime(2024, 5, 31, 20, 0, tzinfo=UTC))
    assert [str(m) for m in routed.muted] == [
        "web muted at route.routes[3] by time intervals 'maintenance', 'offhours'"
    ]


def test_duplicates_muted_one_by_one() -> None:
    # The same receiver reached twice: each result is judged by its own node.
    quiet = Route("pager", (Matcher("a", MatchOp.EQ, "1"),), continue_=True, mute_time_intervals=("always",))
    loud = Route("pager", (Matcher("a", MatchOp.EQ, "1"),))
    root = Route("default", routes=(quiet, loud))
    table, _ = parse_time_intervals([{"name": "always", "time_intervals": [{}]}])
    routed = match_at(root, {"a": "1"}, intervals=table, at=MONDAY_NOON)
    assert routed.receivers == ("pager",)
    assert routed.paths == ((1,),)
    assert routed.muted == (Muted((0,), "pager", "mute_time_intervals", ("always",)),)
    assert match(root, {"a": "1"}) == ["pager", "pager"]  # match() ignores time intervals, as amtool


def test_interval_without_entries_never_mutes_and_never_activates() -> None:
    table, _ = parse_time_intervals([{"name": "never"}])
    root = Route(
        "d", routes=(Route("m", mute_time_intervals=["never"]), Route("a", active_time_intervals=["never"]))
    )
    assert match_at(root, {}, intervals=table, at=MONDAY_NOON).receivers == ("m",)
    active_only = Route("d", routes=(Route("a", active_time_intervals=["never"]),))
    assert match_at(active_only, {}, intervals=table, at=MONDAY_NOON).muted == (
        Muted((0,), "a", "active_time_intervals", ("never",)),
    )


def test_unknown_interval_at_evaluation_is_an_error() -> None:
    root = Route("d", routes=(Route("x", mute_time_intervals=("ghost",)),))
    with pytest.raises(KeyError, match="ghost"):
        match_at(root, {}, intervals=TABLE, at=MONDAY_NOON)


def test_route_takes_lists_and_stays_hashable() -> None:
    route = Route("x", mute_time_intervals=["a"], active_time_intervals=["b"])  # type: ignore[arg-type]
    assert route.mute_time_intervals == ("a",)
    assert route.active_time_intervals == ("b",)
    assert hash(route) == hash(Route("x", mute_time_intervals=("a",), active_time_intervals=("b",)))
    assert route != Route("x")


def test_validate_time_interval_references() -> None:
    root = Route(
        "default",
        routes=(
            Route("a", mute_time_intervals=("offhours",)),
            Route(
                "b",
                mute_time_intervals=("workhours", "offhours"),
                routes=(Route(None, active_time_intervals=("holidays", "workhours")),),
            ),
        ),
    )
    hint = " (did you mean `workhours`?)"
    assert validate(root, ["default", "a", "b"], ["workhours"]) == [
        ("route.routes[0].mute_time_intervals[0]", f"unknown time interval 'offhours'{hint}"),
        ("route.routes[1].mute_time_intervals[1]", f"unknown time interval 'offhours'{hint}"),
        ("route.routes[1].routes[0].active_time_intervals[0]", "unknown time interval 'holidays'"),
    ]
    assert validate(root, ["default", "a", "b"], {"workhours", "offhours", "holidays"}) == []
    # Without the names, every reference is unknown (the two-argument call stays as it was).
    assert len(validate(root, ["default", "a", "b"])) == 5


def test_validate_root_time_intervals() -> None:
    root = Route("a", mute_time_intervals=("x",), active_time_intervals=("y",))
    assert validate(root, ["a"], ["x", "y"]) == [
        ("route.mute_time_intervals", "the root route must not have any mute time intervals"),
        ("route.active_time_intervals", "the root route must not have any active time intervals"),
    ]


names = st.lists(st.sampled_from(["always", "never"]), max_size=2).map(tuple)
timed_routes: st.SearchStrategy[Route] = st.recursive(
    st.builds(
        Route, st.sampled_from(["r0", "r1", None]), st.just(()), st.booleans(), st.just(()), names, names
    ),
    lambda children: st.builds(
        Route,
        st.sampled_from(["r0", "r1", None]),
        st.lists(
            st.builds(Matcher, st.just("x"), st.sampled_from(list(MatchOp)), st.sampled_from(["a", "b"])),
            max_size=1,
        ).map(tuple),
        st.booleans(),
        st.lists(children, max_size=3).map(tuple),
        names,
        names,
    ),
    max_leaves=10,
)
ALWAYS_NEVER, _ = parse_time_intervals([{"name": "always", "time_intervals": [{}]}, {"name": "never"}])


@given(timed_routes, st.sampled_from(["", "a", "b"]))
def test_every_result_is_notified_or_muted_by_its_own_node(tree_: Route, x: str) -> None:
    root = Route("d", routes=tree_.routes)
    routed = match_at(root, {"x": x}, intervals=ALWAYS_NEVER, at=MONDAY_NOON)
    # The plain walk's results, split in two, each keeping the tree order.
    by_path = {p: r for p, r in zip(routed.paths, routed.receivers, strict=True)}
    by_path |= {m.path: m.receiver for m in routed.muted}
    assert sorted(by_path) == sorted(match_paths(root, {"x": x}))
    assert [by_path[p] for p in match_paths(root, {"x": x})] == match(root, {"x": x})
    for m in routed.muted:
        node = route_at(root, m.path)
        if m.reason == "active_time_intervals":
            assert set(node.active_time_intervals) == {"never"}
        else:
            assert m.intervals == ("always",)
            assert not node.active_time_intervals or "always" in node.active_time_intervals
    for path in routed.paths:
        node = route_at(root, path)
        assert "always" not in node.mute_time_intervals
        assert not node.active_time_intervals or "always" in node.active_time_intervals
