"""Fair turns at a platform's global pace: replies ahead of bulk, no reader's backlog first.

A platform allows so many messages a second for the whole bot (Telegram: about 30). Handing
them out first come, first served lets one reader with hundreds of replies queued (or a weekly
fan-out) hold everybody else up for as long as their backlog takes. :class:`FairPacer` is the
policy every adapter applies to its platform client instead: a send asks for a turn in a
:class:`Lane` under a key (its chat); turns start at most ``rate`` a second; an interactive turn
always goes before a bulk one, and within a lane the keys take turns round-robin, so a reader
who asks one question waits for at most one message of each other asker, however long their
queues. :meth:`FairPacer.close` (at shutdown) refuses every turn still waiting, so nothing
queued holds the shutdown up; the caller decides what a refused send means (a bulk row goes
back to pending, an interactive reply is dropped with a log line).
"""

from __future__ import annotations

import asyncio
import collections
from enum import IntEnum

from bot.errors import DlwError

__all__ = ["FairPacer", "Lane", "PacerClosed"]


class Lane(IntEnum):
    """Priority classes of sends, most urgent first."""

    INTERACTIVE = 0  # answers to someone waiting for them
    BULK = 1  # the outbox: weekly posts, digests, reports


class PacerClosed(DlwError):
    """The pacer was closed (shutdown) while the send waited for its turn: it was not sent."""


class FairPacer:
    """Turns at most ``rate`` a second (``burst`` at once after a pause); ``rate <= 0``: no
    pacing, only the shutdown refusal."""

    def __init__(self, rate: float, *, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._lanes: dict[Lane, dict[str, collections.deque[asyncio.Future[None]]]] = {
            lane: {} for lane in Lane
        }
        self._next_free = 0.0
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Sends waiting for their turn."""
        return sum(len(q) for queues in self._lanes.values() for q in queues.values())

    async def turn(self, lane: Lane, key: str) -> None:
        """Wait for this send's turn; raises :class:`PacerClosed` once closed."""
        if self._closed:
            raise PacerClosed("shutting down: not sent")
        if self.rate <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._lanes[lane].setdefault(key, collections.deque()).append(future)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._serve(), name="fair-pacer")
        try:
            await future
        finally:
            if not future.done():  # the sender gave up (cancelled): leave the queue
                future.cancel()

    def close(self) -> int:
        """Refuse every waiting turn and all later ones; returns how many were waiting."""
        self._closed = True
        refused = 0
        for queues in self._lanes.values():
            for queue in queues.values():
                for future in queue:
                    if not future.done():
                        future.set_exception(PacerClosed("shutting down: not sent"))
                        refused += 1
            queues.clear()
        if self._runner is not None:
            self._runner.cancel()
        return refused

    def _next(self) -> asyncio.Future[None] | None:
        """The next turn: the most urgent lane with anyone waiting, its keys round-robin."""
        for lane in Lane:
            queues = self._lanes[lane]
            while queues:
                key = next(iter(queues))
                queue = queues.pop(key)
                while queue and queue[0].done():  # gave up while waiting
                    queue.popleft()
                if not queue:
                    continue
                future = queue.popleft()
                if queue:
                    queues[key] = queue  # to the back of the ring
                return future
        return None

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.rate
        while True:
            delay = self._next_free - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # then choose again: a more urgent turn may be waiting
                continue
            future = self._next()
            if future is None:
                return
            future.set_result(None)
            now = loop.time()
            self._next_free = max(self._next_free, now - (self.burst - 1) * interval) + interval
