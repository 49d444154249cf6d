"""Demo model API: simulated inference exposing the metrics `rules/` expect, with fault injection.

Run: `python -m demo.model_api --port 8000`. Endpoints:

* `POST /predict` - one simulated prediction (optional JSON body `{"features": [...]}`);
  answers 200 with a label and its confidence, or 503 when an injected error hits.
* `GET /metrics` - Prometheus exposition of the metric contract in rules/README.md:
  `model_requests_total{status}`, `model_latency_seconds`, `model_prediction_confidence`,
  `model_drift_share`, `model_accuracy`, `model_f1`, `model_data_last_updated_timestamp_seconds`.
* `POST /inject?latency=2.5&errors=0.3&drift=0.6` - change the simulated behaviour; the other
  knobs are `accuracy`, `f1` and `data_age` (seconds since the input data was refreshed).
  Parameters not given keep their value. `POST /reset` goes back to healthy.
* `GET /` - the current faults; `GET /healthz` - liveness.

The service generates its own traffic (default 50 predictions/s, started concurrently so that
injected latency does not lower the rate), so Prometheus sees request rates without a load
generator. The `namespace` / `deployment` labels the rules need are added by the scrape
configuration, not here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 0.95, 1.0)
MAX_IN_FLIGHT = 2000
"""Self-generated requests in progress at most (50/s with 40 s of injected latency = 2000)."""


@dataclass(frozen=True)
class Faults:
    """The simulated behaviour. The defaults are the healthy state."""

    latency: float = 0.05
    """Typical request latency in seconds (each request takes 80-120 % of it)."""
    errors: float = 0.0
    """Share of requests answered with 503."""
    drift: float = 0.05
    """Share of drifted features; it also lowers prediction confidence."""
    accuracy: float = 0.93
    f1: float = 0.91
    data_age: float = 0.0
    """Seconds since the input data was last refreshed."""


HEALTHY = Faults()
LIMITS: dict[str, tuple[float, float]] = {
    "latency": (0.0, 60.0),
    "errors": (0.0, 1.0),
    "drift": (0.0, 1.0),
    "accuracy": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "data_age": (0.0, 365 * 86400.0),
}


def parse_faults(current: Faults, params: dict[str, str]) -> Faults:
    """`current` with the query parameters applied; ValueError names the bad parameter."""
    unknown = sorted(set(params) - set(LIMITS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; use {', '.join(LIMITS)}")
    if not params:
        raise ValueError(f"nothing to inject; use one or more of {', '.join(LIMITS)}")
    changes: dict[str, float] = {}
    for name, text in params.items():
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}: not a number: {text!r}") from None
        low, high = LIMITS[name]
        if not low <= value <= high:  # also rejects NaN
            raise ValueError(f"{name}: {value} is outside [{low:g}, {high:g}]")
        changes[name] = value
    return dataclasses.replace(current, **changes)


class Model:
    """The simulated model and its metrics (in its own registry)."""

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()  # a simulation: no cryptography
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "model_requests_total",
            "Prediction requests served, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "model_latency_seconds",
            "Prediction request latency.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.confidence = Histogram(
            "model_prediction_confidence",
            "Confidence of each prediction (0..1).",
            buckets=CONFIDENCE_BUCKETS,
            registry=self.registry,
        )
        self.drift_share = Gauge(
            "model_drift_share", "Share of drifted features (0..1).", registry=self.registry
        )
        self.accuracy = Gauge(
            "model_accuracy", "Accuracy from the last evaluation (0..1).", registry=self.registry
        )
        self.f1 = Gauge("model_f1", "F1 score from the last evaluation (0..1).", registry=self.registry)
        self.data_updated = Gauge(
            "model_data_last_updated_timestamp_seconds",
            "Unix time the input data was last refreshed.",
            registry=self.registry,
        )
        for status in ("200", "503"):  # both series exist from the start: rates, not absences
            self.requests.labels(status=status)
        self.faults = HEALTHY
        self.apply(HEALTHY)

    def apply(self, faults: Faults) -> None:
        """Switch to `faults`; gauges change now, latency and errors with the next request."""
        self.faults = faults
        self.drift_share.set(faults.drift)
        self.accuracy.set(faults.accuracy)
        self.f1.set(faults.f1)
        self.data_updated.set(time.time() - faults.data_age)

    def _confidence(self) -> float:
        # Healthy predictions are confident (median ~0.87); drift pushes them towards 0.5.
        mean = min(max(0.9 - 0.6 * self.faults.drift, 0.05), 0.95)
        return self.rng.betavariate(mean * 20, (1 - mean) * 20)

    async def predict(self) -> tuple[int, dict[str, Any]]:
        """One simulated inference: (HTTP status, JSON body). Records the metrics."""
        started = time.perf_counter()
        faults = self.faults
        await asyncio.sleep(faults.latency * self.rng.uniform(0.8, 1.2))
        failed = self.rng.random() < faults.errors
        status = 503 if failed else 200
        self.requests.labels(status=str(status)).inc()
        self.latency.observe(time.perf_counter() - started)
        if failed:
            return status, {"error": "injected failure"}
        confidence = self._confidence()
        self.confidence.observe(confidence)
        label = "positive" if self.rng.random() < 0.5 else "negative"
        return status, {"prediction": label, "confidence": round(confidence, 4)}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


MODEL = web.AppKey("model", Model)


async def _traffic(model: Model, rps: float) -> None:
    """Start `rps` predictions per second, each in its own task, until cancelled."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[tuple[int, dict[str, Any]]]] = set()
    interval = 1.0 / rps
    next_at = loop.time()
    try:
        while True:
            if len(tasks) < MAX_IN_FLIGHT:
                task = asyncio.create_task(model.predict())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            next_at = max(next_at + interval, loop.time() - 1.0)  # no burst after a stall
            await asyncio.sleep(max(0.0, next_at - loop.time()))
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def predict(request: web.Request) -> web.Response:
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict) or not isinstance(body.get("features", []), list):
            return web.json_response({"error": 'expected {"features": [...]}'}, status=400)
    status, payload = await request.app[MODEL].predict()
    return web.json_response(payload, status=status)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[MODEL].exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _state(model: Model) -> dict[str, Any]:
    return {"faults": dataclasses.asdict(model.faults), "healthy": model.faults == HEALTHY}


