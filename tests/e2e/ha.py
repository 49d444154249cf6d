"""Harness of the reliability tests: several `alertmedic serve` replicas on one store, a load that
behaves like Alertmanager, and the checks on what the sink received.

- `Replicas`: N real processes sharing `storage_url`, each on its own port; `kill(i)` is a
  `kill -9`, `restart(i)` starts it again on the same port.
- `Load`: one poster per lane, each posting a new alert group (`seq` 0, 1, 2 …) to a random live
  replica and moving to the next only after a 2xx; a refusal or a dropped connection is retried
  on another replica after a short pause, as Alertmanager retries. So per lane the acceptance
  order is the `seq` order, and every `seq` is eventually accepted.
- `Delivered`: the sink's completed requests per lane: duplicates, first-delivery order, gaps.
- `lease_owners`: who holds which lane now, read from the store's `leases` table (to know which
  lanes a kill takes away and time their take-over).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import TOKEN
from tests.e2e.proc import ServiceProcess
from tests.fakes.webhook import WebhookSink
from tests.payloads import alert, message


def lane_id(lane: int) -> str:
    """The dispatcher's lane (destination id) of `lane`'s receiver."""
    return f"hook-{lane}/webhook[0]"


def replica_config(storage_url: str, sink: WebhookSink, lanes: int) -> dict[str, Any]:
    """Every lane a webhook receiver of its own (path /hook/<lane>), chosen by the `lane` label."""
    return {
        "server": {"auth": {"bearer_token": TOKEN}, "shutdown_timeout": "5s"},
        "storage": {"url": storage_url},
        "delivery": {"retry_initial": "200ms", "retry_max": "1s", "send_timeout": "5s"},
        "receivers": [
            {"name": f"hook-{n}", "webhook_configs": [{"url": sink.url_for(f"/hook/{n}")}]}
            for n in range(lanes)
        ],
        "route": {
            "receiver": "hook-0",
            "routes": [{"receiver": f"hook-{n}", "matchers": [f'lane="{n}"']} for n in range(lanes)],
        },
    }


class Replicas:
    """`n` alertmedic processes on one store."""

    def __init__(self, tmp_path: Path, config: dict[str, Any], n: int) -> None:
        self.procs: list[ServiceProcess] = []
        for i in range(n):
            (tmp_path / f"r{i}").mkdir()
            self.procs.append(ServiceProcess(tmp_path / f"r{i}", config))
        self.down: set[int] = set()

    async def start(self) -> None:
        await asyncio.gather(*(p.start() for p in self.procs))

    def live_urls(self) -> list[str]:
        return [p.url for i, p in enumerate(self.procs) if i not in self.down]

    def pid(self, i: int) -> int:
        proc = self.procs[i].proc
        assert proc is not None
        return proc.pid

    def index_of_owner(self, owner: str) -> int | None:
        """Which replica an owner id (`host:pid:random`) belongs to, if it is running."""
        pid = owner.split(":")[1] if owner.count(":") >= 2 else ""
        for i, p in enumerate(self.procs):
            if i not in self.down and p.proc is not None and str(p.proc.pid) == pid:
                return i
        return None

    def kill(self, i: int) -> None:
        self.down.add(i)
        self.procs[i].kill()

    async def restart(self, i: int) -> None:
        await self.procs[i].start()
        self.down.discard(i)

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@dataclass
class Load:
    """Sequential posters, one per lane, to random live replicas (see the module docstring)."""

    replicas: Replicas
    lanes: int
    pause: float = 0.05
    """Seconds between two groups of one lane."""
    run: str = "ha"
    accepted: list[int] = field(default_factory=list)
    """Per lane: how many groups were accepted (seq 0 .. accepted-1)."""
    refused: Counter[str] = field(default_factory=Counter)
    """Failed attempts by cause (HTTP status or exception name); each was retried."""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def body(self, lane: int, seq: int) -> dict[str, Any]:
        labels = {"lane": str(lane), "seq": str(seq), "run": self.run}
        return message(
            f'{{}}:{{lane="{lane}",run="{self.run}",seq="{seq}"}}',
            [alert("HaLoad", f"{self.run}-{lane}-{seq}", **labels)],
        )

    async def _lane(self, session: aiohttp.ClientSession, lane: int) -> None:
        seq = 0
        while not self._stop.is_set():
            body = self.body(lane, seq)
            while True:  # until one replica accepts it, however long the stop waits
                urls = self.replicas.live_urls()
                if urls:
                    try:
                        async with session.post(
                            f"{random.choice(urls)}/webhook/alertmanager",
                            json=body,
                            headers={"Authorization": f"Bearer {TOKEN}"},
                        ) as r:
                            await r.read()
                            if r.status < 300:
                                break
                            self.refused[str(r.status)] += 1
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.refused[type(exc).__name__] += 1
                await asyncio.sleep(0.1)
            seq += 1
            self.accepted[lane] = seq
            await asyncio.sleep(self.pause)

    def start(self, session: aiohttp.ClientSession) -> None:
        self.accepted = [0] * self.lanes
        self._tasks = [asyncio.create_task(self._lane(session, n)) for n in range(self.lanes)]

    async def stop(self) -> None:
        """Stop after each poster's group in progress is accepted."""
        self._stop.set()
        await asyncio.gather(*self._tasks)


