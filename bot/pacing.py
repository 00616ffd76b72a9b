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
through the store (:meth:`bot.store.RateBudget.take_tokens`). A shared bucket books tokens a
little ahead of its refill (:data:`AHEAD_SECONDS`): the pacer hands each out when it falls due,
and asks the database again while it still holds some, so a slow answer (the database busy with
the outbox's own transactions) neither stalls the sends nor lets the bucket overflow unused, and
the database is asked a few dozen times a second, not for every message. Either way the bucket
is sized by :func:`window_pace` so that no sliding one-second window ever holds more than the
platform's cap: a bucket refilling at ``rate`` with room for ``burst`` lets through at most
``rate + burst`` in any second (tokens booked ahead included: none is used before it falls due),
and that stays a small margin below the cap, the room a request's varying latency needs.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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
    "due_offsets",
    "window_limit",
    "window_pace",
]

#: Share of the cap the shared bucket refills at.
RATE_SHARE = 0.985
#: Share of the cap a bucket may hold at once (at least two tokens): room for a pacer coming
#: back a little late (the event loop busy) to find the tokens that accrued meanwhile; booking
#: ahead covers a database slow to answer, so this can stay small. What the rate and the burst
#: leave of the cap (0.5 %), with the per-process window, is the room for requests of several
#: processes arriving closer together than they were granted.
BURST_SHARE = 0.01
#: Share of the cap given up while several processes draw on one budget: their requests reach
#: the platform bunched by more than the single margin (each one's latency and event loop on its
#: own; two processes at 98.5 % drew 17-49 429s a fan-out in bench/scale.py, at 96.5 % none).
SHARED_MARGIN = 0.02
#: How often a :class:`SharedBucket` with a census asks how many processes share it (seconds).
CENSUS_SECONDS = 10.0
#: Tokens not handed out this long after the bucket granted them are dropped, never used
#: late: a process held up (descheduled, its loop busy) would otherwise send them together with
#: tokens other processes took since, more than the cap in a second between them.
STALE_TOKENS = 0.02
#: How far ahead a :class:`SharedBucket` books tokens (seconds of its rate): its next request to
#: the store is sent once a quarter of that is used, so the answer comes back before the tokens
#: run out even when the database is slow to answer (a SQLite take waits 30-70 ms behind the
#: outbox's own transactions at 1,000 messages a second), and the pacer asks a few dozen times
#: a second instead of for every token.
AHEAD_SECONDS = 0.1
_EPSILON = 1e-9
_RETRY = 0.5  # seconds before asking a failing token source again

log = logging.getLogger("bot.pacing")


def window_pace(cap: float, sharers: int = 1) -> tuple[float, int]:
    """``(rate, burst)`` for a token bucket that never grants more than ``cap`` in any sliding
    one-second window: ``rate + burst <= cap``, the rate 98.5 % of the cap where a burst of at
    least two tokens leaves room for it, :data:`SHARED_MARGIN` less while ``sharers`` (the
    processes drawing on it) are more than one. ``cap <= 0``: no pacing. Under two a second no bucket
    fits (one token at a time and any refill exceed it): half the cap, and the per-process
    window (:func:`window_limit`) keeps a process to the cap itself."""
    if cap <= 0:
        return 0.0, 1
    burst = max(2, math.floor(cap * BURST_SHARE))
    share = RATE_SHARE - (SHARED_MARGIN if sharers > 1 else 0.0)
    rate = min(cap * share, cap - burst)
    if rate <= 0:
        return cap / 2, 1
    return rate, burst


def window_limit(cap: float) -> int:
    """Most of one process's requests the platform may count in any sliding second (0: no
    limit): the cap itself, since :class:`FairPacer` counts a request from its turn until a
    second after its answer, whenever in between the platform saw it."""
    return 0 if cap <= 0 else max(1, math.floor(cap))


def due_offsets(granted: int, wait: float, rate: float) -> list[float]:
    """When each of ``granted`` tokens of one take may be used, in seconds from the take,
    earliest first. ``wait`` is the take's answer: seconds until the bucket holds a token again.
    Tokens booked ahead (:meth:`bot.store.RateBudget.take_tokens`) fall due one every ``1/rate``,
    the last of them ``1/rate`` before that next token; the others are due at once (0.0)."""
    return [max(0.0, wait - (granted - index) / rate) for index in range(granted)]


