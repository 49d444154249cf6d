"""Two clustered Alertmanager peers, each posting every notification to a different replica of
three sharing one store: one message per destination per group change, as with one peer.

The peers run with `--cluster.peer-timeout` cut to 1 ms, so the second peer does not see the
first one's notification log in time and both send (checked: both replicas count
each change as received), which is what the replicas' deduplication must absorb.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TOKEN
from tests.e2e.alertmanager import Alertmanager, am_alert, to_alertmedic
from tests.e2e.ha import Replicas
from tests.e2e.proc import free_port
from tests.engine.test_delivery import CHAT, eventually
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink

pytestmark = pytest.mark.slow


def config(storage_url: str, tg: FakeTelegram, sink: WebhookSink) -> dict[str, object]:
    return {
        "server": {"auth": {"bearer_token": TOKEN}, "shutdown_timeout": "5s"},
        "storage": {"url": storage_url},
        "delivery": {"retry_initial": "200ms", "retry_max": "1s"},
        "receivers": [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
                "webhook_configs": [{"url": sink.url_for("/hook")}],
            }
        ],
        "route": {"receiver": "oncall"},
    }


async def accepted(session: aiohttp.ClientSession, url: str) -> float:
    """The replica's count of accepted webhooks (from /metrics)."""
    async with session.get(f"{url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith('alertmedic_webhooks_received_total{outcome="accepted"}'):
            return float(line.split()[-1])
    return 0.0


async def accepted_more(session: aiohttp.ClientSession, url: str, than: float) -> float:
    """Wait until the replica has accepted more webhooks than `than`; return its count."""
    deadline = asyncio.get_running_loop().time() + 20
    while (count := await accepted(session, url)) <= than:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{url} accepted no webhook of this change (the peer did not send)")
        await asyncio.sleep(0.1)
    return count


async def test_two_alertmanager_peers_posting_to_two_replicas_give_one_message_per_change(
    tmp_path: Path, fake_telegram: FakeTelegram, webhook_sink: WebhookSink, ha_storage_url: str
) -> None:
    replicas = Replicas(tmp_path, config(ha_storage_url, fake_telegram, webhook_sink), 3)
    await replicas.start()
    (tmp_path / "token").write_text(TOKEN + "\n")
    gossip = [free_port(), free_port()]
    peers = []
    for i in range(2):
        (tmp_path / f"am{i}").mkdir()
        am_config = to_alertmedic(
            replicas.procs[i].port, tmp_path / "token", group_by=["alertname"], send_resolved=True
        )
        peers.append(
            Alertmanager(
                tmp_path / f"am{i}",
                am_config,
                extra_args=[
                    f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                    f"--cluster.advertise-address=127.0.0.1:{gossip[i]}",
                    f"--cluster.peer=127.0.0.1:{gossip[1 - i]}",
                    "--cluster.peer-timeout=1ms",
                    "--cluster.settle-timeout=1s",
                ],
            )
        )
    try:
        await asyncio.gather(*(p.start() for p in peers))
        # A peer's first notification waits for its gossip to settle (1 s here): past that, both
        # flush a group at the same instant and the second waits only the 1 ms peer timeout,
        # less than the first one's notification takes (the peer logs it once alertmedic has
        # answered, a durable commit: 5-10 ms) plus its gossip to the second (~2 ms on loopback).
        await asyncio.sleep(1.5)
        async with aiohttp.ClientSession() as session:
            seen = [0.0, 0.0]

            async def change(alerts: list[dict[str, object]], webhooks: int) -> None:
                if webhook_sink.requests:
                    # Later changes go out on the group_interval ticks (1 s apart, in phase
                    # with the first flush, the peers within a few ms of each other): post in
                    # the middle between two ticks, so both peers flush the change at the same
                    # tick rather than one a second later, when the other's log has reached it.
                    phase = (time.time() - webhook_sink.requests[0].received_at) % 1.0
                    await asyncio.sleep((0.5 - phase) % 1.0)
                # Prometheus sends every alert to every Alertmanager of the cluster
                await asyncio.gather(*(p.post_alerts(alerts) for p in peers))
                await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= webhooks, timeout=30)
                for i in range(2):  # both peers notified, each through its own replica
                    url = replicas.procs[i].url
                    seen[i] = await accepted_more(session, url, seen[i])
                await asyncio.sleep(3.0)  # a second message for this change would be here by now

            a1 = am_alert("PeerTest", "critical", pod="a")
            a2 = am_alert("PeerTest", "critical", pod="b")
            await change([a1], 1)
            assert len(fake_telegram.messages(CHAT)) == 1
            await change([a1, a2], 2)
            assert len(fake_telegram.messages(CHAT)) == 2
            resolved = [
                am_alert("PeerTest", "critical", pod="a", resolved=True),
                am_alert("PeerTest", "critical", pod="b", resolved=True),
            ]
            await change(resolved, 3)
            await eventually(lambda: fake_telegram.messages(CHAT)[1].edited, timeout=10)
    finally:
        for p in peers:
            p.stop()
        replicas.stop()

    hooks = [d.json for d in webhook_sink.deliveries]
    assert [(h["status"], len(h["alerts"])) for h in hooks] == [("firing", 1), ("firing", 2), ("resolved", 2)]
    first, second = fake_telegram.messages(CHAT)
    assert not first.edited
    assert len(second.history) == 1
    assert "RESOLVED" in second.visible_text.upper()
