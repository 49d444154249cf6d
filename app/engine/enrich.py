"""Enrichment once per alert group state, shared by every destination and every retry.

The notify handler asks `GroupEnrichment.for_job` before it renders. The first lane (in any
process) to ask for a group state claims it in the store and fetches (time-boxed by the
Enricher's budget); the others wait for the stored result (in this process on a future, in
another process by polling the claim until it is saved or its lease runs out). A retry, a
restart after `kill -9` and the other destinations read the stored result back. A state with no
firing alert fetches nothing: it shows the group's last stored log lines (a resolve edit keeps
its log section), never a graph again.

Why in the notify handler and not an `enrich` job: notify jobs are on their destinations' lanes
and would need to wait for a job on another lane, which the queue does not express; a claim row
in the store gives the same once-per-state guarantee without a second queue or timer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from typing import Protocol

from app.core.clock import Clock
from app.core.enrichment import Enrichment
from app.core.models import Group
from app.metrics import Metrics
from app.store.base import Store, StoreUnavailable

log = logging.getLogger("alertmedic.enrich")

POLL = 0.2
"""Seconds between looks at another process's claim of the same group state."""
LEASE_MARGIN = 5.0
"""Seconds a claim outlives the Enricher's budget (a store write, a slow event loop)."""


class Enricher(Protocol):
    """The port to app.enrich.enricher.Enricher: fetches, time-boxed by `budget`, never raises."""

    budget: float

    async def enrich(self, group: Group) -> Enrichment: ...


def state_key(group: Group) -> str:
    """The group state enrichment is kept for: which alerts fire."""
    firing = sorted(a.fingerprint for a in group.alerts if a.status == "firing")
    return hashlib.blake2b(",".join(firing).encode(), digest_size=16).hexdigest()


class GroupEnrichment:
    """Enrichment for the notify jobs of the destinations in `lanes` (`enrich: true`; empty
    when the config has no enrichment rules)."""

    def __init__(
        self,
        enricher: Enricher,
        store: Store,
        *,
        lanes: frozenset[str],
        clock: Clock,
        metrics: Metrics,
        owner: str,
    ) -> None:
        self.enricher = enricher
        self.store = store
        self.lanes = lanes
        self.clock = clock
        self.metrics = metrics
        self.owner = owner
        self.lease = enricher.budget + LEASE_MARGIN
        self._inflight: dict[tuple[str, str], asyncio.Future[Enrichment]] = {}

    def wanted(self, lane: str) -> bool:
        return lane in self.lanes

    async def for_group(self, group: Group) -> Enrichment | None:
        """The group state's enrichment (None: nothing to show). Raises StoreUnavailable only
        when the store cannot be read (the notify job is then retried like any store failure)."""
        if not group.firing:
            stored = await self.store.latest_enrichment(group.groupKey)
            if stored is None:
                return None
            kept = Enrichment.from_json(stored)
            return replace(kept, graphs=(), fetches=(), redactions=0)
        key = (group.groupKey, state_key(group))
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Enrichment] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._claimed_or_stored(group, *key)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it through their own await
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._inflight[key]
        future.set_result(result)
        return result

    async def _claimed_or_stored(self, group: Group, group_key: str, state: str) -> Enrichment:
        while True:
            claim = await self.store.claim_enrichment(
                group_key, state, owner=self.owner, now=self.clock.now(), lease=self.lease
            )
            if claim.status == "done":
                assert claim.result is not None
                return Enrichment.from_json(claim.result)
            if claim.status == "claimed":
                break
            await self.clock.sleep(min(POLL, max(0.0, claim.until - self.clock.now())))
        result = await self.enricher.enrich(group)
        self._count(result, group_key)
        try:
            await self.store.save_enrichment(group_key, state, result=result.to_json(), now=self.clock.now())
        except StoreUnavailable as exc:  # shown anyway; a retry may fetch again
            log.error("cannot store the enrichment", extra={"group_key": group_key, "error": str(exc)})
        return result

    def _count(self, result: Enrichment, group_key: str) -> None:
        for fetch in result.fetches:
            self.metrics.enrichment.labels(fetch.source, fetch.outcome).inc()
            self.metrics.enrichment_duration.labels(fetch.source).observe(fetch.seconds)
        if result.redactions:
            self.metrics.enrichment_redactions.inc(result.redactions)
        if result.notes:
            log.warning("enrichment incomplete", extra={"group_key": group_key, "notes": list(result.notes)})
