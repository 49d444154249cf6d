"""app.engine.incidents.timeline: what other tables record, read into events (remediation states,
chat actions that changed nothing, dead letters, unreadable enrichment)."""

from __future__ import annotations

from typing import Any

from app.core.enrichment import Enrichment
from app.core.incidents import IncidentSummary, TimelineEvent
from app.engine.incidents import timeline
from app.store.base import ChatAudit
from app.store.incidents import Delivery, IncidentFacts
from app.store.remediations import Remediation

T = 1_800_000_000.0


def rec(rid: int, state: str, **kw: Any) -> Remediation:
    base: dict[str, Any] = {
        "id": rid,
        "action": "restart",
        "kind": "rollout_restart",
        "target": "Deployment/prod/api",
        "fingerprint": "f",
        "alertname": "A",
        "group_key": "g",
        "destinations": (),
        "intent": "{}",
        "state": state,
        "job_id": None,
        "claims": [],
        "pinned": None,
        "acted": None,
        "guard": "",
        "reason": "",
        "actor": "",
        "created_at": T,
        "updated_at": T + 50,
        "expires_at": None,
        "acted_at": None,
    }
    return Remediation(**{**base, **kw})


def facts(**kw: Any) -> IncidentFacts:
    summary = IncidentSummary(
        "ref",
        "g",
        "A",
        "critical",
        None,
        "oncall",
        "open",
        T,
        T,
        None,
        None,
        None,
        None,
        False,
        False,
        1,
        1,
        {},
    )
    base: dict[str, Any] = {
        "summary": summary,
        "payload": "{}",
        "receivers": ("oncall",),
        "opened_at": T,
        "ended_at": None,
        "episode": 1,
        "events": [],
        "deliveries": [],
        "enrichments": [],
        "audits": [],
        "remediations": [],
        "escalations": (),
    }
    return IncidentFacts(**{**base, **kw})


def kinds(events: list[TimelineEvent]) -> list[tuple[float, str, str]]:
    return [(e.at - T, e.kind, e.summary) for e in events]


def test_remediation_states_become_events() -> None:
    got = timeline(
        facts(
            remediations=[
                rec(1, "refused", guard="cooldown", reason="acted 3m ago (cooldown 30m)"),
                rec(2, "would"),
                rec(3, "failed", acted_at=T + 1, reason="progress deadline exceeded"),
                rec(4, "cancelled", expires_at=T + 1800),
                rec(5, "expired", expires_at=T + 1800),
            ]
        )
    )
    assert [(e.detail["remediation"], e.kind) for e in got if e.kind != "remediation_planned"] == [
        (4, "remediation_awaiting_approval"),
        (5, "remediation_awaiting_approval"),
        (3, "remediation_started"),
        (1, "remediation_refused"),
        (2, "remediation_refused"),
        (3, "remediation_failed"),
        (4, "remediation_cancelled"),
        (5, "remediation_cancelled"),
    ]
    by_id = {(e.detail["remediation"], e.kind): e for e in got}
    assert by_id[1, "remediation_refused"].detail["guard"] == "cooldown"
    assert by_id[2, "remediation_refused"].summary.startswith("dry run: would run restart")
    assert by_id[3, "remediation_failed"].summary.endswith(": progress deadline exceeded")
    assert by_id[5, "remediation_cancelled"].summary.endswith("no one approved it in time")


def test_an_approved_action_starts_when_approved() -> None:
    approved = TimelineEvent(T + 300, "remediation_approved", "bob (slack)", "approved", {"remediation": 7})
    got = timeline(facts(events=[approved], remediations=[rec(7, "succeeded", acted_at=T + 2, reason="ok")]))
    assert kinds(got) == [
        (0, "remediation_planned", "planned restart (rollout_restart Deployment/prod/api)"),
        (50, "remediation_verified", "verified restart (rollout_restart Deployment/prod/api): ok"),
        (300, "remediation_approved", "approved"),
        (300, "remediation_started", "started restart (rollout_restart Deployment/prod/api)"),
    ]


def test_deliveries_chat_and_enrichment() -> None:
    got = timeline(
        facts(
            deliveries=[
                Delivery(1, "a/telegram[0]", "new", "a", "telegram", "done", 0, None, T, T + 1),
                Delivery(
                    2,
                    "a/webhook[0]",
                    "new",
                    "a",
                    "webhook",
                    "dead",
                    3,
                    "permanent: 404 token=abc123",
                    T,
                    T + 9,
                ),
                Delivery(3, "a/telegram[0]", "update", "a", "telegram", "pending", 0, None, T + 5, None),
            ],
            audits=[
                ChatAudit(
                    T + 3, "slack", "slack:U1", "carol", "ack", "g", "done", "✅ acknowledged by carol"
                ),
                ChatAudit(
                    T + 4, "slack", "slack:U2", "dan", "ack", "g", "done", "already acknowledged by carol"
                ),
                ChatAudit(
                    T + 5, "telegram", "telegram:9", "@eve", "ack", "g", "refused", "refused: not allowed"
                ),
                ChatAudit(T + 6, "telegram", "telegram:1", "@al", "silence", "g", "done", "🔕 silenced"),
                ChatAudit(T + 7, "telegram", "telegram:1", "@al", "approve", "g", "done", "▶ approved"),
            ],
            enrichments=[
                (T + 0.5, "not json"),
                (
                    T + 0.75,
                    Enrichment(notes=("logs unavailable: Loki answered 503",)).to_json(),
                ),
            ],
            escalations=(("managers", T + 8),),
        )
    )
    assert [(e.at - T, e.kind, e.actor) for e in got] == [
        (0.75, "enriched", "alertmedic"),
        (1, "notified", "alertmedic"),
        (3, "acked", "carol (slack)"),
        (6, "silenced", "al (telegram)"),
        (8, "escalated", "alertmedic"),
        (9, "dead_lettered", "alertmedic"),
    ]
    assert got[0].summary == "attached logs unavailable: Loki answered 503"
    dead = got[-1]
    assert "abc123" not in dead.summary and "abc123" not in dead.detail["error"]
    assert got[2].detail == {"source": "slack", "user": "slack:U1", "text": "✅ acknowledged by carol"}
