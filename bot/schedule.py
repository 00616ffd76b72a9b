"""The weekly slot: ``DAYS HH:MM`` in a time zone, and the slots before and after a moment.

``wed 16:00``, ``mon,thu 09:30``, ``mon-fri 08:00`` or ``daily 07:00``. APScheduler's
:class:`~apscheduler.triggers.cron.CronTrigger` does the calendar arithmetic (time zones,
daylight-saving changes). The module depends on nothing else of the project but the error base,
so settings can check a schedule without loading publishing (:mod:`bot.scheduler` runs it).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from bot.errors import DlwError

__all__ = ["Schedule", "ScheduleError"]

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
    """A parsed ``DLW_PUBLISH_SCHEDULE``: when the weekly post goes out."""

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
