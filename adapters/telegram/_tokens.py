"""Keeping the bot token out of every log line python-telegram-bot, httpx or we could write.

python-telegram-bot logs its API URL (token included) at DEBUG while building the bot, and
:class:`~telegram.error.InvalidToken` repeats a rejected token; httpx logs every request URL at
INFO. The shared :class:`~adapters.redaction.RedactingFilter` blanks the token out.
"""

from __future__ import annotations

import logging

from adapters.redaction import RedactingFilter

__all__ = ["protect_token"]

_TOKEN_FILTER = RedactingFilter()


def protect_token(token: str) -> None:
    """Keep ``token`` out of every log line python-telegram-bot, httpx or we could write."""
    _TOKEN_FILTER.secrets.update({token, token.partition(":")[2]} - {""})
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)  # httpx logs every request URL at INFO
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in {"telegram", "httpx"}]
    _TOKEN_FILTER.attach(*names, "telegram", "httpx", "httpcore", "adapters.telegram")
