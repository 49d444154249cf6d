"""`console:`: the web console at /ui, behind a login of the users in an htpasswd file.

    console:
      enabled: true
      users_file: /etc/alertmedic/console-users    # htpasswd format, bcrypt ($2y$ / $2b$) only
      session_ttl: 12h

What a console user may do is granted in `chatops.permissions` to `console:<user>`, like a chat
user (fail closed: without a grant a user can look, never act). The users file is read at
start-up (`serve`, `check-config --strict`); a line with another kind of hash stops the start
naming the line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from app.config.base import ConfigPath, Duration, Strict
from app.core.console.htpasswd import parse_htpasswd


class ConsoleConfig(Strict):
    enabled: bool = False
    users_file: ConfigPath | None = None
    """htpasswd lines `user:$2y$…` (`htpasswd -B -c FILE alice`); relative to the config file."""
    session_ttl: Duration = 12 * 3600.0
    """A session ends this long after its login (or at logout)."""

    @model_validator(mode="after")
    def _needs_users(self) -> ConsoleConfig:
        if self.enabled and self.users_file is None:
            raise ValueError("enabled: true needs users_file (an htpasswd file with bcrypt hashes)")
        if self.session_ttl <= 0:
            raise ValueError("session_ttl must be more than 0")
        return self


def read_users(path: Path) -> dict[str, bytes]:
    """The users of `path` (user → bcrypt hash). Raises ValueError with a one-line reason."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"cannot read {path}: {why}") from None
    try:
        users = parse_htpasswd(text)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not users:
        raise ValueError(f"{path} lists no user")
    return users


def console_problems(console: ConsoleConfig | None) -> list[tuple[str, str]]:
    """The users file of an enabled console that cannot be used (for `serve` and
    `check-config --strict`)."""
    if console is None or not console.enabled or console.users_file is None:
        return []
    try:
        read_users(console.users_file)
    except ValueError as exc:
        return [("console.users_file", str(exc))]
    return []
