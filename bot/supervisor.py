"""Background tasks that never die silently: restarted with bounded exponential backoff.

A dispatcher, the weekly scheduler, the content watcher and the feed poller each run for the
app's lifetime. A storage fault (a full disk, a database locked by another process) used to end
such a task for good while the bot went on answering commands. :func:`supervise` runs one: an
exception is logged, reported once per streak of failures (not per retry), and the task is
started again after a wait that doubles from ``backoff`` up to ``max_backoff``; once a restart
has run ``healthy_after`` seconds without failing the streak is over and that is reported too.
A task that returns has finished its work and is not restarted; cancelling stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["supervise"]

log = logging.getLogger("bot.supervisor")


async def _never(*_: object) -> None:
    return None


async def supervise(
    name: str,
    start: Callable[[], Coroutine[Any, Any, Any]],
    *,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    healthy_after: float | None = None,
    on_failure: Callable[[str, BaseException, float], Awaitable[None]] = _never,
    on_recovery: Callable[[str, int], Awaitable[None]] = _never,
) -> None:
    """Run ``start()`` until it returns, restarting it whenever it raises.

    ``on_failure(name, error, retry_in)`` is awaited for the first failure of a streak,
    ``on_recovery(name, failures)`` when a restart has run ``healthy_after`` seconds (default
    ``max_backoff``) without failing; either raising is logged and otherwise ignored.
    """
    healthy = max_backoff if healthy_after is None else healthy_after
    failures = 0
    while True:
        task = asyncio.create_task(start(), name=f"{name}-run")
        try:
            if failures:
                done, _ = await asyncio.wait({task}, timeout=healthy)
                if not done:
                    log.info("%s recovered after %d failures", name, failures)
                    await _quietly(on_recovery(name, failures))
                    failures = 0
            await task
            return
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # let it finish its own clean-up (a dispatcher records sends under way)
            raise
        except Exception as error:
            failures += 1
            delay = min(max_backoff, backoff * 2 ** (failures - 1))
            if failures == 1:
                log.exception("background task %s failed; restarting in %.3gs", name, delay)
                await _quietly(on_failure(name, error, delay))
            else:
                log.warning(
                    "background task %s failed again (%d in a row): %s; restarting in %.3gs",
                    name,
                    failures,
                    error,
                    delay,
                )
            await asyncio.sleep(delay)


async def _quietly(report: Awaitable[None]) -> None:
    try:
        await report
    except Exception:
        log.warning("reporting on a background task failed", exc_info=True)
