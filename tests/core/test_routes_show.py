"""Tests for app.core.routes_show: the route tree as ``amtool config routes show`` prints it.

The expected text below was written from amtool 0.25's output (cli/routing.go and its tree
printer); the slow test compares our rendering with the real amtool for the repository's
Alertmanager and alertmedic configs and the trees of tests/core/test_routing.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.matchers import Matcher, MatchOp
from app.core.routes_show import render_routes
from app.core.routing import Route
from tests.core import test_routing, test_routing_intervals

ROOT = Path(__file__).resolve().parents[2]

TREE = """
route:
  receiver: default
  routes:
  - matchers: ['team="db"', 'env=~"prod|staging"', 'env!="prod"', 'env="prod"', 'm="a\\\\nb"']
    continue: true
    routes:
    - receiver: db
      matchers: ['severity="critical"']
      routes:
      - receiver: db-pager
      - continue: true
    - receiver: db-chat
  - receiver: web
    routes:
    - receiver: web-chat
  - receiver: rest
"""

# "│" is followed by two no-break spaces and a space, as amtool's tree printer draws it.
EXPECTED = """Routing tree:
.
└── default-route  receiver: default
    ├── {env="prod",env!="prod",env=~"prod|staging",m="a\\\\nb",team="db"}  continue: true  receiver: default
    │\u00a0\u00a0 ├── {severity="critical"}  receiver: db
    │\u00a0\u00a0 │\u00a0\u00a0 ├── default-route  receiver: db-pager
    │\u00a0\u00a0 │\u00a0\u00a0 └── default-route  continue: true  receiver: db
    │\u00a0\u00a0 └── default-route  receiver: db-chat
    ├── default-route  receiver: web
    │\u00a0\u00a0 └── default-route  receiver: web-chat
    └── default-route  receiver: rest

"""


def test_render_routes() -> None:
    assert render_routes(test_routing.tree(TREE)) == EXPECTED


def test_root_only_and_inherited_receivers() -> None:
    assert render_routes(Route("only")) == "Routing tree:\n.\n└── default-route  receiver: only\n\n"
    # A node without a receiver shows its parent's; an empty one too.
    root = Route("a", routes=(Route(None, routes=(Route(""),)),))
    assert render_routes(root).splitlines()[-3:] == [
        "    └── default-route  receiver: a",
        "        └── default-route  receiver: a",
        "",
    ]


def test_matchers_sorted_by_name_value_then_operator() -> None:
    ops = [Matcher("a", op, "1") for op in (MatchOp.NRE, MatchOp.RE, MatchOp.NE, MatchOp.EQ)]
    root = Route(
        "r", routes=(Route("x", (Matcher("b", MatchOp.EQ, "0"), *ops, Matcher("a", MatchOp.EQ, "0"))),)
    )
    assert '{a="0",a="1",a!="1",a=~"1",a!~"1",b="0"}' in render_routes(root)


def test_match_re_is_shown_as_written() -> None:
    # amtool shows the anchored form {service=~"^(?:foo1|foo2)$"}; the Route keeps the value
    # the user wrote, which means the same.
    root = test_routing.build({"receiver": "a", "routes": [{"match_re": {"service": "foo1|foo2"}}]})
    assert '{service=~"foo1|foo2"}  receiver: a' in render_routes(root)


def test_time_intervals_on_request() -> None:
    text = render_routes(test_routing_intervals.ROOT, time_intervals=True)
    assert (
        '{team="db"}  receiver: db-pager  mute_time_intervals: maintenance  active_time_intervals: workhours'
        in text
    )
    assert '{team="web"}  receiver: web  mute_time_intervals: maintenance, offhours' in text
    assert "time_intervals" not in render_routes(test_routing_intervals.ROOT)


# --- against the real amtool -----------------------------------------------------------------


def _with_regex_matchers(node: Mapping[str, Any]) -> dict[str, Any]:
    """`node` with its match_re moved into matchers (shown alike by amtool and by us)."""
    out = {k: v for k, v in node.items() if k not in ("match_re", "routes")}
    extra = [str(Matcher(k, MatchOp.RE, str(v))) for k, v in node.get("match_re", {}).items()]
    if extra:
        out["matchers"] = [*node.get("matchers", []), *extra]
    if "routes" in node:
        out["routes"] = [_with_regex_matchers(child) for child in node["routes"]]
    return out


def _receiver_names(node: Mapping[str, Any]) -> set[str]:
    names = {node["receiver"]} if node.get("receiver") else set()
    for child in node.get("routes", []):
        names |= _receiver_names(child)
    return names


def _configs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, Alertmanager config) for every route tree the comparison covers."""
    for path in sorted((ROOT / "alertmanager").glob("*.yml")):
        yield str(path.relative_to(ROOT)), yaml.safe_load(path.read_text())
    alertmedic = [ROOT / "examples" / "local.yml"]
    alertmedic += sorted((ROOT / "deploy").rglob("configmap.yaml"))
    for path in alertmedic:
        raw = yaml.safe_load(path.read_text())
        raw = yaml.safe_load(raw["data"]["config.yml"]) if raw.get("kind") == "ConfigMap" else raw
        if "route" in raw:
            receivers = [{"name": r["name"]} for r in raw["receivers"]]
            yield str(path.relative_to(ROOT)), {"route": raw["route"], "receivers": receivers}
    sources = [
        "SIMPLE_LEGACY",
        "SIMPLE_MATCHERS",
        "DOCS_ROUTE",
        "CONF_ROUTING",
        "CONF_ROUTING_REVERTED",
        "INHERIT",
    ]
    for name in sources:
        route = _with_regex_matchers(yaml.safe_load(getattr(test_routing, name))["route"])
        receivers = [{"name": n} for n in sorted(_receiver_names(route))]
        # DOCS_ROUTE refers to these, as Alertmanager's documented example does.
        intervals = [{"name": "offhours"}, {"name": "holidays"}]
        yield name, {"route": route, "receivers": receivers, "time_intervals": intervals}
    config = test_routing_intervals.CONFIG
    receivers = [{"name": n} for n in sorted(_receiver_names(config["route"]))]
    yield "test_routing_intervals", {**config, "receivers": receivers}
    route = yaml.safe_load(TREE)["route"]
    yield "TREE", {"route": route, "receivers": [{"name": n} for n in sorted(_receiver_names(route))]}


@pytest.mark.slow
def test_agrees_with_amtool(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail("amtool is missing: `make system-deps` installs it", pytrace=False)
    compared = []
    for i, (name, config) in enumerate(_configs()):
        path = tmp_path / f"c{i}.yml"
        path.write_text(json.dumps(config))
        run = subprocess.run(
            [amtool, "config", "routes", "show", f"--config.file={path}"],
            capture_output=True,
            text=True,
            check=True,
        )
        ours = render_routes(test_routing.build(config["route"]))
        assert ours == run.stdout, name
        compared.append(name)
    assert {"alertmanager/alertmanager.yml", "examples/local.yml"} <= set(compared)
    assert len(compared) >= 12
