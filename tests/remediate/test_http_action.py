"""The `http` action against a real local endpoint (WebhookSink): method, credentials from a file,
expected statuses, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.config import HTTPClientConfig
from app.core.errors import RetryableError
from app.core.remediation.actions import HttpCall
from app.remediate.http_call import call_http
from tests.fakes.webhook import WebhookSink


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def reload_call(url: str, expect: frozenset[int] = frozenset({200, 202, 204})) -> HttpCall:
    return HttpCall(method="POST", url=url, expect_status=expect, timeout=2.0)


async def test_calls_with_the_token_from_its_file(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n", encoding="utf-8")
    http_config = HTTPClientConfig.model_validate(
        {"authorization": {"credentials_file": str(tmp_path / "token")}}
    )
    async with WebhookSink(token="s3cret", status=202) as sink:
        verdict = await call_http(
            session, reload_call(sink.url_for("/admin/reload")), http_config=http_config
        )
        assert (verdict.state, verdict.detail) == ("succeeded", "HTTP 202")
        [delivery] = sink.deliveries
        assert (delivery.method, delivery.path) == ("POST", "/admin/reload")


async def test_unexpected_status_fails_with_it(session: aiohttp.ClientSession) -> None:
    async with WebhookSink(status=404, response_body={"error": "no such route"}) as sink:
        verdict = await call_http(session, reload_call(sink.url_for("/admin/reload")))
    assert (verdict.state, verdict.reason) == ("failed", "http_404")
    assert verdict.detail == "HTTP 404 (expected 200, 202, 204)"


async def test_any_2xx_when_no_statuses_are_listed(session: aiohttp.ClientSession) -> None:
    async with WebhookSink(status=201) as sink:
        verdict = await call_http(session, reload_call(sink.url_for("/x"), frozenset()))
    assert verdict.state == "succeeded"


async def test_503_with_retry_after_and_refused_connection_are_retried(
    session: aiohttp.ClientSession,
) -> None:
    async with WebhookSink() as sink:
        sink.fail_next(1, 503, retry_after=7)
        with pytest.raises(RetryableError) as info:
            await call_http(session, reload_call(sink.url_for("/admin/reload")))
        assert info.value.retry_after == 7.0
        url = sink.url_for("/admin/reload")
    with pytest.raises(RetryableError) as gone:
        await call_http(session, reload_call(url))
    assert gone.value.reason == "unreachable"
