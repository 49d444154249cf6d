"""The guards in their fixed order over the slot record, with a store modelled by the documented
claim rule (take a slot when absent, expired or already ours; all claims or none)."""

from __future__ import annotations

from collections import Counter

from app.core.remediation.actions import ActionSpec, Policy
from app.core.remediation.guards import (
    Decision,
    decide,
    released_when,
    slot_keys,
    stored_guards,
)
from app.core.remediation.planner import Intent, plan
from app.core.remediation.refusals import GUARD_ORDER, Guard, Refusal
from tests.core.remediation.conftest import POLICY, SlotTable, firing, restart_spec

T0 = 1_800_000_000.0
DONE = {
    "metadata": {"generation": 1},
    "spec": {"replicas": 3},
    "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
}


def run(
    table: SlotTable,
    intent: Intent,
    spec: ActionSpec,
    holder: str,
    now: float,
    policy: Policy = POLICY,
    live: dict | None = DONE,
) -> Decision:
    decision = decide(
        intent,
        spec,
        policy,
        slots=table.read(slot_keys(intent, spec, policy)),
        holder=holder,
        now=now,
        live=live,
    )
    if decision.kind != "refused":
        assert table.claim(decision.claims, holder, now)
    return decision


def test_the_guard_order_is_fixed() -> None:
    assert [g.value for g in GUARD_ORDER] == [
        "namespace",
        "target",
        "once_until_resolved",
        "cooldown",
        "circuit_breaker",
        "paused",
        "rolling",
        "replicas",
    ]


def test_once_until_resolved_then_rearmed_by_a_new_episode() -> None:
    spec = restart_spec(cooldown=0)
    table = SlotTable()
    [first] = plan([firing("f1")], [spec], POLICY)
    assert run(table, first, spec, "job-1", T0).kind == "act"
    again = run(table, first, spec, "job-2", T0 + 10)
    assert again.refusal is not None and again.refusal.guard is Guard.ONCE
    [next_episode] = plan([firing("f1", starts="2026-11-24T12:00:00Z")], [spec], POLICY)
    assert run(table, next_episode, spec, "job-3", T0 + 20).kind == "act"


def test_cooldown_per_action_and_target() -> None:
    spec = restart_spec(once_until_resolved=False)
    table = SlotTable()
    [a] = plan([firing("f1")], [spec], POLICY)
    [other_target] = plan([firing("f2", deployment="ranker")], [spec], POLICY)
    assert run(table, a, spec, "j1", T0).kind == "act"
    refused = run(table, a, spec, "j2", T0 + 600)
    assert refused.refusal == Refusal(
        Guard.COOLDOWN, "restart-on-latency acted on prod/model-api 10m ago (cooldown 30m)"
    )
    assert run(table, other_target, spec, "j3", T0 + 600).kind == "act"
    assert run(table, a, spec, "j4", T0 + 1800).kind == "act"  # the cooldown has passed


def test_circuit_breaker_across_actions_on_one_target() -> None:
    specs = [restart_spec(name=f"a{i}", cooldown=0, once_until_resolved=False) for i in range(4)]
    table = SlotTable()
    kinds = []
    for i, spec in enumerate(specs):
        [intent] = plan([firing(f"f{i}")], [spec], POLICY)
        kinds.append(run(table, intent, spec, f"j{i}", T0 + i * 60))
    assert [d.kind for d in kinds] == ["act", "act", "act", "refused"]
    refusal = kinds[3].refusal
    assert refusal is not None and refusal.guard is Guard.BREAKER
    assert refusal.reason == "3 actions on prod/model-api within 1h (next allowed in 57m); humans decide"
    [later] = plan([firing("f9")], [specs[3]], POLICY)
    assert run(table, later, specs[3], "j9", T0 + 3600).kind == "act"  # the first slot expired