class TokenSource(Protocol):
    """Where a pacer's turns come from."""

    rate: float  # tokens a second (<= 0: unlimited)
    burst: int  # most tokens granted at once, beyond those booked ahead

    @property
    def ahead(self) -> float:
        """Seconds of tokens a take may book ahead of the refill, at most (0: none)."""
        ...

    async def take(self, wanted: int, ahead: float = 0.0) -> tuple[int, float]:
        """Take up to ``wanted`` tokens, booking up to ``ahead`` seconds of them before they
        accrue: (granted, seconds until the bucket holds a token again); the tokens fall due as
        :func:`due_offsets` says."""
        ...


class TokenBudget(Protocol):
    """A token bucket kept outside the process (the store's :class:`~bot.store.RateBudget`)."""

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float, book: float = 0.0
    ) -> tuple[int, float]: ...


class LocalBucket:
    """A token bucket in this process: ``rate`` a second, ``burst`` at most at once; starts
    full."""

    ahead = 0.0  # granted tokens are due at once

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._at: float | None = None

    async def take(self, wanted: int, ahead: float = 0.0) -> tuple[int, float]:
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
    together they never take more than ``rate`` a second (plus ``burst``). The bucket may be
    booked :data:`AHEAD_SECONDS` ahead of its refill, the same depth for every process; each
    take books as far of that as the pacer asks (``ahead`` seconds), tokens the pacer hands out
    as they fall due while its next take is under way. When other processes have booked it all,
    the pacer waits until a quarter of what it asks for can be booked again rather than asking
    the database for every single token."""

    budget: TokenBudget
    bucket: str
    rate: float
    burst: int = 1
    #: With ``census`` (how many processes draw on this budget now) the bucket is sized by
    #: :func:`window_pace` for ``cap`` and that many sharers, asked every
    #: :data:`CENSUS_SECONDS`.
    cap: float = 0.0
    census: Callable[[], Awaitable[int]] | None = None
    _counted_at: float | None = field(default=None, init=False, repr=False)

    @property
    def ahead(self) -> float:
        return AHEAD_SECONDS if self.rate > 0 else 0.0

    async def _recount(self) -> None:
        now = asyncio.get_running_loop().time()
        if self.census is None or self.cap <= 0:
            return
        if self._counted_at is not None and now - self._counted_at < CENSUS_SECONDS:
            return
        self._counted_at = now
        try:
            sharers = await self.census()
        except Exception as error:  # the store busy: keep the size it had
            log.warning("could not count the processes sharing the send budget (%s)", error)
            return
        self.rate, self.burst = window_pace(self.cap, sharers)

    async def take(self, wanted: int, ahead: float = AHEAD_SECONDS) -> tuple[int, float]:
        await self._recount()
        if self.rate <= 0:
            return wanted, 0.0
        depth = max(1, math.ceil(self.rate * AHEAD_SECONDS))  # how far below zero, for all
        asked = max(1, math.ceil(self.rate * min(max(ahead, 0.0), AHEAD_SECONDS)))
        granted, wait = await self.budget.take_tokens(
            self.bucket,
            min(wanted, self.burst + asked),
            rate=self.rate,
            burst=self.burst,
            book=depth,
        )
        if granted:
            return granted, wait
        # Booked to the full depth by others: a token can be booked again ``depth`` tokens
        # before the bucket is back at one; wait until a quarter of what is asked for can be.
        return 0, max(0.0, wait - depth / self.rate) + max(0.0, asked / 4 - 1) / self.rate


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
        self.per_second = per_second  # most requests the platform may count in any second
        self._under_way = 0  # turns handed out whose request has not been answered yet
        self._answered: collections.deque[float] = collections.deque()  # loop times, in order
        self._lanes: dict[Lane, dict[str, collections.deque[asyncio.Future[None]]]] = {
            lane: {} for lane in Lane
        }
        # Loop times at which the tokens granted by the source and not handed out yet fall due.
        self._dues: collections.deque[float] = collections.deque()
        self._lead = self.source.ahead  # seconds of tokens to book ahead now (see _take)
        self._asking: asyncio.Task[None] | None = None  # the source's take under way
        self._ask_after = 0.0  # loop time: the source said no token before then
        self._paused_until = 0.0  # loop time
        self._room = asyncio.Event()  # an answer, or a take's answer: look again
        self._runner: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def rate(self) -> float:
        """Turns a second (the source's, which may change: see :class:`SharedBucket`)."""
        return self.source.rate

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
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.answered()  # granted, then the sender gave up before sending: count it done
            raise
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
        for task in (self._runner, self._asking):
            if task is not None:
                task.cancel()
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

    async def unpaused(self) -> None:
        """Return once no pause (:meth:`pause`) is running: for requests that take no turn but
        must not go out while the platform said to wait either."""
        loop = asyncio.get_running_loop()
        while (delay := self._paused_until - loop.time()) > 0:  # noqa: ASYNC110 - a 429 may extend it
            await asyncio.sleep(delay)

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
            now = loop.time()
            dues = self._dues
            while dues and now - dues[0] > STALE_TOKENS:
                dues.popleft()  # held up since they fell due: spent, never sent late
            waiting = self.waiting
            if not waiting:
                return  # tokens still in hand go stale unless a send comes for them soon
            room = self._window_room(now)
            self._ask(min(waiting, room), now)
            if not dues or dues[0] > now:
                # Until the next token falls due, or the take under way answers.
                wait = dues[0] - now if dues else max(0.0, self._ask_after - now)
                await self._nap(wait if dues or self._asking is None else None, waiting=True)
                continue
            if room <= 0:
                await self._nap(self._window_frees(now))
                continue
            future = self._next()
            if future is None:
                return  # the waiting sends gave up meanwhile
            future.set_result(None)
            dues.popleft()
            if self.per_second:
                self._under_way += 1

    def _ask(self, usable: int, now: float) -> None:
        """Take more tokens from the source, in the background, once those in hand run short
        of the ``usable`` ones (sends waiting, as far as the per-second window has room): when
        none is left, or (a source booking ahead) a quarter of what it books is used.

        How far ahead it books adapts to how well this process keeps up: halved (down to an
        eighth of the source's most) whenever the event loop woke the pacer too late to use the
        tokens then due (see :meth:`_nap`) — tokens booked for it are lost to every other
        process on the budget — and grown by a quarter after each take it kept up with."""
        if self._asking is not None or now < self._ask_after:
            return
        dues = self._dues
        wanted = usable - len(dues)
        if wanted <= 0:
            return
        if dues and not (self._lead and dues[-1] - now < self._lead * 3 / 4):
            return
        self._asking = asyncio.create_task(self._take(wanted), name="fair-pacer-take")

    async def _take(self, wanted: int) -> None:
        loop = asyncio.get_running_loop()
        lead = self._lead
        try:
            granted, wait = await self.source.take(wanted, lead)
        except Exception as error:  # the shared budget's store: busy, or a bug
            log.warning("no send budget (%s); trying again in %gs", error, _RETRY)
            granted, wait = 0, _RETRY
        finally:
            self._asking = None
            self._room.set()
        now = loop.time()  # the answer's time: a token booked ahead is used no earlier than due
        if granted:
            fresh = [now + offset for offset in due_offsets(granted, wait, self.rate)]
            # In order of due time: a slow answer's tokens may fall due after a later one's.
            self._dues = collections.deque(heapq.merge(self._dues, fresh))
            if self._lead == lead:  # kept up meanwhile: book a little further again
                self._lead = min(self.source.ahead, lead * 1.25)
        else:
            self._ask_after = now + wait

    async def _nap(self, seconds: float | None, *, waiting: bool = False) -> None:
        """Wait ``seconds`` (``None``: no limit), or less if a request is answered or a
        take comes back meanwhile. ``waiting``: sends wait for a token due at the end of the
        nap; woken over :data:`STALE_TOKENS` late, this process is not keeping up with what it
        booked, and books less from then on."""
        loop = asyncio.get_running_loop()
        until = loop.time() + (seconds or 0.0)
        self._room.clear()
        waiter = asyncio.ensure_future(self._room.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            woken = waiter.done()
            waiter.cancel()
        late = loop.time() - until
        if waiting and seconds is not None and not woken and late > STALE_TOKENS:
            self._lead = max(self.source.ahead / 8, self._lead / 2)

    def answered(self) -> None:
        """The request of a turn got its answer (or failed): it counts one more second."""
        if self.per_second and self._under_way > 0:
            self._under_way -= 1
            self._answered.append(asyncio.get_running_loop().time())
            self._room.set()  # when room frees is known now

    def _window_room(self, now: float) -> int:
        """Turns the per-second window lets out now (however many sends wait, without one)."""
        if not self.per_second:
            return self.waiting
        answered = self._answered
        while answered and answered[0] <= now - 1.0:
            answered.popleft()
        return self.per_second - self._under_way - len(answered)

    def _window_frees(self, now: float) -> float | None:
        """Seconds until the oldest answered request stops counting (``None``: only an answer
        to a request under way frees room)."""
        return self._answered[0] + 1.0 - now if self._answered else None
