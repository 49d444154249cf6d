"""`python -m bench`: the figures the README carries, measured in one run on this machine.

1. Sustained ingest: 10-alert groups, each request a new group, auth on, durable (SQLite,
   synchronous=FULL), against a bare aiohttp handler that only parses the JSON; alternating
   rounds, each alertmedic round followed by draining its outbox to a local webhook sink, so the
   delivery work is inside the measurement and never leaks into a baseline round.
2. Latency from request sent to the sink's receipt (an upper bound of accepted -> provider
   confirmed), p50 and p99, at half the sustained rate.
3. RSS of the service at idle and after >= 100 000 alerts.
4. Huge groups (10 000, 50 000 and 99 000 realistic alerts: 6.8, 33.8, 66.9 MB) at the default body
   limit: seconds to the 2xx answer and peak RSS growth of the service (a fresh process each,
   receiver without integrations), then seconds until delivered to a webhook sink and the peak
   with the delivery (another fresh process). `python -m bench huge` runs only this part.
5. Enrichment (bench/enrichment.py): what the Enricher adds per message against a fake Loki
   answering in 20 ms, logs only and with a graph (real matplotlib rendering), and the CPU of one
   graph. The services above have no `enrichment:` section, so figures 1-4 are measured with
   enrichment off. `python -m bench enrichment` runs only this part and part 6.
6. RSS of a started `alertmedic serve` with an `enrichment:` section (Loki logs and a graph) at
   idle, and after its first enriched message (the graph imports matplotlib).
7. Replicas (bench/replicas.py): ingest and end-to-end delivery with 1 and 3 replicas on
   PostgreSQL next to one on SQLite, against the naive relay (parse, forward to the sink, answer)
   measured in the same run. `python -m bench replicas` runs only this part.
8. The delivery path on SQLite step by step, and profiled (bench/delivery.py). `python -m bench
   delivery` runs only this part.
9. An alert storm (bench/storm.py): 10,000 alerts in 1,000 groups into one Telegram group chat
   limited like Telegram (20 messages a minute): seconds until every alert is represented in the
   chat, messages sent, 429s. `python -m bench storm` runs only this part.

Everything talks to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import enrichment, storm
from tests.payloads import realistic_group

TOKEN = "bench-token"
ALERTS_PER_GROUP = 10
ROUNDS = 3
ROUND_SECONDS = 4.0
CONCURRENCY = 16
LATENCY_SECONDS = 8.0
MEMORY_ALERTS = 100_000
HUGE_GROUPS = (10_000, 50_000, 99_000)
"""Realistic alerts: 6.8, 33.8 and 66.9 MB, the last just under the default 64 MiB limit."""
ROOT = Path(__file__).resolve().parent.parent
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def body_template() -> str:
    alerts = []
    for j in range(ALERTS_PER_GROUP):
        alerts.append(
            '{"status":"firing","labels":{"alertname":"BenchAlert","severity":"critical",'
            f'"namespace":"prod","instance":"pod-{j}","run":"@RUN@"}},'
            '"annotations":{"summary":"benchmark alert","description":"load test"},'
            '"startsAt":"2026-11-24T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",'
            '"generatorURL":"http://prometheus.local:9090/graph?g0.expr=up",'
            f'"fingerprint":"@ID@-{j}"}}'
        )
    return (
        '{"version":"4","groupKey":"{}:{run=\\"@ID@\\"}","truncatedAlerts":0,'
        '"status":"firing","receiver":"alertmedic","groupLabels":{"run":"@ID@"},'
        '"commonLabels":{"alertname":"BenchAlert","severity":"critical","namespace":"prod"},'
        '"commonAnnotations":{},"externalURL":"http://alertmanager.local:9093",'
        f'"alerts":[{",".join(alerts)}]}}'
    )


TEMPLATE = body_template()


@dataclass
class Counter:
    next_id: int = 0
    ok: int = 0
    failed: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)

    async def post(self, session: aiohttp.ClientSession, url: str, data: bytes) -> None:
        async with session.post(url, data=data, headers=HEADERS) as resp:
            await resp.read()
            if resp.status < 300:
                self.ok += 1
            else:
                self.failed += 1

    def body(self, prefix: str) -> tuple[str, bytes]:
        self.next_id += 1
        gid = f"{prefix}{self.next_id}"
        return gid, TEMPLATE.replace("@ID@", gid).replace("@RUN@", prefix).encode()


async def closed_loop(
    session: aiohttp.ClientSession, url: str, seconds: float, counter: Counter, prefix: str
) -> float:
    """CONCURRENCY workers POST back to back for `seconds`; returns requests/s that got 2xx."""
    deadline = time.perf_counter() + seconds
    start_ok = counter.ok

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await counter.post(session, url, counter.body(prefix)[1])

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (counter.ok - start_ok) / (time.perf_counter() - t0)


async def open_loop(
    session: aiohttp.ClientSession, url: str, rate: float, seconds: float, counter: Counter, prefix: str
) -> None:
    """Requests at a fixed rate (not waiting for answers), remembering when each was sent."""
    n = int(rate * seconds)
    t0 = time.perf_counter()
    tasks = []

    async def one(gid: str, data: bytes) -> None:
        counter.sent_at[gid] = time.time()
        await counter.post(session, url, data)

    for i in range(n):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        gid, data = counter.body(prefix)
        tasks.append(asyncio.create_task(one(gid, data)))
    await asyncio.gather(*tasks)


async def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def sink_stats(session: aiohttp.ClientSession, sink: str, keys: bool = False) -> dict[str, object]:
    async with session.get(f"{sink}/stats", params={"keys": "1" if keys else "0"}) as r:
        out: dict[str, object] = await r.json()
        return out


async def drain(session: aiohttp.ClientSession, sink: str, want_alerts: int, timeout: float = 300) -> float:
    """Wait until the sink has `want_alerts` alerts; return when it got there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = await sink_stats(session, sink)
        got = stats["alerts"]
        assert isinstance(got, int)
        if got >= want_alerts:
            return time.perf_counter()
        await asyncio.sleep(0.02)
    raise RuntimeError(f"outbox did not drain: {want_alerts} alerts expected at the sink")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident memory now (`VmHWM`: its peak so far), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def mapped(pid: int, name: str) -> bool:
    """Whether a file whose path contains `name` (a package's extension module) is mapped."""
    return name in Path(f"/proc/{pid}/maps").read_text()


