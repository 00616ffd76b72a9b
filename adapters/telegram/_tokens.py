"""Keeping the bot token out of every log line python-telegram-bot, httpx or we could write."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


__all__ = ["protect_token"]


class _TokenFilter(logging.Filter):
    """Blanks bot tokens out of log records, their arguments and their tracebacks.

    python-telegram-bot logs its API URL (token included) at DEBUG while building the bot, and
    :class:`~telegram.error.InvalidToken` repeats a rejected token; a logger-level filter sees
    those records before any handler formats them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<token>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return True
        cleaned = self.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_TOKEN_FILTER = _TokenFilter()


def protect_token(token: str) -> None:
    """Keep ``token`` out of every log line python-telegram-bot, httpx or we could write."""
    _TOKEN_FILTER.secrets.update({token, token.partition(":")[2]} - {""})
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)  # httpx logs every request URL at INFO
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in {"telegram", "httpx"}]
    for name in [*names, "telegram", "httpx", "httpcore", "adapters.telegram"]:
        logging.getLogger(name).addFilter(_TOKEN_FILTER)  # adding twice is a no-op
