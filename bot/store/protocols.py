"""What the bot needs from storage, split by concern.

Each protocol is one job: a part of the bot asks only for the part of the store it uses (the
scheduler a :class:`KeyValue`, adapters :class:`Continuations`), and a backend implements them
all as :class:`Store`. :class:`~bot.store.sqlite.SQLiteStore` is the default;
:class:`~bot.store.postgres.PostgresStore` is the same on PostgreSQL, for several processes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from bot.errors import DlwError
from bot.model import (
    Channel,
    Delivery,
    DeliveryStatus,
    Instance,
    Lease,
    PlannedDelivery,
    Publication,
    PublicationOutcome,
    Settlement,
    SubscribeOutcome,
    Subscription,
    Target,
)

__all__ = [
    "Channels",
    "Continuations",
    "KeyValue",
    "Leases",
    "Outbox",
    "Publications",
    "RateBudget",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "StoreUnreachable",
    "Subscriptions",
    "Updates",
]


class StoreError(DlwError):
    """The store could not do what was asked (a backend's own error translated)."""


class StoreUnavailable(StoreError):
    """The database can't be opened at all: its message names the file and what is wrong, e.g.
    ``/srv/bot.sqlite3: not a SQLite database (file is not a database)``."""


class StoreUnreachable(StoreUnavailable):
    """The database server named in the settings can't be reached or refuses us (wrong
    password, no such database): the setting is wrong, or the server is down. The message names
    the server, never the password."""


class StoreBusy(StoreError):
    """Another writer held the database longer than the busy timeout; trying again later may
    work. Nothing of the refused transaction was written."""


class Subscriptions(Protocol):
    """Readers and the topics and keywords they follow: what digests are planned from."""

    async def subscribe(
        self, platform: str, user_id: str, wanted: Sequence[Subscription], *, limit: int = ...
    ) -> SubscribeOutcome:
        """Add subscriptions idempotently, never beyond ``limit`` in all; reactivates the reader."""
        ...

    async def unsubscribe(
        self, platform: str, user_id: str, unwanted: Sequence[Subscription]
    ) -> list[Subscription]:
        """Remove these subscriptions; returns those that were there."""
        ...

    async def unsubscribe_all(self, platform: str, user_id: str) -> int:
        """Remove every subscription of a reader; returns how many there were."""
        ...

    async def subscriptions(self, platform: str, user_id: str) -> list[Subscription]:
        """A reader's subscriptions, oldest first."""
        ...

    async def subscribers_with_subscriptions(
        self, platform: str | None = None
    ) -> dict[tuple[str, str], list[Subscription]]:
        """Every active reader with at least one subscription, keyed by (platform, user id)."""
        ...

    async def set_subscriber_active(
        self, platform: str, user_id: str, active: bool, reason: str | None = None
    ) -> bool:
        """Mark a reader reachable again (unblocked) or not; ``False`` if unknown."""
        ...


class Channels(Protocol):
    """Chats, channels and threads registered for the weekly post, and what became of them."""

    async def register_channel(
        self, target: Target, *, title: str | None, registered_by: str | None
    ) -> bool:
        """Register (or reactivate) a destination; ``False`` if it already was active."""
        ...

    async def unregister_channel(self, target: Target) -> bool:
        """Remove a registration; ``False`` if there was none."""
        ...

    async def channels(
        self, platform: str | None = None, *, active_only: bool = True
    ) -> list[Channel]:
        """Registered destinations, in registration order."""
        ...

    async def set_channel_active(
        self, target: Target, active: bool, reason: str | None = None
    ) -> bool:
        """Mark a chat (every thread registered in it) active or not."""
        ...

    async def migrate_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> int:
        """Move a chat's registrations and pending rows to its new id; returns registrations moved."""
        ...

    async def mark_unreachable(
        self, target: Target, reason: str, *, thread_only: bool = False
    ) -> None:
        """A destination is gone: deactivate it and settle what the outbox still holds for it."""
        ...


class Publications(Protocol):
    """Which issues were published, and how their deliveries stand."""

    async def create_publication(
        self,
        issue_number: int,
        trigger: str,
        deliveries: Sequence[PlannedDelivery],
        *,
        replace_baseline: bool = False,
    ) -> bool:
        """Record a publication and its outbox rows in one transaction; ``False`` if it existed."""
        ...

    async def latest_published(self) -> int | None:
        """The highest issue number published (or taken as the baseline)."""
        ...

    async def publication(self, issue_number: int) -> Publication | None:
        """One publication with its delivery counts, if the issue was published."""
        ...

    async def publications(self, limit: int = 10) -> list[Publication]:
        """The newest ``limit`` publications, newest first."""
        ...

    async def unreported_publications(self) -> list[int]:
        """Finished publications whose operators' report is not written yet."""
        ...

    async def publication_outcome(self, issue_number: int) -> PublicationOutcome | None:
        """A publication with every delivery that failed or went nowhere."""
        ...

    async def record_report(self, issue_number: int, deliveries: Sequence[PlannedDelivery]) -> bool:
        """Queue a finished publication's report rows and mark it reported, exactly once."""
        ...


class Outbox(Protocol):
    """The delivery queue dispatchers drain: claims with leases, outcomes recorded per row."""

    async def claim_deliveries(
        self,
        platform: str,
        worker: str,
        limit: int,
        *,
        now: dt.datetime | None = None,
        process: str | None = None,
    ) -> list[Delivery]:
        """Atomically take up to ``limit`` due rows of ``platform`` for ``worker``, oldest first,
        each claim with a fresh token its settle must present; ``process`` made the claim."""
        ...

    async def release_claims(
        self,
        platform: str,
        *,
        worker: str | None = None,
        older_than: dt.datetime | None = None,
        silent_since: dt.datetime | None = None,
        processes: Sequence[str] = (),
    ) -> int:
        """Put ``worker``'s claims, claims older than ``older_than``, claims of processes
        silent since ``silent_since`` (with ``worker``: only its claims no live process holds)
        or of ``processes`` (ended) back to pending."""
        ...

    async def processes(self) -> list[str]:
        """The processes that have recently recorded a heartbeat."""
        ...

    async def heartbeat(self, process: str, worker: str, *, roles: Sequence[str] = ()) -> None:
        """Record that ``process`` (running as ``worker``, with ``roles``) is alive. The first
        beat sets its ``started_at``; a beat without roles keeps those recorded before."""
        ...

    async def instances(self, *, seen_within: float = 60.0) -> list[Instance]:
        """The processes heard from in the last ``seen_within`` seconds, by name."""
        ...

    async def next_due(self, platform: str) -> dt.datetime | None:
        """When the earliest pending row of ``platform`` falls due (``None``: nothing pending)."""
        ...

    async def mark_sent(self, delivery: Delivery, message_ids: Sequence[str]) -> bool:
        """Record a delivered row; ``False`` if it was no longer ours (its claim expired)."""
        ...

    async def mark_failed(self, delivery: Delivery, error: str) -> bool:
        """Record a row that will never be sent, and why."""
        ...

    async def retry_delivery(
        self,
        delivery: Delivery,
        not_before: dt.datetime,
        error: str,
        *,
        count_attempt: bool,
        sent: Sequence[str] = (),
    ) -> bool:
        """Back to pending until ``not_before``, keeping the messages already ``sent``."""
        ...

    async def mark_gone(self, delivery: Delivery, reason: str, *, thread_only: bool) -> bool:
        """Settle a row whose destination is gone and deactivate that destination, at once."""
        ...

    async def settle_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record many outcomes in ONE transaction, with the same semantics, claim-token checks
        and side effects as :meth:`mark_sent`, :meth:`mark_failed`, :meth:`retry_delivery` and
        :meth:`mark_gone` row by row; ``result[i]`` is ``False`` where the row was no longer
        ours. Nothing is recorded if the transaction fails."""
        ...

    async def outbox_counts(self) -> dict[str, dict[DeliveryStatus, int]]:
        """platform → status → rows, over the whole outbox."""
        ...


class Continuations(Protocol):
    """Long command lines behind short keys, for "More" buttons whose payload is small."""

    async def save_continuation(
        self, command: str, page: int, *, owner: str = "", keep: int | None = None
    ) -> str:
        """Keep ``command`` and ``page`` under a new short key; returns the key. ``keep``: only
        the newest ``keep`` saved for ``owner`` (a destination) stay, older keys expire."""
        ...

    async def load_continuation(self, key: str) -> tuple[str, int] | None:
        """The command line and page saved under ``key`` (``None``: unknown or expired)."""
        ...


class KeyValue(Protocol):
    """Small named values the bot remembers across restarts (the last slot, a sync hash)."""

    async def get_meta(self, key: str) -> str | None:
        """The value under ``key``, if any."""
        ...

    async def set_meta(self, key: str, value: str) -> None:
        """Set (or replace) the value under ``key``."""
        ...

    async def replace_meta(self, key: str, value: str | None, *, expected: str | None) -> bool:
        """Compare and set: put ``value`` under ``key`` (``None``: remove it) only if it holds
        ``expected`` now (``None``: absent). Of several processes replacing the same value at
        once exactly one gets ``True``: how the weekly slot is taken by one process."""
        ...


class Leases(Protocol):
    """Named, expiring locks across processes sharing the store (one feed poller at a time)."""

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold ``name`` for ``seconds`` if it is free, expired or ``holder``'s already."""
        ...

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give ``name`` up at once (a clean shutdown); ``False`` if ``holder`` did not hold it."""
        ...

    async def leases(self) -> list[Lease]:
        """The leases held now (unexpired), by name."""
        ...


class Updates(Protocol):
    """Incoming platform updates already seen, so a webhook retried or delivered to another
    instance behind a load balancer is handled once."""

    async def first_seen(self, platform: str, update_id: int) -> bool:
        """``True`` exactly once per (platform, update_id) across all processes sharing the store
        (a Telegram retry of the same update returns ``False``); rows older than a day are
        pruned."""
        ...


class RateBudget(Protocol):
    """One platform cap shared by every process sending on the same token."""

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float, book: float = 0.0
    ) -> tuple[int, float]:
        """A token bucket shared through the database: it refills at ``rate`` per second up to
        ``burst``; atomically takes ``min(wanted, available + book)`` whole tokens. Returns
        (granted, seconds until the next token after them accrues — ``0.0`` if some remain).

        ``book`` lets a taker book up to that many tokens before they accrue (the bucket goes
        below zero, at most that far, and refills from there): the last of ``granted`` tokens
        is due ``wait - 1/rate`` seconds from now, each one before it ``1/rate`` earlier (see
        :func:`bot.pacing.due_offsets`), and a taker must not use a token before it is due.
        Booking grants tokens earlier, never more of them: what falls due in any second is still
        at most ``rate`` plus ``burst``. It lets a taker ask less often, and go on handing out
        tokens while its next request is under way; every taker of one bucket should pass the
        same ``book``, or the one passing less gets nothing while another keeps it booked.
        """
        ...


class Store(
    Subscriptions,
    Channels,
    Publications,
    Outbox,
    Continuations,
    KeyValue,
    Leases,
    Updates,
    RateBudget,
    Protocol,
):
    """Everything the bot keeps, from one backend; what :class:`~bot.app.App` is typed on."""

    async def schema_version(self) -> int:
        """The migrations applied to the database (the same number means the same tables on
        every backend)."""
        ...

    async def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        ...
