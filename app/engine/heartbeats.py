"""The dead-man's switch in the engine: `Heartbeats.seen` after each accepted webhook, `arm` at
start-up and reload, and the `heartbeat` job (the timer, on the job queue's `not_before`).

The timer of a heartbeat runs at its deadline on the lane `heartbeat:<name>`. If no matching
webhook came since it was set, the store moves the heartbeat to alarmed (once, whichever replica
runs the timer) and queues the alarm as `notify` jobs to every destination of the heartbeat's
receiver; otherwise it queues the next timer at the new deadline. A matching webhook on an
alarmed heartbeat queues the recovery the same way (an `update` of the alarm's thread). The
messages are an alert group of our own (app.core.heartbeats.heartbeat_group).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.clock import Clock
from app.core.heartbeats import Heartbeat, alarm_text, heartbeat_group, seen_by
from app.core.models import WebhookMessage
from app.core.plan import Destination
from app.engine.jobs import Outcome, Ref
from app.metrics import Metrics
from app.store.base import Job, NewJob, Store
from app.store.heartbeats import HeartbeatChange, HeartbeatState

log = logging.getLogger("alertmedic.heartbeat")


@dataclass(frozen=True)
class Reload:
    """What `Heartbeats.reconfigure` changed."""

    added: list[str]
    removed: list[str]
    restart_required: list[str]


class Heartbeats:
    """The configured heartbeats (a reload replaces `specs` and `destinations`) and their state."""

    def __init__(
        self,
        store: Store,
        specs: Iterable[Heartbeat],
        destinations: Mapping[str, Destination],
        *,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.store = store
        self.specs = {hb.name: hb for hb in specs}
        self.destinations = destinations
        self.metrics = metrics
        self.clock = clock
        self.wake: Callable[[str], None] = lambda lane: None
        """Starts or wakes a lane jobs were queued on (the dispatcher's `ensure_lane`)."""

    def reconfigure(self, new: Iterable[Heartbeat], destinations: Mapping[str, Destination]) -> Reload:
        """Switch to a reloaded configuration's heartbeats (no await). Receivers and matchers
        apply at once; a removed heartbeat's timer ends when it next runs; an added one needs
        `arm(reload.added)`. A changed timeout applies at the next start (a timer already waiting
        on this process's lane would still run at the old deadline): the old one stays."""
        old, specs = self.specs, {hb.name: hb for hb in new}
        restart = []
        for name, hb in specs.items():
            if name in old and old[name].timeout != hb.timeout:
                restart.append(f"heartbeats.{name}.timeout")
                specs[name] = dataclasses.replace(hb, timeout=old[name].timeout)
        removed = sorted(old.keys() - specs.keys())
        for name in removed:
            with contextlib.suppress(KeyError):
                self.metrics.heartbeat_last_seen.remove(name)
        self.specs, self.destinations = specs, destinations
        return Reload(sorted(specs.keys() - old.keys()), removed, restart)

    async def arm(self, names: Iterable[str] | None = None) -> None:
        """Make sure each heartbeat (all by default) has its state and timer (start-up, reload)."""
        for name in self.specs if names is None else names:
            hb = self.specs[name]
            change = await self.store.heartbeat_arm(name, timeout=hb.timeout, now=self.clock.now())
            self._show(change)
            self._wake(change)
            if change.event != "unchanged":
                log.info(
                    "heartbeat armed",
                    extra={"heartbeat": name, "event": change.event, "deadline": _deadline(change)},
                )

    async def seen(self, msg: WebhookMessage) -> None:
        """Record the heartbeats `msg` proves alive (a repeat counts too); queue recoveries."""
        names = seen_by(self.specs.values(), msg.alerts)
        if not names:
            return
        now = self.clock.now()
        specs = dict(self.specs)

        def recovery(row: HeartbeatState) -> Sequence[NewJob]:
            hb = specs[row.name]
            alarmed_at = row.alarmed_at if row.alarmed_at is not None else now
            group = heartbeat_group(hb, alarmed_at=alarmed_at, last_seen=row.last_seen, recovered_at=now)
            return self._notify(hb, group.model_dump_json(), kind="update", now=now)

        changes = await self.store.heartbeat_seen(names, now=now, recovery=recovery)
        if missing := [name for name, c in zip(names, changes, strict=True) if c.state is None]:
            await self.arm(missing)  # its arming failed at a reload: watched from now on
        for change in changes:
            self._show(change)
            self._wake(change)
            if change.event == "recovered" and change.state is not None:
                self.metrics.heartbeat_alarms.labels(change.state.name, "recovered").inc()
                self._sent(specs[change.state.name], change)
                log.warning("heartbeat is back", extra={"heartbeat": change.state.name})

    async def due(self, job: Job) -> None:
        """The timer `job` ran: alarm once if the deadline has passed, else re-arm."""
        name = str(json.loads(job.payload).get("name", ""))
        hb = self.specs.get(name)
        if hb is None:  # removed from the configuration: its timer stops here
            log.info("timer of a heartbeat no longer configured dropped", extra={"heartbeat": name})
            return
        now = self.clock.now()

        def alarm(row: HeartbeatState) -> Sequence[NewJob]:
            group = heartbeat_group(hb, alarmed_at=now, last_seen=row.last_seen)
            return self._notify(hb, group.model_dump_json(), kind="new", now=now)

        change = await self.store.heartbeat_due(name, job_id=job.id, now=now, alarm=alarm)
        self._show(change)
        self._wake(change)
        if change.event == "alarmed":
            self.metrics.heartbeat_alarms.labels(name, "alarmed").inc()
            self._sent(hb, change)
            log.error(
                alarm_text(hb),
                extra={"heartbeat": name, "receiver": hb.receiver, "notifications": len(change.jobs)},
            )

    def _notify(self, hb: Heartbeat, payload: str, *, kind: str, now: float) -> list[NewJob]:
        """The alarm's or the recovery's notify jobs (built inside the store's transaction, on
        its thread: nothing here but building)."""
        return [
            NewJob(
                type="notify",
                lane=d.id,
                payload=payload,
                not_before=now,
                group_key=hb.group_key,
                kind=kind,
                receiver=d.receiver,
                integration=d.integration,
            )
            for d in self.destinations.values()
            if d.receiver == hb.receiver
        ]

    def _sent(self, hb: Heartbeat, change: HeartbeatChange) -> None:
        """Count the notifications `change` queued; say so when there are none."""
        sent = [self.destinations[lane] for lane, _ in change.jobs if lane in self.destinations]
        for d in sent:
            self.metrics.notifications.labels(d.receiver, d.integration, "enqueued").inc()
        if not sent:
            log.error(
                "heartbeat receiver has no destinations: nobody hears of it",
                extra={"heartbeat": hb.name, "receiver": hb.receiver},
            )

    def _show(self, change: HeartbeatChange) -> None:
        row = change.state
        if row is not None and row.last_seen is not None:
            self.metrics.heartbeat_last_seen.labels(row.name).set(row.last_seen)

    def _wake(self, change: HeartbeatChange) -> None:
        for lane in dict.fromkeys(lane for lane, _ in change.jobs):
            self.wake(lane)


def _deadline(change: HeartbeatChange) -> str:
    return "" if change.state is None else datetime.fromtimestamp(change.state.deadline, UTC).isoformat()


class HeartbeatHandler:
    """The `heartbeat` job: a heartbeat's timer."""

    def __init__(self, heartbeats: Heartbeats) -> None:
        self.heartbeats = heartbeats

    async def wait(self, job: Job, now: float) -> float:
        return 0.0

    async def run(self, job: Job, ref: Ref) -> Ref:
        await self.heartbeats.due(job)
        return None

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        if outcome == "dead":
            # the next matching webhook or start-up arms a new timer (app.store.heartbeats)
            log.error("heartbeat timer given up", extra={"lane": job.lane})
