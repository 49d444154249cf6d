"""FakeSlack's interactivity side: request signing (checked against Slack's documented example),
signed block_actions requests, chat.postEphemeral and response URLs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest

from tests.fakes.slack import FakeSlack, block_actions_request, sign

# The worked example of Slack's "Verifying requests from Slack" documentation.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def test_sign_reproduces_slacks_documented_example() -> None:
    assert sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.encode()) == DOC_SIGNATURE
    assert sign(DOC_SECRET, "1531420619", DOC_BODY) != DOC_SIGNATURE


def test_block_actions_request_is_signed_over_its_raw_body() -> None:
    body, headers = block_actions_request(
        "s3cret",
        user_id="U024BE7LH",
        channel_id="C0ALERTS01",
        message_ts="1700000000.000100",
        action_id="alertmedic_ack",
        value="a.g1.tag",
        response_url="http://127.0.0.1:1/actions/x",
        timestamp=1700000000,
    )
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    assert headers["X-Slack-Signature"] == sign("s3cret", "1700000000", body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U024BE7LH"
    assert (
        payload["container"]["message_ts"] == "1700000000.000100" and payload["channel"]["id"] == "C0ALERTS01"
    )
    assert (
        payload["actions"][0]["action_id"] == "alertmedic_ack"
        and payload["actions"][0]["value"] == "a.g1.tag"
    )


async def post_api(http: aiohttp.ClientSession, fake: FakeSlack, method: str, **body: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with http.post(f"{fake.url}/api/{method}", json=body, headers=headers) as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def test_post_ephemeral(fake_slack: FakeSlack, http: aiohttp.ClientSession) -> None:
    body = await post_api(
        http, fake_slack, "chat.postEphemeral", channel="#alerts", user="U024", text="refused: x"
    )
    assert body["ok"] is True and body["message_ts"]
    [sent] = fake_slack.ephemeral
    assert (
        sent["user"] == "U024"
        and sent["text"] == "refused: x"
        and sent["channel"] == fake_slack.channel_id("alerts")
    )
    assert fake_slack.messages() == []  # ephemeral messages are not channel messages
    assert (await post_api(http, fake_slack, "chat.postEphemeral", channel="#alerts", text="x")) == {
        "ok": False,
        "error": "user_not_found",
    }
    assert (await post_api(http, fake_slack, "chat.postEphemeral", channel="#alerts", user="U1")) == {
        "ok": False,
        "error": "no_text",
    }


async def test_response_url_answers_and_replaces_the_original(
    fake_slack: FakeSlack, http: aiohttp.ClientSession
) -> None:
    posted = await post_api(http, fake_slack, "chat.postMessage", channel="#alerts", text="FIRING")
    url = fake_slack.response_url("#alerts", posted["ts"])
    async with http.post(url, json={"response_type": "ephemeral", "text": "you may not ack"}) as resp:
        assert resp.status == 200 and await resp.text() == "ok"
    async with http.post(url, json={"replace_original": True, "text": "FIRING ✅ acknowledged"}) as resp:
        assert resp.status == 200
    [msg] = fake_slack.messages()
    assert msg.text == "FIRING ✅ acknowledged" and msg.history[0]["text"] == "FIRING"
    assert [r["text"] for r in fake_slack.responses] == ["you may not ack", "FIRING ✅ acknowledged"]
    async with http.post(f"{fake_slack.url}/actions/T0/1/unknown", json={"text": "x"}) as resp:
        assert resp.status == 404
