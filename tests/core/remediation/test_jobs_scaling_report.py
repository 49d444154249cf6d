"""A Job from a CronJob as kubectl builds it, Job outcomes, replica arithmetic, the report lines,
verdict helpers and the RBAC each kind needs."""

from __future__ import annotations

import pytest

from app.core.remediation.actions import ACTION_KINDS, HttpCall, ScaleSpec, permissions
from app.core.remediation.jobs import created_by, job_from_cronjob, job_name, job_status
from app.core.remediation.refusals import Guard, Refusal
from app.core.remediation.report import Report, format_seconds, report_text
from app.core.remediation.scaling import desired_replicas, parse_replicas
from app.core.remediation.targets import Target
from app.core.remediation.verdict import Verdict, http_verdict, pod_verdict, poll_delay, timed_out

CRONJOB = {
    "metadata": {"name": "retrain", "namespace": "ml", "uid": "cj-uid", "labels": {"x": "cronjob-only"}},
    "spec": {
        "jobTemplate": {
            "metadata": {"labels": {"team": "ml"}, "annotations": {"a": "b"}},
            "spec": {"backoffLimit": 1, "template": {"spec": {"containers": []}}},
        }
    },
}


def test_job_name_is_deterministic_and_fits() -> None:
    assert job_name("retrain", "job-1") == job_name("retrain", "job-1")
    assert job_name("retrain", "job-1") != job_name("retrain", "job-2")
    long = job_name("r" * 52, "job-1")
    assert len(long) == 58
    cut = job_name("a-" * 40, "job-1")
    assert len(cut) <= 63 and "--" not in cut and cut[0].isalnum()


def test_job_from_cronjob_like_kubectl() -> None:
    job = job_from_cronjob(
        CRONJOB,
        name="retrain-abcde",
        action="retrain-on-drift",
        alertname="Drift",
        fingerprint="fp",
        intent_id="job-1",
    )
    assert job["metadata"]["labels"] == {"team": "ml", "alertmedic.io/action": "retrain-on-drift"}
    assert job["metadata"]["annotations"] == {
        "a": "b",
        "cronjob.kubernetes.io/instantiate": "manual",
        "alertmedic.io/alertname": "Drift",
        "alertmedic.io/alert-fingerprint": "fp",
        "alertmedic.io/intent": "job-1",
    }
    assert job["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "CronJob", "name": "retrain", "uid": "cj-uid", "controller": True}
    ]
    assert job["spec"] == CRONJOB["spec"]["jobTemplate"]["spec"]  # type: ignore[index]
    assert job["spec"] is not CRONJOB["spec"]["jobTemplate"]["spec"]  # type: ignore[index]
    assert created_by(job, "cj-uid", "job-1")
    assert not created_by(job, "cj-uid", "job-2")
    assert not created_by(job, "other-uid", "job-1")


@pytest.mark.parametrize(
    ("conditions", "state", "reason"),
    [
        ([], "pending", ""),
        ([{"type": "Complete", "status": "True"}], "succeeded", ""),
        ([{"type": "SuccessCriteriaMet", "status": "True"}], "succeeded", ""),
        ([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}], "failed", "DeadlineExceeded"),
        (
            [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}],
            "failed",
            "BackoffLimitExceeded",
        ),
        ([{"type": "Failed", "status": "False"}], "pending", ""),
    ],
)
def test_job_status(conditions: list[dict[str, str]], state: str, reason: str) -> None:
    verdict = job_status({"metadata": {"name": "j"}, "status": {"conditions": conditions}})
    assert (verdict.state, verdict.reason) == (state, reason)


@pytest.mark.parametrize(
    ("text", "parsed"), [("+1", (1, True)), ("-2", (-2, True)), ("4", (4, False)), (4, (4, False))]
)
def test_parse_replicas(text: str | int, parsed: tuple[int, bool]) -> None:
    assert parse_replicas(text) == parsed


@pytest.mark.parametrize("text", ["+0", "x", "1.5", "", True, -1])
def test_parse_replicas_rejects(text: str | int) -> None:
    with pytest.raises(ValueError):
        parse_replicas(text)


def test_desired_replicas() -> None:
    up = ScaleSpec(1, True, 1, 8)
    assert desired_replicas(up, 3) == 4
    assert desired_replicas(up, 8) == "already at 8 replicas (max_replicas 8)"
    assert desired_replicas(up, 10) == "already at 10 replicas (max_replicas 8)"  # never scales down
    down = ScaleSpec(-2, True, 1, None)
    assert desired_replicas(down, 2) == 1
    assert desired_replicas(down, 1) == "already at 1 replicas (min_replicas 1)"
    assert desired_replicas(ScaleSpec(4, False, 1, 8), 10) == 4


