"""What python-telegram-bot's errors mean for delivery, and the one retry inside a send.

:func:`delivery_error` translates an exception into the core's terms (:mod:`bot.delivery`); the
dispatcher decides what to do with it. Inside one request, :class:`RetryingRateLimiter` (PTB's
own extension point) waits out flood limits and a 429's ``retry_after`` up to ``max_retries``
times and retries network failures ``network_retries`` times with a short backoff, both bounded,
so a send returns or raises within a few seconds and every longer wait is the dispatcher's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter

from bot.delivery import (
    ChatMoved,
    DeliveryError,
    PermanentError,
    RateLimited,
    TargetGone,
    TransientError,
)
from bot.metrics import rate_limited
from bot.pacing import (
    FairPacer,
    Lane,
    LocalBucket,
    PacerClosed,
    TokenSource,
    window_limit,
    window_pace,
)

__all__ = ["RetryingRateLimiter", "Turn", "delivery_error", "describe"]

#: What a send passes as ``rate_limit_args``: its lane and key in the :class:`FairPacer`.
Turn = tuple[Lane, str]
_Result = bool | dict[str, Any] | list[dict[str, Any]]
_Request = Callable[..., Coroutine[Any, Any, _Result]]

log = logging.getLogger("adapters.telegram")

# BadRequest descriptions (lower-cased fragments) that mean "this destination is gone for good".
_GONE_CHAT = (
    "chat not found",
    "group chat was deactivated",
    "need administrator rights in the channel",
    "not enough rights to send text messages",
    "have no rights to send a message",
    "chat_write_forbidden",
)
_GONE_THREAD = ("message thread not found", "topic_deleted")


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form is deprecated
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def delivery_error(exc: TelegramError) -> DeliveryError:
    """What a python-telegram-bot error means for delivery (see :mod:`bot.delivery`).

    A BadRequest saying the chat, the bot's right to post or the forum topic is gone is
    :class:`TargetGone` (``thread_only`` for a topic); other BadRequests are our bugs.
    """
    text = describe(exc)
    if isinstance(exc, RetryAfter):
        return RateLimited(_retry_after_seconds(exc), text)
    if isinstance(exc, ChatMigrated):
        return ChatMoved(str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        return TargetGone(exc.message)
    if isinstance(exc, BadRequest):
        description = exc.message.lower()
        if any(fragment in description for fragment in _GONE_THREAD):
            return TargetGone(exc.message, thread_only=True)
        if any(fragment in description for fragment in _GONE_CHAT):
            return TargetGone(exc.message)
        return PermanentError(text)
    if isinstance(exc, NetworkError):  # TimedOut included; BadRequest handled above
        return TransientError(text)
    return PermanentError(text)  # InvalidToken, Conflict, EndPointNotFound: configuration


class NotSent(NetworkError):
    """Refused before it went out: the adapter is shutting down (never retried inside a send;
    the dispatcher sees a transient error and puts the row back to pending)."""


def _safe_to_retry(exc: NetworkError) -> bool:
    """Whether repeating the request is worth it and cannot surprise the reader much.

    A 5xx answer or a failed connection is retried; a timeout only when the request never left
    (connect and pool timeouts), since a read timeout may hide a message that did arrive. The
    same for aiohttp's other errors: only a connection that was never made is safe, a reset or
    a truncated answer after the request was written may follow a message that went out.
    """
    if isinstance(exc, BadRequest | NotSent):
        return False
    if isinstance(exc, TimedOut):
        return isinstance(
            exc.__cause__,
            httpx.ConnectTimeout | httpx.PoolTimeout | aiohttp.ConnectionTimeoutError,
        )
    if isinstance(exc.__cause__, aiohttp.ClientError):
        return isinstance(exc.__cause__, aiohttp.ClientConnectorError)
    return True


class _FloodLimited(Exception):
    """A paced request's 429, carried past AIORateLimiter's retry loop (which catches only
    :class:`~telegram.error.RetryAfter`) to :meth:`RetryingRateLimiter.process_request`."""

    def __init__(self, error: RetryAfter) -> None:
        super().__init__(str(error))
        self.error = error


class RetryingRateLimiter(AIORateLimiter):
    """:class:`~telegram.ext.AIORateLimiter` (a group's 20 a minute, ``retry_after`` honoured)
    plus the bot's pace and a bounded exponential backoff for network failures, at PTB's own
    extension point.

    The overall pace is the :class:`~bot.pacing.FairPacer`'s, not aiolimiter's (whose bucket lets
    a whole period's budget through at once): turns come from ``source`` (the token bucket shared
    by every process on this bot token) or, without one, a bucket of this process sized by
    :func:`~bot.pacing.window_pace` from ``overall_max_rate``, the platform's cap. A 429 pauses
    the pacer for its ``retry_after``, so no turn is handed out (and no token spent) meanwhile,
    and a paced request retried after it (up to ``max_retries`` times) waits for a new turn like
    any other: AIORateLimiter's own retry would send every request refused in that second again
    at the same instant, hundreds at once at a high cap, and be refused again.
    Bulk sends to a private chat start at least a second apart (Telegram: about one message a
    second per chat). Polling is not affected: PTB never rate-limits ``getUpdates``.
    """

    def __init__(
        self,
        *,
        overall_max_rate: float,
        group_max_rate: float = 20,
        max_retries: int = 3,
        network_retries: int = 2,
        backoff: float = 0.5,
        source: TokenSource | None = None,
    ) -> None:
        super().__init__(
            overall_max_rate=0,  # no aiolimiter bucket: the pacer paces
            group_max_rate=group_max_rate,
            group_time_period=60,
            max_retries=max_retries,
        )
        self.flood_retries = max_retries
        self.network_retries = network_retries
        self.backoff = backoff
        if source is None:
            rate, burst = window_pace(overall_max_rate)
            source = LocalBucket(rate, burst)
        self.pacer = FairPacer(source=source, per_second=window_limit(overall_max_rate))
        self._closing = asyncio.Event()
        self._private_sent: dict[int, float] = {}  # private chat -> loop time of its last bulk turn

    def close(self) -> int:
        """Shutting down: refuse every request still waiting for its turn or a flood limit (not
        sent, so nothing is lost by refusing) and every later one; requests already on the wire
        finish. Returns how many waited for a turn."""
        self._closing.set()
        return self.pacer.close()

    async def process_request(
        self,
        callback: _Request,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Turn | int | None,
    ) -> _Result:
        if not isinstance(rate_limit_args, tuple):
            # No turn (a callback answer, a member look-up...), but not during a flood pause:
            # AIORateLimiter held these while it waited out a 429, and the pause is ours now.
            await self.pacer.unpaused()
            return await self._with_retries(callback, args, kwargs, endpoint, data)
        lane, key = rate_limit_args  # a Turn: wait for it in the fair pacer
        attempt = 0
        while True:
            try:
                if lane is Lane.BULK:
                    await self._private_chat_spacing(data.get("chat_id"))
                await self.pacer.turn(lane, key)
            except PacerClosed as exc:
                raise NotSent(f"not sent: {exc}") from None
            try:
                return await self._with_retries(callback, args, kwargs, endpoint, data, paced=True)
            except _FloodLimited as flood:
                if attempt >= self.flood_retries:
                    raise flood.error from None
                attempt += 1
                log.info("%s: flood limit; trying again in a turn after the pause", endpoint)
            finally:
                self.pacer.answered()  # it counts in the platform's window a second longer

    async def _with_retries(
        self,
        callback: _Request,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        *,
        paced: bool = False,
    ) -> _Result:
        attempt = 0
        while True:
            try:
                return await self._unless_closing(
                    lambda call: super(RetryingRateLimiter, self).process_request(
                        call, args, kwargs, endpoint, data, None
                    ),
                    callback,
                    paced=paced,
                )
            except NetworkError as exc:
                if attempt >= self.network_retries or not _safe_to_retry(exc):
                    raise
                delay = self.backoff * 2**attempt * random.uniform(0.8, 1.2)
                log.info("%s failed (%s); retrying in %.2fs", endpoint, describe(exc), delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _private_chat_spacing(self, chat_id: object) -> None:
        """Wait until a second has passed since the last bulk send to this private chat."""
        if not isinstance(chat_id, int) or chat_id <= 0:
            return  # groups and channels: AIORateLimiter's per-group limit
        loop = asyncio.get_running_loop()
        sent = self._private_sent
        last = sent.get(chat_id)
        if last is not None and (wait := last + 1.0 - loop.time()) > 0:
            await asyncio.sleep(wait)
        now = loop.time()
        if len(sent) >= 4096:  # forget chats not written to within the last second
            for chat, at in list(sent.items()):
                if at <= now - 1.0:
                    del sent[chat]
        sent[chat_id] = now

    async def _unless_closing(
        self,
        limited: Callable[[_Request], Coroutine[Any, Any, _Result]],
        callback: _Request,
        *,
        paced: bool = False,
    ) -> _Result:
        """``limited(callback)`` (AIORateLimiter's request), given up while it still waits for a
        flood limit (a group's 20 a minute) once :meth:`close` is called; never once it has
        gone out. ``paced``: a 429 comes out as :class:`_FloodLimited`, past AIORateLimiter's
        own retry, for :meth:`process_request` to retry in a new turn."""
        if self._closing.is_set():
            raise NotSent("not sent: shutting down")
        started = False

        async def call(*a: Any, **k: Any) -> _Result:
            nonlocal started
            started = True
            try:
                return await callback(*a, **k)
            except RetryAfter as exc:  # everyone waits, whether this one is retried or not
                rate_limited("telegram", _retry_after_seconds(exc), handled_by="client")
                self.pacer.pause(_retry_after_seconds(exc))
                if paced:
                    raise _FloodLimited(exc) from exc
                raise

        work = asyncio.ensure_future(limited(call))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while not work.done():
                await asyncio.wait({work, closing}, return_when=asyncio.FIRST_COMPLETED)
                if closing.done() and not started and not work.done():
                    work.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await work
                    raise NotSent("not sent: shutting down")
                if closing.done():
                    await asyncio.wait({work})
            return work.result()
        finally:
            closing.cancel()
            if not work.done():
                work.cancel()
