"""The console over plain HTTP (no browser): what a page escapes, where a sign-in may send the
browser next, the headers pages carry, and a console that is off."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.console.conftest import PASSWORDS, Console

Client = TestClient  # type: ignore[type-arg]


async def sign_in(client: Client, *, next: str = "") -> Any:
    origin = str(client.make_url("/")).rstrip("/")
    return await client.post(
        "/ui/login",
        data={"user": "alice", "password": PASSWORDS["alice"], "next": next},
        headers={"Origin": origin},
        allow_redirects=False,
    )


async def test_label_values_are_escaped(console: Console) -> None:
    await console.fire("ModelDriftDetected", "fp-x", model="<script>alert(1)</script>")
    assert (await sign_in(console.client)).status == 303
    page = await (await console.client.get("/ui")).text()
    incident = page.split('href="/ui/incidents/')[1].split('"')[0]
    detail = await (await console.client.get(f"/ui/incidents/{incident}")).text()
    assert "<script>" not in detail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail


async def test_sign_in_sends_the_browser_only_within_the_console(console: Console) -> None:
    for asked, went in [
        ("/ui/approvals", "/ui/approvals"),
        ("//evil.example/ui", "/ui"),
        ("https://evil.example/", "/ui"),
        ("/ui\\\\evil.example", "/ui"),
        ("", "/ui"),
    ]:
        resp = await sign_in(console.client, next=asked)
        assert (resp.status, resp.headers["Location"]) == (303, went), asked


async def test_pages_allow_no_script_and_no_framing(console: Console) -> None:
    await sign_in(console.client)
    resp = await console.client.get("/ui")
    assert resp.status == 200
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "<script" not in await resp.text()


async def test_a_sign_in_without_our_origin_is_refused(console: Console) -> None:
    resp = await console.client.post(
        "/ui/login",
        data={"user": "alice", "password": PASSWORDS["alice"]},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert "Set-Cookie" not in resp.headers
