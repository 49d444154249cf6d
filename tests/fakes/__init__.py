"""Fakes of the external services alertmedic talks to.

Every fake is a *real* server bound to ``127.0.0.1`` on an ephemeral port, speaking the
real wire format, so the real client libraries (python-telegram-bot, aiohttp, aiosmtplib, kubernetes)
are exercised end to end. Pytest fixtures live in :mod:`tests.fakes.fixtures`.
"""

from tests.fakes.base import FakeHTTPServer, Injection, RecordedRequest
from tests.fakes.kubernetes import FakeKubernetes, RolloutScript
from tests.fakes.loki import FakeLoki, LogQLQuery
from tests.fakes.slack import FakeSlack, SlackMessage, sign, signed_headers
from tests.fakes.smtp import FakeSMTP, ReceivedMail, make_self_signed_cert
from tests.fakes.telegram import FakeTelegram, TgMessage, parse_telegram_html
from tests.fakes.webhook import WebhookDelivery, WebhookSink

__all__ = [
    "FakeHTTPServer",
    "FakeKubernetes",
    "FakeLoki",
    "FakeSMTP",
    "FakeSlack",
    "FakeTelegram",
    "Injection",
    "LogQLQuery",
    "ReceivedMail",
    "RecordedRequest",
    "RolloutScript",
    "SlackMessage",
    "TgMessage",
    "WebhookDelivery",
    "WebhookSink",
    "make_self_signed_cert",
    "parse_telegram_html",
    "sign",
    "signed_headers",
]
