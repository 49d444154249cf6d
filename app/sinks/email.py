"""Email over SMTP (aiosmtplib): multipart text + HTML, threaded with Message-ID / References.

Port 465 is implicit TLS; otherwise STARTTLS when `require_tls` (a server without it is a
permanent failure), plain SMTP when not. SMTP 4xx and transport failures are retried, 5xx not.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

import aiosmtplib
from jinja2 import Template

from app.config import EmailConfig, secret, split_listen
from app.core.enrichment_render import log_html, log_text
from app.core.errors import DeliveryError, PermanentError, RetryableError
from app.core.render import render_email
from app.core.sanitize import clean_line
from app.sinks.base import BuildContext, Capabilities, Delivery, Integration, MessageRef, RateLimit
from app.sinks.http import scrub

log = logging.getLogger(__name__)

IMPLICIT_TLS_PORT = 465
_RESERVED_HEADERS = {
    "message-id",
    "in-reply-to",
    "references",
    "date",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
"""Headers the sink owns; a configured header of these names is ignored."""
MAX_REFERENCES = 20
"""References kept in a thread's chain (the first and the most recent ones)."""


def _insert_html(document: str, extra: str) -> str:
    """`extra` at the end of the document's body (appended when it has no `</body>`)."""
    at = document.lower().rfind("</body>")
    return document + extra if at < 0 else document[:at] + extra + document[at:]


def _domain(address: str) -> str:
    domain = parseaddr(address)[1].rpartition("@")[2].strip()
    return domain or "alertmedic.localdomain"


def tls_context(*, ca_file: str | None, insecure_skip_verify: bool) -> ssl.SSLContext:
    """A client TLS context: system CAs (or `ca_file`), verification unless told to skip it."""
    context = ssl.create_default_context(cafile=ca_file)
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _translate(exc: BaseException, secrets: list[str]) -> DeliveryError:
    """An aiosmtplib / socket error as RetryableError (4xx, transport) or PermanentError (5xx)."""
    error = _classify(exc)
    error.args = (scrub(str(error), secrets),)
    return error


def _classify(exc: BaseException) -> DeliveryError:
    text = f"smtp: {type(exc).__name__}: {exc}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "smtp: recipients refused: " + "; ".join(
            f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients
        )
        if codes and all(400 <= c < 500 for c in codes):
            return RetryableError(text, reason="smtp_4xx")
        return PermanentError(text, reason="rejected")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"smtp: {exc.code} {exc.message}"
        if 400 <= exc.code < 500:
            return RetryableError(text, reason="smtp_4xx")
        if exc.code in (530, 534, 535, 538):
            return PermanentError(text, reason="unauthorized")
        return PermanentError(text, reason="rejected")
    if isinstance(exc, TimeoutError):
        return RetryableError(text, reason="timeout")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(text, reason="tls")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentError(text, reason="unsupported")
    if isinstance(exc, OSError):  # connect errors, disconnects, TLS handshake failures
        return RetryableError(text, reason="network")
    return RetryableError(text, reason="error")


async def _open_socket(host: str, port: int, connect_timeout: float) -> socket.socket:
    """A connected TCP socket, for implicit TLS with a `server_name` other than the host."""
    loop = asyncio.get_running_loop()
    last: OSError = OSError(f"cannot resolve {host}")
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise last


