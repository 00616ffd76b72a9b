"""Wiring: Settings → Archive, Store, command registry, adapters; one start/stop lifecycle.

:class:`App` is what adapters and commands see as their :class:`~bot.commands.Services`.
Background work (content watching, the weekly schedule, one outbox dispatcher per running
platform) runs as tasks owned by the app, so :meth:`App.close` stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.archive import ArchiveHolder
from bot.commands import CommandRegistry, build_registry
from bot.config import Settings
from bot.publishing import Dispatcher, Publisher
from bot.reply import Reply, Tone
from bot.scheduler import WeeklyPublisher, configured_schedule
from bot.store import SQLiteStore

if TYPE_CHECKING:
    from adapters.base import Adapter
    from bot.ingest.poller import FeedPoller

__all__ = ["App", "serve"]

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    archive: ArchiveHolder
    store: SQLiteStore
    registry: CommandRegistry
    publisher: Publisher
    dispatchers: list[Dispatcher] = field(default_factory=list)
    adapters: list[Adapter] = field(default_factory=list)  # the running ones
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _publishing: list[asyncio.Task[Any]] = field(default_factory=list)  # of _tasks: stop first

    @classmethod
    async def create(cls, settings: Settings | None = None) -> App:
        """Load content and open the store. Raises ContentErrors if the content is broken at start."""
        settings = settings or Settings()
        archive = await ArchiveHolder.open(settings.content_dir)
        store = await SQLiteStore.open(settings.database)
        log.info(
            "loaded %d issues (%d items) from %s; database %s",
            len(archive.archive.issues),
            archive.archive.item_count,
            settings.content_dir,
            settings.database,
        )
        app = cls(
            settings=settings,
            archive=archive,
            store=store,
            registry=build_registry(),
            publisher=Publisher(archive, store, settings),
        )
        app.publisher.on_publish = app.wake_dispatchers
        return app

    def wake_dispatchers(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.wake()

    def dispatch(self, adapter: Adapter, **options: Any) -> Dispatcher:
        """Drain ``adapter``'s platform outbox in the background for the app's lifetime."""
        dispatcher = Dispatcher(
            adapter, self.store, self.publisher, worker=self.settings.instance, **options
        )
        self.dispatchers.append(dispatcher)
        self._publishing.append(self.spawn(dispatcher.run(), f"dispatcher-{adapter.platform}"))
        return dispatcher

    def schedule_publishing(self) -> WeeklyPublisher | None:
        """Publish at the weekly slot (and catch up on a missed one), unless scheduling is off."""
        schedule = configured_schedule(self.settings)
        if schedule is None:
            log.info("scheduled publishing is off (DLW_PUBLISH_SCHEDULE=off)")
            return None
        weekly = WeeklyPublisher(schedule, self.publisher, self.store)
        self._publishing.append(self.spawn(weekly.run(), "weekly-publisher"))
        return weekly

    def poll_feed(self) -> FeedPoller | None:
        """Import new issues from ``DLW_FEED_URL`` in the background (bot.ingest.poller)."""
        from bot.ingest.poller import feed_poller

        poller = feed_poller(self.settings, self.archive, self.store, self.tell_operators)
        if poller is not None:
            self.spawn(poller.run(), "feed-poller")
        return poller

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background for the app's lifetime; a crash is logged, not lost."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)
        return task

    def watch_content(self) -> None:
        """Reload the archive whenever the content directory changes."""

        async def watch() -> None:
            async for outcome in self.archive.watch():
                if outcome.errors:
                    log.error(
                        "content change rejected (%d problems); still serving the previous archive",
                        len(outcome.errors),
                    )
                    await self.tell_operators(content_rejected_reply(outcome.errors))

        self.spawn(watch(), "content-watcher")

    async def tell_operators(self, reply: Reply) -> None:
        """Best effort: a direct message to every operator on a platform this process runs."""
        for target in self.publisher.operators():
            adapter = next((a for a in self.adapters if a.platform == target.platform), None)
            if adapter is None:
                continue
            try:
                await adapter.send(target, reply)
            except Exception as exc:  # the log already has the problem; this is a courtesy
                log.warning("could not tell operator %s: %s", target, exc)

    async def stop_publishing(self) -> None:
        """Stop the schedule and the dispatchers (letting sends under way be recorded) while the
        adapters are still connected."""
        self.dispatchers.clear()
        tasks, self._publishing = self._publishing, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            self._tasks.remove(task)

    async def close(self) -> None:
        self.dispatchers.clear()
        self._publishing.clear()
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.store.close()
        self.archive.archive.close()


def content_rejected_reply(errors: Sequence[object], limit: int = 10) -> Reply:
    """What operators are told when a content change can't be served."""
    lines = [str(e) for e in errors[:limit]]
    more = f"\n\n…and {len(errors) - limit} more." if len(errors) > limit else ""
    return Reply.text(
        "A content change was rejected; the bot keeps serving the previous archive until the "
        "file is fixed:\n\n" + "\n\n".join(lines) + more,
        title="Content problem",
        tone=Tone.ERROR,
    )


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


def platform_adapters(app: App) -> list[Adapter]:
    """An adapter for every platform with a token configured."""
    adapters: list[Adapter] = []
    if app.settings.telegram_token is not None:
        from adapters.telegram_bot import TelegramAdapter

        adapters.append(TelegramAdapter(app))
    if app.settings.discord_token is not None:
        from adapters.discord_bot import DiscordAdapter

        adapters.append(DiscordAdapter(app))
    return adapters


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> int:
    """Run every configured platform until SIGINT/SIGTERM (or ``stop``), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    app = await App.create(settings)
    adapters = platform_adapters(app)
    started: list[Adapter] = []
    try:
        app.watch_content()
        await app.publisher.ensure_baseline()
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            app.adapters.append(adapter)
            log.info("%s adapter running", adapter.platform)
            app.dispatch(adapter)
        app.schedule_publishing()
        app.poll_feed()
        await stop.wait()
        log.info("shutting down")
        return 0
    finally:
        await app.stop_publishing()
        app.adapters.clear()
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)
        await app.close()
