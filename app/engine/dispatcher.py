"""Outbox dispatcher: one lane per destination delivers its pending rows in acceptance order.

A lane reads its pending rows from the store, waits for the provider's rate limit, sends through
the destination's sink and records the outcome. A lane sends one row at a time, unless its
destination allows `max_in_flight` > 1 (webhooks), where rows of different alert groups overlap
and each group's rows still go in order. Failures are retried by tenacity with the
policy of app.core.retry (exponential backoff with jitter, provider `retry_after` honoured,
permanent errors never retried, dead letter past the horizon); each retry is persisted first, so a
restart resumes where the process stopped. Lanes are independent: one slow or dead provider only
delays its own destination.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_not_exception_type

from app.core.errors import PermanentError, RetryableError
from app.core.plan import Destination
from app.core.ratelimit import Limiter
from app.core.retry import RetryPolicy
from app.metrics import Metrics
from app.sinks.base import Delivery, Sink
from app.store.base import OutboxRow, Store, StoreUnavailable

log = logging.getLogger("alertmedic.dispatcher")

Clock = Callable[[], float]

MAX_PENDING_MARKS = 64
"""Delivery records a lane may have in the store's queue while it sends on. A crash can repeat
at most these deliveries (at-least-once); it can never lose one."""


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class _Stopping(Exception):
    """Raised out of a retry sleep when the dispatcher is stopping."""


@dataclass
class Lane:
    destination: Destination
    sink: Sink
    marks: deque[Awaitable[None]] = field(default_factory=deque)
    """Delivery records queued to the store and not yet confirmed committed."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Dispatcher:
    """Runs the lanes. `notify(dest)` after a commit wakes that destination's lane."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        destinations: Mapping[str, Destination],
        *,
        metrics: Metrics,
        policy: RetryPolicy,
        send_timeout: float,
        clock: Clock = time.time,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.policy = policy
        self.send_timeout = send_timeout
        self.clock = clock
        self.batch = batch
        self.limiter = Limiter()
        self.lanes = {d: Lane(destinations[d], s) for d, s in sinks.items()}
        self._stopping = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Dead-letter rows of destinations no longer configured, then start every lane."""
        for dest in await self.store.pending_destinations() - set(self.lanes):
            count = await self.store.mark_dead_destination(
                dest, reason="destination no longer configured", now=self.clock()
            )
            receiver, _, rest = dest.partition("/")
            integration = rest.split("[", 1)[0]
            self.metrics.dead_letters.labels(receiver, integration, "unconfigured").inc(count)
            log.error(
                "dead-lettered notifications of a removed destination",
                extra={"destination": dest, "count": count},
            )
        for lane in self.lanes.values():
            lane.task = asyncio.create_task(self._run(lane), name=f"lane {lane.destination.id}")
        self.metrics.workers.set(len(self.lanes))
        self.metrics.outbox_depth.set(await self.store.pending_count())

    @property
    def running(self) -> bool:
        return not self._stopping.is_set() and all(
            lane.task is not None and not lane.task.done() for lane in self.lanes.values()
        )

    def notify(self, destination: str) -> None:
        lane = self.lanes.get(destination)
        if lane is not None:
            lane.wake.set()

    async def stop(self, timeout: float) -> None:
        """Finish in-flight sends within `timeout`; everything else stays in the outbox."""
        self._stopping.set()
        for lane in self.lanes.values():
            lane.wake.set()
        tasks = [lane.task for lane in self.lanes.values() if lane.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning(
                "stopped with sends still in flight; they stay in the outbox", extra={"count": len(pending)}
            )
        self.metrics.workers.set(0)

    # --- a lane ----------------------------------------------------------------------------

    async def _run(self, lane: Lane) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    if lane.destination.max_in_flight == 1:
                        await self._run_in_order(lane)
                    else:
                        await self._run_concurrently(lane)
                except _Stopping:
                    return
                except Exception as exc:
                    # The store failed (or a bug): keep the lane alive, re-read from the outbox.
                    log.exception(
                        "delivery lane error", extra={"destination": lane.destination.id, "error": str(exc)}
                    )
                    while lane.marks:  # their failures are this error; retrieve, don't raise
                        mark = lane.marks.popleft()
                        if isinstance(mark, asyncio.Future):
                            mark.add_done_callback(_consume)
                    try:
                        await self._sleep(1.0)
                    except _Stopping:
                        return
        finally:
            with contextlib.suppress(Exception):
                await self._flush_marks(lane)

    async def _run_in_order(self, lane: Lane) -> None:
        """One row at a time, strictly in acceptance order."""
        refs: dict[str, dict[str, Any] | None] = {}
        while not self._stopping.is_set():
            lane.wake.clear()
            rows = await self.store.next_batch(lane.destination.id, limit=self.batch)
            if not rows:
                refs.clear()
                await self._flush_marks(lane)
                await lane.wake.wait()
                continue
            for row in rows:
                if self._stopping.is_set():
                    return
                refs[row.group_key] = await self._deliver(lane, row, refs.get(row.group_key, row.message_ref))

    async def _run_concurrently(self, lane: Lane) -> None:
        """Up to `max_in_flight` rows at once, started in acceptance order; the rows of one alert
        group still go one after the other. Rows are read past a cursor, so new ones start as
        soon as a slot frees, without waiting for slower rows of other groups."""
        slots = asyncio.Semaphore(lane.destination.max_in_flight)
        last: dict[str, asyncio.Task[None]] = {}
        refs: dict[str, dict[str, Any] | None] = {}
        tasks: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []
        cursor = 0

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if (
                not task.cancelled()
                and (exc := task.exception()) is not None
                and not isinstance(exc, _Stopping)
            ):
                failures.append(exc)  # the lane restarts from the outbox, cursor reset
                lane.wake.set()

        async def one(row: OutboxRow, before: asyncio.Task[None] | None) -> None:
            try:
                if before is not None:
                    await asyncio.wait([before])
                refs[row.group_key] = await self._deliver(lane, row, refs.get(row.group_key, row.message_ref))
            finally:
                slots.release()
                if last.get(row.group_key) is asyncio.current_task():
                    del last[row.group_key]
                    refs.pop(row.group_key, None)

        try:
            while not self._stopping.is_set():
                if failures:
                    raise failures[0]
                lane.wake.clear()
                rows = await self.store.next_batch(lane.destination.id, limit=self.batch, after=cursor)
                if not rows:
                    if not tasks:
                        await self._flush_marks(lane)
                    await lane.wake.wait()
                    continue
                for row in rows:
                    await slots.acquire()
                    if self._stopping.is_set():
                        slots.release()
                        return
                    task = asyncio.create_task(one(row, last.get(row.group_key)))
                    last[row.group_key] = task
                    tasks.add(task)
                    task.add_done_callback(finished)
                    cursor = row.id
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise
        finally:
            # Rows still in flight finish (or are cancelled with the lane); the rest stay pending.
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or raise _Stopping as soon as the dispatcher stops."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return
        raise _Stopping

    async def _deliver(
        self, lane: Lane, row: OutboxRow, previous: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """Deliver one row until it succeeds, is dead-lettered, or the dispatcher stops.

        Returns the thread's message reference after this row.
        """
        dest = lane.destination
        labels = (dest.receiver, dest.integration)
        await self._sleep(row.next_attempt_at - self.clock())
        delivery = Delivery(
            dest.id,
            "new" if row.kind == "new" else "update",
            row.payload,
            previous,
        )

        try:
            try:  # the common case, without the retry machinery
                ref = await self._attempt(lane, delivery)
            except (_Stopping, PermanentError):
                raise
            except Exception as first:
                ref = await self._retry(lane, row, delivery, first)
        except _Stopping:
            raise
        except Exception as exc:
            await self._dead_letter(lane, row, exc)
            return previous
        now = self.clock()
        self.metrics.delivery_latency.labels(dest.integration).observe(max(0.0, now - row.accepted_at))
        self.metrics.notifications.labels(*labels, "delivered").inc()
        self.metrics.outbox_depth.dec()
        log.info(
            "delivered",
            extra={
                "destination": dest.id,
                "group_key": row.group_key,
                "kind": row.kind,
                "latency": round(now - row.accepted_at, 4),
            },
        )
        lane.marks.append(self.store.mark_delivered(row, ref=ref, now=now))
        while len(lane.marks) > MAX_PENDING_MARKS:
            await lane.marks.popleft()
        return ref if ref is not None else previous

    async def _flush_marks(self, lane: Lane) -> None:
        """Wait until every delivery record of the lane is committed."""
        while lane.marks:
            await lane.marks.popleft()

    async def _dead_letter(self, lane: Lane, row: OutboxRow, exc: Exception) -> None:
        dest = lane.destination
        reason = getattr(exc, "reason", "error")
        why = "permanent" if isinstance(exc, PermanentError) else "retry horizon exceeded"
        self.metrics.dead_letters.labels(dest.receiver, dest.integration, reason).inc()
        self.metrics.notifications.labels(dest.receiver, dest.integration, "dead").inc()
        self.metrics.outbox_depth.dec()
        log.error(
            "delivery dead-lettered",
            extra={
                "destination": dest.id,
                "group_key": row.group_key,
                "reason": reason,
                "error": f"{why}: {exc}",
            },
        )
        await self.store.mark_dead(row.id, reason=f"{why}: {exc}", now=self.clock())

    async def _retry(
        self, lane: Lane, row: OutboxRow, delivery: Delivery, first: BaseException
    ) -> dict[str, Any] | None:
        """After a first failed attempt: tenacity drives the retries (the first failure is
        handed to it as attempt 1, so it is not sent twice)."""
        dest = lane.destination
        labels = (dest.receiver, dest.integration)
        pending = [first]

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            return self.policy.delay(row.attempts + state.attempt_number, retry_after=retry_after)

        def stop(state: RetryCallState) -> bool:
            return self.policy.gives_up(
                accepted_at=row.accepted_at, now=self.clock(), next_delay=state.upcoming_sleep
            )

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = getattr(exc, "reason", type(exc).__name__)
            attempts = row.attempts + state.attempt_number
            self.metrics.retries.labels(*labels, reason).inc()
            if isinstance(exc, RetryableError) and exc.retry_after:
                for lim in lane.sink.rate_limits():
                    self.limiter.penalise(lim.key, self.clock() + exc.retry_after)
            log.warning(
                "delivery failed, will retry",
                extra={
                    "destination": dest.id,
                    "group_key": row.group_key,
                    "attempt": attempts,
                    "retry_in": round(state.upcoming_sleep, 3),
                    "error": str(exc),
                    "reason": reason,
                },
            )
            try:
                await self.store.mark_retry(
                    row.id,
                    attempts=attempts,
                    next_attempt_at=self.clock() + state.upcoming_sleep,
                    error=str(exc),
                )
            except StoreUnavailable as err:  # the retry still happens; only its record is lost
                log.error("cannot record a retry", extra={"destination": dest.id, "error": str(err)})

        retrying = AsyncRetrying(
            retry=retry_if_not_exception_type((PermanentError, _Stopping, asyncio.CancelledError)),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )

        async def attempt() -> dict[str, Any] | None:
            if pending:
                raise pending.pop()
            return await self._attempt(lane, delivery)

        result: dict[str, Any] | None = await retrying(attempt)
        return result

    async def _attempt(self, lane: Lane, delivery: Delivery) -> dict[str, Any] | None:
        limits = [(lim.key, lim.per_second, lim.burst) for lim in lane.sink.rate_limits()]
        while limits and (wait := self.limiter.reserve(limits, self.clock())) > 0:
            await self._sleep(wait)
        try:
            return await asyncio.wait_for(lane.sink.send(delivery), self.send_timeout)
        except TimeoutError:
            raise RetryableError(f"no answer within {self.send_timeout:g}s", reason="timeout") from None
