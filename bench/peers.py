"""The benchmark's peer processes: a bare JSON handler (the baseline) and a delivery sink.

python -m bench.peers bare PORT             # POST / parses the JSON body and answers 200
python -m bench.peers relay PORT SINK_URL   # POST / parses, forwards to the sink, then answers
python -m bench.peers sink PORT             # POST / records (groupKey, alerts, time); GET /stats
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web


def bare_app() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/", handle)
    return app


def relay_app(sink: str) -> web.Application:
    """The naive relay: what a receiver does without durability or routing. It parses the webhook
    and forwards it to the sink before answering, so each 2xx is one group delivered."""
    holder: dict[str, aiohttp.ClientSession] = {}

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            holder["session"] = session
            yield

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        async with holder["session"].post(sink, data=json.dumps(body)) as resp:
            await resp.read()
            if resp.status >= 300:
                return web.json_response({"status": "sink failed"}, status=502)
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/", handle)
    return app


def sink_app() -> web.Application:
    seen: dict[str, float] = {}
    counts = {"requests": 0, "alerts": 0}

    async def receive(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        now = time.time()
        counts["requests"] += 1
        counts["alerts"] += len(body["alerts"])
        seen.setdefault(body["groupKey"], now)
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        keys = request.query.get("keys")
        out: dict[str, object] = dict(counts)
        if keys == "1":
            out["first_seen"] = seen
        return web.json_response(out)

    async def reset(request: web.Request) -> web.Response:
        seen.clear()
        counts.update(requests=0, alerts=0)
        return web.Response(text="ok")

    app = web.Application(client_max_size=256 * 1024 * 1024)  # the huge groups of bench part 4
    app.router.add_post("/", receive)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    app = {"bare": bare_app, "sink": sink_app}[kind]() if kind != "relay" else relay_app(sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
