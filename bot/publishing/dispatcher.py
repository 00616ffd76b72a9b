"""Draining one platform's outbox: claims with leases, one retry policy, pacing from Limits.

The dispatcher decides *how* an outbox row is sent: it claims due rows for one platform, sends
them through that platform's adapter with bounded concurrency, one at a time per chat, starting
at most ``limits.messages_per_second`` sends a second, and records each outcome (see
:mod:`bot.delivery`). Rows claimed by a process that died go back to pending when it restarts
(or, for another process's claims, after a lease), so nothing is lost; what can repeat after a
crash is at most what was in flight at that moment.

Retries are decided here and only here, from the error an adapter raises: wait a rate limit's
``retry_after``; back off exponentially on transient errors up to ``max_attempts``; never retry a
refusal. Inside one send an adapter's library may retry briefly (python-telegram-bot's rate
limiter waits out flood limits up to ``flood_retries`` times and retries network failures
``network_retries`` times; discord.py waits out 429s up to ``MAX_RATE_LIMIT_WAIT`` seconds and
retries 5xx a few times): both are bounded to seconds, so a send returns or raises soon and every
longer wait is the dispatcher's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.delivery import (
    ChatMoved,
    DeliveryError,
    Limits,
    PermanentError,
    RateLimited,
    TargetGone,
    TransientError,
    note_unreachable,
)
from bot.model import (
    Delivery,
    DeliveryKind,
    Settlement,
    Target,
    machine,
    process_name,
    utcnow,
)
from bot.publishing.planner import Publisher
from bot.reply import Reply
from bot.store import Store, StoreError

__all__ = ["Dispatcher", "Sender"]

log = logging.getLogger("bot.publishing")


def ended_here(processes: Sequence[str]) -> list[str]:
    """Of ``processes`` (named ``host:pid:random``, see :func:`bot.model.process_name`), those of
    this host (and PID namespace, :func:`bot.model.machine`) whose pid no longer runs: a
    restarted bot takes their claims back at once instead of waiting for their heartbeats to
    go stale."""
    host = machine()
    ended = []
    for process in processes:
        where, _, rest = process.partition(":")
        pid, _, _ = rest.partition(":")
        if where != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            ended.append(process)
        except OSError:
            continue  # it exists (another user's): alive
    return ended


class Sender(Protocol):
    """The part of an adapter the dispatcher uses (see :class:`adapters.base.Adapter`)."""

    platform: str
    limits: Limits

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]: ...


@dataclass
class Dispatcher:
    """Drains one platform's outbox through ``sender``.

    ``worker`` names this process in the store's claims (``DLW_INSTANCE``, by default unique
    per process). Claims are fenced: each carries a token its settle must present, and the
    ``process`` that made it, which heartbeats every ``heartbeat`` seconds. At start a
    dispatcher takes back its worker name's claims only where no live process holds them (so a
    second process given the same name never has its rows resent); claims of a process silent
    for three heartbeats, or any claim older than ``lease`` seconds, are taken back while idle.

    Outcomes: sent; ``RateLimited`` waits exactly ``retry_after`` (the whole platform pauses, the
    row is not counted as failing); ``TransientError`` retries with exponential backoff up to
    ``max_attempts``; ``TargetGone`` settles the row as gone and deactivates the destination;
    ``ChatMoved`` moves the chat's registrations and resends; ``PermanentError`` (or a bug) is
    recorded as failed, never retried.

    Store round trips are batched: a claim takes as many due rows as there are free slots, and
    only once a quarter of the slots (or all of them) are free; outcomes are recorded together
    by :meth:`~bot.store.Outbox.settle_many`, ``settle_batch`` at a time, as soon as every send
    under way has finished, or after ``settle_delay`` seconds, whichever comes first. A delivery
    counts as under way until its outcome is recorded, so a crash repeats at most the rows under
    way, as before. ``store_calls`` and ``settled`` count those round trips and outcomes.
    """

    sender: Sender
    store: Store
    publisher: Publisher
    worker: str
    concurrency: int | None = None
    idle_poll: float = 2.0
    lease: float = 600.0
    max_attempts: int = 5
    backoff: float = 2.0
    max_backoff: float = 600.0
    shutdown_grace: float = 10.0
    heartbeat: float = 10.0
    settle_batch: int = 64
    settle_delay: float = 0.01
    clock: Callable[[], dt.datetime] = utcnow
    process: str = field(default_factory=process_name)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _paused_until: dt.datetime | None = field(default=None, init=False)
    _chat_locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = field(
        default_factory=dict, init=False
    )
    _inflight: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _tokens: float = field(default=0.0, init=False)  # sends that may start now (pacing)
    _refilled_at: float | None = field(default=None, init=False)  # loop time of the last refill
    _next_beat: float = field(default=0.0, init=False)  # loop time of the next heartbeat
    # Outcomes waiting for the next batch, each with the future its delivery task awaits.
    _settling: list[tuple[Settlement, asyncio.Future[None]]] = field(
        default_factory=list, init=False
    )
    _flusher: asyncio.Task[None] | None = field(default=None, init=False)
    # Outcomes the store refused (delivery id → the settlement to record again), oldest first.
    _unsettled: dict[int, Settlement] = field(default_factory=dict, init=False)
    #: Store round trips that claimed or settled rows (claims + settle batches): the batching's
    #: measure, with ``settled`` the outcomes they recorded.
    store_calls: int = field(default=0, init=False)
    settled: int = field(default=0, init=False)

    @property
    def platform(self) -> str:
        return self.sender.platform

    def wake(self) -> None:
        """New rows may be due (a publication in this process): look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until ``stop`` is set (or cancelled); in-flight sends finish before returning."""
        stop = stop or asyncio.Event()
        if not await self._resettle():  # (a restart after a failure) before claims are released
            raise StoreError(f"{len(self._unsettled)} delivery outcomes are not recorded yet")
        await self._beat()
        resumed = await self.store.release_claims(
            self.platform,
            worker=self.worker,
            silent_since=self._silent_since(),
            processes=ended_here(await self.store.processes()),
        )
        if resumed:
            log.warning(
                "%s: resuming %d deliveries left unfinished by a previous run",
                self.platform,
                resumed,
            )
        try:
            while not stop.is_set():
                await self._step(stop)
        finally:
            await self._finish_inflight()
            await self._flush()  # outcomes of sends cancelled while waiting for their batch
            if self._flusher is not None:
                self._flusher.cancel()
            if self._unsettled and not await self._resettle():
                log.error(
                    "%s: %d delivery outcomes could not be recorded; those rows stay claimed and "
                    "are sent again when their claim is taken back",
                    self.platform,
                    len(self._unsettled),
                )

    async def _finish_inflight(self) -> None:
        """Let sends under way finish and be recorded; past ``shutdown_grace`` they are cancelled
        and stay claimed, to be resumed (and possibly repeated) at the next start."""
        if not self._inflight:
            return
        pending = set(self._inflight)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pending, timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _beat(self) -> None:
        """Tell the store this process is alive (at most every ``heartbeat`` seconds)."""
        now = asyncio.get_running_loop().time()
        if now >= self._next_beat:
            await self.store.heartbeat(self.process, self.worker)
            self._next_beat = now + self.heartbeat

    def _silent_since(self) -> dt.datetime:
        """Processes not heard from since then are gone (three heartbeats missed). Real time,
        as the heartbeats' own timestamps are."""
        return utcnow() - dt.timedelta(seconds=3 * self.heartbeat)

    async def _step(self, stop: asyncio.Event) -> None:
        await self._beat()
        claimed = await self._claim()
        self._wake.clear()
        if claimed:
            return
        waiters: set[asyncio.Task[Any]] = set(self._inflight)
        if not self._inflight:
            await self.publisher.write_reports()
            await self._release_expired()
        timeout = await self._idle_timeout()
        waiters.add(asyncio.ensure_future(self._wake.wait()))
        waiters.add(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters - self._inflight:
                waiter.cancel()

    async def _idle_timeout(self) -> float:
        """How long to wait when there is nothing to claim: until the next row falls due, a
        pause ends, or the next poll for other processes' publications."""
        timeout = self.idle_poll
        now = self.clock()
        if self._paused_until and self._paused_until > now:
            return min(timeout, (self._paused_until - now).total_seconds())
        refill = self._refill_wait()
        if refill > 0:
            timeout = min(timeout, refill)
        if self._inflight:
            return timeout  # a finishing send wakes the loop, which then claims what is due
        due = await self.store.next_due(self.platform)
        if due is not None:
            timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        return max(timeout, 0.001)

    async def _release_expired(self) -> None:
        cutoff = self.clock() - dt.timedelta(seconds=self.lease)
        released = await self.store.release_claims(
            self.platform, older_than=cutoff, silent_since=self._silent_since()
        )
        if released:
            log.warning(
                "%s: took back %d deliveries of stopped processes (or claimed over %gs ago)",
                self.platform,
                released,
                self.lease,
            )

    async def _claim(self) -> int:
        """Claim as many due rows as there are free slots and start sending them."""
        if self._unsettled and not await self._resettle():
            return 0  # outcomes first: nothing new until the store records what already went
        now = self.clock()
        if self._paused_until and self._paused_until > now:
            return 0
        free = min(self._limit - len(self._inflight), self._allowance())
        if free <= 0 or (self._inflight and free < max(1, self._limit // 4)):
            return 0  # a batch per round trip: wait until a quarter of the slots are free
        self.store_calls += 1
        deliveries = await self.store.claim_deliveries(
            self.platform, self.worker, free, now=now, process=self.process
        )
        self._tokens -= len(deliveries)
        for delivery in deliveries:
            task = asyncio.create_task(self._deliver(delivery), name=f"deliver-{delivery.id}")
            self._inflight.add(task)
            task.add_done_callback(self._finished)
        return len(deliveries)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())

    @property
    def _limit(self) -> int:
        return max(1, self.concurrency or self.sender.limits.max_concurrency)

    async def _deliver(self, delivery: Delivery) -> None:
        # One message at a time per chat (Telegram: about one per second in a chat): rows for
        # a chat already being sent to wait for it.
        key = (delivery.target.chat_id, delivery.target.thread_id)
        lock, users = self._chat_locks.get(key, (asyncio.Lock(), 0))
        self._chat_locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._attempt(delivery)
        finally:
            lock, users = self._chat_locks[key]
            if users <= 1:
                del self._chat_locks[key]
            else:
                self._chat_locks[key] = (lock, users - 1)

    async def _attempt(self, delivery: Delivery) -> None:
        target = delivery.target
        try:
            if delivery.kind is not DeliveryKind.REPORT:
                await self.publisher.load_issue(delivery.issue_number)
            reply = self.publisher.render(delivery)
            ids = await self.sender.send(target, reply, skip=len(delivery.sent))
        except RateLimited as error:
            until = self.clock() + dt.timedelta(seconds=error.retry_after)
            self._paused_until = max(self._paused_until or until, until)
            log.info("%s: rate limited, pausing %.2fs", self.platform, error.retry_after)
            await self._settled(
                Settlement(
                    delivery,
                    "retry",
                    message_ids=(*delivery.sent, *error.sent),
                    error=str(error),
                    not_before=until,
                    count_attempt=False,
                )
            )
        except TargetGone as error:
            log.info("%s: %s is gone (%s); deactivated", self.platform, target, error)
            await self._settled(
                Settlement(delivery, "gone", error=str(error), thread_only=error.thread_only)
            )
        except ChatMoved as error:
            try:
                await note_unreachable(self.store, target, error)  # as a failed reply does
            except StoreError as failed:  # not moved yet: the next attempt is told again
                await self._try_later(delivery, f"{error}; not moved yet: {failed}")
                return
            log.info(
                "%s: %s moved to %s; resending there", self.platform, target, error.new_chat_id
            )
            await self._settled(
                Settlement(
                    delivery,
                    "retry",
                    error=str(error),
                    not_before=self.clock(),
                    count_attempt=False,
                )
            )
        except TransientError as error:
            await self._try_later(delivery, str(error), sent=error.sent)
        except StoreError as error:  # the adapter's own look-up (a chat's choices) met a busy store
            await self._try_later(delivery, f"storage: {error}")
        except (PermanentError, DeliveryError) as error:
            log.warning(
                "%s: delivery %d to %s failed: %s", self.platform, delivery.id, target, error
            )
            await self._settled(Settlement(delivery, "failed", error=str(error)))
        except Exception as error:  # a bug (rendering, adapter): recorded, never retried in a loop
            log.exception("%s: delivery %d to %s crashed", self.platform, delivery.id, target)
            await self._settled(Settlement(delivery, "failed", error=f"internal error: {error!r}"))
        else:
            await self._settled(Settlement(delivery, "sent", message_ids=(*delivery.sent, *ids)))

    async def _try_later(self, delivery: Delivery, error: str, *, sent: Sequence[str] = ()) -> None:
        """A failure that may pass: back to pending after an exponential backoff, or failed
        for good after ``max_attempts``."""
        attempts = delivery.attempts + 1
        target = delivery.target
        if attempts >= self.max_attempts:
            message = f"gave up after {attempts} attempts: {error}"
            log.warning(
                "%s: delivery %d to %s failed: %s", self.platform, delivery.id, target, message
            )
            await self._settled(Settlement(delivery, "failed", error=message))
            return
        delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
        delay *= random.uniform(0.8, 1.2)
        log.info(
            "%s: delivery %d to %s: %s; retry in %.1fs",
            self.platform,
            delivery.id,
            target,
            error,
            delay,
        )
        await self._settled(
            Settlement(
                delivery,
                "retry",
                message_ids=(*delivery.sent, *sent),
                error=error,
                not_before=self.clock() + dt.timedelta(seconds=delay),
                count_attempt=True,
            )
        )

    def _allowance(self) -> int:
        """How many sends may start now: a token bucket filled at ``messages_per_second`` that
        holds a full batch of claims or a twentieth of a second's worth, whichever is more (the
        platform client paces its requests too; this caps the rate a fan-out feeds it at)."""
        rate = self.sender.limits.messages_per_second
        if rate <= 0:
            return self._limit
        now = asyncio.get_running_loop().time()
        capacity = max(float(self._limit), rate / 20)
        if self._refilled_at is None:
            self._tokens = capacity
        else:
            self._tokens = min(capacity, self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        return int(self._tokens)

    def _refill_wait(self) -> float:
        """Seconds until the next send may start (0: now)."""
        rate = self.sender.limits.messages_per_second
        if rate <= 0 or self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / rate

    async def _settled(self, settlement: Settlement) -> None:
        """The one place an outcome is known: queue it for the next batch and wait until the
        store has it (or has refused it; see :meth:`_flush`)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settling.append((settlement, done))
        if len(self._settling) >= min(self.settle_batch, len(self._inflight)):
            # Full, or every send under way is waiting for it: record the batch now, from here
            # (the store's lock is taken before this task yields).
            await self._flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="settle-batch")
        await asyncio.shield(done)  # cancelled while waiting: the batch still records it

    async def _flush_soon(self) -> None:
        """Record the waiting outcomes ``settle_delay`` after the first of them (sends still
        under way may add theirs meanwhile)."""
        while self._settling:
            await asyncio.sleep(self.settle_delay)
            await self._flush()

    async def _flush(self) -> None:
        """Record one batch of outcomes in one store transaction. When the store fails (a full
        disk, a lock held too long) they are kept and recorded again before anything new is
        claimed: the messages may have gone out, and a row left ``claimed`` would be sent again
        after the lease."""
        batch = self._settling[: self.settle_batch]
        del self._settling[: self.settle_batch]
        if not batch:
            return
        settlements = [settlement for settlement, _ in batch]
        try:
            await self._record(settlements)
        except asyncio.CancelledError:  # shutting down past the grace: recorded at the end
            for settlement in settlements:
                self._unsettled[settlement.delivery.id] = settlement
            raise
        except Exception as error:
            for settlement in settlements:
                self._unsettled[settlement.delivery.id] = settlement
            more = f" and {len(settlements) - 1} more" if len(settlements) > 1 else ""
            log.warning(
                "%s: recording the outcome of delivery %d%s failed (%s); retrying before new "
                "claims",
                self.platform,
                settlements[0].delivery.id,
                more,
                error,
            )
        finally:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _record(self, settlements: list[Settlement]) -> None:
        self.store_calls += 1
        results = await self.store.settle_many(settlements)
        self.settled += len(settlements)
        for settlement, recorded in zip(settlements, results, strict=True):
            self._unsettled.pop(settlement.delivery.id, None)
            if not recorded:
                log.warning(
                    "%s: delivery %d was no longer claimed by %s when it finished (lease expired?)",
                    self.platform,
                    settlement.delivery.id,
                    self.worker,
                )

    async def _resettle(self) -> bool:
        """Record the outcomes the store refused earlier; ``True`` once none is left."""
        if not self._unsettled:
            return True
        try:
            await self._record(list(self._unsettled.values()))
        except Exception as error:
            log.warning(
                "%s: recording %d earlier delivery outcomes failed again (%s)",
                self.platform,
                len(self._unsettled),
                error,
            )
            return False
        return True
