"""Pytest fixtures for the fakes; load with ``pytest_plugins = ["tests.fakes.fixtures"]``.

All are function-scoped, started before the test and stopped after it:

* ``fake_telegram`` → :class:`FakeTelegram` (one bot: ``fake_telegram.token``)
* ``fake_slack`` → :class:`FakeSlack` (one bot token: ``fake_slack.token``)
* ``webhook_sink`` → :class:`WebhookSink` (no auth)
* ``fake_loki`` → :class:`FakeLoki` (single tenant, no auth)
* ``smtp_server`` → :class:`FakeSMTP`, plain, no AUTH
* ``smtp_server_tls`` → :class:`FakeSMTP` with STARTTLS + required AUTH
  (``.username``/``.password``; trust ``.ca_path`` or use ``.client_tls_context()``)
* ``smtp_server_factory`` → ``await factory(**FakeSMTP kwargs)``; pass ``tls=True`` to get
  the session certificate filled in
* ``fake_kubernetes`` → :class:`FakeKubernetes` (empty; seed it with ``add_*``) and
  ``fake_kubeconfig`` → a kubeconfig file pointing the official client at it (context "fake")
* ``smtp_tls_cert`` (session) → ``(cert_path, key_path)`` made once with ``openssl``
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP, make_self_signed_cert
from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import WebhookSink

SMTP_USERNAME = "alertmedic"
SMTP_PASSWORD = "smtp-test-password"


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A started :class:`FakeTelegram`."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    """A started :class:`FakeSlack`."""
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def fake_kubernetes() -> AsyncIterator[FakeKubernetes]:
    """A started :class:`FakeKubernetes` with no objects."""
    async with FakeKubernetes() as fake:
        yield fake


@pytest.fixture
def fake_kubeconfig(fake_kubernetes: FakeKubernetes, tmp_path: Path) -> Path:
    """A kubeconfig for :func:`fake_kubernetes` (bearer token, context "fake")."""
    return fake_kubernetes.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    """A started :class:`WebhookSink` accepting everything with ``200``."""
    async with WebhookSink() as sink:
        yield sink


@pytest.fixture
async def fake_loki() -> AsyncIterator[FakeLoki]:
    """A started :class:`FakeLoki` (single tenant, no auth, empty)."""
    async with FakeLoki() as fake:
        yield fake


@pytest.fixture(scope="session")
def smtp_tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed cert/key for ``127.0.0.1`` (made once per session; fails without openssl)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to make the STARTTLS test certificate", pytrace=False)
    return make_self_signed_cert(tmp_path_factory.mktemp("smtp-tls"))


SmtpFactory = Callable[..., Awaitable[FakeSMTP]]


@pytest.fixture
async def smtp_server_factory(request: pytest.FixtureRequest) -> AsyncIterator[SmtpFactory]:
    """Start :class:`FakeSMTP` servers with custom options; all stopped at teardown."""
    started: list[FakeSMTP] = []

    async def factory(*, tls: bool = False, **kwargs: Any) -> FakeSMTP:
        if tls:
            cert, key = request.getfixturevalue("smtp_tls_cert")
            kwargs.setdefault("tls_cert", cert)
            kwargs.setdefault("tls_key", key)
        server = FakeSMTP(**kwargs)
        await server.start()
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.stop()


@pytest.fixture
async def smtp_server() -> AsyncIterator[FakeSMTP]:
    """Plain SMTP on loopback, no AUTH, no TLS."""
    async with FakeSMTP() as server:
        yield server


@pytest.fixture
async def smtp_server_tls(smtp_tls_cert: tuple[Path, Path]) -> AsyncIterator[FakeSMTP]:
    """SMTP with STARTTLS and required AUTH (``SMTP_USERNAME``/``SMTP_PASSWORD``)."""
    cert, key = smtp_tls_cert
    async with FakeSMTP(
        username=SMTP_USERNAME, password=SMTP_PASSWORD, auth_required=True, tls_cert=cert, tls_key=key
    ) as server:
        yield server
