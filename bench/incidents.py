"""`python -m bench.incidents`: what the incident timeline adds to one webhook's ingest.

Times the engine's ingest step (`Router.plan` result through `Store.ingest`, SQLite file, durable
commits) with and without the incident note, in alternating rounds on the same store: 10-alert
groups, each webhook a new group (a new incident and 11 events: the worst case), then the same
groups again (repeats: the common case, no change, no event). Then one 10 000-alert group: the
note is built and advanced once. No network; the database is on the repository's disk (real
fsyncs, not a tmpfs).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from app.core.models import WebhookMessage
from app.core.plan import Destination, Planned
from app.engine.incidents import note_of
from app.store.sqlite import SQLiteStore
from tests.payloads import alert, message, realistic_group

DEST = Destination("oncall/webhook[0]", "oncall", "webhook", True)
GROUPS = 300
ROUNDS = 8


def webhook(i: int, tag: str) -> tuple[WebhookMessage, list[Planned]]:
    msg = WebhookMessage.model_validate(
        message(
            f'{{}}:{{run="{tag}-{i}"}}',
            [alert("BenchAlert", f"{tag}-{i}-{j}", instance=f"p{j}") for j in range(10)],
        )
    )
    from app.core.models import Group

    group = Group(
        groupKey=msg.groupKey,
        status=msg.status,
        receiver="oncall",
        groupLabels=msg.groupLabels,
        commonLabels=msg.commonLabels,
        commonAnnotations=msg.commonAnnotations,
        externalURL=msg.externalURL,
        alerts=msg.alerts,
    )
    return msg, [Planned(DEST, group)]


async def round_(store: SQLiteStore, tag: str, *, with_incident: bool) -> tuple[float, float]:
    """Mean microseconds per webhook: new groups, then the same again (repeats)."""
    hooks = [webhook(i, tag) for i in range(GROUPS)]
    out = []
    for _ in range(2):
        t0 = time.perf_counter()
        for msg, plans in hooks:
            note = note_of(msg, plans) if with_incident else None
            await store.ingest(plans, now=time.time(), dedup_window=3600, incident=note)
        out.append((time.perf_counter() - t0) / GROUPS * 1e6)
    return out[0], out[1]


HERE = Path(__file__).resolve().parent


async def main() -> None:
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db")
        await store.start()
        try:
            results: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for r in range(ROUNDS):
                for with_incident in (False, True):
                    results[with_incident].append(
                        await round_(store, f"r{r}{int(with_incident)}", with_incident=with_incident)
                    )
            for with_incident, rows in results.items():
                new = statistics.median(x for x, _ in rows)
                repeat = statistics.median(y for _, y in rows)
                label = "with incident" if with_incident else "without"
                print(f"10-alert webhook, {label:>13}: new group {new:7.0f} µs, repeat {repeat:7.0f} µs")
            huge = WebhookMessage.model_validate_json(realistic_group(10_000))
            t0 = time.perf_counter()
            _, plans = webhook(0, "unused")
            note = note_of(huge, plans)
            t1 = time.perf_counter()
            assert note is not None
            from app.core.incidents import advance

            advance(None, note, now=time.time())
            t2 = time.perf_counter()
            print(
                f"10 000-alert group: note {1e3 * (t1 - t0):.1f} ms, first advance {1e3 * (t2 - t1):.1f} ms"
            )
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
