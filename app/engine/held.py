"""Work that must run on one replica only (Telegram long polling: one poller per bot, else 409):
it runs while this replica holds a named lease in the store, renewed every lease/3. The others
stand by, asking every lease/3, and take it over within lease + lease/3 of the holder's death; a
graceful stop gives the lease back, so another replica takes it within lease/3.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.core.clock import Clock
from app.store.base import Store, StoreUnavailable

log = logging.getLogger("alertmedic.replicas")


async def _holds(store: Store, name: str, owner: str, clock: Clock, lease: float) -> bool:
    try:
        return await store.hold_lease(name, owner=owner, now=clock.now(), lease=lease)
    except StoreUnavailable as exc:  # cannot tell who holds it: behave as not holding it
        log.warning("cannot renew a lease", extra={"lease": name, "error": str(exc)})
        return False


async def run_while_held(
    store: Store,
    name: str,
    *,
    owner: str,
    clock: Clock,
    lease: float,
    work: Callable[[], Awaitable[None]],
) -> None:
    """Run `work()` while `owner` holds the lease `name`; stop it as soon as a renewal fails
    (another replica may take over once the lease ends). Runs until cancelled."""
    holding = False
    try:
        while True:
            holding = await _holds(store, name, owner, clock, lease)
            if not holding:
                await clock.sleep(lease / 3)
                continue
            log.info("lease taken: this replica runs it", extra={"lease": name, "owner": owner})
            task = asyncio.ensure_future(work())
            try:
                while holding and not task.done():
                    renew = asyncio.ensure_future(clock.sleep(lease / 3))
                    try:
                        await asyncio.wait([task, renew], return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        renew.cancel()
                    if not task.done():
                        holding = await _holds(store, name, owner, clock, lease)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            if not holding:
                log.warning("lease lost: this replica stands by", extra={"lease": name, "owner": owner})
                continue
            if not task.cancelled() and (exc := task.exception()) is not None:
                log.error("leased work failed; starting it again", extra={"lease": name, "error": str(exc)})
            await clock.sleep(lease / 3)
    finally:
        if holding:
            with contextlib.suppress(Exception):
                await store.drop_lease(name, owner=owner)
