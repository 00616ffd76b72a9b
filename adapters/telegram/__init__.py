"""Telegram on python-telegram-bot: handlers generated from the registry, HTML, inline mode.

The public names; the modules behind them are private (``_adapter``: the bot, ``_render``: HTML,
``_errors``: what errors mean and the retry inside a send) except :mod:`.settings`, which the
entry point reads without loading python-telegram-bot (the adapter itself loads on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adapters.telegram.settings import TelegramSettings, api_urls

if TYPE_CHECKING:
    from adapters.telegram._adapter import (
        ALLOWED_UPDATES,
        PLATFORM,
        TelegramAdapter,
        more_callback_data,
    )
    from adapters.telegram._errors import RetryingRateLimiter, delivery_error
    from adapters.telegram._render import (
        MAX_MESSAGE_UTF16,
        RenderedMessage,
        render_html,
        utf16_len,
    )

__all__ = [
    "ALLOWED_UPDATES",
    "MAX_MESSAGE_UTF16",
    "PLATFORM",
    "RenderedMessage",
    "RetryingRateLimiter",
    "TelegramAdapter",
    "TelegramSettings",
    "api_urls",
    "delivery_error",
    "more_callback_data",
    "render_html",
    "utf16_len",
]

_LAZY = {
    "ALLOWED_UPDATES": "_adapter",
    "PLATFORM": "_adapter",
    "TelegramAdapter": "_adapter",
    "more_callback_data": "_adapter",
    "RetryingRateLimiter": "_errors",
    "delivery_error": "_errors",
    "MAX_MESSAGE_UTF16": "_render",
    "RenderedMessage": "_render",
    "render_html": "_render",
    "utf16_len": "_render",
}


def __getattr__(name: str) -> Any:
    """The adapter's names load python-telegram-bot only when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
