"""FakeSMTP driven by aiosmtplib."""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.fakes.fixtures import SMTP_PASSWORD, SMTP_USERNAME, SmtpFactory
from tests.fakes.smtp import FakeSMTP


def make_mail(subject: str = "[FIRING:1] DiskFull") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "alertmedic@example.test"
    msg["To"] = "oncall@example.test"
    msg["Subject"] = subject
    msg.set_content("plain body ✓")
    msg.add_alternative("<p>html body</p>", subtype="html")
    return msg


async def test_plain_delivery(smtp_server: FakeSMTP) -> None:
    await aiosmtplib.send(make_mail(), hostname=smtp_server.host, port=smtp_server.port)
    [mail] = await smtp_server.wait_for_messages(1)
    assert mail.mail_from == "alertmedic@example.test"
    assert mail.rcpt_tos == ["oncall@example.test"]
    assert mail.message["Subject"] == "[FIRING:1] DiskFull"
    body = mail.message.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "plain body ✓"
    assert mail.tls is False and mail.login is None


async def test_starttls_and_auth(smtp_server_tls: FakeSMTP) -> None:
    assert smtp_server_tls.ca_path is not None
    await aiosmtplib.send(
        make_mail(),
        hostname=smtp_server_tls.host,
        port=smtp_server_tls.port,
        start_tls=True,
        cert_bundle=str(smtp_server_tls.ca_path),
        username=SMTP_USERNAME,
        password=SMTP_PASSWORD,
    )
    [mail] = await smtp_server_tls.wait_for_messages(1)
    assert mail.tls is True and mail.login == SMTP_USERNAME
    assert smtp_server_tls.auth_attempts == [(SMTP_USERNAME, True)]


async def test_tls_context_is_strictly_verifiable(smtp_server_tls: FakeSMTP) -> None:
    context = smtp_server_tls.client_tls_context()
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13 enables this by default
    await aiosmtplib.send(
        make_mail(),
        hostname="127.0.0.1",
        port=smtp_server_tls.port,
        start_tls=True,
        tls_context=context,
        username=SMTP_USERNAME,
        password=SMTP_PASSWORD,
    )
    assert len(await smtp_server_tls.wait_for_messages(1)) == 1


async def test_auth_failures(smtp_server_tls: FakeSMTP) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await aiosmtplib.send(
            make_mail(),
            hostname=smtp_server_tls.host,
            port=smtp_server_tls.port,
            start_tls=True,
            cert_bundle=str(smtp_server_tls.ca_path),
            username=SMTP_USERNAME,
            password="wrong",
        )
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as info:  # no AUTH at all
        await aiosmtplib.send(
            make_mail(),
            hostname=smtp_server_tls.host,
            port=smtp_server_tls.port,
            start_tls=True,
            cert_bundle=str(smtp_server_tls.ca_path),
        )
    assert info.value.code == 530
    with pytest.raises(ssl.SSLCertVerificationError):  # the cert is not publicly trusted
        await aiosmtplib.send(
            make_mail(), hostname=smtp_server_tls.host, port=smtp_server_tls.port, start_tls=True
        )
    assert smtp_server_tls.messages() == []


async def test_auth_without_tls(smtp_server_factory: SmtpFactory) -> None:
    server = await smtp_server_factory(username="u", password="p", auth_required=True, auth_require_tls=False)
    await aiosmtplib.send(make_mail(), hostname=server.host, port=server.port, username="u", password="p")
    [mail] = await server.wait_for_messages(1)
    assert mail.login == "u" and mail.tls is False


async def test_injected_failures(smtp_server: FakeSMTP) -> None:
    smtp_server.fail_next(1, 451)
    with pytest.raises(aiosmtplib.SMTPDataError) as data_error:
        await aiosmtplib.send(make_mail(), hostname=smtp_server.host, port=smtp_server.port)
    assert data_error.value.code == 451
    smtp_server.fail_next(1, 550, "5.1.1 No such user", stage="RCPT")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as rcpt_error:
        await aiosmtplib.send(make_mail(), hostname=smtp_server.host, port=smtp_server.port)
    assert rcpt_error.value.recipients[0].code == 550
    assert smtp_server.rejected == [
        ("DATA", "451 4.3.0 Temporary failure, try again later"),
        ("RCPT", "550 5.1.1 No such user"),
    ]
    await aiosmtplib.send(make_mail("retry"), hostname=smtp_server.host, port=smtp_server.port)
    [mail] = await smtp_server.wait_for_messages(1)
    assert mail.message["Subject"] == "retry"


async def test_wait_times_out(smtp_server: FakeSMTP) -> None:
    with pytest.raises(TimeoutError, match="0/1"):
        await smtp_server.wait_for_messages(1, timeout=0.05)


async def test_factory_tls_without_auth(smtp_server_factory: SmtpFactory) -> None:
    server = await smtp_server_factory(tls=True, require_starttls=True)
    with pytest.raises(aiosmtplib.SMTPResponseException) as info:  # STARTTLS is mandatory
        await aiosmtplib.send(make_mail(), hostname=server.host, port=server.port, start_tls=False)
    assert info.value.code == 530
    await aiosmtplib.send(
        make_mail(), hostname=server.host, port=server.port, tls_context=server.client_tls_context()
    )
    [mail] = await server.wait_for_messages(1)
    assert mail.tls is True and mail.login is None
