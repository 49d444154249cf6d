"""Logging of refused webhook requests (401, 400, 413, 422): the first per cause and address in full,
then counts at most once a minute, so a token mismatch is visible and a flood cannot fill the disk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.core.logthrottle import LogThrottle

log = logging.getLogger("alertmedic.web")

SUMMARY_INTERVAL = 60.0
"""Seconds between summary lines of one (cause, address)."""

MAX_TEXT = 200
"""Longest text taken from a request into a log line (a field path can embed a label name)."""


def cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RefusalLog:
    """Writes refusal lines through a LogThrottle on the app's clock."""

    def __init__(self, clock: Callable[[], float], *, interval: float = SUMMARY_INTERVAL) -> None:
        self._clock = clock
        self._throttle = LogThrottle(interval=interval)

    def refused(self, cause: str, remote: str | None, reason: str, **details: Any) -> None:
        """Log one refusal (or count it for the next summary of its cause and address)."""
        now = self._clock()
        self.report_due(now)
        source = remote or "unknown"
        if self._throttle.admit(cause, source, now):
            log.warning(
                f"refused a webhook: {reason}",
                extra={
                    "cause": cause,
                    "remote": source,
                    **details,
                    "then": "more of this cause from this address are counted, one line a minute",
                },
            )

    def report_due(self, now: float | None = None, *, final: bool = False) -> None:
        """Log the counts of refusals that were not logged one by one, where an interval ended
        (everywhere when `final`: the service is stopping)."""
        for s in self._throttle.due(self._clock() if now is None else now, final=final):
            log.warning(
                "refused webhooks not logged one by one",
                extra={"cause": s.cause, "remote": s.source, "count": s.count, "seconds": round(s.seconds)},
            )
