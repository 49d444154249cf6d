"""`alertmedic outbox` and `alertmedic outbox requeue` on a real database file, healthy or damaged,
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import main
from app.config import StorageConfig
from app.core.plan import Destination
from app.store import open_store
from tests.pg import free_port, fresh_schema
from tests.store.conftest import planned

DEST = Destination("hook/webhook[0]", "hook", "webhook", True)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The storage URL of the test, on each kind of store."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return fresh_schema(request.getfixturevalue("pg_database"))


def config_file(tmp_path: Path, url: str = "") -> str:
    path = tmp_path / "alertmedic.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "server": {"listen": "127.0.0.1:0", "auth": {"bearer_token": "t"}},
                "storage": {"url": url or f"sqlite:///{tmp_path}/state.db"},
                "receivers": [{"name": "hook", "webhook_configs": [{"url": "http://127.0.0.1:9/h"}]}],
                "route": {"receiver": "hook"},
            }
        )
    )
    return str(path)


def seed(tmp_path: Path, *, groups: int = 4, dead: int = 2, url: str = "") -> list[int]:
    """`groups` pending jobs, the first `dead` of them dead-lettered; returns the dead ids."""

    async def go() -> list[int]:
        store = open_store(StorageConfig(url=url or f"sqlite:///{tmp_path}/state.db"))
        await store.start()
        try:
            for i in range(groups):
                await store.ingest([planned(f"g{i}", ("a", "firing"), dest=DEST)], now=0, dedup_window=60)
            jobs = await store.claim(DEST.id, owner="x", now=0, lease=10, limit=dead)
            for j in jobs:
                await store.dead(j.id, reason="permanent: 404", now=1)
            await store.release("x")
            return [j.id for j in jobs]
        finally:
            await store.close()

    return asyncio.run(go())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_outbox_lists_pending_and_dead_letters(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path, url)
    dead = seed(tmp_path, url=url)
    code, report, _ = run(capsys, "outbox", "--config", cfg)
    assert code == 0
    assert report["pending"] == 2
    assert [d["id"] for d in report["dead_letters"]] == sorted(dead, reverse=True)
    assert (
        report["dead_letters"][0]["lane"] == DEST.id
        and report["dead_letters"][0]["error"] == "permanent: 404"
    )


def test_requeue_one_then_every_dead_letter(
    tmp_path: Path, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path, url)
    first, second = seed(tmp_path, url=url)
    code, out, _ = run(capsys, "outbox", "requeue", "--config", cfg, str(first))
    assert (code, out) == (0, {"requeued": [first], "not_dead": []})
    code, report, _ = run(capsys, "outbox", "--config", cfg)
    assert report["pending"] == 3 and [d["id"] for d in report["dead_letters"]] == [second]
    code, out, _ = run(capsys, "outbox", "requeue", "--config", cfg, "--dead")
    assert (code, out) == (0, {"requeued": [second], "not_dead": []})
    code, out, _ = run(capsys, "outbox", "--config", cfg, "requeue", str(first))  # --config either side
    assert (code, out) == (1, {"requeued": [], "not_dead": [first]})  # it is pending now


def test_requeue_needs_ids_or_dead(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path)
    assert main(["outbox", "requeue", "--config", cfg]) == 2
    assert "give job ids or --dead" in capsys.readouterr().err


def test_outbox_on_an_unreachable_postgres_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path, f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/alertmedic")
    assert main(["outbox", "--config", cfg]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("cannot open the store: postgresql://postgres:***@127.0.0.1:")
    assert "hunter2" not in err


def damage_pages(path: Path) -> None:
    """Overwrite the last quarter of the file's pages with garbage (a torn disk)."""
    data = bytearray(path.read_bytes())
    page = 4096
    pages = len(data) // page
    for p in range(pages * 3 // 4, pages):
        data[p * page : (p + 1) * page] = b"\xa5" * page
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(damage_pages, id="overwritten-pages"),
        pytest.param(lambda p: p.write_bytes(b"\0" * 100 + p.read_bytes()[100:]), id="zeroed-header"),
        pytest.param(lambda p: p.write_text("this is not a database\n" * 100), id="text-file"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:5000]), id="truncated"),
    ],
)
def test_outbox_on_a_damaged_database_reports_what_it_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any
) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path, groups=300, dead=20)
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage(db)
    code, report, err = run(capsys, "outbox", "--config", cfg)
    assert code == 1
    assert "Traceback" not in err and "cannot open the store" in err and str(db) in err
    assert report["problems"]  # each problem says what could not be read
    assert 0 <= report["pending"] <= 280


def test_outbox_salvage_reads_the_rows_before_the_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(tmp_path)
    seed(tmp_path, groups=300, dead=20)
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage_pages(db)
    code, report, _ = run(capsys, "outbox", "--config", cfg)
    assert code == 1
    assert report["pending"] > 0 and report["pending_by_destination"] == {DEST.id: report["pending"]}
    assert any("malformed" in p for p in report["problems"])
