"""The Store protocol's contract, run against every store in `STORES` (tests/store/conftest.py).

What a store must do so that the engine works unchanged on it, including with several processes:
dedup as one decision under concurrency, leased claims of a lane by one owner at a time, outcomes,
dead letters and requeue, timers, purge.
"""

from __future__ import annotations

import asyncio

from app.core.plan import Destination
from app.store.base import ChatAudit, NewJob, Store, StoreUnavailable, group_ref
from tests.store.conftest import DEST, OpenStore, planned

OTHER = Destination("team/webhook[0]", "team", "webhook", True, 4)


async def claim_all(store: Store, lane: str = DEST.id, *, owner: str = "w1", now: float = 0) -> list[int]:
    return [j.id for j in await store.claim(lane, owner=owner, now=now, lease=10, limit=100)]


async def test_ingest_decides_new_duplicate_update_and_repeat(store: Store) -> None:
    r1 = await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=100, dedup_window=60)
    assert [d for d, _ in r1.enqueued] == [DEST.id] and r1.duplicates == []
    r2 = await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=159, dedup_window=60)
    assert r2.enqueued == [] and r2.duplicates == [DEST.id]
    r3 = await store.ingest([planned("g", ("a", "resolved"), ("b", "firing"))], now=160, dedup_window=60)
    r4 = await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=170, dedup_window=60)
    r5 = await store.ingest([planned("g", ("a", "firing"), ("b", "firing"))], now=231, dedup_window=60)
    assert len(r3.enqueued) == len(r4.enqueued) == len(r5.enqueued) == 1
    jobs = await store.claim(DEST.id, owner="w", now=0, lease=10, limit=10)
    assert [(j.type, j.kind) for j in jobs] == [
        ("notify", "new"),
        ("notify", "update"),
        ("notify", "new"),
        ("notify", "new"),
    ]
    assert [(j.receiver, j.integration, j.lane) for j in jobs[:1]] == [("oncall", "telegram", DEST.id)]
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)


async def test_concurrent_ingests_of_one_message_make_one_job_per_destination(open_store: OpenStore) -> None:
    """Alertmanager HA peers deliver the same group at once, to different processes."""
    a, b = await open_store(), await open_store()
    msg = [planned("g", ("a", "firing")), planned("g", ("a", "firing"), dest=OTHER)]
    results = await asyncio.gather(
        *(s.ingest(msg, now=10, dedup_window=60) for _ in range(6) for s in (a, b))
    )
    enqueued = [d for r in results for d, _ in r.enqueued]
    assert sorted(enqueued) == sorted([DEST.id, OTHER.id])
    assert sum(len(r.duplicates) for r in results) == 2 * 12 - 2
    assert await a.pending_count() == await b.pending_count() == 2


