"""Reading what the fake Discord server recorded as a user would see it, shared by the tests.

Embeds carry markdown escapes and zero-width spaces (mention escaping); these helpers strip them
and check every message against Discord's limits, so each test asserts on visible text.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import re
from collections.abc import Iterator

from adapters.discord import (
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FOOTER_LIMIT,
    MESSAGE_EMBED_CHARS,
    TITLE_LIMIT,
)
from tests.fakes.discord import MessageRecord

__all__ = ["NO_PINGS", "assert_within_limits", "no_loop_errors", "text_of", "unescape"]

NO_PINGS: dict[str, list[str]] = {"parse": []}


def unescape(text: str) -> str:
    """The text a reader sees: backslash escapes and escape_mentions' zero-width spaces gone."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def text_of(*messages: MessageRecord) -> str:
    """Every visible string of the messages' embeds, markdown escapes removed."""
    parts: list[str] = []
    for message in messages:
        for embed in message.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts.append((embed.get("footer") or {}).get("text") or "")
    return unescape("\n".join(parts))


def assert_within_limits(message: MessageRecord) -> None:
    """Discord's embed limits (the fake enforces them too), and nobody pinged."""
    assert 1 <= len(message.embeds) <= EMBEDS_PER_MESSAGE
    total = 0
    for embed in message.embeds:
        title, description = embed.get("title") or "", embed.get("description") or ""
        footer = (embed.get("footer") or {}).get("text") or ""
        assert len(title) <= TITLE_LIMIT
        assert len(description) <= DESCRIPTION_LIMIT
        assert len(footer) <= FOOTER_LIMIT
        total += len(title) + len(description) + len(footer)
    assert total <= MESSAGE_EMBED_CHARS
    assert message.allowed_mentions == NO_PINGS
    assert message.mentioned_user_ids == []
    assert not message.mention_everyone


@contextlib.contextmanager
def no_loop_errors() -> Iterator[None]:
    """Fail if anything reached the loop's exception handler (e.g. "Unclosed client session")."""
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(str(context)))
    try:
        yield
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert not loop_errors, loop_errors
