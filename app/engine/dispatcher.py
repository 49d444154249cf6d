"""Job dispatcher: one lane per ordering key claims its jobs under a lease and works them in order.

A lane (a destination for notify jobs) claims its next jobs from the store, leasing the lane to
this process (`owner`), waits for each job's `not_before`, lets the job's handler wait for rate
limits, runs it and records the outcome. Leases are renewed by a heartbeat; a lane another process
holds gives this one nothing until that lease ends, so with several processes a job is worked by
exactly one of them. A lane runs one job at a time, unless it allows `max_in_flight` > 1
(webhooks), where jobs of different alert groups overlap and each group's jobs still go in order.

Failures are retried with the policy of app.core.retry (exponential backoff with jitter, provider
`retry_after` honoured, permanent errors never retried, dead letter past the horizon); each retry
is recorded first, so a restart resumes where the process stopped. Outcomes are recorded while
the lane goes on, up to MAX_PENDING_RECORDS at a time; an outcome the store cannot take (a full
disk) is kept and retried, and the lane holds until the store takes it: a job is never run again
because its record failed. Every sleep is on the injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.core.clock import Clock
from app.core.errors import PermanentError, RetryableError
from app.core.plan import Destination
from app.core.ratelimit import Limiter
from app.core.retry import RetryPolicy
from app.engine.chat import ChatView
from app.engine.clock import SYSTEM_CLOCK
from app.engine.enrich import GroupEnrichment
from app.engine.incidents import retried
from app.engine.jobs import JobHandler, Ref, build_handlers
from app.metrics import Metrics
from app.sinks.base import Sink
from app.store.base import Job, Store, StoreUnavailable

if TYPE_CHECKING:
    from app.engine.remediation import Remediator

log = logging.getLogger("alertmedic.dispatcher")

MAX_PENDING_RECORDS = 64
"""Outcomes a lane may have on their way to the store while it works on. A crash can repeat at
most these jobs (at-least-once); it can never lose one."""
LEASE = 10.0
"""Seconds a claim lasts; renewed every LEASE / 3. After kill -9 another (or the restarted)
process takes the lane's jobs over once this has passed."""
POLL = 1.0
"""Seconds between claims of an idle lane (jobs enqueued by another process, expired leases)."""
RECORD_RETRY_MAX = 30.0
"""Cap of the backoff between attempts to record an outcome the store refused."""


class _Stopping(Exception):
    """Raised out of a sleep when the dispatcher is stopping."""


@dataclass
class Lane:
    key: str
    max_in_flight: int = 1
    records: deque[asyncio.Task[None]] = field(default_factory=deque)
    """Outcomes on their way to the store, oldest first."""
    refused: int = 0
    """Records the store refused and that are being retried: the lane holds while > 0."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the lane must stop: the dispatcher stops, or a reload removed its destination."""
    sends: set[asyncio.Future[None]] = field(default_factory=set)
    """One future per handler run in progress, done when the run returns."""
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Reconfigured:
    """What `Dispatcher.reconfigure` changed; `finish()` completes it."""

    added: list[str]
    removed: list[str]
    restarted: list[str]
    """Lanes started again because their `max_in_flight` changed."""
    replaced: dict[str, Sink]
    """The sinks the new ones replaced (removed destinations' included): close them after
    `finish()`, which waits for their sends in progress."""
    sends: list[asyncio.Future[None]]
    """Runs of kept lanes in progress at the switch (they may use a replaced sink)."""


