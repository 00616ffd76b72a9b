"""Storage faults never stop publishing (issue 11): a full disk for real (a small tmpfs, SQLite),
another process holding the database's write lock (a second connection: on SQLite and on
PostgreSQL), an outcome the store refuses after the message went out. Each waits on conditions,
never on guessed sleeps."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.commands import Context
from bot.commands.registry import BUSY
from bot.config import Settings
from bot.publishing import Dispatcher
from bot.reply import Reply
from bot.store import DeliveryStatus, Store, Subscription, SubscriptionKind, Target
from bot.store.postgres import PostgresStore
from bot.supervisor import supervise
from tests.conftest import sqlite
from tests.helpers import tmpfs, wait_for
from tests.test_publishing import ScriptedPlatform

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
READERS = 40


class RunningPlatform(ScriptedPlatform):
    """A scripted platform the app can run as an adapter (operators are told through it)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def fill(directory: Path) -> Path:
    """Fill the file system ``directory`` is on until not one more byte fits."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


async def statuses(store: Store) -> dict[str, str]:
    sql = "SELECT target, status FROM outbox WHERE kind <> 'report'"
    if isinstance(store, PostgresStore):
        async with store.reading() as conn:
            found = await conn.fetch(sql)
        return {str(r[0]): str(r[1]) for r in found}
    async with sqlite(store).reading() as db:
        rows = await (await db.execute(sql)).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def messages(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", size="8m") as mount:
        yield mount


async def test_a_full_disk_delays_publishing_and_every_digest_goes_out_once_when_freed(
    settings: Settings, disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(
        update={
            "database": disk / "bot.sqlite3",
            "admins": ("tg:op",),
            "restart_backoff": 0.01,
            "restart_max_backoff": 0.1,
        }
    )
    platform = RunningPlatform(platform="tg")
    async with App.create(settings, local_platforms=LOCAL_PLATFORMS) as app:
        for n in range(READERS):
            await app.store.subscribe("tg", f"r{n}", [PYTORCH])
        await app.publisher.publish(206)
        async with sqlite(app.store).reading() as db:  # an empty WAL: the next write must grow it
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(disk)

        app.adapters.append(platform)  # so that operators on "tg" can be told
        app.dispatch(platform, idle_poll=0.05)
        await wait_for(
            lambda: messages(caplog, "dispatcher-tg failed again") >= 3, "restarts on a full disk"
        )
        assert [t.chat_id for t, _ in platform.sent] == ["op"]  # told once, not per retry
        assert platform.sent[0][1].title == "Background task failing"
        assert "full" in platform.sent[0][1].plain_text()

        filler.unlink()
        await wait_for(
            lambda: _all_sent(app.store), "every digest sent once space is free", timeout=30
        )
        await wait_for(
            lambda: "Background task recovered" in [r.title for r in platform.to("op")],
            "the recovery told to operators",
        )
        titles = [r.title for r in platform.to("op")]
        assert titles.count("Background task failing") == 1
        await app.stop_publishing()
    readers = [t.chat_id for t, _ in platform.sent if t.chat_id != "op"]
    assert sorted(readers) == sorted(f"r{n}" for n in range(READERS))  # each exactly once


async def _all_sent(store: Store) -> bool:
    rows = await statuses(store)
    return len(rows) == READERS and set(rows.values()) == {"sent"}


#: The tables a writer of the bot touches: what another process's long write holds.
TABLES = "subscribers, subscriptions, channels, publications, outbox, continuations, meta, workers"


class Blocker:
    """Another process's writer holding the database: on SQLite a second connection with the
    write lock (BEGIN IMMEDIATE); on PostgreSQL a second connection holding the bot's tables in
    EXCLUSIVE mode (reads go on, every write waits). ``release`` rolls it back."""

    def __init__(self, location: Path | str) -> None:
        self.location = location
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: asyncpg.Connection[asyncpg.Record] | None = None

    async def hold(self) -> Blocker:
        if isinstance(self.location, Path):
            self._sqlite = sqlite3.connect(self.location, isolation_level=None, timeout=0)
            self._sqlite.execute("BEGIN IMMEDIATE")
        else:
            self._postgres = await asyncpg.connect(self.location)
            await self._postgres.execute(f"BEGIN; LOCK TABLE {TABLES} IN EXCLUSIVE MODE")
        return self

    async def release(self) -> None:
        if self._sqlite is not None:
            self._sqlite.execute("ROLLBACK")
            self._sqlite.close()
            self._sqlite = None
        if self._postgres is not None:
            await self._postgres.close()  # its transaction ends with it
            self._postgres = None


@pytest.fixture
async def blocker(store_location: Path | str) -> AsyncIterator[Callable[[], Awaitable[Blocker]]]:
    """Take the database as another process's writer would (each backend); released at the
    end if the test did not."""
    held: list[Blocker] = []

    async def lock() -> Blocker:
        held.append(await Blocker(store_location).hold())
        return held[-1]

    yield lock
    for one in held:
        await one.release()


@pytest.fixture
async def busy_app(settings: Settings, store_location: Path | str) -> AsyncIterator[App]:
    quick = settings.model_copy(
        update={"database": store_location, "database_busy_timeout": 0.2, "command_timeout": 1.0}
    )
    async with App.create(quick, local_platforms=LOCAL_PLATFORMS) as application:
        yield application


async def test_a_command_on_a_locked_database_says_busy_and_the_bot_carries_on(
    busy_app: App, blocker: Callable[[], Awaitable[Blocker]]
) -> None:
    ctx = Context(services=busy_app, platform="test", user_id="u1", chat_id="u1")
    lock = await blocker()
    # The bound a stalled command fails on (the old code waited out a 10 s busy timeout, then
    # apologised for a bug); the reply itself comes after the 0.2 s busy timeout.
    async with asyncio.timeout(5):
        busy = await busy_app.registry.dispatch_text(ctx, "/subscribe pytorch")
        latest = await busy_app.registry.dispatch_text(ctx, "/latest")  # reads are not blocked
    assert busy is not None and busy.plain_text() == BUSY
    assert latest is not None and latest.entries

    await lock.release()  # the other writer is done
    done = await busy_app.registry.dispatch_text(ctx, "/subscribe pytorch")
    assert done is not None and done.plain_text() != BUSY
    assert await busy_app.store.subscriptions("test", "u1") == [PYTORCH]


async def test_a_command_that_times_out_leaves_nothing_half_written(
    settings: Settings, store_location: Path | str, blocker: Callable[[], Awaitable[Blocker]]
) -> None:
    # The asyncio bound (0.1 s) fires while the database still waits for the lock (0.3 s): the
    # command is cancelled inside its transaction, which must be rolled back, not left open.
    slow = settings.model_copy(
        update={"database": store_location, "database_busy_timeout": 0.3, "command_timeout": 0.1}
    )
    async with App.create(slow, local_platforms=LOCAL_PLATFORMS) as app:
        ctx = Context(services=app, platform="test", user_id="u1", chat_id="u1")
        lock = await blocker()
        async with asyncio.timeout(5):
            reply = await app.registry.dispatch_text(ctx, "/subscribe pytorch mobile")
        assert reply is not None and reply.plain_text() == BUSY
        await lock.release()
        assert await app.store.subscriptions("test", "u1") == []
        again = await app.registry.dispatch_text(ctx, "/subscribe pytorch")  # not stuck in a txn
        assert again is not None and again.plain_text() != BUSY
        assert await app.store.subscriptions("test", "u1") == [PYTORCH]


class LockingPlatform(ScriptedPlatform):
    """Sends, then another process grabs the database's write lock before the outcome is
    recorded: the settle after a delivered message fails for real."""

    def __init__(self, lock: Callable[[], Awaitable[Blocker]]) -> None:
        super().__init__(platform="tg")
        self.lock = lock
        self.held: Blocker | None = None

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        ids = await super().send(target, reply, skip=skip)
        if self.held is None:
            self.held = await self.lock()
        return ids


async def test_an_outcome_the_store_refused_is_recorded_later_and_never_resent(
    busy_app: App, blocker: Callable[[], Awaitable[Blocker]], caplog: pytest.LogCaptureFixture
) -> None:
    await busy_app.store.subscribe("tg", "alice", [PYTORCH])
    await busy_app.publisher.publish(206)
    platform = LockingPlatform(blocker)
    caplog.set_level(logging.WARNING, logger="bot.publishing")

    async def run(stop: asyncio.Event) -> None:
        options = {"idle_poll": 0.02, "concurrency": 1, "worker": "w1"}
        await Dispatcher(platform, busy_app.store, busy_app.publisher, **options).run(stop)  # type: ignore[arg-type]

    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    await wait_for(
        lambda: messages(caplog, "recording the outcome of delivery") >= 1, "a refused settle"
    )
    assert await statuses(busy_app.store) == {"alice": DeliveryStatus.CLAIMED.value}
    assert platform.held is not None
    await platform.held.release()  # the other writer lets go
    await wait_for(lambda: _statuses_are(busy_app.store, {"alice": "sent"}), "the outcome recorded")
    stop.set()
    await task

    # A restart of the same worker takes back its unfinished claims: there must be none.
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    await wait_for(lambda: _nothing_due(busy_app.store), "the restarted dispatcher idle")
    stop.set()
    await task
    assert [t.chat_id for t, _ in platform.sent] == ["alice"]


async def _statuses_are(store: Store, wanted: dict[str, str]) -> bool:
    return await statuses(store) == wanted


async def _nothing_due(store: Store) -> bool:
    return await store.next_due("tg") is None and set((await statuses(store)).values()) == {"sent"}


async def test_a_supervised_task_is_restarted_with_backoff_and_reported_once_per_streak() -> None:
    runs: list[int] = []
    told: list[str] = []
    healthy = asyncio.Event()

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) <= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        healthy.set()
        await asyncio.Event().wait()  # then it works, for good

    async def failed(name: str, error: BaseException, retry_in: float) -> None:
        told.append(f"failed {name}: {error}")

    async def recovered(name: str, failures: int) -> None:
        told.append(f"recovered {name} after {failures}")

    task = asyncio.create_task(
        supervise(
            "job",
            flaky,
            backoff=0.001,
            max_backoff=0.01,
            healthy_after=0.02,
            on_failure=failed,
            on_recovery=recovered,
        )
    )
    await wait_for(lambda: len(told) == 2, "the failure and the recovery reported")
    assert told == ["failed job: [Errno 28] No space left on device", "recovered job after 3"]
    assert len(runs) == 4 and healthy.is_set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
