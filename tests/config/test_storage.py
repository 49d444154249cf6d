"""`storage:` for PostgreSQL: the URL, the password (file, inline or inside the URL via `${VAR}`),
sslmode, pool_size, and that no password reaches logs, errors or check-config's output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app.config import ConfigError, parse_config, redact_url, secret_values
from app.config.secrets import secret_problems
from app.store import PostgresStore, SQLiteStore, StoreRefused, open_store
from tests.conftest import raw_config

RECEIVERS = [{"name": "a", "file_configs": [{"path": "/tmp/alertmedic-test-inbox.log"}]}]


def config_text(tmp_path: Path, storage: dict[str, object]) -> str:
    return yaml.safe_dump(raw_config(tmp_path, RECEIVERS, {"receiver": "a"}, storage=storage))


def problems(tmp_path: Path, storage: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(config_text(tmp_path, storage), check_files=False)
    return err.value.problems


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_postgres_url_opens_a_postgres_store(tmp_path: Path, scheme: str) -> None:
    url = f"{scheme}://alertmedic@db.monitoring:5432/alertmedic?sslmode=require"
    c = parse_config(config_text(tmp_path, {"url": url, "pool_size": 3}), check_files=False).config
    assert c.storage.url == url and c.storage.postgres
    store = open_store(c.storage)
    assert isinstance(store, PostgresStore)
    assert (store.url, store.pool_size, store._ssl) == (url, 3, "require")
    sqlite = parse_config(config_text(tmp_path, {"url": "sqlite:///x.db"}), check_files=False).config
    assert isinstance(open_store(sqlite.storage), SQLiteStore)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u@db:5432/x?sslmode=sometimes", "sslmode 'sometimes' is not one of disable, allow"),
        ("postgresql://u@db:5432/", "no database in postgresql://u@db:5432/"),
        ("postgresql://u:hunter2@:5432/x", "no host in postgresql://u:***@:5432/x"),
        ("postgresql://u:hunter2@db:port/x", "not a valid PostgreSQL URL"),
        ("mysql://u:hunter2@db/x", "got 'mysql://u:***@db/x'"),
    ],
)
def test_a_bad_url_names_the_field_and_hides_the_password(tmp_path: Path, url: str, says: str) -> None:
    found = problems(tmp_path, {"url": url})
    assert len(found) == 1
    where, message = found[0]
    assert where == "storage.url" and says in message
    assert "hunter2" not in message


def test_the_password_comes_from_password_file_or_inline_not_both(tmp_path: Path) -> None:
    pw = tmp_path / "pgpass"
    pw.write_text("s3cret-pw\n")
    url = "postgresql://alertmedic@db:5432/alertmedic"
    c = parse_config(config_text(tmp_path, {"url": url, "password_file": str(pw)})).config
    store = open_store(c.storage)
    assert isinstance(store, PostgresStore) and store._password == "s3cret-pw"
    assert "s3cret-pw" in secret_values(c)  # scrubbed from every log line
    both = problems(tmp_path, {"url": url, "password_file": str(pw), "password": "x"})
    assert both == [("storage", "set only one of password, password_file")]


def test_an_unreadable_password_file_is_refused(tmp_path: Path) -> None:
    c = parse_config(
        config_text(tmp_path, {"url": "postgresql://u@db/x", "password_file": str(tmp_path / "nope")}),
        check_files=False,
    ).config
    assert [p for p, _ in secret_problems(c)] == ["storage.password_file"]
    with pytest.raises(StoreRefused, match=r"storage\.password_file: cannot read"):
        open_store(c.storage)


def test_a_password_inside_the_url_from_the_environment_is_a_secret(tmp_path: Path) -> None:
    text = config_text(tmp_path, {"url": "postgresql://alertmedic:${PGPW}@db:5432/alertmedic"})
    c = parse_config(text, env={"PGPW": "from-env-pw"}, check_files=False).config
    assert c.storage.url == "postgresql://alertmedic:from-env-pw@db:5432/alertmedic"
    assert "from-env-pw" in secret_values(c)
    store = open_store(c.storage)
    assert isinstance(store, PostgresStore) and "from-env-pw" not in store.shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h:5432/d?sslmode=require", "postgresql://u:***@h:5432/d?sslmode=require"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgres://:pw@h/d", "postgres://:***@h/d"),
        ("sqlite:////var/lib/a.db", "sqlite:////var/lib/a.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_check_config_shows_the_storage_without_its_password(tmp_path: Path) -> None:
    path = tmp_path / "alertmedic.yml"
    path.write_text(config_text(tmp_path, {"url": "postgresql://alertmedic:hunter2@db:5432/alertmedic"}))
    done = subprocess.run(
        [sys.executable, "-m", "app", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "storage postgresql://alertmedic:***@db:5432/alertmedic" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
