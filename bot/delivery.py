"""What can happen when a message is sent, in the core's terms.

Adapters translate their platform's errors into these, so the dispatcher decides what to do
(wait, retry, give up, deactivate the destination) without knowing any platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.chat_prefs import move_chat_prefs
from bot.errors import DlwError
from bot.model import Target
from bot.store.protocols import Channels, KeyValue


class _Destinations(Channels, KeyValue, Protocol):
    """What recording an unreachable destination touches: registrations and per-chat choices."""


__all__ = [
    "ChatMoved",
    "DeliveryError",
    "Limits",
    "PermanentError",
    "RateLimited",
    "TargetGone",
    "TransientError",
    "note_unreachable",
]


class DeliveryError(DlwError):
    """A message could not be delivered.

    ``sent``: the ids of the messages of a reply split into several that did go out before the
    failure (the adapter sets it), so that a retry continues after them instead of repeating them.
    """

    sent: tuple[str, ...] = ()


class RateLimited(DeliveryError):
    """The platform asked us to wait ``retry_after`` seconds. Not a failure: try again then."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(f"{message} (retry after {self.retry_after:g}s)")


class TargetGone(DeliveryError):
    """The destination will never accept messages again (bot blocked/kicked, chat deleted).

    ``thread_only``: only the thread or forum topic is gone (deleted), the chat itself is fine.
    """

    def __init__(self, message: str = "target gone", *, thread_only: bool = False) -> None:
        self.thread_only = thread_only
        super().__init__(message)


class ChatMoved(DeliveryError):
    """A group became a supergroup with a new id; send there instead."""

    def __init__(self, new_chat_id: str) -> None:
        self.new_chat_id = new_chat_id
        super().__init__(f"chat moved to {new_chat_id}")


class TransientError(DeliveryError):
    """A network error or server error: worth retrying with backoff."""


class PermanentError(DeliveryError):
    """The platform refused the request itself (bad request): a bug to record, never to retry."""


@dataclass(frozen=True)
class Limits:
    """A platform's sending limits, as the dispatcher uses them: it starts at most
    ``messages_per_second`` sends a second and has at most ``max_concurrency`` in flight (one
    at a time per chat, whatever the platform). Finer limits (per group, per route) are the
    platform client's business inside a send."""

    messages_per_second: float
    max_concurrency: int = 8


async def note_unreachable(store: _Destinations, target: Target, error: DeliveryError) -> bool:
    """Record in the store what ``error`` says about ``target``; ``True`` if it said anything.

    Gone: a reader (``target.direct``) or a chat is marked inactive, never to be retried; a gone
    topic loses just its own registration. Moved: the chat's registrations follow it to the new
    id, and so do its choices (:mod:`bot.chat_prefs`). Anything else says nothing about the destination. Adapters call this when a command reply
    fails; the dispatcher when a delivery does, so both leave the store in the same state.
    """
    if isinstance(error, TargetGone):
        await store.mark_unreachable(target, str(error)[:200], thread_only=error.thread_only)
        return True
    if isinstance(error, ChatMoved):
        await store.migrate_chat(target.platform, target.chat_id, error.new_chat_id)
        await move_chat_prefs(store, target.platform, target.chat_id, error.new_chat_id)
        return True
    return False