def test_a_retried_job_redecides_the_same_way() -> None:
    spec = restart_spec()
    table = SlotTable()
    [intent] = plan([firing()], [spec], POLICY)
    first = run(table, intent, spec, "job-1", T0)
    second = run(table, intent, spec, "job-1", T0 + 5)  # the same job after a crash
    assert (first.kind, second.kind) == ("act", "act")
    assert {c.key for c in first.claims} == {c.key for c in second.claims}
    assert len(table.rows) == 3  # once, cooldown, one breaker slot: nothing taken twice


def test_paused_and_rolling_workloads_are_refused_after_the_stored_guards() -> None:
    spec = restart_spec()
    [intent] = plan([firing()], [spec], POLICY)
    paused = {**DONE, "spec": {"replicas": 3, "paused": True}}
    rolling = {**DONE, "metadata": {"generation": 2}}
    assert run(SlotTable(), intent, spec, "j", T0, live=paused).refusal.guard is Guard.PAUSED  # type: ignore[union-attr]
    decision = run(SlotTable(), intent, spec, "j", T0, live=rolling)
    assert decision.refusal == Refusal(
        Guard.ROLLING, "the previous rollout has not finished (waiting for the spec update to be observed)"
    )


def test_dry_run_and_approval_come_last_and_still_claim() -> None:
    spec = restart_spec(approval="required")
    [intent] = plan([firing()], [spec], POLICY)
    table = SlotTable()
    assert run(table, intent, spec, "j1", T0).kind == "await_approval"
    dry = Policy(allowed_namespaces=POLICY.allowed_namespaces, dry_run=True)
    dry_table = SlotTable()
    assert run(dry_table, intent, spec, "j2", T0, policy=dry).kind == "would"
    assert all(k.startswith("dry/") for k in dry_table.rows)
    assert run(dry_table, intent, spec, "j3", T0, policy=dry).kind == "refused"


def test_scale_replicas_are_fixed_at_decision_time_and_bounded() -> None:
    spec = restart_spec(kind="scale", replicas="+1", max_replicas=4, cooldown=0, once_until_resolved=False)
    [intent] = plan([firing()], [spec], POLICY)
    assert run(SlotTable(), intent, spec, "j", T0, live={"spec": {"replicas": 3}}).replicas == 4
    at_max = run(SlotTable(), intent, spec, "j", T0, live={"spec": {"replicas": 4}})
    assert at_max.refusal == Refusal(Guard.REPLICAS, "already at 4 replicas (max_replicas 4)")


def test_refusals_released_when_approval_never_comes() -> None:
    spec = restart_spec(approval="required")
    [intent] = plan([firing()], [spec], POLICY)
    claims = run(SlotTable(), intent, spec, "j", T0).claims
    assert [k.split("/")[0] for k in released_when("rejected", claims)] == ["breaker"]
    assert sorted(k.split("/")[0] for k in released_when("cancelled", claims)) == ["breaker", "cooldown"]


def test_a_storm_of_1000_alerts_acts_once_and_counts_every_refusal() -> None:
    spec = restart_spec()
    table = SlotTable()
    alerts = [firing(f"fp{i % 10}") for i in range(1000)]  # 10 alerts, each re-sent 100 times
    outcomes: Counter[str] = Counter()
    for n, intent in enumerate(plan(alerts, [spec], POLICY)):
        decision = run(table, intent, spec, f"job-{n}", T0 + n * 0.01)
        outcomes[decision.refusal.guard.value if decision.refusal else decision.kind] += 1
    assert outcomes == {"act": 1, "once_until_resolved": 99, "cooldown": 900}


def test_stored_guards_need_no_api_read() -> None:
    spec = restart_spec()
    [intent] = plan([firing(namespace="kube-system")], [spec], POLICY)
    assert slot_keys(intent, spec, POLICY) == []
    assert isinstance(stored_guards(intent, spec, POLICY, slots={}, holder="j", now=T0), Refusal)
