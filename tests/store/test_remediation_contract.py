"""The remediation part of the Store contract, run against every store in `STORES`: intents
recorded in the ingest transaction (an HA duplicate records one), guard slots as unique keys
(exactly one holder wins under concurrency, an expired slot is taken over), transitions that are
all or nothing and refuse a stale job, cancellation at resolve, one decision per approval."""

from __future__ import annotations

import asyncio
import json
import math
from typing import cast

from app.core.remediation.guards import Slot
from app.store.base import NewJob, Store
from app.store.remediations import Change, NewRemediation, RemediatingStore
from tests.store.conftest import DEST, OpenStore, planned


def intent(fp: str = "a", *, dedup: bool = True, action: str = "restart") -> NewRemediation:
    target = "Deployment/prod/api"
    return NewRemediation(
        action=action,
        kind="rollout_restart",
        target=target,
        fingerprint=fp,
        episode="2026-01-01T00:00:00Z",
        alertname="X",
        group_key="g",
        destinations=(DEST.id,),
        intent="{}",
        dedup=f"{action}|{target}|{fp}|2026-01-01T00:00:00Z" if dedup else None,
        lane=f"remediate:{target}",
    )


def rs(store: Store) -> RemediatingStore:
    return cast(RemediatingStore, store)


async def record(
    store: Store, *items: NewRemediation, resolved: tuple[str, ...] = ()
) -> list[tuple[str, int]]:
    r = await rs(store).ingest(
        [planned("g", ("a", "firing"))], now=100, dedup_window=60, remediations=items, resolved=resolved
    )
    return r.remediation_jobs


async def test_intents_are_recorded_with_their_job_in_the_ingest_transaction(store: Store) -> None:
    [(lane, job_id)] = await record(store, intent())
    assert lane == "remediate:Deployment/prod/api"
    [rec] = await rs(store).remediations()
    assert (rec.state, rec.job_id, rec.destinations) == ("pending", job_id, (DEST.id,))
    [job] = await store.claim(lane, owner="w", now=100, lease=10, limit=10)
    assert (job.id, job.type, json.loads(job.payload)) == (
        job_id,
        "remediate",
        {"id": rec.id, "step": "decide"},
    )


