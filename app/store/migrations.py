"""Versioned schema migrations, applied in order at start-up inside one transaction each.

Each step re-reads the version inside its write transaction, so processes that start at once on
the same file apply each step exactly once.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: threads (one per alert group and destination) and the outbox of notifications.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE threads (
        group_key TEXT NOT NULL,
        destination TEXT NOT NULL,
        signature TEXT NOT NULL,
        firing TEXT NOT NULL,
        accepted_at REAL NOT NULL,
        message_ref TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (group_key, destination)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        destination TEXT NOT NULL,
        group_key TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('new', 'update')),
        payload TEXT NOT NULL,
        accepted_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        finished_at REAL
    );
    CREATE INDEX outbox_pending ON outbox (destination, id) WHERE state = 'pending';
    CREATE INDEX outbox_finished ON outbox (finished_at) WHERE state != 'pending';
    """,
    # 2: the outbox becomes a typed job queue: lanes, timers (not_before); a lane is leased to one
    # worker at a time (leases). Threads keep their previous state, which the dedup upsert returns.
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        type TEXT NOT NULL,
        lane TEXT NOT NULL,
        group_key TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT '',
        receiver TEXT NOT NULL DEFAULT '',
        integration TEXT NOT NULL DEFAULT '',
        payload TEXT NOT NULL,
        accepted_at REAL NOT NULL,
        not_before REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        finished_at REAL
    );
    INSERT INTO jobs (id, type, lane, group_key, kind, receiver, integration, payload, accepted_at,
                      not_before, state, attempts, last_error, finished_at)
        SELECT id, 'notify', destination, group_key, kind,
               substr(destination, 1, instr(destination, '/') - 1),
               substr(destination, instr(destination, '/') + 1,
                      instr(destination, '[') - instr(destination, '/') - 1),
               payload, accepted_at, next_attempt_at,
               CASE state WHEN 'delivered' THEN 'done' ELSE state END,
               attempts, last_error, finished_at
        FROM outbox ORDER BY id;
    DROP TABLE outbox;
    CREATE INDEX jobs_pending ON jobs (lane, id) WHERE state = 'pending';
    CREATE INDEX jobs_finished ON jobs (finished_at) WHERE state != 'pending';
    CREATE TABLE leases (
        lane TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        lease_until REAL NOT NULL
    );
    ALTER TABLE threads ADD COLUMN prev_signature TEXT;
    ALTER TABLE threads ADD COLUMN prev_firing TEXT;
    """,
    # 3: enrichment (log lines, graphs) computed once per alert group state and kept for every
    # destination and retry; a row without a result is a claim, leased to the worker fetching it.
    """
    CREATE TABLE enrichments (
        group_key TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        lease_until REAL NOT NULL,
        result TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (group_key, state)
    );
    CREATE INDEX enrichments_created ON enrichments (group_key, created_at);
    """,
    # 4: self-healing: the guard slots (one row per held key; the primary key makes exactly one
    # holder win) and one record per intent (its state, and the audit of every action, refusal
    # and approval).
    """
    CREATE TABLE remediation_slots (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        taken_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE remediations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        episode TEXT NOT NULL,
        alertname TEXT NOT NULL,
        group_key TEXT NOT NULL,
        destinations TEXT NOT NULL,
        intent TEXT NOT NULL,
        dedup TEXT UNIQUE,
        state TEXT NOT NULL,
        job_id INTEGER,
        claims TEXT,
        pinned TEXT,
        acted TEXT,
        guard TEXT,
        reason TEXT,
        actor TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL,
        acted_at REAL
    );
    CREATE INDEX remediations_fingerprint ON remediations (fingerprint, state);
    """,
    # 5: responding from chat: the chat state of each alert group (ack, silence, escalation), the
    # Slack requests accepted (replay keys, until they expire) and an audit of chat actions.
    """
    CREATE TABLE chat_groups (
        ref TEXT PRIMARY KEY,
        group_key TEXT NOT NULL UNIQUE,
        payload TEXT NOT NULL,
        payload_at REAL NOT NULL,
        firing TEXT NOT NULL,
        resolved INTEGER NOT NULL,
        first_notified_at REAL NOT NULL,
        ack_by TEXT,
        ack_at REAL,
        ack_firing TEXT,
        ack_cleared_by TEXT,
        silence_id TEXT,
        silence_by TEXT,
        silence_until REAL,
        escalations TEXT NOT NULL DEFAULT '[]',
        updated_at REAL NOT NULL
    );
    CREATE TABLE chat_replays (key TEXT PRIMARY KEY, expires_at REAL NOT NULL);
    CREATE TABLE chat_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        source TEXT NOT NULL,
        user_key TEXT NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        group_key TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX chat_audit_at ON chat_audit (at);
    """,
    # 6 (replicas): rate-limit buckets shared by every replica, one row per key holding its
    # theoretical arrival time (app.store.ratelimits); named leases use the `leases` table.
    """
    CREATE TABLE rate_limits (key TEXT PRIMARY KEY, tat REAL NOT NULL);
    """,
    # 7 (heartbeats, the dead-man's switch): one row per heartbeat, waiting or alarmed, with its
    # deadline and the one timer job that may move it on (app.store.heartbeats).
    """
    CREATE TABLE heartbeats (
        name TEXT PRIMARY KEY,
        timeout REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('waiting', 'alarmed')),
        first_start REAL NOT NULL,
        last_seen REAL,
        deadline REAL NOT NULL,
        alarmed_at REAL,
        job_id INTEGER,
        updated_at REAL NOT NULL
    );
    """,
    # 8 (incidents, issue 12): one row per alert group (its current episode) and the timeline events
    # no other table holds (alerts firing and resolving, retries, approvals, post-mortems sent).
    # Both are single b-trees (WITHOUT ROWID, keyed by the group's ref; an event by its number
    # within its incident), without time indexes and without the group's payload (its notify
    # jobs hold it): a webhook that changes an incident writes two pages more, one that changes
    # nothing none. Listing and purge read these small tables whole.
    """
    CREATE TABLE incidents (
        ref TEXT PRIMARY KEY,
        group_key TEXT NOT NULL,
        title TEXT NOT NULL,
        severity TEXT NOT NULL,
        namespace TEXT,
        receiver TEXT NOT NULL,
        receivers TEXT NOT NULL,
        labels TEXT NOT NULL,
        firing TEXT NOT NULL,
        alerts_total INTEGER NOT NULL,
        started_at REAL NOT NULL,
        opened_at REAL NOT NULL,
        last_change REAL NOT NULL,
        resolved_at REAL,
        ended_at REAL,
        acked_at REAL,
        episode INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE incident_events (
        ref TEXT NOT NULL,
        seq INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT,
        summary TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (ref, seq)
    ) WITHOUT ROWID;
    """,
    # 9 (web console): console sessions, kept as the SHA-256 of their token, and failed logins
    # (one row each) that the login throttle counts; shared by every replica.
    """
    CREATE TABLE console_sessions (
        token_hash TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
    CREATE TABLE console_login_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX console_login_failures_key ON console_login_failures (key, at);
    """,
]


def current_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to the newest version; return it. Refuse a database from the future."""
    for target in range(1, len(MIGRATIONS) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(conn)
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"database schema v{version} is newer than this alertmedic "
                    f"(v{len(MIGRATIONS)}); upgrade alertmedic"
                )
            if version < target:
                for stmt in MIGRATIONS[target - 1].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(target),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)
