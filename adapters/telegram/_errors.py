"""What python-telegram-bot's errors mean for delivery, and the one retry inside a send.

:func:`delivery_error` translates an exception into the core's terms (:mod:`bot.delivery`); the
dispatcher decides what to do with it. Inside one request, :class:`RetryingRateLimiter` (PTB's
own extension point) waits out flood limits and a 429's ``retry_after`` up to ``max_retries``
times and retries network failures ``network_retries`` times with a short backoff, both bounded,
so a send returns or raises within a few seconds and every longer wait is the dispatcher's.
"""

from __future__ import annotations

import asyncio
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

if TYPE_CHECKING:
    pass


__all__ = ["RetryingRateLimiter", "delivery_error", "describe"]

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


def _safe_to_retry(exc: NetworkError) -> bool:
    """Whether repeating the request is worth it and cannot surprise the reader much.

    A 5xx answer or a failed connection is retried; a timeout only when the request never left
    (connect and pool timeouts), since a read timeout may hide a message that did arrive.
    """
    if isinstance(exc, BadRequest):
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

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except NetworkError as exc:
                if attempt >= self.network_retries or not _safe_to_retry(exc):
                    raise
                delay = self.backoff * 2**attempt * random.uniform(0.8, 1.2)
                log.info("%s failed (%s); retrying in %.2fs", endpoint, describe(exc), delay)
                attempt += 1
                await asyncio.sleep(delay)
