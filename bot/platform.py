"""The contract between the core and a platform: what an adapter is to the app.

The core defines it (and types on it) so it never imports an adapter; :mod:`adapters.base`
re-exports it for adapter authors. An adapter turns platform events into
:class:`bot.commands.Context` + command calls, and :class:`bot.reply.Reply` objects into platform
messages. It contains no business logic: what to answer is decided by :mod:`bot.commands`, what
to publish by :mod:`bot.publishing`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.delivery import Limits
from bot.model import Target
from bot.reply import Reply

__all__ = ["Adapter"]


@runtime_checkable
class Adapter(Protocol):
    """A running connection to one platform."""

    platform: str
    limits: Limits

    async def start(self) -> None:
        """Connect and start handling commands; return once running."""

    async def stop(self) -> None:
        """Disconnect cleanly; safe to call twice."""

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        """Deliver ``reply`` to ``target`` (split as the platform needs); return the message ids.

        ``skip``: leave out the first messages of the split (an earlier attempt delivered them).
        Raises the errors of :mod:`bot.delivery`, never a platform's own exceptions; one raised
        after some messages went out carries their ids in ``sent``.
        """
        ...
