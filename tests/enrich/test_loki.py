"""LokiClient against FakeLoki: the exact request, tenant and credentials, and every failure
translated into a short note that names Loki and never a secret."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.config.enrichment import LokiSettings
from app.enrich.errors import EnrichmentError, FetchTimeout
from app.enrich.loki import LokiClient
from tests.fakes.loki import PATH, FakeLoki
from tests.fakes.webhook import WebhookSink

S = 1_000_000_000
T0 = 1_767_268_800 * S
PASSWORD = "loki-pw-never-shown"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(url: str, http: aiohttp.ClientSession, **settings: object) -> LokiClient:
    return LokiClient(LokiSettings.model_validate({"url": url, **settings}), session=http)


async def test_the_request_loki_gets(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    fake_loki.push({"app": "api"}, [(T0 + i * S, f"error {i}") for i in range(20)])
    entries = await client(fake_loki.url + "/", http).query_range(
        '{app="api"} |= "error"', start_ns=T0 + 5 * S, end_ns=T0 + 15 * S, limit=3
    )
    assert entries == [(T0 + 14 * S, "error 14"), (T0 + 13 * S, "error 13"), (T0 + 12 * S, "error 12")]
    [req] = fake_loki.requests
    assert req.path == PATH and req.method == "GET"
    assert req.query == {
        "query": '{app="api"} |= "error"',
        "start": str(T0 + 5 * S),
        "end": str(T0 + 15 * S),
        "limit": "3",
        "direction": "backward",
    }
    assert "X-Scope-OrgID" not in req.headers and "Authorization" not in req.headers


async def test_tenant_and_basic_auth_from_a_file(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    async with FakeLoki(multi_tenant=True, basic_auth=("alertmedic", PASSWORD)) as fake:
        fake.push({"app": "api"}, [(T0, "ops only")], tenant="ops")
        loki = client(
            fake.url,
            http,
            tenant_id="ops",
            http_config={"basic_auth": {"username": "alertmedic", "password_file": str(tmp_path / "pw")}},
        )
        assert await loki.query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5) == [
            (T0, "ops only")
        ]
        assert fake.requests[0].headers["X-Scope-OrgID"] == "ops"


async def test_bearer_authorization(http: aiohttp.ClientSession) -> None:
    async with FakeLoki() as fake:
        loki = client(fake.url, http, http_config={"authorization": {"credentials": "tok-123"}})
        await loki.query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)
        assert fake.requests[0].headers["Authorization"] == "Bearer tok-123"


async def test_missing_tenant_is_loki_s_401(http: aiohttp.ClientSession) -> None:
    async with FakeLoki(multi_tenant=True) as fake:
        with pytest.raises(EnrichmentError, match=r"^Loki answered 401: no org id$"):
            await client(fake.url, http).query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)


async def test_wrong_password_says_401_and_never_the_password(http: aiohttp.ClientSession) -> None:
    async with FakeLoki(basic_auth=("alertmedic", "right")) as fake:
        loki = client(
            fake.url, http, http_config={"basic_auth": {"username": "alertmedic", "password": PASSWORD}}
        )
        with pytest.raises(EnrichmentError) as info:
            await loki.query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)
        assert str(info.value) == "Loki answered 401: Unauthorized" and PASSWORD not in repr(info.value)


async def test_unreadable_password_file(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    loki = client(
        "http://127.0.0.1:9",
        http,
        http_config={"basic_auth": {"username": "u", "password_file": str(tmp_path / "missing")}},
    )
    with pytest.raises(EnrichmentError, match="cannot read the Loki credentials file"):
        await loki.query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)


@pytest.mark.parametrize(
    ("status", "body", "note"),
    [
        (429, None, "Loki answered 429: too many outstanding requests"),
        (503, "upstream connect error\nsecond line", "Loki answered 503: upstream connect error"),
        (504, None, "Loki answered 504: Gateway Timeout"),
        (500, "x" * 500, "Loki answered 500: " + "x" * 159 + "…"),
    ],
)
async def test_error_answers(
    fake_loki: FakeLoki, http: aiohttp.ClientSession, status: int, body: str | None, note: str
) -> None:
    fake_loki.fail_next(status=status, body=body)
    with pytest.raises(EnrichmentError) as info:
        await client(fake_loki.url, http).query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)
    assert str(info.value) == note and info.value.outcome == "error"


async def test_a_parse_error_is_reported_in_loki_s_words(
    fake_loki: FakeLoki, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(EnrichmentError, match=r"^Loki answered 400: parse error at line 1, col 11: "):
        await client(fake_loki.url, http).query_range('{app="api"', start_ns=T0, end_ns=T0 + 1, limit=5)


async def test_timeout(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    fake_loki.answer_slowly(2.0)
    began = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"^Loki did not answer within 200ms$") as info:
        await client(fake_loki.url, http, timeout="200ms").query_range(
            '{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5
        )
    assert info.value.outcome == "timeout" and time.monotonic() - began < 1.5


async def test_connection_refused(http: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(EnrichmentError, match=r"^cannot connect to Loki$"):
        await client(f"http://127.0.0.1:{port}", http).query_range(
            '{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5
        )


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
        {
            "status": "success",
            "data": {"resultType": "streams", "result": [{"stream": {}, "values": [[1, "x"]]}]},
        },
        {"status": "success"},
    ],
)
async def test_garbage_bodies(http: aiohttp.ClientSession, body: object) -> None:
    async with WebhookSink(response_body=body) as sink:
        with pytest.raises(EnrichmentError, match=r"^Loki answered with"):
            await client(sink.url, http).query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1, limit=5)


async def test_structured_metadata_triples_are_read(http: aiohttp.ClientSession) -> None:
    body = {
        "status": "success",
        "data": {
            "resultType": "streams",
            "result": [{"stream": {"a": "b"}, "values": [[str(T0), "x", {"k": "v"}]]}],
        },
    }
    async with WebhookSink(response_body=body) as sink:
        assert await client(sink.url, http).query_range('{a="b"}', start_ns=T0, end_ns=T0 + 1, limit=5) == [
            (T0, "x")
        ]


async def test_latency_against_the_fake(fake_loki: FakeLoki, http: aiohttp.ClientSession) -> None:
    """Measured, not timed: printed for the report (p50 of 50 queries of 12 lines)."""
    fake_loki.push({"app": "api"}, [(T0 + i * S, f"error line {i} " + "x" * 100) for i in range(1000)])
    loki = client(fake_loki.url, http)
    took = []
    for _ in range(50):
        began = time.perf_counter()
        assert len(await loki.query_range('{app="api"}', start_ns=T0, end_ns=T0 + 1000 * S, limit=12)) == 12
        took.append(time.perf_counter() - began)
    took.sort()
    print(f"\nLoki query_range against FakeLoki: p50 {took[25] * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms")
    assert took[25] < 1.0
