"""`heartbeats:`: the dead-man's switch. Each entry names the always-firing alert (Watchdog) that
proves the alerting pipeline works, how long it may stay away, and who hears when it does.
`HeartbeatConfig.heartbeat` is the core's `Heartbeat` (matchers parsed once, at validation).

`heartbeat_problems` checks names are unique and receivers exist, with YAML paths.
"""

from __future__ import annotations

import re

from pydantic import Field, PrivateAttr, field_validator, model_validator

from app.config.base import PositiveDuration, Strict
from app.config.problems import Problem, unknown_receiver
from app.config.routes import MatcherTexts, matcher_texts
from app.core.heartbeats import Heartbeat

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


class HeartbeatConfig(Strict):
    name: str
    """Unique; in the alarm, the metric label and the timer's lane (letters, digits, `_.:-`)."""
    matchers: list[str] = Field(min_length=1)
    """Alertmanager matchers a firing alert must all satisfy to count as the heartbeat."""
    timeout: PositiveDuration
    """No matching webhook for this long (or since the first start) raises the alarm."""
    receiver: str = Field(min_length=1)
    """Where the alarm and the recovery go (its destinations, like any alert)."""
    _heartbeat: Heartbeat = PrivateAttr()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError(
                f"{v!r} is not a heartbeat name: 1-100 letters, digits, `_`, `.`, `:` or `-`, "
                "starting with a letter or digit"
            )
        return v

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> MatcherTexts:
        parsed = matcher_texts(v)
        if not parsed.parsed:
            raise ValueError("at least one matcher is needed (none would match every alert)")
        return parsed

    @model_validator(mode="after")
    def _compile(self) -> HeartbeatConfig:
        parsed = self.matchers.parsed if isinstance(self.matchers, MatcherTexts) else ()
        self._heartbeat = Heartbeat(self.name, parsed, self.timeout, self.receiver)
        return self

    @property
    def heartbeat(self) -> Heartbeat:
        return self._heartbeat


def heartbeat_problems(
    heartbeats: list[HeartbeatConfig], receivers: set[str], *, silent: set[str]
) -> list[Problem]:
    """Duplicate names, receivers that do not exist, and receivers without integrations
    (`silent`: nobody would hear the alarm)."""
    problems: list[Problem] = []
    names: set[str] = set()
    for i, hb in enumerate(heartbeats):
        if hb.name in names:
            problems.append((f"heartbeats[{i}].name", f"duplicate heartbeat name {hb.name!r}"))
        names.add(hb.name)
        if hb.receiver not in receivers:
            problems.append(unknown_receiver(f"heartbeats[{i}].receiver", hb.receiver, receivers))
        elif hb.receiver in silent:
            problems.append(
                (
                    f"heartbeats[{i}].receiver",
                    f"receiver {hb.receiver!r} has no integrations: nobody would hear the alarm",
                )
            )
    return problems
