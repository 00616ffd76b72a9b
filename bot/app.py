"""Wiring: Settings → Archive, Store, command registry, publisher; one start/stop lifecycle.

:class:`App` is what command handlers see as their :class:`~bot.commands.Services`; adapters get
its :attr:`~App.adapter_services` only. Its lifecycle is one ``async with``::

    async with App.create(settings) as app:          # content loaded, store open
        async with app.running(adapters):            # adapters started, outbox drained
            ...

Background work (content watching, the weekly schedule, one outbox dispatcher per running
platform) runs as tasks owned by the app, so leaving the blocks stops everything in order.

Which of it runs is the process's roles (``DLW_ROLES``, ``dlw-bot run --roles``): ``dispatch``
drains the outbox, ``schedule`` runs the weekly slot, the feed poller and the content watcher's
operator notices (one process at a time, see :mod:`bot.leadership`); ``bot`` is the adapters
receiving updates, which the entry point decides when it builds them. Every process reloads
content, heartbeats with its roles (``dlw-bot status`` lists them) and, with
``DLW_METRICS_PORT``, serves :mod:`bot.metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Generator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bot import heap
from bot.archive import ArchiveHolder
from bot.commands import CommandRegistry, Throttle, build_registry
from bot.config import Settings
from bot.delivery import ChatMoved, DeliveryError, Limits, RateLimited, TargetGone, TransientError
from bot.leadership import Leadership
from bot.metrics import MetricsServer, OutboxFigures, delivery_settled, rate_limited
from bot.model import DeliveryStatus, Target, process_name, utcnow
from bot.platform import Adapter, AdapterServices
from bot.publishing import Dispatcher, Publisher
from bot.reply import Reply
from bot.scheduler import WeeklyPublisher
from bot.store import Store, open_store
from bot.store.urls import describe_location
from bot.supervisor import supervise
from bot.views import content_rejected_reply, task_failed_reply, task_recovered_reply

if TYPE_CHECKING:
    from bot.ingest.poller import FeedPoller

__all__ = ["App", "serve"]

log = logging.getLogger(__name__)


@dataclass
class App:
    """One running bot: the archive, the store, the registry and the publisher, and the
    background tasks that keep them going."""

    settings: Settings
    archive: ArchiveHolder
    store: Store
    registry: CommandRegistry
    publisher: Publisher
    dispatchers: list[Dispatcher] = field(default_factory=list)
    adapters: list[Adapter] = field(default_factory=list)  # the running ones
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _publishing: list[asyncio.Task[Any]] = field(default_factory=list)  # of _tasks: stop first
    _notices: Leadership | None = None  # who tells operators about rejected content
    _serving: bool = False  # every adapter started, not stopping yet (readiness)
    metrics: MetricsServer | None = None  # with DLW_METRICS_PORT, while running
    #: This process in heartbeats and claims (``host:pid:random``): one row in ``dlw-bot status``.
    process: str = field(default_factory=process_name)

    @classmethod
    def create(
        cls, settings: Settings | None = None, *, local_platforms: Collection[str] = ()
    ) -> _Opening:
        """Load content and open the store: ``async with App.create(...) as app`` closes it
        again on the way out (``await App.create(...)`` leaves closing to the caller). Raises
        ContentErrors if the content is broken at start.

        ``local_platforms``: platforms that live inside this process only (the entry point knows
        them: the terminal shell), never published to.
        """
        return _Opening(cls._open(settings, local_platforms))

    @classmethod
    async def _open(cls, settings: Settings | None, local_platforms: Collection[str]) -> App:
        settings = settings or Settings()
        archive = await ArchiveHolder.open(settings.content_dir)
        try:
            store = await open_store(settings.database, busy_timeout=settings.database_busy_timeout)
        except BaseException:
            archive.archive.close()
            raise
        log.info(
            "loaded %d issues (%d items) from %s; database %s",
            len(archive.archive.issues),
            archive.archive.item_count,
            settings.content_dir,
            describe_location(settings.database),
        )
        app = cls(
            settings=settings,
            archive=archive,
            store=store,
            registry=build_registry(Throttle(settings.command_burst, settings.command_rate)),
            publisher=Publisher(archive, store, settings, local_platforms=local_platforms),
        )
        app.publisher.on_publish = app.wake_dispatchers
        return app

    @property
    def adapter_services(self) -> AdapterServices:
        """What adapters are given of this app: the registry, paging, a key-value store, and
        :meth:`tell_operators` for what only the operators can fix."""
        return AdapterServices(self.registry, self, self.store, tell_operators=self.tell_operators)

    def wake_dispatchers(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.wake()

    def dispatch(self, adapter: Adapter, **options: Any) -> Dispatcher:
        """Drain ``adapter``'s platform outbox in the background for the app's lifetime."""
        # Half the shutdown budget for sends under way, the rest for the adapters to stop.
        options.setdefault("shutdown_grace", self.settings.shutdown_timeout / 2)
        options.setdefault("process", self.process)
        dispatcher = Dispatcher(
            _Counted(adapter), self.store, self.publisher, worker=self.settings.instance, **options
        )
        self.dispatchers.append(dispatcher)
        self._publishing.append(self.supervise(dispatcher.run, f"dispatcher-{adapter.platform}"))
        return dispatcher

    def schedule_publishing(self) -> WeeklyPublisher | None:
        """Publish at the weekly slot (and catch up on a missed one), unless scheduling is off."""
        schedule = self.settings.schedule()
        if schedule is None:
            log.info("scheduled publishing is off (DLW_PUBLISH_SCHEDULE=off)")
            return None
        weekly = WeeklyPublisher(schedule, self.publisher, self.store)
        self._publishing.append(self.supervise(weekly.run, "weekly-publisher"))
        return weekly

    def poll_feed(self) -> FeedPoller | None:
        """Import new issues from ``DLW_FEED_URL`` in the background (bot.ingest.poller)."""
        from bot.ingest.poller import feed_poller

        poller = feed_poller(self.settings, self.archive, self.store, self.tell_operators)
        if poller is not None:
            self.supervise(poller.run, "feed-poller")
        return poller

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background for the app's lifetime; a crash is logged, not lost."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)
        return task

    def supervise(
        self, start: Callable[[], Coroutine[Any, Any, Any]], name: str
    ) -> asyncio.Task[Any]:
        """Like :meth:`spawn`, for work meant to last the app's lifetime: a failure is logged,
        told to operators once per streak and the work restarted with bounded backoff
        (``DLW_RESTART_BACKOFF`` .. ``DLW_RESTART_MAX_BACKOFF``), so a storage fault never
        stops publishing for good."""

        async def failed(task: str, error: BaseException, retry_in: float) -> None:
            await self.tell_operators(task_failed_reply(task, error, retry_in))

        async def recovered(task: str, failures: int) -> None:
            await self.tell_operators(task_recovered_reply(task, failures))

        return self.spawn(
            supervise(
                name,
                start,
                backoff=self.settings.restart_backoff,
                max_backoff=self.settings.restart_max_backoff,
                on_failure=failed,
                on_recovery=recovered,
            ),
            name,
        )

    def watch_content(self) -> None:
        """Reload the archive whenever the content directory changes. While :meth:`running`,
        operators hear of a rejected change from one process only: the ``content:notice``
        leader among those in the ``schedule`` role, not once per process sharing the store."""

        async def watch() -> None:
            async for outcome in self.archive.watch():
                if outcome.errors:
                    await self.content_rejected(outcome.errors)

        self.supervise(watch, "content-watcher")

    async def content_rejected(self, errors: Sequence[object]) -> bool:
        """A content change was refused: log it, and tell operators if this process is the
        one that does (see :meth:`watch_content`); ``True`` if it told them."""
        log.error(
            "content change rejected (%d problems); still serving the previous archive",
            len(errors),
        )
        if self._notices is not None and not self._notices.held:
            return False
        await self.tell_operators(content_rejected_reply(errors))
        return True

    def lead_notices(self) -> Leadership:
        """Compete for the ``content:notice`` lease: :meth:`watch_content` tells operators only
        while this process holds it (see :mod:`bot.leadership`)."""
        self._notices = Leadership(
            self.store,
            "content:notice",
            self.settings.instance,
            seconds=self.settings.lease_seconds,
        )
        self.supervise(self._notices.run, "content-notice-lease")
        return self._notices

    def heartbeat(self, every: float = 10.0) -> None:
        """Tell the store this process is alive, with its roles, every ``every`` seconds."""

        async def beat() -> None:
            while True:
                await self.store.heartbeat(
                    self.process, self.settings.instance, roles=self.settings.roles
                )
                await asyncio.sleep(every)

        self.supervise(beat, "heartbeat")

    async def outbox_figures(self) -> OutboxFigures:
        """The outbox at a glance, for a metrics scrape: rows by status and the longest wait."""
        counts = await self.store.outbox_counts()
        rows = {p: {s.value: n for s, n in by.items()} for p, by in counts.items()}
        now = utcnow()
        oldest: dict[str, float] = {}
        for platform, by in counts.items():
            if not by.get(DeliveryStatus.PENDING):
                continue
            due = await self.store.next_due(platform)
            oldest[platform] = max(0.0, (now - due).total_seconds()) if due else 0.0
        return OutboxFigures(rows, oldest)

    async def readiness(self) -> str | None:
        """``None`` when this process can do its work: the store answers and every adapter is
        connected; else why not."""
        if not self._serving:
            return "starting or stopping"
        await self.store.get_meta("schedule.last_slot")  # a read: the database answers
        for adapter in self.adapters:
            if not getattr(adapter, "ready", True):
                return f"the {adapter.platform} adapter is not connected"
        return None

    async def serve_metrics(self) -> MetricsServer | None:
        """``/metrics``, ``/healthz`` and ``/readyz`` on ``DLW_METRICS_PORT``, if set."""
        port = self.settings.metrics_port
        if port is None:
            return None
        server = MetricsServer(
            self.outbox_figures, self.readiness, listen=self.settings.metrics_listen, port=port
        )
        await server.start()
        self.metrics = server
        return server

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

    @contextlib.asynccontextmanager
    async def running(self, adapters: Sequence[Adapter]) -> AsyncIterator[None]:
        """Serve ``adapters``: start each (and its outbox dispatcher) after the content watcher
        and the baseline, then the weekly schedule; on the way out stop publishing while the
        adapters are still connected (sends under way are recorded), then the adapters."""
        roles = self.settings.roles
        started: list[Adapter] = []
        try:
            await self.serve_metrics()
            self.heartbeat()
            if "schedule" in roles:
                self.lead_notices()
            else:  # never run, so never held: the schedule processes tell operators
                self._notices = Leadership(self.store, "content:notice", self.settings.instance)
            self.watch_content()
            await self.publisher.ensure_baseline()
            for adapter in adapters:
                await adapter.start()
                started.append(adapter)
                self.adapters.append(adapter)
                log.info("%s adapter running", adapter.platform)
                if "dispatch" in roles:
                    self.dispatch(adapter)
            if "schedule" in roles:
                self.schedule_publishing()
                self.poll_feed()
            log.info("roles: %s", ", ".join(roles))
            self._serving = True
            yield
        finally:
            self._serving = False
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.settings.shutdown_timeout
            await self.stop_publishing()
            self.adapters.clear()
            for adapter in reversed(started):
                await _stop_adapter(adapter, max(0.1, deadline - loop.time()))
            if self.metrics is not None:
                metrics, self.metrics = self.metrics, None
                await metrics.stop()

    async def close(self) -> None:
        """Stop every background task, close the store and the archive's index."""
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


