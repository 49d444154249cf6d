"""EmailSink with real aiosmtplib against the aiosmtpd fake: plain, STARTTLS + AUTH, threading."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from app.config import EmailConfig
from app.core.errors import PermanentError, RetryableError
from app.sinks.email import EmailSink
from tests.fakes.fixtures import SMTP_PASSWORD, SMTP_USERNAME
from tests.fakes.smtp import FakeSMTP
from tests.sinks.groups import EXTERNAL_URL, delivery, firing, make_alert, make_group, resolved


def make_sink(server: FakeSMTP, *, timeout: float = 5.0, **config: Any) -> EmailSink:
    raw: dict[str, Any] = {
        "to": "Oncall <oncall@example.org>, ops@example.org",
        "from": "Alertmedic <alertmedic@alerts.example.com>",
        "smarthost": f"{server.host}:{server.port}",
        "require_tls": False,
    }
    raw.update(config)
    return EmailSink(EmailConfig.model_validate(raw), send_timeout=timeout)


def tls_config(server: FakeSMTP, **extra: Any) -> dict[str, Any]:
    return {
        "require_tls": True,
        "auth_username": SMTP_USERNAME,
        "auth_password": SMTP_PASSWORD,
        "tls_config": {"ca_file": str(server.ca_path), **extra},
    }


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


async def test_plain_smtp_multipart(smtp_server: FakeSMTP) -> None:
    group = make_group([make_alert(0, annotations={"summary": "<b>bold</b> & co"})])
    ref = await make_sink(smtp_server).send(delivery(group))
    [mail] = await smtp_server.wait_for_messages(1)
    msg = mail.message
    assert mail.mail_from == "alertmedic@alerts.example.com"
    assert mail.rcpt_tos == ["oncall@example.org", "ops@example.org"]
    assert not mail.tls and mail.login is None
    assert msg["Subject"] == "[FIRING:1] ModelLatencyHigh (prod)"
    assert msg["From"] == "Alertmedic <alertmedic@alerts.example.com>"
    assert msg["To"] == "Oncall <oncall@example.org>, ops@example.org"
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert msg["Message-ID"].endswith("@alerts.example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["In-Reply-To"] is None and msg["References"] is None
    text, html = _parts(msg)
    assert "<b>bold</b> & co" in text and EXTERNAL_URL in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    assert ref == {"message_id": msg["Message-ID"], "references": []}


async def test_resolved_mail_threads_on_previous(smtp_server: FakeSMTP) -> None:
    sink = make_sink(smtp_server)
    first = await sink.send(delivery(firing(1)))
    second = await sink.send(delivery(firing(2), previous=first))
    third = await sink.send(delivery(resolved(2), kind="update", previous=second))
    mails = await smtp_server.wait_for_messages(3)
    assert first is not None and second is not None and third is not None
    m1, m2, m3 = (m.message for m in mails)
    assert m2["In-Reply-To"] == m1["Message-ID"] and m2["References"] == m1["Message-ID"]
    assert m3["In-Reply-To"] == m2["Message-ID"]
    assert m3["References"] == f"{m1['Message-ID']} {m2['Message-ID']}"
    assert m3["Subject"] == "[RESOLVED] ModelLatencyHigh (prod)"
    assert third == {"message_id": m3["Message-ID"], "references": [m1["Message-ID"], m2["Message-ID"]]}


async def test_starttls_and_auth(smtp_server_tls: FakeSMTP) -> None:
    await make_sink(smtp_server_tls, **tls_config(smtp_server_tls)).send(delivery(firing(1)))
    [mail] = await smtp_server_tls.wait_for_messages(1)
    assert mail.tls and mail.login == SMTP_USERNAME


async def test_starttls_with_server_name(smtp_server_tls: FakeSMTP) -> None:
    sink = make_sink(smtp_server_tls, **tls_config(smtp_server_tls, server_name="localhost"))
    await sink.send(delivery(firing(1)))
    assert len(await smtp_server_tls.wait_for_messages(1)) == 1


async def test_wrong_server_name_fails_verification(smtp_server_tls: FakeSMTP) -> None:
    sink = make_sink(smtp_server_tls, **tls_config(smtp_server_tls, server_name="evil.example"))
    with pytest.raises(PermanentError) as info:
        await sink.send(delivery(firing(1)))
    assert info.value.reason == "tls"


async def test_untrusted_certificate_and_skip_verify(smtp_server_tls: FakeSMTP) -> None:
    config = tls_config(smtp_server_tls)
    config["tls_config"] = {}
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server_tls, **config).send(delivery(firing(1)))
    assert info.value.reason == "tls"
    config["tls_config"] = {"insecure_skip_verify": True}
    await make_sink(smtp_server_tls, **config).send(delivery(firing(1)))
    assert len(await smtp_server_tls.wait_for_messages(1)) == 1


async def test_wrong_password_is_permanent_and_scrubbed(smtp_server_tls: FakeSMTP) -> None:
    config = tls_config(smtp_server_tls)
    config["auth_password"] = "not-the-password-xyz"
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server_tls, **config).send(delivery(firing(1)))
    assert info.value.reason == "unauthorized" and "535" in str(info.value)
    assert "not-the-password-xyz" not in str(info.value)


async def test_auth_required_without_credentials_is_permanent(smtp_server_tls: FakeSMTP) -> None:
    config = tls_config(smtp_server_tls)
    del config["auth_username"], config["auth_password"]
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server_tls, **config).send(delivery(firing(1)))
    assert info.value.reason == "unauthorized" and "530" in str(info.value)


async def test_require_tls_without_starttls_is_permanent(smtp_server: FakeSMTP) -> None:
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server, require_tls=True).send(delivery(firing(1)))
    assert info.value.reason == "tls" and "STARTTLS" in str(info.value)
    assert smtp_server.messages() == []


@pytest.mark.parametrize("stage", ["DATA", "MAIL"])
async def test_temporary_failure_is_retryable(smtp_server: FakeSMTP, stage: str) -> None:
    smtp_server.fail_next(code=451, stage=stage)
    with pytest.raises(RetryableError) as info:
        await make_sink(smtp_server).send(delivery(firing(1)))
    assert info.value.reason == "smtp_4xx" and "451" in str(info.value)


@pytest.mark.parametrize("stage", ["DATA", "MAIL"])
async def test_permanent_failure_is_permanent(smtp_server: FakeSMTP, stage: str) -> None:
    smtp_server.fail_next(code=550, stage=stage)
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server).send(delivery(firing(1)))
    assert info.value.reason == "rejected" and "550" in str(info.value)


async def test_all_recipients_refused(smtp_server: FakeSMTP) -> None:
    smtp_server.fail_next(2, code=550, stage="RCPT")
    with pytest.raises(PermanentError) as info:
        await make_sink(smtp_server).send(delivery(firing(1)))
    assert "oncall@example.org" in str(info.value)


async def test_some_recipients_refused_still_delivers(
    smtp_server: FakeSMTP, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.fail_next(1, code=550, stage="RCPT")
    assert await make_sink(smtp_server).send(delivery(firing(1))) is not None
    [mail] = await smtp_server.wait_for_messages(1)
    assert mail.rcpt_tos == ["ops@example.org"]
    assert "some recipients refused" in caplog.text


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = FakeSMTP()
    server.port = port  # nothing listens there
    with pytest.raises(RetryableError) as info:
        await make_sink(server, timeout=2.0).send(delivery(firing(1)))
    assert info.value.reason == "network"


async def test_custom_subject_headers_and_bodies(smtp_server: FakeSMTP) -> None:
    sink = make_sink(
        smtp_server,
        headers={
            "Subject": "{{ status|upper }} {{ num_firing }} x\r\nBcc: evil",
            "X-Team": "sre-{{ common_labels.namespace }}",
            "Message-ID": "<forged@example.org>",
        },
        text="{{ alerts|length }} alerts",
        html="<p>{{ title }}</p>",
    )
    ref = await sink.send(delivery(firing(3)))
    [mail] = await smtp_server.wait_for_messages(1)
    msg = mail.message
    assert msg["Subject"] == "FIRING 3 x Bcc: evil"  # folded: no header injection
    assert msg["Bcc"] is None and msg["X-Team"] == "sre-prod"
    assert ref is not None and msg["Message-ID"] == ref["message_id"] != "<forged@example.org>"
    text, html = _parts(msg)
    assert text.rstrip() == "3 alerts"
    assert html.rstrip() == "<p>[FIRING:3] ModelLatencyHigh (prod)</p>"


class _Collect:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
async def smtps_server(smtp_tls_cert: tuple[Path, Path]) -> AsyncIterator[tuple[int, _Collect]]:
    """SMTP over implicit TLS (what port 465 speaks), on a free loopback port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(smtp_tls_cert[0]), str(smtp_tls_cert[1]))
    handler = _Collect()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context)
    await asyncio.to_thread(controller.start)
    yield port, handler
    await asyncio.to_thread(controller.stop)


