"""The `remediation:` section of the config: pydantic models whose validation builds the core's
objects once (compiled matchers, sandboxed target templates, ActionSpec, Policy).

Deny by default: a Kubernetes action acts only in `allowed_namespaces` (empty: it is always
refused, and says so). Errors name the key: a problem of one action is reported at
`remediation.actions[i]` with the key inside it, e.g. "replicas: required for kind scale".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    field_validator,
    model_validator,
)

from app.config.base import ConfigPath, Duration, PositiveDuration, Strict
from app.config.integrations import HTTPClientConfig
from app.core.matchers import Matcher, parse_matchers
from app.core.remediation.actions import (
    TARGET_KINDS,
    ActionKind,
    ActionSpec,
    HttpCall,
    Policy,
    ScaleSpec,
)
from app.core.remediation.scaling import parse_replicas
from app.core.remediation.targets import (
    TargetTemplate,
    TemplatePart,
    compile_target_part,
    dns1123_label_problem,
)

DEFAULT_COOLDOWN = 900.0
DEFAULT_VERIFY_TIMEOUT = 300.0
DEFAULT_APPROVAL_TIMEOUT = 1800.0
DEFAULT_HTTP_TIMEOUT = 10.0

_ACTION_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def _matcher_list(value: Any) -> tuple[Matcher, ...]:
    if not isinstance(value, str):
        raise ValueError("expected a matcher string such as 'alertname=\"X\"'")
    parsed = tuple(parse_matchers(value))
    if not parsed:
        raise ValueError("empty matcher")
    return parsed


def _template_part(value: Any) -> TemplatePart:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string (a Jinja2 template over labels / annotations)")
    return compile_target_part(value)


def _namespace(value: str) -> str:
    problem = dns1123_label_problem(value)
    if problem is not None:
        raise ValueError(f"namespace {value!r} {problem}")
    return value


Namespace = Annotated[str, AfterValidator(_namespace)]
MatcherList = Annotated[
    tuple[Matcher, ...],
    BeforeValidator(_matcher_list),
    PlainSerializer(lambda ms: ", ".join(str(m) for m in ms), return_type=str),
]
"""One `matchers:` item, compiled (an item may hold several comma-separated matchers)."""
TargetPart = Annotated[
    TemplatePart, BeforeValidator(_template_part), PlainSerializer(lambda p: p.source, return_type=str)
]
"""Dumped as its source, so a dumped section validates back to an equal one."""


class _Compiled(Strict):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, arbitrary_types_allowed=True
    )


class KubernetesSettings(Strict):
    """How to reach the API server: the in-cluster ServiceAccount unless `kubeconfig` is set."""

    kubeconfig: ConfigPath | None = None
    context: str | None = Field(default=None, min_length=1)
    """A context of `kubeconfig` (default: its current-context)."""

    @model_validator(mode="after")
    def _context(self) -> KubernetesSettings:
        if self.context is not None and self.kubeconfig is None:
            raise ValueError("context: needs kubeconfig (the in-cluster ServiceAccount has no contexts)")
        return self


class CircuitBreakerSettings(Strict):
    """Across all actions on one target: at most `max_actions` within `within`."""

    max_actions: int = Field(default=3, ge=1, le=100)
    within: PositiveDuration = 3600.0


class TargetSettings(_Compiled):
    """`target:` of a Kubernetes action; namespace and name are templates over the alert."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet"] | None = None
    namespace: TargetPart
    name: TargetPart


class VerifySettings(Strict):
    timeout: PositiveDuration = DEFAULT_VERIFY_TIMEOUT
    """How long verification watches the target before reporting failure."""


_SCALE_KEYS = ("replicas", "min_replicas", "max_replicas")
_HTTP_KEYS = ("url", "method", "expect_status", "timeout", "http_config")


