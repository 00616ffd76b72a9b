"""The contract between the core and a platform, both ways.

:class:`Adapter` is what a platform is to the app; :class:`AdapterServices` is all of the core an
adapter gets (never the App itself). The core defines both, so it never imports an adapter;
:mod:`adapters.base` re-exports them for adapter authors. An adapter turns platform events into
:class:`bot.commands.Context` + command calls, and :class:`bot.reply.Reply` objects into platform
messages. It contains no business logic: what to answer is decided by :mod:`bot.commands`, what
to publish by :mod:`bot.publishing`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from bot.commands import ChatKind, CommandRegistry, Context, Services
from bot.delivery import DeliveryError, Limits, note_unreachable
from bot.leadership import Leadership
from bot.model import Target
from bot.paging import Paging
from bot.reply import Reply
from bot.store import Store
from bot.store.protocols import KeyValue, RateBudget

__all__ = ["Adapter", "AdapterServices", "TellOperators"]

log = logging.getLogger(__name__)


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


#: How the app tells its operators something (best effort, by direct message).
TellOperators = Callable[[Reply], Awaitable[None]]

#: A process counts as drawing on the send budget while heard from this recently (three of the
#: dispatcher's ten-second heartbeats).
SENDERS_SEEN_WITHIN = 30.0


class AdapterServices:
    """What an adapter may use of the core: the registry, "More" paging, a small key-value
    store, the shared send budget, two facts it can report about destinations, and a word to
    the operators. Narrow on purpose, so an adapter can't reach into publishing or the rest of the
    store, and a new platform needs nothing else.
    """

    def __init__(
        self,
        registry: CommandRegistry,
        handlers: Services,
        store: Store,
        *,
        tell_operators: TellOperators | None = None,
    ) -> None:
        self.registry = registry
        self.paging = Paging(store, keep=handlers.settings.continuations_per_user)
        self.meta: KeyValue = store
        self.budget: RateBudget = store  # the send budget shared by every process (pacing)
        self._handlers = handlers  # what command handlers see, passed on in every Context
        self._store = store
        self._tell_operators = tell_operators

    async def senders(self) -> int:
        """How many processes draw on the shared send budget now: those in the ``dispatch``
        role that sent a heartbeat within three of their intervals (at least one: this one)."""
        live = await self._store.instances(seen_within=SENDERS_SEEN_WITHIN)
        return max(1, sum(1 for instance in live if "dispatch" in instance.roles))

    async def report_to_operators(self, reply: Reply) -> None:
        """Tell the operators (``DLW_ADMINS``) about a problem only they can fix, e.g. a
        permission the bot lacks, through the same direct messages that report rejected
        content. Best effort: never raises; without a way to reach them it is only logged."""
        if self._tell_operators is None:
            log.warning("no way to reach the operators; not told: %s", reply.plain_text()[:300])
            return
        try:
            await self._tell_operators(reply)
        except Exception:
            log.warning("could not tell the operators: %s", reply.plain_text()[:300], exc_info=True)

    def context(
        self,
        platform: str,
        user_id: str,
        chat_id: str,
        chat_kind: ChatKind = ChatKind.PRIVATE,
        *,
        thread_id: str = "",
        chat_title: str | None = None,
        bot_username: str | None = None,
        chat_admin: Callable[[], Awaitable[bool]] | None = None,
        operator: bool | None = None,
        page: int = 1,
    ) -> Context:
        """Who asked, where, in the core's terms: what every registry call takes."""
        return Context(
            services=self._handlers,
            platform=platform,
            user_id=user_id,
            chat_id=chat_id,
            chat_kind=chat_kind,
            thread_id=thread_id,
            chat_title=chat_title,
            bot_username=bot_username,
            chat_admin=chat_admin,
            operator=operator,
            page=page,
        )

    async def note_unreachable(self, target: Target, error: DeliveryError) -> bool:
        """A reply failed: record what ``error`` says about ``target`` (gone, moved), as the
        dispatcher does for a delivery; ``True`` if it said anything."""
        return await note_unreachable(self._store, target, error)

    async def first_seen(self, platform: str, update_id: int) -> bool:
        """Whether no process sharing the store has had this update yet: a platform that
        retries (Telegram's webhook on any non-2xx answer) or a load balancer that delivers it
        to another instance gets ``False`` and the update is dropped."""
        return await self._store.first_seen(platform, update_id)

    def leadership(
        self,
        name: str,
        *,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
    ) -> Leadership:
        """Do something in one process at a time among those sharing the store (e.g. the one
        long-polling consumer of a bot token): ``await leadership.run()`` in a task."""
        settings = self._handlers.settings
        return Leadership(
            self._store,
            name,
            settings.instance,
            seconds=settings.lease_seconds,
            on_elected=on_elected,
            on_deposed=on_deposed,
        )

    async def note_reachable(self, platform: str, user_id: str) -> None:
        """A reader can be written to again (they unblocked the bot)."""
        await self._store.set_subscriber_active(platform, user_id, True)
