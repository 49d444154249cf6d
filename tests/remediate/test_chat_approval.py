"""Approve / Reject from chat drive the remediation's one approval code path end to end: the
alert's message gets the buttons when an action starts awaiting approval, a person without the
right is refused and nothing happens, an approve acts on (fake) Kubernetes, a reject reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.chatops.test_respond import button, labels
from tests.conftest import make_config
from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.telegram import FakeTelegram, TgMessage
from tests.remediate.support import CHAT, SCALE, patches
from tests.remediate.test_end_to_end import latency, post, until

ALICE, BOB = 111111111, 222222222
Client = TestClient  # type: ignore[type-arg]


async def started(
    tmp_path: Path,
    tg: FakeTelegram,
    kube: FakeKubernetes,
    kubeconfig: Path,
    clock: ManualClock,
    aiohttp_client: Any,
) -> Client:
    kube.add_deployment("prod", "model-api", replicas=3)
    config = make_config(
        tmp_path,
        [
            {
                "name": "oncall",
                "telegram_configs": [{"bot_token": tg.token, "chat_id": CHAT, "api_url": tg.url}],
            }
        ],
        {"receiver": "oncall"},
        remediation={
            "kubernetes": {"kubeconfig": str(kubeconfig), "context": "fake"},
            "allowed_namespaces": ["prod"],
            "dry_run": False,
            "actions": [SCALE],
        },
        chatops={
            "telegram": {"bot_token": tg.token, "api_url": tg.url},
            "permissions": [
                {"users": [f"telegram:{ALICE}"], "allow": ["ack", "approve", "reject"]},
                {"users": [f"telegram:{BOB}"], "allow": ["ack"]},
            ],
        },
    )
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    return client


def alert_message(tg: FakeTelegram) -> TgMessage:
    [msg] = [m for m in tg.messages(CHAT) if "reply_parameters" not in m.params]
    return msg


def offers(tg: FakeTelegram, label: str) -> bool:
    """The alert's message is out and offers the button `label`."""
    found = [m for m in tg.messages(CHAT) if "reply_parameters" not in m.params]
    return bool(found) and found[0].reply_markup is not None and label in labels(found[0])


async def test_approve_from_telegram_acts_and_an_unauthorised_tap_does_nothing(
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=1_900_000_000.0)
    client = await started(tmp_path, fake_telegram, fake_kubernetes, fake_kubeconfig, clock, aiohttp_client)
    await post(client, latency(severity="warning"))
    await until(clock, lambda: offers(fake_telegram, "▶ Approve"))
    msg = alert_message(fake_telegram)
    assert "⏸ awaiting approval: scale-out-on-saturation" in msg.visible_text
    approve = button(msg, "▶ Approve")

    fake_telegram.push_update(fake_telegram.callback_update(msg, approve, user_id=BOB, username="bob"))
    await until(clock, lambda: len(fake_telegram.callback_answers) == 1)
    assert f"telegram:{BOB} may not approve" in fake_telegram.callback_answers[0]["text"]
    assert patches(fake_kubernetes) == []

    fake_telegram.push_update(fake_telegram.callback_update(msg, approve, user_id=ALICE, username="alice"))
    await until(clock, lambda: len(patches(fake_kubernetes)) == 1)
    await until(clock, lambda: "▶ approved by alice (telegram)" in alert_message(fake_telegram).visible_text)
    assert "▶ Approve" not in labels(alert_message(fake_telegram))
    [rec] = await client.app[STATE].store.remediations()
    assert rec.actor == "alice (telegram)"
    audits = await client.app[STATE].store.chat_audits()
    assert [(a.action, a.outcome) for a in audits] == [("approve", "done"), ("approve", "refused")]


async def test_reject_from_telegram_refuses_the_action(
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=1_900_000_000.0)
    client = await started(tmp_path, fake_telegram, fake_kubernetes, fake_kubeconfig, clock, aiohttp_client)
    await post(client, latency(severity="warning"))
    await until(clock, lambda: offers(fake_telegram, "✖ Reject"))
    msg = alert_message(fake_telegram)
    fake_telegram.push_update(
        fake_telegram.callback_update(msg, button(msg, "✖ Reject"), user_id=ALICE, username="alice")
    )
    await until(clock, lambda: "✖ rejected by alice (telegram)" in alert_message(fake_telegram).visible_text)
    [rec] = await client.app[STATE].store.remediations()
    assert rec.state == "rejected"
    assert patches(fake_kubernetes) == []


async def test_actions_lists_what_awaits_approval_and_approve_by_id(
    fake_telegram: FakeTelegram,
    fake_kubernetes: FakeKubernetes,
    fake_kubeconfig: Path,
    aiohttp_client: Any,
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=1_900_000_000.0)
    client = await started(tmp_path, fake_telegram, fake_kubernetes, fake_kubeconfig, clock, aiohttp_client)
    await post(client, latency(severity="warning"))
    await until(clock, lambda: offers(fake_telegram, "▶ Approve"))
    [rec] = await client.app[STATE].store.remediations()

    def said(text: str) -> bool:
        return any(text in m.visible_text for m in fake_telegram.messages(CHAT))

    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/actions", user_id=333333333))
    await until(clock, lambda: said("telegram:333333333 is not in permissions"))
    fake_telegram.push_update(fake_telegram.text_update(CHAT, "/actions", user_id=ALICE))
    await until(clock, lambda: said(f"#{rec.id} scale-out-on-saturation"))
    fake_telegram.push_update(
        fake_telegram.text_update(CHAT, f"/approve {rec.id}", user_id=ALICE, username="alice")
    )
    await until(clock, lambda: len(patches(fake_kubernetes)) == 1)
    await until(clock, lambda: said("▶ approved by @alice: scale-out-on-saturation"))