class ActionSettings(_Compiled):
    """One item of `remediation.actions`. Keys that do not apply to its `kind` are errors."""

    name: str
    matchers: list[MatcherList] = Field(min_length=1)
    """All must match a firing alert (an action without matchers would match every alert)."""
    kind: ActionKind
    target: TargetSettings | None = None
    cooldown: Duration = DEFAULT_COOLDOWN
    """Per (action, target); 0 turns it off."""
    once_until_resolved: bool = True
    """One run per firing episode of an alert, re-armed when it resolves."""
    verify: VerifySettings | None = None
    approval: Literal["required", "none"] = "none"
    approval_timeout: Duration | None = None
    # scale
    replicas: str | int | None = None
    min_replicas: int | None = Field(default=None, ge=0)
    max_replicas: int | None = Field(default=None, ge=1)
    # http
    url: str | None = None
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    expect_status: list[Annotated[int, Field(ge=100, le=599)]] | None = None
    timeout: Duration | None = None
    http_config: HTTPClientConfig | None = None

    _spec: ActionSpec | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _ACTION_NAME.fullmatch(v):
            raise ValueError(
                "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
                "digit (it becomes a Kubernetes label value)"
            )
        return v

    @model_validator(mode="after")
    def _build(self) -> ActionSettings:
        self._check_keys()
        approval_timeout = self._approval_timeout()
        verify = self.verify or VerifySettings()
        self._spec = ActionSpec(
            name=self.name,
            kind=self.kind,
            matchers=tuple(m for group in self.matchers for m in group),
            target=self._target(),
            http=self._http(),
            scale=self._scale(),
            cooldown=self.cooldown,
            once_until_resolved=self.once_until_resolved,
            verify_timeout=verify.timeout,
            approval_required=self.approval == "required",
            approval_timeout=approval_timeout,
        )
        return self

    @property
    def spec(self) -> ActionSpec:
        """The core's view of this action, built once at validation."""
        assert self._spec is not None
        return self._spec

    def _check_keys(self) -> None:
        for key in _SCALE_KEYS:
            if self.kind != "scale" and getattr(self, key) is not None:
                raise ValueError(f"{key}: only for kind scale")
        for key in _HTTP_KEYS:
            if self.kind != "http" and getattr(self, key) is not None:
                raise ValueError(f"{key}: only for kind http")
        if self.kind == "http":
            if self.target is not None:
                raise ValueError("target: not for kind http (its target is method and url)")
            if self.verify is not None:
                raise ValueError("verify: not for kind http (the status code is the verification)")
        elif self.target is None:
            raise ValueError(f"target: required for kind {self.kind}")

    def _approval_timeout(self) -> float:
        if self.approval_timeout is None:
            return DEFAULT_APPROVAL_TIMEOUT
        if self.approval != "required":
            raise ValueError("approval_timeout: only with approval: required")
        if self.approval_timeout <= 0:
            raise ValueError("approval_timeout: must be longer than 0s")
        return self.approval_timeout

    def _target(self) -> TargetTemplate | None:
        if self.target is None:
            return None
        allowed = TARGET_KINDS[self.kind]
        if self.kind in ("delete_pod", "job_from_cronjob"):
            if self.target.kind is not None:
                raise ValueError(f"target.kind: not for kind {self.kind} (it acts on a {allowed[0]})")
            kind = allowed[0]
        else:
            if self.target.kind is None:
                raise ValueError(f"target.kind: required for kind {self.kind}, one of {', '.join(allowed)}")
            if self.target.kind not in allowed:
                raise ValueError(
                    f"target.kind: {self.kind} acts on {', '.join(allowed)}, not {self.target.kind}"
                )
            kind = self.target.kind
        return TargetTemplate(kind, self.target.namespace, self.target.name)

    def _scale(self) -> ScaleSpec | None:
        if self.kind != "scale":
            return None
        if self.replicas is None:
            raise ValueError('replicas: required for kind scale ("+1", "-1" or "4")')
        try:
            amount, relative = parse_replicas(self.replicas)
        except ValueError as exc:
            raise ValueError(f"replicas: {exc}") from None
        low = 1 if self.min_replicas is None else self.min_replicas
        high = self.max_replicas
        if high is not None and high < low:
            raise ValueError(f"max_replicas: {high} is below min_replicas {low}")
        if relative and amount > 0 and high is None:
            raise ValueError("max_replicas: required with a relative increase (no unbounded growth)")
        if not relative and (amount < low or (high is not None and amount > high)):
            raise ValueError(f"replicas: {amount} is outside min_replicas..max_replicas ({low}..{high})")
        return ScaleSpec(amount, relative, low, high)

    def _http(self) -> HttpCall | None:
        if self.kind != "http":
            return None
        if self.url is None:
            raise ValueError("url: required for kind http")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url: must be an http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("url: no credentials in the URL (it is shown in reports); use http_config")
        return HttpCall(
            method=self.method or "POST",
            url=self.url,
            expect_status=frozenset(self.expect_status or ()),
            timeout=DEFAULT_HTTP_TIMEOUT if self.timeout is None else self.timeout,
        )


class RemediationSettings(Strict):
    """The whole `remediation:` section."""

    kubernetes: KubernetesSettings = KubernetesSettings()
    allowed_namespaces: list[Namespace] = Field(default_factory=list)
    """Deny by default: the only namespaces actions may touch."""
    dry_run: bool = False
    """Plan, guard and report "would …"; change nothing."""
    circuit_breaker: CircuitBreakerSettings = CircuitBreakerSettings()
    actions: list[ActionSettings] = Field(default_factory=list)

    @field_validator("allowed_namespaces")
    @classmethod
    def _namespaces(cls, v: list[str]) -> list[str]:
        for i, ns in enumerate(v):
            if ns in v[:i]:
                raise ValueError(f"[{i}]: {ns!r} is listed twice")
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> RemediationSettings:
        seen: set[str] = set()
        for i, action in enumerate(self.actions):
            if action.name in seen:
                raise ValueError(f"actions[{i}].name: duplicate action name {action.name!r}")
            seen.add(action.name)
        return self

    def policy(self) -> Policy:
        return Policy(
            allowed_namespaces=frozenset(self.allowed_namespaces),
            dry_run=self.dry_run,
            breaker_max_actions=self.circuit_breaker.max_actions,
            breaker_within=self.circuit_breaker.within,
        )

    def specs(self) -> tuple[ActionSpec, ...]:
        return tuple(a.spec for a in self.actions)


def kubeconfig_problems(settings: RemediationSettings | None) -> list[tuple[str, str]]:
    """`remediation.kubernetes.kubeconfig` that cannot be read (for `check-config --strict` and
    `serve`). The in-cluster ServiceAccount is checked only where the service runs."""
    if settings is None or settings.kubernetes.kubeconfig is None:
        return []
    path = settings.kubernetes.kubeconfig
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        return [("remediation.kubernetes.kubeconfig", f"cannot read {path}: {exc.strerror}")]
    return []
