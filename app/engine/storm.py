"""Storms: a destination's backlog that its rate limit cannot deliver in time becomes a digest.

A lane (one destination) that claims more pending notifications than its slowest rate limit can
send within `delivery.storm.after` (a Telegram group chat at 20 messages a minute: more than 10
for 30 s) is in a storm. It then waits for one token of its rate limits, reads every pending
notification of the lane, posts one digest message saying what they are (app.core.digest: the
groups fired and resolved, the most severe named, the rest counted, where to see them all) and
records them all done with the digest's message reference, in one transaction. Each covered
group's thread then points at the digest message: a later update of the group never edits it;
it replies to it (Telegram) or posts into its thread (Slack) with the group's own message, which
becomes the group's thread (app.sinks.base.DIGEST). Once the backlog is within the limit again,
the lane sends one message per group as before.

A digest that fails is retried like a job (app.core.retry: backoff, `retry_after` honoured);
when the provider refuses it for good, or the retry horizon of its oldest notification has
passed, the lane goes back to one message per group, where the usual rules dead-letter them. A
crash between the digest's send and its record repeats that digest (at least once, as every
job). Only lanes that run one job at a time and whose sink has rate limits and `send_digest`
(Telegram, Slack) ever get one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config.delivery import StormConfig
from app.core.clock import Clock
from app.core.digest import DigestBuilder
from app.core.errors import PermanentError, RetryableError
from app.core.models import Group
from app.core.retry import RetryPolicy
from app.engine.jobs import Ref
from app.metrics import Metrics
from app.sinks.base import DIGEST, DigestSender, Sink
from app.store.base import Job, Store

if TYPE_CHECKING:
    from app.engine.chat import ChatView
    from app.engine.rates import Rates

log = logging.getLogger("alertmedic.storm")

PAGE = 1000
"""Pending notifications read from the store at a time while a digest is built."""


@dataclass(frozen=True)
class Relieved:
    """What a digest covered: the jobs recorded done, and the thread reference they now have
    (None: the provider returned none, the threads keep theirs)."""

    jobs: list[Job]
    ref: Ref


class Storms:
    """Decides, per claim of a lane, whether it is in a storm, and sends its digest."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        config: StormConfig,
        *,
        limiter: Rates,
        metrics: Metrics,
        clock: Clock,
        policy: RetryPolicy,
        send_timeout: float,
        batch: int,
        chat: ChatView | None = None,
    ) -> None:
        self.store = store
        self.sinks = sinks
        """The dispatcher's live destination -> Sink map (a reload replaces entries)."""
        self.config = config
        self.limiter = limiter
        self.metrics = metrics
        self.clock = clock
        self.policy = policy
        self.send_timeout = send_timeout
        self.batch = batch
        self.chat = chat

    def capacity(self, lane: str) -> int | None:
        """Notifications the lane's rate limits deliver within `after` (None: never a storm)."""
        sink = self.sinks.get(lane)
        if sink is None or self.config.after <= 0 or not isinstance(sink, DigestSender):
            return None
        limits = sink.rate_limits()
        if not limits:
            return None
        return int(min(lim.per_second for lim in limits) * self.config.after)

    async def in_storm(self, lane: str, claimed: Sequence[Job], *, after: int) -> bool:
        """Whether the lane's pending notifications (ids above `after`) are more than it can
        deliver in time."""
        capacity = self.capacity(lane)
        if capacity is None:
            return False
        backlog = sum(1 for j in claimed if j.type == "notify")
        if backlog <= capacity and len(claimed) >= self.batch:  # the claim saw only the start
            backlog = len(await self.store.pending_jobs(lane, type="notify", after=after, limit=capacity + 1))
        return backlog > capacity

    async def relieve(
        self, lane: str, claimed: Sequence[Job], *, after: int, sleep: Callable[[float], Awaitable[None]]
    ) -> Relieved | None:
        """In a storm: one digest of every pending notification of the lane with an id above
        `after` (the lane's cursor: jobs up to it were worked, their records may be on their way),
        recorded; else None (and None when the digest cannot be sent: the notifications then go
        one by one)."""
        if not await self.in_storm(lane, claimed, after=after):
            return None
        sink = self.sinks[lane]
        assert isinstance(sink, DigestSender)
        limits = [(lim.key, lim.per_second, lim.burst) for lim in sink.rate_limits()]
        attempts = 0
        while True:
            while (wait := await self.limiter.reserve(limits, self.clock.now())) > 0:
                await sleep(wait)
            jobs, builder = await self._read(lane, after)
            if not jobs:
                return None
            await self._note(jobs)  # before the send, as a group's own message does
            try:
                async with asyncio.timeout(self.send_timeout):
                    ref = await sink.send_digest(lane, builder.digest())
                break
            except PermanentError as exc:
                log.error(
                    "storm digest refused; sending one message per group",
                    extra={"destination": lane, "error": str(exc), "reason": exc.reason},
                )
                return None
            except Exception as exc:
                attempts += 1
                retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
                if retry_after:
                    for limit in limits:
                        await self.limiter.penalise(limit, self.clock.now() + retry_after)
                delay = self.policy.delay(attempts, retry_after=retry_after)
                oldest = min(j.accepted_at for j in jobs)
                if self.policy.gives_up(accepted_at=oldest, now=self.clock.now(), next_delay=delay):
                    return None
                reason = "timeout" if isinstance(exc, TimeoutError) else getattr(exc, "reason", "error")
                self.metrics.retries.labels(jobs[0].receiver, jobs[0].integration, reason).inc()
                log.warning(
                    "storm digest failed, will retry",
                    extra={
                        "destination": lane,
                        "attempt": attempts,
                        "retry_in": round(delay, 3),
                        "error": str(exc),
                    },
                )
                await sleep(delay)
        thread: Ref = {**ref, DIGEST: True} if ref is not None else None
        now = self.clock.now()
        await self.store.complete_many(jobs, ref=thread, now=now)
        self._count(lane, jobs, builder, now)
        return Relieved(jobs, thread)

    async def _read(self, lane: str, after: int) -> tuple[list[Job], DigestBuilder]:
        """Every pending notification of the lane above `after`, summed up as they are read."""
        builder = DigestBuilder(top=self.config.top, after=self.config.after)
        jobs: list[Job] = []
        while True:
            page = await self.store.pending_jobs(
                lane, type="notify", after=jobs[-1].id if jobs else after, limit=PAGE
            )
            for job in page:
                builder.add(Group.model_validate_json(job.payload))
            jobs += page
            if len(page) < PAGE:
                return jobs, builder

    async def _note(self, jobs: Sequence[Job]) -> None:
        """Record the chat state of each covered group, as its own message would (so `/alerts`
        lists it, its buttons elsewhere work and its escalation is armed)."""
        if self.chat is None or not jobs or not self.chat.shows(jobs[0].integration):
            return
        latest = {j.group_key: j for j in jobs}  # one note per group, of its latest state
        await asyncio.gather(*(self.chat.noted(j) for j in latest.values()))

    def _count(self, lane: str, jobs: Sequence[Job], builder: DigestBuilder, now: float) -> None:
        receiver, integration = jobs[0].receiver, jobs[0].integration
        self.metrics.digests.labels(receiver, integration).inc()
        self.metrics.notifications.labels(receiver, integration, "digested").inc(len(jobs))
        for job in jobs:
            self.metrics.delivery_latency.labels(integration).observe(max(0.0, now - job.accepted_at))
        digest = builder.digest()
        log.warning(
            "alert storm: sent a digest instead of one message per group",
            extra={
                "destination": lane,
                "notifications": len(jobs),
                "groups": digest.groups,
                "firing": digest.fired,
                "resolved": digest.resolved,
            },
        )
