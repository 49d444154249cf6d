"""`job_from_cronjob`: the Job `kubectl create job NAME --from=cronjob/CJ` would create, with a name
that is the same for every attempt of one intent, and the Job's outcome from its conditions."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from app.core.remediation.verdict import Verdict

Obj = Mapping[str, Any]

JOB_NAME_MAX = 63
"""A Job's name also becomes the value of its pods' `job-name` label: at most 63 characters."""
SUFFIX_LEN = 5

INSTANTIATE = "cronjob.kubernetes.io/instantiate"
LABEL_ACTION = "alertmedic.io/action"
ANNOTATION_ALERTNAME = "alertmedic.io/alertname"
ANNOTATION_FINGERPRINT = "alertmedic.io/alert-fingerprint"
ANNOTATION_INTENT = "alertmedic.io/intent"


def job_name(cronjob: str, intent_id: str) -> str:
    """The CronJob's name cut to fit, "-", and 5 characters derived from the intent: a retry after a
    restart creates the same name, so the API's 409 AlreadyExists tells us it was created."""
    digest = hashlib.sha256(intent_id.encode()).digest()
    suffix = base64.b32encode(digest).decode().lower()[:SUFFIX_LEN]
    head = cronjob[: JOB_NAME_MAX - SUFFIX_LEN - 1].rstrip("-.")
    return f"{head}-{suffix}"


def job_from_cronjob(
    cronjob: Obj, *, name: str, action: str, alertname: str, fingerprint: str, intent_id: str
) -> dict[str, Any]:
    """The Job manifest: the CronJob's jobTemplate (labels, annotations, spec) with kubectl's
    `cronjob.kubernetes.io/instantiate: manual` and controller owner reference, plus our own label
    and annotations naming the action and the alert."""
    meta = cronjob.get("metadata") or {}
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[LABEL_ACTION] = action
    annotations = dict(tmeta.get("annotations") or {})
    annotations[INSTANTIATE] = "manual"
    annotations[ANNOTATION_ALERTNAME] = alertname
    annotations[ANNOTATION_FINGERPRINT] = fingerprint
    annotations[ANNOTATION_INTENT] = intent_id
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta.get("namespace"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta.get("name"),
                    "uid": meta.get("uid"),
                    "controller": True,
                }
            ],
        },
        "spec": copy.deepcopy(dict(template.get("spec") or {})),
    }


def created_by(job: Obj, cronjob_uid: str, intent_id: str) -> bool:
    """True when an existing Job (found after a 409 AlreadyExists) is the one this intent created."""
    meta = job.get("metadata") or {}
    owners = meta.get("ownerReferences") or []
    owned = any(isinstance(o, Mapping) and o.get("uid") == cronjob_uid for o in owners)
    return owned and (meta.get("annotations") or {}).get(ANNOTATION_INTENT) == intent_id


def _true(job: Obj, kind: str) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def job_status(job: Obj) -> Verdict:
    """Complete / Failed decide; SuccessCriteriaMet / FailureTarget (Kubernetes 1.31+, set while the
    last pods terminate) decide too, since the terminal condition always follows them."""
    name = (job.get("metadata") or {}).get("name", "")
    status = job.get("status") or {}
    counts = f"{status.get('succeeded', 0)} succeeded, {status.get('failed', 0)} failed"
    for kind in ("Complete", "SuccessCriteriaMet"):
        if _true(job, kind) is not None:
            return Verdict("succeeded", f"Job {name} succeeded ({counts})")
    for kind in ("Failed", "FailureTarget"):
        cond = _true(job, kind)
        if cond is not None:
            reason = str(cond.get("reason") or "Failed")
            message = str(cond.get("message") or "")
            tail = f": {message}" if message else ""
            return Verdict("failed", f"Job {name} failed, {reason}{tail} ({counts})", reason)
    return Verdict("pending", f"Job {name} running ({status.get('active', 0)} active, {counts})")
