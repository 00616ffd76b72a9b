"""What discord.py's errors mean for delivery, and keeping interaction tokens out of logs.

discord.py retries a send itself: it waits out 429s shorter than ``max_ratelimit_timeout``
(:data:`~adapters.discord._client.MAX_RATE_LIMIT_WAIT`, longer ones surface as
:class:`~bot.delivery.RateLimited`) and retries a 5xx a few times. Everything beyond one send is
the dispatcher's, from the errors translated here.
"""

from __future__ import annotations

import re

import aiohttp
import discord

from adapters.redaction import RedactingFilter
from bot.delivery import DeliveryError, PermanentError, RateLimited, TargetGone, TransientError

__all__ = ["delivery_error", "describe", "install_log_redaction"]

_GONE_FORBIDDEN = {50007: "DMs closed", 50001: "missing access", 50013: "missing permissions"}
_GONE_NOT_FOUND = {10003: "unknown channel", 10013: "unknown user"}
_GONE_BAD_REQUEST = {50083: "thread archived"}  # locked/archived: a moderator must reopen it
_TOKEN_IN_URL = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/?\s'\"]+")
_TOKEN_IN_EVENT = re.compile(r"""(['"]token['"]:\s*['"])[^'"]+""")  # raw gateway events


#: discord.py logs request URLs (DEBUG, and WARNING on 429s) and, at DEBUG, every raw gateway
#: event; interaction URLs and INTERACTION_CREATE payloads carry the token that lets anyone
#: answer in the bot's name for 15 minutes.
_REDACT = RedactingFilter((_TOKEN_IN_URL, _TOKEN_IN_EVENT))


def describe(exc: BaseException, *secrets: str) -> str:
    """An exception for a log line, without interaction tokens or ``secrets``."""
    return _REDACT.redact(f"{type(exc).__name__}: {exc}", *secrets)


def install_log_redaction() -> None:
    """Scrub interaction tokens from discord.py's own logs."""
    _REDACT.attach("discord.http", "discord.webhook.async_", "discord.gateway", "discord.state")


def delivery_error(exc: BaseException) -> DeliveryError | None:
    """The core's meaning of a discord.py/aiohttp failure, or None for a bug to re-raise."""
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after)
    if isinstance(exc, discord.HTTPException):
        what = f"HTTP {exc.status} (code {exc.code}): {exc.text[:200]}"
        if exc.status == 429:  # a Cloudflare ban or an unusual 429 discord.py did not absorb
            header = exc.response.headers.get("Retry-After") if exc.response else None
            try:
                wait = float(header) if header else 60.0
            except ValueError:
                wait = 60.0
            return RateLimited(wait, what)
        if isinstance(exc, discord.Forbidden) and exc.code in _GONE_FORBIDDEN:
            return TargetGone(f"{_GONE_FORBIDDEN[exc.code]}: {what}")
        if isinstance(exc, discord.NotFound) and exc.code in _GONE_NOT_FOUND:
            return TargetGone(f"{_GONE_NOT_FOUND[exc.code]}: {what}")
        if exc.status == 400 and exc.code in _GONE_BAD_REQUEST:
            return TargetGone(f"{_GONE_BAD_REQUEST[exc.code]}: {what}")
        if isinstance(exc, discord.DiscordServerError) or exc.status >= 500:
            return TransientError(what)
        return PermanentError(what)
    if isinstance(exc, aiohttp.ClientError | OSError):  # OSError includes TimeoutError
        return TransientError(describe(exc))
    return None
