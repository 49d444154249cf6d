"""What each sink really sends for hostile content: a 500 KB label value and control characters,
measured on the wire by the fakes; and the injected clock behind "firing for 17m"."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from app.config import EmailConfig, FileConfig, SlackConfig, TelegramConfig, WebhookConfig
from app.core.models import Group
from app.core.render import (
    SLACK_BLOCK_LIMIT,
    SLACK_BLOCKS_TEXT_LIMIT,
    SLACK_SECTION_LIMIT,
    SLACK_TEXT_LIMIT,
    TELEGRAM_HTML_LIMIT,
    TELEGRAM_LIMIT,
    utf16_len,
)
from app.sinks.email import EmailSink
from app.sinks.file import FILE_LINE_LIMIT, FileSink
from app.sinks.slack import SlackSink
from app.sinks.telegram import TelegramBot, TelegramSink
from app.sinks.webhook import WebhookSink
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.telegram_html import parse_telegram_html
from tests.fakes.webhook import WebhookSink as FakeWebhook
from tests.sinks.groups import T0, delivery, make_alert, make_group

HUGE = "v" * 500_000
CONTROL = "a\x00b\x07c\x1b[31md\x7fe\x85f\u2028g"
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
CHAT = -1001234567890
SEVENTEEN_MINUTES_IN = (T0 + timedelta(minutes=17)).timestamp()


def clock() -> float:
    return SEVENTEEN_MINUTES_IN


def huge_group() -> Group:
    alert = make_alert(
        0,
        labels={"pod": HUGE, "extra": CONTROL + HUGE},
        annotations={"summary": CONTROL + HUGE, "description": HUGE, "dashboard_url": "https://g/" + HUGE},
    )
    group = make_group([alert, make_alert(1)])
    return group.model_copy(update={"groupLabels": {"alertname": HUGE}})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_telegram_sends_bounded_valid_html(fake_telegram: FakeTelegram) -> None:
    bot = TelegramBot(fake_telegram.token, api_url=fake_telegram.url, send_timeout=5.0)
    sink = TelegramSink(
        TelegramConfig(bot_token=SecretStr(fake_telegram.token), chat_id=CHAT), bot=bot, clock=clock
    )
    try:
        await sink.send(delivery(huge_group()))
    finally:
        await sink.aclose()
    [msg] = fake_telegram.messages(CHAT)
    [request] = [r for r in fake_telegram.requests if r.path.endswith("/sendMessage")]
    assert msg.parse_mode == "HTML"
    assert len(msg.text.encode()) <= TELEGRAM_HTML_LIMIT
    assert len(request.body) <= 3 * TELEGRAM_HTML_LIMIT  # form-urlencoded on the wire
    assert utf16_len(msg.visible_text) <= TELEGRAM_LIMIT
    parse_telegram_html(msg.text)
    assert not _RAW_CONTROL.search(msg.text)
    assert "firing for 17m" in msg.visible_text


async def test_slack_sends_within_block_kit_limits(
    fake_slack: FakeSlack, session: aiohttp.ClientSession
) -> None:
    cfg = SlackConfig(
        app_token=SecretStr(fake_slack.token), app_url=f"{fake_slack.url}/api", channel="#oncall"
    )
    await SlackSink(cfg, session=session, send_timeout=5.0, clock=clock).send(delivery(huge_group()))
    [msg] = fake_slack.messages()
    request = fake_slack.requests[-1]
    assert len(request.body) <= 4 * SLACK_BLOCKS_TEXT_LIMIT
    assert msg.text is not None and len(msg.text) <= SLACK_TEXT_LIMIT
    assert msg.attachments is not None
    blocks = msg.attachments[0]["blocks"]
    assert len(blocks) <= SLACK_BLOCK_LIMIT
    texts = [b["text"]["text"] for b in blocks if "text" in b]
    texts += [e["text"] for b in blocks for e in b.get("elements", [])]
    assert all(utf16_len(t) <= SLACK_SECTION_LIMIT for t in texts)
    assert sum(len(t) for t in texts) <= SLACK_BLOCKS_TEXT_LIMIT
    assert not _RAW_CONTROL.search(request.body.decode())
    assert not any(_RAW_CONTROL.search(t) for t in texts)
    assert "firing for 17m" in texts[1]


async def test_email_sends_a_bounded_message(smtp_server: FakeSMTP) -> None:
    config = EmailConfig.model_validate(
        {
            "to": "oncall@example.org",
            "from": "alertmedic@alerts.example.com",
            "smarthost": f"{smtp_server.host}:{smtp_server.port}",
            "require_tls": False,
            "headers": {"X-Pod": "{{ alerts[0].labels.pod }}"},
        }
    )
    await EmailSink(config, send_timeout=5.0, clock=clock).send(delivery(huge_group()))
    [mail] = await smtp_server.wait_for_messages(1)
    assert len(mail.data) <= 200_000
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    message = mail.message
    assert len(str(message["Subject"])) <= 255 and len(str(message["X-Pod"])) <= 998
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content().replace("\r\n", "\n")
    assert "firing for 17m" in body and not _RAW_CONTROL.search(body.replace("\n", "").replace("\t", ""))
    assert parsedate_to_datetime(str(message["Date"])).timestamp() == SEVENTEEN_MINUTES_IN


async def test_file_sink_writes_bounded_clean_lines(tmp_path: Path) -> None:
    path = tmp_path / "inbox.log"
    await FileSink(FileConfig(path=path), clock=clock).send(delivery(huge_group()))
    content = path.read_text(encoding="utf-8")
    lines = content.split("\n")
    assert max(len(line) for line in lines) <= FILE_LINE_LIMIT
    assert len(content) <= 100_000
    assert not any(_RAW_CONTROL.search(line.replace("\t", "")) for line in lines)
    assert "firing for 17m" in content


async def test_webhook_forwards_the_group_unchanged_with_json_escapes(
    webhook_sink: FakeWebhook, session: aiohttp.ClientSession
) -> None:
    # The webhook is the Alertmanager payload passed on, so its receiver can match on the real
    # label values: it is not cut (the input's size is bounded by server.max_body_bytes), and
    # JSON escapes every control character, so the body holds none raw.
    group = huge_group()
    sink = WebhookSink(
        WebhookConfig(url=SecretStr(webhook_sink.url_for("/hook"))), session=session, send_timeout=5.0
    )
    await sink.send(delivery(group))
    [got] = await webhook_sink.wait_for(1)
    assert len(got.body) < len(group.model_dump_json()) + 100
    assert not re.search(rb"[\x00-\x1f]", got.body)
    assert got.json["alerts"][0]["labels"]["extra"] == CONTROL + HUGE


def test_sinks_render_with_the_wall_clock_by_default() -> None:
    # The default clock is time.time; the keyword is optional so builders need no change.
    assert FileSink(FileConfig(path=Path("unused"))).clock is time.time
