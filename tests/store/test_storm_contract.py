"""The Store contract of storm digests (every store in STORES): a lane's pending jobs of one type
are read past a cursor without claiming them; many jobs are recorded done at once with the
digest's message reference on each thread; a reply to a digest message names no group."""

from __future__ import annotations

from app.store.base import NewJob, Store, group_ref
from tests.store.conftest import DEST, planned


async def ingest(store: Store, *keys: str, now: float = 1) -> None:
    for key in keys:
        await store.ingest([planned(key, ("a", "firing"))], now=now, dedup_window=60)


async def test_pending_jobs_of_a_lane_by_type_in_id_order(store: Store) -> None:
    await ingest(store, "g1", "g2")
    await store.enqueue([NewJob("edit", DEST.id, "", 0, group_key="g1")], now=1)
    await ingest(store, "g3")
    await store.enqueue([NewJob("notify", "other/slack[0]", "{}", 0, group_key="g9")], now=1)
    jobs = await store.pending_jobs(DEST.id, type="notify")
    assert [j.group_key for j in jobs] == ["g1", "g2", "g3"]
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)
    assert [j.group_key for j in await store.pending_jobs(DEST.id, type="notify", after=jobs[0].id)] == [
        "g2",
        "g3",
    ]
    assert len(await store.pending_jobs(DEST.id, type="notify", limit=2)) == 2
    assert [j.type for j in await store.pending_jobs(DEST.id, type="edit")] == ["edit"]
    # reading claims nothing: the lane is still free for any owner
    assert len(await store.claim(DEST.id, owner="w", now=2, lease=10, limit=10)) == 4


async def test_complete_many_records_all_with_one_thread_reference(store: Store) -> None:
    await ingest(store, "g1", "g2", "g3")
    jobs = await store.pending_jobs(DEST.id, type="notify")
    digest = {"chat_id": -5, "message_id": 40, "digest": True}
    assert await store.complete_many(jobs[:2], ref=digest, now=5) == 2
    assert await store.complete_many(jobs[:2], ref=digest, now=6) == 0  # already done
    assert [j.group_key for j in await store.pending_jobs(DEST.id, type="notify")] == ["g3"]
    assert await store.pending_count() == 1
    # the covered groups' next notification carries the digest's reference as its thread
    await store.ingest([planned("g1", ("a", "resolved"))], now=7, dedup_window=60)
    [g3, upd] = await store.claim(DEST.id, owner="w", now=8, lease=10, limit=10)
    assert (upd.group_key, upd.kind, upd.message_ref) == ("g1", "update", digest)
    assert g3.message_ref is None
    # without a reference the threads keep theirs
    await store.complete_many([g3], ref=None, now=9)
    assert await store.pending_count() == 1


async def test_a_digest_message_names_no_group(store: Store) -> None:
    """A command replying to a digest message cannot tell which group it means."""
    await ingest(store, "g1", "g2", "g3")
    jobs = await store.pending_jobs(DEST.id, type="notify")
    await store.complete_many(jobs[:2], ref={"chat_id": -5, "message_id": 40, "digest": True}, now=5)
    await store.complete_many(jobs[2:], ref={"chat_id": -5, "message_id": 41}, now=5)
    assert await store.chat_ref_of_message(-5, 40) is None
    assert await store.chat_ref_of_message(-5, 41) == group_ref("g3")
