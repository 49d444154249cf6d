"""The console's routes: every page needs a session, every form post a session, our own Origin
and the session's CSRF token (app.web.console.auth)."""

from __future__ import annotations

from aiohttp import web

from app.web.console import incidents, pages
from app.web.console.auth import form, logout, page, resource


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui/login", pages.login_page)
    app.router.add_post("/ui/login", pages.login_post)
    app.router.add_post("/ui/logout", form(logout))
    app.router.add_get("/ui", page(incidents.incidents_page))
    app.router.add_get("/ui/incidents/{id}", page(incidents.incident_page))
    app.router.add_get("/ui/incidents/{id}/graph.png", resource(incidents.graph_png))
    app.router.add_get("/ui/incidents/{id}/postmortem.md", resource(incidents.postmortem_md))
    app.router.add_get("/ui/approvals", page(pages.approvals))
    app.router.add_post(r"/ui/approvals/{id:\d+}/{verb:approve|reject}", form(pages.decide))
    app.router.add_get("/ui/dead-letters", page(pages.dead_letters))
