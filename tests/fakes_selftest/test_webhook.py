"""WebhookSink through aiohttp."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.fakes.webhook import WebhookSink


async def test_records_json_and_headers(webhook_sink: WebhookSink) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            webhook_sink.url_for("/hooks/a?x=1"), json={"status": "firing"}, headers={"X-Trace": "t1"}
        ) as resp,
    ):
        assert resp.status == 200 and await resp.json() == {"ok": True}
    [delivery] = await webhook_sink.wait_for(1)
    assert delivery.path == "/hooks/a" and delivery.query == {"x": "1"}
    assert delivery.json == {"status": "firing"} and delivery.headers["x-trace"] == "t1"
    assert webhook_sink.received == [{"status": "firing"}]


async def test_bearer_token() -> None:
    async with WebhookSink(token="s3cret") as sink, aiohttp.ClientSession() as http:
        async with http.post(sink.url_for("/"), json={}) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        async with http.post(sink.url_for("/"), json={}, headers={"Authorization": "Bearer wrong"}) as resp:
            assert resp.status == 401
        async with http.post(
            sink.url_for("/"), json={"a": 1}, headers={"Authorization": "Bearer s3cret"}
        ) as resp:
            assert resp.status == 200
        assert sink.received == [{"a": 1}] and len(sink.requests) == 3


async def test_fail_next_and_hold(webhook_sink: WebhookSink) -> None:
    webhook_sink.fail_next(2, status=503, retry_after=1.5)
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.post(webhook_sink.url, json={}) as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "1.5"
        webhook_sink.hold()
        task = asyncio.create_task(http.post(webhook_sink.url, json={"n": 3}))
        await webhook_sink.wait_held(1)
        assert webhook_sink.deliveries == []
        webhook_sink.release()
        resp = await task
        resp.release()
    assert [r.status for r in webhook_sink.requests] == [503, 503, 200]
    assert webhook_sink.received == [{"n": 3}]


async def test_client_timeout_while_held_is_not_a_delivery(webhook_sink: WebhookSink) -> None:
    webhook_sink.hold()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as http:
        with pytest.raises(TimeoutError):
            await http.post(webhook_sink.url, json={"n": 1})
    await webhook_sink.wait_until(lambda: webhook_sink.requests[-1].aborted, 2, "abort")
    webhook_sink.release()
    await asyncio.sleep(0.05)
    assert webhook_sink.deliveries == [] and webhook_sink.requests[-1].status is None


async def test_non_2xx_default_status() -> None:
    async with (
        WebhookSink(status=500, response_body="boom") as sink,
        aiohttp.ClientSession() as http,
        http.post(sink.url, json={}) as resp,
    ):
        assert resp.status == 500 and await resp.text() == "boom"
    assert sink.deliveries == []


async def test_delay_injection_is_consumed_even_if_the_client_gives_up(webhook_sink: WebhookSink) -> None:
    webhook_sink.fail_next(1, status=503, delay=1.0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as http:
        with pytest.raises(TimeoutError):
            await http.post(webhook_sink.url, json={"try": 1})
        async with http.post(webhook_sink.url, json={"try": 2}) as resp:
            assert resp.status == 200
    assert webhook_sink.received == [{"try": 2}] and webhook_sink.pending_injections == 0
