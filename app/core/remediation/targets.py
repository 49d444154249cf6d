"""What an action acts on: a target rendered from an alert's labels, valid or refused.

A target template is a pair of sandboxed Jinja2 templates (namespace, name) that see `labels` and
`annotations` of the alert; a missing key renders as "". A rendered value that is empty or not a
Kubernetes name (DNS-1123) is never sent to an API: the planner turns it into a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from jinja2 import Template, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

TargetKind = Literal["Deployment", "StatefulSet", "DaemonSet", "Pod", "CronJob", "HTTP"]

TEMPLATE_NAMES = frozenset({"labels", "annotations"})
"""What a target template sees: the alert's labels and annotations (dicts of strings)."""

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


def dns1123_label_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 label (a namespace), or None when it is one."""
    if not value:
        return "is empty"
    if len(value) > 63:
        return f"is {len(value)} characters long (at most 63)"
    if not _LABEL.fullmatch(value):
        return "must be lower-case letters, digits and '-', starting and ending alphanumeric"
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    """Why `value` is not a DNS-1123 subdomain (an object name), or None when it is one."""
    if not value:
        return "is empty"
    if len(value) > 253:
        return f"is {len(value)} characters long (at most 253)"
    if not all(_LABEL.fullmatch(part) for part in value.split(".")):
        return "must be lower-case letters, digits, '-' and '.', each part starting and ending alphanumeric"
    return None


@dataclass(frozen=True)
class Target:
    """A rendered target. For `http` the kind is "HTTP", the namespace "" and the name is
    "METHOD URL"; cooldown, breaker and once-until-resolved key on `key`."""

    kind: TargetKind
    namespace: str
    name: str

    @property
    def key(self) -> str:
        """Stable identity of the target in guard slot keys, e.g. "Deployment/prod/model-api"."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.name if self.kind == "HTTP" else f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class TemplatePart:
    """One compiled target template (namespace or name) with its source, for display."""

    source: str
    template: Template = field(compare=False, repr=False)

    def render(self, ctx: Mapping[str, object]) -> str:
        return self.template.render(ctx)


def compile_target_part(source: str) -> TemplatePart:
    """A target template checked now (syntax, names used). Raises ValueError saying what is wrong."""
    try:
        unknown = meta.find_undeclared_variables(_ENV.parse(source)) - TEMPLATE_NAMES
        if unknown:
            raise ValueError(
                f"unknown template variable(s) {', '.join(sorted(unknown))}; "
                f"available: {', '.join(sorted(TEMPLATE_NAMES))}"
            )
        return TemplatePart(source, _ENV.from_string(source))
    except TemplateSyntaxError as exc:
        raise ValueError(f"template error on line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class TargetTemplate:
    """The compiled `target:` of a Kubernetes action."""

    kind: TargetKind
    namespace: TemplatePart
    name: TemplatePart

    def render(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> Target:
        """The target for one alert. Raises ValueError when a template fails at render time
        (e.g. the sandbox refuses an operation); the planner turns that into a refusal."""
        ctx = {"labels": dict(labels), "annotations": dict(annotations)}
        try:
            return Target(self.kind, self.namespace.render(ctx), self.name.render(ctx))
        except TemplateError as exc:
            raise ValueError(f"target template failed: {exc}") from None


def target_problem(target: Target) -> str | None:
    """Why a rendered Kubernetes target must not be sent to the API, or None when it is valid."""
    problem = dns1123_label_problem(target.namespace)
    if problem is not None:
        return f"namespace {_shown(target.namespace)} {problem}"
    problem = dns1123_subdomain_problem(target.name)
    if problem is not None:
        return f"name {_shown(target.name)} {problem}"
    return None


def _shown(value: str, limit: int = 64) -> str:
    """A rendered value quoted for a refusal message: repr-escaped and cut, never raw."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
