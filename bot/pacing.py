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

Where the turns come from is a :class:`TokenSource`: a :class:`LocalBucket` for one process, or a
:class:`SharedBucket` drawing from a token bucket every process on the same bot token shares
through the store (:meth:`bot.store.RateBudget.take_tokens`), taken a few tokens at a time so the
database is not asked per message. Either way the bucket is sized by :func:`window_pace` so that
no sliding one-second window ever holds more than the platform's cap: a bucket refilling at
``rate`` with room for ``burst`` lets through at most ``rate + burst`` in any second, and that
stays a small margin below the cap, the room a request's varying latency needs.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from bot.errors import DlwError

__all__ = [
    "FairPacer",
    "Lane",
    "LocalBucket",
    "PacerClosed",
    "SharedBucket",
    "TokenBudget",
    "TokenSource",
    "window_limit",
    "window_pace",
]

#: Share of the cap the shared bucket refills at.
RATE_SHARE = 0.98
#: Share of the cap a bucket may hold at once (at least two tokens): room for a pacer coming
#: back a little late (the event loop busy, the database slow to answer) to find the tokens that
#: accrued meanwhile. What the rate and the burst leave of the cap is the room for requests of
#: several processes arriving closer together than they were granted.
BURST_SHARE = 0.015
#: Tokens not handed out this long after the bucket granted them are dropped, never used
#: late: a process held up (descheduled, its loop busy) would otherwise send them together with
#: tokens other processes took since, more than the cap in a second between them.
STALE_TOKENS = 0.02
_EPSILON = 1e-9
_RETRY = 0.5  # seconds before asking a failing token source again

log = logging.getLogger("bot.pacing")


def window_pace(cap: float) -> tuple[float, int]:
    """``(rate, burst)`` for a token bucket that never grants more than ``cap`` in any sliding
    one-second window: ``rate + burst <= cap``, the rate 98 % of the cap where a burst of at
    least two tokens leaves room for it. ``cap <= 0``: no pacing. Under two a second no bucket
    fits (one token at a time and any refill exceed it): half the cap, and the per-process
    window (:func:`window_limit`) keeps a process to the cap itself."""
    if cap <= 0:
        return 0.0, 1
    burst = max(2, math.floor(cap * BURST_SHARE))
    rate = min(cap * RATE_SHARE, cap - burst)
    if rate <= 0:
        return cap / 2, 1
    return rate, burst


def window_limit(cap: float) -> int:
    """Most of one process's requests the platform may count in any sliding second (0: no
    limit): the cap itself, since :class:`FairPacer` counts a request from its turn until a
    second after its answer, whenever in between the platform saw it."""
    return 0 if cap <= 0 else max(1, math.floor(cap))


class TokenSource(Protocol):
    """Where a pacer's turns come from."""

    rate: float  # tokens a second (<= 0: unlimited)
    burst: int  # most tokens granted at once

    async def take(self, wanted: int) -> tuple[int, float]:
        """Take up to ``wanted`` tokens now: (granted, seconds until the next one if none)."""
        ...


class TokenBudget(Protocol):
    """A token bucket kept outside the process (the store's :class:`~bot.store.RateBudget`)."""

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float
    ) -> tuple[int, float]: ...


