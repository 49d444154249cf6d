"""FakeKubernetes: a Kubernetes API server on loopback for the endpoints remediation uses, in the
real wire format, with the controllers' behaviour simulated one status read at a time.

Endpoints (JSON only; bearer token required, else 401):

* ``/apis/apps/v1/namespaces/NS/{deployments,statefulsets,daemonsets}/NAME`` GET, PATCH, and
  ``.../status`` GET; ``/apis/apps/v1/namespaces/NS/{deployments,statefulsets}/NAME/scale`` GET, PATCH
  (an ``autoscaling/v1`` Scale; a ``metadata.resourceVersion`` in the patch is a precondition: 409);
* ``/apis/batch/v1/namespaces/NS/cronjobs/NAME`` GET; ``/apis/batch/v1/namespaces/NS/jobs`` POST and
  ``.../jobs/NAME`` GET;
* ``/api/v1/namespaces/NS/pods/NAME`` GET, DELETE (``preconditions.uid`` honoured: 409).

PATCH content types as the API server takes them: ``application/merge-patch+json`` (RFC 7386),
``application/strategic-merge-patch+json`` (maps merge; lists of objects with a ``name`` merge by
name, as containers / env / volumes do; other lists are replaced), ``application/json-patch+json``
(a list of add / replace / remove operations; an object body is a 400 as on a real server). Any
spec change bumps ``metadata.generation``; every write bumps ``resourceVersion``.

Errors are ``Status`` objects: 401 Unauthorized, 403 Forbidden for namespaces passed to
:meth:`FakeKubernetes.deny` (with the real message naming verb, resource, group and namespace), 404
NotFound, 409 AlreadyExists / Conflict, 422 Invalid (a Job name that is not DNS-1123 or is longer
than 63), 415 UnsupportedMediaType. :meth:`conflict_next` and :meth:`fail_next` script answers.

Controllers, driven by reads (each GET of the object or its ``/status``), not by wall time:

* after a spec change the first read shows ``generation > observedGeneration``; then the rollout
  progresses and is complete at read ``complete_after`` (default 3), or stalls, or sets
  ``Progressing=False, reason=ProgressDeadlineExceeded`` at read ``fail_after``
  (:meth:`script_rollout`); a paused Deployment observes the change and rolls nothing;
* a created Job runs and ends at read ``after`` (default 2): ``Complete`` or ``Failed``, preceded by
  ``SuccessCriteriaMet`` / ``FailureTarget`` as in Kubernetes 1.31+ (:meth:`script_job`);
* a deleted pod is Terminating for ``terminate_reads`` reads, then gone, or replaced by a pod of the
  same name with a new uid (``replace=True``, as a StatefulSet does).

Not modelled: watches, lists, field selectors, server-side apply, admission, the Job's generated
selector and labels.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest, Reply

__all__ = ["FakeKubernetes", "RolloutScript"]

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource, namespace, name)

_GROUPS = {"deployments": "apps", "statefulsets": "apps", "daemonsets": "apps", "cronjobs": "batch"}
_GROUPS |= {"jobs": "batch", "pods": ""}
_KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
_KINDS |= {"cronjobs": "CronJob", "jobs": "Job", "pods": "Pod"}
_VERBS = {"GET": "get", "PATCH": "patch", "POST": "create", "DELETE": "delete", "PUT": "update"}
_PATHS = [
    re.compile(
        r"/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<res>deployments|statefulsets|daemonsets)"
        r"/(?P<name>[^/]+)(?:/(?P<sub>status|scale))?"
    ),
    re.compile(r"/apis/batch/v1/namespaces/(?P<ns>[^/]+)/(?P<res>cronjobs|jobs)(?:/(?P<name>[^/]+))?"),
    re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/(?P<res>pods)/(?P<name>[^/]+)"),
]
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


@dataclass
class RolloutScript:
    """How the controller answers the next spec change of one workload."""

    complete_after: int = 3
    """The status read at which the rollout is complete (the first read shows it unobserved)."""
    stall: bool = False
    """Never complete: one pod updated, the rest waiting."""
    fail_after: int | None = None
    """The read at which Progressing turns False with reason ProgressDeadlineExceeded."""


@dataclass
class _Rollout:
    script: RolloutScript
    reads: int = 0


@dataclass
class _JobScript:
    outcome: Literal["complete", "failed", "running"] = "complete"
    after: int = 2
    reads: int = 0


class _Answer(Exception):
    """A non-2xx answer decided while handling a request."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def status_body(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    """A ``Status`` object as the API server sends with every error."""
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge for the fields used here: maps merge, null deletes, lists of named objects
    merge by ``name`` (containers, env, volumes), other lists are replaced."""
    if isinstance(patch, dict) and isinstance(target, dict):
        out = dict(target)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge_patch(out.get(key), value)
        return out
    if isinstance(patch, list) and isinstance(target, list) and _named(patch) and _named(target):
        merged = [copy.deepcopy(t) for t in target]
        for item in patch:
            for i, existing in enumerate(merged):
                if existing["name"] == item["name"]:
                    merged[i] = strategic_merge_patch(existing, item)
                    break
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return merge_patch(None, patch) if isinstance(patch, dict) else copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)


