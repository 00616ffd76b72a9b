"""The weekly slot: schedule parsing, slot arithmetic across time zones, catch-up, the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import yaml

from bot.app import App
from bot.config import Settings
from bot.schedule import Schedule, ScheduleError
from bot.scheduler import LAST_SLOT_KEY, WeeklyPublisher

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_issue(content_dir: Path, number: int) -> None:
    source = yaml.safe_load((content_dir / "issues" / "0206.yaml").read_text())
    source["number"], source["title"] = number, f"Deep Learning Weekly: Issue #{number}"
    (content_dir / "issues" / f"{number:04d}.yaml").write_text(yaml.safe_dump(source))


@pytest.mark.parametrize(
    ("spec", "zone", "now", "following"),
    [
        ("wed 16:00", "UTC", "2026-11-23 12:00", "2026-11-25 16:00"),
        ("wed 16:00", "UTC", "2026-11-25 16:00", "2026-12-02 16:00"),  # strictly after
        ("wed 16:00", "Europe/Berlin", "2026-11-23 12:00", "2026-11-25 15:00"),  # CET
        ("wed 16:00", "Europe/Berlin", "2026-07-06 12:00", "2026-07-08 14:00"),  # CEST
        ("mon,thu 09:30", "UTC", "2026-11-24 00:00", "2026-11-26 09:30"),
        ("daily 07:00", "America/New_York", "2026-11-23 13:00", "2026-11-24 12:00"),
        ("WED 8:05", "UTC", "2026-11-23 12:00", "2026-11-25 08:05"),
    ],
)
def test_next_slot(spec: str, zone: str, now: str, following: str) -> None:
    assert Schedule.parse(spec, zone).next_after(at(now)) == at(following)


def test_previous_slot_and_description() -> None:
    schedule = Schedule.parse("wed 16:00", "Europe/Berlin")
    assert schedule.previous(at("2026-11-23 12:00")) == at("2026-11-18 15:00")
    assert schedule.previous(at("2026-11-25 15:00")) == at("2026-11-25 15:00")
    assert schedule.describe() == "Wednesdays at 16:00 (Europe/Berlin)"
    assert Schedule.parse("daily 07:00").describe() == "every day at 07:00 (UTC)"


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        ("wednesday", "UTC", "expected DAYS HH:MM"),
        ("wed 25:00", "UTC", "25:00 is not a time of day"),
        ("someday 10:00", "UTC", "can't read the days 'someday'"),
        ("wed 16:00", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_schedules_are_explained(spec: str, zone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(spec, zone)


def test_settings_refuse_a_bad_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLW_PUBLISH_SCHEDULE", "wed 4pm")
    with pytest.raises(ValueError, match="DLW_PUBLISH_SCHEDULE / DLW_TIMEZONE"):
        Settings()
    monkeypatch.setenv("DLW_PUBLISH_SCHEDULE", "off")
    assert not Settings().scheduled


async def test_fresh_database_records_the_slot_without_catching_up(app: App) -> None:
    weekly = WeeklyPublisher(
        Schedule.parse("wed 16:00"), app.publisher, app.store, clock=lambda: at("2026-11-23 12:00")
    )
    assert await weekly.catch_up() is None
    assert await app.store.get_meta(LAST_SLOT_KEY) == at("2026-11-18 16:00").isoformat()
    assert await app.store.publications() == []


async def test_a_missed_slot_is_caught_up_once_at_start(app: App, content_dir: Path) -> None:
    await app.publisher.ensure_baseline()  # 206
    await app.store.set_meta(LAST_SLOT_KEY, at("2026-11-18 16:00").isoformat())
    add_issue(content_dir, 207)
    await app.archive.reload()
    # down over Wednesday 25th 16:00; back on Thursday
    weekly = WeeklyPublisher(
        Schedule.parse("wed 16:00"), app.publisher, app.store, clock=lambda: at("2026-11-26 09:00")
    )
    result = await weekly.catch_up()
    assert result is not None and result.created and result.issue_number == 207
    publication = await app.store.publication(207)
    assert publication is not None and publication.trigger == "catch-up"
    assert await weekly.catch_up() is None  # once
    assert await app.store.get_meta(LAST_SLOT_KEY) == at("2026-11-25 16:00").isoformat()


async def test_no_catch_up_when_no_slot_was_missed(app: App, content_dir: Path) -> None:
    await app.publisher.ensure_baseline()
    await app.store.set_meta(LAST_SLOT_KEY, at("2026-11-25 16:00").isoformat())
    add_issue(content_dir, 207)
    await app.archive.reload()
    weekly = WeeklyPublisher(
        Schedule.parse("wed 16:00"), app.publisher, app.store, clock=lambda: at("2026-11-26 09:00")
    )
    assert await weekly.catch_up() is None
    assert await app.store.publication(207) is None  # waits for the next slot


async def test_the_loop_publishes_the_new_issue_at_the_slot(app: App, content_dir: Path) -> None:
    # The clock is real time shifted so that the next Wednesday 16:00 is 0.3 s away.
    schedule = Schedule.parse("wed 16:00")
    slot = at("2026-11-25 16:00")
    loop = asyncio.get_running_loop()
    offset = dt.timedelta(0)

    def clock() -> dt.datetime:
        return dt.datetime.now(UTC) + offset

    published = asyncio.Event()
    app.publisher.on_publish = published.set
    await app.publisher.ensure_baseline()  # 206, as at any start on a fresh database
    await app.store.set_meta(LAST_SLOT_KEY, at("2026-11-18 16:00").isoformat())
    add_issue(content_dir, 207)
    await app.archive.reload()
    weekly = WeeklyPublisher(schedule, app.publisher, app.store, clock=clock)
    stop = asyncio.Event()
    offset = (slot - dt.timedelta(seconds=0.3)) - dt.datetime.now(UTC)
    started = loop.time()
    task = asyncio.create_task(weekly.run(stop))
    try:
        async with asyncio.timeout(5):  # a failure bound: the slot is 0.3 s away
            await published.wait()
        assert loop.time() - started >= 0.25  # waited for the slot
        assert clock() >= slot
        publication = await app.store.publication(207)
        assert publication is not None and publication.trigger == "schedule"
        assert await app.store.get_meta(LAST_SLOT_KEY) == slot.isoformat()
    finally:
        stop.set()
        await task


async def test_a_slot_handled_by_another_process_is_not_published_again(app: App) -> None:
    weekly = WeeklyPublisher(Schedule.parse("wed 16:00"), app.publisher, app.store)
    await app.store.set_meta(LAST_SLOT_KEY, at("2026-11-25 16:00").isoformat())
    assert await weekly.publish_slot(at("2026-11-25 16:00")) is None
    assert await app.store.publications() == []
