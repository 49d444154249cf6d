"""What enrichment costs one message: the Enricher against a fake Loki answering in 20 ms and a
fake Prometheus, with real graph rendering (matplotlib Agg), in-process.

`python -m bench.enrichment` prints its rows; `make bench` adds them to the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import resource
import statistics
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from app.config.enrichment import EnrichmentSettings
from app.core.models import ZERO_TIME, Group
from app.core.series import Series
from app.enrich.enricher import Enricher
from app.enrich.graph import render_png
from tests.fakes.loki import FakeLoki
from tests.fakes.prometheus import FakePrometheus

LOKI_DELAY = 0.020
RUNS = 40
QUERY = '{namespace="{{ labels.namespace }}", app="{{ labels.deployment }}"} |~ "(?i)error"'


def _group(now: datetime, i: int) -> Group:
    expr = "model_latency_p95_seconds%20%3E%200.5"
    return Group.model_validate(
        {
            "groupKey": f"{{}}:{{run={i}}}",
            "status": "firing",
            "receiver": "oncall",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "ModelHighLatencyP95",
                        "namespace": "prod",
                        "deployment": "model-api",
                    },
                    "annotations": {},
                    "startsAt": now - timedelta(minutes=20),
                    "endsAt": ZERO_TIME,
                    "generatorURL": f"http://p/graph?g0.expr={expr}",
                    "fingerprint": f"{i:016x}",
                }
            ],
        }
    )


SERIES = [
    ({"pod": f"model-api-{i}"}, lambda t, i=i: 0.4 + 0.1 * i + 0.1 * math.sin(t / 600)) for i in range(3)
]


@contextlib.asynccontextmanager
async def backends() -> AsyncIterator[tuple[FakeLoki, FakePrometheus]]:
    """A fake Loki holding 50 error lines of `model-api`, and a fake Prometheus."""
    async with FakeLoki() as loki, FakePrometheus(SERIES) as prom:
        ns = time.time_ns()
        loki.push(
            {"namespace": "prod", "app": "model-api"},
            [(ns - k * 10**9, f"ERROR request {k} timed out after 5s") for k in range(50)],
        )
        yield loki, prom


def service_section(loki_url: str, prometheus_url: str) -> str:
    """The `enrichment:` section of a service config: logs and a graph for every alert."""
    return json.dumps(
        {
            "enrichment": {
                "loki": {"url": loki_url},
                "prometheus": {"url": prometheus_url},
                "rules": [{"logs": {"query": QUERY, "limit": 12}, "graph": {"range": "1h"}}],
            }
        }
    )[1:-1]


def webhook_body() -> bytes:
    """One firing group whose alert carries a graphable expression, as Alertmanager posts it."""
    return json.dumps({"version": "4", **_group(datetime.now(UTC), 0).model_dump(mode="json")}).encode()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def rows() -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    now = datetime.now(UTC)
    async with backends() as (loki, prom), aiohttp.ClientSession() as http:
        for graph in (False, True):
            rule: dict[str, Any] = {"logs": {"query": QUERY, "limit": 12}}
            raw: dict[str, Any] = {"loki": {"url": loki.url}, "rules": [rule]}
            if graph:
                rule["graph"] = {"range": "1h"}
                raw["prometheus"] = {"url": prom.url}
            enricher = Enricher(EnrichmentSettings.model_validate(raw), session=http)
            took = []
            if graph:  # the first graph imports matplotlib: reported on its own
                began = time.perf_counter()
                await enricher.enrich(_group(now, -1))
                cold = time.perf_counter() - began
                out.append(
                    (
                        "enrichment first graph ms (imports matplotlib)",
                        f"{cold * 1000:.0f}",
                        "once per process",
                    )
                )
            for i in range(RUNS if not graph else RUNS // 2):
                loki.answer_slowly(LOKI_DELAY)
                began = time.perf_counter()
                result = await enricher.enrich(_group(now, i))
                took.append(time.perf_counter() - began)
                assert result.logs and (result.graphs or not graph), result.notes
            what = "logs + graph" if graph else "logs only"
            target = 400 if graph else 100
            out.append(
                (
                    f"enrichment {what} p50 / p99 ms (added p99 target < {target})",
                    f"{_p(took, 0.5):.0f} / {_p(took, 0.99):.0f}",
                    f"Loki answers in {LOKI_DELAY * 1000:.0f} ms; {len(took)} groups",
                )
            )
    start = now.timestamp() - 3600
    pts = [(start + k * 15, 0.4 + 0.1 * math.sin(k / 40)) for k in range(241)]
    s = [Series({"pod": f"model-api-{i}"}, tuple((t, v + 0.05 * i) for t, v in pts)) for i in range(3)]
    render_png(s, start=start, end=now.timestamp())  # warm: the import and the font cache
    cpu = []
    for _ in range(10):
        c = time.process_time()
        png = render_png(s, start=start, end=now.timestamp(), starts_at=now.timestamp() - 1200, threshold=0.5)
        cpu.append(time.process_time() - c)
    out.append(
        ("graph CPU ms (one 800x300 PNG)", f"{statistics.median(cpu) * 1000:.0f}", f"{len(png)} bytes")
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.append(("max RSS of this bench process MB", f"{rss:.0f}", "matplotlib loaded"))
    return out


if __name__ == "__main__":
    for name, value, detail in asyncio.run(rows()):
        print(f"{name:60}  {value:>10}  {detail}")
