"""Checks of the database file before the service starts, each failure one sentence to act on.

Run before anything else starts, so a read-only directory, a corrupt file or a text file in the
database's place stop the service with one line that names the file and says what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


class DatabaseUnusable(Exception):
    """The database file or its directory cannot be used; the message says what to do."""


def check_database(path: Path) -> str | None:
    """Raise DatabaseUnusable when `path` cannot hold the outbox; return a note worth logging
    (an empty file taken as a new database), or None. Creates the data directory if needed."""
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseUnusable(
            f"cannot create the data directory {directory} ({exc.strerror}): create it, "
            "make it writable by this user or point storage.url elsewhere"
        ) from None
    try:  # a real write: permissions, read-only filesystems and root alike
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".alertmedic-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DatabaseUnusable(
            f"the data directory {directory} is not writable ({exc.strerror}; SQLite writes its "
            f"journal next to {path.name}): make it writable by this user or point storage.url elsewhere"
        ) from None
    if not path.exists():
        return None
    if not path.is_file():
        raise DatabaseUnusable(f"the database {path} is not a regular file: fix storage.url")
    if not os.access(path, os.R_OK | os.W_OK):
        raise DatabaseUnusable(
            f"the database {path} is not readable and writable by this user: fix its permissions"
        )
    if path.stat().st_size == 0:
        return f"the database {path} is empty: starting a new outbox in it"
    _check_content(path)
    return None


def _corrupt(path: Path, what: str) -> DatabaseUnusable:
    return DatabaseUnusable(
        f"the database {path} {what}: move it aside to start with an empty outbox "
        "(pending notifications in it are lost) or restore it from a backup"
    )


def _check_content(path: Path) -> None:
    with path.open("rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise _corrupt(path, "is not a SQLite database (its header is wrong)")
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path)
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, f"is corrupt ({exc})") from None
    finally:
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
    if rows != [("ok",)]:
        raise _corrupt(path, f"is corrupt ({rows[0][0] if rows else 'no answer from quick_check'})")
