"""Who is calling the JSON API under /api/v1: one `authenticate(request)`, fail closed.

The ways in are tried in order: the `api.bearer_token(_file)` token (scripts, the CLI), then any a
part of the app adds with `add_way_in` (the console's session cookie). The middleware `require`
answers 401 to every request under /api/v1/ that none of them accepts, before a handler runs, so
a route added later cannot forget to check; a handler reads who it serves with `principal`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

PREFIX = "/api/v1/"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    name: str
    """Recorded as the actor of what it does: `api` for the token, `console:alice` for a console
    user."""
    via: str
    """How it got in: `token` or `session`."""
    decides: bool = False
    """May approve and reject actions through the API. The token may (it is the operators' own
    credential); a way in that lets people in must check their rights (`chatops.permissions`)
    before it says so: fail closed."""


WayIn = Callable[[web.Request], Awaitable[Principal | None]]
"""Looks at a request and answers who it is, or None (not this way)."""

WAYS_IN = web.AppKey("api_ways_in", list[WayIn])
PRINCIPAL = web.RequestKey("api_principal", Principal)

TOKEN_PRINCIPAL = Principal("api", "token", decides=True)


def bearer_way_in(token: str | None) -> WayIn:
    """The API token (`Authorization: Bearer <token>`, compared in constant time); no token
    configured: nobody gets in this way."""
    expected = (token or "").encode()

    async def way_in(request: web.Request) -> Principal | None:
        scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
        if not expected or scheme.lower() != "bearer":
            return None
        if hmac.compare_digest(value.strip().encode(errors="replace"), expected):
            return TOKEN_PRINCIPAL
        return None

    return way_in


def install(app: web.Application, token: str | None) -> None:
    """The token as the first way in, and the middleware that requires one."""
    app[WAYS_IN] = [bearer_way_in(token)]
    app.middlewares.append(require)


def add_way_in(app: web.Application, way_in: WayIn) -> None:
    """Another way in (before the app starts), tried after those already there."""
    app[WAYS_IN].append(way_in)


async def authenticate(request: web.Request) -> Principal | None:
    """Who the request acts for; None when no way in accepts it."""
    for way_in in request.app[WAYS_IN]:
        if (found := await way_in(request)) is not None:
            return found
    return None


def unauthorized() -> web.Response:
    return web.json_response(
        {"status": "error", "error": "unauthorized"}, status=401, headers={"WWW-Authenticate": "Bearer"}
    )


def _guarded(request: web.Request) -> bool:
    if request.path.startswith(PREFIX):
        return True
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical.startswith(PREFIX)


@web.middleware
async def require(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 for a request under /api/v1/ that nobody vouches for (unknown paths included: an
    anonymous caller learns nothing of which exist)."""
    if not _guarded(request):
        return await handler(request)
    found = await authenticate(request)
    if found is None:
        return unauthorized()
    request[PRINCIPAL] = found
    return await handler(request)


def principal(request: web.Request) -> Principal:
    """Who a request under /api/v1/ acts for (set by `require`)."""
    return request[PRINCIPAL]
