"""Loki: log lines of a LogQL query over a time window (GET /loki/api/v1/query_range)."""

from __future__ import annotations

from typing import Any

import aiohttp

from app.config.enrichment import LokiSettings
from app.enrich.errors import EnrichmentError
from app.enrich.http import auth_headers, get_json

__all__ = ["LokiClient"]

SERVICE = "Loki"


class LokiClient:
    """Asks one Loki (tenant, credentials, timeout from its settings)."""

    def __init__(self, settings: LokiSettings, *, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self._session = session

    async def query_range(
        self, query: str, *, start_ns: int, end_ns: int, limit: int
    ) -> list[tuple[int, str]]:
        """(ns, line) entries of every stream, newest first, at most `limit` in all.

        `start_ns` is inclusive and `end_ns` exclusive, as Loki takes them."""
        headers = auth_headers(self.settings.http_config, SERVICE)
        if self.settings.tenant_id:
            headers["X-Scope-OrgID"] = self.settings.tenant_id
        body = await get_json(
            self._session,
            f"{self.settings.url}/loki/api/v1/query_range",
            params={
                "query": query,
                "start": str(start_ns),
                "end": str(end_ns),
                "limit": str(limit),
                "direction": "backward",
            },
            headers=headers,
            timeout=self.settings.timeout,
            service=SERVICE,
        )
        entries = _entries(body)
        entries.sort(key=lambda e: -e[0])
        return entries[:limit]


def _entries(body: Any) -> list[tuple[int, str]]:
    try:
        if body["status"] != "success" or body["data"]["resultType"] != "streams":
            raise EnrichmentError(f"{SERVICE} answered with {body['data']['resultType']!r}, not log streams")
        out = []
        for stream in body["data"]["result"]:
            for value in stream["values"]:
                # [ns, line] or, with categorize-labels, [ns, line, metadata]
                ns, line = value[0], value[1]
                if not isinstance(ns, str) or not isinstance(line, str):
                    raise TypeError
                out.append((int(ns), line))
        return out
    except (KeyError, IndexError, TypeError, ValueError):
        raise EnrichmentError(f"{SERVICE} answered with an unexpected body") from None
