"""FakeSMTP: a real SMTP server on ``127.0.0.1`` (aiosmtpd ``Controller``, own thread).

* received mail is kept as :class:`ReceivedMail` (envelope + ``EmailMessage`` parsed
  with ``email.policy.default``);
* optional AUTH PLAIN/LOGIN against one username/password, optionally *required*
  (``530 5.7.0 Authentication required`` for MAIL FROM without it);
* optional STARTTLS with a certificate made by :func:`make_self_signed_cert` (``openssl``
  CLI); the client trusts ``ca_path`` (the self-signed cert itself);
* :meth:`FakeSMTP.fail_next` answers the next N transactions with a chosen reply
  (e.g. ``451`` temporary / ``550`` permanent) at DATA, RCPT or MAIL.

aiosmtpd warns (``UserWarning``, turned into an error by ``filterwarnings=error``) when
``auth_required=True`` is combined with ``auth_require_tls=False``. To avoid that without
touching global warning filters from the server thread, the fake never passes
``auth_required`` to aiosmtpd: it enforces "auth required" itself in ``handle_MAIL``.
"""

from __future__ import annotations

import asyncio
import email
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["FakeSMTP", "ReceivedMail", "make_self_signed_cert"]

_HOST = "127.0.0.1"


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Create ``cert.pem``/``key.pem`` (EC P-256, CN/SAN ``127.0.0.1`` and ``localhost``)
    with the ``openssl`` CLI; the cert is its own CA. Returns ``(cert, key)``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl CLI is required for the STARTTLS fake")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@dataclass
class ReceivedMail:
    """One accepted message."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    """Raw DATA as received."""
    message: EmailMessage
    """``data`` parsed with ``email.policy.default``."""
    peer: Any = None
    helo: str | None = None
    login: str | None = None
    """Username it authenticated as, if it did."""
    tls: bool = False
    """True when the session was upgraded with STARTTLS."""
    received_at: float = field(default_factory=time.time)


@dataclass
class _Failure:
    code_line: str
    stage: str


class FakeSMTP:
    """SMTP server fake; use as ``async with FakeSMTP(...) as smtp`` or start()/stop()."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        auth_required: bool = False,
        auth_require_tls: bool = True,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        require_starttls: bool = False,
    ) -> None:
        """``username``/``password`` enable AUTH PLAIN/LOGIN. aiosmtpd only offers AUTH
        after STARTTLS unless ``auth_require_tls=False``. ``tls_cert``/``tls_key`` enable
        STARTTLS (``require_starttls`` refuses commands before it)."""
        self.username = username
        self.password = password
        self.auth_required = auth_required
        self.auth_require_tls = auth_require_tls
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.require_starttls = require_starttls
        self.received: list[ReceivedMail] = []
        """Accepted messages in order."""
        self.rejected: list[tuple[str, str]] = []
        """(stage, reply) of every transaction refused by :meth:`fail_next`."""
        self.auth_attempts: list[tuple[str, bool]] = []
        """(username, success) of every AUTH attempt."""
        self.host = _HOST
        self.port = 0
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    @property
    def ca_path(self) -> Path | None:
        """Certificate the client must trust for STARTTLS (``None`` without TLS)."""
        return self.tls_cert

    def client_tls_context(self) -> ssl.SSLContext:
        """An ``SSLContext`` trusting only this server's certificate."""
        if self.tls_cert is None:
            raise RuntimeError("this FakeSMTP has no TLS certificate")
        return ssl.create_default_context(cafile=str(self.tls_cert))

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> Self:
        """Start the server thread on a free loopback port."""
        await asyncio.to_thread(self._start_blocking)
        return self

    async def stop(self) -> None:
        """Stop the server thread (idempotent)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            await asyncio.to_thread(controller.stop)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _start_blocking(self) -> None:
        kwargs: dict[str, Any] = {
            "hostname": _HOST,
            "server_hostname": "fake-smtp.test",
            "auth_require_tls": self.auth_require_tls,
        }
        if self.username is not None:
            kwargs["authenticator"] = self._authenticate
        if self.tls_cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key or self.tls_cert))
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = self.require_starttls
        # Controller needs a concrete port (it connects to it to check readiness): take a
        # free one from the kernel; retry in the unlikely case another process grabs it.
        for attempt in range(5):
            port = _free_port()
            controller = Controller(_Handler(self), port=port, ready_timeout=10, **kwargs)
            try:
                controller.start()
            except OSError:
                if attempt == 4:
                    raise
                continue
            self._controller, self.port = controller, port
            return

    # -- knobs -------------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, code: int = 451, message: str | None = None, *, stage: str = "DATA"
    ) -> None:
        """Answer the next ``n`` transactions with ``code`` at ``stage`` (``"DATA"``,
        ``"RCPT"`` — per recipient — or ``"MAIL"``). 4xx is temporary, 5xx permanent."""
        if stage not in {"DATA", "RCPT", "MAIL"}:
            raise ValueError(f"bad stage {stage!r}")
        text = message or (
            "4.3.0 Temporary failure, try again later" if code < 500 else "5.7.1 Message rejected"
        )
        with self._lock:
            self._failures.extend(_Failure(f"{code} {text}", stage) for _ in range(n))

    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.received)

    async def wait_for_messages(self, n: int = 1, timeout: float = 5.0) -> list[ReceivedMail]:
        """Wait until ``n`` messages were accepted; returns them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages()) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"FakeSMTP: {len(self.messages())}/{n} message(s) after {timeout}s")
            await asyncio.sleep(0.01)
        return self.messages()

    # -- called from the server thread ---------------------------------------------------
    def _take_failure(self, stage: str) -> str | None:
        with self._lock:
            for i, failure in enumerate(self._failures):
                if failure.stage == stage:
                    del self._failures[i]
                    self.rejected.append((stage, failure.code_line))
                    return failure.code_line
        return None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = login == self.username and auth_data.password.decode("utf-8", "replace") == self.password
        with self._lock:
            self.auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _store(self, session: Session, envelope: Envelope) -> None:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = email.message_from_bytes(data, policy=default_policy)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        mail = ReceivedMail(
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            data,
            message,
            session.peer,
            session.host_name,
            login,
            session.ssl is not None,
        )
        with self._lock:
            self.received.append(mail)


class _Handler:
    """aiosmtpd handler hooks delegating to the owning :class:`FakeSMTP`."""

    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.fake.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        failure = self.fake._take_failure("MAIL")
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        failure = self.fake._take_failure("RCPT")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self.fake._take_failure("DATA")
        if failure:
            return failure
        self.fake._store(session, envelope)
        return "250 2.0.0 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])
