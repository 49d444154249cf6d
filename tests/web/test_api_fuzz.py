"""Property-based fuzzing of the whole JSON API over its own OpenAPI document (schemathesis), against
a real `alertmedic serve` on loopback holding real data (an open incident, a resolved one, an
action awaiting approval). For every operation, with data that fits the document and data that
does not: no 5xx, every answer is one the document describes (status, content type, body schema),
data that fits is not refused with a 400, data that does not is not accepted; and without the
token, or with a wrong one, every request gets 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.conftest import TOKEN, raw_config
from tests.e2e.proc import ServiceProcess, free_port
from tests.payloads import alert, message

pytestmark = pytest.mark.slow

API_TOKEN = "fuzz-api-token"
API = {"Authorization": f"Bearer {API_TOKEN}"}
HOOK = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 40
"""Per operation and generation mode (7 operations x 2 modes: ~35 s on a loaded 2-core box)."""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("api-fuzz")
    (tmp / "api-token").write_text(API_TOKEN + "\n")
    reload_action = {
        "name": "reload-model",
        "matchers": ['alertname="ModelAccuracyDrop"'],
        "kind": "http",
        # Nothing listens there: an approval the fuzzer happens to make fails, on loopback.
        "url": f"http://127.0.0.1:{free_port()}/admin/reload",
        "method": "POST",
        "approval": "required",
        "approval_timeout": "1h",
    }
    config = raw_config(
        tmp,
        [{"name": "a", "file_configs": [{"path": str(tmp / "inbox.log")}]}],
        {"receiver": "a"},
        api={"bearer_token_file": str(tmp / "api-token")},
        remediation={"actions": [reload_action]},
    )
    svc = ServiceProcess(tmp, config)
    asyncio.run(svc.start())
    try:
        _seed(svc.url)
        yield svc
    finally:
        svc.stop()


def _post(url: str, payload: dict[str, Any]) -> None:
    resp = requests.post(f"{url}/webhook/alertmanager", json=payload, headers=HOOK, timeout=10)
    assert resp.status_code == 200, resp.text


def _seed(url: str) -> None:
    """An open incident with an action awaiting approval, and a resolved one."""
    _post(url, message('{}:{alertname="ModelAccuracyDrop"}', [alert("ModelAccuracyDrop", "fp-acc")]))
    latency = '{}:{alertname="ModelHighLatencyP95"}'
    _post(url, message(latency, [alert("ModelHighLatencyP95", "fp-lat", namespace="staging")]))
    resolved = message(
        latency, [alert("ModelHighLatencyP95", "fp-lat", namespace="staging", status="resolved")]
    )
    _post(url, resolved)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        actions = requests.get(f"{url}/api/v1/actions?pending=1", headers=API, timeout=10).json()["actions"]
        if actions:
            return
        time.sleep(0.05)
    raise AssertionError("the action awaiting approval did not appear")


@pytest.fixture(scope="module")
def schema(service: ServiceProcess) -> Any:
    # As served (from_url would leave the document's own operation out of the run).
    resp = requests.get(f"{service.url}/api/v1/openapi.json", headers=API, timeout=10)
    assert resp.status_code == 200
    return schemathesis.openapi.from_dict(resp.json())


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_fuzzer_sees_every_operation(schema: Any) -> None:
    seen = {(op.method.upper(), op.path) for op in _operations(schema)}
    assert len(seen) == 7
    assert ("GET", "/api/v1/incidents/{id}/postmortem") in seen


def test_real_ids_answer_as_documented(service: ServiceProcess, schema: Any) -> None:
    """The fuzzer rarely guesses a real id: call each id operation with the real ones too."""
    base = service.url
    incidents = requests.get(f"{base}/api/v1/incidents?state=all", headers=API, timeout=10).json()[
        "incidents"
    ]
    assert {i["state"] for i in incidents} == {"open", "resolved"}
    [action] = requests.get(f"{base}/api/v1/actions", headers=API, timeout=10).json()["actions"]
    # Awaiting approval unless a fuzz run decided it first (id 1 is a likely guess).
    first = 200 if action["state"] == "awaiting_approval" else 409
    calls = [("/api/v1/incidents/{id}", "GET", i["id"]) for i in incidents]
    calls += [("/api/v1/incidents/{id}/postmortem", "GET", i["id"]) for i in incidents]
    calls += [("/api/v1/actions/{id}/reject", "POST", action["id"])] * 2  # decided, then 409
    statuses = []
    for path, method, ident in calls:
        case = schema[path][method].Case(path_parameters={"id": ident})
        resp = case.call(base_url=base, headers=API)
        case.validate_response(resp, headers=API)
        statuses.append(resp.status_code)
        assert case.call(base_url=base).status_code == 401
    assert statuses == [200] * (2 * len(incidents)) + [first, 409]


def _fuzz(op: Any, mode: GenerationMode, base: str, session: requests.Session) -> list[int]:
    """Run one operation's examples; the status of each, answered with the token."""
    seen: list[int] = []

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        resp = case.call(base_url=base, session=session, headers=API)
        seen.append(resp.status_code)
        case.validate_response(resp, headers=API)
        for anonymous in ({}, {"Authorization": "Bearer wrong"}, HOOK):
            refused = case.call(base_url=base, session=session, headers=anonymous)
            assert refused.status_code == 401, (case.method, case.formatted_path, anonymous)

    check()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_operation(service: ServiceProcess, schema: Any, mode: GenerationMode) -> None:
    with requests.Session() as session:
        statuses = {
            f"{op.method.upper()} {op.path}": _fuzz(op, mode, service.url, session)
            for op in _operations(schema)
        }
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    assert all(len(codes) >= 10 for codes in statuses.values()), statuses  # the fuzzer did run
    if mode is GenerationMode.NEGATIVE:
        # Data the document does not allow is refused, naming the field (not a silent default).
        assert 400 in statuses["GET /api/v1/incidents"] and 400 in statuses["GET /api/v1/actions"]
