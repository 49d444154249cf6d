"""Configuration reload through `POST /-/reload` on the real app: real SQLite, real fake receivers.

The file is rewritten between reloads as an operator would; what the running service does is
observed from outside (answers, deliveries, the store's dead letters, /metrics, the log).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from app.config import load_config
from app.web.app import DISPATCHER, SINKS, STORE, create_app
from app.web.reload import RELOADER
from tests.conftest import TOKEN, raw_config
from tests.engine.test_delivery import eventually
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def hook(name: str, sink: WebhookSink, **extra: Any) -> dict[str, Any]:
    return {"name": name, "webhook_configs": [{"url": sink.url_for(f"/{name}"), **extra}]}


class Service:
    """The app under test and its config file."""

    def __init__(self, tmp_path: Path, client: Client, path: Path) -> None:
        self.tmp_path = tmp_path
        self.client = client
        self.path = path

    def write(self, receivers: list[dict[str, Any]], route: dict[str, Any], **extra: Any) -> None:
        self.path.write_text(yaml.safe_dump(raw_config(self.tmp_path, receivers, route, **extra)))

    async def reload(self, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post("/-/reload", headers=AUTH if headers is None else headers)
        body: dict[str, Any] = await resp.json()
        return resp.status, body

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.client.post("/webhook/alertmanager", json=body, headers=AUTH)
        assert resp.status == 200, await resp.text()
        out: dict[str, Any] = await resp.json()
        return out

    async def metric(self, name: str) -> float:
        text = await (await self.client.get("/metrics")).text()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"{name} not exported")


@pytest.fixture
async def service(aiohttp_client: Any, tmp_path: Path) -> Any:
    async def start(receivers: list[dict[str, Any]], route: dict[str, Any], **extra: Any) -> Service:
        path = tmp_path / "alertmedic.yml"
        path.write_text(yaml.safe_dump(raw_config(tmp_path, receivers, route, **extra)))
        app = create_app(load_config(path).config, config_path=path)
        return Service(tmp_path, await aiohttp_client(app), path)

    return start


@pytest.fixture
async def sink_b() -> Any:
    async with WebhookSink() as sink:
        yield sink


def group(key: str) -> dict[str, Any]:
    return message(key, [alert("A", f"fp-{key}")])


async def test_reload_needs_the_webhook_credentials(service: Any, webhook_sink: WebhookSink) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    svc.write([hook("a", webhook_sink), hook("b", webhook_sink)], {"receiver": "b"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
        resp = await svc.client.post("/-/reload", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert list(svc.client.app[SINKS].destinations) == ["a/webhook[0]"]
    status, body = await svc.reload()
    assert status == 200, body
    assert body["added"] == ["b/webhook[0]"]
    assert sorted(svc.client.app[SINKS].destinations) == ["a/webhook[0]", "b/webhook[0]"]


async def test_reload_takes_new_credentials(service: Any, webhook_sink: WebhookSink) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    svc.write([hook("a", webhook_sink)], {"receiver": "a"}, server={"auth": {"bearer_token": "new-token-1"}})
    assert (await svc.reload())[0] == 200
    assert (await svc.reload())[0] == 401
    assert (await svc.reload({"Authorization": "Bearer new-token-1"}))[0] == 200
    resp = await svc.client.post(
        "/webhook/alertmanager", json=group("g"), headers={"Authorization": "Bearer new-token-1"}
    )
    assert resp.status == 200


async def test_an_invalid_config_keeps_the_old_one(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    assert await svc.metric("alertmedic_config_last_reload_successful") == 1
    started = await svc.metric("alertmedic_config_last_reload_success_timestamp_seconds")
    # two problems: a route to a receiver that does not exist, and a misspelt key
    svc.write(
        [hook("a", webhook_sink), hook("b", sink_b)],
        {"receiver": "nobody"},
        delivery={"retry_intial": "1s"},
    )
    with caplog.at_level(logging.ERROR, logger="alertmedic.reload"):
        status, body = await svc.reload()
    assert status == 500
    assert body["error"].startswith("failed to reload config: ")
    fields = {p["field"] for p in body["problems"]}
    assert {"delivery.retry_intial", "route.receiver"} <= fields, body
    logged = {r.__dict__.get("path") for r in caplog.records if r.getMessage() == "invalid configuration"}
    assert fields <= logged
    assert await svc.metric("alertmedic_config_last_reload_successful") == 0
    assert await svc.metric("alertmedic_config_last_reload_success_timestamp_seconds") == started

    # still the old routes and lanes
    await svc.post(group("g1"))
    await webhook_sink.wait_for(1)
    assert sink_b.deliveries == []
    assert list(svc.client.app[DISPATCHER].lanes) == ["a/webhook[0]"]

    before = time.time()
    svc.write([hook("a", webhook_sink), hook("b", sink_b)], {"receiver": "b"})
    status, body = await svc.reload()
    assert status == 200, body
    assert await svc.metric("alertmedic_config_last_reload_successful") == 1
    assert await svc.metric("alertmedic_config_last_reload_success_timestamp_seconds") >= before


async def test_an_unreadable_secret_file_fails_the_reload(service: Any, webhook_sink: WebhookSink) -> None:
    """The same checks as `serve`: a secret file is read at reload."""
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    missing = svc.tmp_path / "no-such-token"
    svc.write(
        [hook("a", webhook_sink)], {"receiver": "a"}, server={"auth": {"bearer_token_file": str(missing)}}
    )
    status, body = await svc.reload()
    assert status == 500
    assert body["problems"][0]["field"] == "server.auth.bearer_token_file"
    assert str(missing) in body["problems"][0]["message"]
    assert (await svc.reload())[0] == 500  # the old token still opens the endpoint


async def test_a_new_receiver_gets_its_notifications_and_a_removed_ones_are_dead_lettered(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink
) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    webhook_sink.fail_next(1000, status=503)  # a's notification stays pending, retried
    await svc.post(group("stuck"))
    await webhook_sink.wait_until(lambda: len(webhook_sink.requests) >= 1, 5, "a first attempt")

    svc.write([hook("b", sink_b)], {"receiver": "b"})
    status, body = await svc.reload()
    assert status == 200, body
    assert (body["added"], body["removed"]) == (["b/webhook[0]"], ["a/webhook[0]"])
    assert list(svc.client.app[DISPATCHER].lanes) == ["b/webhook[0]"]
    [dead] = await svc.client.app[STORE].dead_letters()
    assert (dead.lane, dead.group_key, dead.error) == (
        "a/webhook[0]",
        "stuck",
        "destination no longer configured",
    )
    text = await (await svc.client.get("/metrics")).text()
    assert (
        'alertmedic_dead_letters_total{integration="webhook",reason="unconfigured",receiver="a"} 1.0' in text
    )
    assert await svc.metric("alertmedic_outbox_depth") == 0

    await svc.post(group("new"))
    [delivery] = await sink_b.wait_for(1)
    assert delivery.json["groupKey"] == "new"
    attempts = len(webhook_sink.requests)
    await asyncio.sleep(0.3)  # longer than a's retry delay: its lane is gone, nothing more is tried
    assert len(webhook_sink.requests) == attempts
    assert webhook_sink.deliveries == []


async def test_an_unchanged_lane_is_not_interrupted(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink
) -> None:
    """A send in progress when the reload comes finishes (through the sink it began with), and
    the lane goes on in order with the next; the reload does not wait for it."""
    a = hook("a", webhook_sink, max_in_flight=1)
    svc: Service = await service([a], {"receiver": "a"})
    webhook_sink.hold()
    await svc.post(group("first"))
    await webhook_sink.wait_held(1)

    svc.write(
        [a, hook("b", sink_b)],
        {"receiver": "a", "routes": [{"receiver": "b", "matchers": ['alertname="B"']}]},
    )
    status, body = await asyncio.wait_for(svc.reload(), 5)
    assert status == 200 and body["added"] == ["b/webhook[0]"] and body["removed"] == []
    await svc.post(group("second"))
    assert webhook_sink.held == 1 and webhook_sink.deliveries == []
    webhook_sink.release()
    deliveries = await webhook_sink.wait_for(2)
    assert [d.json["groupKey"] for d in deliveries] == ["first", "second"]
    await svc.client.app[RELOADER].wait()  # the replaced sink is closed once its send returned
    await eventually(lambda: svc.client.app[DISPATCHER]._depth == 0)
    text = await (await svc.client.get("/metrics")).text()
    assert "alertmedic_delivery_retries_total{" not in text


async def test_settings_that_need_a_restart_are_named_and_the_rest_applied(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    svc.write(
        [hook("a", webhook_sink), hook("b", sink_b)],
        {"receiver": "b"},
        server={"listen": "127.0.0.1:1"},
        storage={"busy_timeout": "9s", "retention": "1d"},
    )
    with caplog.at_level(logging.WARNING, logger="alertmedic.reload"):
        status, body = await svc.reload()
    assert status == 200
    assert body["restart_required"] == ["server.listen", "storage.busy_timeout"]
    needs = [r.__dict__["key"] for r in caplog.records if "needs a restart" in r.getMessage()]
    assert needs == ["server.listen", "storage.busy_timeout"]
    await svc.post(group("g"))
    await sink_b.wait_for(1)
    # asked again with the same file: still named (the running process still uses the old ones)
    assert (await svc.reload())[1]["restart_required"] == ["server.listen", "storage.busy_timeout"]


async def test_a_changed_max_in_flight_restarts_only_that_lane(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink
) -> None:
    """The lane starts again with the new limit once its send in progress has returned (two
    lanes of one destination would both send the job in progress)."""
    svc: Service = await service([hook("a", webhook_sink), hook("b", sink_b)], {"receiver": "a"})
    lanes = svc.client.app[DISPATCHER].lanes
    a_lane, b_lane = lanes["a/webhook[0]"], lanes["b/webhook[0]"]
    webhook_sink.hold()
    await svc.post(group("in-flight"))
    await webhook_sink.wait_held(1)
    svc.write([hook("a", webhook_sink, max_in_flight=4), hook("b", sink_b)], {"receiver": "a"})
    reload = asyncio.ensure_future(svc.reload())
    await asyncio.sleep(0.3)  # the new lane would have claimed the held job by now
    assert webhook_sink.held == 1
    webhook_sink.release()
    status, _ = await reload
    assert status == 200
    assert lanes["b/webhook[0]"] is b_lane
    assert lanes["a/webhook[0]"] is not a_lane and lanes["a/webhook[0]"].max_in_flight == 4
    assert a_lane.task is not None and a_lane.task.done()
    await svc.post(group("g"))
    await webhook_sink.wait_for(2)
    await asyncio.sleep(0.2)
    assert [d.json["groupKey"] for d in webhook_sink.deliveries] == ["in-flight", "g"]


async def test_concurrent_reloads_run_one_at_a_time(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    svc.write([hook("a", webhook_sink), hook("b", sink_b)], {"receiver": "b"})
    with caplog.at_level(logging.INFO, logger="alertmedic.reload"):
        results = await asyncio.gather(*(svc.reload() for _ in range(5)))
    assert [s for s, _ in results] == [200] * 5
    assert sum(1 for _, b in results if b["added"] == ["b/webhook[0]"]) == 1
    steps = [r.getMessage() for r in caplog.records if r.name == "alertmedic.reload"]
    assert steps == ["reloading the configuration", "configuration reloaded"] * 5
    assert sorted(svc.client.app[DISPATCHER].lanes) == ["a/webhook[0]", "b/webhook[0]"]
    assert await svc.metric("alertmedic_delivery_lanes") == 2


async def test_every_accepted_notification_once_across_reloads_under_load(
    service: Any, webhook_sink: WebhookSink, sink_b: WebhookSink
) -> None:
    """Webhooks in a burst while the configuration flips between routing to `a` only and to
    `a` and `b`: every notification enqueued is delivered exactly once, or (b's, when a reload
    removed b before its turn) dead-lettered as unconfigured; none twice, none lost."""
    receivers = [hook("a", webhook_sink), hook("b", sink_b)]
    only_a = {"receiver": "a"}
    both = {
        "receiver": "a",
        "routes": [
            {"receiver": "b", "matchers": ['severity="critical"'], "continue": True},
            {"receiver": "a", "matchers": ['severity="critical"']},
        ],
    }
    svc: Service = await service([receivers[0]], only_a)
    sink_b.fail_next(1, status=503)  # some of b's notifications are retrying when b goes away

    async def burst(first: int) -> int:
        await asyncio.sleep(first / 250)
        answers = await asyncio.gather(*(svc.post(group(f"g{i}")) for i in range(first, first + 25)))
        return sum(int(a["notifications"]) for a in answers)

    async def flip() -> None:
        for i in range(6):
            if i % 2 == 0:
                svc.write(receivers, both)
            else:
                svc.write([receivers[0]], only_a)
            status, body = await svc.reload()
            assert status == 200, body
            await asyncio.sleep(0.3 if i % 2 == 0 else 0.05)  # b takes some before it goes

    counts = await asyncio.gather(*(burst(n * 25) for n in range(8)), flip())
    enqueued = sum(c for c in counts if c is not None)
    store = svc.client.app[STORE]

    def settled() -> bool:
        return len(webhook_sink.deliveries) + len(sink_b.deliveries) >= enqueued - dead_count[0]

    dead_count = [0]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dead_count[0] = len(await store.dead_letters(limit=1000))
        if settled() and await store.pending_count() == 0:
            break
        await asyncio.sleep(0.05)
    dead = await store.dead_letters(limit=1000)
    assert await store.pending_count() == 0
    assert {d.error for d in dead} <= {"destination no longer configured"}
    assert {d.lane for d in dead} <= {"b/webhook[0]"}
    a_keys = [d.json["groupKey"] for d in webhook_sink.deliveries]
    b_keys = [d.json["groupKey"] for d in sink_b.deliveries]
    assert len(a_keys) == len(set(a_keys)) == 200  # every group reaches a, once
    assert len(b_keys) == len(set(b_keys))
    assert not set(b_keys) & {d.group_key for d in dead}
    assert len(a_keys) + len(b_keys) + len(dead) == enqueued


async def test_the_switch_for_fifty_receivers_holds_the_loop_briefly(
    service: Any, webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    """Loading and building run off the event loop; the switch itself is measured (about 1 ms
    for 150 destinations here; README, Reload)."""

    def receivers(n: int) -> list[dict[str, Any]]:
        return [
            {
                "name": f"r{i}",
                "webhook_configs": [{"url": webhook_sink.url_for(f"/w{i}")}],
                "slack_configs": [{"api_url": webhook_sink.url_for(f"/s{i}")}],
                "file_configs": [{"path": str(tmp_path / f"r{i}.log")}],
            }
            for i in range(n)
        ]

    route = {
        "receiver": "r0",
        "routes": [{"receiver": f"r{i}", "matchers": [f'team="t{i}"']} for i in range(50)],
    }
    svc: Service = await service(receivers(50), route)
    route["routes"].append({"receiver": "r50", "matchers": ['team="t50"']})
    svc.write(receivers(51), route)
    outcome = await svc.client.app[RELOADER].reload("test")
    assert outcome.ok and len(outcome.added) == 3
    assert outcome.swap_seconds < 0.05, outcome.swap_seconds
    assert len(svc.client.app[DISPATCHER].lanes) == 153


async def test_sections_built_once_at_start_up_are_named_as_needing_a_restart(
    service: Any, webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    """`enrichment:` (and which destinations are enriched) is built once at start-up: a change
    is reported as needing a restart instead of being dropped silently."""
    inbox = {"name": "f", "file_configs": [{"path": str(tmp_path / "f.log")}]}
    svc: Service = await service([hook("a", webhook_sink)], {"receiver": "a"})
    svc.write(
        [hook("a", webhook_sink)], {"receiver": "a"}, enrichment={"loki": {"url": "http://127.0.0.1:9"}}
    )
    assert (await svc.reload())[1]["restart_required"] == ["enrichment"]
    svc.write([hook("a", webhook_sink), inbox], {"receiver": "a"})
    status, body = await svc.reload()
    assert status == 200 and body["added"] == ["f/file[0]"]
    assert body["restart_required"] == ["enrich"]  # a new destination with `enrich: true`


async def test_storm_settings_apply_on_reload(service: Any, webhook_sink: WebhookSink) -> None:
    svc = await service([hook("a", webhook_sink)], {"receiver": "a"})
    dispatcher = svc.client.app[DISPATCHER]
    assert dispatcher.storms is not None and dispatcher.storms.config.after == 30.0
    svc.write([hook("a", webhook_sink)], {"receiver": "a"}, delivery={"storm": {"after": "0"}})
    assert (await svc.reload())[0] == 200
    assert dispatcher.storms is None
    svc.write([hook("a", webhook_sink)], {"receiver": "a"}, delivery={"storm": {"after": "2m", "top": 3}})
    status, body = await svc.reload()
    assert status == 200 and body["restart_required"] == []
    assert dispatcher.storms is not None and (
        dispatcher.storms.config.after,
        dispatcher.storms.config.top,
    ) == (120.0, 3)
