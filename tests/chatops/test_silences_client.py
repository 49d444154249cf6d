"""The silences client's credentials and failure translation, against a local HTTP receiver
(the real Alertmanager's answers are covered in tests/e2e/test_silences.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from app.chatops.silences import SilencesClient, api_failure
from app.config.chatops import ChatAlertmanagerConfig
from app.core.chatops.silences import SilenceMatcher, SilenceRequest
from app.core.errors import PermanentError, RetryableError
from tests.fakes.webhook import WebhookSink

NOW = datetime(2026, 11, 25, 3, 12, tzinfo=UTC)
REQUEST = SilenceRequest(
    (SilenceMatcher("alertname", "X"),), NOW, NOW + timedelta(hours=1), "alice (telegram)", "c"
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_basic_auth_from_a_password_file(
    tmp_path: Path, webhook_sink: WebhookSink, http: aiohttp.ClientSession
) -> None:
    (tmp_path / "am-password").write_text("pw-am\n")
    config = ChatAlertmanagerConfig.model_validate(
        {
            "url": webhook_sink.url,
            "http_config": {
                "basic_auth": {"username": "alertmedic", "password_file": str(tmp_path / "am-password")}
            },
        }
    )
    webhook_sink.response_body = {"silenceID": "abc-123"}
    assert await SilencesClient.from_config(http, config).create(REQUEST) == "abc-123"
    [delivery] = webhook_sink.deliveries
    assert delivery.path == "/api/v2/silences" and delivery.method == "POST"
    assert delivery.headers["Authorization"] == "Basic " + base64.b64encode(b"alertmedic:pw-am").decode()
    assert delivery.json == REQUEST.to_api()


async def test_bearer_authorization(webhook_sink: WebhookSink, http: aiohttp.ClientSession) -> None:
    config = ChatAlertmanagerConfig.model_validate(
        {"url": webhook_sink.url, "http_config": {"authorization": {"credentials": "tok"}}}
    )
    webhook_sink.response_body = []
    assert await SilencesClient.from_config(http, config).list(filters=['alertname="X"']) == []
    [delivery] = webhook_sink.deliveries
    assert delivery.headers["Authorization"] == "Bearer tok"
    assert delivery.query == {"filter": 'alertname="X"'}


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (503, RetryableError, "server_error"),
        (429, RetryableError, "rate_limited"),
        (401, PermanentError, "unauthorized"),
        (403, PermanentError, "forbidden"),
        (422, PermanentError, "bad_request"),
    ],
)
async def test_failures_are_translated(
    webhook_sink: WebhookSink, http: aiohttp.ClientSession, status: int, kind: type[Exception], reason: str
) -> None:
    webhook_sink.fail_next(status=status, body={"message": "no  way\nat all"})
    with pytest.raises(kind) as info:
        await SilencesClient(http, webhook_sink.url).create(REQUEST)
    assert isinstance(info.value, RetryableError | PermanentError) and info.value.reason == reason
    assert str(info.value) == f"Alertmanager refused creating the silence: {status} no way at all"


async def test_answers_that_are_not_silences(webhook_sink: WebhookSink, http: aiohttp.ClientSession) -> None:
    client = SilencesClient(http, webhook_sink.url)
    with pytest.raises(PermanentError, match="no silenceID"):
        await client.create(REQUEST)  # the sink answers {"ok": true}
    webhook_sink.response_body = [{"id": "x"}]
    with pytest.raises(PermanentError, match="cannot read") as info:
        await client.list()
    assert info.value.reason == "bad_response"
    webhook_sink.response_body = "plain text"
    with pytest.raises(PermanentError, match="not JSON"):
        await client.list()


async def test_timeouts_are_retryable(webhook_sink: WebhookSink, http: aiohttp.ClientSession) -> None:
    webhook_sink.fail_next(status=200, delay=2)
    with pytest.raises(RetryableError) as info:
        await SilencesClient(http, webhook_sink.url, timeout=0.2).list()
    assert info.value.reason == "timeout" and "did not answer listing silences in time" in str(info.value)


def test_long_error_bodies_are_cut() -> None:
    err = api_failure(400, "x" * 1000, what="creating the silence")
    assert isinstance(err, PermanentError) and len(str(err)) < 400 and str(err).endswith("…")
