"""The `escalate` job: a durable timer (the job queue's `not_before`) on the group's own lane
(`escalate:<ref>`). When it runs it asks the core which steps of the policy are due and not yet
fired (`step_escalation`: every step's `after` counts from the group's first notification),
records each as fired, queues a `notify` of the group to each destination of that step's
receiver, queues edits of the group's messages (they show "escalated to …"), and queues the next
timer. An acknowledged, silenced or resolved group stops: no notification, no next timer.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from app.core.chatops.escalation import escalation_line, step_escalation
from app.core.clock import Clock
from app.engine.chat import ChatView
from app.engine.jobs import Outcome, Ref
from app.metrics import Metrics
from app.store.base import Job, NewJob, group_ref

log = logging.getLogger("alertmedic.escalation")


class EscalateHandler:
    def __init__(self, chat: ChatView, *, metrics: Metrics, clock: Clock) -> None:
        self.chat = chat
        self.metrics = metrics
        self.clock = clock

    async def wait(self, job: Job, now: float) -> float:
        return 0.0

    async def run(self, job: Job, ref: Ref) -> Ref:
        store, now = self.chat.store, self.clock.now()
        name = str(json.loads(job.payload).get("policy", ""))
        policy = self.chat.policies.get(name)
        group = await store.chat_group(group_ref(job.group_key))
        if policy is None or group is None:
            log.warning("escalation dropped", extra={"group_key": job.group_key, "policy": name})
            return None
        silenced = group.silence_until is not None and group.silence_until > now
        decision = step_escalation(
            policy,
            first_notified_at=datetime.fromtimestamp(group.first_notified_at, UTC),
            fired=len(group.escalations),
            stopped=group.resolved or group.ack_by is not None or silenced,
            now=datetime.fromtimestamp(now, UTC),
        )
        jobs: list[NewJob] = []
        for step in decision.notify:
            await store.chat_escalated(group.ref, receiver=step.receiver, at=now)
            log.warning(escalation_line(step), extra={"group_key": job.group_key, "policy": name})
            for d in [d for d in self.chat.destinations.values() if d.receiver == step.receiver]:
                jobs.append(
                    NewJob(
                        type="notify",
                        lane=d.id,
                        payload=group.payload,
                        not_before=now,
                        group_key=job.group_key,
                        kind="new",
                        receiver=d.receiver,
                        integration=d.integration,
                    )
                )
                self.metrics.notifications.labels(d.receiver, d.integration, "enqueued").inc()
        if decision.next_at is not None:
            jobs.append(
                NewJob(
                    type="escalate",
                    lane=job.lane,
                    payload=job.payload,
                    not_before=decision.next_at.timestamp(),
                    group_key=job.group_key,
                )
            )
        await self.chat.enqueue(jobs)
        if decision.notify:
            await self.chat.show(job.group_key)
        return None

    def finished(self, job: Job, outcome: Outcome, now: float) -> None:
        if outcome == "dead":
            log.error("escalation timer given up", extra={"group_key": job.group_key})
