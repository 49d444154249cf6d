"""`alertmedic serve` start-up failures: one clear line on stderr, exit code 1, no traceback.

Each test runs the real CLI in a child process against real files and a real busy port.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = {"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "default"}


def write_config(tmp_path: Path, *, token_file: str = "", listen: str = "127.0.0.1:0", db: str = "") -> Path:
    auth = f"bearer_token_file: {token_file}" if token_file else "bearer_token: t0ken"
    url = db or f"sqlite:///{tmp_path}/data/state.db"
    path = tmp_path / "alertmedic.yml"
    path.write_text(
        f"""
server: {{listen: "{listen}", auth: {{{auth}}}}}
storage: {{url: "{url}"}}
receivers: [{{name: a, file_configs: [{{path: {tmp_path}/inbox.log}}]}}]
route: {{receiver: a}}
"""
    )
    return path


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=timeout, env=ENV
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Unclosed" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("content", ["", "\n"])
def test_empty_secret_file(tmp_path: Path, content: str) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    config = write_config(tmp_path, token_file=str(token))
    line = assert_one_line(run("serve", "--config", str(config)), "server.auth.bearer_token_file", "is empty")
    assert line.startswith("alertmedic: cannot start: ")
    # check-config --strict refuses what serve refuses; plain check-config warns.
    strict = run("check-config", "--strict", str(config))
    assert strict.returncode == 1
    assert f"server.auth.bearer_token_file: {token} is empty" in strict.stderr
    lenient = run("check-config", str(config))
    assert lenient.returncode == 0
    assert "warning: server.auth.bearer_token_file" in lenient.stderr


def test_missing_secret_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, token_file=str(tmp_path / "nope"))
    assert_one_line(run("serve", "--config", str(config)), "server.auth.bearer_token_file", "cannot read")


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def test_busy_port(tmp_path: Path, busy_port: int) -> None:
    config = write_config(tmp_path, listen=f"127.0.0.1:{busy_port}")
    result = run("serve", "--config", str(config))
    assert_one_line(result, f"cannot listen on 127.0.0.1:{busy_port}", "Address already in use")
    assert "started" not in result.stdout + result.stderr
    # Nothing was created before the port was known to be free... except what is checked.
    assert not (tmp_path / "data" / "state.db").exists()


@pytest.fixture
def unwritable_directory(tmp_path: Path) -> Iterator[Path]:
    """A real directory this user cannot create files in: mode 0555, or for root (who writes
    anywhere else) a sysfs directory."""
    if os.geteuid() == 0:
        yield Path("/sys/kernel")
        return
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    yield data
    data.chmod(0o755)


def test_read_only_data_directory(tmp_path: Path, unwritable_directory: Path) -> None:
    config = write_config(tmp_path, db=f"sqlite:///{unwritable_directory}/state.db")
    assert_one_line(
        run("serve", "--config", str(config)),
        f"the data directory {unwritable_directory} is not writable",
        "make it writable by this user",
    )


def test_data_directory_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    config = write_config(tmp_path, db=f"sqlite:///{tmp_path}/file/data/state.db")
    assert_one_line(
        run("serve", "--config", str(config)), f"cannot create the data directory {tmp_path}/file/data"
    )


def _good_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()


def _zeroed_header(path: Path) -> None:
    _good_database(path)
    with path.open("r+b") as f:
        f.write(b"\0" * 100)


def _overwritten_pages(path: Path) -> None:
    _good_database(path)
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(os.urandom(4096 * 3))


def _truncated(path: Path) -> None:
    _good_database(path)
    with path.open("r+b") as f:
        f.truncate(4096 + 100)


def _text_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not a database\n" * 10)


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (_zeroed_header, "is not a SQLite database"),
        (_text_file, "is not a SQLite database"),
        (_overwritten_pages, "is corrupt"),
        (_truncated, "is corrupt"),
    ],
    ids=["zeroed-header", "text-file", "overwritten-pages", "truncated"],
)
def test_corrupt_database(tmp_path: Path, damage: object, what: str) -> None:
    db = tmp_path / "data" / "state.db"
    damage(db)  # type: ignore[operator]
    config = write_config(tmp_path)
    line = assert_one_line(run("serve", "--config", str(config)), f"the database {db} {what}")
    assert "move it aside" in line and "restore it from a backup" in line


def test_empty_database_file_is_new_and_said_so(tmp_path: Path) -> None:
    """An empty file is a new database, and the log says so (the service runs)."""
    db = tmp_path / "data" / "state.db"
    db.parent.mkdir()
    db.touch()
    config = write_config(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert f"the database {db} is empty: starting a new outbox in it" in first
        assert "started" in proc.stderr.readline()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
