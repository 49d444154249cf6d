"""The JSON API's door and its map: every route under /api/v1 needs credentials (the API token, or
another way in a part of the app adds, e.g. the console's session), bad parameters are 400s that
name the field, and the OpenAPI document lists exactly the routes the app serves there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from app.web import apiauth
from app.web.app import create_app
from app.web.openapi import document
from tests.conftest import TOKEN, make_config

Client = TestClient  # type: ignore[type-arg]
API_TOKEN = "api-token-for-tests"
API = {"Authorization": f"Bearer {API_TOKEN}"}


def config(tmp_path: Path, *, token: str | None = API_TOKEN) -> Any:
    api: dict[str, Any] = {}
    if token is not None:
        (tmp_path / "api-token").write_text(token + "\n")
        api = {"bearer_token_file": str(tmp_path / "api-token")}
    return make_config(
        tmp_path,
        [{"name": "a", "file_configs": [{"path": str(tmp_path / "inbox.log")}]}],
        {"receiver": "a"},
        api=api,
    )


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> Client:
    c: Client = await aiohttp_client(create_app(config(tmp_path)))
    return c


def served(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is not None and resource.canonical.startswith("/api/v1/"):
            out.add((route.method.lower(), resource.canonical))
    return out


def documented() -> set[tuple[str, str]]:
    return {(method, path) for path, ops in document()["paths"].items() for method in ops}


def test_the_document_lists_exactly_the_routes_under_api_v1(tmp_path: Path) -> None:
    app = create_app(config(tmp_path))
    assert served(app) == documented()
    assert ("get", "/api/v1/incidents/{id}/postmortem") in served(app)


async def test_every_route_refuses_without_the_token(client: Client) -> None:
    for method, path in sorted(documented()):
        url = path.replace("{id}", "1")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}"}):
            resp = await client.request(method, url, headers=headers)
            assert resp.status == 401, (method, url, headers)
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            assert await resp.json() == {"status": "error", "error": "unauthorized"}
    # An unknown path says nothing to an anonymous caller; with the token it is a plain 404.
    assert (await client.get("/api/v1/nothing-here")).status == 401
    assert (await client.get("/api/v1/nothing-here", headers=API)).status == 404


async def test_the_document_is_served_with_the_token(client: Client) -> None:
    resp = await client.get("/api/v1/openapi.json", headers=API)
    assert resp.status == 200
    body = await resp.json()
    assert body["openapi"].startswith("3.")
    assert body == document()


async def test_without_a_configured_token_nobody_gets_in(aiohttp_client: Any, tmp_path: Path) -> None:
    client: Client = await aiohttp_client(create_app(config(tmp_path, token=None)))
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}, API):
        assert (await client.get("/api/v1/actions", headers=headers)).status == 401


@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("get", "/api/v1/actions?pending=maybe", "pending"),
        ("get", "/api/v1/actions?pending=TRUE", "pending"),
        ("get", "/api/v1/actions?pending=1&pending=0", "pending"),
        ("get", "/api/v1/actions?bogus=1", "bogus"),
        ("post", "/api/v1/actions/abc/approve", "id"),
        ("post", "/api/v1/actions/0/approve", "id"),
        ("post", "/api/v1/actions/%D9%A1/reject", "id"),  # an Arabic-Indic 1: int() would take it
        ("post", "/api/v1/actions/99999999999999999999999/reject", "id"),
        ("post", "/api/v1/actions/1/approve?why=1", "why"),
    ],
)
async def test_bad_parameters_are_400_naming_the_field(
    client: Client, method: str, url: str, field: str
) -> None:
    resp = await client.request(method, url, headers=API)
    assert resp.status == 400
    body = await resp.json()
    assert body["status"] == "error" and body["field"] == field
    assert body["error"].startswith(f"{field}: ")


async def test_actions_with_the_token(client: Client) -> None:
    for url in ("/api/v1/actions", "/api/v1/actions?pending=1", "/api/v1/actions?pending=false"):
        resp = await client.get(url, headers=API)
        assert resp.status == 200
        assert await resp.json() == {"actions": []}
    resp = await client.post("/api/v1/actions/7/approve", headers=API)
    assert resp.status == 404
    assert (await resp.json())["status"] == "error"


async def test_another_way_in_is_tried_after_the_token(aiohttp_client: Any, tmp_path: Path) -> None:
    """How the console's session gets in: a way in added to the app; the handler sees who."""
    app = create_app(config(tmp_path))
    seen: list[apiauth.Principal] = []

    async def session(request: web.Request) -> apiauth.Principal | None:
        return apiauth.Principal("console:alice", "session") if request.cookies.get("s") == "ok" else None

    async def whoami(request: web.Request) -> web.Response:
        seen.append(apiauth.principal(request))
        return web.json_response({"name": apiauth.principal(request).name})

    apiauth.add_way_in(app, session)
    app.router.add_get("/api/v1/test-whoami", whoami)
    client: Client = await aiohttp_client(app)
    assert (await client.get("/api/v1/test-whoami", cookies={"s": "no"})).status == 401
    resp = await client.get("/api/v1/test-whoami", cookies={"s": "ok"})
    assert await resp.json() == {"name": "console:alice"}
    resp = await client.get("/api/v1/test-whoami", headers=API)
    assert await resp.json() == {"name": "api"}
    assert [p.via for p in seen] == ["session", "token"]


async def test_a_way_in_for_people_does_not_decide_actions_unless_it_says_so(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    """Fail closed: a console user may read, but approving through the API needs a way in that
    checked their right and set `decides`."""
    app = create_app(config(tmp_path))

    async def session(request: web.Request) -> apiauth.Principal | None:
        user = request.cookies.get("user")
        return apiauth.Principal(f"console:{user}", "session", decides=user == "alice") if user else None

    apiauth.add_way_in(app, session)
    client: Client = await aiohttp_client(app)
    assert (await client.get("/api/v1/actions", cookies={"user": "bob"})).status == 200
    resp = await client.post("/api/v1/actions/7/approve", cookies={"user": "bob"})
    assert resp.status == 403
    assert await resp.json() == {
        "status": "error",
        "error": "console:bob may not approve actions through the API",
    }
    assert (await client.post("/api/v1/actions/7/approve", cookies={"user": "alice"})).status == 404
