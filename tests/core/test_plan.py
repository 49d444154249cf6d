"""Router.plan: each destination gets exactly the alerts that route to it, however large the group."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.models import WebhookMessage
from app.core.plan import Router, route_label_names
from app.sinks import registry
from tests.conftest import make_config
from tests.payloads import alert, message

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

RECEIVERS: list[dict[str, Any]] = [
    {
        "name": "oncall",
        "file_configs": [{"path": "/dev/null"}, {"path": "/dev/null", "send_resolved": False}],
        "webhook_configs": [{"url": "http://127.0.0.1:9/a"}, {"url": "http://127.0.0.1:9/b"}],
    },
    {"name": "team", "webhook_configs": [{"url": "http://127.0.0.1:9/c", "send_resolved": False}]},
    {"name": "quiet"},
]
ROUTE: dict[str, Any] = {
    "receiver": "team",
    "routes": [
        {
            "matchers": ['severity="critical"', 'namespace=~"prod|prod-.+"'],
            "receiver": "oncall",
            "continue": True,
        },
        {"matchers": ['team!=""'], "receiver": "team"},
        {"matchers": ['severity=~"info|none"'], "receiver": "quiet"},
    ],
}


def router() -> Router:
    return registry.router(make_config(Path("/nonexistent"), RECEIVERS, ROUTE))


def test_the_label_names_the_tree_reads() -> None:
    assert route_label_names(router().route) == ("namespace", "severity", "team")


def test_destinations_that_take_the_same_alerts_share_one_group() -> None:
    msg = WebhookMessage.model_validate(message("g", [alert("A", "f1"), alert("B", "f2", status="resolved")]))
    plans = router().plan(msg, at=AT).planned
    by_id = {p.destination.id: p.group for p in plans}
    assert by_id["oncall/webhook[0]"] is by_id["oncall/webhook[1]"] is by_id["oncall/file[0]"]
    assert [a.fingerprint for a in by_id["oncall/file[0]"].alerts] == ["f1", "f2"]
    assert [a.fingerprint for a in by_id["oncall/file[1]"].alerts] == ["f1"]  # no resolved
    assert by_id["oncall/file[1]"] is not by_id["oncall/file[0]"]


labels = st.fixed_dictionaries(
    {"severity": st.sampled_from(["critical", "warning", "info", ""])},
    optional={
        "namespace": st.sampled_from(["prod", "prod-eu", "staging", ""]),
        "team": st.sampled_from(["ml", ""]),
        "pod": st.sampled_from(["a", "b"]),
    },
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(labels, st.booleans()), min_size=1, max_size=12))
def test_each_destination_gets_the_alerts_that_route_to_it(specs: list[tuple[dict[str, str], bool]]) -> None:
    r = router()
    alerts = []
    for i, (ls, firing) in enumerate(specs):
        a = alert("A", f"f{i}", status="firing" if firing else "resolved")
        a["labels"] = {"alertname": "A", **ls}
        alerts.append(a)
    msg = WebhookMessage.model_validate(message("g", alerts))
    got = {p.destination.id: [a.fingerprint for a in p.group.alerts] for p in r.plan(msg, at=AT).planned}
    want: dict[str, list[str]] = {}
    for a in msg.alerts:  # the plain definition: route every alert on its own
        for receiver in dict.fromkeys(r.receivers_for(a.labels)):
            for d in r.destinations[receiver]:
                if a.status == "firing" or d.send_resolved:
                    want.setdefault(d.id, []).append(a.fingerprint)
    assert got == want
    for p in r.plan(msg, at=AT).planned:
        assert p.group.receiver == p.destination.receiver
        firing = any(a.status == "firing" for a in p.group.alerts)
        assert p.group.status == ("firing" if firing else "resolved")
