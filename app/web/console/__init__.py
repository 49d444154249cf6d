"""The web console at /ui: server-rendered pages (Jinja2, inline CSS, no JavaScript framework,
no external asset) behind a login of the users of `console.users_file`.

    auth.py      login, logout, sessions (cookie → store), CSRF and Origin checks, throttle
    pages.py     the page frame, approvals (Approve / Reject), dead letters, the login form
    incidents.py the incident list with its filter, one incident, its graph and post-mortem
    routes.py    the routes and which guard (page, resource, form) each has
    render.py    the template environment and the formatting the pages share
"""
