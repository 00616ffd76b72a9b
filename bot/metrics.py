"""Prometheus metrics and the orchestrator's health checks, on ``DLW_METRICS_PORT``.

A leaf: the parts of the bot that have something to count call the functions here
(:func:`delivery_settled`, :func:`rate_limited`, :func:`command_timer`), which only touch
prometheus-client's in-memory counters, so they cost nothing worth measuring and never fail. One
process is one scrape target: the counters are the process's own, as Prometheus expects, and
``instance`` labels come from the scrape configuration.

:class:`MetricsServer` (started by :class:`~bot.app.App` when the port is set) answers

``/metrics``
    the counters, plus what the store says at scrape time (outbox rows by platform and status,
    how long the longest-waiting due row has waited): one cheap query, so a scrape never reads
    stale figures and nothing polls the database between scrapes;
``/healthz``
    200 while the process's event loop answers at all (a liveness probe: restart me if not);
``/readyz``
    200 when the store answers and every adapter is connected, else 503 with the reason (a
    readiness probe: send me no traffic, e.g. webhook calls, until then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bot.errors import DlwError

if TYPE_CHECKING:
    # Imported where the server starts: aiohttp costs a few hundred milliseconds to import
    # (its CA bundle too), which every `dlw-bot` command would pay for counters alone.
    from aiohttp import web

__all__ = [
    "COMMAND_SECONDS",
    "MESSAGES",
    "RATE_LIMITED",
    "RATE_LIMIT_WAIT",
    "MetricsServer",
    "MetricsUnavailable",
    "OutboxFigures",
    "command_timer",
    "delivery_settled",
    "rate_limited",
]

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "dlw_messages",
    "Outbox sends by this process, by platform and outcome: sent, rate_limited (429), retry "
    "(network or 5xx), gone (blocked, kicked, deleted), moved (chat migrated), failed (refused).",
    ["platform", "outcome"],
)
RATE_LIMITED = Counter(
    "dlw_rate_limited",
    "429 answers from a platform, by who handled them: client (the platform's client library "
    "waited and retried the request) or dispatcher (the 429 reached the outbox: the row waits).",
    ["platform", "handled_by"],
)
RATE_LIMIT_WAIT = Histogram(
    "dlw_rate_limit_wait_seconds",
    "How long the platform asked to wait (retry_after) on each 429, by who handled it.",
    ["platform", "handled_by"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
COMMAND_SECONDS = Histogram(
    "dlw_command_duration_seconds",
    "Time from a command's arrival in the core to its reply being ready, by command.",
    ["command"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class MetricsUnavailable(DlwError):
    """The metrics port can't be listened on (taken, or not this host's address)."""


def delivery_settled(platform: str, outcome: str) -> None:
    """One outbox send to ``platform`` ended as ``outcome`` (see :data:`MESSAGES`)."""
    MESSAGES.labels(platform, outcome).inc()


def rate_limited(platform: str, wait: float, *, handled_by: str = "dispatcher") -> None:
    """``platform`` answered 429 and asked for ``wait`` seconds (see :data:`RATE_LIMITED`)."""
    RATE_LIMITED.labels(platform, handled_by).inc()
    RATE_LIMIT_WAIT.labels(platform, handled_by).observe(wait)


@contextlib.contextmanager
def command_timer(command: str) -> Iterator[None]:
    """Time the body as one run of ``command`` (failures included: they are answers too)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        COMMAND_SECONDS.labels(command).observe(time.perf_counter() - started)


@dataclass(frozen=True)
class OutboxFigures:
    """What the store says about the outbox at one scrape."""

    rows: dict[str, dict[str, int]]  # platform → status → rows
    oldest_wait: dict[str, float]  # platform → seconds its earliest due pending row has waited


class _OutboxCollector(Collector):
    """Exposes the figures the server read from the store just before this scrape."""

    def __init__(self) -> None:
        self.figures = OutboxFigures({}, {})

    def collect(self) -> Iterable[Metric]:
        rows = GaugeMetricFamily(
            "dlw_outbox_rows",
            "Outbox rows by platform and status (pending rows are the queue's depth).",
            labels=["platform", "status"],
        )
        for platform, statuses in sorted(self.figures.rows.items()):
            for status, count in sorted(statuses.items()):
                rows.add_metric([platform, status], count)
        oldest = GaugeMetricFamily(
            "dlw_outbox_oldest_pending_seconds",
            "Seconds the longest-waiting due pending row of each platform has waited since it "
            "fell due (0: nothing overdue).",
            labels=["platform"],
        )
        for platform, seconds in sorted(self.figures.oldest_wait.items()):
            oldest.add_metric([platform], seconds)
        yield rows
        yield oldest


class ReadyCheck(Protocol):
    def __call__(self) -> Awaitable[str | None]:
        """``None`` when ready, else why not (one line)."""
        ...


@dataclass
class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``listen``:``port`` (0: any free port).

    ``outbox`` reads the figures at scrape time; ``ready`` says whether the process is ready.
    Either taking longer than ``timeout`` seconds (a locked database) is an answer too: the
    scrape goes out without outbox figures, readiness fails.
    """

    outbox: Callable[[], Awaitable[OutboxFigures]]
    ready: ReadyCheck
    listen: str = "127.0.0.1"
    port: int = 0
    timeout: float = 2.0
    _runner: web.AppRunner | None = field(default=None, init=False)
    _collector: _OutboxCollector = field(default_factory=_OutboxCollector, init=False)

    @property
    def bound_port(self) -> int:
        """The port actually bound (``port`` 0 picks one)."""
        if self._runner is None:
            raise RuntimeError("the metrics server is not running")
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listen, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise MetricsUnavailable(
                f"DLW_METRICS_PORT: can't listen on {self.listen}:{self.port}: {reason}"
            ) from None
        self._runner = runner
        REGISTRY.register(self._collector)
        log.info("metrics on http://%s:%d/metrics", self.listen, self.bound_port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(self._collector)
        await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        from aiohttp import web

        try:
            async with asyncio.timeout(self.timeout):
                self._collector.figures = await self.outbox()
        except Exception as exc:  # the process's own counters are still worth scraping
            log.warning("metrics: could not read the outbox figures: %s", exc)
            self._collector.figures = OutboxFigures({}, {})
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        from aiohttp import web

        try:
            async with asyncio.timeout(self.timeout):
                problem = await self.ready()
        except TimeoutError:
            problem = f"no answer within {self.timeout:g} s"
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if problem is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {problem}\n")
