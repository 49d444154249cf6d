"""WebhookSink with real aiohttp against the WebhookSink fake."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from app.config import WebhookConfig
from app.core.errors import PermanentError, RetryableError
from app.core.models import WebhookMessage
from app.sinks.webhook import WebhookSink, parse_retry_after, webhook_json
from tests.fakes.webhook import WebhookSink as FakeWebhook
from tests.sinks.groups import delivery, firing, make_alert, make_group

SECRET_QUERY = "sig=hunter2-very-secret"

SinkFactory = Callable[..., WebhookSink]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def make_sink(webhook_sink: FakeWebhook, session: aiohttp.ClientSession) -> SinkFactory:
    def factory(*, timeout: float = 5.0, **config: Any) -> WebhookSink:
        config.setdefault("url", SecretStr(webhook_sink.url_for(f"/hook?{SECRET_QUERY}")))
        return WebhookSink(WebhookConfig(**config), session=session, send_timeout=timeout)

    return factory


async def test_posts_alertmanager_v4_body(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    group = make_group([make_alert(0), make_alert(1, status="resolved")])
    assert await make_sink().send(delivery(group)) is None
    [got] = await webhook_sink.wait_for(1)
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    body = got.json
    assert body["version"] == "4" and body["groupKey"] == group.groupKey
    assert body["status"] == "firing" and body["receiver"] == "oncall"
    assert body["truncatedAlerts"] == 0 and len(body["alerts"]) == 2
    assert body["alerts"][0]["startsAt"] == "2026-11-24T10:00:00Z"
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["alerts"][1]["endsAt"] == "2026-11-24T10:05:00Z"
    # What we send parses as what Alertmanager sends.
    assert WebhookMessage.model_validate(body).alerts == group.alerts


async def test_max_alerts_truncates(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    await make_sink(max_alerts=2).send(delivery(firing(5, truncated=1)))
    [got] = await webhook_sink.wait_for(1)
    assert len(got.json["alerts"]) == 2 and got.json["truncatedAlerts"] == 4


async def test_bearer_credentials(webhook_sink: FakeWebhook, make_sink: SinkFactory, tmp_path: Any) -> None:
    webhook_sink.token = "tok-123"
    secret_file = tmp_path / "cred"
    secret_file.write_text("tok-123\n")
    sink = make_sink(http_config={"authorization": {"credentials_file": str(secret_file)}})
    await sink.send(delivery(firing(1)))
    [got] = await webhook_sink.wait_for(1)
    assert got.headers["Authorization"] == "Bearer tok-123"


async def test_wrong_credentials_are_permanent_and_scrubbed(
    webhook_sink: FakeWebhook, make_sink: SinkFactory
) -> None:
    webhook_sink.token = "right"
    sink = make_sink(http_config={"authorization": {"credentials": "wrong-secret"}})
    with pytest.raises(PermanentError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "unauthorized"
    assert "wrong-secret" not in str(info.value) and SECRET_QUERY not in str(info.value)


async def test_basic_auth(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    sink = make_sink(http_config={"basic_auth": {"username": "am", "password": "pw"}})
    await sink.send(delivery(firing(1)))
    [got] = await webhook_sink.wait_for(1)
    assert got.headers["Authorization"] == "Basic " + base64.b64encode(b"am:pw").decode()


async def test_retry_after_seconds(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    webhook_sink.fail_next(status=429, retry_after=12)
    with pytest.raises(RetryableError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.retry_after == 12.0 and info.value.reason == "rate_limited"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    webhook_sink: FakeWebhook, make_sink: SinkFactory, status: int
) -> None:
    webhook_sink.fail_next(status=status)
    with pytest.raises(RetryableError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "server_error" and info.value.retry_after is None
    assert SECRET_QUERY not in str(info.value)


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "bad_request"), (403, "forbidden"), (404, "not_found"), (422, "http_error")]
)
async def test_client_errors_are_permanent(
    webhook_sink: FakeWebhook, make_sink: SinkFactory, status: int, reason: str
) -> None:
    webhook_sink.fail_next(status=status)
    with pytest.raises(PermanentError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == reason and f"HTTP {status}" in str(info.value)


async def test_disconnect_is_retryable(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    webhook_sink.fail_next(disconnect=True)
    with pytest.raises(RetryableError) as info:
        await make_sink().send(delivery(firing(1)))
    assert info.value.reason == "network" and SECRET_QUERY not in str(info.value)


async def test_timeout_is_retryable(webhook_sink: FakeWebhook, make_sink: SinkFactory) -> None:
    webhook_sink.fail_next(status=200, delay=1.0)
    with pytest.raises(RetryableError) as info:
        await make_sink(timeout=0.2).send(delivery(firing(1)))
    assert info.value.reason == "timeout"


async def test_connection_refused_is_retryable_and_scrubbed(
    webhook_sink: FakeWebhook, make_sink: SinkFactory
) -> None:
    sink = make_sink()
    await webhook_sink.stop()
    with pytest.raises(RetryableError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "network" and SECRET_QUERY not in str(info.value)


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_webhook_body_keeps_alertmanager_shape() -> None:
    body = json.loads(webhook_json(firing(3), max_alerts=0))
    assert list(body) == [
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    ]
    assert list(body["alerts"][0]) == [
        "status",
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ]
    assert body["version"] == "4"
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["alerts"][0]["startsAt"].endswith("Z")


def test_webhook_body_keeps_the_instants_alertmanager_sent() -> None:
    from app.core.models import WebhookMessage
    from tests.payloads import alert, message

    raw = message("g", [alert("A", "f1")])
    raw["alerts"][0]["startsAt"] = "2026-11-24T12:00:00+02:00"
    msg = WebhookMessage.model_validate(raw)
    group = firing(1).model_copy(update={"alerts": msg.alerts})
    body = json.loads(webhook_json(group))
    sent = datetime.fromisoformat(body["alerts"][0]["startsAt"])
    assert sent == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    truncated = json.loads(webhook_json(firing(3), max_alerts=2))
    assert len(truncated["alerts"]) == 2 and truncated["truncatedAlerts"] == 1
