"""The domain's shared vocabulary: readers, their subscriptions, destinations, the outbox.

Store, publishing, commands and adapters all speak in these types, so they live apart from any of
them (and import nothing of the project): a store backend, the planner or an adapter can change
without the others following.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "BASELINE",
    "MAX_SUBSCRIPTIONS",
    "Channel",
    "Delivery",
    "DeliveryKind",
    "DeliveryStatus",
    "Instance",
    "Lease",
    "PlannedDelivery",
    "Publication",
    "PublicationOutcome",
    "Settlement",
    "SettlementOutcome",
    "SubscribeOutcome",
    "Subscription",
    "SubscriptionKind",
    "Target",
    "Unreachable",
    "process_name",
    "utcnow",
]

#: How many topics and keywords one reader may follow.
MAX_SUBSCRIPTIONS = 25


#: The inode of the initial PID namespace, a constant of the Linux kernel (PROC_PID_INIT_INO).
_INIT_PID_NAMESPACE = 0xEFFFFFFC


def machine() -> str:
    """Where this process's pids mean something: the host name, and inside a container (a PID
    namespace of its own) that namespace too, ``host~ns``. Two containers may share a host name
    (host networking, a fixed ``hostname:``) but not their pids, so a pid seen in another
    container's process name says nothing about this one's."""
    host = socket.gethostname()
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # no /proc (not Linux): the host name is all there is
        return host
    return host if namespace == _INIT_PID_NAMESPACE else f"{host}~{namespace:x}"


def process_name() -> str:
    """A name unique to this process among all sharing a database: ``host:pid:random``, the
    host as :func:`machine` names it (the random part tells apart a later process that got the
    same pid)."""
    return f"{machine()}:{os.getpid()}:{secrets.token_hex(3)}"


def utcnow() -> dt.datetime:
    """Now, timezone-aware in UTC: the one clock stores and publishing default to."""
    return dt.datetime.now(dt.UTC)


class SubscriptionKind(StrEnum):
    """A reader follows a topic of the taxonomy, or any keyword."""

    TOPIC = "topic"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Subscription:
    """One thing a reader follows; digests are matched against these."""

    kind: SubscriptionKind
    value: str


@dataclass(frozen=True)
class Target:
    """Where a message goes: a chat (and a thread/topic in it) on one platform.

    ``direct`` marks a reader's private conversation, addressed by their *user* id: Telegram uses
    the same number for both, Discord has to open a DM channel first.
    """

    platform: str
    chat_id: str
    thread_id: str = ""
    direct: bool = False

    @classmethod
    def user(cls, platform: str, user_id: str) -> Target:
        return cls(platform, user_id, direct=True)

    def __str__(self) -> str:
        where = f"{self.platform}:{'user ' if self.direct else ''}{self.chat_id}"
        return where + (f"/{self.thread_id}" if self.thread_id else "")


@dataclass(frozen=True)
class Channel:
    """A destination registered for the weekly post, and whether it still takes messages."""

    target: Target
    title: str | None
    registered_by: str | None
    active: bool
    inactive_reason: str | None


@dataclass(frozen=True)
class SubscribeOutcome:
    """What a /subscribe did, so the reply can say it item by item."""

    added: tuple[Subscription, ...]
    already: tuple[Subscription, ...]
    refused: tuple[Subscription, ...]  # over the limit
    total: int


class DeliveryKind(StrEnum):
    """What an outbox row sends."""

    CHANNEL = "channel"  # the whole issue, to a registered chat, channel or thread
    DIGEST = "digest"  # the items matching a reader's subscriptions, by direct message
    REPORT = "report"  # the operators' summary once a publication is delivered

    @property
    def direct(self) -> bool:
        return self is not DeliveryKind.CHANNEL


class DeliveryStatus(StrEnum):
    """Where an outbox row stands; only pending and claimed rows are still to be sent."""

    PENDING = "pending"  # waiting (``not_before`` says from when)
    CLAIMED = "claimed"  # a dispatcher is sending it
    SENT = "sent"
    FAILED = "failed"  # refused, or transient errors exhausted the attempts; ``error`` says why
    GONE = "gone"  # the destination is gone (blocked, kicked, deleted) and was deactivated


#: The trigger of a publication that only marks where a fresh database starts: nothing is sent.
BASELINE = "baseline"


@dataclass(frozen=True)
class PlannedDelivery:
    """One message to send for a publication."""

    target: Target
    kind: DeliveryKind
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """An outbox row claimed by a dispatcher (``claimed_by``)."""

    id: int
    issue_number: int
    target: Target
    kind: DeliveryKind
    payload: Mapping[str, Any]
    attempts: int
    claimed_by: str
    sent: tuple[str, ...] = ()  # messages earlier attempts delivered (a reply cut off midway)
    claim_token: str | None = None  # this claim's fence: settling needs it


@dataclass(frozen=True)
class Unreachable:
    """A delivery that went nowhere, and why (the platform's words)."""

    target: Target
    kind: DeliveryKind
    status: DeliveryStatus
    error: str


@dataclass(frozen=True)
class Publication:
    """A published issue and where its deliveries stand (reports not counted)."""

    issue_number: int
    trigger: str
    planned: int
    created_at: str
    reported_at: str | None
    counts: Mapping[str, Mapping[DeliveryStatus, int]]  # platform → status → rows

    @property
    def baseline(self) -> bool:
        return self.trigger == BASELINE

    @property
    def done(self) -> bool:
        return not any(
            n
            for by_status in self.counts.values()
            for status, n in by_status.items()
            if status in (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
        )

    def total(self, status: DeliveryStatus) -> int:
        return sum(by_status.get(status, 0) for by_status in self.counts.values())


@dataclass(frozen=True)
class PublicationOutcome:
    """A finished publication and what did not arrive: the operators' report is built from it."""

    publication: Publication
    unreachable: tuple[Unreachable, ...]  # failed or gone, in outbox order


#: What became of one claimed delivery (see :class:`Settlement`).
SettlementOutcome = Literal["sent", "failed", "retry", "gone"]


@dataclass(frozen=True)
class Settlement:
    """One delivery's outcome, so a dispatcher can record many in one transaction
    (:meth:`bot.store.Outbox.settle_many`); each means what the matching per-row method does.

    * ``sent``: delivered as ``message_ids`` (all of them);
    * ``failed``: never to be sent, ``error`` says why;
    * ``retry``: back to pending until ``not_before``; ``message_ids`` are the parts already
      delivered (the next attempt skips them); ``count_attempt`` is ``False`` for a rate limit;
    * ``gone``: the destination is gone and is deactivated (only that thread with
      ``thread_only``).
    """

    delivery: Delivery
    outcome: SettlementOutcome
    message_ids: tuple[str, ...] = ()
    error: str | None = None
    not_before: dt.datetime | None = None
    count_attempt: bool = True
    thread_only: bool = False

    def __post_init__(self) -> None:
        if self.outcome not in ("sent", "failed", "retry", "gone"):
            raise ValueError(f"unknown settlement outcome {self.outcome!r}")
        if self.outcome == "retry" and self.not_before is None:
            raise ValueError("a retry needs not_before (when the row is due again)")


@dataclass(frozen=True)
class Instance:
    """A process sharing the store, as its heartbeats describe it (``dlw-bot status``)."""

    process: str
    worker: str
    roles: tuple[str, ...]
    started_at: dt.datetime
    last_seen: dt.datetime


@dataclass(frozen=True)
class Lease:
    """A named lock held by ``holder`` until ``until`` (see :class:`bot.store.Leases`)."""

    name: str
    holder: str
    until: dt.datetime
