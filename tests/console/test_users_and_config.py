"""`console:` as the issue writes it, the htpasswd users file (bcrypt only, other hashes refused
naming the line, at start-up too), `console:<user>` permissions, and the pure session helpers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from app.config import ConfigError, parse_config
from app.core.chatops.actions import Actor, Provider, Verb
from app.core.chatops.permissions import authorize
from app.core.console.htpasswd import parse_htpasswd
from app.core.console.session import csrf_ok, csrf_token, same_origin, throttled
from app.web.app import create_app
from tests.conftest import make_config

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
HASH_2Y = HASH.replace("$2b$", "$2y$", 1)

BASE = """
server: {auth: {bearer_token: t}}
receivers: [{name: a, file_configs: [{path: inbox.log}]}]
route: {receiver: a}
"""

ISSUE = """
console:
  enabled: true
  users_file: {users}    # htpasswd format, bcrypt
  session_ttl: 12h
chatops:
  permissions:
    - users: ["console:alice"]                 # console users get rights like chat users
      allow: [ack, unack, approve, reject, postmortem]
"""


def users_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "console-users"
    path.write_text(text)
    return path


def test_the_issues_section_loads_as_written(tmp_path: Path) -> None:
    users = users_file(tmp_path, f"alice:{HASH_2Y}\n")
    config = parse_config(BASE + ISSUE.format(users=users)).config
    assert config.console is not None
    assert (config.console.enabled, config.console.users_file, config.console.session_ttl) == (
        True,
        users,
        43200.0,
    )
    assert config.chatops is not None
    alice = Actor(Provider.CONSOLE, "alice", "alice")
    assert authorize(config.chatops.rules, alice, Verb.APPROVE, [{"alertname": "X"}])
    assert authorize(config.chatops.rules, alice, Verb.POSTMORTEM, [{"alertname": "X"}])
    bob = Actor(Provider.CONSOLE, "bob", "bob")
    assert not authorize(config.chatops.rules, bob, Verb.APPROVE, [{"alertname": "X"}])


def test_defaults_and_a_relative_users_file(tmp_path: Path) -> None:
    users_file(tmp_path, f"alice:{HASH}\n")
    config = parse_config(
        BASE + "console: {enabled: true, users_file: console-users}", base_dir=tmp_path
    ).config
    assert config.console is not None
    assert config.console.session_ttl == 12 * 3600
    assert config.console.users_file == tmp_path / "console-users"


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("{enabled: true}", "enabled: true needs users_file"),
        ("{enabled: true, users_file: u, session_ttl: 0s}", "session_ttl must be more than 0"),
        ("{enabled: true, users_file: u, sesion_ttl: 1h}", "did you mean `session_ttl`"),
    ],
)
def test_bad_sections_are_named(section: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + f"console: {section}", check_files=False)
    assert problem in str(err.value)
    assert "console" in str(err.value)


def test_a_console_user_that_is_no_user_id_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + 'chatops: {permissions: [{users: ["console:"], allow: [approve]}]}')
    assert "console:<user of console.users_file>" in str(err.value)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("bob:$apr1$abcdefgh$0123456789abcdefghijkl", "Apache MD5 ($apr1$)"),
        ("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1 ({SHA})"),
        ("bob:plaintext", "plain-text or crypt(3)"),
        ("bob:$6$salt$" + "a" * 86, "SHA-512-crypt"),
        ("bob:" + HASH.replace("$2b$", "$2a$", 1), "bcrypt $2a$"),
    ],
)
def test_other_hash_kinds_are_refused_naming_the_line(line: str, kind: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_htpasswd(f"# team\nalice:{HASH}\n\n{line}\n")
    message = str(err.value)
    assert message.startswith("line 4: user 'bob' has ")
    assert kind in message
    assert line.partition(":")[2] not in message  # the hash is never echoed


def test_users_file_lines() -> None:
    assert parse_htpasswd(f"alice:{HASH_2Y}\nbob@example.com:{HASH}\n") == {
        "alice": HASH_2Y.encode(),
        "bob@example.com": HASH.encode(),
    }
    for text, problem in [
        (f"alice:{HASH}\nalice:{HASH}", "line 2: user 'alice' is listed twice"),
        ("alice", "line 1: not `user:hash`"),
        (f"al ice:{HASH}", "line 1: user name 'al ice' is not"),
        (f"alice:{HASH[:-3]}", "line 1: user 'alice' has a malformed bcrypt hash"),
    ]:
        with pytest.raises(ValueError, match=problem):
            parse_htpasswd(text)


def test_serve_refuses_a_users_file_with_an_md5_line_in_one_line(tmp_path: Path) -> None:
    users = users_file(tmp_path, f"alice:{HASH}\ncarol:$apr1$abcdefgh$0123456789abcdefghijkl\n")
    config = tmp_path / "alertmedic.yml"
    config.write_text(
        BASE.replace("inbox.log", str(tmp_path / "inbox.log"))
        + f'storage: {{url: "sqlite:///{tmp_path}/state.db"}}\n'
        + f"console: {{enabled: true, users_file: {users}}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("alertmedic: cannot start: ")
    assert "console.users_file" in line
    assert "line 2: user 'carol' has an Apache MD5 ($apr1$) hash" in line
    assert "$apr1$abcdefgh" not in line


def test_csrf_token_is_tied_to_the_session() -> None:
    token = csrf_token("session-a")
    assert csrf_ok("session-a", token)
    assert not csrf_ok("session-b", token)
    assert not csrf_ok("session-a", None)
    assert not csrf_ok("session-a", "")


@pytest.mark.parametrize(
    ("origin", "referer", "ok"),
    [
        ("http://console.example:8080", None, True),
        ("HTTP://Console.Example:8080", None, True),
        ("http://evil.example", None, False),
        ("http://console.example:8080", "http://console.example:8080/ui", True),
        ("null", "http://console.example:8080/ui", False),
        (None, "http://console.example:8080/ui/approvals", True),
        (None, "http://evil.example/ui", False),
        (None, None, False),
    ],
)
def test_same_origin(origin: str | None, referer: str | None, ok: bool) -> None:
    assert same_origin(origin, referer, scheme="http", host="console.example:8080") is ok


def test_throttle_limits() -> None:
    assert not throttled({"user:alice": 4, "addr:10.0.0.1": 19}, "alice", "10.0.0.1")
    assert throttled({"user:alice": 5}, "Alice", "10.0.0.1")
    assert throttled({"addr:10.0.0.1": 20}, "bob", "10.0.0.1")


async def test_without_a_console_section_ui_does_not_exist(aiohttp_client: Any, tmp_path: Path) -> None:
    config = make_config(
        tmp_path, [{"name": "a", "file_configs": [{"path": str(tmp_path / "x.log")}]}], {"receiver": "a"}
    )
    client = await aiohttp_client(create_app(config))
    for path in ("/ui", "/ui/login"):
        assert (await client.get(path, allow_redirects=False)).status == 404
