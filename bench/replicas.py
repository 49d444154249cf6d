"""Part 7 of `make bench`: ingest and end-to-end delivery with 1 and 3 replicas on PostgreSQL, next
to one replica on SQLite, and the naive relay baseline measured in the same run.

Each setup: its replicas (`alertmedic serve`, every alert to one webhook destination with
`max_in_flight: 8`, as in part 1) on a fresh store, then ROUNDS rounds of: CONCURRENCY clients
POST new 10-alert groups for ROUND_SECONDS, spread round-robin over the replicas (a Service in
front of them), then wait until the sink has every alert. Figures: accepted requests/s during the
round, delivered alerts/s over round + drain, and the replicas' CPU seconds (user + system, all
threads, from /proc) per delivered group, with PostgreSQL's own (its server processes serving the
setup's database) beside it. The relay (bench/peers.py) parses each webhook and
forwards it to the same sink before answering, so its delivered alerts/s is its accepted
requests/s times 10. PostgreSQL is the machine's server on 127.0.0.1:5432, a database per setup
(tests/pg.py), dropped after.

`python -m bench replicas` runs only this part.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from bench.__main__ import (
    ALERTS_PER_GROUP,
    CONCURRENCY,
    ROOT,
    TOKEN,
    Counter,
    drain,
    free_port,
    spawn,
    stop,
    wait_http,
)
from tests.pg import fresh_database

ROUNDS = 2
ROUND_SECONDS = 4.0
SETUPS = (("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 3))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving `database` (their title names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if f" {database} " in title:
                    pids.append(int(entry.name))
    return pids


def total_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a server process that ended meanwhile
            total += cpu_seconds(pid)
    return total


@contextmanager
def storage(kind: str, work: Path, name: str) -> Iterator[str]:
    if kind == "SQLite":
        yield f"sqlite:///{work}/{name}.db"
    else:
        with fresh_database("alertmedic_bench") as url:
            yield url


def write_config(work: Path, name: str, port: int, url: str, sink: str) -> Path:
    path = work / f"{name}.yml"
    path.write_text(f"""
server:
  listen: "127.0.0.1:{port}"
  auth: {{bearer_token: {TOKEN}}}
storage: {{url: "{url}"}}
receivers: [{{name: sink, webhook_configs: [{{url: "{sink}/", max_in_flight: 8}}]}}]
route: {{receiver: sink}}
""")
    return path


async def spread_loop(
    session: aiohttp.ClientSession, urls: list[str], seconds: float, counter: Counter, prefix: str
) -> float:
    """CONCURRENCY clients POST back to back for `seconds`, client i to urls[i % n]; 2xx/s."""
    deadline = time.perf_counter() + seconds
    start_ok = counter.ok

    async def worker(url: str) -> None:
        while time.perf_counter() < deadline:
            await counter.post(session, url, counter.body(prefix)[1])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(urls[i % len(urls)]) for i in range(CONCURRENCY)))
    return (counter.ok - start_ok) / (time.perf_counter() - t0)


async def measure(
    session: aiohttp.ClientSession, urls: list[str], pids: list[int], sink: str, tag: str, database: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Rounds of ingest + drain: (accepted req/s, delivered alerts/s, CPU ms per group of the
    replicas, and of the database server's processes for `database`) each."""
    counter = Counter()
    await spread_loop(session, urls, 0.5, counter, f"{tag}w")  # warm-up
    await session.post(f"{sink}/reset")
    await drain(session, sink, 0)
    ingest, delivered, cpu, db_cpu = [], [], [], []
    base = 0
    await session.post(f"{sink}/reset")
    for r in range(ROUNDS):
        before = counter.ok
        server = backends(database) if database else []
        cpu0, db0 = total_cpu(pids), total_cpu(server)
        t0 = time.perf_counter()
        ingest.append(await spread_loop(session, urls, ROUND_SECONDS, counter, f"{tag}{r}-"))
        groups = counter.ok - before
        t_done = await drain(session, sink, base + groups * ALERTS_PER_GROUP)
        base += groups * ALERTS_PER_GROUP
        delivered.append(groups * ALERTS_PER_GROUP / (t_done - t0))
        cpu.append((total_cpu(pids) - cpu0) * 1000 / max(groups, 1))
        db_cpu.append((total_cpu(server) - db0) * 1000 / max(groups, 1))
    return ingest, delivered, cpu, db_cpu


