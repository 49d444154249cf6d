"""The console in a real headless chromium: sign in, approve an action awaiting approval and
see it run on (fake) Kubernetes; anonymous requests, expired sessions and forged form posts are
refused; a phone-width viewport never scrolls sideways; screenshots are not blank."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.incidents import IncidentFilter
from app.store.base import NewJob
from app.web.state import STATE
from tests.console.conftest import PASSWORDS, Console
from tests.enrich.png import colour_stats
from tests.remediate.support import patches


@pytest.mark.slow
async def test_approve_from_the_console_acts_and_is_recorded(console: Console) -> None:
    rec = await console.fire_awaiting_approval()
    ctx = await console.context(viewport={"width": 1280, "height": 800})
    page = await console.login(ctx, then="/ui/approvals")
    assert page.url.endswith("/ui/approvals")
    item = page.locator(f'#awaiting [data-action-id="{rec.id}"]')
    assert "scale-out-on-saturation" in await item.inner_text()
    assert "Deployment/prod/model-api" in await item.inner_text()
    await console.screenshot(page, "approvals")
    assert patches(console.kube) == []
    await item.locator("button", has_text="Approve").click()
    await page.wait_for_load_state()
    assert f"Approved action #{rec.id}" in await page.locator(".flash").inner_text()
    done = await console.until_state(rec.id, "succeeded")
    assert done.actor == "console:alice"
    [patch] = patches(console.kube)
    assert patch.path.endswith("/deployments/model-api/scale")
    await page.reload()
    recent = page.locator(f'#recent [data-action-id="{rec.id}"]')
    assert "succeeded" in await recent.inner_text()
    assert "by console:alice" in await recent.inner_text()
    audits = await console.client.app[STATE].store.chat_audits()
    assert [(a.source, a.user_key, a.action, a.outcome) for a in audits] == [
        ("console", "console:alice", "approve", "done")
    ]
    await ctx.close()


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("bob", "console:bob may not approve"),
        ("carol", 'console:carol may approve only alerts matching {namespace="staging"}'),
    ],
)
async def test_a_user_without_the_right_sees_no_buttons_and_is_refused(
    console: Console, user: str, why: str
) -> None:
    rec = await console.fire_awaiting_approval()
    ctx = await console.context()
    page = await console.login(ctx, user, then="/ui/approvals")
    item = page.locator(f'#awaiting [data-action-id="{rec.id}"]')
    assert "view only" in await item.inner_text()
    assert await item.locator("button").count() == 0
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    resp = await page.request.post(
        console.url(f"/ui/approvals/{rec.id}/approve"),
        form={"csrf": csrf or ""},
        headers={"Origin": console.url("/").rstrip("/")},
        max_redirects=0,
    )
    assert resp.status == 403
    assert why in await resp.text()
    assert (await console.client.app[STATE].store.remediation(rec.id)).state == "awaiting_approval"  # type: ignore[union-attr]
    await ctx.close()


async def test_forged_form_posts_are_refused(console: Console) -> None:
    rec = await console.fire_awaiting_approval()
    ctx = await console.context()
    page = await console.login(ctx, then="/ui/approvals")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    ours = console.url("/").rstrip("/")
    url = console.url(f"/ui/approvals/{rec.id}/approve")
    for form, headers, why in [
        ({}, {"Origin": ours}, "wrong or missing CSRF token"),
        ({"csrf": csrf[:-2] + "xx"}, {"Origin": ours}, "wrong or missing CSRF token"),
        ({"csrf": csrf}, {"Origin": "http://evil.example"}, "foreign or missing Origin"),
    ]:
        resp = await page.request.post(url, form=form, headers=headers, max_redirects=0)
        assert (resp.status, await resp.text()) == (403, f"forbidden: {why}")
    # A real cross-site page posting the form: the browser sends the cookie (top-level POST
    # from another site is not sent under SameSite=Lax) and its own Origin: refused either way.
    evil = await ctx.new_page()
    await evil.route(
        "http://evil.example/",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{url}"><input name="csrf" value="{csrf}">'
            '<button id="go">go</button></form>',
        ),
    )
    await evil.goto("http://evil.example/")
    async with evil.expect_response(url) as answer:
        await evil.click("#go")
    assert (await answer.value).status == 403
    # Another session's CSRF token is no good for this one.
    other = await console.context()
    page2 = await console.login(other, then="/ui/approvals")
    csrf2 = await page2.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf2 and csrf2 != csrf
    resp = await page.request.post(url, form={"csrf": csrf2}, headers={"Origin": ours}, max_redirects=0)
    assert resp.status == 403
    assert (await console.client.app[STATE].store.remediation(rec.id)).state == "awaiting_approval"  # type: ignore[union-attr]
    assert patches(console.kube) == []
    await ctx.close()
    await other.close()


async def test_anonymous_requests_are_refused(console: Console) -> None:
    ctx = await console.context()
    page = await ctx.new_page()
    for path in ("/ui", "/ui/approvals", "/ui/dead-letters", "/ui/incidents/abc"):
        await page.goto(console.url(path))
        assert "/ui/login" in page.url, path
        assert await page.locator("#password").count() == 1
    await console.screenshot(page, "login")
    for path in ("/ui/incidents/abc/graph.png", "/ui/incidents/abc/postmortem.md"):
        assert (await console.client.get(path)).status == 401
    client = console.client
    resp = await client.post("/ui/approvals/1/approve", data={"csrf": "x"}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post("/ui/logout", allow_redirects=False)
    assert resp.status == 403
    await ctx.close()


async def test_wrong_passwords_are_refused_then_throttled(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = await console.context()
    page = await ctx.new_page()
    for i in range(5):
        await page.goto(console.url("/ui/login"))
        await page.fill("#user", "alice")
        await page.fill("#password", f"wrong-{i}-guess")
        await page.click("button[type=submit]")
        assert "Wrong user name or password" in await page.locator(".flash").inner_text()
    await page.fill("#password", PASSWORDS["alice"])
    await page.click("button[type=submit]")
    assert "Too many failed sign-ins" in await page.locator(".flash").inner_text()
    assert "/ui/login" in page.url
    await console.clock.advance(901)  # the window passes
    await page.fill("#password", PASSWORDS["alice"])
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "/ui/login" not in page.url
    failed = [r for r in caplog.records if r.getMessage() == "console login failed"]
    assert [(r.user, r.reason) for r in failed] == [("alice", "wrong password")] * 5  # type: ignore[attr-defined]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "-guess" not in logged and PASSWORDS["alice"] not in logged
    await ctx.close()


async def test_a_session_expires_after_its_ttl_and_logout_ends_it(console: Console) -> None:
    ctx = await console.context()
    page = await console.login(ctx, then="/ui/dead-letters")
    [cookie] = await ctx.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"], cookie["secure"]) == (
        "alertmedic_session",
        True,
        "Lax",
        "/",
        False,
    )
    await console.clock.advance(12 * 3600 - 5)
    await page.goto(console.url("/ui/dead-letters"))
    assert page.url.endswith("/ui/dead-letters")
    await console.clock.advance(10)
    await page.goto(console.url("/ui/dead-letters"))
    assert "/ui/login" in page.url
    page = await console.login(ctx, then="/ui/dead-letters")
    await page.click("text=Sign out")
    await page.wait_for_load_state()
    assert "/ui/login" in page.url
    await page.goto(console.url("/ui/dead-letters"))
    assert "/ui/login" in page.url
    await ctx.close()


async def test_the_secure_flag_follows_https_at_the_proxy(console: Console) -> None:
    ours = console.url("/").rstrip("/")
    resp = await console.client.post(
        "/ui/login",
        data={"user": "alice", "password": PASSWORDS["alice"]},
        headers={"Origin": ours.replace("http://", "https://"), "X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert resp.status == 303
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


@pytest.mark.slow
async def test_phone_width_has_no_horizontal_scroll(console: Console, tmp_path: Path) -> None:
    await console.fire_awaiting_approval()
    ctx = await console.context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = await console.login(ctx, then="/ui/approvals")
    incident = (await console.client.app[STATE].store.incidents(IncidentFilter()))[0].id
    pages = {
        "/ui": "incidents",
        f"/ui/incidents/{incident}": "incident",
        "/ui/approvals": "approvals",
        "/ui/dead-letters": "dead-letters",
    }
    for path, name in pages.items():
        await page.goto(console.url(path))
        sizes = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], (path, sizes)
        await console.screenshot(page, f"phone-{name}")
    login = await (await console.context(viewport={"width": 390, "height": 844})).new_page()
    await login.goto(console.url("/ui/login"))
    assert await login.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    await ctx.close()


@pytest.mark.slow
async def test_the_open_incident_its_timeline_logs_and_graph(console: Console) -> None:
    rec = await console.fire_awaiting_approval()
    store = console.client.app[STATE].store
    ctx = await console.context(viewport={"width": 1280, "height": 900})
    await console.clock.advance(60)
    await console.fire("ModelServingDown", "fp-down")
    await console.clock.advance(60)
    await console.fire("FeatureStoreLag", "fp-lag", severity="warning", namespace="staging")
    ref = await console.chat_state_of("ModelServingDown")
    await console.client.app[STATE].store.chat_ack(ref, by="@alice", now=console.clock.now())
    page = await console.login(ctx)
    assert page.url.endswith("/ui")
    rows = await page.locator("#incidents a.item .title").all_inner_texts()
    # critical first; then the warnings, the older first
    assert rows == ["ModelServingDown", "ModelHighLatencyP95", "FeatureStoreLag"]
    assert "acked by @alice" in await page.locator("#incidents a.item").first.inner_text()
    row = page.locator("#incidents a.item", has_text="ModelHighLatencyP95")
    text = await row.inner_text()
    assert "warning" in text.lower() and "remediating" in text
    await console.screenshot(page, "incidents")
    await row.click()
    await page.wait_for_load_state()
    assert "/ui/incidents/" in page.url
    kinds = await page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds[0] == "fired"
    assert "remediation_planned" in kinds or "remediation_awaiting_approval" in kinds, kinds
    assert "+1m30s" in await page.locator("#timeline li").first.inner_text()  # after startsAt
    # the enrichment the notification carried: log lines and the graph, served to this session only
    for _ in range(100):
        detail_png = await page.request.get(page.url + "/graph.png")
        if detail_png.status == 200:
            break
        await console.clock.advance(1)
        await page.wait_for_timeout(20)
    await page.reload()
    assert "feature-store:8080 reset" in await page.locator("#logs").inner_text()
    img = page.locator("img.graph")
    assert await img.evaluate("i => i.complete && i.naturalWidth > 100")
    graph = await page.request.get(page.url + "/graph.png")
    assert graph.headers["content-type"] == "image/png"
    assert colour_stats(await graph.body())[0] >= 8
    anonymous = await console.client.get(page.url.split(str(console.client.make_url("")))[-1] + "/graph.png")
    assert anonymous.status == 401
    # approve from the incident page: the same code path; the timeline then shows it run
    action = page.locator(f'#actions [data-action-id="{rec.id}"]')
    await action.locator("button", has_text="Approve").click()
    await page.wait_for_load_state()
    await console.until_state(rec.id, "succeeded")
    await page.go_back()
    await page.reload()
    kinds = await page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "remediation_approved" in kinds and "remediation_verified" in kinds, kinds
    assert "console:alice" in await page.locator("#timeline").inner_text()
    await console.screenshot(page, "incident")
    md = await page.request.get(page.url + "/postmortem.md")
    assert md.status == 200 and "ModelHighLatencyP95" in await md.text()
    await page.goto(page.url + "/postmortem.md")  # the draft as the browser shows it (README image)
    assert "## Timeline" in await page.locator("body").inner_text()
    await console.screenshot(page, "postmortem")
    await ctx.close()
    assert (await store.remediation(rec.id)).state == "succeeded"  # type: ignore[union-attr]


async def test_the_filter_narrows_the_list(console: Console) -> None:
    await console.fire_awaiting_approval()
    ctx = await console.context()
    page = await console.login(ctx)
    assert await page.locator("#incidents a.item").count() == 1
    await console.fire("FeatureStoreLag", "fp-lag", severity="critical", namespace="staging")
    await page.reload()
    assert await page.locator("#incidents a.item").count() == 2
    await page.select_option("select[name=namespace]", "prod")
    await page.select_option("select[name=severity]", "warning")
    await page.click("text=Filter")
    await page.wait_for_load_state()
    assert "namespace=prod" in page.url
    assert await page.locator("#incidents a.item").count() == 1
    await page.goto(console.url("/ui?severity=critical&namespace=prod"))
    assert await page.locator("#incidents a.item").count() == 0
    assert "No open incident" in await page.locator("#incidents").inner_text()
    await page.goto(console.url("/ui?receiver=oncall"))
    assert await page.locator("#incidents a.item").count() == 2
    await page.goto(console.url("/ui?state=resolved"))
    assert await page.locator("#incidents a.item").count() == 0
    await page.goto(console.url("/ui?window=1h"))
    assert await page.locator("#incidents a.item").count() == 2
    await console.clock.advance(2 * 3600)
    await page.goto(console.url("/ui?window=1h"))
    assert await page.locator("#incidents a.item").count() == 0
    await ctx.close()


async def test_a_console_session_reads_the_json_api_but_cannot_post_to_it(console: Console) -> None:
    rec = await console.fire_awaiting_approval()
    ctx = await console.context()
    page = await console.login(ctx)
    listed = await page.request.get(console.url("/api/v1/incidents"))
    assert listed.status == 200
    [item] = (await listed.json())["incidents"]
    assert item["title"] == "ModelHighLatencyP95"
    ours = console.url("/").rstrip("/")
    decided = await page.request.post(
        console.url(f"/api/v1/actions/{rec.id}/approve"), headers={"Origin": ours}
    )
    assert decided.status == 401
    assert (await console.client.get("/api/v1/incidents")).status == 401
    await page.click("text=Sign out")
    await page.wait_for_load_state()
    assert (await page.request.get(console.url("/api/v1/incidents"))).status == 401
    assert (await console.client.app[STATE].store.remediation(rec.id)).state == "awaiting_approval"  # type: ignore[union-attr]
    await ctx.close()


async def test_dead_letters_are_listed_with_their_reason(console: Console) -> None:
    store = console.client.app[STATE].store
    [jid] = await store.enqueue(
        [
            NewJob(
                "notify",
                "oncall/webhook[0]",
                "{}",
                console.clock.now(),
                receiver="oncall",
                integration="webhook",
            )
        ],
        now=console.clock.now(),
    )
    await store.dead(jid, reason="HTTP 404 from the webhook: not retried", now=console.clock.now())
    ctx = await console.context()
    page = await console.login(ctx, then="/ui/dead-letters")
    text = await page.locator("main").inner_text()
    assert f"#{jid} oncall/webhook[0]" in text
    assert "HTTP 404 from the webhook: not retried" in text
    assert "oncall / webhook" in text
    await ctx.close()


async def test_reject_from_the_console_changes_nothing_on_kubernetes(console: Console) -> None:
    rec = await console.fire_awaiting_approval()
    ctx = await console.context()
    page = await console.login(ctx, then="/ui/approvals")
    await page.locator(f'#awaiting [data-action-id="{rec.id}"] button', has_text="Reject").click()
    await page.wait_for_load_state()
    assert f"Rejected action #{rec.id}" in await page.locator(".flash").inner_text()
    done = await console.until_state(rec.id, "rejected")
    assert done.actor == "console:alice"
    assert await page.locator("#awaiting [data-action-id]").count() == 0
    # deciding twice: refused with the reason, nothing else happens
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    again = await page.request.post(
        console.url(f"/ui/approvals/{rec.id}/approve"),
        form={"csrf": csrf or ""},
        headers={"Origin": console.url("/").rstrip("/")},
    )
    assert "is rejected, not awaiting approval" in await again.text()
    assert patches(console.kube) == []
    await ctx.close()


async def test_the_list_shows_acked_silenced_and_escalated(console: Console) -> None:
    await console.fire("ModelServingDown", "fp-down")
    store = console.client.app[STATE].store
    ref = await console.chat_state_of("ModelServingDown")
    now = console.clock.now()
    # what the chat buttons record (app.engine.chat_actions), through the same store calls
    await store.chat_ack(ref, by="alice (telegram)", now=now)
    await store.chat_silence(ref, silence_id="s-1", by="bob (slack)", until=now + 3600, now=now)
    await store.chat_escalated(ref, receiver="team-lead", at=now)
    ctx = await console.context()
    page = await console.login(ctx)
    chips = await page.locator("#incidents a.item[data-incident] .chip").all_inner_texts()
    assert chips == ["acked by alice (telegram)", "silenced 1h00m", "escalated"]
    await page.click("#incidents a.item")
    await page.wait_for_load_state()
    text = await page.locator("main").inner_text()
    assert "acked by alice (telegram)" in text and "escalated" in text
    await ctx.close()
