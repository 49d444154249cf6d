"""PostgreSQL going away under three replicas, on a private server (tests/e2e/pgprivate.py) so
that the machine's shared one is never restarted.

- Restarted under load: webhooks get 503 while it is away (the load retries them, as
  Alertmanager does), nothing accepted is lost, order per destination holds, and the same
  processes are ready again without a restart.
- A replica started while the server is down stays up, answers /readyz and webhooks with 503,
  and is ready once the server is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e.ha import Delivered, Load, Replicas, replica_config
from tests.e2e.pgprivate import PrivatePostgres
from tests.e2e.proc import ServiceProcess, wait_ready
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

pytestmark = pytest.mark.slow

LANES = 3
OUTAGE = 5.0


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.destroy()


async def readyz(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(f"{url}/readyz") as r:
        return r.status, await r.text()


async def test_postgres_restarted_under_load_loses_nothing_and_replicas_recover(
    tmp_path: Path, webhook_sink: WebhookSink, private_pg: PrivatePostgres
) -> None:
    url = private_pg.create_database("restart")
    replicas = Replicas(tmp_path, replica_config(url, webhook_sink, LANES), 3)
    await replicas.start()
    pids = [replicas.pid(i) for i in range(3)]
    load = Load(replicas, LANES, pause=0.05)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            load.start(session)
            await asyncio.sleep(2.0)
            before = sum(load.accepted)
            private_pg.stop("fast")  # every connection dropped, the server gone
            down_at = time.monotonic()
            await asyncio.sleep(1.0)
            during = [await readyz(session, p.url) for p in replicas.procs]
            accepted_during = sum(load.accepted)
            await asyncio.sleep(OUTAGE - (time.monotonic() - down_at))
            accepted_late = sum(load.accepted)
            private_pg.start()
            up_at = time.monotonic()
            # the same processes become ready again by themselves
            for p in replicas.procs:
                assert p.proc is not None
                await wait_ready(f"{p.url}/readyz", p.proc, p.log_path, timeout=30)
            recovered = time.monotonic() - up_at
            await asyncio.sleep(2.0)  # load on the recovered store
            await load.stop()
            total = sum(load.accepted)
            await webhook_sink.wait_until(
                lambda: (
                    len({(r.path, r.json["alerts"][0]["labels"]["seq"]) for r in webhook_sink.deliveries})
                    >= total
                ),
                timeout=40,
            )
            await asyncio.sleep(1.5)
    finally:
        replicas.stop()

    got = Delivered.read(webhook_sink, LANES)
    print(
        f"\nPostgreSQL restart: {OUTAGE:g} s outage, {total} groups accepted ({before} before it), "
        f"refused attempts {dict(load.refused)}, all ready {recovered:.1f} s after the server was "
        f"back, duplicates per lane {got.duplicates()}"
    )
    assert all(status == 503 and "store" in text for status, text in during), during
    assert load.refused["503"] > 0
    assert accepted_late == accepted_during  # nothing accepted while the server was away
    assert [replicas.pid(i) for i in range(3)] == pids  # recovered without a restart
    assert total > accepted_during
    assert got.missing(load.accepted) == {}
    assert got.out_of_order() == {}


async def test_a_replica_started_without_its_database_waits_for_it(
    tmp_path: Path, webhook_sink: WebhookSink, private_pg: PrivatePostgres
) -> None:
    url = private_pg.create_database("late")
    private_pg.stop("fast")
    service = ServiceProcess(tmp_path, replica_config(url, webhook_sink, 1))
    await service.start(ready=False)
    body = message("{}:{late}", [alert("Late", "fp-late", lane="0", seq="0")])
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            statuses = []
            deadline = time.monotonic() + 6.0
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientConnectionError):  # not listening yet
                    statuses.append(await readyz(session, service.url))
                await asyncio.sleep(0.5)
            async with session.post(f"{service.url}/webhook/alertmanager", json=body, headers=headers) as r:
                refused = r.status, r.headers.get("Retry-After")
            assert service.proc is not None and service.proc.poll() is None  # no crash loop
            private_pg.start()
            t0 = time.monotonic()
            await wait_ready(f"{service.url}/readyz", service.proc, service.log_path, timeout=30)
            became_ready = time.monotonic() - t0
            async with session.post(f"{service.url}/webhook/alertmanager", json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
            await webhook_sink.wait_for(1, timeout=10)
    finally:
        service.stop()
        if not private_pg.running:
            private_pg.start()
    print(f"\nreplica started without its database: ready {became_ready:.1f} s after the server came up")
    assert statuses, "the replica never answered /readyz while the database was down"
    assert all(s == 503 and "store" in text for s, text in statuses), statuses
    assert refused[0] == 503 and refused[1] is not None
    unreachable = [line for line in service.log_lines() if "unreachable" in line]
    assert 1 <= len(unreachable) <= 3, unreachable  # logged once per change of reason
