"""Two replicas on one store with Telegram in polling mode: one polls (the holder of the lease
`poll:telegram:<bot id>`), the other stands by; every update is handled once; when the poller
stops, the other takes over and does not handle again what the first one did (real
python-telegram-bot against the fake Telegram, which answers 409 when two pollers overlap)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from app.web.state import STATE
from tests.chatops.test_respond import ALICE, CHAT, EVE, Client, Start, button, copies, eventually, start
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram

__all__ = ["start"]  # the fixture


def poller(db: Path, *clients: Client) -> Client:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        owners = [r[0] for r in conn.execute("SELECT owner FROM leases WHERE lane LIKE 'poll:telegram:%'")]
    assert len(owners) == 1, owners
    [found] = [c for c in clients if owners[0] == f"{c.app[STATE].dispatcher.owner}/telegram"]
    return found


def whoami_replies(tg: FakeTelegram) -> int:
    return sum(f"telegram:{EVE}" in m.visible_text for m in tg.messages(CHAT))


async def test_one_replica_polls_each_update_is_handled_once_and_the_other_takes_over(
    start: Start, fake_telegram: FakeTelegram, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    a, b = await start(), await start()
    tg_msg, _ = await copies(a, fake_telegram, fake_slack)
    fake_telegram.push_update(
        fake_telegram.callback_update(tg_msg, button(tg_msg, "✅ Ack"), user_id=ALICE, username="alice")
    )
    await eventually(lambda: "acknowledged by @alice" in tg_msg.visible_text)
    handled = [
        fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=EVE)) for _ in range(3)
    ]
    await eventually(lambda: whoami_replies(fake_telegram) == 3)
    await asyncio.sleep(1.5)  # a second poller's handling would show by now
    assert whoami_replies(fake_telegram) == 3
    assert len(fake_telegram.callback_answers) == 1
    audits = await a.app[STATE].store.chat_audits()
    assert [x.action for x in audits].count("ack") == 1
    assert fake_telegram.conflicts == 0  # never two getUpdates at once

    first = poller(tmp_path / "state.db", a, b)
    other = b if first is a else a
    await first.close()  # a graceful stop gives the lease back
    stopped = time.monotonic()
    # a poller killed before its next getUpdates leaves what it handled unconfirmed: Telegram
    # sends those updates again to the next poller, which must skip them
    for update in handled:
        fake_telegram.push_update(update)
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/whoami", user_id=EVE))
    await eventually(lambda: whoami_replies(fake_telegram) == 4, timeout=10)
    took = time.monotonic() - stopped
    assert poller(tmp_path / "state.db", other) is other
    await asyncio.sleep(1.5)  # the three old ones came in the same getUpdates answer
    assert whoami_replies(fake_telegram) == 4
    assert len(fake_telegram.callback_answers) == 1
    assert fake_telegram.conflicts == 0
    assert took < 4  # the lease was given back: the next try (every 1.3 s) takes it
