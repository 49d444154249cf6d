"""The webhook's answers to bad and good input: 401, 413, 400, 422, 503, 200, never a 5xx crash."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.web.app import create_app
from tests.conftest import TOKEN, make_config
from tests.payloads import alert, message

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:  # type: ignore[type-arg]
    # A receiver without integrations: accepted alerts are recorded, nothing is sent.
    config = make_config(
        tmp_path,
        [{"name": "null"}],
        {"receiver": "null"},
        server={"max_body_bytes": 4096},
        storage={"busy_timeout": "200ms"},
    )
    c: TestClient = await aiohttp_client(create_app(config))  # type: ignore[type-arg]
    return c


GOOD = message('{}:{alertname="A"}', [alert("A", "f1")])


async def post(
    client: TestClient,
    body: bytes | str | dict[str, Any],  # type: ignore[type-arg]
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body) if isinstance(body, dict) else body
    h = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    if headers is not None:
        h = headers
    resp = await client.post("/webhook/alertmanager", data=data, headers=h)
    return resp.status, await resp.json()


async def test_accepts_a_v4_message(client: TestClient) -> None:  # type: ignore[type-arg]
    status, body = await post(client, GOOD)
    assert status == 200 and body["status"] == "accepted"


async def test_tolerates_unknown_fields(client: TestClient) -> None:  # type: ignore[type-arg]
    msg = message("g", [alert("A", "f1")], notification_reason=1, routeLabels={"a": "b"})
    msg["alerts"][0]["newField"] = {"x": 1}
    status, _ = await post(client, msg)
    assert status == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic dGVzdDp0ZXN0", f"bearer{TOKEN}", ""])
async def test_unauthenticated_is_401(client: TestClient, header: str | None) -> None:  # type: ignore[type-arg]
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Authorization"] = header
    status, body = await post(client, GOOD, headers=headers)
    assert status == 401 and "credentials" in body["error"]


async def test_too_large_is_413(client: TestClient) -> None:  # type: ignore[type-arg]
    msg = message("g", [alert("A", "f1", big="x" * 5000)])
    status, body = await post(client, msg)
    assert status == 413 and "max_body_bytes" in body["error"]


async def test_malformed_json_is_400(client: TestClient) -> None:  # type: ignore[type-arg]
    status, body = await post(client, b'{"version": "4", ')
    assert status == 400 and body["error"].startswith("malformed JSON")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda m: m.pop("groupKey"), "groupKey"),
        (lambda m: m.__setitem__("version", "3"), "version"),
        (lambda m: m.__setitem__("alerts", []), "alerts"),
        (lambda m: m["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda m: m["alerts"][0].__setitem__("status", "pending"), "alerts[0].status"),
        (lambda m: m["alerts"][0].__setitem__("startsAt", "yesterday"), "alerts[0].startsAt"),
        (lambda m: m["alerts"][0]["labels"].__setitem__("n", 5), "alerts[0].labels.n"),
    ],
)
async def test_schema_violation_is_422_naming_the_field(
    client: TestClient,
    mutate: Any,  # type: ignore[type-arg]
    field: str,
) -> None:
    msg = json.loads(json.dumps(GOOD))
    mutate(msg)
    status, body = await post(client, msg)
    assert status == 422
    assert field in [p["field"] for p in body["problems"]]


async def test_store_that_cannot_write_is_503_and_then_recovers(
    client: TestClient,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None, timeout=5)
    other.execute("BEGIN EXCLUSIVE")  # another process holding the database
    try:
        status, body = await post(client, GOOD)
        assert status == 503 and "retry" in body["error"]
        ready = await client.get("/readyz")
        assert ready.status == 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    status, _ = await post(client, GOOD)
    assert status == 200
    assert (await client.get("/readyz")).status == 200


async def test_health_and_metrics(client: TestClient) -> None:  # type: ignore[type-arg]
    assert (await client.get("/healthz")).status == 200
    await post(client, GOOD)
    await post(client, b"not json")
    text = await (await client.get("/metrics")).text()
    assert 'alertmedic_webhooks_received_total{outcome="accepted"} 1.0' in text
    assert 'alertmedic_webhooks_received_total{outcome="bad_json"} 1.0' in text
    assert 'alertmedic_alerts_received_total{outcome="accepted",status="firing"} 1.0' in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(
        [
            "version",
            "groupKey",
            "status",
            "alerts",
            "groupLabels",
            "truncatedAlerts",
            "externalURL",
            "commonLabels",
        ]
    )
    alert_keys = st.sampled_from(
        ["status", "labels", "annotations", "startsAt", "endsAt", "fingerprint", "generatorURL"]
    )

    def mutate(k: str, ak: str, v: Any, where: int) -> Any:
        m = json.loads(json.dumps(GOOD))
        if where == 0:
            m[k] = v
        elif where == 1:
            m["alerts"][0][ak] = v
        elif where == 2:
            m.pop(k, None)
        else:
            return v
        return m

    return st.builds(mutate, keys, alert_keys, json_values, st.integers(0, 3))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_mutations())
async def test_no_payload_makes_the_webhook_fail(client: TestClient, body: Any) -> None:  # type: ignore[type-arg]
    resp = await client.post(
        "/webhook/alertmanager", data=json.dumps(body), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status in (200, 400, 413, 422), await resp.text()
    assert (await resp.json())["status"] in ("accepted", "error")


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300))
async def test_no_bytes_make_the_webhook_fail(client: TestClient, raw: bytes) -> None:  # type: ignore[type-arg]
    resp = await client.post("/webhook/alertmanager", data=raw, headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status in (400, 422)
