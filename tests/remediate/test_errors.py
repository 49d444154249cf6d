"""API answers translated in one place into retry / permanent, with words a person can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config.remediation import KubernetesSettings
from app.core.errors import PermanentError, RetryableError
from app.remediate.errors import Operation, translate
from app.remediate.kube import Kube

OP = Operation("patch", "deployments/scale", "apps", "prod", "model-api")


def status(code: int, reason: str, message: str = "m") -> str:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
    )


@pytest.mark.parametrize(
    ("code", "reason", "kind", "word"),
    [
        (401, "Unauthorized", PermanentError, "unauthorized"),
        (403, "Forbidden", PermanentError, "forbidden"),
        (404, "NotFound", PermanentError, "not_found"),
        (409, "Conflict", RetryableError, "conflict"),
        (409, "AlreadyExists", PermanentError, "already_exists"),
        (422, "Invalid", PermanentError, "invalid"),
        (429, "TooManyRequests", RetryableError, "throttled"),
        (500, "InternalError", RetryableError, "server_error"),
        (503, "ServiceUnavailable", RetryableError, "server_error"),
        (400, "BadRequest", PermanentError, "bad_request"),
        (415, "UnsupportedMediaType", PermanentError, "bad_request"),
    ],
)
def test_each_answer_has_one_meaning(code: int, reason: str, kind: type[Exception], word: str) -> None:
    err = translate(OP, status=code, body=status(code, reason))
    assert type(err) is kind
    assert err.reason == word


def test_messages_say_what_to_do() -> None:
    forbidden = translate(OP, status=403, body=status(403, "Forbidden"))
    assert str(forbidden) == (
        "forbidden: alertmedic may not patch deployments/scale (API group 'apps') in namespace prod; "
        "grant it in that namespace's Role (deploy/kubernetes/rbac)"
    )
    assert str(translate(OP, status=404, body=None)) == "deployments.apps prod/model-api not found"
    invalid = translate(OP, status=422, body=status(422, "Invalid", "spec.replicas:\n Invalid value: -1"))
    assert str(invalid) == "patch deployments/scale prod/model-api: invalid: spec.replicas: Invalid value: -1"
    throttled = translate(OP, status=429, body="not json", headers={"Retry-After": "3"})
    assert isinstance(throttled, RetryableError) and throttled.retry_after == 3.0


async def test_arguments_the_client_models_refuse_are_permanent(fake_kubeconfig: Path) -> None:
    kube = Kube.from_settings(KubernetesSettings(kubeconfig=fake_kubeconfig))
    op = Operation("get", "deployments", "apps", "prod", "x")
    with pytest.raises(PermanentError) as info:
        await kube.call(op, kube.apps.read_namespaced_deployment, 123, "prod")
    assert info.value.reason == "invalid"
    await kube.aclose()
