"""The app's resources: one cleanup_ctx and typed AppKey each; a failed start leaves nothing open."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from app.store.base import StoreUnavailable
from app.web.app import DISPATCHER, PURGER, SESSION, SINKS, STORE, create_app
from tests.conftest import make_config


async def test_resources_start_in_order_and_stop(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, [{"name": "a", "file_configs": [{"path": str(tmp_path / "inbox.log")}]}], {"receiver": "a"}
    )
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert app[STORE].path == tmp_path / "state.db"
        assert not app[SESSION].closed
        assert list(app[SINKS].sinks) == ["a/file[0]"]
        assert app[SINKS].destinations["a/file[0]"].receiver == "a"
        assert app[DISPATCHER].running
        assert not app[PURGER].done()
    finally:
        await runner.cleanup()
    assert app[SESSION].closed
    assert app[PURGER].cancelled()
    assert not app[DISPATCHER].running


async def test_a_failed_start_closes_what_had_started(tmp_path: Path) -> None:
    """A sink that cannot be built (its secret file vanished after the config was loaded):
    the store and the HTTP session that started before it are closed again."""
    secret = tmp_path / "url"
    secret.write_text("http://127.0.0.1:9/hook")
    config = make_config(
        tmp_path, [{"name": "r", "webhook_configs": [{"url_file": str(secret)}]}], {"receiver": "r"}
    )
    secret.unlink()
    app = create_app(config)
    runner = web.AppRunner(app)
    with pytest.raises(ValueError, match=r"^r/webhook\[0\]: No such file or directory"):
        await runner.setup()
    await runner.cleanup()
    assert app[SESSION].closed
    assert SINKS not in app
    with pytest.raises(StoreUnavailable, match="closed"):
        await app[STORE].ping()
