"""A storm-sized group (50 000 realistic alerts, 33.8 MB) is accepted at the default body limit,
recorded for every destination and delivered. Its cost is measured by `make bench`, not here."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.config import ConfigError, ServerConfig
from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.engine.test_delivery import CHAT, eventually
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink
from tests.payloads import realistic_group

Client = TestClient  # type: ignore[type-arg]
STORM = 50_000


def test_the_default_body_limit_takes_a_storm_and_the_maximum_is_bounded() -> None:
    default = ServerConfig.model_fields["max_body_bytes"].default
    assert default == 64 * 1024 * 1024
    assert len(realistic_group(STORM)) < default / 1.9  # headroom: about twice the storm
    limits = ServerConfig.model_fields["max_body_bytes"].metadata
    assert 256 * 1024 * 1024 in [getattr(m, "le", None) for m in limits]
    with pytest.raises(ConfigError, match="max_body_bytes"):
        make_config(Path("/x"), [{"name": "n"}], {"receiver": "n"}, server={"max_body_bytes": 2**30})


async def test_a_33_mb_group_is_accepted_recorded_and_delivered(
    aiohttp_client: Any, tmp_path: Path, webhook_sink: WebhookSink, fake_telegram: FakeTelegram
) -> None:
    config = make_config(  # server.max_body_bytes left at its default
        tmp_path,
        [
            {
                "name": "storm",
                "webhook_configs": [{"url": webhook_sink.url_for("/a")}],
                "telegram_configs": [
                    {"bot_token": fake_telegram.token, "chat_id": CHAT, "api_url": fake_telegram.url}
                ],
            }
        ],
        {"receiver": "storm"},
    )
    client: Client = await aiohttp_client(create_app(config))
    body = realistic_group(STORM)
    assert len(body) > 33_000_000
    resp = await client.post(
        "/webhook/alertmanager",
        data=io.BytesIO(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["notifications"] == 2
    del body

    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = db.execute("SELECT lane, payload FROM jobs WHERE type = 'notify' ORDER BY lane").fetchall()
    assert [r[0] for r in rows] == ["storm/telegram[0]", "storm/webhook[0]"]
    for _, payload in rows:  # the whole group, without parsing 33 MB twice more
        assert payload.count('"fingerprint":') == STORM
        assert f'"fingerprint":"{STORM - 1:016x}"' in payload

    await eventually(lambda: len(webhook_sink.deliveries) == 1, timeout=60)
    delivered = webhook_sink.deliveries[0].json
    assert len(delivered["alerts"]) == STORM and delivered["truncatedAlerts"] == 0
    await fake_telegram.wait_for_messages(CHAT, 1)
    [message] = fake_telegram.messages(CHAT)
    assert "more" in message.visible_text and len(message.visible_text) <= 4096
