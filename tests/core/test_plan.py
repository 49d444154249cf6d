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


# --- time intervals -----------------------------------------------------------------------------

NIGHT_ROUTE: dict[str, Any] = {
    "receiver": "team",
    "routes": [
        {"matchers": ['namespace="staging"'], "receiver": "oncall", "mute_time_intervals": ["night"]},
        {"matchers": ['severity="critical"'], "receiver": "oncall"},
    ],
}
NIGHT = [{"name": "night", "time_intervals": [{"times": [{"start_time": "00:00", "end_time": "08:00"}]}]}]
AT_NIGHT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
BY_DAY = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


class CountingTable(dict[str, Any]):
    """A time table that counts how often an interval is looked up (once per route result walked)."""

    lookups = 0

    def __getitem__(self, name: str) -> Any:
        self.lookups += 1
        return super().__getitem__(name)


def night_router(route: dict[str, Any] = NIGHT_ROUTE) -> Router:
    return registry.router(make_config(Path("/nonexistent"), RECEIVERS, route, time_intervals=NIGHT))


def staging(n: int, **labels: str) -> WebhookMessage:
    return WebhookMessage.model_validate(
        message(
            "g", [alert("A", f"f{i}", namespace="staging", severity="warning", **labels) for i in range(n)]
        )
    )


def test_a_route_muted_at_an_instant_is_reported_apart_and_not_planned() -> None:
    plan = night_router().plan(staging(2), at=AT_NIGHT)
    assert plan.planned == []
    [muted] = plan.muted
    assert (muted.muted.receiver, muted.muted.path, muted.muted.reason) == (
        "oncall",
        (0,),
        "mute_time_intervals",
    )
    assert muted.muted.intervals == ("night",)
    assert [a.fingerprint for a in muted.alerts] == ["f0", "f1"]
    assert {d.id for d in muted.destinations} == {
        "oncall/file[0]",
        "oncall/file[1]",
        "oncall/webhook[0]",
        "oncall/webhook[1]",
    }


def test_the_same_alerts_are_planned_outside_the_interval() -> None:
    plan = night_router().plan(staging(2), at=BY_DAY)
    assert plan.muted == []
    assert {p.destination.id for p in plan.planned} == {
        "oncall/file[0]",
        "oncall/file[1]",
        "oncall/webhook[0]",
        "oncall/webhook[1]",
    }


def test_active_intervals_mute_outside_them_and_other_receivers_still_get_theirs() -> None:
    route = {
        "receiver": "team",
        "routes": [
            {
                "matchers": ['namespace="staging"'],
                "receiver": "oncall",
                "active_time_intervals": ["night"],
                "continue": True,
            },
            {"matchers": ['team="ml"'], "receiver": "team"},
        ],
    }
    msg = staging(1, team="ml")
    by_day = night_router(route).plan(msg, at=BY_DAY)
    assert {p.destination.receiver for p in by_day.planned} == {"team"}
    [muted] = by_day.muted
    assert (muted.muted.receiver, muted.muted.reason, muted.muted.intervals) == (
        "oncall",
        "active_time_intervals",
        ("night",),
    )
    at_night = night_router(route).plan(msg, at=AT_NIGHT)
    assert {p.destination.receiver for p in at_night.planned} == {"oncall", "team"}
    assert at_night.muted == []


def test_a_receiver_reached_through_another_route_is_not_reported_muted() -> None:
    route = {
        "receiver": "team",
        "routes": [
            {
                "matchers": ['namespace="staging"'],
                "receiver": "oncall",
                "mute_time_intervals": ["night"],
                "continue": True,
            },
            {"matchers": ['team="ml"'], "receiver": "oncall"},
        ],
    }
    plan = night_router(route).plan(staging(1, team="ml"), at=AT_NIGHT)
    assert plan.muted == []
    assert {p.destination.receiver for p in plan.planned} == {"oncall"}


def test_resolved_alerts_muted_where_no_destination_sends_resolved_are_not_notifications() -> None:
    route = {
        "receiver": "oncall",
        "routes": [
            {"matchers": ['namespace="staging"'], "receiver": "team", "mute_time_intervals": ["night"]}
        ],
    }
    msg = WebhookMessage.model_validate(
        message("g", [alert("A", "f0", status="resolved", namespace="staging")])
    )
    plan = night_router(route).plan(msg, at=AT_NIGHT)
    assert (plan.planned, plan.muted) == ([], [])  # team's only webhook has send_resolved false


def test_a_huge_group_walks_the_tree_and_its_intervals_once_per_distinct_labels() -> None:
    base = night_router()
    table = CountingTable(base.intervals)
    r = Router(base.route, base.destinations, table)
    msg = WebhookMessage.model_validate(
        message(
            "g",
            [
                alert("A", f"f{i}", namespace="staging" if i % 2 else "prod", severity="warning", pod=f"p{i}")
                for i in range(5_000)
            ],
        )
    )
    plan = r.plan(msg, at=AT_NIGHT)
    assert table.lookups == 1  # the staging labels once; prod's route has no interval
    [muted] = plan.muted
    assert len(muted.alerts) == 2_500
    assert {len(p.group.alerts) for p in plan.planned} == {2_500}  # prod ends at the root: team
