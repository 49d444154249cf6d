"""`storage:`: where durable state lives (a SQLite file, or a PostgreSQL database for several
replicas) and how long finished work is kept."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pydantic import Field, ValidationInfo, field_validator

from app.config.base import Duration, resolve_path
from app.config.secrets import Secret, SecretField, SecretFile, SecretModel, Secrets

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
POSTGRES_SCHEMES = ("postgres://", "postgresql://")


class StorageConfig(SecretModel):
    url: str = Field(default="sqlite:///data/alertmedic.db", validate_default=True)
    """`sqlite:///relative` (to the config file's directory), `sqlite:////absolute`, or
    `postgresql://user@host:5432/database?sslmode=require` (also `postgres://`)."""
    password: Secret = None
    password_file: SecretFile = None
    """PostgreSQL: the password (else the one in the URL, e.g. `${PGPASSWORD}`, or none)."""
    pool_size: int = Field(default=10, ge=1, le=1000)
    """PostgreSQL: connections this process keeps at most."""
    retention: Duration = 7 * 86400.0
    """Delivered and dead-lettered notifications, and idle threads, are purged after this."""
    busy_timeout: Duration = 5.0
    """How long a write waits for a database lock before the webhook answers 503 (PostgreSQL:
    how long a connection attempt or a statement may take, at least 10 s)."""

    secrets: ClassVar[Secrets] = (SecretField("password", required=False),)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str, info: ValidationInfo) -> str:
        if is_postgres(v):
            check_postgres_url(v)
            return v
        path = resolve_path(sqlite_path(v), info)
        return f"sqlite:///{path}"

    @property
    def postgres(self) -> bool:
        return is_postgres(self.url)

    def extra_secrets(self) -> list[str]:
        """The password written inside the URL, so that logs scrub it too."""
        found = urlsplit(self.url).password if self.postgres else None
        return [found] if found else []


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def check_postgres_url(url: str) -> None:
    """Raise ValueError (without the password) unless `url` names a PostgreSQL database."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ValueError(f"not a valid PostgreSQL URL ({exc}): {shown}") from None
    if not parts.hostname and "host" not in parse_qs(parts.query):
        raise ValueError(f"expected postgresql://user@host:5432/database, no host in {shown}")
    if not parts.path.strip("/"):
        raise ValueError(f"expected postgresql://user@host:5432/database, no database in {shown}")
    modes = parse_qs(parts.query).get("sslmode", [])
    for mode in modes:
        if mode not in SSL_MODES:
            raise ValueError(f"sslmode {mode!r} is not one of {', '.join(SSL_MODES)}")


def ssl_mode(url: str) -> str | None:
    """The `sslmode` of a PostgreSQL URL, if it gives one."""
    modes = parse_qs(urlsplit(url).query).get("sslmode", [])
    return modes[-1] if modes else None


def redact_url(url: str) -> str:
    """The URL with its password (if any) masked: what logs, errors and check-config show."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url.split("@", 1)[-1] if "@" in url else url
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def sqlite_path(url: str) -> Path:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if is_postgres(url):
        raise ValueError("this needs a SQLite store (sqlite:///path); storage.url is PostgreSQL")
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError(
            f"expected sqlite:///relative/path, sqlite:////absolute/path or postgresql://…,"
            f" got {redact_url(url)!r}"
        )
    return Path(url[len("sqlite:///") :])
