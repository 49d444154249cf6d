"""Durable state: alert-group threads, the job queue (the outbox), message references."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from app.config import StorageConfig, redact_url, sqlite_path
from app.config.secrets import secret
from app.config.storage import ssl_mode
from app.store.base import Store, StoreUnavailable
from app.store.postgres import PostgresStore, StoreRefused
from app.store.remediations import RemediatingStore
from app.store.sqlite import SQLiteStore

__all__ = ["PostgresStore", "SQLiteStore", "Store", "StoreRefused", "StoreUnavailable", "open_store"]


def open_store(
    config: StorageConfig,
    *,
    keep_trying: bool = False,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RemediatingStore:
    """The store `config.url` names (not started). `keep_trying`: a PostgreSQL store that cannot
    reach its server at start keeps connecting in the background (what `serve` wants; the CLI
    wants the error); `sleep` is the clock's, for that backoff."""
    if not config.postgres:
        return SQLiteStore(sqlite_path(config.url), busy_timeout=config.busy_timeout)
    try:
        password = secret(config, "password")
    except OSError as exc:
        raise StoreRefused(
            f"storage.password_file: cannot read {config.password_file}: {exc.strerror}"
        ) from None
    return PostgresStore(
        config.url,
        shown=redact_url(config.url),
        password=password,
        ssl=ssl_mode(config.url),
        pool_size=config.pool_size,
        timeout=max(config.busy_timeout, 10.0),
        keep_trying=keep_trying,
        sleep=sleep,
    )