@dataclass
class Delivered:
    """What the sink completed, per lane: (seq, arrival time) in arrival order."""

    lanes: dict[int, list[tuple[int, float]]]
    aborted: int
    """Requests whose sender vanished before the answer (a kill mid-send): not counted as
    delivered by the sink; a real provider may have shown them."""

    @classmethod
    def read(cls, sink: WebhookSink, lanes: int) -> Delivered:
        out: dict[int, list[tuple[int, float]]] = {n: [] for n in range(lanes)}
        aborted = 0
        for rec in sink.requests:
            if rec.aborted:
                aborted += 1
            if rec.status is None or not 200 <= rec.status < 300 or not rec.path.startswith("/hook/"):
                continue
            lane = int(rec.path.rsplit("/", 1)[1])
            labels = rec.json["alerts"][0]["labels"]
            out[lane].append((int(labels["seq"]), rec.received_at))
        return cls(out, aborted)

    def count(self) -> int:
        return sum(len(v) for v in self.lanes.values())

    def missing(self, accepted: list[int]) -> dict[int, list[int]]:
        """Per lane, the accepted seqs never delivered."""
        out = {}
        for lane, n in enumerate(accepted):
            seen = {s for s, _ in self.lanes[lane]}
            if gone := [s for s in range(n) if s not in seen]:
                out[lane] = gone
        return out

    def duplicates(self) -> dict[int, int]:
        """Per lane, deliveries beyond the first of a seq."""
        return {lane: len(v) - len({s for s, _ in v}) for lane, v in self.lanes.items()}

    def repeats_per_kill(self, kills: list[float]) -> int:
        """The most repeated deliveries on one lane after one kill (each repeat counted against
        the last kill before it arrived)."""
        worst: Counter[tuple[int, int]] = Counter()
        for lane, v in self.lanes.items():
            seen: set[int] = set()
            for s, at in v:
                if s in seen:
                    before = [k for k, t in enumerate(kills) if t <= at]
                    worst[(lane, before[-1] if before else -1)] += 1
                seen.add(s)
        return max(worst.values(), default=0)

    def out_of_order(self) -> dict[int, list[tuple[int, int]]]:
        """Per lane, pairs (earlier, later) of first deliveries where a later seq came first."""
        out = {}
        for lane, v in self.lanes.items():
            firsts: list[int] = []
            seen: set[int] = set()
            for s, _ in v:
                if s not in seen:
                    seen.add(s)
                    firsts.append(s)
            bad = [(a, b) for a, b in itertools.pairwise(firsts) if b < a]
            if bad:
                out[lane] = bad
        return out

    def first_after(self, lane: int, t: float) -> float | None:
        """When the first delivery on `lane` at or after `t` arrived."""
        return next((at for _, at in self.lanes[lane] if at >= t), None)


async def lease_owners(storage_url: str, now: float | None = None) -> dict[str, str]:
    """Lane -> owner of its unexpired lease, read from the store's `leases` table."""
    now = time.time() if now is None else now
    if storage_url.startswith("sqlite:///"):
        conn = sqlite3.connect(f"file:{storage_url.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT lane, owner FROM leases WHERE lease_until > ?", (now,)).fetchall()
        finally:
            conn.close()
        return {str(lane): str(owner) for lane, owner in rows}
    import asyncpg  # the PostgreSQL store's driver

    conn = await asyncpg.connect(storage_url)
    try:
        rows = await conn.fetch("SELECT lane, owner FROM leases WHERE lease_until > $1", now)
    finally:
        await conn.close()
    return {str(r["lane"]): str(r["owner"]) for r in rows}
