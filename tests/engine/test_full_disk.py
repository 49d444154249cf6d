"""A full disk under the store, on a real 2 MB tmpfs: a delivery whose record cannot be written is
never sent again; /readyz says why it is not ready; everything recovers once space is back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.engine.clock import ManualClock
from app.web.app import create_app
from app.web.state import STATE
from tests.conftest import TOKEN, make_config
from tests.engine.test_delivery import eventually
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem: a tmpfs, which needs root (as `make test` runs in this project's
    sandbox and containers)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"the full-disk tests mount a 2 MB tmpfs and need root: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> int:
    """Write zeros until the filesystem refuses; return the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as f:
        chunk = b"\0" * 4096
        while True:
            try:
                written += f.write(chunk)
            except OSError:
                return written


async def post(client: Client, key: str) -> int:
    resp = await client.post(
        "/webhook/alertmanager",
        json=message(key, [alert("Disk", f"fp-{key}")]),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    return resp.status


async def test_full_disk_holds_the_lane_reports_unready_and_recovers(
    aiohttp_client: Any, tmp_path: Path, small_fs: Path, webhook_sink: WebhookSink
) -> None:
    clock = ManualClock()
    config = make_config(
        tmp_path,
        [{"name": "hook", "webhook_configs": [{"url": webhook_sink.url_for("/h")}]}],
        {"receiver": "hook"},
        storage={"url": f"sqlite:///{small_fs}/state.db"},
    )
    client: Client = await aiohttp_client(create_app(config, clock=clock))
    state = client.app[STATE]
    depth: list[float] = []

    def sample() -> None:
        depth.append(state.metrics.outbox_depth._value.get())

    webhook_sink.hold()  # the first send stays in flight while the disk fills
    groups = [f"g{i}" for i in range(12)]
    for key in groups:
        assert await post(client, key) == 200
    sample()
    await webhook_sink.wait_held(1)
    # Fold the WAL back (as the checkpointer does when idle), then fill the filesystem to the brim.
    other = sqlite3.connect(small_fs / "state.db")
    other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    other.close()
    filler = small_fs / "filler"
    assert fill(filler) > 0

    webhook_sink.release()  # the provider confirms; its record cannot be written
    await eventually(lambda: state.dispatcher.problem is not None)
    assert await post(client, "refused") == 503  # Alertmanager will retry it
    ready = await client.get("/readyz")
    body = await ready.json()
    assert ready.status == 503
    assert any("full" in p for p in body["problems"]), body
    assert any("outcomes cannot be recorded" in p for p in body["problems"]), body
    held = len(webhook_sink.deliveries)  # sends already under way when the first record failed
    assert 1 <= held < len(groups)
    for _ in range(6):  # a minute of clock time: the records are retried, the deliveries are not
        await clock.advance(10)
        await asyncio.sleep(0.05)
        sample()
    assert len(webhook_sink.deliveries) == held  # the lane holds: nothing sent again, nothing new
    assert max(Counter(d.json["groupKey"] for d in webhook_sink.deliveries).values()) == 1
    assert (await client.get("/readyz")).status == 503

    filler.unlink()  # space is back
    for _ in range(20):
        await clock.advance(30)
        await asyncio.sleep(0.05)
        sample()
        if len(webhook_sink.deliveries) == len(groups):
            break
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == len(groups), timeout=10)
    await eventually(lambda: state.dispatcher.problem is None)
    ready = await client.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert await post(client, "after") == 200
    await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) == len(groups) + 1, timeout=10)
    counts = Counter(d.json["groupKey"] for d in webhook_sink.deliveries)
    assert counts == Counter([*groups, "after"])  # each exactly once; the refused one never accepted
    for _ in range(100):
        if await state.store.pending_count() == 0:
            break
        await asyncio.sleep(0.02)
    assert await state.store.pending_count() == 0
    await eventually(lambda: state.metrics.outbox_depth._value.get() == 0)
    sample()
    assert min(depth) >= 0, depth


def test_fill_helper_stops_at_the_limit(small_fs: Path) -> None:
    written = fill(small_fs / "x")
    assert 1_500_000 < written <= 2 * 1024 * 1024
    with contextlib.suppress(OSError):
        (small_fs / "x").unlink()


async def test_a_failed_write_folds_the_wal_back_and_says_what_is_needed(
    aiohttp_client: Any,
    tmp_path: Path,
    small_fs: Path,
    webhook_sink: WebhookSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = make_config(
        tmp_path,
        [{"name": "hook", "webhook_configs": [{"url": webhook_sink.url_for("/h")}]}],
        {"receiver": "hook"},
        storage={"url": f"sqlite:///{small_fs}/state.db"},
    )
    client: Client = await aiohttp_client(create_app(config, clock=ManualClock()))
    webhook_sink.hold()
    for i in range(20):
        assert await post(client, f"w{i}") == 200
    wal = small_fs / "state.db-wal"
    assert wal.stat().st_size > 0
    filler = small_fs / "filler"
    fill(filler)
    statuses = [await post(client, f"x{i}") for i in range(40)]
    assert 503 in statuses
    [record] = [r for r in caplog.records if r.getMessage().startswith("store cannot write")]
    assert "free at least" in record.needed and record.path == str(small_fs / "state.db")  # type: ignore[attr-defined]
    big_wal = wal.stat().st_size
    # Free about a quarter of what the filler took: the WAL is folded back into the database
    # before the next write, so its space is not taken again, and writes work.
    with filler.open("r+b") as f:
        f.truncate(filler.stat().st_size * 3 // 4)
    assert await post(client, "after") == 200
    assert wal.stat().st_size < big_wal // 4
    assert (await client.get("/readyz")).status == 503  # less than the reserve is free
    filler.unlink()
    assert (await client.get("/readyz")).status == 200
    assert any(r.getMessage() == "store writes work again" for r in caplog.records)
    webhook_sink.release()
