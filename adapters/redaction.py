"""One log filter that keeps secrets (bot tokens, interaction tokens) out of every log line.

Platform libraries log request URLs, raw gateway events and exceptions that repeat a rejected
token. A :class:`RedactingFilter` attached to their loggers sees each record before any handler
formats it, and blanks out every known secret and every match of its patterns, in the message,
its arguments, the traceback and the stack. Each adapter makes one with what it must hide.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["MASK", "RedactingFilter"]

MASK = "<token>"


class RedactingFilter(logging.Filter):
    """Blanks ``secrets`` and ``patterns`` (their group 1 kept) out of log records."""

    def __init__(self, patterns: Iterable[re.Pattern[str]] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.patterns = tuple(patterns)

    def redact(self, text: str, *secrets: str) -> str:
        """``text`` with every pattern match and secret (these, and ``secrets``) masked."""
        for pattern in self.patterns:
            text = pattern.sub(rf"\g<1>{MASK}", text)
        for secret in (*self.secrets, *secrets):
            if secret:
                text = text.replace(secret, MASK)
        return text

    def attach(self, *names: str) -> None:
        """Filter the records of these loggers (attaching twice is a no-op)."""
        for name in names:
            logging.getLogger(name).addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets and not self.patterns:
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
