"""A local SMTP server (aiosmtpd) that accepts every mail and prints it: the demo's inbox.

Run: `python -m demo.smtp_print --port 2525 [--jsonl mails.jsonl]`. Each mail is printed to
stdout as a block (envelope, subject and the text/plain part); with `--jsonl` it is also
appended to that file as one JSON object per line (what the tests read, see `read_mails`).
Plain SMTP, no authentication, no TLS, 127.0.0.1 only: for demos, never a real relay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, TextIO

from aiosmtpd.smtp import SMTP, Envelope, Session

HOSTNAME = "smtp-print.localhost"
"""Given to aiosmtpd so that it never looks up the machine's FQDN (DNS, possibly offline)."""


@dataclass(frozen=True)
class Mail:
    received_at: str
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    text: str


def parse_mail(envelope: Envelope) -> Mail:
    """The envelope's sender, recipients, subject and text/plain body (or a note if none)."""
    raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
    message = message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else "(no text/plain part)"
    return Mail(
        received_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        mail_from=str(envelope.mail_from),
        rcpt_tos=[str(r) for r in envelope.rcpt_tos],
        subject=str(message.get("Subject", "(no subject)")),
        text=str(text).rstrip(),
    )


def format_mail(mail: Mail, number: int) -> str:
    """The block printed for one mail."""
    when = mail.received_at[11:19]
    return (
        f"===== mail #{number} received {when} =====\n"
        f"From: {mail.mail_from}\nTo: {', '.join(mail.rcpt_tos)}\nSubject: {mail.subject}\n\n"
        f"{mail.text}\n===== end of mail #{number} =====\n"
    )


def read_mails(path: Path) -> list[Mail]:
    """The mails a `--jsonl` file holds so far (a half-written last line is skipped)."""
    if not path.exists():
        return []
    mails = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            mails.append(Mail(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return mails


class PrintingHandler:
    """aiosmtpd handler: accepts every mail, prints it, optionally appends it as JSON."""

    def __init__(self, out: TextIO, jsonl: Path | None = None) -> None:
        self.out = out
        self.jsonl = jsonl
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = parse_mail(envelope)
        self.count += 1
        self.out.write(format_mail(mail, self.count) + "\n")
        self.out.flush()
        if self.jsonl is not None:
            with self.jsonl.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(mail)) + "\n")
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, handler: PrintingHandler, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or SIGINT / SIGTERM when `stop` is None)."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

    def factory() -> Any:
        return SMTP(handler, hostname=HOSTNAME, ident="demo smtp_print")

    server = await loop.create_server(factory, host=host, port=port)
    print(f"smtp_print: listening on {host}:{port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m demo.smtp_print", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2525)
    p.add_argument("--jsonl", type=Path, default=None, help="also append each mail to this file as JSON")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args.host, args.port, PrintingHandler(sys.stdout, args.jsonl)))


if __name__ == "__main__":
    main()
