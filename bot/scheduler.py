"""Running the weekly slot: publishing at it, and catching up on one missed while the bot was down.

:mod:`bot.schedule` says when the slots are (``DLW_PUBLISH_SCHEDULE`` in ``DLW_TIMEZONE``); this
module only sleeps until the next slot and asks the :class:`~bot.publishing.Publisher` to publish
the newest issue not yet published.

The last slot handled is kept in the store (``meta``), so a restart after a missed slot publishes
once at start, and several processes share the same view. A process takes a slot before
publishing it with a compare-and-set in the store, so of several processes reaching the same
slot exactly one publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from bot.model import utcnow
from bot.publishing import Publisher, PublishResult
from bot.schedule import Schedule
from bot.store import Store, StoreError

__all__ = [
    "LAST_SLOT_KEY",
    "WeeklyPublisher",
]

log = logging.getLogger(__name__)

LAST_SLOT_KEY = "schedule.last_slot"


class WeeklyPublisher:
    """Publishes at every slot of ``schedule``; catches up once at start after downtime."""

    def __init__(
        self,
        schedule: Schedule,
        publisher: Publisher,
        store: Store,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        max_sleep: float = 3600.0,
    ) -> None:
        self.schedule = schedule
        self.publisher = publisher
        self.store = store
        self._now = clock
        self.max_sleep = max_sleep  # re-check the clock at least this often (suspend, clock jumps)

    async def catch_up(self) -> PublishResult | None:
        """At start: publish once if a slot passed since the last one handled.

        A database that has never seen a slot only records the latest one: there is nothing to
        catch up on (and the baseline keeps old issues from being sent).
        """
        now = self._now()
        previous = self.schedule.previous(now)
        stored = await self.store.get_meta(LAST_SLOT_KEY)
        if previous is None:
            return None
        if stored is None:
            await self.store.set_meta(LAST_SLOT_KEY, previous.isoformat())
            return None
        if dt.datetime.fromisoformat(stored) >= previous:
            return None
        if not await self._take(previous, stored):
            return None
        log.info("the slot of %s passed while the bot was down; catching up", previous.isoformat())
        try:
            result = await self.publisher.publish(trigger="catch-up")
        except BaseException:
            await self._give_back(previous, stored)
            raise
        log.info("catch-up: %s", result.message)
        return result

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.publisher.ensure_baseline()
        await self.catch_up()
        log.info("weekly publishing: %s", self.schedule.describe())
        while not stop.is_set():
            slot = self.schedule.next_after(self._now())
            while not stop.is_set() and (wait := (slot - self._now()).total_seconds()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(wait, self.max_sleep))
            if stop.is_set():
                return
            await self.publish_slot(slot)

    async def publish_slot(self, slot: dt.datetime) -> PublishResult | None:
        """Publish for ``slot`` unless it was handled already (by another process, say)."""
        stored = await self.store.get_meta(LAST_SLOT_KEY)
        if stored is not None and dt.datetime.fromisoformat(stored) >= slot:
            return None
        if not await self._take(slot, stored):
            return None
        try:
            result = await self.publisher.publish(trigger="schedule")
        except Exception:  # the next slot must still come; the error is in the log
            log.exception("scheduled publication at %s failed", slot.isoformat())
            await self._give_back(slot, stored)
            return None
        log.info("weekly slot %s: %s", slot.isoformat(), result.message)
        return result

    async def _take(self, slot: dt.datetime, stored: str | None) -> bool:
        """Record ``slot`` as handled if the record still says ``stored``: of several processes
        reaching the same slot exactly one wins (a compare-and-set in the store) and publishes;
        the others leave it, even if a new issue arrived in between."""
        if await self.store.replace_meta(LAST_SLOT_KEY, slot.isoformat(), expected=stored):
            return True
        log.info("slot %s: taken by another process", slot.isoformat())
        return False

    async def _give_back(self, slot: dt.datetime, stored: str | None) -> None:
        """A publication that failed leaves its slot unhandled again, so the catch-up at the
        next start tries once more (unless the store is what failed: then it stays taken)."""
        with contextlib.suppress(StoreError):
            await self.store.replace_meta(LAST_SLOT_KEY, stored, expected=slot.isoformat())
