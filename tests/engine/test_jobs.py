"""The job queue in the running service: timers and backoff on an injected clock (minutes of
clock time in milliseconds of real time), and two processes sharing one database file."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from app.core.models import WebhookMessage
from app.engine.clock import ManualClock
from app.store.base import NewJob
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import make_config
from tests.engine.test_delivery import eventually, post
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
LANE = "hook/webhook[0]"


def hook_config(tmp_path: Path, sink: WebhookSink) -> Any:
    return make_config(
        tmp_path, [{"name": "hook", "webhook_configs": [{"url": sink.url_for("/h")}]}], {"receiver": "hook"}
    )


async def test_a_timer_ten_minutes_ahead_runs_when_the_clock_gets_there(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(hook_config(tmp_path, webhook_sink), clock=clock))
    state = client.app[STATE]
    group = WebhookMessage.model_validate(message("t", [alert("Later", "f1")]))
    started = time.monotonic()
    due = clock.now() + 600
    await state.store.enqueue(
        [
            NewJob(
                "notify",
                LANE,
                group.model_dump_json(),
                not_before=due,
                group_key="t",
                kind="new",
                receiver="hook",
                integration="webhook",
            )
        ],
        now=clock.now(),
    )
    state.dispatcher.notify(LANE)
    await eventually(lambda: due in clock.deadlines())  # the lane waits for its job's time
    await clock.advance(599)
    await asyncio.sleep(0.05)
    assert webhook_sink.deliveries == []
    await clock.advance(1)
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1, timeout=5)
    assert webhook_sink.deliveries[0].json["groupKey"] == "t"
    assert time.monotonic() - started < 3  # ten minutes of clock time, no real waiting
    await eventually(lambda: state.metrics.outbox_depth._value.get() == 0)


async def test_a_retry_after_is_waited_out_on_the_clock(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    clock = ManualClock()
    client: Client = await aiohttp_client(create_app(hook_config(tmp_path, webhook_sink), clock=clock))
    webhook_sink.fail_next(1, status=429, retry_after=120)
    await post(client, message("r", [alert("Busy", "f1")]))
    await eventually(lambda: any(120 <= d - clock.now() <= 121 for d in clock.deadlines()))
    await clock.advance(119)
    await asyncio.sleep(0.05)
    assert webhook_sink.deliveries == []
    await clock.advance(2)  # 120 s plus at most 1 s of jitter
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == 1, timeout=5)
    store = client.app[STATE].store
    for _ in range(100):
        if await store.pending_count() == 0:
            break
        await asyncio.sleep(0.02)
    assert await store.pending_count() == 0


async def test_two_processes_on_one_database_deliver_each_job_once(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    config = hook_config(tmp_path, webhook_sink)
    a: Client = await aiohttp_client(create_app(config))
    b: Client = await aiohttp_client(create_app(config))
    assert a.app[STATE].dispatcher.owner != b.app[STATE].dispatcher.owner
    n = 30
    await asyncio.gather(
        *(post(a if i % 2 else b, message(f"g{i}", [alert(f"A{i}", f"f{i}")])) for i in range(n))
    )
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= n, timeout=20)
    await asyncio.sleep(1.5)  # a second delivery by the other process would arrive by now
    counts = Counter(d.json["groupKey"] for d in webhook_sink.deliveries)
    assert sorted(counts.values()) == [1] * n, counts
    assert await a.app[STATE].store.pending_count() == 0
