"""FakeSlack through a plain aiohttp client (Web API + incoming webhooks)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.slack import FakeSlack, sign, signed_headers


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def api(
    http: aiohttp.ClientSession, fake: FakeSlack, method: str, token: str | None = "default", **body: Any
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {fake.token if token == 'default' else token}"
    async with http.post(f"{fake.url}/api/{method}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_auth(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    status, body = await api(http, fake_slack, "auth.test")
    assert status == 200 and body["ok"] is True and body["bot_id"].startswith("B")
    assert await api(http, fake_slack, "auth.test", token=None) == (200, {"ok": False, "error": "not_authed"})
    assert await api(http, fake_slack, "chat.postMessage", token="xoxb-nope", channel="#a", text="x") == (
        200,
        {"ok": False, "error": "invalid_auth"},
    )
    assert fake_slack.messages() == []


async def test_post_and_channel_ids(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    status, body = await api(
        http, fake_slack, "chat.postMessage", channel="#oncall", text="FIRING", blocks=[{"type": "divider"}]
    )
    assert status == 200 and body["ok"] is True
    cid = body["channel"]
    assert cid == fake_slack.channel_id("oncall") and cid.startswith("C") and cid[1:].isupper()
    assert body["ts"] == "1700000000.000100" and body["message"]["text"] == "FIRING"
    _, again = await api(http, fake_slack, "chat.postMessage", channel=cid, text="by id")
    assert again["channel"] == cid and again["ts"] == "1700000000.000200"
    # urlencoded body with the token as a field; blocks JSON-encoded like slack_sdk does
    form = {
        "token": fake_slack.token,
        "channel": "oncall",
        "text": "form",
        "blocks": json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "*b*"}}]),
    }
    async with http.post(f"{fake_slack.url}/api/chat.postMessage", data=form) as resp:
        assert (await resp.json())["ok"] is True
    msgs = await fake_slack.wait_for_messages(3, channel="#oncall")
    assert [m.text for m in msgs] == ["FIRING", "by id", "form"]
    assert msgs[2].blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "*b*"}}]


async def test_channel_errors(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    fake_slack.strict_channels = True
    assert (await api(http, fake_slack, "chat.postMessage", channel="#nope", text="x"))[1] == {
        "ok": False,
        "error": "channel_not_found",
    }
    fake_slack.add_channel("#old", archived=True)
    assert (await api(http, fake_slack, "chat.postMessage", channel="#old", text="x"))[1][
        "error"
    ] == "is_archived"
    fake_slack.add_channel("#ok")
    assert (await api(http, fake_slack, "chat.postMessage", channel="#ok", text="x"))[1]["ok"]


async def test_update(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    _, posted = await api(http, fake_slack, "chat.postMessage", channel="#oncall", text="firing")
    cid, ts = posted["channel"], posted["ts"]
    _, body = await api(http, fake_slack, "chat.update", channel=cid, ts=ts, text="resolved")
    assert body["ok"] is True and body["ts"] == ts and body["message"]["text"] == "resolved"
    [msg] = fake_slack.messages("#oncall")
    assert msg.text == "resolved" and msg.history == [{"text": "firing", "blocks": None, "attachments": None}]
    assert (await api(http, fake_slack, "chat.update", channel="#oncall", ts=ts, text="x"))[1][
        "error"
    ] == "channel_not_found"  # needs the ID
    assert (await api(http, fake_slack, "chat.update", channel=cid, ts="1.2", text="x"))[1][
        "error"
    ] == "message_not_found"
    other = fake_slack.add_token("xoxb-other-app").token
    assert (await api(http, fake_slack, "chat.update", token=other, channel=cid, ts=ts, text="x"))[1][
        "error"
    ] == "cant_update_message"
    assert (await api(http, fake_slack, "chat.update", channel=cid, ts=ts))[1]["error"] == ("no_text")


@pytest.mark.parametrize(
    ("payload", "pointer"),
    [
        ({"blocks": [{"type": "divider"}] * 51}, "must be less than 51 items [json-pointer:/blocks]"),
        (
            {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            {"attachments": [{"color": "#f00", "blocks": [{"type": "divider"}] * 51}]},
            "must be less than 51 items [json-pointer:/attachments/0/blocks]",
        ),
    ],
)
async def test_invalid_blocks(
    fake_slack: FakeSlack, http: aiohttp.ClientSession, payload: dict[str, Any], pointer: str
) -> None:
    _, body = await api(http, fake_slack, "chat.postMessage", channel="#a", text="t", **payload)
    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert body["errors"] == [pointer]
    hook = fake_slack.add_webhook("#a")
    async with http.post(hook, json={"text": "t", **payload}) as resp:
        assert (resp.status, await resp.text()) == (400, "invalid_blocks")
    assert fake_slack.messages() == []


async def test_limits_at_the_edge_pass(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}] + [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}
    ] * 49
    assert (await api(http, fake_slack, "chat.postMessage", channel="#a", blocks=blocks))[1]["ok"]
    assert (await api(http, fake_slack, "chat.postMessage", channel="#a"))[1]["error"] == "no_text"


async def test_rate_limit_and_hold(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    fake_slack.fail_next(1, status=429, retry_after=7, endpoint="chat.postMessage")
    async with http.post(
        f"{fake_slack.url}/api/chat.postMessage",
        json={"channel": "#a", "text": "x"},
        headers={"Authorization": f"Bearer {fake_slack.token}"},
    ) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "7"
        assert await resp.json() == {"ok": False, "error": "ratelimited"}
    fake_slack.hold()
    task = asyncio.create_task(api(http, fake_slack, "chat.postMessage", channel="#a", text="x"))
    await fake_slack.wait_held(1)
    assert fake_slack.messages() == []
    fake_slack.release()
    assert (await task)[1]["ok"] is True
    assert len(await fake_slack.wait_for_messages(1)) == 1


async def test_abandoned_request_is_not_recorded(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    fake_slack.hold()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await api(http, fake_slack, "chat.postMessage", channel="#a", text="x")
    await fake_slack.wait_until(lambda: fake_slack.requests[-1].aborted, 2, "abort")
    fake_slack.release()
    assert fake_slack.messages() == []


async def test_webhooks(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    hook = fake_slack.add_webhook("#alerts")
    async with http.post(hook, json={"text": "hello"}) as resp:
        assert (resp.status, await resp.text()) == (200, "ok")
    [msg] = fake_slack.messages("#alerts")
    assert msg.via == "webhook" and msg.text == "hello" and msg.token is None
    async with http.post(hook, data=b"{not json", headers={"Content-Type": "application/json"}) as resp:
        assert (resp.status, await resp.text()) == (400, "invalid_payload")
    async with http.post(hook, json={"username": "x"}) as resp:
        assert (resp.status, await resp.text()) == (400, "no_text")
    async with http.post(f"{fake_slack.url}/services/T1/B2/nope", json={"text": "x"}) as resp:
        assert (resp.status, await resp.text()) == (404, "no_service")
    for error, status in [
        ("action_prohibited", 403),
        ("channel_not_found", 404),
        ("channel_is_archived", 410),
    ]:
        fake_slack.break_webhook(hook, error)
        async with http.post(hook, json={"text": "x"}) as resp:
            assert (resp.status, await resp.text()) == (status, error)
    fake_slack.webhook_errors.clear()
    fake_slack.fail_next(2, status=429, retry_after=2, endpoint="webhook")
    async with http.post(hook, json={"text": "x"}) as resp:
        assert resp.status == 429 and resp.headers["Retry-After"] == "2"
    # an API call is not consumed by a webhook-only injection
    assert (await api(http, fake_slack, "auth.test"))[1]["ok"] is True
    assert fake_slack.pending_injections == 1
    assert len(fake_slack.messages()) == 1


def test_sign_matches_an_independent_hmac() -> None:
    body = "token=abc&team_id=T1&text=%2Fack"
    expected = hmac.new(b"s3cr3t", b"v0:1531420618:" + body.encode(), hashlib.sha256).hexdigest()
    assert sign("s3cr3t", 1531420618, body) == f"v0={expected}"
    assert sign("s3cr3t", "1531420618", body.encode()) == f"v0={expected}"
    headers = signed_headers("s3cr3t", body, timestamp=1531420618)
    assert headers == {"X-Slack-Request-Timestamp": "1531420618", "X-Slack-Signature": f"v0={expected}"}


async def form(http: aiohttp.ClientSession, fake: FakeSlack, method: str, **fields: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with http.post(f"{fake.url}/api/{method}", data=fields, headers=headers) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_file_upload_v2_into_a_thread(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    """getUploadURLExternal → POST the bytes → completeUploadExternal(channel_id, thread_ts)."""
    _, posted = await api(http, fake_slack, "chat.postMessage", channel="#alerts", text="alert")
    got = await form(http, fake_slack, "files.getUploadURLExternal", filename="g.png", length="5")
    assert got["ok"] is True and got["file_id"].startswith("F")
    upload = aiohttp.FormData()
    upload.add_field("file", b"\x89PNG!"[:5], filename="g.png", content_type="image/png")
    async with http.post(got["upload_url"], data=upload) as resp:
        assert resp.status == 200 and (await resp.text()).startswith("OK")
    early = await form(
        http,
        fake_slack,
        "files.completeUploadExternal",
        files=json.dumps([{"id": "FNOPE"}]),
        channel_id=posted["channel"],
    )
    assert early == {"ok": False, "error": "file_not_found"}
    by_name = await form(
        http,
        fake_slack,
        "files.completeUploadExternal",
        files=json.dumps([{"id": got["file_id"], "title": "graph"}]),
        channel_id="#alerts",
    )
    assert by_name == {"ok": False, "error": "channel_not_found"}  # an ID is needed, not a name
    done = await form(
        http,
        fake_slack,
        "files.completeUploadExternal",
        files=json.dumps([{"id": got["file_id"], "title": "graph"}]),
        channel_id=posted["channel"],
        thread_ts=posted["ts"],
    )
    assert done == {"ok": True, "files": [{"id": got["file_id"], "title": "graph"}]}
    file = fake_slack.files[got["file_id"]]
    assert (file.data, file.channel, file.thread_ts) == (b"\x89PNG!", posted["channel"], posted["ts"])


async def test_file_upload_v2_refuses_a_length_mismatch(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    got = await form(http, fake_slack, "files.getUploadURLExternal", filename="g.png", length="9")
    async with http.post(got["upload_url"], data=b"short") as resp:
        assert resp.status == 400 and await resp.text() == "file_upload_size_mismatch"
    assert await form(http, fake_slack, "files.getUploadURLExternal", filename="g.png") == {
        "ok": False,
        "error": "invalid_arguments",
    }
