"""The incidents endpoints of the JSON API on real data: webhooks in through the real app, a SQLite
file, answers read over HTTP. Filters, one incident with its timeline, the post-mortem draft as
Markdown, 404 for ids nobody knows and 400s that name the parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.store.base import group_ref
from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]
API_TOKEN = "incidents-api-token"
API = {"Authorization": f"Bearer {API_TOKEN}"}
T0 = 1_900_000_000.0

DOWN = message('{}:{alertname="ApiDown"}', [alert("ApiDown", "fp1", namespace="prod", severity="critical")])
LATE = message(
    '{}:{alertname="SlowQueries"}', [alert("SlowQueries", "fp2", namespace="staging", severity="warning")]
)
LATE_OVER = message(
    LATE["groupKey"],
    [alert("SlowQueries", "fp2", namespace="staging", severity="warning", status="resolved")],
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=T0)


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path, clock: ManualClock) -> Client:
    (tmp_path / "api-token").write_text(API_TOKEN)
    config = make_config(
        tmp_path,
        [
            {"name": "oncall", "file_configs": [{"path": str(tmp_path / "oncall.log")}]},
            {"name": "team", "file_configs": [{"path": str(tmp_path / "team.log")}]},
        ],
        {"receiver": "oncall", "routes": [{"matchers": ['namespace="staging"'], "receiver": "team"}]},
        api={"bearer_token_file": str(tmp_path / "api-token")},
    )
    c: Client = await aiohttp_client(create_app(config, clock=clock))
    for body, later in ((DOWN, 0.0), (LATE, 60.0), (LATE_OVER, 300.0)):
        await clock.advance(later)
        resp = await c.post("/webhook/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 200, await resp.text()
    return c


async def listed(client: Client, query: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/incidents{query}", headers=API)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return list(body["incidents"])


async def titles(client: Client, query: str = "") -> list[str]:
    return [i["title"] for i in await listed(client, query)]


async def test_list_and_filters(client: Client) -> None:
    [down] = await listed(client)  # open ones by default
    assert down["id"] == group_ref(DOWN["groupKey"])
    assert (down["state"], down["severity"], down["namespace"], down["receiver"]) == (
        "open",
        "critical",
        "prod",
        "oncall",
    )
    assert down["alerts_firing"] == 1 and down["resolved_at"] is None
    assert await titles(client, "?state=resolved") == ["SlowQueries"]
    assert sorted(await titles(client, "?state=all")) == ["ApiDown", "SlowQueries"]
    assert await titles(client, "?state=all&namespace=staging") == ["SlowQueries"]
    assert await titles(client, "?state=all&severity=critical") == ["ApiDown"]
    assert await titles(client, "?state=all&receiver=team") == ["SlowQueries"]
    assert await titles(client, "?state=all&receiver=nobody") == []
    # since: last change at or after; the resolve came last, at T0 + 360
    assert await titles(client, f"?state=all&since={T0 + 300}") == ["SlowQueries"]
    assert await titles(client, "?state=all&since=2030-03-17T17:51:40Z") == ["SlowQueries"]  # T0 + 300
    assert await titles(client, "?state=all&since=2030-03-17T18:53:20%2B01:00") == []  # T0 + 400
    # until: first fired (the alerts' startsAt, 2026-11-24T10:00:00Z) before
    assert await titles(client, "?state=all&until=2026-11-24T09:59:59Z") == []
    assert len(await titles(client, "?state=all&until=2026-11-24T10:00:01Z")) == 2
    assert len(await listed(client, "?state=all&limit=1")) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?state=closed", "state"),
        ("?state=open&state=all", "state"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?since=yesterday", "since"),
        ("?until=2026-11-25T03:00:00", "until"),  # no zone
        ("?until=-5", "until"),
        ("?namespace=", "namespace"),
        ("?receiver=a%00b", "receiver"),
        ("?sevrity=critical", "sevrity"),
    ],
)
async def test_bad_filters_are_400_naming_the_field(client: Client, query: str, field: str) -> None:
    resp = await client.get(f"/api/v1/incidents{query}", headers=API)
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == field and body["error"].startswith(f"{field}: ")


async def test_one_incident_with_its_timeline(client: Client) -> None:
    ref = group_ref(LATE["groupKey"])
    resp = await client.get(f"/api/v1/incidents/{ref}", headers=API)
    assert resp.status == 200
    body = await resp.json()
    assert body["incident"]["id"] == ref and body["incident"]["state"] == "resolved"
    kinds = [e["kind"] for e in body["events"]]
    assert kinds[0] == "fired" and "resolved" in kinds
    assert [e["at"] for e in body["events"]] == sorted(e["at"] for e in body["events"])
    assert {"at", "kind", "actor", "summary", "detail"} <= set(body["events"][0])
    [fact] = body["alerts"]
    assert fact["fingerprint"] == "fp2" and fact["status"] == "resolved"
    assert body["graph_png"] is None and body["episode"] == 1


async def test_postmortem_is_markdown(client: Client) -> None:
    ref = group_ref(LATE["groupKey"])
    resp = await client.get(f"/api/v1/incidents/{ref}/postmortem", headers=API)
    assert resp.status == 200
    assert resp.content_type == "text/markdown" and resp.charset == "utf-8"
    assert resp.headers["Content-Disposition"] == f'inline; filename="postmortem-{ref}.md"'
    text = await resp.text()
    assert text.startswith("# Post-mortem: SlowQueries")
    assert "## Root cause" in text


async def test_unknown_and_malformed_ids(client: Client) -> None:
    for path in ("/api/v1/incidents/AAAAAAAAAAAAAAAA", "/api/v1/incidents/AAAAAAAAAAAAAAAA/postmortem"):
        resp = await client.get(path, headers=API)
        assert resp.status == 404
        assert await resp.json() == {"status": "error", "error": "no incident AAAAAAAAAAAAAAAA"}
    for path in ("/api/v1/incidents/a.b", "/api/v1/incidents/" + "x" * 65 + "/postmortem"):
        resp = await client.get(path, headers=API)
        assert resp.status == 400 and (await resp.json())["field"] == "id"
    ref = group_ref(DOWN["groupKey"])
    resp = await client.get(f"/api/v1/incidents/{ref}?verbose=1", headers=API)
    assert resp.status == 400 and (await resp.json())["field"] == "verbose"
    assert (await client.get(f"/api/v1/incidents/{ref}")).status == 401
