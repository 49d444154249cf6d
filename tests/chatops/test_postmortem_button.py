"""The 📝 Post-mortem button of a resolved alert, through the real app: only resolved messages
carry it; a tap without the `postmortem` right is refused and sends nothing; with it, the draft
goes as a Markdown file in reply to the alert's message (Telegram sendDocument, Slack file upload
v2 in the thread), and the timeline records `postmortem_sent` with who asked.

Real python-telegram-bot and aiohttp clients, fake Telegram and Slack servers, a SQLite file.
"""

from __future__ import annotations

from typing import Any

from app.engine.incidents import incident
from app.store.base import group_ref
from app.web.state import STATE
from tests.chatops import test_respond
from tests.chatops.test_respond import (
    ALICE,
    BOB,
    CHAT,
    CRIT,
    SIGNING,
    SLACK_ALICE,
    Client,
    Start,
    button,
    copies,
    eventually,
    labels,
    post,
    slack_button,
)
from tests.fakes.slack import FakeSlack, SlackMessage, block_actions_request
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.payloads import alert, message

RESOLVED = message(CRIT["groupKey"], [alert("ApiDown", "fp1", deployment="api", status="resolved")])
start = test_respond.start
"""The app on the fake Telegram and Slack (the fixture of the chat tests)."""

PERMISSIONS = [
    {"users": [f"telegram:{ALICE}", f"slack:{SLACK_ALICE}"], "allow": ["ack", "postmortem"]},
    {"users": [f"telegram:{BOB}"], "allow": ["ack", "unack"]},
]


async def resolved_copies(
    start: Start, tg: FakeTelegram, slack: FakeSlack, **chatops: Any
) -> tuple[Client, TgMessage, SlackMessage]:
    client = await start(permissions=PERMISSIONS, **chatops)
    tg_msg, sl_msg = await copies(client, tg, slack)
    assert "📝 Post-mortem" not in labels(tg_msg)  # a firing alert has no post-mortem yet
    await post(client, RESOLVED)
    await eventually(lambda: tg_msg.reply_markup is not None and labels(tg_msg) == ["📝 Post-mortem"])
    await eventually(lambda: any(b["type"] == "actions" for b in sl_msg.blocks or []) and sl_msg.edited)
    return client, tg_msg, sl_msg


def documents(tg: FakeTelegram) -> list[TgMessage]:
    return [m for m in tg.messages(CHAT) if m.kind == "document"]