class _Opening:
    """What :meth:`App.create` returns: awaitable (the app) and an async context manager (the
    app, closed on exit), like aiohttp's request helpers."""

    def __init__(self, opening: Coroutine[Any, Any, App]) -> None:
        self._opening = opening
        self._app: App | None = None

    def __await__(self) -> Generator[Any, None, App]:
        return self._opening.__await__()

    async def __aenter__(self) -> App:
        self._app = await self._opening
        return self._app

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._app is not None:
            await self._app.close()


@dataclass
class _Counted:
    """An adapter as the dispatcher sees it, with each send's outcome counted for
    :mod:`bot.metrics` (sent, rate_limited, gone, moved, retry, failed) and each 429's wait."""

    adapter: Adapter
    platform: str = field(init=False)
    limits: Limits = field(init=False)

    def __post_init__(self) -> None:
        self.platform = self.adapter.platform
        self.limits = self.adapter.limits

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        platform = self.adapter.platform
        try:
            ids = await self.adapter.send(target, reply, skip=skip)
        except RateLimited as error:
            rate_limited(platform, error.retry_after)
            delivery_settled(platform, "rate_limited")
            raise
        except DeliveryError as error:
            delivery_settled(platform, _outcome(error))
            raise
        except Exception:
            delivery_settled(platform, "failed")
            raise
        delivery_settled(platform, "sent")
        return ids