def default_owner() -> str:
    """A worker id unique to this process: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """Runs the lanes. `notify(lane)` after a commit wakes that lane."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        destinations: Mapping[str, Destination],
        *,
        metrics: Metrics,
        policy: RetryPolicy,
        send_timeout: float,
        clock: Clock = SYSTEM_CLOCK,
        batch: int = 100,
        owner: str | None = None,
        lease: float = LEASE,
        handlers: Mapping[str, JobHandler] | None = None,
        enrichment: GroupEnrichment | None = None,
        remediator: Remediator | None = None,
        chat: ChatView | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.policy = policy
        self.clock = clock
        self.batch = batch
        self.owner = owner or default_owner()
        self.lease = lease
        self.limiter = Limiter()
        self.sinks: dict[str, Sink] = dict(sinks)
        """Destination id -> Sink, replaced in place by `reconfigure` (the notify handler reads it)."""
        self.handlers = dict(
            handlers
            if handlers is not None
            else build_handlers(
                sinks=self.sinks,
                limiter=self.limiter,
                metrics=metrics,
                clock=clock,
                send_timeout=send_timeout,
                enrichment=enrichment,
                remediator=remediator,
                chat=chat,
            )
        )
        if remediator is not None:
            remediator.wake = self.ensure_lane
        self.lanes = {d: Lane(d, destinations[d].max_in_flight) for d in sinks}
        self._destinations = set(sinks)
        """The lanes that are destinations (the others come from `ensure_lane`)."""
        self._leaving: dict[str, Lane] = {}
        """Lanes told to stop by `reconfigure` and not yet stopped."""
        self.problem: str | None = None
        """Why outcomes cannot be recorded now (the store refuses writes), else None."""
        self._depth = 0
        self._stopping = asyncio.Event()
        self._started = False
        self._heartbeat: asyncio.Task[None] | None = None
        self._unchecked = False
        """The start could not dead-letter jobs of removed destinations (the store was away)."""

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Dead-letter notify jobs of destinations no longer configured, then start every lane.
        A store not reachable yet (PostgreSQL starting) delays that to the heartbeat that finds it
        answering: the destination lanes start now and wait for it."""
        pending: set[str] = set()
        try:
            await self.dead_letter_unconfigured()
            pending = await self.store.pending_lanes()  # e.g. remediation targets, timers
            self._set_depth(await self.store.pending_count())
        except StoreUnavailable as exc:
            log.warning("store not available at start; lanes wait for it", extra={"error": str(exc)})
            self._unchecked = True
        self._started = True
        for key in pending:
            self.lanes.setdefault(key, Lane(key))
        for lane in self.lanes.values():
            self._start_lane(lane)
        self.metrics.workers.set(len(self.lanes))
        self._heartbeat = asyncio.create_task(self._beat(), name="lease heartbeat")

    def ensure_lane(self, key: str, *, max_in_flight: int = 1) -> None:
        """A lane for `key` (e.g. a remediation target), started now if the dispatcher runs."""
        if key not in self.lanes:
            lane = self.lanes[key] = Lane(key, max_in_flight)
            if self._started and not self._stopping.is_set():
                self._start_lane(lane)
                self.metrics.workers.set(len(self.lanes))
        self.notify(key)

    def _start_lane(self, lane: Lane, *, after: asyncio.Task[None] | None = None) -> None:
        lane.task = asyncio.create_task(self._run(lane, after), name=f"lane {lane.key}")

    async def dead_letter_unconfigured(self) -> int:
        """Dead-letter the pending notify jobs of destinations not configured (any more); return
        how many. `alertmedic outbox requeue` gives them another try once the receiver is back."""
        total = 0
        for d in await self.store.dead_lanes(
            type="notify",
            keep=self._destinations,
            reason="destination no longer configured",
            now=self.clock.now(),
        ):
            total += d.count
            self.metrics.dead_letters.labels(d.receiver, d.integration, "unconfigured").inc(d.count)
            log.error(
                "dead-lettered notifications of a removed destination",
                extra={"destination": d.lane, "count": d.count},
            )
        if self._started:
            self._set_depth(self._depth - total)
        return total

    def reconfigure(self, sinks: Mapping[str, Sink], destinations: Mapping[str, Destination]) -> Reconfigured:
        """Switch to a new set of destinations at once (no await: nothing runs in between).

        Lanes of new destinations start; lanes of kept destinations go on, their next runs
        using the new sink while runs in progress finish with the old one; lanes of removed
        destinations (and of those whose `max_in_flight` changed) are told to stop after the
        run in progress. `finish()` waits for those lanes; then dead-letter with
        `dead_letter_unconfigured`, and close `replaced` once `change.sends` are done.
        """
        old = self._destinations
        new = set(sinks)
        added = sorted(new - old)
        removed = sorted(old - new)
        restarted = sorted(
            d
            for d in new & old
            if d in self.lanes and self.lanes[d].max_in_flight != destinations[d].max_in_flight
        )
        replaced = {d: self.sinks[d] for d in sorted(old) if d in self.sinks}
        sends = [f for lane in self.lanes.values() if lane.key in replaced for f in lane.sends]
        for key in (*removed, *restarted):
            lane = self._leaving[key] = self.lanes.pop(key)
            lane.stop.set()
            lane.wake.set()
        # removed destinations keep their old sink until their lane has stopped (see finish)
        self.sinks.update(sinks)
        self._destinations = new
        for key in (*added, *restarted):
            lane = self.lanes[key] = Lane(key, destinations[key].max_in_flight)
            if self._started and not self._stopping.is_set():
                # a restarted lane begins once its predecessor has stopped: two lanes of one key
                # in one process would both claim the job in progress
                before = self._leaving[key].task if key in self._leaving else None
                self._start_lane(lane, after=before)
        self.metrics.workers.set(len(self.lanes))
        return Reconfigured(added, removed, restarted, replaced, sends)

    async def finish(self, change: Reconfigured) -> None:
        """Wait until the lanes `change` told to stop have stopped (their send in progress
        returned, their outcomes recorded); then forget the removed destinations' sinks."""
        leaving = [self._leaving[k] for k in (*change.removed, *change.restarted) if k in self._leaving]
        tasks = [lane.task for lane in leaving if lane.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        for lane in leaving:
            if self._leaving.get(lane.key) is lane:
                del self._leaving[lane.key]
        for key in change.removed:
            if key not in self._destinations:
                self.sinks.pop(key, None)

    @property
    def running(self) -> bool:
        return not self._stopping.is_set() and all(
            lane.task is not None and not lane.task.done() for lane in self.lanes.values()
        )

    def notify(self, lane: str) -> None:
        if (found := self.lanes.get(lane)) is not None:
            found.wake.set()

    def enqueued(self, count: int) -> None:
        """`count` jobs were committed (the outbox depth gauge)."""
        self._set_depth(self._depth + count)

    def _set_depth(self, depth: int) -> None:
        self._depth = max(0, depth)
        self.metrics.outbox_depth.set(self._depth)

    async def stop(self, timeout: float) -> None:
        """Finish in-flight jobs within `timeout`; everything else stays queued, released."""
        self._stopping.set()
        for lane in (*self.lanes.values(), *self._leaving.values()):
            lane.stop.set()
            lane.wake.set()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        lanes = (*self.lanes.values(), *self._leaving.values())
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending)
                log.warning(
                    "stopped with jobs still in flight; they stay queued", extra={"count": len(pending)}
                )
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(self.owner)
        self.metrics.workers.set(0)

    async def _beat(self) -> None:
        """Renew this process's leases; resynchronise the depth gauge with the store; start lanes
        for jobs another process (or the CLI, e.g. an approval) enqueued on lanes unknown here."""
        failing = False
        while True:
            await self.clock.sleep(self.lease / 3)
            try:
                if self._unchecked:
                    await self.dead_letter_unconfigured()
                    self._unchecked = False
                await self.store.renew(self.owner, until=self.clock.now() + self.lease)
                self._set_depth(await self.store.pending_count())
                for key in await self.store.pending_lanes() - self.lanes.keys():
                    self.ensure_lane(key)
            except StoreUnavailable as exc:
                if not failing:  # once per streak: a full disk must not fill the log too
                    log.warning("cannot renew lane leases", extra={"error": str(exc)})
                failing = True
            else:
                failing = False

    # --- a lane ----------------------------------------------------------------------------

    async def _run(self, lane: Lane, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            await asyncio.wait([after])
        try:
            while not lane.stop.is_set():
                try:
                    if lane.max_in_flight == 1:
                        await self._run_in_order(lane)
                    else:
                        await self._run_concurrently(lane)
                except _Stopping:
                    return
                except Exception as exc:
                    # The store failed (or a bug): keep the lane alive, claim again once every
                    # outcome it holds is recorded (so nothing it finished is claimed back).
                    if isinstance(exc, StoreUnavailable):
                        log.error(
                            "lane paused: the store refuses",
                            extra={"destination": lane.key, "error": str(exc)},
                        )
                    else:
                        log.exception("lane error", extra={"destination": lane.key, "error": str(exc)})
                    try:
                        await self._settle(lane)
                        await self._sleep(1.0, lane.stop)
                    except _Stopping:
                        return
        finally:
            with contextlib.suppress(Exception, _Stopping):
                await self._settle(lane)

    async def _claim(self, lane: Lane, after: int) -> list[Job]:
        return await self.store.claim(
            lane.key, owner=self.owner, now=self.clock.now(), lease=self.lease, limit=self.batch, after=after
        )

    async def _idle(self, lane: Lane) -> None:
        """Wait for a wake-up, the next poll, or the stop."""
        waits = [
            asyncio.ensure_future(lane.wake.wait()),
            asyncio.ensure_future(self.clock.sleep(POLL)),
            asyncio.ensure_future(lane.stop.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _run_in_order(self, lane: Lane) -> None:
        """One job at a time, strictly in id order."""
        refs: dict[str, Ref] = {}
        cursor = 0
        while not lane.stop.is_set():
            lane.wake.clear()
            jobs = await self._claim(lane, cursor)
            if not jobs:
                # Claim from the start next time (that claim frees the lane if it is empty),
                # once the store has every outcome and so the refs: drop ours.
                await self._settle(lane)
                refs.clear()
                cursor = 0
                await self._idle(lane)
                continue
            for job in jobs:
                if lane.stop.is_set():
                    return
                if lane.refused:
                    await self._settle(lane)
                refs[job.group_key] = await self._work(lane, job, refs.get(job.group_key, job.message_ref))
                cursor = job.id

    async def _run_concurrently(self, lane: Lane) -> None:
        """Up to `max_in_flight` jobs at once, started in id order; the jobs of one alert group
        still go one after the other. Jobs are claimed past a cursor, so new ones start as soon
        as a slot frees, without waiting for slower jobs of other groups."""
        slots = asyncio.Semaphore(lane.max_in_flight)
        last: dict[str, asyncio.Task[None]] = {}
        refs: dict[str, Ref] = {}
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
                failures.append(exc)  # the lane starts over, cursor reset
                lane.wake.set()

        async def one(job: Job, before: asyncio.Task[None] | None) -> None:
            try:
                if before is not None:
                    await asyncio.wait([before])
                refs[job.group_key] = await self._work(lane, job, refs.get(job.group_key, job.message_ref))
            finally:
                slots.release()
                if last.get(job.group_key) is asyncio.current_task():
                    del last[job.group_key]
                    refs.pop(job.group_key, None)

        try:
            while not lane.stop.is_set():
                if failures:
                    raise failures[0]
                lane.wake.clear()
                jobs = await self._claim(lane, cursor)
                if not jobs:
                    if not tasks:
                        await self._settle(lane)
                        cursor = 0  # from the start next time: that claim frees an empty lane
                    await self._idle(lane)
                    continue
                for job in jobs:
                    await slots.acquire()
                    if lane.stop.is_set():
                        slots.release()
                        return
                    if lane.refused:
                        await self._settle(lane)
                    task = asyncio.create_task(one(job, last.get(job.group_key)))
                    last[job.group_key] = task
                    tasks.add(task)
                    task.add_done_callback(finished)
                    cursor = job.id
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            raise
        finally:
            # Jobs in flight finish (or are cancelled with the lane); the rest stay queued.
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep on the clock, or raise _Stopping as soon as `stop` is set (the lane's, or the
        dispatcher's)."""
        if stop.is_set():
            raise _Stopping
        if seconds <= 0:
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        if stop.is_set():
            raise _Stopping

    async def _work(self, lane: Lane, job: Job, ref: Ref) -> Ref:
        """Run one job until it succeeds or is dead-lettered; queue the record of its outcome.

        Returns the thread's message reference after this job.
        """
        handler = self.handlers.get(job.type)
        if handler is None:
            # Enqueued by a newer version, or a type whose part is not running: it stays queued,
            # and the lane holds (its order is kept) until a version that knows the type runs.
            log.error(
                "no handler for job type; the lane holds", extra={"destination": lane.key, "type": job.type}
            )
            await lane.stop.wait()
            raise _Stopping
        await self._sleep(job.not_before - self.clock.now(), lane.stop)
        try:
            new_ref = await self._attempts(lane, job, handler, ref)
        except _Stopping:
            raise
        except Exception as exc:
            reason = getattr(exc, "reason", "error")
            why = "permanent" if isinstance(exc, PermanentError) else "retry horizon exceeded"
            self.metrics.dead_letters.labels(job.receiver, job.integration, reason).inc()
            handler.finished(job, "dead", self.clock.now())
            log.error(
                "delivery dead-lettered",
                extra={
                    "destination": lane.key,
                    "group_key": job.group_key,
                    "reason": reason,
                    "error": f"{why}: {exc}",
                },
            )
            now, text = self.clock.now(), f"{why}: {exc}"
            await self._record(lane, job, lambda: self.store.dead(job.id, reason=text, now=now))
            return ref
        now = self.clock.now()
        handler.finished(job, "done", now)
        await self._record(lane, job, lambda: self.store.complete(job, ref=new_ref, now=now))
        return new_ref if new_ref is not None else ref

    async def _attempts(self, lane: Lane, job: Job, handler: JobHandler, ref: Ref) -> Ref:
        """Attempts until one succeeds; raises the last error when giving up."""
        attempts = job.attempts
        while True:
            while (wait := handler.wait(job, self.clock.now())) > 0:
                await self._sleep(wait, lane.stop)
            try:
                return await self._send(lane, handler.run(job, ref))
            except (_Stopping, PermanentError, asyncio.CancelledError):
                raise
            except Exception as exc:
                attempts += 1
                retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
                delay = self.policy.delay(attempts, retry_after=retry_after)
                now = self.clock.now()
                if self.policy.gives_up(accepted_at=job.accepted_at, now=now, next_delay=delay):
                    raise
                reason = getattr(exc, "reason", type(exc).__name__)
                self.metrics.retries.labels(job.receiver, job.integration, reason).inc()
                log.warning(
                    "delivery failed, will retry",
                    extra={
                        "destination": job.lane,
                        "group_key": job.group_key,
                        "attempt": attempts,
                        "retry_in": round(delay, 3),
                        "error": str(exc),
                        "reason": reason,
                    },
                )
                try:
                    await self.store.retry(job.id, attempts=attempts, not_before=now + delay, error=str(exc))
                    if job.type == "notify":
                        event = retried(job, exc, attempts, delay, now)
                        await self.store.incident_event(job.group_key, event)
                except StoreUnavailable as err:  # the retry still happens; only its record is lost
                    log.error("cannot record a retry", extra={"destination": job.lane, "error": str(err)})
                await self._sleep(delay, lane.stop)

    @staticmethod
    async def _send(lane: Lane, run: Awaitable[Ref]) -> Ref:
        """Run a handler, known to the lane while it runs (a reload closes a replaced sink only
        once the runs that may use it have returned)."""
        done = asyncio.get_running_loop().create_future()
        lane.sends.add(done)
        try:
            return await run
        finally:
            lane.sends.discard(done)
            done.set_result(None)

    # --- outcomes on their way to the store -------------------------------------------------

    async def _record(self, lane: Lane, job: Job, op: Callable[[], Awaitable[None]]) -> None:
        """Queue the record of `job`'s outcome; wait while too many are on their way."""
        lane.records.append(asyncio.create_task(self._keep_recording(lane, job, op)))
        while len(lane.records) > MAX_PENDING_RECORDS:
            await lane.records.popleft()

    async def _keep_recording(self, lane: Lane, job: Job, op: Callable[[], Awaitable[None]]) -> None:
        """Record an outcome, retrying until the store takes it. The job is never run again for
        want of its record; only a stop before the store recovers leaves it to run again."""
        delay, refused = 0.5, False
        try:
            while True:
                try:
                    await op()
                except StoreUnavailable as exc:
                    if not refused:
                        refused = True
                        lane.refused += 1
                        self.problem = f"outcomes cannot be recorded: {exc}"
                        log.error(
                            "cannot record an outcome; holding the lane until the store takes it",
                            extra={"destination": lane.key, "group_key": job.group_key, "error": str(exc)},
                        )
                    try:
                        await self._sleep(delay, self._stopping)
                    except _Stopping:
                        log.error(
                            "stopped before the store took an outcome; the job may run again after a restart",
                            extra={"destination": lane.key, "group_key": job.group_key},
                        )
                        return
                    delay = min(delay * 2, RECORD_RETRY_MAX)
                    continue
                self._set_depth(self._depth - 1)
                if refused:
                    log.warning(
                        "outcome recorded after all",
                        extra={"destination": lane.key, "group_key": job.group_key},
                    )
                return
        finally:
            if refused:
                lane.refused -= 1
                if not any(o.refused for o in (*self.lanes.values(), *self._leaving.values())):
                    self.problem = None

    async def _settle(self, lane: Lane) -> None:
        """Wait until every outcome of the lane is recorded (or the dispatcher stops)."""
        while lane.records:
            task = lane.records[0]
            try:
                await task
            finally:
                if lane.records and lane.records[0] is task:
                    lane.records.popleft()
