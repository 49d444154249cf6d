"""Tests for app.core.routing: which receivers an alert reaches, as Alertmanager decides it.

The trees and expectations are written for this project from the behaviour documented in:

* [simple.yml] prometheus/alertmanager doc/examples/simple.yml, the documented example
  config (the ``match_re`` ``service: ^(foo1|foo2|baz)$`` tree, its comments saying what falls
  back to which parent, and the ``owner`` sub-routes with ``continue``);
* [docs] docs/configuration.md, ``<route>``: "stops after the first matching child",
  "continue", "handled based on the configuration parameters of the current node", and its
  example tree (database-pager, frontend-pager, dev-pager with continue, on-call-pager);
* [amtool] the README: ``amtool config routes test --config.file=doc/examples/simple.yml
  --verify.receivers=team-X-pager service=database owner=team-X``; cli/test_routing.go prints
  the receivers comma-separated "in order as defined in the routing tree", without
  de-duplication;
* [routes.test] the expectations of cli/test_routing_test.go (conf.routing.yml) and
  dispatch/route_test.go (TestRouteMatch: inheritance of the receiver by routes without one).

The slow test at the end replays the tables through the real amtool when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from app.core.matchers import Matcher, MatchOp, matchers_from_legacy, parse_matchers
from app.core.routing import (
    Route,
    effective_receiver,
    match,
    match_paths,
    route_at,
    validate,
    walk,
    yaml_path,
)


def build(node: Mapping[str, Any]) -> Route:
    """A Route from an Alertmanager-style YAML route mapping (test helper, like the config
    layer does it)."""
    matchers = [m for text in node.get("matchers", []) for m in parse_matchers(text)]
    matchers += matchers_from_legacy(
        {k: str(v) for k, v in node.get("match", {}).items()},
        {k: str(v) for k, v in node.get("match_re", {}).items()},
    )
    return Route(
        receiver=node.get("receiver"),
        matchers=tuple(matchers),
        continue_=bool(node.get("continue", False)),
        routes=tuple(build(child) for child in node.get("routes", [])),
    )


def tree(text: str) -> Route:
    return build(yaml.safe_load(text)["route"])


# [simple.yml] as documented, with the deprecated match/match_re keys.
SIMPLE_LEGACY = """
route:
  group_by: ['alertname', 'cluster', 'service']
  receiver: team-X-mails
  routes:
  - match_re:
      service: ^(foo1|foo2|baz)$
    receiver: team-X-mails
    routes:
    - match:
        severity: critical
      receiver: team-X-pager
  - match:
      service: files
    receiver: team-Y-mails
    routes:
    - match:
        severity: critical
      receiver: team-Y-pager
  - match:
      service: database
    receiver: team-DB-pager
    group_by: [alertname, cluster, database]
    routes:
    - match:
        owner: team-X
      receiver: team-X-pager
      continue: true
    - match:
        owner: team-Y
      receiver: team-Y-pager
"""

# The same tree written with matchers, as later versions of the example do.
SIMPLE_MATCHERS = """
route:
  receiver: team-X-mails
  routes:
  - matchers:
    - service=~"foo1|foo2|baz"
    receiver: team-X-mails
    routes:
    - matchers:
      - severity="critical"
      receiver: team-X-pager
  - matchers:
    - service="files"
    receiver: team-Y-mails
    routes:
    - matchers:
      - severity="critical"
      receiver: team-Y-pager
  - matchers:
    - service="database"
    receiver: team-DB-pager
    routes:
    - matchers:
      - owner="team-X"
      receiver: team-X-pager
      continue: true
    - matchers:
      - owner="team-Y"
      receiver: team-Y-pager
