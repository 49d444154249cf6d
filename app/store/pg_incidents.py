"""Incidents on PostgreSQL: app/store/incidents.py's statements in asyncpg's dialect (numbered
`$n`), with the same outcomes under concurrency. Ingests of one group serialise on a
transaction-scoped advisory lock on its ref (the row may not exist yet to lock), so of replicas
ingesting the same change at once exactly one appends its events; the first acknowledgement is
the same conditional update as SQLite's."""

from __future__ import annotations

import functools
import re
from typing import Any

from app.core.incidents import IncidentFilter, IncidentNote, IncidentSummary, TimelineEvent
from app.store import incidents as q
from app.store.base import group_ref
from app.store.incidents import IncidentFacts, ResolvedIncident
from app.store.remediations import Remediation

Conn = Any
"""An asyncpg connection inside a transaction (asyncpg ships no type hints)."""

INCIDENT_LOCKS = 3
"""First key of the two-key advisory lock of an incident (app.store.postgres uses 1 and 2)."""


@functools.cache
def numbered(sql: str) -> str:
    """`?` placeholders as `$1`, `$2`, … (the shared statements hold no `?` in a literal)."""
    count = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


async def note_incident(conn: Conn, note: IncidentNote, now: float) -> ResolvedIncident | None:
    ref = group_ref(note.group_key)
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", INCIDENT_LOCKS, ref)
    done = q.step(await conn.fetchrow(numbered(q.SELECT_STATE), ref), note, now)
    if done is None:
        return None
    await conn.execute(numbered(q.UPSERT), *done.upsert)
    if done.events:
        await conn.executemany(numbered(q.INSERT_EVENT), done.events)
    return done.resolved


async def append_event(conn: Conn, group_key: str, event: TimelineEvent) -> None:
    await conn.execute(numbered(q.INSERT_EVENT), *q.appended(group_key, event))


async def approval_event(conn: Conn, rec: Remediation, now: float) -> None:
    await conn.execute(numbered(q.INSERT_EVENT), *q.decided(rec, now))


async def acked(conn: Conn, group_key: str, now: float) -> ResolvedIncident | None:
    return q.first_ack(await conn.fetchrow(numbered(q.ACKED), float(now), group_ref(group_key)), now)


async def list_incidents(conn: Conn, flt: IncidentFilter, limit: int) -> list[IncidentSummary]:
    sql, args = q.list_sql(flt, limit, contains="strpos")
    return [q.summary_of(r) for r in await conn.fetch(numbered(sql), *args)]


async def refs_with_prefix(conn: Conn, prefix: str, limit: int) -> list[str]:
    rows = await conn.fetch(numbered(q.PREFIX), len(prefix), prefix, prefix, limit)
    return [r[0] for r in rows]


async def read_facts(conn: Conn, ref: str) -> IncidentFacts | None:
    r = await conn.fetchrow(numbered(q.FACTS), ref)
    if r is None:
        return None
    key = r[1]
    return q.facts_of(
        r,
        payload=await conn.fetchval(numbered(q.PAYLOAD), key),
        events=await conn.fetch(numbered(q.EVENTS), ref),
        deliveries=await conn.fetch(numbered(q.DELIVERIES), key),
        enrichments=await conn.fetch(numbered(q.ENRICHMENTS), key),
        audits=await conn.fetch(numbered(q.AUDITS), key),
        remediations=await conn.fetch(numbered(q.REMEDIATIONS), key),
    )


async def purge(conn: Conn, older_than: float) -> int:
    n = 0
    for sql in q.PURGE:
        status = await conn.execute(numbered(sql), float(older_than))
        n += int(status.rsplit(" ", 1)[-1])
    return n
