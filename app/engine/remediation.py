"""Self-healing in the engine: what the handlers share (`Remediator`), the intents recorded at
ingest, and the reports posted in the alert's thread.

At ingest the planner's intents become `remediations` records, each with its `remediate` job on
the lane of its target, in the transaction that accepts the webhook (app.store.remediations). The
handlers (app.engine.remediate) move a record through its states; each outcome becomes one
`report` job per destination of the alert that can reply in a thread, on that destination's lane,
after the alert's own message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from app.config.remediation import RemediationSettings
from app.core.clock import Clock
from app.core.models import WebhookMessage
from app.core.plan import Destination, Planned
from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.planner import Intent, plan
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.report import Outcome, Report, report_text
from app.core.remediation.targets import Target
from app.metrics import Metrics
from app.sinks.base import Capabilities
from app.store.base import NewJob
from app.store.remediations import NewRemediation, RemediatingStore, Remediation, remediation_lane

if TYPE_CHECKING:  # importing the kubernetes client costs 1.6 s: only when remediation is on
    from app.remediate.kube import Kube

log = logging.getLogger("alertmedic.remediation")


def intent_json(intent: Intent) -> str:
    t, r = intent.target, intent.refusal
    return json.dumps(
        {
            "action": intent.action,
            "kind": intent.kind,
            "fingerprint": intent.fingerprint,
            "episode": intent.episode,
            "target": None if t is None else [t.kind, t.namespace, t.name],
            "refusal": None if r is None else [r.guard.value, r.reason],
        }
    )


def intent_from_json(text: str) -> Intent:
    d = json.loads(text)
    t, r = d["target"], d["refusal"]
    return Intent(
        d["action"],
        d["kind"],
        d["fingerprint"],
        d["episode"],
        None if t is None else Target(t[0], t[1], t[2]),
        None if r is None else Refusal(Guard(r[0]), r[1]),
    )


def new_remediations(
    msg: WebhookMessage, plans: Sequence[Planned], specs: Sequence[ActionSpec], policy: Policy
) -> tuple[list[NewRemediation], list[str]]:
    """The intents `msg` asks for (as records to add) and the fingerprints that resolved."""
    destinations = tuple(dict.fromkeys(p.destination.id for p in plans))
    once = {s.name: s.once_until_resolved for s in specs}
    names = {a.fingerprint: a.labels.get("alertname", "") for a in msg.alerts}
    out = []
    for intent in plan(msg.alerts, specs, policy):
        target = "" if intent.target is None else intent.target.key
        dedup = f"{intent.action}|{target}|{intent.fingerprint}|{intent.episode}"
        out.append(
            NewRemediation(
                action=intent.action,
                kind=intent.kind,
                target=target,
                fingerprint=intent.fingerprint,
                episode=intent.episode,
                alertname=names.get(intent.fingerprint, ""),
                group_key=msg.groupKey,
                destinations=destinations,
                intent=intent_json(intent),
                dedup=dedup if once[intent.action] else None,
                lane=remediation_lane(target),
            )
        )
    resolved = [a.fingerprint for a in msg.alerts if a.status == "resolved"]
    return out, resolved


@dataclass
class Remediator:
    """What the remediation handlers share. `kube` is None when no client could be made (its
    `kube_problem` says why): Kubernetes actions then fail and are reported until a restart."""

    settings: RemediationSettings
    store: RemediatingStore
    destinations: Mapping[str, Destination]
    capabilities: Mapping[str, Capabilities]
    """Integration kind -> its capabilities (reports go where `replies`)."""
    metrics: Metrics
    clock: Clock
    kube: Kube | None = None
    kube_problem: str = ""
    session: aiohttp.ClientSession | None = None
    wake: Callable[[str], None] = lambda lane: None
    """Starts / wakes the lane of a job just enqueued (Dispatcher.ensure_lane)."""
    shown: frozenset[str] = frozenset()
    """Integrations whose messages show the group's chat state, approvals and outcomes (set when
    the `edit` job is registered): each outcome queues an `edit` of the alert's message there."""
    specs: dict[str, ActionSpec] = field(init=False)
    policy: Policy = field(init=False)

    def __post_init__(self) -> None:
        self.specs = {s.name: s for s in self.settings.specs()}
        self.policy = self.settings.policy()

    def http_config(self, action: str) -> Any:
        for a in self.settings.actions:
            if a.name == action:
                return a.http_config
        return None

    def reports(self, rec: Remediation, report: Report, now: float) -> list[NewJob]:
        """One `report` job per destination of the alert that replies in threads, and one `edit`
        job per destination whose message shows the outcome (`shown`): recorded in the
        outcome's transaction, so the message shows what the store holds."""
        from app.engine.chat import edit_job

        text = report_text(report)
        jobs = []
        for dest_id in rec.destinations:
            d = self.destinations.get(dest_id)
            if d is None:
                continue
            caps = self.capabilities.get(d.integration)
            if caps is not None and caps.replies:
                payload = json.dumps({"id": rec.id, "text": text, "outcome": report.outcome})
                jobs.append(
                    NewJob(
                        "report",
                        dest_id,
                        payload,
                        now,
                        group_key=rec.group_key,
                        kind="report",
                        receiver=d.receiver,
                        integration=d.integration,
                    )
                )
            if d.integration in self.shown:
                jobs.append(edit_job(dest_id, d, rec.group_key, now))
        return jobs

    def counted(self, rec: Remediation, outcome: Outcome, refusal: Refusal | None = None) -> None:
        self.metrics.remediations.labels(rec.action, rec.kind, outcome).inc()
        if refusal is not None:
            self.metrics.remediation_refusals.labels(rec.action, refusal.guard.value).inc()
        log.info(
            "remediation",
            extra={
                "id": rec.id,
                "action": rec.action,
                "target": rec.target,
                "outcome": outcome,
                "guard": refusal.guard.value if refusal else "",
            },
        )

    def woken(self, jobs: Sequence[NewJob]) -> None:
        for lane in dict.fromkeys(j.lane for j in jobs):
            self.wake(lane)
