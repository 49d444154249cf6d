"""The web console at /ui: server-rendered pages (Jinja2, inline CSS, no JavaScript framework,
no external asset) behind a login of the users of `console.users_file`.

    auth.py      login, logout, sessions (cookie → store), CSRF and Origin checks, throttle
    pages.py     the pages: incidents, an incident, approvals, dead letters; Approve / Reject
    render.py    the template environment and the formatting the pages share
"""