class EmailSink:
    """Sends each alert group as one email; no rate limit."""

    integration = "email"

    def __init__(
        self,
        config: EmailConfig,
        *,
        send_timeout: float,
        implicit_tls: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`implicit_tls` None: implicit TLS exactly when the smarthost port is 465. `clock`
        gives the render time ("firing for 17m") and the Date header, as Unix seconds."""
        self.clock = clock
        self._config = config
        self._host, self._port = split_listen(config.smarthost)
        self._implicit = self._port == IMPLICIT_TLS_PORT if implicit_tls is None else implicit_tls
        self._timeout = send_timeout
        self._password = secret(config, "auth_password")
        self._sender = parseaddr(config.from_)[1] or config.from_
        self._recipients = [addr for _, addr in getaddresses([config.to]) if addr]
        if not self._recipients:
            raise ValueError(f"no recipient address in {config.to!r}")
        self._domain = _domain(config.from_)
        self._text: Template | None = config.text.compiled if config.text else None
        self._html: Template | None = config.html.compiled if config.html else None
        self._headers: dict[str, Template] = {
            name: value.compiled
            for name, value in config.headers.items()
            if name.lower() not in _RESERVED_HEADERS
        }
        tls = config.tls_config
        self._tls = tls_context(
            ca_file=str(tls.ca_file) if tls.ca_file else None, insecure_skip_verify=tls.insecure_skip_verify
        )
        self._server_name = tls.server_name or self._host

    def rate_limits(self) -> list[RateLimit]:
        return []

    async def send(self, delivery: Delivery) -> MessageRef | None:
        message, ref = self.build(delivery)
        await self._transmit(message)
        return ref

    async def aclose(self) -> None:
        """Nothing to close: each send uses its own SMTP connection."""

    async def reply(self, destination: str, text: str, previous: MessageRef | None) -> None:
        """A plain-text mail in the group's thread (In-Reply-To / References the last message)."""
        message = EmailMessage()
        try:
            message["From"] = self._config.from_
            message["To"] = self._config.to
            message["Subject"] = clean_line(text, 200)
            message["Date"] = formatdate(self.clock(), usegmt=True)
            message["Message-ID"] = make_msgid(domain=self._domain)
            if previous and previous.get("message_id"):
                chain = [str(r) for r in previous.get("references") or []]
                chain.append(str(previous["message_id"]))
                message["In-Reply-To"] = str(previous["message_id"])
                message["References"] = " ".join(chain[:1] + chain[1:][-(MAX_REFERENCES - 1) :])
            message.set_content(text)
        except (ValueError, TypeError) as exc:
            raise PermanentError(f"email: cannot build the reply: {exc}", reason="bad_request") from None
        await self._transmit(message)

    def build(self, delivery: Delivery) -> tuple[EmailMessage, MessageRef]:
        """The message for a delivery and the thread reference it will leave behind."""
        timestamp = self.clock()
        content = render_email(
            delivery.group,
            kind=delivery.kind,
            text=self._text,
            html=self._html,
            headers=self._headers,
            now=datetime.fromtimestamp(timestamp, UTC),
        )
        if content.template_error:
            log.warning(
                "%s: email template failed, used the default: %s",
                delivery.destination,
                content.template_error,
            )
        message_id = make_msgid(domain=self._domain)
        message = EmailMessage()
        try:
            message["From"] = self._config.from_
            message["To"] = self._config.to
            message["Subject"] = content.subject
            message["Date"] = formatdate(timestamp, usegmt=True)
            message["Message-ID"] = message_id
            references: list[str] = []
            previous = delivery.previous
            if previous and previous.get("message_id"):
                # Every later mail of the group replies to the previous one, so mail clients
                # show the group's history (firing, more firing, resolved) as one thread.
                chain = [str(r) for r in previous.get("references") or []]
                chain.append(str(previous["message_id"]))
                references = chain[:1] + chain[1:][-(MAX_REFERENCES - 1) :]
                message["In-Reply-To"] = str(previous["message_id"])
                message["References"] = " ".join(references)
            for name, value in content.headers.items():
                if name in message:
                    message.replace_header(name, value)
                else:
                    message[name] = value
            message["X-Alertmanager-Group-Key"] = clean_line(delivery.group.groupKey, 900)
            text, html = content.text, content.html
            enrichment = delivery.enrichment
            cids = [make_msgid(domain=self._domain) for _ in enrichment.graphs] if enrichment else []
            if enrichment is not None and not enrichment.empty:
                text = f"{text.rstrip()}\n\n{log_text(enrichment)}\n"
                html = _insert_html(html, log_html(enrichment, graph_cids=[c[1:-1] for c in cids]))
            message.set_content(text)
            message.add_alternative(html, subtype="html")
            if enrichment is not None and enrichment.graphs:
                html_part = message.get_body(("html",))
                assert isinstance(html_part, EmailMessage)
                for graph, cid in zip(enrichment.graphs, cids, strict=True):
                    html_part.add_related(graph.png, "image", "png", cid=cid, filename="graph.png")
        except (ValueError, TypeError) as exc:
            raise PermanentError(f"email: cannot build the message: {exc}", reason="bad_request") from None
        return message, {"message_id": message_id, "references": references}

    async def _transmit(self, message: EmailMessage) -> None:
        implicit = self._implicit
        config = self._config
        smtp: aiosmtplib.SMTP | None = None
        try:
            if implicit and self._server_name != self._host:
                sock = await _open_socket(self._host, self._port, self._timeout)
                smtp = aiosmtplib.SMTP(
                    hostname=self._server_name,
                    sock=sock,
                    use_tls=True,
                    tls_context=self._tls,
                    local_hostname=config.hello,
                    timeout=self._timeout,
                )
            else:
                smtp = aiosmtplib.SMTP(
                    hostname=self._host,
                    port=self._port,
                    use_tls=implicit,
                    start_tls=False,
                    tls_context=self._tls if implicit else None,
                    local_hostname=config.hello,
                    timeout=self._timeout,
                )
            await smtp.connect()
            if not implicit and config.require_tls:
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    raise PermanentError(
                        "smtp: the server does not offer STARTTLS and require_tls is set", reason="tls"
                    )
                await smtp.starttls(tls_context=self._tls, server_hostname=self._server_name)
            if config.auth_username:
                await smtp.login(config.auth_username, self._password or "")
            refused, _ = await smtp.send_message(message, sender=self._sender, recipients=self._recipients)
            if refused:
                log.warning(
                    "email to %s: some recipients refused: %s",
                    config.to,
                    "; ".join(f"{k}: {v.code} {v.message}" for k, v in refused.items()),
                )
            await smtp.quit()
        except DeliveryError:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            secrets = [self._password] if self._password else []
            raise _translate(exc, secrets) from None
        finally:
            if smtp is not None and smtp.is_connected:
                smtp.close()


def _build(config: EmailConfig, context: BuildContext) -> EmailSink:
    return EmailSink(config, send_timeout=context.send_timeout)


INTEGRATION = Integration(
    "email", EmailConfig, Capabilities(edits_in_place=False, threads=True, replies=True), _build
)
