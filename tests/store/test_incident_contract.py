"""The incident part of the Store contract (every store in `STORES`): the incident row and events
written in the ingest transaction, listing with filters and order, the facts of one incident,
appended events (redacted), the first acknowledgement once, retention."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from app.core.incidents import AlertFact, IncidentFilter, IncidentNote, TimelineEvent
from app.core.plan import Planned
from app.store.base import ChatAudit, NewJob, Store, group_ref
from app.store.remediations import Change
from tests.store.conftest import T0, OpenStore, planned

START = T0.timestamp()


def note(
    group_key: str,
    *states: tuple[str, str],
    severity: str = "critical",
    namespace: str | None = "prod",
    receiver: str = "oncall",
    title: str = "X",
    started: float = START,
) -> IncidentNote:
    return IncidentNote(
        group_key=group_key,
        title=title,
        severity=severity,
        namespace=namespace,
        receiver=receiver,
        receivers=(receiver,),
        labels={"alertname": title, "severity": severity, **({"namespace": namespace} if namespace else {})},
        alerts=tuple(
            AlertFact(fp, f"{title}-{fp}", s, started, START + 600 if s == "resolved" else None)  # type: ignore[arg-type]
            for fp, s in states
        ),
    )


async def accept(store: Store, group_key: str, *states: tuple[str, str], now: float, **kw: object) -> Planned:
    p = planned(group_key, *states)
    result = await store.ingest([p], now=now, dedup_window=60, incident=note(group_key, *states, **kw))  # type: ignore[arg-type]
    assert result.enqueued or result.duplicates
    return p


async def test_ingest_records_first_fired_each_alert_and_resolved(store: Store) -> None:
    await accept(store, "g", ("a", "firing"), now=START + 30)
    await accept(store, "g", ("a", "firing"), now=START + 40)  # a repeat: nothing new
    await accept(store, "g", ("a", "firing"), ("b", "firing"), now=START + 100)
    await accept(store, "g", ("a", "resolved"), ("b", "firing"), now=START + 200)
    r = await store.ingest(
        [planned("g", ("a", "resolved"), ("b", "resolved"))],
        now=START + 700,
        dedup_window=60,
        incident=note("g", ("a", "resolved"), ("b", "resolved")),
    )
    assert r.resolved is not None and r.resolved.severity == "critical" and r.resolved.seconds == 700
    facts = await store.incident_facts(group_ref("g"))
    assert facts is not None
    got = [(e.at - START, e.kind, e.summary, e.actor) for e in facts.events]
    assert got == [
        (30, "fired", "X fired (1 alert)", "alertmanager"),
        (100, "alert_firing", "X-b firing", "alertmanager"),
        (200, "alert_resolved", "X-a resolved", "alertmanager"),
        (700, "resolved", "X resolved (1 alert)", "alertmanager"),
    ]
    assert facts.events[-1].detail == {"alerts": [{"fingerprint": "b", "name": "X-b"}]}
    s = facts.summary
    assert (s.id, s.state, s.first_fired, s.resolved_at, s.alerts_firing, s.alerts_total) == (
        group_ref("g"),
        "resolved",
        START,
        START + 700,
        0,
        2,
    )
    assert facts.opened_at == START + 30 and facts.ended_at == START + 600 and facts.episode == 1
    assert json.loads(facts.payload)["groupKey"] == "g"
    assert [d.destination for d in facts.deliveries] == ["oncall/telegram[0]"] * 4
    # a second resolved copy (an HA peer) resolves nothing again
    again = await store.ingest(
        [planned("g", ("a", "resolved"), ("b", "resolved"))],
        now=START + 701,
        dedup_window=60,
        incident=note("g", ("a", "resolved"), ("b", "resolved")),
    )
    assert again.resolved is None


async def test_a_group_no_destination_takes_starts_none_but_may_resolve_one(store: Store) -> None:
    quiet = note("q", ("a", "firing"), receiver="")
    await store.ingest([], now=START, dedup_window=60, incident=replace(quiet, receivers=()))
    assert await store.incident_facts(group_ref("q")) is None
    await accept(store, "g", ("a", "firing"), now=START + 10)
    # the resolve goes to no destination (none sends resolved): the incident resolves all the same
    resolved = replace(note("g", ("a", "resolved"), receiver=""), receivers=())
    r = await store.ingest([], now=START + 70, dedup_window=60, incident=resolved)
    assert r.resolved is not None and r.resolved.seconds == 70
    facts = await store.incident_facts(group_ref("g"))
    assert facts is not None
    assert (facts.summary.state, facts.summary.receiver, facts.receivers) == (
        "resolved",
        "oncall",
        ("oncall",),
    )
    assert json.loads(facts.payload)["alerts"][0]["status"] == "firing"  # the last one notified


async def test_firing_again_after_resolving_is_a_new_episode(store: Store) -> None:
    await accept(store, "g", ("a", "firing"), now=START + 10)
    await accept(store, "g", ("a", "resolved"), now=START + 20)
    assert await store.incident_acked("g", now=START + 21) is not None  # late ack, same episode
    await accept(store, "g", ("a", "firing"), now=START + 500)
    facts = await store.incident_facts(group_ref("g"))
    assert facts is not None and facts.episode == 2 and facts.summary.state == "open"
    assert facts.opened_at == START + 500 and facts.summary.resolved_at is None
    assert [e.summary for e in facts.events if e.kind == "fired"] == [
        "X fired (1 alert)",
        "X fired again (1 alert)",
    ]
    first = await store.incident_acked("g", now=START + 560)  # the new episode's first ack counts
    assert first is not None and first.seconds == 560


async def test_the_first_ack_is_counted_once_across_processes(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    await accept(a, "g", ("a", "firing"), now=START + 5, severity="warning")
    results = await asyncio.gather(*(s.incident_acked("g", now=START + 65) for _ in range(4) for s in (a, b)))
    counted = [r for r in results if r is not None]
    assert len(counted) == 1 and (counted[0].severity, counted[0].seconds) == ("warning", 65)
    assert await a.incident_acked("unknown", now=START) is None


async def test_concurrent_ingests_record_each_event_once(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    await asyncio.gather(
        *(accept(s, "g", ("a", "firing"), ("b", "firing"), now=START + 9) for _ in range(3) for s in (a, b))
    )
    facts = await b.incident_facts(group_ref("g"))
    assert facts is not None
    assert [e.kind for e in facts.events] == ["fired"]
    assert len(facts.events[0].detail["alerts"]) == 2


async def test_list_filters_and_orders(store: Store) -> None:
    await accept(store, "old-warning", ("a", "firing"), now=START + 1, severity="warning", title="W")
    await accept(
        store, "new-critical", ("a", "firing"), now=START + 5, severity="critical", started=START + 4
    )
    await accept(
        store, "old-critical", ("a", "firing"), now=START + 2, severity="critical", started=START - 9
    )
    await accept(
        store,
        "staging",
        ("a", "firing"),
        now=START + 3,
        severity="info",
        namespace="staging",
        receiver="team",
    )
    await accept(store, "done", ("a", "firing"), now=START + 4, title="D")
    await accept(store, "done", ("a", "resolved"), now=START + 50, title="D")

    async def ids(**kw: object) -> list[str]:
        return [s.group_key for s in await store.incidents(IncidentFilter(**kw))]  # type: ignore[arg-type]

    # open ones: severity first, then the oldest first startsAt
    assert await ids() == ["old-critical", "new-critical", "old-warning", "staging"]
    assert await ids(state="resolved") == ["done"]
    assert (await ids(state="all"))[-1] == "done"
    assert await ids(namespace="staging") == ["staging"]
    assert await ids(severity="WARNING") == ["old-warning"]
    assert await ids(receiver="team") == ["staging"]
    assert await ids(state="all", since=START + 10) == ["done"]
    assert await ids(state="all", until=START - 1) == ["old-critical"]
    assert len(await store.incidents(IncidentFilter(state="all"), limit=2)) == 2
    listed = (await store.incidents(IncidentFilter(state="resolved")))[0]
    assert (listed.title, listed.state, listed.receiver, listed.labels["severity"]) == (
        "D",
        "resolved",
        "oncall",
        "critical",
    )


async def test_summary_shows_ack_silence_escalation_and_remediating(store: Store) -> None:
    p = await accept(store, "g", ("a", "firing"), now=START + 1)
    ref = group_ref("g")
    await store.chat_note(
        "g", p.group.model_dump_json(), firing=frozenset({"a"}), resolved=False, at=1, now=2
    )
    await store.chat_ack(ref, by="@alice", now=START + 60)
    await store.chat_silence(ref, silence_id="s1", by="@bob", until=START + 3600, now=START + 61)
    await store.chat_escalated(ref, receiver="managers", at=START + 70)
    [s] = await store.incidents(IncidentFilter())
    assert (s.acked_by, s.acked_at, s.silenced_until, s.escalated, s.remediating) == (
        "@alice",
        START + 60,
        START + 3600,
        True,
        False,
    )
    facts = await store.incident_facts(ref)
    assert facts is not None and facts.escalations == (("managers", START + 70),)


async def test_facts_join_chat_audits_and_appended_events_redacted(store: Store) -> None:
    await accept(store, "g", ("a", "firing"), now=START + 1)
    await store.chat_audit(ChatAudit(START + 50, "slack", "slack:U1", "alice", "ack", "g", "done", "ok"))
    await store.chat_audit(ChatAudit(START + 51, "slack", "slack:U1", "alice", "ack", "other", "done", "ok"))
    await store.incident_event(
        "g",
        TimelineEvent(
            START + 52,
            "retried",
            "alertmedic",
            "failed: https://api.example/bot?token=s3cr3t-value",
            {"error": "Authorization: Bearer abcdefghijklmnop"},
        ),
    )
    facts = await store.incident_facts(group_ref("g"))
    assert facts is not None
    assert [(a.user_name, a.action) for a in facts.audits] == [("alice", "ack")]
    retried = facts.events[-1]
    assert retried.kind == "retried" and "s3cr3t" not in retried.summary and "«redacted»" in retried.summary
    assert "abcdefghijklmnop" not in json.dumps(retried.detail)
    assert await store.incident_facts("nope") is None


async def test_id_prefixes(store: Store) -> None:
    for key in ("g1", "g2", "g3"):
        await accept(store, key, ("a", "firing"), now=START)
    ref = group_ref("g1")
    assert await store.incident_refs(ref) == [ref]
    assert await store.incident_refs(ref[:6]) == [ref]
    assert len(await store.incident_refs("", limit=5)) == 3
    assert await store.incident_refs("~nothing") == []


async def test_purge_follows_retention(store: Store) -> None:
    await accept(store, "old", ("a", "firing"), now=START + 1)
    await accept(store, "old", ("a", "resolved"), now=START + 2)
    await accept(store, "new", ("a", "firing"), now=START + 1000)
    removed = await store.purge(older_than=START + 500)
    assert removed >= 3  # the old incident, its two events
    assert await store.incident_facts(group_ref("old")) is None
    facts = await store.incident_facts(group_ref("new"))
    assert facts is not None and [e.kind for e in facts.events] == ["fired"]


async def test_a_storm_adds_a_bounded_number_of_events(store: Store) -> None:
    states = [(f"f{i:04d}", "firing") for i in range(500)]
    p = planned("storm", *states)
    await store.ingest([p], now=START, dedup_window=60, incident=note("storm", *states))
    facts = await store.incident_facts(group_ref("storm"))
    assert facts is not None
    [fired] = facts.events
    assert (len(fired.detail["alerts"]), fired.detail["more_alerts"]) == (20, 480)
    assert facts.summary.alerts_firing == 500


async def test_an_approval_and_a_rejection_are_events_of_the_group(store: Store) -> None:
    from tests.store.test_remediation_contract import intent, record, rs

    await accept(store, "g", ("a", "firing"), now=START)
    await record(store, intent("a"), intent("b"))
    first, second = sorted(await rs(store).remediations(), key=lambda r: r.id)
    for rec in (first, second):
        change = Change("awaiting_approval", {"expires_at": START + 500})
        assert await rs(store).transition(rec.id, job_id=rec.job_id, change=change, now=START) == "ok"
    act = NewJob("remediate", "remediate:x", "{}", START)
    await rs(store).decide_approval(first.id, approve=True, actor="alice (slack)", now=START + 60, job=act)
    await rs(store).decide_approval(second.id, approve=False, actor="bob (telegram)", now=START + 70, job=act)
    await rs(store).decide_approval(second.id, approve=True, actor="eve (telegram)", now=START + 80, job=act)
    facts = await store.incident_facts(group_ref("g"))
    assert facts is not None
    assert [(e.at - START, e.kind, e.actor, e.detail["remediation"]) for e in facts.events[1:]] == [
        (60, "remediation_approved", "alice (slack)", first.id),
        (70, "remediation_rejected", "bob (telegram)", second.id),
    ]