async def relay_rounds(
    session: aiohttp.ClientSession, url: str, pid: int, sink: str
) -> tuple[list[float], list[float]]:
    """Delivered alerts/s of the relay (each 2xx is a group already at the sink), CPU ms/group."""
    await spread_loop(session, [url], 0.5, Counter(), "relay-w")
    out, cpu = [], []
    for r in range(ROUNDS):
        await session.post(f"{sink}/reset")
        counter = Counter()
        cpu0 = cpu_seconds(pid)
        rps = await spread_loop(session, [url], ROUND_SECONDS, counter, f"relay{r}-")
        cpu.append((cpu_seconds(pid) - cpu0) * 1000 / max(counter.ok, 1))
        await drain(session, sink, counter.ok * ALERTS_PER_GROUP, timeout=10)  # all there already
        out.append(rps * ALERTS_PER_GROUP)
    return out, cpu


async def rows(work: Path, sink: str) -> list[tuple[str, str, str]]:
    py = sys.executable
    relay_port = free_port()
    relay = spawn([py, "-m", "bench.peers", "relay", str(relay_port), f"{sink}/"], ROOT)
    out: list[tuple[str, str, str]] = []
    conn = aiohttp.TCPConnector(limit=CONCURRENCY * 4)
    try:
        async with aiohttp.ClientSession(connector=conn) as session:
            await wait_http(f"http://127.0.0.1:{relay_port}/")
            rates, relay_cpu = await relay_rounds(session, f"http://127.0.0.1:{relay_port}/", relay.pid, sink)
            relay_rate = statistics.median(rates)
            out += [
                ("naive relay, delivered alerts/s", f"{relay_rate:.0f}", "parse, forward, answer"),
                ("naive relay, CPU ms per group", f"{statistics.median(relay_cpu):.2f}", ""),
            ]
            for kind, n in SETUPS:
                name = f"{kind.lower()}-{n}"
                with storage(kind, work, name) as url:
                    procs = []
                    ports = [free_port() for _ in range(n)]
                    try:
                        for i, port in enumerate(ports):
                            config = write_config(work, f"{name}-{i}", port, url, sink)
                            args = ["-m", "app", "serve", "--config", str(config), "--log-level", "warning"]
                            procs.append(spawn([py, *args], ROOT))
                        for port in ports:
                            await wait_http(f"http://127.0.0.1:{port}/readyz")
                        urls = [f"http://127.0.0.1:{p}/webhook/alertmanager" for p in ports]
                        database = "" if kind == "SQLite" else url.rsplit("/", 1)[1]
                        ingest, delivered, cpu, db_cpu = await measure(
                            session, urls, [p.pid for p in procs], sink, name, database
                        )
                    finally:
                        stop(procs)
                label = f"{kind}, {n} replica{'s' if n > 1 else ''}"
                rate = statistics.median(delivered)
                out += [
                    (
                        f"{label}: ingest requests/s",
                        f"{statistics.median(ingest):.0f}",
                        " ".join(f"{x:.0f}" for x in ingest),
                    ),
                    (
                        f"{label}: delivered alerts/s",
                        f"{rate:.0f}",
                        " ".join(f"{x:.0f}" for x in delivered)
                        + f"; ratio to the relay {rate / relay_rate:.2f}",
                    ),
                    (
                        f"{label}: CPU ms per group (ingest + delivery)",
                        f"{statistics.median(cpu):.2f}",
                        "user + system of the replicas, all threads"
                        + (f"; + {statistics.median(db_cpu):.2f} in PostgreSQL" if database else ""),
                    ),
                ]
    finally:
        with contextlib.suppress(Exception):
            stop([relay])
    return out
