"""FakePrometheus: `GET /api/v1/query_range` answering a matrix of a few series, for the fast
end-to-end tests (the slow ones run the real Prometheus, tests/enrich/prometheus.py).

Every series of `series` is sampled from `start` to `end` every `step` seconds; a request without
`query`, `start`, `end` or `step` gets Prometheus' 400 `bad_data`. Requests are recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply

__all__ = ["FakePrometheus"]

Series = tuple[dict[str, str], Callable[[float], float]]


class FakePrometheus(FakeHTTPServer):
    def __init__(self, series: list[Series] | None = None) -> None:
        super().__init__()
        self.series: list[Series] = series if series is not None else []

    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        return Reply(inj.status, {"status": "error", "errorType": "internal", "error": "injected"})

    def _handle(self, rec: RecordedRequest) -> Reply:
        if rec.path != "/api/v1/query_range":
            return Reply(404, "404 page not found\n", content_type="text/plain")
        p = rec.params()
        try:
            start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
            if not p.get("query") or step <= 0 or end < start:
                raise ValueError
        except (KeyError, ValueError):
            return Reply(400, {"status": "error", "errorType": "bad_data", "error": "invalid parameter"})
        result = []
        for labels, value in self.series:
            points, t = [], start
            while t <= end:
                points.append([t, f"{value(t):.6f}"])
                t += step
            result.append({"metric": labels, "values": points})
        return Reply(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