def json_patch(target: Obj, ops: list[Any]) -> Obj:
    """RFC 6902 add / replace / remove on object paths (what a client sends for these fields)."""
    out = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise ValueError(f"unsupported json patch operation {op!r}")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if op["op"] == "remove":
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = op.get("value")
    return out


class FakeKubernetes(FakeHTTPServer):
    """The fake API server. Seed it with ``add_*``, point a client at :meth:`write_kubeconfig`."""

    def __init__(
        self, *, token: str = "fake-k8s-token", user: str = "system:serviceaccount:monitoring:alertmedic"
    ):
        super().__init__()
        self.token = token
        self.user = user
        self.objects: dict[Key, Obj] = {}
        self.denied: set[str] = set()
        self._rv = itertools.count(1000)
        self._rollouts: dict[Key, _Rollout] = {}
        self._rollout_scripts: dict[Key, RolloutScript] = {}
        self._job_script = _JobScript()
        self._jobs: dict[Key, _JobScript] = {}
        self._pods: dict[Key, tuple[int, bool]] = {}  # terminate_reads, replace

    # -- seeding ---------------------------------------------------------------------
    def _store(self, resource: str, obj: Obj) -> Obj:
        meta = obj["metadata"]
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[(resource, meta["namespace"], meta["name"])] = obj
        return obj

    def add_deployment(self, namespace: str, name: str, *, replicas: int = 3, paused: bool = False) -> Obj:
        """A Deployment whose last rollout is complete."""
        spec: Obj = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "progressDeadlineSeconds": 600,
        }
        if paused:
            spec["paused"] = True
        obj = _object("apps/v1", "Deployment", namespace, name, spec)
        obj["status"] = _deployment_done(replicas, generation=1, name=name)
        return self._store("deployments", obj)

    def add_statefulset(
        self, namespace: str, name: str, *, replicas: int = 3, strategy: str = "RollingUpdate"
    ) -> Obj:
        update: Obj = {"type": strategy}
        if strategy == "RollingUpdate":
            update["rollingUpdate"] = {"partition": 0}
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "serviceName": name,
            "template": _pod_template(name),
            "updateStrategy": update,
        }
        obj = _object("apps/v1", "StatefulSet", namespace, name, spec)
        revision = f"{name}-5d8f7b9c4"
        obj["status"] = {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "currentReplicas": replicas,
            "updatedReplicas": replicas,
            "currentRevision": revision,
            "updateRevision": revision,
        }
        return self._store("statefulsets", obj)

    def add_daemonset(
        self, namespace: str, name: str, *, nodes: int = 3, strategy: str = "RollingUpdate"
    ) -> Obj:
        update: Obj = {"type": strategy}
        if strategy == "RollingUpdate":
            update["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
        spec = {
            "selector": {"matchLabels": {"app": name}},
            "template": _pod_template(name),
            "updateStrategy": update,
        }
        obj = _object("apps/v1", "DaemonSet", namespace, name, spec)
        obj["status"] = _daemonset_status(nodes, nodes, generation=1)
        return self._store("daemonsets", obj)

    def add_cronjob(
        self,
        namespace: str,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        job_meta: Obj = {}
        if labels:
            job_meta["labels"] = dict(labels)
        if annotations:
            job_meta["annotations"] = dict(annotations)
        job_template = {
            "metadata": job_meta,
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "train", "image": "registry.example/train:1.4", "args": ["--all"]}
                        ],
                    }
                },
            },
        }
        spec = {
            "schedule": "0 3 * * *",
            "concurrencyPolicy": "Forbid",
            "suspend": False,
            "jobTemplate": job_template,
        }
        return self._store("cronjobs", _object("batch/v1", "CronJob", namespace, name, spec))

    def add_pod(self, namespace: str, name: str, *, replace: bool = False, terminate_reads: int = 1) -> Obj:
        """A running pod; after a delete it is Terminating for `terminate_reads` reads."""
        self._pods[("pods", namespace, name)] = (terminate_reads, replace)
        spec = {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
        obj = _object("v1", "Pod", namespace, name, spec)
        del obj["metadata"]["generation"]
        obj["status"] = {"phase": "Running"}
        return self._store("pods", obj)

    # -- knobs -------------------------------------------------------------------------
    def deny(self, namespace: str) -> None:
        """Answer 403 Forbidden for everything in `namespace` (RBAC not granted)."""
        self.denied.add(namespace)

    def script_rollout(self, resource: str, namespace: str, name: str, script: RolloutScript) -> None:
        """How the next spec change of this workload rolls out."""
        self._rollout_scripts[(resource, namespace, name)] = script

    def script_job(
        self, outcome: Literal["complete", "failed", "running"] = "complete", *, after: int = 2
    ) -> None:
        """How Jobs created from now on end, at which status read."""
        self._job_script = _JobScript(outcome, after)

    def conflict_next(self, n: int = 1, *, method: str = "PATCH") -> None:
        """Answer the next `n` `method` requests with 409 Conflict."""
        self.fail_next(409, n, method=method)

    def fail_next(
        self, status: int, n: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next `n` matching requests with `status` (a Status body; 429 adds Retry-After)."""

        def match(rec: RecordedRequest) -> bool:
            return (method is None or rec.method == method) and (path is None or rec.path == path)

        self.inject(Injection(status, retry_after=1.0 if status == 429 else None, match=match), n)

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((resource, namespace, name))

    def write_kubeconfig(self, path: Path, *, context: str = "fake") -> Path:
        """A kubeconfig for the official client: this server, bearer token, one context."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "alertmedic", "user": {"token": self.token}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "alertmedic"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(config), encoding="utf-8")
        return path

    # -- wire ----------------------------------------------------------------------------
    def _render_injection(self, rec: RecordedRequest, inj: Injection) -> Reply:
        reasons = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
        reason = reasons.get(inj.status, "InternalError")
        message = (
            "Operation cannot be fulfilled: the object has been modified; please apply your changes "
            "to the latest version and try again"
            if inj.status == 409
            else f"injected {inj.status}"
        )
        headers = {"Retry-After": str(int(inj.retry_after))} if inj.retry_after is not None else {}
        return Reply(inj.status, status_body(inj.status, reason, message), headers)

    def _handle(self, rec: RecordedRequest) -> Reply:
        try:
            return self._route(rec)
        except _Answer as answer:
            return answer.reply

    def _route(self, rec: RecordedRequest) -> Reply:
        if rec.headers.get("Authorization") != f"Bearer {self.token}":
            raise _Answer(Reply(401, status_body(401, "Unauthorized", "Unauthorized")))
        for pattern in _PATHS:
            m = pattern.fullmatch(rec.path)
            if m is not None:
                break
        else:
            raise _Answer(
                Reply(404, status_body(404, "NotFound", "the server could not find the requested resource"))
            )
        ns, res, name, sub = m.group("ns"), m.group("res"), m.group("name"), m.groupdict().get("sub")
        resource = f"{res}/{sub}" if sub == "scale" else res
        if ns in self.denied:
            self._forbidden(rec.method, resource, ns, name)
        if name is None:
            if rec.method != "POST" or res != "jobs":
                raise _Answer(
                    Reply(405, status_body(405, "MethodNotAllowed", "the server does not allow this method"))
                )
            return self._create_job(rec, ns)
        key = (res, ns, name)
        if rec.method == "GET":
            return self._get(key, sub)
        if rec.method == "PATCH" and res in _KINDS and res not in ("cronjobs", "jobs", "pods"):
            return self._patch(rec, key, sub)
        if rec.method == "DELETE" and res == "pods":
            return self._delete_pod(rec, key)
        raise _Answer(
            Reply(405, status_body(405, "MethodNotAllowed", "the server does not allow this method"))
        )

    def _forbidden(self, method: str, resource: str, ns: str, name: str | None) -> None:
        group = _GROUPS[resource.split("/")[0]]
        verb = _VERBS.get(method, method.lower())
        qualified = f"{resource.split('/')[0]}.{group}" if group else resource.split("/")[0]
        what = f'{qualified} "{name}"' if name else qualified
        message = (
            f'{what} is forbidden: User "{self.user}" cannot {verb} resource "{resource}" '
            f'in API group "{group}" in the namespace "{ns}"'
        )
        details = {"name": name or "", "group": group, "kind": resource.split("/")[0]}
        raise _Answer(Reply(403, status_body(403, "Forbidden", message, details)))

    def _require(self, key: Key) -> Obj:
        obj = self.objects.get(key)
        if obj is None:
            res, _, name = key
            group = _GROUPS[res]
            qualified = f"{res}.{group}" if group else res
            details = {"name": name, "group": group, "kind": res}
            raise _Answer(
                Reply(404, status_body(404, "NotFound", f'{qualified} "{name}" not found', details))
            )
        return obj

    def _get(self, key: Key, sub: str | None) -> Reply:
        obj = self._require(key)
        if sub == "scale":
            return Reply(200, _scale_of(obj))
        self._read(key, obj)
        current = self.objects.get(key)
        if current is None:  # a pod that finished terminating on this read
            return self._get(key, sub)
        return Reply(200, copy.deepcopy(current))

    def _patch(self, rec: RecordedRequest, key: Key, sub: str | None) -> Reply:
        obj = self._require(key)
        ctype = rec.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype not in _PATCH_TYPES:
            message = (
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(_PATCH_TYPES)
            )
            raise _Answer(Reply(415, status_body(415, "UnsupportedMediaType", message)))
        try:
            patch = json.loads(rec.body)
        except ValueError:
            raise _Answer(
                Reply(400, status_body(400, "BadRequest", "invalid JSON in the patch body"))
            ) from None
        before = copy.deepcopy(obj)
        if sub == "scale":
            scale = _scale_of(obj)
            want_rv = (
                (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            )
            if want_rv is not None and want_rv != obj["metadata"]["resourceVersion"]:
                self._conflict(key)
            patched = self._apply(ctype, scale, patch)
            replicas = patched.get("spec", {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise _Answer(Reply(422, status_body(422, "Invalid", "spec.replicas: Invalid value")))
            new = copy.deepcopy(obj)
            new["spec"]["replicas"] = replicas
        else:
            new = self._apply(ctype, obj, patch)
            want_rv = new["metadata"].get("resourceVersion")
            if want_rv != obj["metadata"]["resourceVersion"]:
                self._conflict(key)
            new["status"] = obj.get("status", {})
        if new["spec"] != obj["spec"]:
            new["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            self._rollouts[key] = _Rollout(self._rollout_scripts.pop(key, RolloutScript()))
        self._store(key[0], new)

        def undo() -> None:
            self.objects[key] = before

        body = _scale_of(new) if sub == "scale" else copy.deepcopy(new)
        return Reply(200, body, undo=undo)

    def _apply(self, ctype: str, obj: Obj, patch: Any) -> Obj:
        if ctype == "application/json-patch+json":
            if not isinstance(patch, list):
                message = "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
                raise _Answer(Reply(400, status_body(400, "BadRequest", message)))
            try:
                return json_patch(obj, patch)
            except (ValueError, KeyError, AttributeError) as exc:
                raise _Answer(Reply(422, status_body(422, "Invalid", str(exc)))) from None
        if not isinstance(patch, dict):
            raise _Answer(Reply(400, status_body(400, "BadRequest", "the patch must be a JSON object")))
        if ctype == "application/merge-patch+json":
            result: Obj = merge_patch(obj, patch)
        else:
            result = strategic_merge_patch(obj, patch)
        return result

    def _conflict(self, key: Key) -> None:
        res, _, name = key
        message = (
            f'Operation cannot be fulfilled on {res}.{_GROUPS[res]} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )
        details = {"name": name, "group": _GROUPS[res], "kind": res}
        raise _Answer(Reply(409, status_body(409, "Conflict", message, details)))

    def _create_job(self, rec: RecordedRequest, ns: str) -> Reply:
        body = _json_body(rec)
        if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
            raise _Answer(Reply(400, status_body(400, "BadRequest", "the request body is not a Job")))
        meta = body["metadata"]
        name = meta.get("name")
        if meta.get("namespace") not in (None, ns):
            message = "the namespace of the provided object does not match the namespace sent on the request"
            raise _Answer(Reply(400, status_body(400, "BadRequest", message)))
        if not isinstance(name, str) or len(name) > 63 or not _SUBDOMAIN.fullmatch(name):
            message = (
                f'Job.batch "{name}" is invalid: metadata.name: Invalid value: "{name}": must be no more '
                "than 63 characters and a lowercase RFC 1123 subdomain"
            )
            causes = [{"reason": "FieldValueInvalid", "message": message, "field": "metadata.name"}]
            details = {"name": str(name), "group": "batch", "kind": "Job", "causes": causes}
            raise _Answer(Reply(422, status_body(422, "Invalid", message, details)))
        key = ("jobs", ns, name)
        if key in self.objects:
            details = {"name": name, "group": "batch", "kind": "jobs"}
            raise _Answer(
                Reply(409, status_body(409, "AlreadyExists", f'jobs.batch "{name}" already exists', details))
            )
        job = copy.deepcopy(body)
        job["metadata"]["namespace"] = ns
        job["metadata"]["generation"] = 1
        job["status"] = {}
        self._store("jobs", job)
        self._jobs[key] = _JobScript(self._job_script.outcome, self._job_script.after)

        def undo() -> None:
            self.objects.pop(key, None)
            self._jobs.pop(key, None)

        return Reply(201, copy.deepcopy(job), undo=undo)

    def _delete_pod(self, rec: RecordedRequest, key: Key) -> Reply:
        pod = self._require(key)
        options = _json_body(rec)
        options = options if isinstance(options, dict) else {}
        want_uid = (options.get("preconditions") or {}).get("uid")
        if want_uid is not None and want_uid != pod["metadata"]["uid"]:
            message = (
                f'Operation cannot be fulfilled on Pod "{key[2]}": Precondition failed: UID in precondition: '
                f"{want_uid}, UID in object meta: {pod['metadata']['uid']}"
            )
            raise _Answer(Reply(409, status_body(409, "Conflict", message, {"name": key[2], "kind": "pods"})))
        pod["metadata"].setdefault("deletionTimestamp", _now())
        pod["metadata"]["deletionGracePeriodSeconds"] = 30
        pod["metadata"]["resourceVersion"] = str(next(self._rv))
        return Reply(200, copy.deepcopy(pod))

    # -- controllers ---------------------------------------------------------------------
    def _read(self, key: Key, obj: Obj) -> None:
        res = key[0]
        if res in ("deployments", "statefulsets", "daemonsets") and key in self._rollouts:
            rollout = self._rollouts[key]
            rollout.reads += 1
            _advance(res, obj, rollout)
        elif res == "jobs" and key in self._jobs:
            script = self._jobs[key]
            script.reads += 1
            _advance_job(obj, script)
        elif res == "pods" and obj["metadata"].get("deletionTimestamp"):
            left, replace = self._pods.get(key, (1, False))
            if left > 0:
                self._pods[key] = (left - 1, replace)
                return
            del self.objects[key]
            if replace:
                self.add_pod(key[1], key[2], replace=replace)


def _json_body(rec: RecordedRequest) -> Any:
    """The JSON body. The API server reads a body without a Content-Type as JSON (its first media
    type); the official client sends typed creates and delete options that way."""
    if rec.json is not None or "Content-Type" in rec.headers or not rec.body:
        return rec.json
    try:
        return json.loads(rec.body)
    except ValueError:
        return None


def _object(api_version: str, kind: str, namespace: str, name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "labels": {"app": name}},
        "spec": spec,
    }


def _pod_template(name: str) -> Obj:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": name, "image": f"registry.example/{name}:1.0"}]},
    }


def _deployment_done(replicas: int, *, generation: int, name: str) -> Obj:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{name}-7c9d8f6b5" has successfully progressed.',
            },
        ],
    }


def _daemonset_status(desired: int, updated: int, *, generation: int) -> Obj:
    return {
        "observedGeneration": generation,
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "updatedNumberScheduled": updated,
        "numberReady": updated,
        "numberAvailable": updated,
        "numberMisscheduled": 0,
    }


def _scale_of(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": f"app={meta['name']}"},
    }


def _advance(resource: str, obj: Obj, rollout: _Rollout) -> None:
    """The controller's status after `rollout.reads` reads since the spec change."""
    script, reads = rollout.script, rollout.reads
    generation = obj["metadata"]["generation"]
    if reads <= 1:
        return  # the first read: the controller has not observed the change yet
    paused = resource == "deployments" and obj["spec"].get("paused") is True
    failed = script.fail_after is not None and reads >= script.fail_after
    done = not paused and not script.stall and not failed and reads >= script.complete_after
    want = obj["spec"].get("replicas", 1)
    steps = max(script.complete_after - 1, 1)
    progressed = want if done else (0 if paused else max(1, min(want - 1, want * (reads - 1) // steps)))
    if script.stall:
        progressed = min(1, want)
    status = obj.setdefault("status", {})
    if resource == "deployments":
        if done:
            obj["status"] = _deployment_done(want, generation=generation, name=obj["metadata"]["name"])
            return
        status.update(
            observedGeneration=generation,
            replicas=want + (0 if paused else 1),
            updatedReplicas=progressed,
            availableReplicas=max(progressed - 1, 0) if not paused else want,
        )
        progressing = {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}
        if failed:
            progressing = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{obj["metadata"]["name"]}-6b7d9c8f4" has timed out progressing.',
            }
        status["conditions"] = [c for c in status.get("conditions", []) if c["type"] != "Progressing"] + [
            progressing
        ]
    elif resource == "statefulsets":
        revision = f"{obj['metadata']['name']}-{generation:x}a1b2c3"
        status.update(observedGeneration=generation, updateRevision=revision, updatedReplicas=progressed)
        status["readyReplicas"] = want if done else want - 1
        if done:
            status.update(currentRevision=revision, currentReplicas=want, replicas=want)
    else:
        desired = status.get("desiredNumberScheduled", 0)
        obj["status"] = _daemonset_status(
            desired, desired if done else min(progressed, desired - 1), generation=generation
        )


def _advance_job(job: Obj, script: _JobScript) -> None:
    status = job.setdefault("status", {})
    status.setdefault("startTime", _now())
    if script.outcome == "running" or script.reads < script.after:
        status["active"] = 1
        return
    status["active"] = 0
    now = _now()
    if script.outcome == "complete":
        status["succeeded"] = 1
        status["completionTime"] = now
        status["conditions"] = [
            {
                "type": "SuccessCriteriaMet",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastTransitionTime": now,
            },
            {
                "type": "Complete",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastTransitionTime": now,
            },
        ]
    else:
        status["failed"] = job["spec"].get("backoffLimit", 6) + 1
        status["conditions"] = [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": now,
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": now,
            },
        ]