async def inject(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    try:
        faults = parse_faults(model.faults, dict(request.query))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    model.apply(faults)
    return web.json_response(_state(model))


async def reset(request: web.Request) -> web.Response:
    model = request.app[MODEL]
    model.apply(HEALTHY)
    return web.json_response(_state(model))


async def index(request: web.Request) -> web.Response:
    return web.json_response(
        {
            **_state(request.app[MODEL]),
            "endpoints": [
                "POST /predict",
                "GET /metrics",
                "POST /inject?latency=&errors=&drift=&accuracy=&f1=&data_age=",
                "POST /reset",
                "GET /healthz",
            ],
        }
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(*, rps: float = 50.0, model: Model | None = None) -> web.Application:
    """The API; with `rps` > 0 it also generates that many predictions per second itself."""
    app = web.Application()
    app[MODEL] = model or Model()

    async def traffic(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_traffic(app[MODEL], rps)) if rps > 0 else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(traffic)
    app.router.add_get("/", index)
    app.router.add_post("/predict", predict)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/inject", inject)
    app.router.add_post("/reset", reset)
    app.router.add_get("/healthz", healthz)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m demo.model_api", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--rps", type=float, default=50.0, help="self-generated predictions per second (0: none)")
    args = p.parse_args(argv)
    print(f"demo model API on http://{args.host}:{args.port} ({args.rps:g} predictions/s)", flush=True)
    web.run_app(create_app(rps=args.rps), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
