"""Part 8 of `make bench`: where a delivered group's time goes on SQLite (`python -m bench delivery`).

In this process, on a fresh SQLite store, GROUPS webhook groups (10 alerts, as in part 1) are
accepted through the real router and store, then the steps of a delivery are timed one by one for
every group, sequentially, against the bench sink (a separate process):

- read back: `claim` of the lane's jobs in batches of 100, as a lane does;
- render: the group parsed from the outbox (what the Telegram, Slack and email sinks do before
  their templates; the webhook sink forwards the stored JSON and skips it);
- send: the webhook sink's `send` (body built from the stored JSON + HTTP POST, answer read);
- record: `complete`, one transaction each (the dispatcher has up to 64 on their way at once).

Then the same number of new groups is drained by the real Dispatcher (max_in_flight 8, as in
part 1), timed, with the process CPU (all threads: the store's writer thread included) and a
cProfile of the event loop's thread, whose top functions are printed.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import yaml

from app.config.loading import parse_config
from app.core.models import Group, WebhookMessage
from app.engine.dispatcher import Dispatcher
from app.metrics import Metrics
from app.sinks.base import Delivery
from app.sinks.registry import build
from app.store import open_store
from app.web.reload import retry_policy
from bench.__main__ import TEMPLATE

GROUPS = 2000


def config(db: Path, sink: str) -> str:
    return yaml.safe_dump(
        {
            "server": {"listen": "127.0.0.1:0", "auth": {"bearer_token": "x"}},
            "storage": {"url": f"sqlite:///{db}"},
            "receivers": [{"name": "sink", "webhook_configs": [{"url": f"{sink}/", "max_in_flight": 8}]}],
            "route": {"receiver": "sink"},
        }
    )


def us(seconds: float) -> str:
    return f"{seconds / GROUPS * 1e6:.0f}"


async def rows(sink: str) -> tuple[list[tuple[str, str, str]], str]:
    """The figures, and the top of the event loop's profile as text."""
    with tempfile.TemporaryDirectory(prefix="alertmedic-delivery-") as tmp:
        cfg = parse_config(config(Path(tmp) / "state.db", sink)).config
        store = open_store(cfg.storage)
        await store.start()
        try:
            async with aiohttp.ClientSession() as session:
                built = build(cfg, session=session, send_timeout=5.0)
                (lane,) = built.sinks
                sink_obj = built.sinks[lane]

                async def accept(prefix: str) -> None:
                    for i in range(GROUPS):
                        body = TEMPLATE.replace("@ID@", f"{prefix}{i}").replace("@RUN@", prefix)
                        msg = WebhookMessage.model_validate_json(body)
                        now = time.time()
                        plan = built.router.plan(msg, at=datetime.fromtimestamp(now, UTC))
                        await store.ingest(plan.planned, now=now, dedup_window=120.0)

                await accept("steps")
                t0 = time.perf_counter()
                jobs, cursor = [], 0
                while batch := await store.claim(
                    lane, owner="bench", now=time.time(), lease=300.0, limit=100, after=cursor
                ):
                    jobs += batch
                    cursor = batch[-1].id
                read = time.perf_counter() - t0
                assert len(jobs) == GROUPS, len(jobs)
                t0 = time.perf_counter()
                for job in jobs:
                    Group.model_validate_json(job.payload)
                render = time.perf_counter() - t0
                t0 = time.perf_counter()
                for job in jobs:
                    await sink_obj.send(Delivery(lane, "new", job.payload, None))
                send = time.perf_counter() - t0
                t0 = time.perf_counter()
                for job in jobs:
                    await store.complete(job, ref=None, now=time.time())
                record = time.perf_counter() - t0
                await store.release("bench")  # the lane's lease, for the dispatcher's claims

                await accept("drain")
                dispatcher = Dispatcher(
                    store,
                    built.sinks,
                    built.destinations,
                    metrics=Metrics(),
                    policy=retry_policy(cfg),
                    send_timeout=5.0,
                )
                profile = cProfile.Profile()
                cpu0, loop0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
                profile.enable()
                await dispatcher.start()
                deadline = time.monotonic() + 300
                while await store.pending_count():
                    if time.monotonic() > deadline:
                        raise RuntimeError("the dispatcher did not drain the outbox")
                    await asyncio.sleep(0.01)
                profile.disable()
                drained, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                loop_cpu = time.thread_time() - loop0
                await dispatcher.stop(5.0)
        finally:
            await store.close()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
    return [
        (f"delivery steps, one at a time ({GROUPS} groups of 10 alerts): read back, us/group", us(read), ""),
        ("render (parse the stored group; not done by the webhook sink), us/group", us(render), ""),
        ("send (webhook sink: body + HTTP POST to the sink), us/group", us(send), ""),
        ("record (complete, one transaction each), us/group", us(record), ""),
        (
            "Dispatcher drain (max_in_flight 8), groups/s",
            f"{GROUPS / drained:.0f}",
            f"CPU {us(cpu)} us/group (process, all threads), wall {us(drained)} us",
        ),
        (
            "  of which the event loop thread, us/group",
            us(loop_cpu),
            f"the rest ({us(cpu - loop_cpu)} us) the store's writer thread; profiled (slower) run",
        ),
    ], text.getvalue()