async def test_an_ha_duplicate_records_one_intent_even_concurrently(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    results = await asyncio.gather(*(record(s, intent()) for _ in range(4) for s in (a, b)))
    assert sum(len(r) for r in results) == 1
    assert len(await rs(a).remediations()) == 1
    await record(a, intent(dedup=False), intent(dedup=False))  # no dedup: every one is recorded
    assert len(await rs(a).remediations()) == 3


async def test_exactly_one_transition_takes_a_slot(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    await record(a, *(intent(f"fp{i}") for i in range(6)))
    recs = await rs(a).remediations()

    async def take(s: Store, rid: int, job: int | None) -> str:
        slot = Slot("cooldown/restart/Deployment/prod/api", f"r{rid}", 200, 2000)
        return await rs(s).transition(rid, job_id=job, change=Change("acting", take=[slot]), now=200)

    outcomes = await asyncio.gather(*(take((a, b)[i % 2], r.id, r.job_id) for i, r in enumerate(recs)))
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    winner = recs[outcomes.index("ok")]
    assert (await rs(b).slots(["cooldown/restart/Deployment/prod/api"]))[
        "cooldown/restart/Deployment/prod/api"
    ].holder == f"r{winner.id}"
    loser = next(r for r in recs if r.id != winner.id)
    assert (await rs(a).remediation(loser.id)).state == "pending"  # type: ignore[union-attr]
    # once it expires another holder takes it over; the holder itself may take it again
    late = Slot("cooldown/restart/Deployment/prod/api", f"r{loser.id}", 2000, 3000)
    assert (
        await rs(a).transition(loser.id, job_id=None, change=Change("acting", take=[late]), now=2000) == "ok"
    )


async def test_a_never_expiring_slot_and_all_or_nothing(store: Store) -> None:
    await record(store, intent("a"), intent("b"))
    first, second = sorted(await rs(store).remediations(), key=lambda r: r.id)
    once = Slot("once/x", f"r{first.id}", 100, math.inf)
    assert (
        await rs(store).transition(
            first.id, job_id=first.job_id, change=Change("acting", take=[once]), now=100
        )
        == "ok"
    )
    both = [Slot("breaker/x/0", f"r{second.id}", 100, 200), Slot("once/x", f"r{second.id}", 100, math.inf)]
    change = Change("acting", take=both, jobs=[NewJob("verify", "l", "{}", 100)])
    assert await rs(store).transition(second.id, job_id=second.job_id, change=change, now=1e9) == "conflict"
    assert await rs(store).slots(["breaker/x/0"]) == {}  # the first claim was rolled back too
    assert "l" not in await store.pending_lanes()


async def test_a_stale_job_moves_nothing_and_chain_names_the_next_job(store: Store) -> None:
    await record(store, intent())
    [rec] = await rs(store).remediations()
    assert rec.job_id is not None
    stale = await rs(store).transition(rec.id, job_id=rec.job_id + 1000, change=Change("failed"), now=1)
    assert stale == "stale"
    nxt = NewJob("verify", rec.target, "{}", 5)
    assert (
        await rs(store).transition(
            rec.id, job_id=rec.job_id, change=Change("verifying", jobs=[nxt], chain=True), now=2
        )
        == "ok"
    )
    after = await rs(store).remediation(rec.id)
    assert after is not None and after.state == "verifying" and after.job_id != rec.job_id
    assert await rs(store).transition(rec.id, job_id=rec.job_id, change=Change("failed"), now=3) == "stale"


async def test_a_resolve_cancels_open_intents_of_that_alert(store: Store) -> None:
    await record(store, intent("a"), intent("b", action="scale"))
    recs = {r.fingerprint: r for r in await rs(store).remediations()}
    waiting = recs["b"]
    expire = NewJob("remediate", "approval:x", "{}", 5000)
    change = Change("awaiting_approval", {"expires_at": 5000}, jobs=[expire], chain=True)
    assert await rs(store).transition(waiting.id, job_id=waiting.job_id, change=change, now=100) == "ok"
    added = await record(store, resolved=("a", "b"))
    states = {r.fingerprint: r.state for r in await rs(store).remediations()}
    assert states == {"a": "cancelled", "b": "cancelled"}
    assert [lane for lane, _ in added] == ["remediate:Deployment/prod/api"]  # the waiting one reports now


async def test_an_approval_is_decided_once_and_not_after_it_expired(store: Store) -> None:
    await record(store, intent("a"), intent("b"))
    first, second = sorted(await rs(store).remediations(), key=lambda r: r.id)
    for rec in (first, second):
        change = Change("awaiting_approval", {"expires_at": 500})
        assert await rs(store).transition(rec.id, job_id=rec.job_id, change=change, now=100) == "ok"
    act = NewJob("remediate", "remediate:x", "{}", 200)
    done = await rs(store).decide_approval(first.id, approve=True, actor="alice", now=200, job=act)
    assert not isinstance(done, str) and (done.state, done.actor) == ("approved", "alice")
    again = await rs(store).decide_approval(first.id, approve=False, actor="bob", now=201, job=act)
    assert again == f"action {first.id} is approved, not awaiting approval"
    late = await rs(store).decide_approval(second.id, approve=True, actor="alice", now=500, job=act)
    assert late == f"action {second.id} expired awaiting approval"
    assert await rs(store).decide_approval(999, approve=True, actor="x", now=1, job=act) == "no action 999"


async def test_purge_drops_slots_free_before_the_horizon_and_old_once_slots(store: Store) -> None:
    await record(store, intent("a"))
    [rec] = await rs(store).remediations()
    held = [
        Slot("cooldown/old", f"r{rec.id}", 10, 50),
        Slot("cooldown/live", f"r{rec.id}", 10, 5000),
        Slot("once/old", f"r{rec.id}", 10, math.inf),
    ]
    assert await rs(store).transition(rec.id, job_id=None, change=Change("acting", take=held), now=10) == "ok"
    await store.purge(older_than=100)
    assert set(await rs(store).slots(["cooldown/old", "cooldown/live", "once/old"])) == {"cooldown/live"}
    assert len(await rs(store).remediations()) == 1  # the audit record stays


async def test_a_change_expecting_pending_does_not_undo_a_cancel(store: Store) -> None:
    await record(store, intent("a"))
    [rec] = await rs(store).remediations()
    await record(store, resolved=("a",))  # resolved while a worker was deciding
    slot = Slot("cooldown/x", f"r{rec.id}", 100, 200)
    change = Change("acting", take=[slot], expect=("pending",))
    assert await rs(store).transition(rec.id, job_id=rec.job_id, change=change, now=100) == "stale"
    assert (await rs(store).remediation(rec.id)).state == "cancelled"  # type: ignore[union-attr]
    assert await rs(store).slots(["cooldown/x"]) == {}
