"""Console login, sessions and form protection.

A login checks the password against the users file's bcrypt hash in a worker thread (a check
costs ~0.2 s of CPU at cost 12), also for unknown users (against a dummy hash, so an unknown name
takes as long as a wrong password). Failures are logged with the user name and address, never
the password, and counted in the store per user name and per address: past the limits of
app.core.console.session a login is refused without checking the password, on every replica.

The session cookie holds a random token; the store keeps its SHA-256 (app.store.console). Every
form post must carry the session's CSRF token AND come from our own origin (Origin, else Referer).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

import bcrypt
from aiohttp import web

from app.config import Config
from app.config.console import read_users
from app.core.chatops.actions import Actor, Provider
from app.core.chatops.permissions import PermissionRule
from app.core.console.session import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_WINDOW,
    csrf_ok,
    csrf_token,
    same_origin,
    throttle_keys,
    throttled,
    token_hash,
)
from app.web.apiauth import Principal
from app.web.state import STATE

log = logging.getLogger("alertmedic.console")


@functools.cache
def _dummy_hash(cost: int) -> bytes:
    """Checked when the user name is unknown, so that the answer takes as long as for a known
    one (made once per cost, on first need: hashing takes ~0.25 s at cost 12)."""
    return bcrypt.hashpw(b"no such user", bcrypt.gensalt(rounds=cost))


def _cost(users: dict[str, bytes]) -> int:
    """The highest cost of the users' hashes (`$2y$12$…`)."""
    return max((int(h[4:6]) for h in users.values()), default=12)


@dataclass
class Console:
    """The console's settings as the handlers need them."""

    users: dict[str, bytes]
    session_ttl: float
    rules: tuple[PermissionRule, ...]


CONSOLE = web.AppKey("console", Console)


@dataclass(frozen=True)
class Session:
    """The signed-in user of a request, with the token its CSRF token derives from."""

    user: str
    token: str

    @property
    def actor(self) -> Actor:
        return Actor(Provider.CONSOLE, self.user, self.user)

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def load_console(config: Config) -> Console | None:
    """The console of `config`, its users read now (None: the console is off). Raises
    ValueError naming the users file's problem."""
    section = config.console
    if section is None or not section.enabled or section.users_file is None:
        return None
    rules = config.chatops.rules if config.chatops is not None else ()
    return Console(read_users(section.users_file), section.session_ttl, rules)


def https(request: web.Request) -> bool:
    """Served over HTTPS here or at a proxy that says so."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def from_our_pages(request: web.Request) -> bool:
    """The request's Origin (or Referer) is this console's own origin."""
    scheme = "https" if https(request) else "http"
    return same_origin(
        request.headers.get("Origin"), request.headers.get("Referer"), scheme=scheme, host=request.host
    )


async def current(request: web.Request) -> Session | None:
    """The request's live session, if its cookie names one."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        return None
    state = request.app[STATE]
    found = await state.store.console_session(token_hash(token), now=state.clock_now())
    return None if found is None else Session(found.user, token)


async def console_user(request: web.Request) -> str | None:
    """`console:<user>` of a request carrying a live console session, else None."""
    if CONSOLE not in request.app:
        return None
    found = await current(request)
    return None if found is None else found.actor.key


async def api_way_in(request: web.Request) -> Principal | None:
    """The console session as a way into the JSON API (app.web.apiauth), for reading only:
    GET and HEAD. The API's POSTs (approve, reject) do not check `chatops.permissions` per user,
    so a console user decides through the console's own form, which does."""
    if request.method not in ("GET", "HEAD"):
        return None
    user = await console_user(request)
    return None if user is None else Principal(user, "session")


Handler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


def page(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A GET page: without a session, a redirect to the login (back here after it)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        found = await current(request)
        if found is None:
            raise web.HTTPSeeOther(f"/ui/login?next={quote(request.path_qs, safe='')}")
        return await handler(request, found)

    return wrapped


def resource(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A GET resource (an image): without a session, 401."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        found = await current(request)
        if found is None:
            raise web.HTTPUnauthorized(text="sign in to the console first")
        return await handler(request, found)

    return wrapped


def form(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A form post: needs a session, our own Origin and the session's CSRF token; else 403."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        found = await current(request)
        if found is None:
            return _refused(request, None, "no session")
        if not from_our_pages(request):
            return _refused(request, found, "foreign or missing Origin")
        data = await request.post()
        presented = data.get(CSRF_FIELD)
        if not csrf_ok(found.token, presented if isinstance(presented, str) else None):
            return _refused(request, found, "wrong or missing CSRF token")
        return await handler(request, found)

    return wrapped


def _refused(request: web.Request, found: Session | None, why: str) -> web.Response:
    log.warning(
        "console form refused",
        extra={
            "path": request.path,
            "user": found.user if found else None,
            "remote": request.remote,
            "reason": why,
        },
    )
    return web.Response(status=403, text=f"forbidden: {why}", content_type="text/plain")


def see_other(location: str) -> web.Response:
    """303 to `location` (a response, so cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def _safe_next(target: str | None) -> str:
    """Only a path of the console itself (no open redirect)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


async def check_password(hashed: bytes | None, password: str, *, cost: int) -> bool:
    """bcrypt's own constant-time check, off the event loop; for an unknown user (None) against
    a dummy hash of the same cost, and False. A password bcrypt cannot take (over 72 bytes) is
    wrong."""

    def check() -> bool:
        try:
            return bcrypt.checkpw(password.encode(), hashed or _dummy_hash(cost)) and hashed is not None
        except ValueError:
            return False

    return await asyncio.to_thread(check)


async def login(request: web.Request, render_login: Callable[..., web.Response]) -> web.StreamResponse:
    """POST /ui/login: user and password (form); on success a new session and a redirect."""
    console = request.app[CONSOLE]
    state = request.app[STATE]
    data = await request.post()
    user = str(data.get("user", ""))[:64]
    password = str(data.get("password", ""))
    target = _safe_next(str(data.get("next", "")) or None)
    address = request.remote or "-"
    if not from_our_pages(request):
        return _refused(request, None, "foreign or missing Origin")
    now = state.clock_now()
    keys = throttle_keys(user, address)
    if throttled(await state.store.console_failures(keys, since=now - LOGIN_WINDOW), user, address):
        log.warning("console login throttled", extra={"user": user, "remote": address})
        return render_login(
            request, error="Too many failed sign-ins: try again later.", status=429, user=user, next=target
        )
    hashed = console.users.get(user)
    if not await check_password(hashed, password, cost=_cost(console.users)):
        await state.store.console_failed(keys, now=now)
        log.warning(
            "console login failed",
            extra={
                "user": user,
                "remote": address,
                "reason": "unknown user" if hashed is None else "wrong password",
            },
        )
        return render_login(request, error="Wrong user name or password.", status=401, user=user, next=target)
    token = secrets.token_urlsafe(32)
    await state.store.console_login(
        token_hash(token), user=user, now=now, expires_at=now + console.session_ttl
    )
    log.info("console login", extra={"user": user, "remote": address})
    resp = see_other(target)
    resp.set_cookie(
        COOKIE,
        token,
        max_age=int(console.session_ttl),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=https(request),
    )
    return resp


async def logout(request: web.Request, found: Session) -> web.StreamResponse:
    """POST /ui/logout (a form: CSRF and Origin checked): the session ends everywhere."""
    await request.app[STATE].store.console_logout(token_hash(found.token))
    log.info("console logout", extra={"user": found.user, "remote": request.remote})
    resp = see_other("/ui/login")
    resp.del_cookie(COOKIE, path="/")
    return resp
