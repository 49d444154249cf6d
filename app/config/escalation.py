"""`escalation_policies:`: named lists of steps (`after`, `receiver`) a route opts into with
`escalation: <name>`; `EscalationPolicyConfig.policy` is the core's `EscalationPolicy`.

`escalation_problems` checks the cross-references (receivers exist, routes name a policy that
exists), with YAML paths.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field, PrivateAttr, model_validator

from app.config.base import Duration, Strict
from app.config.problems import Problem, unknown_receiver
from app.config.routes import RouteConfig
from app.core.chatops.escalation import EscalationPolicy, EscalationStep


class EscalationStepConfig(Strict):
    after: Duration
    """From the group's first notification (not from the previous step)."""
    receiver: str = Field(min_length=1)


class EscalationPolicyConfig(Strict):
    name: str = Field(min_length=1)
    steps: list[EscalationStepConfig] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=100)
    """Run the steps again this many times."""
    _policy: EscalationPolicy = PrivateAttr()

    @model_validator(mode="after")
    def _compile(self) -> EscalationPolicyConfig:
        for i, step in enumerate(self.steps):
            if step.after <= 0:
                raise ValueError(f"steps[{i}].after must be more than 0")
            if i and step.after <= self.steps[i - 1].after:
                raise ValueError(
                    f"steps[{i}].after must be later than steps[{i - 1}].after: each counts from the "
                    "group's first notification"
                )
        steps = tuple(EscalationStep(s.after, s.receiver) for s in self.steps)
        self._policy = EscalationPolicy(self.name, steps, self.repeat)
        return self

    @property
    def policy(self) -> EscalationPolicy:
        return self._policy


def _routes(route: RouteConfig, path: str) -> Iterator[tuple[str, RouteConfig]]:
    yield path, route
    for i, child in enumerate(route.routes):
        yield from _routes(child, f"{path}.routes[{i}]")


def escalation_problems(
    policies: list[EscalationPolicyConfig], route: RouteConfig, receivers: set[str]
) -> list[Problem]:
    """Duplicate policy names, steps naming unknown receivers, routes naming unknown policies."""
    problems: list[Problem] = []
    names: set[str] = set()
    for i, policy in enumerate(policies):
        if policy.name in names:
            problems.append((f"escalation_policies[{i}].name", f"duplicate policy name {policy.name!r}"))
        names.add(policy.name)
        for j, step in enumerate(policy.steps):
            if step.receiver not in receivers:
                path = f"escalation_policies[{i}].steps[{j}].receiver"
                problems.append(unknown_receiver(path, step.receiver, receivers))
    for path, node in _routes(route, "route"):
        if node.escalation is not None and node.escalation not in names:
            problems.append((f"{path}.escalation", f"unknown escalation policy {node.escalation!r}"))
    return problems
