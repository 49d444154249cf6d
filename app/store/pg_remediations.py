"""The remediation records and guard slots on PostgreSQL: app/store/remediations.py's statements in
asyncpg's dialect, with the same outcomes under concurrency (the record row is locked with
`FOR UPDATE` before it moves; a slot is taken by the same conditional upsert)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from app.core.remediation.guards import Slot
from app.store.base import NewJob
from app.store.remediations import (
    OPEN_STATES,
    REMEDIATION_COLUMNS,
    Change,
    NewRemediation,
    Remediation,
    Transition,
    remediation_lane,
    row_to_remediation,
)

Conn = Any
"""An asyncpg connection inside a transaction (asyncpg ships no type hints)."""

INSERT_JOB = (
    "INSERT INTO jobs (type, lane, group_key, kind, receiver, integration, payload, accepted_at,"
    " not_before) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
)


async def insert_job(conn: Conn, j: NewJob, now: float) -> int:
    jid = await conn.fetchval(
        INSERT_JOB,
        j.type,
        j.lane,
        j.group_key,
        j.kind,
        j.receiver,
        j.integration,
        j.payload,
        now,
        j.not_before,
    )
    return int(jid)


async def record_intents(
    conn: Conn, items: Sequence[NewRemediation], resolved: Sequence[str], now: float
) -> list[tuple[str, int]]:
    """As app.store.remediations.record_intents."""
    added: list[tuple[str, int]] = []
    for it in items:
        rid = await conn.fetchval(
            "INSERT INTO remediations (action, kind, target, fingerprint, episode, alertname, group_key,"
            " destinations, intent, dedup, state, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11)"
            " ON CONFLICT (dedup) DO NOTHING RETURNING id",
            it.action,
            it.kind,
            it.target,
            it.fingerprint,
            it.episode,
            it.alertname,
            it.group_key,
            json.dumps(list(it.destinations)),
            it.intent,
            it.dedup,
            now,
        )
        if rid is None:
            continue
        job = NewJob(
            "remediate",
            it.lane,
            json.dumps({"id": rid, "step": "decide"}),
            now,
            receiver="remediation",
            integration=it.kind,
        )
        jid = await insert_job(conn, job, now)
        await conn.execute("UPDATE remediations SET job_id = $1 WHERE id = $2", jid, rid)
        added.append((it.lane, jid))
    for fp in resolved:
        rows = await conn.fetch(
            "SELECT id, state, target, kind FROM remediations WHERE fingerprint = $1"
            " AND state = ANY($2::text[]) ORDER BY id FOR UPDATE",
            fp,
            list(OPEN_STATES),
        )
        for rid, state, target, kind in rows:
            await conn.execute(
                "UPDATE remediations SET state = 'cancelled', updated_at = $1 WHERE id = $2", now, rid
            )
            if state == "awaiting_approval":  # its pending job is the expiry, hours away: report now
                lane = remediation_lane(target)
                job = NewJob(
                    "remediate",
                    lane,
                    json.dumps({"id": rid, "step": "finish"}),
                    now,
                    receiver="remediation",
                    integration=kind,
                )
                jid = await insert_job(conn, job, now)
                await conn.execute("UPDATE remediations SET job_id = $1 WHERE id = $2", jid, rid)
                added.append((lane, jid))
    return added


async def take_slot(conn: Conn, slot: Slot) -> bool:
    """The documented conditional upsert: True when the slot is ours now."""
    row = await conn.fetchrow(
        "INSERT INTO remediation_slots (key, holder, taken_at, expires_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, taken_at = excluded.taken_at,"
        " expires_at = excluded.expires_at"
        " WHERE remediation_slots.expires_at <= excluded.taken_at"
        " OR remediation_slots.holder = excluded.holder RETURNING holder",
        slot.key,
        slot.holder,
        slot.taken_at,
        min(slot.expires_at, 1e300),
    )
    return row is not None


async def apply_transition(
    conn: Conn, rid: int, job_id: int | None, change: Change, now: float
) -> Transition:
    row = await conn.fetchrow("SELECT job_id, state FROM remediations WHERE id = $1 FOR UPDATE", rid)
    if row is None or (job_id is not None and row[0] != job_id):
        return "stale"
    if change.expect and row[1] not in change.expect:
        return "stale"
    tx = conn.transaction()  # a savepoint: a slot held by another undoes the ones taken before it
    await tx.start()
    for slot in change.take:
        if not await take_slot(conn, slot):
            await tx.rollback()
            return "conflict"
    await tx.commit()
    for key in change.free:
        await conn.execute("DELETE FROM remediation_slots WHERE key = $1 AND holder = $2", key, f"r{rid}")
    sets = {**change.fields, "state": change.state, "updated_at": now}
    ids = [await insert_job(conn, j, now) for j in change.jobs]
    if change.chain and ids:
        sets["job_id"] = ids[0]
    cols = ", ".join(f"{k} = ${i}" for i, k in enumerate(sets, start=2))
    await conn.execute(f"UPDATE remediations SET {cols} WHERE id = $1", rid, *sets.values())  # noqa: S608
    return "ok"


async def decide_approval(
    conn: Conn, rid: int, approve: bool, actor: str, now: float, job: NewJob
) -> Remediation | str:
    select = f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE id = $1"  # noqa: S608
    row = await conn.fetchrow(select + " FOR UPDATE", rid)
    if row is None:
        return f"no action {rid}"
    rec = row_to_remediation(row)
    if rec.state != "awaiting_approval":
        return f"action {rid} is {rec.state}, not awaiting approval"
    if rec.expires_at is not None and now >= rec.expires_at:
        return f"action {rid} expired awaiting approval"
    jid = await insert_job(conn, job, now)
    await conn.execute(
        "UPDATE remediations SET state = $1, actor = $2, job_id = $3, updated_at = $4 WHERE id = $5",
        "approved" if approve else "rejected",
        actor,
        jid,
        now,
        rid,
    )
    return row_to_remediation(await conn.fetchrow(select, rid))


async def read_remediation(conn: Conn, rid: int) -> Remediation | None:
    r = await conn.fetchrow(f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE id = $1", rid)  # noqa: S608
    return None if r is None else row_to_remediation(r)


async def read_remediations(conn: Conn, *, limit: int, open_only: bool) -> list[Remediation]:
    where = (
        " WHERE state IN ('pending', 'awaiting_approval', 'approved', 'acting', 'verifying')"
        if open_only
        else ""
    )
    rows = await conn.fetch(
        f"SELECT {REMEDIATION_COLUMNS} FROM remediations{where} ORDER BY id DESC LIMIT $1",  # noqa: S608
        limit,
    )
    return [row_to_remediation(r) for r in rows]


async def read_group_remediations(conn: Conn, group_key: str) -> list[Remediation]:
    rows = await conn.fetch(
        f"SELECT {REMEDIATION_COLUMNS} FROM remediations WHERE group_key = $1"  # noqa: S608
        " ORDER BY id DESC LIMIT 10",
        group_key,
    )
    return [row_to_remediation(r) for r in rows]


async def read_slots(conn: Conn, keys: Sequence[str]) -> dict[str, Slot]:
    rows = await conn.fetch(
        "SELECT key, holder, taken_at, expires_at FROM remediation_slots WHERE key = ANY($1::text[])",
        list(keys),
    )
    found = {r[0]: Slot(r[0], r[1], r[2], r[3]) for r in rows}
    return {k: found[k] for k in keys if k in found}