def spawn(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def service(work: Path, name: str, port: int, receiver: str, extra: str = "") -> subprocess.Popen[bytes]:
    """`alertmedic serve` as in production, on `port`, every alert routed to `receiver`; `extra`
    is more YAML for the config (an `enrichment:` section)."""
    (work / f"{name}.yml").write_text(f"""
server:
  listen: "127.0.0.1:{port}"
  auth: {{bearer_token: {TOKEN}}}
storage: {{url: "sqlite:///{work}/{name}.db"}}
receivers: [{receiver}]
route: {{receiver: sink}}
{extra}""")
    args = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--config",
        str(work / f"{name}.yml"),
        "--log-level",
        "warning",
    ]
    return spawn(args, ROOT)


async def enrichment_rss(work: Path) -> list[tuple[str, str, str]]:
    """Part 6: RSS of `alertmedic serve` with an `enrichment:` section (Loki logs and a graph),
    idle, then after its first enriched message (the graph imports matplotlib)."""
    async with enrichment.backends() as (loki, prometheus), aiohttp.ClientSession() as session:
        port = free_port()
        out = work / "enriched.log"
        proc = service(
            work,
            "enriched",
            port,
            f'{{name: sink, file_configs: [{{path: "{out}"}}]}}',
            enrichment.service_section(loki.url, prometheus.url),
        )
        try:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
            await asyncio.sleep(3.0)
            idle = rss_mb(proc.pid)
            idle_has = mapped(proc.pid, "matplotlib")
            body = enrichment.webhook_body()
            url = f"http://127.0.0.1:{port}/webhook/alertmanager"
            async with session.post(url, data=body, headers=HEADERS) as resp:
                assert resp.status == 200, await resp.text()
            deadline = time.monotonic() + 60
            while not (out.exists() and "ERROR request" in out.read_text()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the enriched message was not delivered")
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            after = rss_mb(proc.pid)
            assert len(prometheus.requests) == 1, "no graph was drawn"
        finally:
            stop([proc])
    return [
        (
            "RSS idle with enrichment configured MB (target < 120)",
            f"{idle:.1f}",
            "matplotlib loaded" if idle_has else "matplotlib not loaded",
        ),
        ("RSS after the first graph MB", f"{after:.1f}", f"{after - idle:+.1f}: matplotlib, numpy, fonts"),
    ]


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


async def huge_groups(session: aiohttp.ClientSession, work: Path, sink: str) -> list[tuple[str, str, str]]:
    """Part 4: one huge group into a fresh service at the default `max_body_bytes`."""
    rows = []
    for n in HUGE_GROUPS:
        body = realistic_group(n, group_key=f'{{}}:{{run="huge-{n}"}}')
        size = f"{n} alerts, {len(body) / 1e6:.1f} MB"
        webhook = f'{{name: sink, webhook_configs: [{{url: "{sink}/"}}]}}'
        for part, receiver in (("accept", "{name: sink}"), ("deliver", webhook)):
            port = free_port()
            proc = service(work, f"huge-{n}-{part}", port, receiver)
            try:
                await wait_http(f"http://127.0.0.1:{port}/readyz")
                await asyncio.sleep(1.0)
                await session.post(f"{sink}/reset")
                idle = rss_mb(proc.pid)
                t0 = time.perf_counter()
                async with session.post(
                    f"http://127.0.0.1:{port}/webhook/alertmanager", data=body, headers=HEADERS
                ) as resp:
                    await resp.read()
                    accepted = time.perf_counter() - t0
                if resp.status >= 300:
                    rows.append((f"huge group ({size})", f"HTTP {resp.status}", "refused"))
                    break
                if part == "accept":
                    peak = rss_mb(proc.pid, "VmHWM") - idle
                    rows.append(
                        (
                            f"huge group ({size}): s to 2xx",
                            f"{accepted:.2f}",
                            f"peak RSS growth +{peak:.0f} MB",
                        )
                    )
                else:
                    delivered = await drain(session, sink, n) - t0
                    peak = rss_mb(proc.pid, "VmHWM") - idle
                    rows.append(
                        (
                            f"huge group ({size}): s to delivered (webhook)",
                            f"{delivered:.2f}",
                            f"2xx after {accepted:.2f} s; peak RSS growth with delivery +{peak:.0f} MB",
                        )
                    )
            finally:
                stop([proc])
    return rows


def machine() -> str:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    gib = int(mem.split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores, {gib:.0f} GiB RAM, Python {sys.version.split()[0]}"


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure'.ljust(width)}  {'value':>10}  detail")
    for name, value, detail in rows:
        print(f"{name.ljust(width)}  {value:>10}  {detail}")


async def main(parts: str = "all") -> None:
    work = Path(tempfile.mkdtemp(prefix="alertmedic-bench-", dir=ROOT / "bench"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bare_port, sink_port, am_port, only_port = (free_port() for _ in range(4))
        sink = f"http://127.0.0.1:{sink_port}"
        py = sys.executable

        if parts == "storm":
            storm_rows = await storm.rows(work, TOKEN, port=free_port(), spawn=spawn, ready=wait_http)
            print_table([("machine", machine(), ""), *storm_rows])
            return
        if parts == "enrichment":
            print_table([("machine", machine(), ""), *await enrichment.rows(), *await enrichment_rss(work)])
            return
        procs.append(spawn([py, "-m", "bench.peers", "sink", str(sink_port)], ROOT))
        if parts == "replicas":
            from bench import replicas  # imports this module's helpers as bench.__main__

            await wait_http(f"{sink}/stats")
            print_table([("machine", machine(), ""), *await replicas.rows(work, sink)])
            return
        if parts == "delivery":
            from bench import delivery  # imports this module's helpers as bench.__main__

            await wait_http(f"{sink}/stats")
            figures, profile = await delivery.rows(sink)
            print_table([("machine", machine(), ""), *figures])
            print(f"\nevent loop thread during the delivery drain, top functions by own time:\n{profile}")
            return
        if parts == "huge":
            await wait_http(f"{sink}/stats")
            async with aiohttp.ClientSession() as session:
                print_table([("machine", machine(), ""), *await huge_groups(session, work, sink)])
            return
        procs.append(spawn([py, "-m", "bench.peers", "bare", str(bare_port)], ROOT))
        full = service(
            work, "full", am_port, f'{{name: sink, webhook_configs: [{{url: "{sink}/", max_in_flight: 8}}]}}'
        )
        # the same service with a receiver that has no integrations: ingest and durability only
        only = service(work, "ingest-only", only_port, "{name: sink}")
        procs += [full, only]
        await wait_http(f"http://127.0.0.1:{bare_port}/")
        await wait_http(f"{sink}/stats")
        await wait_http(f"http://127.0.0.1:{am_port}/readyz")
        await wait_http(f"http://127.0.0.1:{only_port}/readyz")
        await asyncio.sleep(1.0)
        idle_rss = rss_mb(full.pid)

        bare_url = f"http://127.0.0.1:{bare_port}/"
        am_url = f"http://127.0.0.1:{am_port}/webhook/alertmanager"
        counter = Counter()
        bare_rps: list[float] = []
        am_rps: list[float] = []
        only_rps: list[float] = []
        only_url = f"http://127.0.0.1:{only_port}/webhook/alertmanager"
        delivered_rate: list[float] = []
        conn = aiohttp.TCPConnector(limit=CONCURRENCY * 4)
        async with aiohttp.ClientSession(connector=conn) as session:
            # warm-up of both, not measured
            await closed_loop(session, bare_url, 0.5, Counter(), "w")
            await closed_loop(session, am_url, 0.5, counter, "w")
            await closed_loop(session, only_url, 0.5, Counter(), "w")
            accepted_before = counter.ok
            await drain(session, sink, accepted_before * ALERTS_PER_GROUP)
            for r in range(ROUNDS):
                bare_rps.append(await closed_loop(session, bare_url, ROUND_SECONDS, Counter(), "b"))
                before = counter.ok
                t0 = time.perf_counter()
                am_rps.append(await closed_loop(session, am_url, ROUND_SECONDS, counter, f"r{r}-"))
                t_done = await drain(session, sink, counter.ok * ALERTS_PER_GROUP)
                delivered_rate.append((counter.ok - before) * ALERTS_PER_GROUP / (t_done - t0))
                only_rps.append(await closed_loop(session, only_url, ROUND_SECONDS, Counter(), f"o{r}-"))
            sustained = statistics.median(am_rps)

            # latency at half the sustained rate
            await session.post(f"{sink}/reset")
            lat_counter = Counter()
            await open_loop(session, am_url, sustained / 2, LATENCY_SECONDS, lat_counter, "lat")
            await drain(session, sink, lat_counter.ok * ALERTS_PER_GROUP)
            seen = (await sink_stats(session, sink, keys=True))["first_seen"]
            assert isinstance(seen, dict)
            timed = [
                (t, (seen[f'{{}}:{{run="{gid}"}}'] - t) * 1000)
                for gid, t in lat_counter.sent_at.items()
                if f'{{}}:{{run="{gid}"}}' in seen
            ]
            lat = sorted(ms for _, ms in timed)
            p50 = lat[len(lat) // 2]
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            slow = sorted(t for t, ms in timed if ms > 50)
            tail = (
                f"{len(slow)} over 50 ms, sent within {slow[-1] - slow[0]:.2f} s; max {lat[-1]:.0f} ms"
                if slow
                else f"none over 50 ms; max {lat[-1]:.0f} ms"
            )

            # memory after >= 100 000 alerts
            total_alerts = (counter.ok + lat_counter.ok) * ALERTS_PER_GROUP
            fill = Counter()
            while total_alerts + fill.ok * ALERTS_PER_GROUP < MEMORY_ALERTS:
                await closed_loop(session, am_url, 2.0, fill, "m")
            await session.post(f"{sink}/reset")
            await drain(session, sink, 0)
            total_alerts += fill.ok * ALERTS_PER_GROUP
            await asyncio.sleep(2.0)
            loaded_rss = rss_mb(full.pid)
            failed = counter.failed + lat_counter.failed + fill.failed
            stop([full, only])
            huge = await huge_groups(session, work, sink)

        ratio = statistics.median(am_rps) / statistics.median(bare_rps)
        rows = [
            ("machine", machine(), ""),
            (
                "bare handler, requests/s (median of rounds)",
                f"{statistics.median(bare_rps):.0f}",
                " ".join(f"{x:.0f}" for x in bare_rps),
            ),
            (
                "alertmedic ingest, requests/s (10 alerts each)",
                f"{sustained:.0f}",
                " ".join(f"{x:.0f}" for x in am_rps),
            ),
            ("ratio alertmedic / bare (target >= 0.5)", f"{ratio:.2f}", ""),
            (
                "context: ingest only (no integrations), requests/s",
                f"{statistics.median(only_rps):.0f}",
                " ".join(f"{x:.0f}" for x in only_rps)
                + f"  ratio {statistics.median(only_rps) / statistics.median(bare_rps):.2f}",
            ),
            (
                "delivered alerts/s (ingest round + drain)",
                f"{statistics.median(delivered_rate):.0f}",
                " ".join(f"{x:.0f}" for x in delivered_rate),
            ),
            (
                f"latency sent->delivered at {sustained / 2:.0f} req/s, p50 ms",
                f"{p50:.1f}",
                f"{len(lat)} groups",
            ),
            ("latency p99 ms (target < 50)", f"{p99:.1f}", tail),
            ("RSS idle MB (target < 120)", f"{idle_rss:.1f}", ""),
            (
                f"RSS after {total_alerts} alerts MB (growth target < 50)",
                f"{loaded_rss:.1f}",
                f"growth {loaded_rss - idle_rss:+.1f}",
            ),
            ("failed requests", str(failed), ""),
            *huge,
            *await enrichment.rows(),
            *await enrichment_rss(work),
            *await storm.rows(work, TOKEN, port=free_port(), spawn=spawn, ready=wait_http),
        ]
        from bench import delivery, replicas  # they import this module's helpers as bench.__main__

        rows += await replicas.rows(work, sink)
        figures, profile = await delivery.rows(sink)
        print_table(rows + figures)
        print(f"\nevent loop thread during the delivery drain, top functions by own time:\n{profile}")
    finally:
        stop([p for p in procs if p.poll() is None])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "all"))
