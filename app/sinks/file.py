"""File sink: appends each notification, rendered as plain text, to a local file.

For `make run` (see a notification without any account) and as a local audit trail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.config import FileConfig
from app.core.errors import RetryableError
from app.core.render import render_email
from app.sinks.base import BuildContext, Capabilities, Delivery, Integration, MessageRef, RateLimit


class FileSink:
    integration = "file"

    def __init__(self, config: FileConfig) -> None:
        self.path = config.path

    def rate_limits(self) -> list[RateLimit]:
        return []

    async def send(self, delivery: Delivery) -> MessageRef | None:
        content = render_email(delivery.group, kind=delivery.kind)
        what = "update" if delivery.kind == "update" else "new message"
        block = f"===== {delivery.destination} ({what}) =====\n{content.text}\n"
        try:
            await asyncio.to_thread(_append, self.path, block)
        except OSError as exc:
            raise RetryableError(f"cannot write {self.path}: {exc.strerror}", reason="io") from None
        return None

    async def aclose(self) -> None:
        return None


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def _build(config: FileConfig, context: BuildContext) -> FileSink:
    return FileSink(config)


INTEGRATION = Integration("file", FileConfig, Capabilities(edits_in_place=False, threads=False), _build)
