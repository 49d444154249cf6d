"""Durable state: alert-group threads, the job queue (the outbox), message references."""

from __future__ import annotations

from app.config import StorageConfig, sqlite_path
from app.store.base import Store, StoreUnavailable
from app.store.sqlite import SQLiteStore

__all__ = ["SQLiteStore", "Store", "StoreUnavailable", "open_store"]


def open_store(config: StorageConfig) -> SQLiteStore:
    """The store a storage URL names (only SQLite for now)."""
    return SQLiteStore(sqlite_path(config.url), busy_timeout=config.busy_timeout)
