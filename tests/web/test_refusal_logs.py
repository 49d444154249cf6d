"""Refused webhooks (401, 400, 413, 422) reach the log: cause, remote address, reason; rate-limited."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.refusals import SUMMARY_INTERVAL
from tests.conftest import TOKEN, make_config
from tests.payloads import alert, message

GOOD = json.dumps(message('{}:{alertname="A"}', [alert("A", "f1")]))
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
WRONG = "wrong-secret-token-value"

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_000_000.0)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, clock: ManualClock) -> Client:
    config = make_config(tmp_path, [{"name": "null"}], {"receiver": "null"}, server={"max_body_bytes": 4096})
    c: Client = await aiohttp_client(create_app(config, clock=clock))
    return c


@pytest.fixture
def refusals(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    caplog.set_level(logging.INFO, logger="alertmedic.web")

    def lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "alertmedic.web" and hasattr(r, "cause")]

    return lines


async def post(client: Client, data: Any, headers: dict[str, str], *, source: str = "127.0.0.1") -> int:
    """POST from the local address `source` (any 127.x.y.z: a distinct remote for the server)."""
    conn = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=conn) as s,
        s.post(client.make_url("/webhook/alertmanager"), data=data, headers=headers) as r,
    ):
        await r.read()
        return r.status


BAD = {
    "unauthorized": (GOOD, {"Authorization": f"Bearer {WRONG}"}, 401),
    "bad_json": ('{"version": "4", ', AUTH, 400),
    "too_large": (json.dumps(message("g", [alert("A", "f1", big="x" * 5000)])), AUTH, 413),
    "invalid": (json.dumps({"version": "3"}), AUTH, 422),
}


async def test_each_refusal_is_logged_with_its_cause_and_address(
    client: Client, refusals: Callable[[], list[logging.LogRecord]], caplog: pytest.LogCaptureFixture
) -> None:
    for data, headers, status in BAD.values():
        assert await post(client, data, headers) == status
    lines = refusals()
    assert [(r.cause, r.remote, r.status) for r in lines] == [  # type: ignore[attr-defined]
        ("unauthorized", "127.0.0.1", 401),
        ("bad_json", "127.0.0.1", 400),
        ("too_large", "127.0.0.1", 413),
        ("invalid", "127.0.0.1", 422),
    ]
    assert all(r.levelno == logging.WARNING for r in lines)
    too_large, invalid = lines[2], lines[3]
    assert "max_body_bytes (4096)" in too_large.getMessage() and "max_alerts" in too_large.getMessage()
    assert too_large.max_body_bytes == 4096  # type: ignore[attr-defined]
    assert "version" in [p["field"] for p in invalid.first_problems]  # type: ignore[attr-defined]
    assert lines[1].getMessage().startswith("refused a webhook: malformed JSON")
    assert WRONG not in caplog.text and TOKEN not in caplog.text


async def test_a_body_without_content_length_is_cut_at_the_limit_and_logged(
    client: Client, refusals: Callable[[], list[logging.LogRecord]]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    assert await post(client, chunks(), AUTH) == 413
    [line] = refusals()
    assert line.cause == "too_large" and line.content_length is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("header", "scheme", "reason"),
    [
        (None, "none", "no Authorization header"),
        ("Basic dXNlcjpwYXNz", "basic", "basic credentials presented; bearer expected"),
        (f"Bearer {WRONG}", "bearer", "the bearer token does not match"),
        (WRONG, "unknown", "unknown scheme; bearer expected"),
        (f"Token {WRONG}", "unknown", "unknown scheme; bearer expected"),
    ],
)
async def test_401_says_which_scheme_was_presented_never_the_credential(
    client: Client,
    refusals: Callable[[], list[logging.LogRecord]],
    caplog: pytest.LogCaptureFixture,
    header: str | None,
    scheme: str,
    reason: str,
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert await post(client, GOOD, headers) == 401
    [line] = refusals()
    assert line.scheme == scheme and reason in line.getMessage()  # type: ignore[attr-defined]
    assert WRONG not in caplog.text and "dXNlcjpwYXNz" not in caplog.text


async def test_basic_auth_mismatch_is_named(
    aiohttp_client: Any, tmp_path: Path, refusals: Callable[[], list[logging.LogRecord]]
) -> None:
    config = make_config(
        tmp_path,
        [{"name": "null"}],
        {"receiver": "null"},
        server={"auth": {"basic_auth": {"username": "am", "password": "s3cret-pass"}}},
    )
    c: Client = await aiohttp_client(create_app(config))
    assert await post(c, GOOD, {"Authorization": "Basic YW06d3Jvbmc="}) == 401
    assert await post(c, GOOD, AUTH, source="127.0.0.2") == 401
    assert [(r.scheme, r.getMessage()) for r in refusals()] == [  # type: ignore[attr-defined]
        ("basic", "refused a webhook: the basic auth user name or password does not match"),
        ("bearer", "refused a webhook: bearer credentials presented; basic expected"),
    ]


async def test_repeats_are_counted_once_an_interval_per_cause_and_address(
    client: Client, refusals: Callable[[], list[logging.LogRecord]], clock: ManualClock
) -> None:
    bad = {"Authorization": f"Bearer {WRONG}"}
    for _ in range(20):
        assert await post(client, GOOD, bad) == 401
    assert await post(client, GOOD, bad, source="127.0.0.2") == 401
    assert [(r.remote, r.getMessage()[:17]) for r in refusals()] == [  # type: ignore[attr-defined]
        ("127.0.0.1", "refused a webhook"),
        ("127.0.0.2", "refused a webhook"),
    ]
    await clock.advance(SUMMARY_INTERVAL)
    # any webhook request reports what is due, an accepted one included
    assert await post(client, GOOD, AUTH) == 200
    summary = refusals()[2:]
    assert [(r.cause, r.remote, r.count, r.seconds) for r in summary] == [  # type: ignore[attr-defined]
        ("unauthorized", "127.0.0.1", 19, SUMMARY_INTERVAL)
    ]
    assert summary[0].getMessage() == "refused webhooks not logged one by one"
    # the flood goes on: counted into the next summary, not logged one by one
    assert await post(client, GOOD, bad) == 401
    await clock.advance(SUMMARY_INTERVAL)
    assert await post(client, GOOD, AUTH) == 200
    assert [r.count for r in refusals()[3:]] == [1]  # type: ignore[attr-defined]
    # quiet for a whole interval: the next one is logged in full again
    await clock.advance(SUMMARY_INTERVAL)
    assert await post(client, GOOD, AUTH) == 200
    assert await post(client, GOOD, bad) == 401
    assert [r.getMessage()[:17] for r in refusals()[4:]] == ["refused a webhook"]


async def test_counts_still_open_are_logged_when_the_service_stops(
    aiohttp_client: Any, tmp_path: Path, refusals: Callable[[], list[logging.LogRecord]]
) -> None:
    config = make_config(tmp_path, [{"name": "null"}], {"receiver": "null"})
    c: Client = await aiohttp_client(create_app(config))
    for _ in range(3):
        assert await post(c, "{", AUTH) == 400
    await c.close()
    assert [(r.cause, getattr(r, "count", None)) for r in refusals()] == [  # type: ignore[attr-defined]
        ("bad_json", None),
        ("bad_json", 2),
    ]


async def test_a_flood_of_bad_requests_gives_a_bounded_number_of_lines(
    client: Client, refusals: Callable[[], list[logging.LogRecord]], clock: ManualClock
) -> None:
    sources = ["127.0.0.1", "127.0.0.2"]
    step = 0.05  # 10 000 requests over 500 s
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(s, 0), limit=16)) for s in sources
    ]
    url = client.make_url("/webhook/alertmanager")
    kinds = list(BAD.values())
    counts: dict[int, int] = {}

    async def one(i: int) -> None:
        data, headers, _ = kinds[i % len(kinds)]
        async with sessions[(i // len(kinds)) % 2].post(url, data=data, headers=headers) as r:
            await r.read()
            counts[r.status] = counts.get(r.status, 0) + 1

    try:
        for start in range(0, 10_000, 50):
            await clock.advance(step * 50)
            await asyncio.gather(*(one(i) for i in range(start, start + 50)))
    finally:
        for s in sessions:
            await s.close()
    assert counts == {401: 2500, 400: 2500, 413: 2500, 422: 2500}
    lines = refusals()
    keys = len(BAD) * len(sources)
    intervals = 10_000 * step / SUMMARY_INTERVAL
    # per (cause, address): one line in full, then at most one summary an interval
    assert keys <= len(lines) <= keys * (1 + int(intervals) + 1)
    full = [r for r in lines if not hasattr(r, "count")]
    assert len(full) == keys
    assert sum(r.count for r in lines if hasattr(r, "count")) <= 10_000 - keys  # type: ignore[attr-defined]
