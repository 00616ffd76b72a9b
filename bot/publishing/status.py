"""Where publishing stands, for ``/status`` and ``dlw-bot status``: gathered here, worded in
:func:`bot.views.status_reply`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from bot.config import Settings
from bot.model import utcnow
from bot.reply import Reply
from bot.store import Store
from bot.views import status_reply

__all__ = ["publishing_status"]


async def publishing_status(
    store: Store, settings: Settings, *, local_platforms: Collection[str] = (), limit: int = 10
) -> Reply:
    """The configured schedule, the audience per platform (``local_platforms`` left out), the
    outbox and the newest ``limit`` publications."""
    schedule = settings.schedule()
    channels = Counter(c.target.platform for c in await store.channels(active_only=True))
    readers = Counter(p for p, _ in await store.subscribers_with_subscriptions())
    for platform in local_platforms:
        channels.pop(platform, None)
        readers.pop(platform, None)
    return status_reply(
        schedule=schedule.describe() if schedule else None,
        next_slot=schedule.next_after(utcnow()) if schedule else None,
        channels=channels,
        readers=readers,
        outbox=await store.outbox_counts(),
        publications=await store.publications(limit),
    )
