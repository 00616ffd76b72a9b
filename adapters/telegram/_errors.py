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
from typing import TYPE_CHECKING, Any

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
from bot.pacing import FairPacer, Lane, PacerClosed

if TYPE_CHECKING:
    pass


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
    (connect and pool timeouts), since a read timeout may hide a message that did arrive.
    """
    if isinstance(exc, BadRequest | NotSent):
        return False
    if isinstance(exc, TimedOut):
        return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)
    return True


class RetryingRateLimiter(AIORateLimiter):
    """:class:`~telegram.ext.AIORateLimiter` (flood limits, ``retry_after`` honoured) plus a
    bounded exponential backoff for network failures, at PTB's own extension point.

    Polling is not affected: PTB never rate-limits ``getUpdates`` and retries it itself.
    """

    def __init__(
        self,
        *,
        overall_max_rate: float,
        group_max_rate: float = 20,
        max_retries: int = 3,
        network_retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        # aiolimiter lets a whole period's capacity through at once: with a 1 s period that is a
        # second's budget in one burst on top of the steady rate. A 50 ms bucket keeps the pace.
        burst = max(1.0, overall_max_rate / 20)
        super().__init__(
            overall_max_rate=burst,
            overall_time_period=burst / overall_max_rate,
            group_max_rate=group_max_rate,
            group_time_period=60,
            max_retries=max_retries,
        )
        self.network_retries = network_retries
        self.backoff = backoff
        self.pacer = FairPacer(overall_max_rate, burst=int(burst))
        self._closing = asyncio.Event()

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
        if isinstance(rate_limit_args, tuple):  # a Turn: wait for it in the fair pacer
            try:
                await self.pacer.turn(*rate_limit_args)
            except PacerClosed as exc:
                raise NotSent(f"not sent: {exc}") from None
        attempt = 0
        while True:
            try:
                return await self._unless_closing(
                    lambda call: super(RetryingRateLimiter, self).process_request(
                        call, args, kwargs, endpoint, data, None
                    ),
                    callback,
                )
            except NetworkError as exc:
                if attempt >= self.network_retries or not _safe_to_retry(exc):
                    raise
                delay = self.backoff * 2**attempt * random.uniform(0.8, 1.2)
                log.info("%s failed (%s); retrying in %.2fs", endpoint, describe(exc), delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def _unless_closing(
        self, limited: Callable[[_Request], Coroutine[Any, Any, _Result]], callback: _Request
    ) -> _Result:
        """``limited(callback)`` (AIORateLimiter's request), given up while it still waits for a
        flood limit (a group's 20 a minute) once :meth:`close` is called; never once it has
        gone out."""
        if self._closing.is_set():
            raise NotSent("not sent: shutting down")
        started = False

        async def call(*a: Any, **k: Any) -> _Result:
            nonlocal started
            started = True
            try:
                return await callback(*a, **k)
            except RetryAfter as exc:  # waited out above (or surfacing): counted either way
                rate_limited("telegram", _retry_after_seconds(exc), handled_by="client")
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