def _outcome(error: DeliveryError) -> str:
    """The metrics label of a failed send, as the dispatcher will treat it."""
    if isinstance(error, TargetGone):
        return "gone"
    if isinstance(error, ChatMoved):
        return "moved"
    if isinstance(error, TransientError):
        return "retry"
    return "failed"


async def _stop_adapter(adapter: Adapter, timeout: float) -> None:  # noqa: ASYNC109
    """Stop ``adapter`` within ``timeout`` seconds (DLW_SHUTDOWN_TIMEOUT): what it has not sent
    by then is dropped (command replies) or stays in the outbox (deliveries, resent at the next
    start); a shutdown never waits minutes for a platform's flood limits."""
    try:
        await asyncio.wait_for(adapter.stop(), timeout)
    except TimeoutError:
        log.warning("stopping the %s adapter took over %.1fs; left it", adapter.platform, timeout)
    except Exception:
        log.exception("stopping the %s adapter failed", adapter.platform)


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


async def serve(
    settings: Settings,
    platforms: Callable[[App], Sequence[Adapter]],
    *,
    local_platforms: Collection[str] = (),
    stop: asyncio.Event | None = None,
) -> int:
    """Run the adapters ``platforms`` builds for the app until SIGINT/SIGTERM (or ``stop``),
    then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with (
        App.create(settings, local_platforms=local_platforms) as app,
        app.running(platforms(app)),
    ):
        # Everything loaded so far lives as long as the process: keep the collector off it.
        heap.freeze()
        app.archive.listeners.append(heap.after_reload)
        await stop.wait()
        log.info("shutting down")
    return 0
