"""The official `kubernetes` client, made from the config (kubeconfig file + context, or the
in-cluster ServiceAccount), and called off the event loop: its API is blocking, so every call
runs in a worker thread and the loop keeps answering webhooks during a slow API server.

Calls ask for the raw response (`_preload_content=False`) and return the JSON the API sent: the
pure verdicts read that wire format, not the client's models. Errors go through errors.translate.
Client-side retries are off (`retries=False`): the job queue decides when to try again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pydantic
import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from app.config.remediation import KubernetesSettings
from app.core.errors import PermanentError
from app.remediate.errors import Operation, translate, unreachable

Obj = dict[str, Any]

DEFAULT_TIMEOUT = (5.0, 30.0)
"""(connect, read) seconds for one API request."""


class KubeConfigError(Exception):
    """The client cannot be configured (kubeconfig unreadable, unknown context, not in a cluster)."""


def client_configuration(settings: KubernetesSettings) -> client.Configuration:
    """A client configuration from the kubeconfig (and context) or the in-cluster ServiceAccount.
    Reads local files only: an API server that is down does not stop the service."""
    cfg = client.Configuration()
    try:
        if settings.kubeconfig is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(settings.kubeconfig),
                context=settings.context,
                client_configuration=cfg,
                persist_config=False,
            )
        else:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        where = settings.kubeconfig or "the in-cluster ServiceAccount"
        raise KubeConfigError(
            f"remediation.kubernetes: cannot configure a client from {where}: {exc}"
        ) from None
    cfg.retries = False
    return cfg


class Kube:
    """The three API groups remediation uses, over one connection pool."""

    def __init__(self, cfg: client.Configuration, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self._api_client = client.ApiClient(cfg)
        self.apps = client.AppsV1Api(self._api_client)
        self.batch = client.BatchV1Api(self._api_client)
        self.core = client.CoreV1Api(self._api_client)
        self._timeout = timeout

    @classmethod
    def from_settings(cls, settings: KubernetesSettings) -> Kube:
        return cls(client_configuration(settings))

    async def call(self, op: Operation, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """`method(*args, **kwargs)` in a thread; the response body as a dict, or the translated
        error (RetryableError / PermanentError)."""

        def run() -> Obj:
            resp = method(*args, **kwargs, _preload_content=False, _request_timeout=self._timeout)
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            return body if isinstance(body, dict) else {}

        return await self._run(op, run)

    async def request(self, op: Operation, method: str, path: str, *, body: Obj | None = None) -> Obj:
        """A JSON request by path, through the same client (auth, TLS, pool) but without the typed
        models: a body is sent exactly as given. Used to create a Job from a CronJob's template,
        which may carry fields newer than this client's models (they would be rejected client-side)."""
        api = self._api_client
        headers = {"Accept": "application/json", "Content-Type": "application/json"}

        def run() -> Obj:
            params = api.param_serialize(
                method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            resp = api.call_api(*params, _request_timeout=self._timeout)
            data: bytes = resp.read()  # type: ignore[no-untyped-call]
            if not 200 <= resp.status <= 299:
                raise ApiException(http_resp=resp)
            parsed = json.loads(data)
            return parsed if isinstance(parsed, dict) else {}

        return await self._run(op, run)

    async def _run(self, op: Operation, run: Callable[[], Obj]) -> Obj:
        try:
            return await asyncio.to_thread(run)
        except ApiException as exc:
            raise translate(op, status=exc.status or 0, body=exc.body, headers=exc.headers) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(op, exc) from None
        except pydantic.ValidationError as exc:  # the client's models refused our arguments
            raise PermanentError(
                f"{op}: invalid request: {exc.error_count()} problem(s)", reason="invalid"
            ) from None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._api_client.close)
