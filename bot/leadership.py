"""One process at a time: leadership held as a named, expiring lease in the shared store.

Several processes sharing one database each run a :class:`Leadership` for the same name; the
one whose :meth:`~bot.store.Leases.take_lease` succeeds leads and renews every third of the
lease, the others keep asking at the same pace. A leader that dies (SIGKILL, lost host) stops
renewing and another takes over once the lease ran out: at most ``seconds`` plus one renewal
later. A leader that can't renew (the database is busy or down) steps down on its own before
its lease expires, so two never lead at once for longer than the clocks disagree.

Used for Telegram's long polling (one ``getUpdates`` consumer per bot token) and for the
content watcher's operator notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.store.protocols import Leases

__all__ = ["Leadership"]

log = logging.getLogger(__name__)


async def _nothing() -> None:
    return None


class Leadership:
    """Lead ``name`` among the processes sharing ``leases`` while :meth:`run` runs.

    ``on_elected`` is awaited when this process becomes the leader (e.g. start polling; it
    should return once started), ``on_deposed`` when it stops being one (the lease was lost or
    :meth:`run` is cancelled). :attr:`held` says whether it leads now; :attr:`decided` is set
    once the first attempt is over (won and started, or lost).
    """

    def __init__(
        self,
        leases: Leases,
        name: str,
        holder: str,
        *,
        seconds: float = 30.0,
        on_elected: Callable[[], Awaitable[None]] = _nothing,
        on_deposed: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        self.leases = leases
        self.name = name
        self.holder = holder
        self.seconds = seconds
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.held = False
        self.decided = asyncio.Event()
        self._held_until = 0.0  # loop time the lease runs out if not renewed

    async def run(self) -> None:
        """Take, renew or wait for the lease until cancelled; steps down on the way out."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                asked = loop.time()
                try:
                    won = await self.leases.take_lease(self.name, self.holder, self.seconds)
                except Exception as exc:  # a busy or lost database: keep what the lease covers
                    log.warning("lease %s: could not renew or take it: %s", self.name, exc)
                    won = None
                if won:
                    self._held_until = asked + self.seconds
                    if not self.held and await self._take_office():
                        self.held = True
                        log.info("lease %s: %s leads", self.name, self.holder)
                elif self.held and (won is False or loop.time() >= self._held_until - self._pace):
                    log.warning("lease %s: %s is no longer the leader", self.name, self.holder)
                    await self._step_down()
                self.decided.set()
                await asyncio.sleep(self._pace)
        finally:
            self.decided.set()
            if self.held:
                await self._step_down()
                with contextlib.suppress(Exception):  # hand it on at once; else it expires
                    await self.leases.release_lease(self.name, self.holder)

    async def _take_office(self) -> bool:
        """Start leading; if that fails (the platform is unreachable just now) the lease is
        handed back, so another process may do better, and this one tries again later."""
        try:
            await self.on_elected()
        except Exception:
            log.exception(
                "lease %s: %s could not start leading; letting go", self.name, self.holder
            )
            with contextlib.suppress(Exception):
                await self.leases.release_lease(self.name, self.holder)
            return False
        return True

    @property
    def _pace(self) -> float:
        return self.seconds / 3

    async def _step_down(self) -> None:
        self.held = False
        try:
            await self.on_deposed()
        except Exception:
            log.exception("lease %s: stepping down failed", self.name)
