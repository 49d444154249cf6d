"""Shared fixtures: fake providers (tests.fakes), configs written to tmp dirs, a running app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import Config, parse_config
from tests.pg import fresh_database

pytest_plugins = ["tests.fakes.fixtures"]

# python-telegram-bot 22 warns (a DeprecationWarning, silent in production) when it builds
# RetryAfter unless this opt-in is set; with filterwarnings=error the warning would replace
# the exception under test. Child processes the tests start inherit it.
os.environ.setdefault("PTB_TIMEDELTA", "true")

TOKEN = "test-webhook-token"


def make_config(
    tmp_path: Path, receivers: list[dict[str, Any]], route: dict[str, Any], **extra: Any
) -> Config:
    """A validated Config with bearer auth TOKEN and SQLite under tmp_path."""
    return parse_config(yaml.safe_dump(raw_config(tmp_path, receivers, route, **extra))).config


def raw_config(
    tmp_path: Path, receivers: list[dict[str, Any]], route: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    """The YAML mapping of `make_config` (`extra` sections are merged into the defaults)."""
    raw: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0", "auth": {"bearer_token": TOKEN}},
        "storage": {"url": f"sqlite:///{tmp_path}/state.db"},
        "delivery": {"retry_initial": "100ms", "retry_max": "1s", "send_timeout": "5s"},
        "receivers": receivers,
        "route": route,
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """The URL of this test run's own PostgreSQL database (tests.pg; dropped at the end). For a
    database of a test's own, `with tests.pg.fresh_database() as url:`."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}
