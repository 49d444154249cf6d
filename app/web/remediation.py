"""Self-healing at start-up: the Kubernetes client is imported (1.6 s, 63 MiB) and built only when
`remediation:` has actions, off the event loop, from the kubeconfig or the in-cluster
ServiceAccount. A client that cannot be made does not stop the service: routing goes on, and
Kubernetes actions fail and are reported, naming the problem, until it is fixed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from app.config import Config
from app.core.clock import Clock
from app.engine.remediation import Remediator
from app.metrics import Metrics
from app.sinks.registry import INTEGRATIONS, Built
from app.store.remediations import RemediatingStore

log = logging.getLogger("alertmedic.remediation")


async def make_kube(config: Config) -> tuple[Any, str]:
    """(client, "") or (None, why not). Needs Kubernetes only for non-http actions."""
    settings = config.remediation
    assert settings is not None
    if all(a.kind == "http" for a in settings.actions):
        return None, "no Kubernetes action is configured"

    def build() -> Any:
        from app.remediate.kube import Kube

        return Kube.from_settings(settings.kubernetes)

    try:
        return await asyncio.to_thread(build), ""
    except Exception as exc:  # KubeConfigError, or the client refusing its configuration
        if settings.dry_run:
            log.warning(
                "dry run without a Kubernetes client: paused / rolling are not checked",
                extra={"error": str(exc)},
            )
        else:
            log.error("no Kubernetes client; Kubernetes actions will fail", extra={"error": str(exc)})
        return None, str(exc)


@contextlib.asynccontextmanager
async def remediation(
    config: Config,
    store: RemediatingStore,
    built: Built,
    session: aiohttp.ClientSession,
    metrics: Metrics,
    clock: Clock,
) -> AsyncIterator[Remediator | None]:
    settings = config.remediation
    if settings is None or not settings.actions:
        yield None
        return
    kube, problem = await make_kube(config)
    r = Remediator(
        settings,
        store,
        built.destinations,
        {kind: row.capabilities for kind, row in INTEGRATIONS.items()},
        metrics,
        clock,
        kube=kube,
        kube_problem=problem,
        session=session,
    )
    log.info(
        "self-healing on",
        extra={"actions": [a.name for a in settings.actions], "dry_run": settings.dry_run},
    )
    try:
        yield r
    finally:
        if kube is not None:
            await kube.aclose()
