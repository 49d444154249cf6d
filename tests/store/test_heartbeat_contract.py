"""The dead-man's switch's part of the Store contract (every store in `STORES`): a heartbeat's row
and its one timer, the alarm raised once and the recovery queued once, also when two processes
(replicas) or a replayed timer job race for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from app.core.heartbeats import heartbeat_lane
from app.store.base import NewJob, Store
from app.store.heartbeats import HeartbeatState, JobsFor
from tests.store.conftest import DEST, OpenStore

LANE = "heartbeat:prom"
GROUP = "heartbeat:prom"


def notify(kind: str) -> JobsFor:
    def build(row: HeartbeatState) -> Sequence[NewJob]:
        payload = json.dumps({"kind": kind, "last_seen": row.last_seen})
        return [
            NewJob(
                "notify",
                DEST.id,
                payload,
                not_before=0,
                group_key=GROUP,
                kind=kind,
                receiver=DEST.receiver,
                integration=DEST.integration,
            )
        ]

    return build


ALARM = notify("new")
RECOVERY = notify("update")


async def timers(store: Store, *, now: float = 0) -> list[tuple[int, float]]:
    """(id, not_before) of the heartbeat's pending timers."""
    jobs = await store.claim(LANE, owner="t", now=now, lease=1, limit=100)
    await store.release("t")
    return [(j.id, j.not_before) for j in jobs if j.type == "heartbeat"]


async def ran(store: Store, job_id: int, *, now: float) -> None:
    """Record the timer `job_id` done, as the dispatcher does after its handler returned."""
    [job] = [j for j in await store.claim(LANE, owner="t", now=now, lease=1, limit=100) if j.id == job_id]
    await store.complete(job, ref=None, now=now)
    await store.release("t")