@pytest.mark.parametrize("server_name", [None, "localhost"])
async def test_implicit_tls(
    smtps_server: tuple[int, _Collect], smtp_tls_cert: tuple[Path, Path], server_name: str | None
) -> None:
    port, handler = smtps_server
    config = EmailConfig.model_validate(
        {
            "to": "oncall@example.org",
            "from": "am@example.com",
            "smarthost": f"127.0.0.1:{port}",
            "tls_config": {"ca_file": str(smtp_tls_cert[0]), "server_name": server_name},
        }
    )
    sink = EmailSink(config, send_timeout=5.0, implicit_tls=True)
    await sink.send(delivery(firing(1)))
    assert [e.rcpt_tos for e in handler.envelopes] == [["oncall@example.org"]]


async def test_implicit_tls_against_plain_server_is_retryable(smtp_server: FakeSMTP) -> None:
    config = EmailConfig.model_validate(
        {
            "to": "oncall@example.org",
            "from": "am@example.com",
            "smarthost": f"{smtp_server.host}:{smtp_server.port}",
        }
    )
    with pytest.raises(RetryableError) as info:
        await EmailSink(config, send_timeout=2.0, implicit_tls=True).send(delivery(firing(1)))
    assert info.value.reason in ("network", "timeout")


def test_no_rate_limits(smtp_server: FakeSMTP) -> None:
    assert make_sink(smtp_server).rate_limits() == []


async def test_a_reply_threads_on_the_groups_last_mail(smtp_server: FakeSMTP) -> None:
    sink = make_sink(smtp_server)
    first = await sink.send(delivery(firing(1)))
    second = await sink.send(delivery(firing(2), previous=first))
    line = "🔧 rollout restart prod/model-api: complete in 41 s (3/3 pods updated and available)"
    await sink.reply("oncall/email[0]", line, second)
    await sink.reply("oncall/email[0]", line, None)  # no message sent yet: a plain mail
    m1, m2, m3, m4 = (m.message for m in await smtp_server.wait_for_messages(4))
    assert m3["In-Reply-To"] == m2["Message-ID"]
    assert m3["References"] == f"{m1['Message-ID']} {m2['Message-ID']}"
    assert m3["Subject"] == line and m3.get_content().strip() == line
    assert m4["In-Reply-To"] is None and m4["Subject"] == line
