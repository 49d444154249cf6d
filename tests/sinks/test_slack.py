"""SlackSink with real aiohttp against FakeSlack: bot token (post/update) and incoming webhooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from app.config import SlackConfig
from app.core.digest import Digest, DigestBuilder
from app.core.errors import PermanentError, RetryableError
from app.core.models import Alert
from app.core.render import SLACK_BLOCKS_TEXT_LIMIT
from app.sinks.slack import SlackSink
from tests.fakes.slack import FakeSlack
from tests.sinks.groups import T0, delivery, firing, make_group, resolved

SinkFactory = Callable[..., SlackSink]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def bot_sink(fake_slack: FakeSlack, session: aiohttp.ClientSession) -> SinkFactory:
    def factory(
        token: str | None = None, channel: str = "#oncall", timeout: float = 5.0, **config: Any
    ) -> SlackSink:
        cfg = SlackConfig(
            app_token=SecretStr(token or fake_slack.token),
            app_url=f"{fake_slack.url}/api",
            channel=channel,
            **config,
        )
        return SlackSink(cfg, session=session, send_timeout=timeout)

    return factory


@pytest.fixture
def hook_sink(session: aiohttp.ClientSession) -> Callable[[str], SlackSink]:
    def factory(url: str) -> SlackSink:
        return SlackSink(SlackConfig(api_url=SecretStr(url)), session=session, send_timeout=5.0)

    return factory


async def test_post_message(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    ref = await bot_sink().send(delivery(firing(2)))
    [msg] = fake_slack.messages("#oncall")
    assert ref == {"channel": fake_slack.channel_id("#oncall"), "ts": msg.ts}
    assert msg.text == "🔥 [FIRING:2] ModelLatencyHigh (prod)"
    assert msg.attachments is not None
    blocks = msg.attachments[0]["blocks"]
    assert blocks[0]["type"] == "header" and len(blocks) == 4
    request = fake_slack.requests[-1]
    assert request.headers["Authorization"] == f"Bearer {fake_slack.token}"
    assert request.json["unfurl_links"] is False


async def test_update_edits_in_place(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    sink = bot_sink()
    ref = await sink.send(delivery(firing(1)))
    ref2 = await sink.send(delivery(resolved(1), kind="update", previous=ref))
    assert ref2 == ref
    [msg] = fake_slack.messages()
    assert msg.edited and msg.text == "✅ [RESOLVED] ModelLatencyHigh (prod)"
    assert msg.attachments is not None and msg.attachments[0]["color"] == "#2EB67D"


@pytest.mark.parametrize(
    "previous",
    [
        {"channel": "C0000000000", "ts": "1.000001"},  # unknown channel: channel_not_found
        None,
    ],
)
async def test_update_without_usable_previous(
    fake_slack: FakeSlack, bot_sink: SinkFactory, previous: dict[str, str] | None
) -> None:
    sink = bot_sink()
    await sink.send(delivery(firing(1)))
    if previous is not None:
        fake_slack.add_channel(previous["channel"])
    ref = await sink.send(delivery(resolved(1), kind="update", previous=previous))
    assert ref is not None and len(fake_slack.messages()) == 2


async def test_update_of_foreign_message_posts_new(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    other = "xoxb-111-222-OtherAppToken"
    fake_slack.add_token(other)
    ref = await bot_sink(token=other).send(delivery(firing(1)))
    ref2 = await bot_sink().send(delivery(resolved(1), kind="update", previous=ref))
    assert ref2 is not None and ref2["ts"] != ref["ts"]  # type: ignore[index]
    assert len(fake_slack.messages()) == 2


async def test_many_alerts_stay_within_block_kit_limits(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    # Small alerts, so the block count binds before the cumulative text limit.
    alerts = [
        Alert.model_validate(
            {"status": "firing", "labels": {"alertname": "A"}, "startsAt": T0, "fingerprint": f"{i:x}"}
        )
        for i in range(150)
    ]
    await bot_sink().send(delivery(make_group(alerts)))
    [msg] = fake_slack.messages()
    assert msg.attachments is not None and len(msg.attachments[0]["blocks"]) == 50


async def test_many_large_alerts_stay_within_the_cumulative_text_limit(
    fake_slack: FakeSlack, bot_sink: SinkFactory
) -> None:
    await bot_sink().send(delivery(firing(150)))
    [msg] = fake_slack.messages()
    assert msg.attachments is not None
    blocks = msg.attachments[0]["blocks"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert sum(len(t) for t in sections) <= SLACK_BLOCKS_TEXT_LIMIT and sections[-1].endswith("more")


async def test_custom_templates(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    sink = bot_sink(
        title="{{ status|upper }}: {{ common_labels.alertname }}",
        text="{% for a in alerts %}• {{ a.labels.pod | slack_escape }}\n{% endfor %}",
    )
    await sink.send(delivery(firing(2)))
    [msg] = fake_slack.messages()
    assert msg.text == "FIRING: ModelLatencyHigh"
    assert msg.attachments is not None
    assert msg.attachments[0]["blocks"][1]["text"]["text"] == "• model-api-0\n• model-api-1"


async def test_rate_limited_carries_retry_after(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.fail_next(status=429, retry_after=5, endpoint="chat.postMessage")
    with pytest.raises(RetryableError) as info:
        await bot_sink().send(delivery(firing(1)))
    assert info.value.retry_after == 5.0 and info.value.reason == "rate_limited"


async def test_api_level_ratelimited_is_retryable(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.fail_next(status=200, error="ratelimited")
    with pytest.raises(RetryableError):
        await bot_sink().send(delivery(firing(1)))


async def test_server_error_is_retryable(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.fail_next(status=503)
    with pytest.raises(RetryableError) as info:
        await bot_sink().send(delivery(firing(1)))
    assert info.value.reason == "server_error"


async def test_invalid_auth_is_permanent_and_scrubbed(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    token = "xoxb-999-999-SecretButWrong"
    with pytest.raises(PermanentError) as info:
        await bot_sink(token=token).send(delivery(firing(1)))
    assert info.value.reason == "unauthorized" and "invalid_auth" in str(info.value)
    assert token not in str(info.value)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("channel_not_found", "not_found"),
        ("not_in_channel", "forbidden"),
        ("is_archived", "forbidden"),
        ("invalid_blocks", "bad_request"),
        ("msg_too_long", "bad_request"),
        ("token_revoked", "unauthorized"),
        ("something_new", "api_error"),
    ],
)
async def test_api_errors_are_permanent(
    fake_slack: FakeSlack, bot_sink: SinkFactory, error: str, reason: str
) -> None:
    fake_slack.fail_next(status=200, error=error, endpoint="chat.postMessage")
    with pytest.raises(PermanentError) as info:
        await bot_sink().send(delivery(firing(1)))
    assert info.value.reason == reason and error in str(info.value)


async def test_strict_unknown_channel(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.strict_channels = True
    with pytest.raises(PermanentError) as info:
        await bot_sink(channel="#nowhere").send(delivery(firing(1)))
    assert info.value.reason == "not_found"


async def test_disconnect_is_retryable(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.fail_next(disconnect=True)
    with pytest.raises(RetryableError) as info:
        await bot_sink().send(delivery(firing(1)))
    assert info.value.reason == "network"
    assert fake_slack.token not in str(info.value)


async def test_timeout_is_retryable(fake_slack: FakeSlack, bot_sink: SinkFactory) -> None:
    fake_slack.fail_next(status=200, delay=1.0)
    with pytest.raises(RetryableError) as info:
        await bot_sink(timeout=0.2).send(delivery(firing(1)))
    assert info.value.reason == "timeout"


# --- incoming webhooks ----------------------------------------------------------------------


async def test_webhook_post_and_update_posts_new(
    fake_slack: FakeSlack, hook_sink: Callable[[str], SlackSink]
) -> None:
    url = fake_slack.add_webhook("#alerts")
    sink = hook_sink(url)
    assert await sink.send(delivery(firing(1))) is None
    assert await sink.send(delivery(resolved(1), kind="update", previous=None)) is None
    first, second = fake_slack.messages("#alerts")
    assert first.via == "webhook" and second.text == "✅ [RESOLVED] ModelLatencyHigh (prod)"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("no_service", "not_found"),
        ("action_prohibited", "forbidden"),
        ("channel_is_archived", "forbidden"),
        ("invalid_token", "unauthorized"),
    ],
)
async def test_webhook_errors_are_permanent_and_scrubbed(
    fake_slack: FakeSlack, hook_sink: Callable[[str], SlackSink], error: str, reason: str
) -> None:
    url = fake_slack.add_webhook()
    fake_slack.break_webhook(url, error)
    with pytest.raises(PermanentError) as info:
        await hook_sink(url).send(delivery(firing(1)))
    assert info.value.reason == reason and error in str(info.value)
    assert url.rsplit("/", 1)[1] not in str(info.value)


async def test_webhook_rate_limited(fake_slack: FakeSlack, hook_sink: Callable[[str], SlackSink]) -> None:
    url = fake_slack.add_webhook()
    fake_slack.fail_next(status=429, retry_after=2, endpoint="webhook")
    with pytest.raises(RetryableError) as info:
        await hook_sink(url).send(delivery(firing(1)))
    assert info.value.retry_after == 2.0


async def test_webhook_connection_refused_is_scrubbed(
    fake_slack: FakeSlack, hook_sink: Callable[[str], SlackSink]
) -> None:
    url = fake_slack.add_webhook()
    sink = hook_sink(url)
    await fake_slack.stop()
    with pytest.raises(RetryableError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "network"
    assert url.rsplit("/", 1)[1] not in str(info.value)


def test_rate_limit_keys(
    fake_slack: FakeSlack, bot_sink: SinkFactory, hook_sink: Callable[[str], SlackSink]
) -> None:
    assert [r.key for r in bot_sink(channel="#ops").rate_limits()] == ["slack:channel:#ops"]
    url = "https://hooks.slack.invalid/services/T1/B2/secretpart"
    [limit] = hook_sink(url).rate_limits()
    assert limit.key.startswith("slack:channel:hook-") and "secretpart" not in limit.key
    assert (limit.per_second, limit.burst) == (1.0, 1)


def storm_digest() -> Digest:
    builder = DigestBuilder(top=10, after=30.0)
    for i in range(3):
        builder.add(make_group([firing(1).alerts[0]]).model_copy(update={"groupKey": f"g{i}"}))
    return builder.digest()


async def test_a_storm_digest_and_an_update_of_a_group_it_covered(
    fake_slack: FakeSlack, bot_sink: SinkFactory
) -> None:
    """The digest is one message; a covered group's update is never a chat.update of it: the
    group's own message goes into the digest's thread."""
    sink = bot_sink()
    ref = await sink.send_digest("oncall/slack[0]", storm_digest())
    assert ref is not None
    [digest] = fake_slack.messages("#oncall")
    assert digest.text == "Alert storm: 3 alert groups (3 firing, 0 resolved)"
    assert digest.blocks is not None and "/alerts" in digest.blocks[-1]["text"]["text"]
    thread = {**ref, "digest": True}
    own = await sink.send(delivery(resolved(1), kind="update", previous=thread))
    [_, reply] = fake_slack.messages("#oncall")
    assert not digest.edited and reply.thread_ts == digest.ts
    assert own == {"channel": reply.channel, "ts": reply.ts}
    await sink.send(delivery(firing(1), kind="update", previous=own))  # its own message from now on
    assert fake_slack.messages("#oncall")[1].edited and len(fake_slack.messages("#oncall")) == 2


async def test_a_storm_digest_through_an_incoming_webhook(
    fake_slack: FakeSlack, hook_sink: Callable[[str], SlackSink]
) -> None:
    url = fake_slack.add_webhook("#team")
    assert await hook_sink(url).send_digest("team/slack[0]", storm_digest()) is None
    [msg] = fake_slack.messages("#team")
    assert msg.text == "Alert storm: 3 alert groups (3 firing, 0 resolved)"