async def test_telegram_tap_sends_the_draft_in_reply_and_records_who(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client, tg_msg, _ = await resolved_copies(start, fake_telegram, fake_slack)
    data = button(tg_msg, "📝 Post-mortem")

    fake_telegram.push_update(fake_telegram.callback_update(tg_msg, data, user_id=BOB, username="bob"))
    await eventually(lambda: len(fake_telegram.callback_answers) == 1)
    refusal = fake_telegram.callback_answers[0]
    assert str(refusal["show_alert"]).lower() == "true"
    assert refusal["text"] == f"refused: telegram:{BOB} may not postmortem"
    assert documents(fake_telegram) == []

    fake_telegram.push_update(fake_telegram.callback_update(tg_msg, data, user_id=ALICE, username="alice"))
    await eventually(lambda: len(documents(fake_telegram)) == 1)
    [doc] = documents(fake_telegram)
    ref = group_ref(CRIT["groupKey"])
    assert doc.file_name == f"postmortem-{ref}.md"
    assert doc.reply_to == tg_msg.message_id
    assert doc.visible_text == "📝 Post-mortem draft: ApiDown"
    assert doc.document is not None
    store = client.app[STATE].store
    text = doc.document.decode()
    assert text.startswith("#") and "ApiDown" in text
    await eventually(lambda: len(fake_telegram.callback_answers) == 2)
    assert fake_telegram.callback_answers[1]["text"] == "📝 post-mortem sent by @alice"

    detail = await incident(store, ref)
    assert detail is not None
    [sent] = [e for e in detail.events if e.kind == "postmortem_sent"]
    assert sent.actor == "alice (telegram)"
    assert sent.detail["to"] == f"telegram chat {CHAT}" and sent.detail["user"] == f"telegram:{ALICE}"
    assert detail.events[-1] == sent  # after the resolve
    audits = await store.chat_audits()
    assert [(a.action, a.outcome, a.user_key) for a in audits] == [
        ("postmortem", "done", f"telegram:{ALICE}"),
        ("postmortem", "refused", f"telegram:{BOB}"),
    ]


async def test_slack_click_uploads_the_draft_into_the_thread(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client, _, sl_msg = await resolved_copies(start, fake_telegram, fake_slack)
    value = slack_button(sl_msg, "alertmedic_postmortem")
    body, headers = block_actions_request(
        SIGNING,
        user_id=SLACK_ALICE,
        channel_id=sl_msg.channel,
        message_ts=sl_msg.ts,
        action_id="alertmedic_postmortem",
        value=value,
        response_url=fake_slack.response_url(sl_msg.channel, sl_msg.ts),
    )
    resp = await client.post("/chatops/slack", data=body, headers=headers)
    assert resp.status == 200
    await eventually(lambda: any(f.channel for f in fake_slack.files.values()))
    [shared] = [f for f in fake_slack.files.values() if f.channel]
    ref = group_ref(CRIT["groupKey"])
    assert shared.filename == f"postmortem-{ref}.md"
    assert (shared.channel, shared.thread_ts) == (sl_msg.channel, sl_msg.ts)
    assert shared.data is not None
    assert shared.data.decode().startswith("#") and "ApiDown" in shared.data.decode()
    detail = await incident(client.app[STATE].store, ref)
    assert detail is not None
    [sent] = [e for e in detail.events if e.kind == "postmortem_sent"]
    assert sent.actor == "alice (slack)" and sent.detail["to"] == f"slack channel {sl_msg.channel}"
    assert fake_slack.ephemeral == []


async def test_without_any_permission_nobody_gets_the_file(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    """Fail closed: a chatops section with no permissions grants nothing, not even this."""
    client = await start(permissions=[])
    tg_msg, _ = await copies(client, fake_telegram, fake_slack)
    await post(client, RESOLVED)
    await eventually(lambda: tg_msg.reply_markup is not None and labels(tg_msg) == ["📝 Post-mortem"])
    tap = fake_telegram.callback_update(tg_msg, button(tg_msg, "📝 Post-mortem"), user_id=ALICE)
    fake_telegram.push_update(tap)
    await eventually(lambda: len(fake_telegram.callback_answers) == 1)
    assert "no permissions are configured" in fake_telegram.callback_answers[0]["text"]
    assert documents(fake_telegram) == []


async def test_postmortem_command_replying_to_the_alert(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    _, tg_msg, _ = await resolved_copies(start, fake_telegram, fake_slack)
    fake_telegram.push_update(
        fake_telegram.text_update(CHAT, "/postmortem", user_id=BOB, username="bob", reply_to=tg_msg)
    )
    await eventually(
        lambda: any("may not postmortem" in m.visible_text for m in fake_telegram.messages(CHAT))
    )
    fake_telegram.push_update(
        fake_telegram.text_update(CHAT, "/postmortem", user_id=ALICE, username="alice", reply_to=tg_msg)
    )
    await eventually(lambda: len(documents(fake_telegram)) == 1)
    assert documents(fake_telegram)[0].reply_to == tg_msg.message_id


async def test_a_failed_send_is_told_audited_and_not_on_the_timeline(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    client, tg_msg, _ = await resolved_copies(start, fake_telegram, fake_slack)
    fake_telegram.fail_next(1, 403, method="sendDocument", description="Forbidden: bot was kicked")
    tap = fake_telegram.callback_update(tg_msg, button(tg_msg, "📝 Post-mortem"), user_id=ALICE)
    fake_telegram.push_update(tap)
    await eventually(lambda: len(fake_telegram.callback_answers) == 1)
    answer = fake_telegram.callback_answers[0]
    assert answer["text"] == "post-mortem not sent: telegram: Forbidden: bot was kicked"
    assert str(answer["show_alert"]).lower() == "true"
    assert fake_telegram.token not in answer["text"]
    store = client.app[STATE].store
    [audit] = await store.chat_audits()
    assert (audit.action, audit.outcome) == ("postmortem", "failed")
    detail = await incident(store, group_ref(CRIT["groupKey"]))
    assert detail is not None and all(e.kind != "postmortem_sent" for e in detail.events)


async def test_a_long_alert_name_is_cut_in_the_caption(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack
) -> None:
    """Telegram refuses captions over 1024 characters: the name is cut, the file still goes."""
    name = "Very" + "Long" * 400
    key = f'{{}}:{{alertname="{name}"}}'
    client = await start(permissions=PERMISSIONS)
    await post(client, message(key, [alert(name, "fp9")]))
    [tg_msg] = await fake_telegram.wait_for_messages(CHAT, 1)
    await post(client, message(key, [alert(name, "fp9", status="resolved")]))
    await eventually(lambda: tg_msg.reply_markup is not None and labels(tg_msg) == ["📝 Post-mortem"])
    tap = fake_telegram.callback_update(tg_msg, button(tg_msg, "📝 Post-mortem"), user_id=ALICE)
    fake_telegram.push_update(tap)
    await eventually(lambda: len(documents(fake_telegram)) == 1)
    caption = documents(fake_telegram)[0].visible_text
    assert caption.startswith("📝 Post-mortem draft: VeryLong") and caption.endswith("…")
    assert len(caption) < 250