"""

SIMPLE_CASES: list[tuple[dict[str, str], list[str], list[tuple[int, ...]]]] = [
    # Regex route for a list of services; severity!=critical falls back to the parent.
    ({"service": "foo1"}, ["team-X-mails"], [(0,)]),
    ({"service": "foo2", "severity": "warning"}, ["team-X-mails"], [(0,)]),
    ({"service": "baz", "severity": "critical"}, ["team-X-pager"], [(0, 0)]),
    # The regex is anchored: near misses stay at the root.
    ({"service": "foo3"}, ["team-X-mails"], [()]),
    ({"service": "foo1x", "severity": "critical"}, ["team-X-mails"], [()]),
    ({"service": "xbaz"}, ["team-X-mails"], [()]),
    ({}, ["team-X-mails"], [()]),
    ({"service": "files"}, ["team-Y-mails"], [(1,)]),
    ({"service": "files", "severity": "critical"}, ["team-Y-pager"], [(1, 0)]),
    # "If there's no team to handle it, it defaults to the DB team."
    ({"service": "database"}, ["team-DB-pager"], [(2,)]),
    ({"service": "database", "owner": "team-Z"}, ["team-DB-pager"], [(2,)]),
    # [amtool] --verify.receivers=team-X-pager service=database owner=team-X; continue goes
    # on to the team-Y sibling, which does not match.
    ({"service": "database", "owner": "team-X"}, ["team-X-pager"], [(2, 0)]),
    ({"service": "database", "owner": "team-Y"}, ["team-Y-pager"], [(2, 1)]),
    # First match wins among the root's children (none has continue).
    ({"service": "database", "severity": "critical"}, ["team-DB-pager"], [(2,)]),
]


@pytest.mark.parametrize("source", [SIMPLE_LEGACY, SIMPLE_MATCHERS], ids=["match", "matchers"])
@pytest.mark.parametrize(("labels", "receivers", "paths"), SIMPLE_CASES)
def test_simple_example(
    source: str, labels: dict[str, str], receivers: list[str], paths: list[tuple[int, ...]]
) -> None:
    root = tree(source)
    assert match(root, labels) == receivers
    assert match_paths(root, labels) == paths


# [docs] the <route> example of docs/configuration.md.
DOCS_ROUTE = """
route:
  receiver: 'default-receiver'
  group_wait: 30s
  group_by: [cluster, alertname]
  routes:
  - receiver: 'database-pager'
    group_wait: 10s
    matchers:
    - service=~"mysql|cassandra"
  - receiver: 'frontend-pager'
    group_by: [product, environment]
    matchers:
    - team="frontend"
  - receiver: 'dev-pager'
    matchers:
      - service="inhouse-service"
    mute_time_intervals:
      - offhours
      - holidays
    continue: true
  - receiver: 'on-call-pager'
    matchers:
      - service="inhouse-service"
    active_time_intervals:
      - offhours
      - holidays
"""


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # "All alerts that do not match the following child routes will remain at the root
        # node and be dispatched to 'default-receiver'."
        ({"alertname": "Anything"}, ["default-receiver"]),
        ({"service": "postgres"}, ["default-receiver"]),
        ({"service": "mysql"}, ["database-pager"]),
        ({"service": "cassandra", "team": "frontend"}, ["database-pager"]),  # first match stops
        ({"team": "frontend"}, ["frontend-pager"]),
        # "even if it matches, it will continue to the next sub-route"
        ({"service": "inhouse-service"}, ["dev-pager", "on-call-pager"]),
        ({"service": "inhouse-service", "team": "frontend"}, ["frontend-pager"]),
    ],
)
def test_docs_route_example(labels: dict[str, str], receivers: list[str]) -> None:
    assert match(tree(DOCS_ROUTE), labels) == receivers


# [routes.test] cli/testdata/conf.routing.yml and its reverted twin: continue keeps the
# order of the tree.
CONF_ROUTING = """
route:
  receiver: default
  routes:
    - match_re:
        test: ^[12]$
      receiver: test1
      continue: true
    - match:
        test: 2
      receiver: test2
"""
CONF_ROUTING_REVERTED = """
route:
  receiver: default
  routes:
    - match:
        test: 2
      receiver: test2
      continue: true
    - match_re:
        test: ^[12]$
      receiver: test1
