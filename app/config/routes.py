"""`route:`: the Alertmanager-shaped route tree, compiled once into the core's `Route`.

Each node's matchers are parsed once, at validation; `RouteConfig.tree` is the pure
`app.core.routing.Route` that routing uses. A node's `mute_time_intervals` /
`active_time_intervals` name top-level time intervals; the loader checks that they exist.
"""

from __future__ import annotations

from pydantic import Field, PrivateAttr, field_validator, model_validator

from app.config.base import Strict
from app.core.matchers import Matcher, matchers_from_legacy, parse_matchers
from app.core.routing import Route


class MatcherTexts(list[str]):
    """The `matchers:` strings as written, with what they parse to in `.parsed`."""

    parsed: tuple[Matcher, ...] = ()


class LegacyMatches(dict[str, str]):
    """A deprecated `match:` / `match_re:` map as written, with what it parses to in `.parsed`."""

    parsed: tuple[Matcher, ...] = ()


def matcher_texts(texts: list[str]) -> MatcherTexts:
    """Parse a `matchers:` list once (a list of matchers is AND); raises ValueError naming the
    item that fails."""
    parsed: list[Matcher] = []
    for i, text in enumerate(texts):
        try:
            parsed += parse_matchers(text)
        except ValueError as exc:
            raise ValueError(f"matchers[{i}]: {exc}") from None
    out = MatcherTexts(texts)
    out.parsed = tuple(parsed)
    return out


def _legacy(v: dict[str, str], *, regex: bool) -> LegacyMatches:
    out = LegacyMatches(v)
    out.parsed = tuple(matchers_from_legacy({}, v) if regex else matchers_from_legacy(v, {}))
    return out


class RouteConfig(Strict):
    receiver: str | None = None
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    """Deprecated in Alertmanager, accepted for pasted configs: label equality."""
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[RouteConfig] = Field(default_factory=list)
    mute_time_intervals: list[str] = Field(default_factory=list)
    """Names of top-level time intervals during which this route notifies nobody."""
    active_time_intervals: list[str] = Field(default_factory=list)
    """Names of top-level time intervals outside which this route notifies nobody."""
    escalation: str | None = None
    """Our extension: the `escalation_policies` entry for groups routed here."""
    _tree: Route = PrivateAttr()

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> MatcherTexts:
        return matcher_texts(v)

    @field_validator("match")
    @classmethod
    def _match(cls, v: dict[str, str]) -> LegacyMatches:
        return _legacy(v, regex=False)

    @field_validator("match_re")
    @classmethod
    def _match_re(cls, v: dict[str, str]) -> LegacyMatches:
        return _legacy(v, regex=True)

    @model_validator(mode="after")
    def _compile(self) -> RouteConfig:
        parsed = [
            *(self.matchers.parsed if isinstance(self.matchers, MatcherTexts) else ()),
            *(self.match.parsed if isinstance(self.match, LegacyMatches) else ()),
            *(self.match_re.parsed if isinstance(self.match_re, LegacyMatches) else ()),
        ]
        self._tree = Route(
            receiver=self.receiver,
            matchers=tuple(parsed),
            continue_=self.continue_,
            routes=tuple(child.tree for child in self.routes),
            mute_time_intervals=tuple(self.mute_time_intervals),
            active_time_intervals=tuple(self.active_time_intervals),
            escalation=self.escalation,
        )
        return self

    @property
    def tree(self) -> Route:
        """This node and its children as the core's route tree."""
        return self._tree