async def test_arming_makes_one_row_and_one_timer_once(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    changes = await asyncio.gather(*(s.heartbeat_arm("prom", timeout=300, now=1000) for s in (a, b) * 3))
    assert sorted(c.event for c in changes) == ["armed"] + ["unchanged"] * 5
    [armed] = [c for c in changes if c.event == "armed"]
    assert armed.state is not None and armed.state.deadline == 1300 and armed.state.first_start == 1000
    assert [lane for lane, _ in armed.jobs] == [LANE]
    assert await timers(a) == [(armed.jobs[0][1], 1300)]
    [row] = await b.heartbeats()
    assert (row.name, row.state, row.last_seen, row.job_id) == ("prom", "waiting", None, armed.jobs[0][1])
    # a restart arms again: the deadline counts from the first start, no second timer
    again = await a.heartbeat_arm("prom", timeout=300, now=1200)
    assert again.event == "unchanged" and again.jobs == [] and len(await timers(a)) == 1


async def test_a_timer_before_the_deadline_rearms_and_the_old_one_is_stale(store: Store) -> None:
    armed = await store.heartbeat_arm("prom", timeout=300, now=0)
    [(first, _)] = await timers(store)
    seen = await store.heartbeat_seen(["prom", "unknown"], now=200, recovery=RECOVERY)
    assert [c.event for c in seen] == ["seen", "stale"] and seen[0].jobs == []
    assert seen[0].state is not None and seen[0].state.deadline == 500 and seen[0].state.last_seen == 200
    due = await store.heartbeat_due("prom", job_id=first, now=300, alarm=ALARM)
    assert due.event == "rearmed" and due.state is not None and due.state.deadline == 500
    [(lane, nxt)] = due.jobs
    assert lane == LANE and nxt != first and armed.state is not None
    await ran(store, first, now=300)
    assert await timers(store) == [(nxt, 500)]
    # the first timer replayed (a kill -9 before its outcome was recorded) moves nothing
    replay = await store.heartbeat_due("prom", job_id=first, now=600, alarm=ALARM)
    assert replay.event == "stale" and replay.jobs == []
    assert (await store.heartbeats())[0].state == "waiting"


async def test_past_the_deadline_the_alarm_is_raised_once(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    armed = await a.heartbeat_arm("prom", timeout=300, now=0)
    job = armed.jobs[0][1]
    results = await asyncio.gather(
        *(s.heartbeat_due("prom", job_id=job, now=301, alarm=ALARM) for s in (a, b) * 3)
    )
    assert sorted(r.event for r in results) == ["alarmed"] + ["stale"] * 5
    await ran(a, job, now=301)
    [alarm] = [r for r in results if r.event == "alarmed"]
    assert alarm.state is not None and alarm.state.state == "alarmed" and alarm.state.alarmed_at == 301
    assert alarm.state.job_id is None and [lane for lane, _ in alarm.jobs] == [DEST.id]
    jobs = await a.claim(DEST.id, owner="w", now=301, lease=10, limit=10)
    assert [(j.type, j.kind, j.group_key) for j in jobs] == [("notify", "new", GROUP)]
    assert json.loads(jobs[0].payload) == {"kind": "new", "last_seen": None}
    # the alarm's message reference is kept in its thread for the recovery
    await a.complete(jobs[0], ref={"message_id": 7}, now=302)
    await a.release("w")
    # nothing more while alarmed: no timer, and a restart's arm changes nothing
    assert await timers(a, now=10_000) == []
    assert (await b.heartbeat_arm("prom", timeout=300, now=400)).event == "unchanged"
    assert await timers(a, now=10_000) == []


async def test_a_matching_webhook_recovers_once_with_the_alarms_thread(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    armed = await a.heartbeat_arm("prom", timeout=300, now=0)
    alarm = await a.heartbeat_due("prom", job_id=armed.jobs[0][1], now=300, alarm=ALARM)
    await ran(a, armed.jobs[0][1], now=300)
    [sent] = await a.claim(DEST.id, owner="w", now=300, lease=10, limit=10)
    await a.complete(sent, ref={"message_id": 7}, now=301)
    await a.release("w")
    results = await asyncio.gather(
        *(s.heartbeat_seen(["prom"], now=500, recovery=RECOVERY) for s in (a, b) * 3)
    )
    events = sorted(r[0].event for r in results)
    assert events == ["recovered"] + ["seen"] * 5
    [back] = [r[0] for r in results if r[0].event == "recovered"]
    assert back.state is not None and back.state.state == "waiting" and back.state.deadline == 800
    assert sorted(lane for lane, _ in back.jobs) == sorted([DEST.id, LANE])
    [recovery] = await a.claim(DEST.id, owner="w", now=500, lease=10, limit=10)
    assert (recovery.kind, recovery.message_ref) == ("update", {"message_id": 7})
    assert json.loads(recovery.payload) == {"kind": "update", "last_seen": None}  # the row before
    assert alarm.state is not None and alarm.state.alarmed_at == 300
    assert [t[1] for t in await timers(a)] == [800]


async def test_a_changed_timeout_moves_the_deadline_and_supersedes_the_timer(store: Store) -> None:
    armed = await store.heartbeat_arm("prom", timeout=300, now=0)
    await store.heartbeat_seen(["prom"], now=100, recovery=RECOVERY)
    change = await store.heartbeat_arm("prom", timeout=60, now=120)
    assert change.event == "rearmed" and change.state is not None
    assert (change.state.timeout, change.state.deadline) == (60, 160)  # from the last seen
    [(job, at)] = await timers(store)
    assert at == 160 and job != armed.jobs[0][1]  # the old timer is no longer pending


async def test_a_heartbeat_without_its_timer_is_watched_again(store: Store) -> None:
    """A heartbeat removed from the configuration lets its timer end; re-added (or its timer
    dead-lettered), it waits a whole timeout from then, and a webhook re-arms it too."""
    armed = await store.heartbeat_arm("prom", timeout=300, now=0)
    [job] = await store.claim(LANE, owner="w", now=300, lease=10, limit=10)
    await store.complete(job, ref=None, now=300)  # its handler found no such heartbeat
    await store.release("w")
    assert armed.state is not None and await timers(store) == []
    back = await store.heartbeat_arm("prom", timeout=300, now=5000)
    assert back.event == "rearmed" and back.state is not None and back.state.deadline == 5300
    [(timer, _)] = await timers(store)
    await store.dead(timer, reason="gave up", now=5001)
    [seen] = await store.heartbeat_seen(["prom"], now=5100, recovery=RECOVERY)
    assert seen.event == "rearmed" and [t[1] for t in await timers(store)] == [5400]


async def test_racing_webhooks_and_timers_move_each_heartbeat_once(open_store: OpenStore) -> None:
    """Replicas seeing several heartbeats in crossing orders, and a webhook racing the timer at
    the deadline: every outcome is one the transitions one after the other would give."""
    a, b = await open_store(), await open_store()
    timer = {}
    for name in ("x", "y"):
        armed = await a.heartbeat_arm(name, timeout=300, now=0)
        timer[name] = armed.jobs[0][1]
        assert (await b.heartbeat_due(name, job_id=timer[name], now=300, alarm=ALARM)).event == "alarmed"
    results = await asyncio.gather(
        *(s.heartbeat_seen(names, now=500, recovery=RECOVERY) for s, names in ((a, "xy"), (b, "yx")) * 3)
    )
    changes = [c for r in results for c in r]
    for name in ("x", "y"):
        mine = [c for c in changes if c.state is not None and c.state.name == name]
        assert sorted(c.event for c in mine) == ["recovered"] + ["seen"] * 5
        [back] = [c for c in mine if c.event == "recovered"]
        assert back.state is not None and back.state.job_id == back.jobs[-1][1]
        timer[name] = back.jobs[-1][1]
    # at the deadline (800) the timer and a webhook race: alarmed then recovered, or seen then
    # the timer re-arms itself; never a waiting row without its timer or an alarm left unseen
    due, seen = await asyncio.gather(
        a.heartbeat_due("x", job_id=timer["x"], now=800, alarm=ALARM),
        b.heartbeat_seen(["x"], now=800, recovery=RECOVERY),
    )
    assert (due.event, seen[0].event) in {("alarmed", "recovered"), ("rearmed", "seen")}
    [x, _] = await a.heartbeats()
    assert x.state == "waiting" and x.deadline == 1100 and x.job_id is not None
    pending = await a.claim(heartbeat_lane("x"), owner="t", now=10_000, lease=1, limit=10)
    assert x.job_id in [j.id for j in pending if j.type == "heartbeat"]