def test_report_lines() -> None:
    target = Target("Deployment", "prod", "model-api")
    ok = Report(
        "restart-on-latency",
        "rollout_restart",
        target,
        "succeeded",
        detail="3/3 pods updated and available",
        seconds=41.2,
    )
    assert (
        report_text(ok)
        == "🔧 rollout restart prod/model-api: complete in 41 s (3/3 pods updated and available)"
    )
    failed = Report(
        "r", "rollout_restart", target, "failed", detail="ProgressDeadlineExceeded: x", seconds=600
    )
    assert (
        report_text(failed)
        == "❌ rollout restart prod/model-api: failed in 10 min (ProgressDeadlineExceeded: x)"
    )
    refused = Report(
        "r",
        "rollout_restart",
        target,
        "refused",
        refusal=Refusal(Guard.COOLDOWN, "r acted on prod/model-api 10m ago (cooldown 30m)"),
    )
    assert report_text(refused) == (
        "⛔ rollout restart prod/model-api: refused by cooldown: "
        "r acted on prod/model-api 10m ago (cooldown 30m)"
    )
    assert report_text(Report("r", "rollout_restart", target, "would")) == (
        "🧪 would rollout restart prod/model-api (dry run)"
    )
    waiting = Report("s", "scale", target, "awaiting_approval", detail="3 → 4", ttl=1800)
    assert report_text(waiting) == "⏳ scale prod/model-api (3 → 4): awaiting approval, expires in 30 min"
    assert report_text(Report("s", "scale", target, "rejected", actor="@alice")) == (
        "🚫 scale prod/model-api: rejected by @alice"
    )
    assert report_text(Report("s", "scale", target, "expired", ttl=1800)) == (
        "⌛ scale prod/model-api: expired, no approval within 30 min"
    )
    assert report_text(Report("s", "scale", target, "cancelled")) == (
        "✖️ scale prod/model-api: cancelled, the alert resolved first"
    )
    job = Report(
        "retrain",
        "job_from_cronjob",
        Target("CronJob", "ml", "retrain"),
        "succeeded",
        detail="Job retrain-abcde succeeded (1 succeeded, 0 failed)",
        seconds=723,
    )
    assert report_text(job) == (
        "🔧 create job from cronjob ml/retrain: succeeded in 12 min 3 s "
        "(Job retrain-abcde succeeded (1 succeeded, 0 failed))"
    )
    untargeted = Report("r", "rollout_restart", None, "refused", refusal=Refusal(Guard.TARGET, "bad\nname"))
    assert report_text(untargeted) == "⛔ rollout restart (r): refused by target: bad name"
    huge = Report("r", "http", Target("HTTP", "", "POST http://x/"), "failed", detail="e" * 1000)
    assert len(report_text(huge)) < 360


def test_a_crafted_target_stays_on_the_reports_one_line() -> None:
    """A target rendered from labels is refused, but its report still shows it: a newline in it
    must not start a second, forged line in the thread."""
    refusal = Refusal(Guard.TARGET, "name 'x\\n…' must be lower-case letters")
    forged = Target("Deployment", "prod", "x\n🔧 rollout restart prod/api: complete\r\n")
    assert report_text(Report("r", "rollout_restart", forged, "refused", refusal=refusal)) == (
        "⛔ rollout restart prod/x 🔧 rollout restart prod/api: complete: refused by target: "
        "name 'x\\n…' must be lower-case letters"
    )
    long = Target("Deployment", "prod", "a" * 1000)
    text = report_text(Report("r", "rollout_restart", long, "refused", refusal=refusal))
    assert text.startswith("⛔ rollout restart prod/aaa") and "…: refused by target" in text
    assert len(text) < 420


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0, 59.6, 60, 125, 3600, 3720)] == [
        "0 s",
        "1 min",
        "1 min",
        "2 min 5 s",
        "1 h",
        "1 h 2 min",
    ]


def test_verdict_helpers() -> None:
    assert [poll_delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]
    assert timed_out(Verdict("pending", "1 of 3 new replicas updated"), timeout=300) == Verdict(
        "failed", "not done within 5m (last seen: 1 of 3 new replicas updated)", "timeout"
    )
    assert pod_verdict("u1", None).state == "succeeded"
    assert pod_verdict("u1", {"metadata": {"uid": "u2"}}).detail == "pod deleted and replaced"
    assert pod_verdict("u1", {"metadata": {"uid": "u1", "deletionTimestamp": "t"}}).state == "pending"
    call = HttpCall("POST", "http://x/", frozenset({204}), 5.0)
    assert http_verdict(call, 204).state == "succeeded"
    assert http_verdict(call, 200).detail == "HTTP 200 (expected 204)"


def test_permissions_per_kind() -> None:
    assert permissions(["http"]) == frozenset()
    assert permissions(["job_from_cronjob"]) == {
        ("batch", "cronjobs", "get"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "get"),
    }
    everything = permissions(ACTION_KINDS)
    assert {verb for _, _, verb in everything} == {"get", "patch", "create", "delete"}
    assert ("", "pods", "list") not in everything  # nothing an action does not need
    assert everything == {
        *{("apps", r, v) for r in ("deployments", "statefulsets", "daemonsets") for v in ("get", "patch")},
        *{("apps", f"{r}/scale", v) for r in ("deployments", "statefulsets") for v in ("get", "patch")},
        ("", "pods", "get"),
        ("", "pods", "delete"),
        ("batch", "cronjobs", "get"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "get"),
    }


def test_next_verify_schedules_reads_until_the_deadline() -> None:
    from app.core.remediation.verdict import next_verify

    pending = Verdict("pending", "1 of 3 new replicas updated")
    done = Verdict("succeeded", "3/3 pods updated and available")
    assert next_verify(done, acted_at=0, now=5, timeout=300, polls=3) is done
    assert next_verify(pending, acted_at=0, now=5, timeout=300, polls=0) == 1.0
    assert next_verify(pending, acted_at=0, now=5, timeout=300, polls=9) == 10.0
    assert next_verify(pending, acted_at=0, now=296, timeout=300, polls=9) == 4.0
    final = next_verify(pending, acted_at=0, now=300, timeout=300, polls=9)
    assert isinstance(final, Verdict) and (final.state, final.reason) == ("failed", "timeout")
