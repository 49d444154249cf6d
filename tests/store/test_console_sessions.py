"""Contract: console sessions and failed logins, shared by every store instance (replica) on the
same state; a session is found by its token's hash only until it expires or is logged out."""

from __future__ import annotations

from tests.store.conftest import OpenStore

T = 1_900_000_000.0


async def test_a_session_is_seen_by_another_replica_until_it_expires(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    await a.console_login("h1", user="alice", now=T, expires_at=T + 3600)
    found = await b.console_session("h1", now=T + 10)
    assert found is not None
    assert (found.user, found.created_at, found.expires_at) == ("alice", T, T + 3600)
    assert await b.console_session("h2", now=T + 10) is None
    assert await b.console_session("h1", now=T + 3600) is None  # expired at its end


async def test_logout_ends_the_session_everywhere(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    await a.console_login("h1", user="alice", now=T, expires_at=T + 3600)
    await a.console_login("h2", user="alice", now=T, expires_at=T + 3600)
    assert await b.console_logout("h1") is True
    assert await b.console_logout("h1") is False
    assert await a.console_session("h1", now=T + 1) is None
    assert await a.console_session("h2", now=T + 1) is not None


async def test_expired_sessions_are_forgotten_at_the_next_login_and_by_purge(open_store: OpenStore) -> None:
    s = await open_store()
    await s.console_login("old", user="alice", now=T, expires_at=T + 10)
    await s.console_login("new", user="bob", now=T + 20, expires_at=T + 1000)
    assert await s.console_logout("old") is False  # already gone
    await s.console_failed(["user:bob"], now=T)
    assert await s.purge(older_than=T + 200) == 1  # the failure; the live session stays
    assert await s.console_session("new", now=T + 50) is not None
    assert await s.console_failures(["user:bob"], since=0) == {"user:bob": 0}
    assert await s.purge(older_than=T + 2000) == 1  # the session, once expired before it
    assert await s.console_session("new", now=T + 50) is None


async def test_failures_are_counted_per_key_within_the_window(open_store: OpenStore) -> None:
    a, b = await open_store(), await open_store()
    for i in range(3):
        await a.console_failed(["user:alice", "addr:10.0.0.1"], now=T + i)
    await b.console_failed(["user:bob", "addr:10.0.0.1"], now=T + 100)
    counts = await b.console_failures(["user:alice", "user:bob", "addr:10.0.0.1", "addr:x"], since=T + 1)
    assert counts == {"user:alice": 2, "user:bob": 1, "addr:10.0.0.1": 3, "addr:x": 0}
