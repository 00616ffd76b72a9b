"""The weekly slot: when to publish, and catching up on a slot missed while the bot was down.

``DLW_PUBLISH_SCHEDULE`` is ``DAYS HH:MM`` in ``DLW_TIMEZONE``: ``wed 16:00``, ``mon,thu 09:30``,
``mon-fri 08:00`` or ``daily 07:00``. APScheduler's :class:`~apscheduler.triggers.cron.CronTrigger`
does the calendar arithmetic (time zones, daylight-saving changes); this module only sleeps until
the next slot and asks the :class:`~bot.publishing.Publisher` to publish the newest issue not yet
published.

The last slot handled is kept in the store (``meta``), so a restart after a missed slot publishes
once at start, and several processes share the same view. Publishing is idempotent, so two
processes reaching the same slot publish once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.config import Settings
from bot.errors import DlwError
from bot.model import utcnow
from bot.publishing import Publisher, PublishResult, status_reply
from bot.reply import Reply
from bot.store import Store

__all__ = [
    "LAST_SLOT_KEY",
    "Schedule",
    "ScheduleError",
    "WeeklyPublisher",
    "configured_schedule",
    "publishing_status",
]

log = logging.getLogger(__name__)

LAST_SLOT_KEY = "schedule.last_slot"
_SPEC = re.compile(r"^\s*(?P<days>[A-Za-z*,\-]+)\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$")
_DAY_ALIASES = {"daily": "*", "everyday": "*", "weekdays": "mon-fri", "weekends": "sat,sun"}
_DAY_NAMES = {
    "mon": "Mondays",
    "tue": "Tuesdays",
    "wed": "Wednesdays",
    "thu": "Thursdays",
    "fri": "Fridays",
    "sat": "Saturdays",
    "sun": "Sundays",
}


class ScheduleError(DlwError, ValueError):
    """A schedule or time zone that can't be understood; the message says what is expected."""


@dataclass(frozen=True)
class Schedule:
    spec: str
    timezone: ZoneInfo
    trigger: CronTrigger

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> Schedule:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"unknown time zone {timezone!r}: use an IANA name such as UTC or Europe/Berlin"
            ) from None
        match = _SPEC.match(spec)
        if match is None:
            raise ScheduleError(
                f"can't read the schedule {spec!r}: expected DAYS HH:MM, e.g. 'wed 16:00', "
                "'mon,thu 09:30' or 'daily 07:00'"
            )
        days = match["days"].lower()
        days = _DAY_ALIASES.get(days, days)
        hour, minute = int(match["hour"]), int(match["minute"])
        if hour > 23 or minute > 59:
            raise ScheduleError(f"{match['hour']}:{match['minute']} is not a time of day")
        try:
            trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=zone)
        except ValueError as exc:
            raise ScheduleError(
                f"can't read the days {match['days']!r} ({exc}): use mon..sun, ranges such as "
                "mon-fri, lists such as mon,thu, or daily"
            ) from None
        return cls(spec=spec.strip(), timezone=zone, trigger=trigger)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The first slot strictly after ``moment``."""
        following: dt.datetime | None = self.trigger.get_next_fire_time(
            None, moment + dt.timedelta(microseconds=1)
        )
        if following is None:  # a cron with days and a time always has a next slot
            raise ScheduleError(f"the schedule {self.spec!r} has no next slot")
        return following.astimezone(dt.UTC)

    def previous(self, moment: dt.datetime) -> dt.datetime | None:
        """The last slot at or before ``moment`` (within the week before it)."""
        slot = self.next_after(moment - dt.timedelta(days=8))
        last: dt.datetime | None = None
        while slot <= moment:
            last = slot
            slot = self.next_after(slot)
        return last

    def describe(self) -> str:
        """E.g. "Wednesdays at 16:00 (Europe/Berlin)"."""
        days, _, time = self.spec.partition(" ")
        days = days.lower()
        named = _DAY_NAMES.get(days)
        if named is None:
            named = "every day" if _DAY_ALIASES.get(days, days) == "*" else days
        return f"{named} at {time.strip()} ({self.timezone.key})"


def configured_schedule(settings: Settings) -> Schedule | None:
    """The schedule ``settings`` ask for, or ``None`` when scheduled publishing is off."""
    if not settings.scheduled:
        return None
    return Schedule.parse(settings.publish_schedule, settings.timezone)


async def publishing_status(store: Store, settings: Settings) -> Reply:
    """``/status`` and ``dlw-bot status``: the configured schedule, then the store's view."""
    schedule = configured_schedule(settings)
    return await status_reply(
        store,
        schedule=schedule.describe() if schedule else None,
        next_slot=schedule.next_after(utcnow()) if schedule else None,
    )


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
        log.info("the slot of %s passed while the bot was down; catching up", previous.isoformat())
        result = await self.publisher.publish(trigger="catch-up")
        await self.store.set_meta(LAST_SLOT_KEY, previous.isoformat())
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
        try:
            result = await self.publisher.publish(trigger="schedule")
        except Exception:  # the next slot must still come; the error is in the log
            log.exception("scheduled publication at %s failed", slot.isoformat())
            return None
        await self.store.set_meta(LAST_SLOT_KEY, slot.isoformat())
        log.info("weekly slot %s: %s", slot.isoformat(), result.message)
        return result