"""


@pytest.mark.parametrize(
    ("source", "labels", "receivers"),
    [
        (CONF_ROUTING, {"test": "1"}, ["test1"]),
        (CONF_ROUTING, {"test": "2"}, ["test1", "test2"]),
        (CONF_ROUTING_REVERTED, {"test": "2"}, ["test2", "test1"]),
        (CONF_ROUTING, {"test": "volovina"}, ["default"]),
    ],
)
def test_continue_keeps_tree_order(source: str, labels: dict[str, str], receivers: list[str]) -> None:
    assert match(tree(source), labels) == receivers


# [routes.test] dispatch/route_test.go's tree: routes without a receiver inherit it.
INHERIT = """
route:
  receiver: 'notify-def'
  routes:
  - match:
      owner: 'team-A'
    receiver: 'notify-A'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
    - match:
        env: "production"
      receiver: 'notify-productionA'
      continue: true
    - match_re:
        env: "produ.*"
        job: ".*"
      receiver: 'notify-productionB'
  - match_re:
      owner: 'team-(B|C)'
    receiver: 'notify-BC'
  - match:
      group_by: 'role'
    routes:
    - match:
        env: 'testing'
      receiver: 'notify-testing'
      routes:
      - match:
          wait: 'long'
"""


@pytest.mark.parametrize(
    ("labels", "receivers", "paths"),
    [
        ({"owner": "team-A"}, ["notify-A"], [(0,)]),
        ({"owner": "team-A", "env": "unset"}, ["notify-A"], [(0,)]),
        ({"owner": "team-C"}, ["notify-BC"], [(1,)]),
        ({"owner": "team-A", "env": "testing"}, ["notify-testing"], [(0, 0)]),
        # job=~".*" matches the absent job label.
        (
            {"owner": "team-A", "env": "production"},
            ["notify-productionA", "notify-productionB"],
            [(0, 1), (0, 2)],
        ),
        # No receiver on route[2]: the root's; on route[2][0][0]: route[2][0]'s.
        ({"group_by": "role"}, ["notify-def"], [(2,)]),
        ({"env": "testing", "group_by": "role"}, ["notify-testing"], [(2, 0)]),
        ({"env": "testing", "group_by": "role", "wait": "long"}, ["notify-testing"], [(2, 0, 0)]),
    ],
)
def test_receiver_inheritance(
    labels: dict[str, str], receivers: list[str], paths: list[tuple[int, ...]]
) -> None:
    root = tree(INHERIT)
    assert match(root, labels) == receivers
    assert match_paths(root, labels) == paths
    assert [effective_receiver(root, p) for p in paths] == receivers


def test_duplicates_are_kept_in_order() -> None:
    # amtool joins Match()'s receivers without de-duplicating: "pager,mails,pager".
    pager = Route("pager", (Matcher("severity", MatchOp.EQ, "critical"),), continue_=True)
    mails = Route("mails", (Matcher("team", MatchOp.EQ, "x"),), continue_=True)
    root = Route("default", routes=(pager, mails, pager))
    assert match(root, {"severity": "critical", "team": "x"}) == ["pager", "mails", "pager"]
    assert match(root, {"team": "x"}) == ["mails"]


def test_matching_child_hides_parent_even_with_continue() -> None:
    # A node is a result only when none of its children matched, continue or not.
    child = Route("child", (Matcher("a", MatchOp.EQ, "1"),), continue_=True)
    root = Route("root", routes=(Route(None, routes=(child,)),))
    assert match(root, {"a": "1"}) == ["child"]
    assert match(root, {"a": "2"}) == ["root"]


def test_continue_on_a_non_matching_child_changes_nothing() -> None:
    first = Route("first", (Matcher("a", MatchOp.EQ, "1"),), continue_=True)
    second = Route("second", (Matcher("b", MatchOp.EQ, "1"),))
    third = Route("third")
    root = Route("root", routes=(first, second, third))
    assert match(root, {"b": "1"}) == ["second"]
    assert match(root, {"a": "1"}) == ["first", "third"]  # an empty child matches everything
    assert match(root, {}) == ["third"]


def test_root_always_matches() -> None:
    # Alertmanager refuses matchers on the root (validate() reports it); match() ignores them.
    root = Route("default", (Matcher("never", MatchOp.EQ, "x"),))
    assert match(root, {}) == ["default"]
    assert match_paths(root, {}) == [()]


def test_no_receiver_anywhere_gives_empty_name() -> None:
    root = Route(None, routes=(Route("", (Matcher("a", MatchOp.EQ, "1"),)),))
    assert match(root, {"a": "1"}) == [""]


def test_route_accepts_lists_and_stays_hashable() -> None:
    m = Matcher("a", MatchOp.EQ, "1")
    route = Route("x", [m], routes=[Route("y")])  # type: ignore[arg-type]
    assert route.matchers == (m,)
    assert route.routes == (Route("y"),)
    assert hash(route) == hash(Route("x", (m,), routes=(Route("y"),)))


def test_walk_route_at_and_yaml_path() -> None:
    root = tree(INHERIT)
    paths = [p for p, _ in walk(root)]
    # Depth-first, parents first, as Alertmanager's Route.Walk.
    assert paths == [(), (0,), (0, 0), (0, 1), (0, 2), (1,), (2,), (2, 0), (2, 0, 0)]
    assert [effective_receiver(root, p) for p in paths] == [
        "notify-def",
        "notify-A",
        "notify-testing",
        "notify-productionA",
        "notify-productionB",
        "notify-BC",
        "notify-def",
        "notify-testing",
        "notify-testing",
    ]
    assert route_at(root, (0, 2)).receiver == "notify-productionB"
    assert route_at(root, ()) is root
    with pytest.raises(IndexError, match=r"route\.routes\[0\]\.routes\[7\]"):
        route_at(root, (0, 7))
    with pytest.raises(IndexError):
        effective_receiver(root, (3,))
    assert yaml_path(()) == "route"
    assert yaml_path((1, 0)) == "route.routes[1].routes[0]"


def test_validate() -> None:
    root = Route(
        "default",
        routes=(
            Route("team-slack"),
            Route("team-slak"),
            Route(None, routes=(Route("pager"), Route("ghost"))),
        ),
    )
    assert validate(root, ["default", "team-slack", "pager"]) == [
        ("route.routes[1].receiver", "unknown receiver 'team-slak' (did you mean `team-slack`?)"),
        ("route.routes[2].routes[1].receiver", "unknown receiver 'ghost'"),
    ]
    assert validate(root, {"default", "team-slack", "team-slak", "pager", "ghost"}) == []


def test_validate_root() -> None:
    assert validate(Route(None), ["a"]) == [("route.receiver", "the root route must have a receiver")]
    assert validate(Route(""), ["a"]) == [("route.receiver", "the root route must have a receiver")]
    assert validate(Route("b"), ["a"]) == [("route.receiver", "unknown receiver 'b'")]
    # The other root rules of Alertmanager's config loader.
    bad = Route("a", (Matcher("x", MatchOp.EQ, "1"),), continue_=True)
    assert validate(bad, ["a"]) == [
        ("route", "the root route must not have any matchers"),
        ("route.continue", "the root route cannot have continue"),
    ]


# --- properties ----------------------------------------------------------------------------------

RECEIVERS = ["r0", "r1", "r2", "r3"]
LABEL_VALUES = ["", "a", "b", "ab"]

matchers = st.builds(
    Matcher,
    st.sampled_from(["x", "y"]),
    st.sampled_from(list(MatchOp)),
    st.sampled_from(["", "a", "b", "a|b", ".*", "a.*"]),
)
routes: st.SearchStrategy[Route] = st.recursive(
    st.builds(
        Route,
        st.one_of(st.none(), st.sampled_from(RECEIVERS)),
        st.lists(matchers, max_size=2).map(tuple),
        st.booleans(),
    ),
    lambda children: st.builds(
        Route,
        st.one_of(st.none(), st.sampled_from(RECEIVERS)),
        st.lists(matchers, max_size=2).map(tuple),
        st.booleans(),
        st.lists(children, max_size=3).map(tuple),
    ),
    max_leaves=12,
)
label_sets = st.dictionaries(st.sampled_from(["x", "y", "z"]), st.sampled_from(LABEL_VALUES))


@given(routes, label_sets, st.sampled_from(RECEIVERS))
def test_every_alert_reaches_at_least_one_receiver(
    tree_: Route, labels: dict[str, str], default: str
) -> None:
    root = Route(default, routes=tree_.routes)
    receivers = match(root, labels)
    assert receivers
    assert set(receivers) <= set(RECEIVERS)
    paths = match_paths(root, labels)
    assert len(paths) == len(receivers)
    assert [effective_receiver(root, p) for p in paths] == receivers


@given(routes, label_sets, st.sampled_from(RECEIVERS))
def test_results_are_matching_leaves_in_tree_order(
    tree_: Route, labels: dict[str, str], default: str
) -> None:
    root = Route(default, routes=tree_.routes)
    paths = match_paths(root, labels)
    order = [p for p, _ in walk(root)]
    assert paths == sorted(paths, key=order.index)  # depth-first, left to right
    assert len(set(paths)) == len(paths)
    for path in paths:
        # Every node on the way matched, and none of the result's children did.
        for depth in range(1, len(path) + 1):
            assert route_at(root, path[:depth]).matches(labels)
        assert not any(child.matches(labels) for child in route_at(root, path).routes)


@given(routes, label_sets)
def test_without_continue_exactly_one_result(tree_: Route, labels: dict[str, str]) -> None:
    def strip(route: Route) -> Route:
        return Route(route.receiver, route.matchers, False, tuple(strip(c) for c in route.routes))

    assert len(match(strip(Route("d", routes=tree_.routes)), labels)) == 1


# --- against the real Alertmanager ------------------------------------------------------------


@pytest.mark.slow
def test_agrees_with_amtool(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail(
            "amtool is missing: `make system-deps` installs Debian's prometheus-alertmanager", pytrace=False
        )
    cases = [(SIMPLE_LEGACY, labels) for labels, _, _ in SIMPLE_CASES]
    cases += [(SIMPLE_MATCHERS, labels) for labels, _, _ in SIMPLE_CASES]
    cases += [(DOCS_ROUTE, {"service": "inhouse-service"}), (DOCS_ROUTE, {"team": "frontend"})]
    cases += [(CONF_ROUTING, {"test": "2"}), (CONF_ROUTING_REVERTED, {"test": "2"})]
    cases += [(INHERIT, {"env": "testing", "group_by": "role", "wait": "long"})]
    cases += [(INHERIT, {"owner": "team-A", "env": "production"})]
    for i, (source, labels) in enumerate(cases):
        config = yaml.safe_load(source)
        config.pop("inhibit_rules", None)
        names = sorted(set(_receivers(config["route"])))
        config["receivers"] = [{"name": n} for n in names]
        config["time_intervals"] = [{"name": "offhours"}, {"name": "holidays"}]
        path = tmp_path / f"c{i}.yml"
        path.write_text(json.dumps(config))
        args = [f"{k}={json.dumps(v)}" for k, v in labels.items()]
        run = subprocess.run(
            [amtool, "config", "routes", "test", f"--config.file={path}", *args],
            capture_output=True,
            text=True,
            check=True,
        )
        assert run.stdout.strip() == ",".join(match(build(config["route"]), labels)), (
            source,
            labels,
        )


def _receivers(node: Mapping[str, Any]) -> list[str]:
    found = [node["receiver"]] if node.get("receiver") else []
    for child in node.get("routes", []):
        found += _receivers(child)
    return found
