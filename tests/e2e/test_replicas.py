"""Two real processes on one store (a SQLite file; the take-over also on PostgreSQL): each job is
worked by one of them, and when the one holding a lane is killed, the other takes the lane over
once the lease has run out (4 s, renewed every 1.3 s; then the survivor's next poll of the lane,
within 1 s)."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e.proc import ServiceProcess
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message
from tests.pg import fresh_database, run_sql

pytestmark = pytest.mark.slow
CHAT, EVE = -1001234567890, 333333333


def config(db: Path | str, sink: WebhookSink) -> dict[str, Any]:
    """`db`: a SQLite file, or a PostgreSQL URL."""
    return {
        "server": {"auth": {"bearer_token": TOKEN}, "shutdown_timeout": "5s"},
        "storage": {"url": db if isinstance(db, str) else f"sqlite:///{db}"},
        "delivery": {"retry_initial": "200ms", "retry_max": "1s"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": sink.url_for("/hook")}]}],
        "route": {"receiver": "hook"},
    }


async def post(session: aiohttp.ClientSession, url: str, key: str) -> None:
    body = message(key, [alert("Replica", f"fp-{key}")])
    async with session.post(
        f"{url}/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as r:
        assert r.status == 200, await r.text()


async def test_the_other_process_takes_a_killed_processs_lane_over(
    tmp_path: Path, webhook_sink: WebhookSink
) -> None:
    db = tmp_path / "shared.db"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ServiceProcess(tmp_path / "a", config(db, webhook_sink))
    b = ServiceProcess(tmp_path / "b", config(db, webhook_sink))
    await a.start()
    await b.start()
    try:
        async with aiohttp.ClientSession() as s:
            # both take webhooks; every group is delivered once, whichever process ingested it
            await asyncio.gather(*(post(s, (a if i % 2 else b).url, f"both-{i}") for i in range(20)))
            await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= 20, timeout=20)
            await asyncio.sleep(1.5)  # the lane is idle: its holder's next poll frees it
            webhook_sink.hold()
            await post(s, a.url, "held")  # A's lane claims it and sends: A now holds the lane
            await webhook_sink.wait_held(1, timeout=5)
            for i in range(5):
                await post(s, b.url, f"later-{i}")  # B cannot claim the lane A holds
            a.kill()
            await asyncio.sleep(0.3)  # the provider sees A's connection drop: not confirmed
            webhook_sink.release()
            t0 = time.monotonic()
            await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= 26, timeout=30)
            took = time.monotonic() - t0
            await asyncio.sleep(1.5)  # a second delivery would arrive by now
        counts = Counter(d.json["groupKey"] for d in webhook_sink.deliveries)
        assert sorted(counts.values()) == [1] * 26, counts
        assert 2.3 < took < 15  # B waited for A's lease (4 s, renewed every 1.3 s), then a poll
    finally:
        a.stop()
        b.stop()


def lease_holder(db: Path | str, lane: str) -> int:
    """The pid of the process holding `lane` (a dispatcher's owner is host:pid:random, and its
    poller's that and `/telegram`)."""
    if isinstance(db, str):
        rows = run_sql(db.rsplit("/", 1)[1], f"SELECT owner FROM leases WHERE lane = '{lane}'")
        row = rows[0] if rows else None
    else:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT owner FROM leases WHERE lane = ?", (lane,)).fetchone()
    assert row is not None, f"nobody holds {lane}"
    return int(row[0].split(":")[1])


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_take_over_after_kill_9_is_within_the_lease_every_time(
    tmp_path: Path, webhook_sink: WebhookSink, store: str
) -> None:
    """Six times: the process holding the lane in the middle of a send is killed, and the other
    delivers that job; from the kill to the delivery is the take-over time (printed; target
    5 s, never more than 15 s). The killed process is restarted each time."""
    if store == "postgres":
        with fresh_database() as url:
            await take_overs(tmp_path, webhook_sink, url)
    else:
        await take_overs(tmp_path, webhook_sink, tmp_path / "shared.db")


async def take_overs(tmp_path: Path, webhook_sink: WebhookSink, db: Path | str) -> None:
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(ServiceProcess(tmp_path / name, config(db, webhook_sink)))
    for p in procs:
        await p.start()
    took: list[float] = []
    try:
        async with aiohttp.ClientSession() as s:
            for k in range(6):
                webhook_sink.hold()
                await post(s, procs[k % 2].url, f"held-{k}")
                await webhook_sink.wait_held(1, timeout=10)
                pid = lease_holder(db, "hook/webhook[0]")
                victim = next(p for p in procs if p.proc is not None and p.proc.pid == pid)
                victim.kill()
                t0 = time.monotonic()
                await asyncio.sleep(0.3)  # the provider sees the connection drop: not confirmed
                webhook_sink.release()
                await webhook_sink.wait_until(
                    lambda k=k: any(d.json["groupKey"] == f"held-{k}" for d in webhook_sink.deliveries),
                    timeout=20,
                )
                took.append(time.monotonic() - t0)
                await victim.start()
            await asyncio.sleep(1.5)  # a second delivery would arrive by now
        counts = Counter(d.json["groupKey"] for d in webhook_sink.deliveries)
        assert sorted(counts.values()) == [1] * 6, counts
        kind = "postgres" if isinstance(db, str) else "sqlite"
        print(
            f"take-over after kill -9 ({kind}): min {min(took):.2f} s,"
            f" median {statistics.median(took):.2f} s, max {max(took):.2f} s"
            f" over {len(took)} kills: {[round(t, 2) for t in took]}"
        )
        assert max(took) < 15
        assert statistics.median(took) < 6  # 2.7 to 5 s by construction, plus a loaded machine
    finally:
        for p in procs:
            p.stop()


async def test_after_kill_9_of_the_telegram_poller_the_other_process_polls(
    tmp_path: Path, webhook_sink: WebhookSink, fake_telegram: FakeTelegram
) -> None:
    """Chat-ops in polling mode on two processes: one polls; killed, the other takes the poll
    lease over once it runs out (4 s) and answers the next command."""
    db = tmp_path / "shared.db"
    cfg = config(db, webhook_sink)
    cfg["chatops"] = {
        "telegram": {"bot_token": fake_telegram.token, "api_url": fake_telegram.url, "mode": "polling"},
        "permissions": [{"users": ["telegram:1"], "allow": ["ack"]}],
    }
    procs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        procs.append(ServiceProcess(tmp_path / name, cfg))
    for p in procs:
        await p.start()
    try:
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=EVE))
        await fake_telegram.wait_for_messages(CHAT, 1, timeout=15)
        pid = lease_holder(db, f"poll:telegram:{fake_telegram.bots[fake_telegram.token].id}")
        victim = next(p for p in procs if p.proc is not None and p.proc.pid == pid)
        victim.kill()
        t0 = time.monotonic()
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=EVE))
        await fake_telegram.wait_for_messages(CHAT, 2, timeout=15)
        took = time.monotonic() - t0
        await asyncio.sleep(1.5)
        print(f"telegram poller take-over after kill -9: {took:.2f} s")
        assert len(fake_telegram.messages(CHAT)) == 2  # each command answered once
        assert took < 4 + 4 / 3 + 1.5, took  # the lease, the next try, a long poll's round trip
    finally:
        for p in procs:
            p.stop()
