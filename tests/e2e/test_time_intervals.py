"""Time intervals against the real Alertmanager: for each interval, one route muted by it and
one active only in it; which webhooks Alertmanager calls must be what app.core.routing's
``match_at`` predicts for the same config at the same instant.

The intervals are built around "now" in a zone where it is between 02:00 and 21:59, so
that none of them changes its verdict while the test runs.
"""

from __future__ import annotations

import asyncio
import calendar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.matchers import parse_matchers
from app.core.routing import Route, match_at
from app.core.timeintervals import parse_time_intervals
from tests.e2e.alertmanager import Alertmanager, am_alert
from tests.fakes.webhook import WebhookSink

pytestmark = pytest.mark.slow

ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/New_York", "Pacific/Auckland"]
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()  # noqa: SIM905
MONTHS = "January February March April May June July August September October November December".split()  # noqa: SIM905


def intervals_around(now: datetime) -> dict[str, dict[str, Any]]:
    """Named intervals (one entry each), some containing `now`, some not."""
    zone = next(z for z in ZONES if 2 <= now.astimezone(ZoneInfo(z)).hour <= 21)
    t = now.astimezone(ZoneInfo(zone))
    days = calendar.monthrange(t.year, t.month)[1]
    weekday, tomorrow = WEEKDAYS[t.weekday()], WEEKDAYS[(t.weekday() + 1) % 7]
    month = MONTHS[t.month - 1]
    hours = [{"start_time": f"{t.hour - 1:02d}:00", "end_time": f"{t.hour + 2:02d}:00"}]
    return {
        "always": {},
        "empty-weekdays": {"weekdays": []},
        "weekday": {"weekdays": [weekday.upper()], "location": zone},
        "other-weekday": {"weekdays": [tomorrow.lower()], "location": zone},
        "day-from-end": {"days_of_month": [f"{t.day - days - 1}:-1"], "location": zone},
        "other-day": {"days_of_month": ["1" if t.day != 1 else "2"], "location": zone},
        "month": {"months": [f"{month}:december"], "location": zone},
        "other-month": {"months": [str(t.month % 12 + 1)], "location": zone},
        "hours": {"times": hours, "location": zone},
        "earlier-hours": {
            "times": [{"start_time": "00:00", "end_time": f"{t.hour:02d}:00"}],
            "location": zone,
        },
        "year": {"years": [f"{t.year - 1}:{t.year}"], "location": zone},
        "other-year": {"years": [str(t.year + 1)], "location": zone},
        "all-of-today": {
            "weekdays": [weekday],
            "days_of_month": [str(t.day)],
            "months": [str(t.month)],
            "years": [str(t.year)],
            "times": hours,
            "location": zone,
        },
    }


def predict(
    routes: list[dict[str, Any]], time_intervals: list[Any], at: datetime
) -> tuple[set[str], set[str]]:
    """(receivers notified, receivers muted) by app.core.routing for one alert per route."""
    table, problems = parse_time_intervals(time_intervals)
    assert problems == []
    root = Route(
        "default",
        routes=tuple(
            Route(
                r["receiver"],
                tuple(parse_matchers(r["matchers"][0])),
                mute_time_intervals=r.get("mute_time_intervals", ()),
                active_time_intervals=r.get("active_time_intervals", ()),
            )
            for r in routes
        ),
    )
    notified: set[str] = set()
    muted: set[str] = set()
    for r in routes:
        routed = match_at(root, {"case": r["receiver"]}, intervals=table, at=at)
        notified |= set(routed.receivers)
        muted |= {m.receiver for m in routed.muted}
    return notified, muted


async def test_alertmanager_mutes_what_match_at_mutes(tmp_path: Path, webhook_sink: WebhookSink) -> None:
    now = datetime.now(UTC)
    defs = intervals_around(now)
    time_intervals = [{"name": name, "time_intervals": [fields]} for name, fields in defs.items()]
    routes: list[dict[str, Any]] = []
    for name in defs:
        for kind in ("mute", "active"):
            routes.append(
                {
                    "receiver": f"{kind}-{name}",
                    "matchers": [f'case="{kind}-{name}"'],
                    f"{kind}_time_intervals": [name],
                }
            )
    receivers = [{"name": "default"}] + [
        {
            "name": r["receiver"],
            "webhook_configs": [{"url": webhook_sink.url_for(r["receiver"]), "send_resolved": False}],
        }
        for r in routes
    ]
    config = {
        "route": {
            "receiver": "default",
            "group_by": ["case"],
            "group_wait": "1s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": receivers,
        "time_intervals": time_intervals,
    }

    notified, muted = predict(routes, time_intervals, now)
    # The intervals were built so that every verdict is known in advance.
    inside = {"always", "weekday", "day-from-end", "month", "hours", "year", "all-of-today"}
    assert notified == {f"active-{n}" for n in inside} | {f"mute-{n}" for n in defs if n not in inside}
    assert muted == {r["receiver"] for r in routes} - notified

    am = Alertmanager(tmp_path, config)
    await am.start()
    try:
        await am.post_alerts([am_alert("IntervalCheck", "warning", case=r["receiver"]) for r in routes])
        await webhook_sink.wait_until(lambda: len(webhook_sink.deliveries) >= len(notified), timeout=30)
        # Alertmanager logs (at debug level) each group its time stages drop.
        for _ in range(300):
            if am.log().count("Notifications not sent, route is") >= len(muted):
                break
            await asyncio.sleep(0.1)
        log = am.log()
    finally:
        am.stop()
    called = {d.path.lstrip("/") for d in webhook_sink.deliveries}
    assert called == notified, log[-3000:]
    assert len(webhook_sink.deliveries) == len(notified)
    assert log.count("Notifications not sent, route is within mute time") == len(
        {m for m in muted if m.startswith("mute-")}
    )
    assert log.count("Notifications not sent, route is not within active time") == len(
        {m for m in muted if m.startswith("active-")}
    )
    # The verdicts did not change while the test ran.
    assert predict(routes, time_intervals, datetime.now(UTC)) == (notified, muted)
