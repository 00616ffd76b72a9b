"""Everything the bot remembers: readers, subscriptions, channels, publications, the outbox.

The public names: the protocols a backend implements (:class:`Store`, made of one protocol per
concern), :class:`SQLiteStore` (the default backend) and, for callers' convenience, the domain
types of :mod:`bot.model` they take and return.
"""

from bot.model import (
    BASELINE,
    MAX_SUBSCRIPTIONS,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Instance,
    Lease,
    PlannedDelivery,
    Publication,
    PublicationOutcome,
    Settlement,
    SubscribeOutcome,
    Subscription,
    SubscriptionKind,
    Target,
    Unreachable,
    utcnow,
)
from bot.store.migrations import MIGRATIONS
from bot.store.open import open_store
from bot.store.protocols import (
    Channels,
    Continuations,
    KeyValue,
    Leases,
    Outbox,
    Publications,
    RateBudget,
    Store,
    StoreBusy,
    StoreError,
    StoreUnavailable,
    StoreUnreachable,
    Subscriptions,
    Updates,
)
from bot.store.sqlite import SQLiteStore

__all__ = [
    "BASELINE",
    "MAX_SUBSCRIPTIONS",
    "MIGRATIONS",
    "Channel",
    "Channels",
    "Continuations",
    "Delivery",
    "DeliveryKind",
    "DeliveryStatus",
    "Instance",
    "KeyValue",
    "Lease",
    "Leases",
    "Outbox",
    "PlannedDelivery",
    "Publication",
    "PublicationOutcome",
    "Publications",
    "RateBudget",
    "SQLiteStore",
    "Settlement",
    "Store",
    "StoreBusy",
    "StoreError",
    "StoreUnavailable",
    "StoreUnreachable",
    "SubscribeOutcome",
    "Subscription",
    "SubscriptionKind",
    "Subscriptions",
    "Target",
    "Unreachable",
    "Updates",
    "open_store",
    "utcnow",
]
