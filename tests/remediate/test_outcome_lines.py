"""The outcome lines an alert's message shows, rebuilt from stored remediation records: the
newest outcome per target, every outcome word, bounded in count and length."""

from __future__ import annotations

import json
from typing import Any

from app.engine.outcome import LINE_LIMIT, MAX_LINES, outcome_lines
from app.store.remediations import Remediation


def record(rid: int, state: str, *, name: str = "model-api", **extra: Any) -> Remediation:
    intent = {
        "action": "restart",
        "kind": "rollout_restart",
        "fingerprint": "fp",
        "episode": "e",
        "target": ["Deployment", "prod", name],
        "refusal": None,
    }
    fields: dict[str, Any] = {
        "id": rid,
        "action": "restart",
        "kind": "rollout_restart",
        "target": f"Deployment/prod/{name}",
        "fingerprint": "fp",
        "alertname": "A",
        "group_key": "g",
        "destinations": (),
        "intent": json.dumps(intent),
        "state": state,
        "job_id": None,
        "claims": [],
        "pinned": None,
        "acted": None,
        "guard": "",
        "reason": "",
        "actor": "",
        "created_at": 0.0,
        "updated_at": 100.0,
        "expires_at": None,
        "acted_at": None,
    }
    return Remediation(**{**fields, **extra})


def test_the_newest_outcome_of_each_target_is_shown_and_open_ones_are_not() -> None:
    records = [  # newest first, as the store reads them
        record(4, "verifying", name="other"),
        record(3, "refused", guard="cooldown", reason="restarted 5 min ago"),
        record(2, "succeeded", reason="3/3 pods updated and available", acted_at=59.0),
        record(1, "failed", name="other", reason="timed out", acted_at=0.0),
    ]
    assert outcome_lines(records) == (
        "❌ rollout restart prod/other: failed in 1 min 40 s (timed out)",
        "⛔ rollout restart prod/model-api: refused by cooldown: restarted 5 min ago",
    )


def test_each_outcome_word_reads_from_the_record() -> None:
    assert outcome_lines([record(1, "succeeded", reason="ok", acted_at=59.0)]) == (
        "🔧 rollout restart prod/model-api: complete in 41 s (ok)",
    )
    assert outcome_lines([record(1, "would")]) == ("🧪 would rollout restart prod/model-api (dry run)",)
    assert outcome_lines([record(1, "cancelled")])[0].endswith("cancelled, the alert resolved first")
    assert outcome_lines([record(1, "expired")])[0].endswith("expired, no approval")
    assert outcome_lines([record(1, "awaiting_approval"), record(2, "rejected", actor="bob")]) == ()


def test_the_lines_are_bounded() -> None:
    many = [record(i, "cancelled", name=f"t{i}") for i in range(MAX_LINES + 3)]
    assert len(outcome_lines(many)) == MAX_LINES
    long = record(1, "refused", guard="namespace", reason="x" * 5000)
    [line] = outcome_lines([long])
    assert len(line) <= LINE_LIMIT