async def test_a_lane_is_claimed_by_one_owner_at_a_time_in_order(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    for i in range(5):
        await a.ingest([planned(f"g{i}", ("a", "firing"))], now=0, dedup_window=60)
    first = await a.claim(DEST.id, owner="A", now=100, lease=10, limit=2)
    assert len(first) == 2
    assert await b.claim(DEST.id, owner="B", now=101, lease=10, limit=10) == []  # A holds the lane
    more = await a.claim(DEST.id, owner="A", now=102, lease=10, limit=10, after=first[-1].id)
    assert [j.id for j in first + more] == sorted(j.id for j in first + more) and len(more) == 3
    # A keeps what it claimed (no read-back): finished but unrecorded jobs are behind its cursor
    await a.complete(first[0], ref=None, now=103)
    assert await b.claim(DEST.id, owner="B", now=105, lease=10, limit=10) == []
    # A renews, then dies: once its lease has run out, B takes the lane over from A's first open job
    assert await a.renew("A", until=120) == 1  # one lane
    assert await b.claim(DEST.id, owner="B", now=119, lease=10, limit=10) == []
    taken = await b.claim(DEST.id, owner="B", now=121, lease=10, limit=10)
    assert [j.id for j in taken] == [j.id for j in (first + more)[1:]]
    # a released lane is free at once
    assert await b.release("B") == 1
    assert len(await a.claim(DEST.id, owner="A", now=122, lease=10, limit=10)) == 4


async def test_concurrent_claims_from_two_stores_never_share_a_job(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    for i in range(20):
        await a.ingest([planned(f"g{i}", ("a", "firing"))], now=0, dedup_window=60)
    got = await asyncio.gather(
        *(
            s.claim(DEST.id, owner=o, now=1, lease=10, limit=5)
            for s, o in ((a, "A"), (b, "B"))
            for _ in range(3)
        )
    )
    by_owner = {"A": [j.id for r in got[:3] for j in r], "B": [j.id for r in got[3:] for j in r]}
    assert not set(by_owner["A"]) & set(by_owner["B"])
    assert [] in (by_owner["A"], by_owner["B"])  # one owner got the lane, the other nothing


async def test_complete_stores_the_ref_for_the_next_job_of_the_thread(store: Store) -> None:
    await store.ingest([planned("g", ("a", "firing"))], now=0, dedup_window=60)
    [job] = await store.claim(DEST.id, owner="w", now=0, lease=10, limit=5)
    assert job.message_ref is None
    await store.complete(job, ref={"chat_id": 1, "message_id": 7}, now=1)
    assert await claim_all(store) == []
    await store.ingest([planned("g", ("a", "resolved"))], now=2, dedup_window=60)
    [upd] = await store.claim(DEST.id, owner="w", now=2, lease=10, limit=5)
    assert upd.kind == "update" and upd.message_ref == {"chat_id": 1, "message_id": 7}


async def test_retry_dead_letters_and_requeue(store: Store) -> None:
    await store.ingest([planned("g", ("a", "firing")), planned("h", ("b", "firing"))], now=0, dedup_window=60)
    first, second = await store.claim(DEST.id, owner="w", now=0, lease=10, limit=5)
    await store.retry(first.id, attempts=3, not_before=50, error="boom")
    await store.dead(first.id, reason="permanent: 403", now=60)
    await store.dead(second.id, reason="retry horizon exceeded", now=61)
    dead = await store.dead_letters(limit=10)
    assert [(d.id, d.lane, d.attempts, d.error) for d in dead] == [
        (second.id, DEST.id, 0, "retry horizon exceeded"),
        (first.id, DEST.id, 3, "permanent: 403"),
    ]
    assert [d.id for d in await store.dead_letters(limit=1)] == [second.id]
    assert await store.pending_count() == 0
    assert await store.requeue([first.id, 999_999], now=70) == [first.id]
    [again] = await store.claim(DEST.id, owner="w", now=70, lease=10, limit=5)
    assert (again.id, again.attempts, again.accepted_at) == (first.id, 0, 70)  # a fresh horizon
    assert await store.requeue([first.id], now=71) == []  # pending, not dead: left alone
    assert await store.requeue(None, now=72) == [second.id]
    assert await store.pending_count() == 2 and await store.dead_letters() == []


async def test_dead_lanes_dead_letters_jobs_of_removed_destinations(store: Store) -> None:
    await store.ingest(
        [planned("g", ("a", "firing")), planned("g", ("a", "firing"), dest=OTHER)], now=0, dedup_window=60
    )
    await store.ingest([planned("h", ("b", "firing"), dest=OTHER)], now=0, dedup_window=60)
    deaths = await store.dead_lanes(type="notify", keep={DEST.id}, reason="gone", now=5)
    assert [(d.lane, d.receiver, d.integration, d.count) for d in deaths] == [
        (OTHER.id, "team", "webhook", 2)
    ]
    assert await store.pending_lanes() == {DEST.id}
    assert {d.error for d in await store.dead_letters()} == {"gone"}


async def test_enqueued_jobs_keep_their_timer_type_and_lane(store: Store) -> None:
    ids = await store.enqueue(
        [NewJob("escalate", "escalate:g", '{"step": 1}', not_before=600, group_key="g")], now=0
    )
    [job] = await store.claim("escalate:g", owner="w", now=0, lease=10, limit=5)
    assert (job.id, job.type, job.not_before, job.payload, job.accepted_at) == (
        ids[0],
        "escalate",
        600,
        '{"step": 1}',
        0,
    )
    assert await store.pending_lanes() == {"escalate:g"}


async def test_purge_keeps_pending_and_removes_finished(store: Store) -> None:
    await store.ingest([planned("g", ("a", "firing")), planned("h", ("b", "firing"))], now=0, dedup_window=60)
    first, _ = await store.claim(DEST.id, owner="w", now=0, lease=10, limit=5)
    await store.complete(first, ref=None, now=10)
    assert await store.purge(older_than=0) == 0
    assert await store.purge(older_than=1000) == 2  # the finished job and its idle thread
    assert await store.pending_count() == 1


async def test_ping_and_closed_store(open_store: OpenStore) -> None:
    s = await open_store()
    await s.ping()
    await s.close()
    try:
        await s.ping()
    except StoreUnavailable:
        return
    raise AssertionError("a closed store must refuse")


async def test_enrichment_is_fetched_by_one_claimant_and_then_shared(open_store: OpenStore) -> None:
    """Two processes' lanes notify the same group state: one fetches, the other waits, both
    show the stored result; a retry (or a restart) reads it back instead of fetching again."""
    a, b = await open_store(), await open_store()
    first = await a.claim_enrichment("g", "s1", owner="A", now=100, lease=10)
    assert (first.status, first.until) == ("claimed", 110)
    busy = await b.claim_enrichment("g", "s1", owner="B", now=105, lease=10)
    assert (busy.status, busy.result, busy.until) == ("busy", None, 110)
    assert (await a.claim_enrichment("g", "s2", owner="B", now=105, lease=10)).status == "claimed"
    await a.save_enrichment("g", "s1", result='{"x": 1}', now=106)
    for store, owner in ((a, "A"), (b, "B"), (b, "C")):
        done = await store.claim_enrichment("g", "s1", owner=owner, now=107, lease=10)
        assert (done.status, done.result) == ("done", '{"x": 1}')
    assert await b.latest_enrichment("g") == '{"x": 1}'
    assert await b.latest_enrichment("other") is None


async def test_an_abandoned_enrichment_claim_is_taken_over_after_its_lease(store: Store) -> None:
    assert (await store.claim_enrichment("g", "s", owner="A", now=0, lease=10)).status == "claimed"
    assert (await store.claim_enrichment("g", "s", owner="B", now=9.9, lease=10)).status == "busy"
    taken = await store.claim_enrichment("g", "s", owner="B", now=10.1, lease=10)
    assert (taken.status, taken.until) == ("claimed", 20.1)
    await store.save_enrichment("g", "s", result="late", now=12)
    await store.save_enrichment("g", "s2", result="newer", now=13)
    assert await store.latest_enrichment("g") == "newer"
    assert await store.purge(older_than=12.5) == 1  # the older result goes with finished jobs
    assert await store.latest_enrichment("g") == "newer"
    assert (await store.claim_enrichment("g", "s", owner="A", now=14, lease=10)).status == "claimed"


# --- responding from chat ------------------------------------------------------------------


async def test_chat_state_of_a_group_ack_silence_escalations_and_a_new_episode(store: Store) -> None:
    payload = planned("g", ("a", "firing")).group.model_dump_json()
    first = await store.chat_note("g", payload, firing=frozenset({"a"}), resolved=False, at=10, now=10)
    assert first.started and first.ref == group_ref("g") and first.first_notified_at == 10
    again = await store.chat_note("g", payload, firing=frozenset({"a"}), resolved=False, at=20, now=20)
    assert not again.started and again.first_notified_at == 10
    assert await store.chat_group("nope") is None and await store.chat_ack("nope", by="@x", now=1) is None

    acked = await store.chat_ack(first.ref, by="@alice", now=30)
    assert acked is not None and (acked.ack_by, acked.ack_at) == ("@alice", 30)
    # the same alert again keeps the ack; a new firing alert clears it and says whose it was
    kept = await store.chat_note("g", payload, firing=frozenset({"a"}), resolved=False, at=40, now=40)
    assert kept.ack_by == "@alice"
    cleared = await store.chat_note("g", payload, firing=frozenset({"a", "b"}), resolved=False, at=50, now=50)
    assert (cleared.ack_by, cleared.ack_cleared_by) == (None, "@alice")
    # an older payload (another lane lagging) changes nothing
    await store.chat_note("g", "old", firing=frozenset(), resolved=True, at=45, now=60)
    current = await store.chat_group(first.ref)
    assert current is not None and current.payload == payload and not current.resolved

    silenced = await store.chat_silence(first.ref, silence_id="s1", by="@bob", until=999, now=60)
    assert silenced is not None and (silenced.silence_id, silenced.silence_by, silenced.silence_until) == (
        "s1",
        "@bob",
        999,
    )
    await store.chat_escalated(first.ref, receiver="secondary", at=600)
    escalated = await store.chat_escalated(first.ref, receiver="lead", at=1800)
    assert escalated is not None and escalated.escalations == (("secondary", 600), ("lead", 1800))

    await store.chat_note("g", payload, firing=frozenset(), resolved=True, at=2000, now=2000)
    episode = await store.chat_note("g", payload, firing=frozenset({"a"}), resolved=False, at=3000, now=3000)
    assert episode.started and episode.first_notified_at == 3000 and episode.escalations == ()


async def test_chat_replay_keys_are_refused_until_they_expire(store: Store) -> None:
    assert await store.chat_replay("k", expires_at=100, now=0)
    assert not await store.chat_replay("k", expires_at=100, now=50)
    assert await store.chat_replay("k", expires_at=400, now=101)


async def test_chat_copies_of_a_group_and_the_message_a_command_replies_to(store: Store) -> None:
    await store.ingest([planned("g", ("a", "firing"))], now=1, dedup_window=60)
    await store.ingest([planned("g", ("a", "firing"), dest=OTHER)], now=1, dedup_window=60)
    assert await store.chat_destinations("g") == sorted([DEST.id, OTHER.id])
    [job] = await store.claim(DEST.id, owner="w", now=1, lease=10, limit=1)
    await store.complete(job, ref={"chat_id": -5, "message_id": 7}, now=2)
    assert await store.chat_ref_of_message(-5, 7) == group_ref("g")
    assert await store.chat_ref_of_message(-5, 8) is None
    assert await store.chat_open_groups(-5) == []  # not notified through chat state yet
    payload = planned("g", ("a", "firing")).group.model_dump_json()
    await store.chat_note("g", payload, firing=frozenset({"a"}), resolved=False, at=3, now=3)
    assert [g.group_key for g in await store.chat_open_groups(-5)] == ["g"]
    assert await store.chat_open_groups(-6) == []
    await store.chat_note("g", payload, firing=frozenset(), resolved=True, at=4, now=4)
    assert await store.chat_open_groups(-5) == []


async def test_chat_audit_newest_first(store: Store) -> None:
    for i, outcome in enumerate(("done", "refused")):
        await store.chat_audit(ChatAudit(i, "telegram", "telegram:1", "@a", "ack", "g", outcome, "x"))
    assert [a.outcome for a in await store.chat_audits()] == ["refused", "done"]
    assert (await store.chat_audits(limit=1))[0].at == 1
