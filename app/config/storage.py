"""`storage:`: where the outbox lives (a SQLite file) and how long finished work is kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from app.config.base import Duration, Strict, resolve_path


class StorageConfig(Strict):
    url: str = Field(default="sqlite:///data/alertmedic.db", validate_default=True)
    """`sqlite:///relative` (to the config file's directory) or `sqlite:////absolute`."""
    retention: Duration = 7 * 86400.0
    """Delivered and dead-lettered notifications, and idle threads, are purged after this."""
    busy_timeout: Duration = 5.0
    """How long a write waits for a database lock before the webhook answers 503."""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str, info: ValidationInfo) -> str:
        path = resolve_path(sqlite_path(v), info)
        return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if url.startswith(("postgres://", "postgresql://")):
        raise ValueError("PostgreSQL storage is not available yet; use sqlite:///path")
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError(f"expected sqlite:///relative/path or sqlite:////absolute/path, got {url!r}")
    return Path(url[len("sqlite:///") :])
