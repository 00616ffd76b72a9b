"""What can happen when a message is sent, in the core's terms.

Adapters translate their platform's errors into these, so the dispatcher decides what to do
(wait, retry, give up, deactivate the destination) without knowing any platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ChatMoved",
    "DeliveryError",
    "Limits",
    "PermanentError",
    "RateLimited",
    "TargetGone",
    "TransientError",
]


class DeliveryError(Exception):
    """A message could not be delivered."""


class RateLimited(DeliveryError):
    """The platform asked us to wait ``retry_after`` seconds. Not a failure: try again then."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(f"{message} (retry after {self.retry_after:g}s)")


class TargetGone(DeliveryError):
    """The destination will never accept messages again (bot blocked/kicked, chat deleted)."""


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
    """A platform's sending limits, used by the dispatcher to pace itself."""

    messages_per_second: float
    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    max_concurrency: int = 8
    extra: dict[str, float] = field(default_factory=dict)
