"""FakeLoki through aiohttp: Loki's query_range wire format, limits, tenants and errors.

No Loki binary or logcli is installable here (Debian's `loki` package is an unrelated genetics
tool), so these tests pin the fake to Loki's documented behaviour instead.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from tests.fakes.loki import PATH, FakeLoki, ParseError, parse_logql, parse_time

S = 1_000_000_000
T0 = 1_767_268_800 * S  # 2026-01-01T12:00:00Z


async def _get(fake: FakeLoki, headers: dict[str, str] | None = None, **params: Any) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(fake.url + PATH, params={k: str(v) for k, v in params.items()}, headers=headers) as resp,
    ):
        text = await resp.text()
        return (
            resp.status,
            resp.content_type,
            (await resp.json()) if resp.content_type == "application/json" else text,
        )


def _fill(fake: FakeLoki) -> None:
    fake.push({"app": "api", "namespace": "prod"}, [(T0 + i * S, f"api line {i} error") for i in range(10)])
    fake.push({"app": "web", "namespace": "prod"}, [(T0 + i * S + 1, f"web line {i}") for i in range(10)])


async def test_streams_as_nanosecond_strings_newest_first(fake_loki: FakeLoki) -> None:
    _fill(fake_loki)
    status, ctype, body = await _get(
        fake_loki, query='{namespace="prod"}', start=T0, end=T0 + 100 * S, limit=4
    )
    assert status == 200 and ctype == "application/json"
    assert body["status"] == "success" and body["data"]["resultType"] == "streams"
    values = [v for stream in body["data"]["result"] for v in stream["values"]]
    assert all(isinstance(ns, str) and isinstance(line, str) for ns, line in values)
    # The limit counts entries across streams; backward (the default) is newest first.
    assert sorted((int(ns) for ns, _ in values), reverse=True) == [
        T0 + 9 * S + 1,
        T0 + 9 * S,
        T0 + 8 * S + 1,
        T0 + 8 * S,
    ]
    assert {s["stream"]["app"] for s in body["data"]["result"]} == {"api", "web"}


async def test_forward_direction_and_line_filters(fake_loki: FakeLoki) -> None:
    _fill(fake_loki)
    status, _, body = await _get(
        fake_loki,
        query='{app=~"a.*"} |= "error" != "line 0"',
        start=T0,
        end=T0 + 100 * S,
        limit=2,
        direction="forward",
    )
    assert status == 200
    [stream] = body["data"]["result"]
    assert stream["values"] == [[str(T0 + S), "api line 1 error"], [str(T0 + 2 * S), "api line 2 error"]]


async def test_start_inclusive_end_exclusive(fake_loki: FakeLoki) -> None:
    _fill(fake_loki)
    _, _, body = await _get(fake_loki, query='{app="api"}', start=T0 + 2 * S, end=T0 + 5 * S, limit=100)
    [stream] = body["data"]["result"]
    assert sorted(int(ns) for ns, _ in stream["values"]) == [T0 + 2 * S, T0 + 3 * S, T0 + 4 * S]


def test_times_in_seconds_nanoseconds_and_rfc3339() -> None:
    assert parse_time(str(T0), "start") == T0
    assert parse_time("1767268800", "start") == T0  # 10 digits: seconds
    assert parse_time("1767268800.5", "start") == T0 + S // 2
    assert parse_time("2026-01-01T12:00:00Z", "start") == T0
    with pytest.raises(ValueError, match="cannot parse"):
        parse_time("yesterday", "start")


async def test_parse_errors_are_text_plain_400(fake_loki: FakeLoki) -> None:
    for query, words in [
        ('{app="api"', "parse error at line 1, col 11"),
        ('{app="api"} |= error', "expecting STRING"),
        ('{app!="api"}', "empty-compatible value"),
        ('{app=~".*"}', "empty-compatible value"),
    ]:
        status, ctype, text = await _get(fake_loki, query=query)
        assert (status, ctype) == (400, "text/plain") and words in text, (query, text)


async def test_limit_over_max_entries_is_400(fake_loki: FakeLoki) -> None:
    status, _, text = await _get(fake_loki, query='{app="api"}', limit=5001)
    assert status == 400 and "(5001 > 5000)" in text


async def test_tenant_required_and_isolated() -> None:
    async with FakeLoki(multi_tenant=True) as fake:
        fake.push({"app": "api"}, [(T0, "ops line")], tenant="ops")
        fake.push({"app": "api"}, [(T0, "dev line")], tenant="dev")
        status, ctype, text = await _get(fake, query='{app="api"}', start=T0, end=T0 + S)
        assert (status, ctype, text.strip()) == (401, "text/plain", "no org id")
        status, _, body = await _get(
            fake, {"X-Scope-OrgID": "ops"}, query='{app="api"}', start=T0, end=T0 + S
        )
        assert status == 200 and body["data"]["result"][0]["values"] == [[str(T0), "ops line"]]


async def test_basic_auth_gateway() -> None:
    async with FakeLoki(basic_auth=("alertmedic", "pw")) as fake:
        status, _, _ = await _get(fake, query='{app="api"}')
        assert status == 401
        auth = "Basic " + base64.b64encode(b"alertmedic:pw").decode()
        status, _, _ = await _get(fake, {"Authorization": auth}, query='{app="api"}')
        assert status == 200


async def test_429_and_slow_answers(fake_loki: FakeLoki) -> None:
    fake_loki.fail_next(status=429)
    status, ctype, text = await _get(fake_loki, query='{app="api"}')
    assert (status, ctype, text.strip()) == (429, "text/plain", "too many outstanding requests")
    fake_loki.answer_slowly(0.5)
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.1):
            await _get(fake_loki, query='{app="api"}')
    status, _, _ = await _get(fake_loki, query='{app="api"}')
    assert status == 200


def test_parser_reads_go_escapes_as_loki_does() -> None:
    q = parse_logql(r'{ns="x\"} |= \"y", app="a\\b\u00e9"} |~ "(?i)err" !~ `\d+`')
    assert q.label("ns") == [("=", 'x"} |= "y')] and q.label("app") == [("=", "a\\bé")]
    assert [(f.op, f.value) for f in q.filters] == [("|~", "(?i)err"), ("!~", r"\d+")]
    with pytest.raises(ParseError, match="literal not terminated"):
        parse_logql('{ns="x}')
