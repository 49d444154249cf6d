"""A private PostgreSQL server for tests that stop and restart the database.

The machine's shared server on 5432 serves other test runs, so it is never restarted; a test
that takes the database away runs its own: `initdb` into a fresh directory, then `pg_ctl start`
/ `stop` on a free loopback port, with the socket directory inside the data directory, trust
authentication (loopback only) and no durability work (fsync off: the data is thrown away).
PostgreSQL refuses to run as root, so as root every command runs as the `postgres` OS user
(`runuser`), and the directory is made in /tmp (pytest's tmp dirs are root-only) and chowned.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.proc import free_port


def pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's `name` binary (initdb and pg_ctl are not on PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(
            f"PostgreSQL's {name} is missing: install Debian's postgresql (`make system-deps` does it)",
            pytrace=False,
        )
    return found[-1]


class PrivatePostgres:
    """One throw-away PostgreSQL cluster; `url(db)` names a database in it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alertmedic-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.running = False
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o700)
        self._run(
            pg_bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stdout[-1000:]}{out.stderr[-1000:]}")
        return out

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        log = self.root / "server.log"
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(log), "-w", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects the clients and shuts down cleanly; `immediate` is a crash."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        self.running = False

    def create_database(self, name: str) -> str:
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
