"""Prometheus: the series of an expression over a time range (GET /api/v1/query_range).

Queries go only to the configured Prometheus, never to the host named in an alert's
generatorURL: an alert must not be able to point the service at an arbitrary host.
"""

from __future__ import annotations

import math
from typing import Any

import aiohttp

from app.config.enrichment import PrometheusSettings
from app.core.enrich_plan import RangeQuery
from app.core.series import Series
from app.enrich.errors import EnrichmentError
from app.enrich.http import auth_headers, get_json

__all__ = ["PrometheusClient"]

SERVICE = "Prometheus"


class PrometheusClient:
    def __init__(self, settings: PrometheusSettings, *, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self._session = session

    async def query_range(self, expr: str, window: RangeQuery) -> list[Series]:
        """Every series of `expr` in `window`; NaN and infinite samples are left out."""
        body = await get_json(
            self._session,
            f"{self.settings.url}/api/v1/query_range",
            params={
                "query": expr,
                "start": _number(window.start),
                "end": _number(window.end),
                "step": _number(window.step),
            },
            headers=auth_headers(self.settings.http_config, SERVICE),
            timeout=self.settings.timeout,
            service=SERVICE,
        )
        return _matrix(body)


def _number(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".")


def _matrix(body: Any) -> list[Series]:
    try:
        if body["status"] != "success":
            raise EnrichmentError(f"{SERVICE} answered status {body['status']!r}")
        if body["data"]["resultType"] != "matrix":
            raise EnrichmentError(f"{SERVICE} answered a {body['data']['resultType']!r}, not a matrix")
        out = []
        for item in body["data"]["result"]:
            labels = item["metric"]
            if not isinstance(labels, dict):
                raise TypeError
            points = []
            for t, v in item["values"]:
                value = float(v)
                if math.isfinite(value):
                    points.append((float(t), value))
            out.append(Series({str(k): str(x) for k, x in labels.items()}, tuple(points)))
        return out
    except (KeyError, IndexError, TypeError, ValueError):
        raise EnrichmentError(f"{SERVICE} answered with an unexpected body") from None
