"""File sink: appends each notification, rendered as plain text, to a local file.

For `make run` (see a notification without any account) and as a local audit trail. The text is
the email's plain body (with the enrichment's log lines and notes, no graph): values cleaned of
control characters and cut; each line is capped too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from app.config import FileConfig
from app.core.enrichment_render import log_text
from app.core.errors import RetryableError
from app.core.render import render_email
from app.core.sanitize import cut
from app.sinks.base import BuildContext, Capabilities, Delivery, Integration, MessageRef, RateLimit

FILE_LINE_LIMIT = 4096
"""Characters of one line written: a reader (tail, grep, an editor) never meets a huge line."""


class FileSink:
    integration = "file"

    def __init__(self, config: FileConfig, *, clock: Callable[[], float] = time.time) -> None:
        """`clock` gives the render time ("firing for 17m") as Unix seconds."""
        self.path = config.path
        self.clock = clock

    def rate_limits(self) -> list[RateLimit]:
        return []

    async def send(self, delivery: Delivery) -> MessageRef | None:
        now = datetime.fromtimestamp(self.clock(), UTC)
        content = render_email(delivery.group, kind=delivery.kind, now=now)
        what = "update" if delivery.kind == "update" else "new message"
        text = content.text
        if delivery.enrichment is not None and not delivery.enrichment.empty:
            text = f"{text.rstrip()}\n\n{log_text(delivery.enrichment)}"
        lines = [f"===== {delivery.destination} ({what}) =====", *text.split("\n")]
        block = "\n".join(cut(line, FILE_LINE_LIMIT) for line in lines) + "\n"
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