class LocalBucket:
    """A token bucket in this process: ``rate`` a second, ``burst`` at most at once; starts
    full."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._at: float | None = None

    async def take(self, wanted: int) -> tuple[int, float]:
        if self.rate <= 0:
            return wanted, 0.0
        now = asyncio.get_running_loop().time()
        if self._at is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        granted = min(wanted, math.floor(self._tokens + _EPSILON))
        self._tokens -= granted
        wait = 0.0 if granted else max(0.0, 1 - self._tokens) / self.rate
        return granted, wait


@dataclass
class SharedBucket:
    """Tokens from the bucket ``bucket`` in ``budget``, shared by every process using it, so
    together they never take more than ``rate`` a second (plus ``burst``). When the bucket is
    empty the pacer waits for a few tokens to gather (a quarter of a burst) rather than asking the
    database for every single one."""

    budget: TokenBudget
    bucket: str
    rate: float
    burst: int = 1

    async def take(self, wanted: int) -> tuple[int, float]:
        if self.rate <= 0:
            return wanted, 0.0
        granted, wait = await self.budget.take_tokens(
            self.bucket, min(wanted, self.burst), rate=self.rate, burst=self.burst
        )
        if granted:
            return granted, 0.0
        return 0, max(wait, (self.burst / 4 - 1) / self.rate)


class Lane(IntEnum):
    """Priority classes of sends, most urgent first."""

    INTERACTIVE = 0  # answers to someone waiting for them
    BULK = 1  # the outbox: weekly posts, digests, reports


class PacerClosed(DlwError):
    """The pacer was closed (shutdown) while the send waited for its turn: it was not sent."""


class FairPacer:
    """Turns at most ``rate`` a second (``burst`` at once after a pause), or as ``source``
    grants them; ``rate <= 0``: no pacing, only the shutdown refusal.

    ``per_second`` tracks the platform's own window: a request counts from its turn until one
    second after :meth:`answered` (the platform saw it somewhere in between), and no turn is
    handed out while ``per_second`` of them count. Whatever the latency and the event loop's
    stalls do to when requests arrive, no sliding second at the platform then holds more than
    ``per_second`` of this process's requests: of the requests it counts in a second, every one
    counted when the last of them was sent.
    """

    def __init__(
        self,
        rate: float = 0.0,
        *,
        burst: int = 1,
        source: TokenSource | None = None,
        per_second: int = 0,
    ) -> None:
        self.source: TokenSource = source if source is not None else LocalBucket(rate, burst)
        self.rate = self.source.rate
        self.burst = self.source.burst
        self.per_second = per_second  # most requests the platform may count in any second
        self._under_way = 0  # turns handed out whose request has not been answered yet
        self._answered: collections.deque[float] = collections.deque()  # loop times, in order
        self._lanes: dict[Lane, dict[str, collections.deque[asyncio.Future[None]]]] = {
            lane: {} for lane in Lane
        }
        self._tokens = 0  # granted by the source, not handed out yet
        self._granted_at = 0.0  # loop time they were granted
        self._paused_until = 0.0  # loop time
        self._room = asyncio.Event()
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

    def pause(self, seconds: float) -> None:
        """Hand out no turn for ``seconds`` (the platform said to wait that long)."""
        until = asyncio.get_running_loop().time() + max(0.0, seconds)
        self._paused_until = max(self._paused_until, until)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self._paused_until - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            if self._tokens > 0 and loop.time() - self._granted_at > STALE_TOKENS:
                self._tokens = 0  # held up since they were granted: spent, not sent late
            if self._tokens <= 0:
                waiting = self.waiting
                if not waiting:
                    return
                try:
                    granted, wait = await self.source.take(waiting)
                except Exception as error:  # the shared budget's store: busy, or a bug
                    log.warning("no send budget (%s); trying again in %gs", error, _RETRY)
                    granted, wait = 0, _RETRY
                if not granted:
                    await asyncio.sleep(wait)  # then choose again: a more urgent turn may wait
                    continue
                self._tokens = granted
                self._granted_at = loop.time()
            if self.per_second and not self._window_has_room(loop.time()):
                self._room.clear()
                waiter = asyncio.ensure_future(self._room.wait())
                try:
                    await asyncio.wait({waiter}, timeout=self._window_frees(loop.time()))
                finally:
                    waiter.cancel()
                continue
            future = self._next()
            if future is None:
                self._tokens = 0  # nobody left to use them: spent, never saved for later
                return
            future.set_result(None)
            self._tokens -= 1
            if self.per_second:
                self._under_way += 1

    def answered(self) -> None:
        """The request of a turn got its answer (or failed): it counts one more second."""
        if self.per_second and self._under_way > 0:
            self._under_way -= 1
            self._answered.append(asyncio.get_running_loop().time())
            self._room.set()  # when room frees is known now

    def _window_has_room(self, now: float) -> bool:
        answered = self._answered
        while answered and answered[0] <= now - 1.0:
            answered.popleft()
        return self._under_way + len(answered) < self.per_second

    def _window_frees(self, now: float) -> float | None:
        """Seconds until the oldest answered request stops counting (``None``: only an answer
        to a request under way frees room)."""
        return self._answered[0] + 1.0 - now if self._answered else None
