"""Rate limit of repeated log lines, on an injected clock: the first of each kind in full, then counts.

A flood of refused requests must be visible in the log without filling the disk. Per key (a cause
and a source, such as a remote address) the first occurrence is logged in full; later ones within
`interval` are only counted, and at most one summary line per key and interval reports the count.
A key quiet for a whole interval is forgotten, so its next occurrence is logged in full again. At
most `max_sources` sources per cause are tracked; further sources share one `OTHER` key, so the
lines per interval stay bounded however many addresses take part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OTHER = "(other sources)"
"""The source of the shared key once `max_sources` sources of a cause are tracked."""


@dataclass(frozen=True)
class Suppressed:
    """A summary due: `count` occurrences of (cause, source) were not logged in the last `seconds`."""

    cause: str
    source: str
    count: int
    seconds: float


@dataclass
class _Window:
    started: float
    ends: float
    suppressed: int = 0


@dataclass
class LogThrottle:
    interval: float = 60.0
    max_sources: int = 100
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _sources: dict[str, int] = field(default_factory=dict)
    """Tracked sources per cause (OTHER excluded)."""
    _next_due: float = float("inf")

    def admit(self, cause: str, source: str, now: float) -> bool:
        """True: log this occurrence in full now. False: it is counted for a later summary."""
        key = (cause, source)
        if key not in self._windows and self._sources.get(cause, 0) >= self.max_sources:
            key = (cause, OTHER)
        window = self._windows.get(key)
        if window is not None:
            window.suppressed += 1
            return False
        self._windows[key] = _Window(started=now, ends=now + self.interval)
        if key[1] != OTHER:
            self._sources[cause] = self._sources.get(cause, 0) + 1
        self._next_due = min(self._next_due, now + self.interval)
        return True

    def due(self, now: float, *, final: bool = False) -> list[Suppressed]:
        """Summaries of the windows that ended by `now` (every window when `final`), in the order
        their keys first occurred.

        A window with suppressed occurrences starts a new one (so a steady flood gives one line per
        interval); a window without any is forgotten. Cheap when nothing is due.
        """
        if now < self._next_due and not final:
            return []
        out = []
        for key, window in list(self._windows.items()):
            if window.ends > now and not final:
                continue
            if window.suppressed:
                out.append(Suppressed(key[0], key[1], window.suppressed, now - window.started))
                self._windows[key] = _Window(started=now, ends=now + self.interval)
            else:
                del self._windows[key]
                if key[1] != OTHER:
                    self._sources[key[0]] -= 1
        self._next_due = min((w.ends for w in self._windows.values()), default=float("inf"))
        return out
