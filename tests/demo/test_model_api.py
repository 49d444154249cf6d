"""The demo's own parts in process: the model API (metric contract, fault injection, its own
traffic) and the SMTP printer."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from email.message import EmailMessage
from io import StringIO
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from demo.model_api import HEALTHY, Faults, Model, create_app, parse_faults
from demo.smtp_print import PrintingHandler, read_mails, serve
from demo.stack import smtp_ready
from tests.e2e.proc import free_port

CONTRACT = [  # rules/README.md, "Metric contract"
    "model_requests_total",
    "model_latency_seconds_bucket",
    "model_prediction_confidence_bucket",
    "model_drift_share",
    "model_accuracy",
    "model_f1",
    "model_data_last_updated_timestamp_seconds",
]


def sample(exposition: str, name: str) -> float:
    """The value of the one sample line starting with `name` (labels included)."""
    (line,) = [x for x in exposition.splitlines() if x.startswith(name + " ")]
    return float(line.rsplit(" ", 1)[1])


async def test_metrics_follow_the_contract_and_injection_changes_them(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(rps=0, model=Model(rng=random.Random(7))))
    text = await (await client.get("/metrics")).text()
    for name in CONTRACT:
        assert f"\n{name}" in text, name
    assert sample(text, "model_drift_share") == HEALTHY.drift
    assert sample(text, "model_accuracy") == HEALTHY.accuracy
    assert abs(sample(text, "model_data_last_updated_timestamp_seconds") - time.time()) < 60

    r = await client.post("/inject?errors=1&drift=0.6&accuracy=0.8&data_age=90000")
    assert r.status == 200, await r.text()
    assert (await r.json())["faults"]["drift"] == 0.6
    r = await client.post("/predict", json={"features": [1.0, 2.0]})
    assert r.status == 503
    text = await (await client.get("/metrics")).text()
    assert sample(text, 'model_requests_total{status="503"}') == 1
    assert sample(text, "model_latency_seconds_count") == 1
    assert sample(text, "model_drift_share") == 0.6
    assert sample(text, "model_accuracy") == 0.8
    assert time.time() - sample(text, "model_data_last_updated_timestamp_seconds") > 89_000

    r = await client.post("/reset")
    assert (await r.json()) == {"faults": dataclasses.asdict(HEALTHY), "healthy": True}
    r = await client.post("/predict")
    body = await r.json()
    assert r.status == 200 and 0 <= body["confidence"] <= 1


async def test_inject_rejects_what_it_does_not_know(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(rps=0))
    for query, words in [
        ("latency=-1", "outside"),
        ("errors=2", "outside"),
        ("latency=nan", "outside"),
        ("latency=fast", "not a number"),
        ("latncy=2", "unknown"),
        ("", "nothing"),
    ]:
        r = await client.post(f"/inject?{query}")
        assert r.status == 400, query
        assert words in (await r.json())["error"], query
    assert (await (await client.get("/")).json())["healthy"] is True


def test_parse_faults_keeps_what_is_not_given() -> None:
    faults = parse_faults(Faults(latency=1.0), {"errors": "0.25"})
    assert faults == Faults(latency=1.0, errors=0.25)


async def test_self_generated_traffic_keeps_its_rate_under_latency(aiohttp_client: Any) -> None:
    model = Model(rng=random.Random(3))
    model.apply(Faults(latency=0.5))  # slower than the interval: requests must overlap
    client = await aiohttp_client(create_app(rps=100, model=model))
    started = time.monotonic()
    deadline = started + 10
    while time.monotonic() < deadline:
        text = await (await client.get("/metrics")).text()
        if sample(text, 'model_requests_total{status="200"}') >= 50:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the model API did not serve 50 self-generated requests in 10s")
    # 0.5s of latency, then 100/s: 50 done after ~1s (sequential requests would need 25s).
    assert time.monotonic() - started < 5


async def test_smtp_printer_prints_and_records_each_mail(tmp_path: Path) -> None:
    out, jsonl, port = StringIO(), tmp_path / "mails.jsonl", free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve("127.0.0.1", port, PrintingHandler(out, jsonl), stop))
    try:
        deadline = time.monotonic() + 10
        while not await smtp_ready(port):
            assert time.monotonic() < deadline, "the SMTP printer did not start"
            assert not server.done(), server
            await asyncio.sleep(0.05)
        message = EmailMessage()
        message["From"], message["To"] = "alertmedic@example.org", "oncall@example.org"
        message["Subject"] = "[FIRING:1] ModelHighLatencyP95 (prod)"
        message.set_content("p95 is 2.7s")
        message.add_alternative("<p>p95 is 2.7s</p>", subtype="html")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10)
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
    [mail] = read_mails(jsonl)
    assert mail.subject == "[FIRING:1] ModelHighLatencyP95 (prod)"
    assert mail.text == "p95 is 2.7s" and mail.rcpt_tos == ["oncall@example.org"]
    printed = out.getvalue()
    assert "===== mail #1" in printed and "Subject: [FIRING:1] ModelHighLatencyP95 (prod)" in printed
    assert "p95 is 2.7s" in printed and "<p>" not in printed
