"""Weekly publishing: plan an issue's deliveries into the outbox, then drain it per platform.

:class:`Publisher` decides *what* to send. Publishing issue N writes, in one transaction, the
publication record and one outbox row per destination: a ``channel`` row for every registered
chat (the whole issue) and a ``digest`` row for every reader with at least one matching item
(just those items, each saying which subscription matched). Publishing N again is a no-op.

:class:`Dispatcher` decides *how*: it claims due rows for one platform, sends them through that
platform's adapter with bounded concurrency and records each outcome (see
:mod:`bot.delivery`). Rows claimed by a process that died go back to pending when it restarts
(or, for another process's claims, after a lease), so nothing is lost; what can repeat after a
crash is at most what was in flight at that moment.

When a publication has nothing left to send, operators (``DLW_ADMINS``) get a short report by
direct message: how much was sent, and every destination that failed or went inactive.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.archive import Archive, ArchiveHolder, Story
from bot.config import Settings
from bot.content.models import Issue
from bot.delivery import (
    ChatMoved,
    DeliveryError,
    Limits,
    PermanentError,
    RateLimited,
    TargetGone,
    TransientError,
)
from bot.model import (
    BASELINE,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    Publication,
    PublicationOutcome,
    Subscription,
    SubscriptionKind,
    Target,
    utcnow,
)
from bot.reply import Block, Entry, Paragraph, Reply, Tone
from bot.store import Store
from bot.views import digest_reply, issue_reply

__all__ = [
    "CHANNEL_FOOTER",
    "Dispatcher",
    "Plan",
    "PublishResult",
    "Publisher",
    "Sender",
    "channel_reply",
    "describe_counts",
    "format_counts",
    "status_reply",
]

log = logging.getLogger(__name__)

CHANNEL_FOOTER = (
    "Deep Learning Weekly bot: /section papers for one section, /search anything, "
    "/subscribe a topic to get its stories by direct message."
)
#: A report lists at most this many unreachable destinations (the rest: ``dlw-bot status``).
REPORT_LIST_LIMIT = 25


# -- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What publishing ``issue`` would send."""

    issue: Issue
    deliveries: tuple[PlannedDelivery, ...]

    def counts(self) -> dict[str, Counter[DeliveryKind]]:
        """platform → kind → number of messages."""
        out: dict[str, Counter[DeliveryKind]] = {}
        for delivery in self.deliveries:
            out.setdefault(delivery.target.platform, Counter())[delivery.kind] += 1
        return out

    def describe(self) -> str:
        """E.g. "3 channel posts and 12 digests (telegram: 2 channels, 10 digests; discord: …)"."""
        return describe_counts(self.counts())

    def sample(self, kind: DeliveryKind) -> PlannedDelivery | None:
        return next((d for d in self.deliveries if d.kind is kind), None)


def describe_counts(counts: Mapping[str, Counter[DeliveryKind]]) -> str:
    channels = sum(c[DeliveryKind.CHANNEL] for c in counts.values())
    digests = sum(c[DeliveryKind.DIGEST] for c in counts.values())
    total = f"{_plural(channels, 'channel post')} and {_plural(digests, 'digest')}"
    if not counts:
        return total + " (no channel is registered and no reader follows a matching topic)"
    per_platform = "; ".join(
        f"{platform}: {_plural(c[DeliveryKind.CHANNEL], 'channel')}, "
        f"{_plural(c[DeliveryKind.DIGEST], 'digest')}"
        for platform, c in sorted(counts.items())
    )
    return f"{total} ({per_platform})"


@dataclass(frozen=True)
class PublishResult:
    """What :meth:`Publisher.publish` did, in a sentence for the operator."""

    issue_number: int | None
    created: bool
    message: str
    plan: Plan | None = None


class Publisher:
    """Plans publications into the store and renders outbox rows back into replies.

    Holds no state of its own beyond references: every process may have one.
    ``local_platforms`` only exist inside one process (the entry point names them: the terminal
    shell): their readers and chats are never published to.
    """

    def __init__(
        self,
        archive: ArchiveHolder,
        store: Store,
        settings: Settings,
        *,
        on_publish: Callable[[], None] | None = None,
        local_platforms: Collection[str] = (),
    ) -> None:
        self.archive = archive
        self.store = store
        self.settings = settings
        self.local_platforms = frozenset(local_platforms)
        self.on_publish = on_publish  # wakes this process's dispatchers
        self._reload_lock = asyncio.Lock()
        self._reloaded_for: set[int] = set()

    async def plan(self, issue: Issue) -> Plan:
        """Every delivery publishing ``issue`` would make, from the store's current state."""
        deliveries: list[PlannedDelivery] = []
        for channel in await self.store.channels(active_only=True):
            if channel.target.platform not in self.local_platforms:
                deliveries.append(PlannedDelivery(channel.target, DeliveryKind.CHANNEL))
        readers = await self.store.subscribers_with_subscriptions()
        matcher = _DigestMatcher(self.archive.archive, issue)
        for (platform, user_id), subscriptions in readers.items():
            if platform in self.local_platforms:
                continue
            items = matcher.match(subscriptions)
            if items:
                deliveries.append(
                    PlannedDelivery(
                        Target.user(platform, user_id), DeliveryKind.DIGEST, {"items": items}
                    )
                )
        return Plan(issue, tuple(deliveries))

    async def choose(self, number: int | None = None) -> Issue | PublishResult:
        """The issue :meth:`publish` would publish, or why there is none."""
        archive = self.archive.archive
        if number is None:
            newest = archive.latest()
            if newest is None:
                return PublishResult(None, False, "The archive is empty: nothing to publish.")
            last = await self.store.latest_published()
            if last is not None and newest.number <= last:
                done = await self.store.publication(last)
                how = " (the baseline: it was never sent)" if done and done.baseline else ""
                return PublishResult(
                    None,
                    False,
                    f"Nothing new to publish: the newest issue is #{newest.number} and "
                    f"#{last} is already published{how}. Name an issue to publish it anyway.",
                )
            return newest
        found = archive.issue(number)
        if found is None:
            have = archive.numbers
            span = ", ".join(f"#{n}" for n in have[-5:]) if have else "none"
            span = f"…, {span}" if len(have) > 5 else span
            return PublishResult(
                number, False, f"There is no issue #{number} in the archive (have: {span})."
            )
        return found

    async def publish(self, number: int | None = None, *, trigger: str = "manual") -> PublishResult:
        """Publish issue ``number``, or the newest issue newer than anything published.

        Idempotent: an issue already published is left alone. Naming the baseline issue
        explicitly publishes it for real (a baseline only marks where a fresh database started).
        """
        issue = await self.choose(number)
        if isinstance(issue, PublishResult):
            return issue
        plan = await self.plan(issue)
        created = await self.store.create_publication(
            issue.number, trigger, plan.deliveries, replace_baseline=number is not None
        )
        if not created:
            existing = await self.store.publication(issue.number)
            when = existing.created_at[:16].replace("T", " ") if existing else "earlier"
            return PublishResult(
                issue.number,
                False,
                f"Issue #{issue.number} was already published ({when} UTC); nothing to do.",
            )
        log.info("published #%d (%s): %s", issue.number, trigger, plan.describe())
        if self.on_publish is not None:
            self.on_publish()
        return PublishResult(
            issue.number, True, f"Publishing issue #{issue.number}: {plan.describe()}.", plan
        )

    async def ensure_baseline(self) -> int | None:
        """On a fresh database, record the newest issue as already published, so starting the
        service never sends the archive out retroactively. Returns the baseline, if set now."""
        if await self.store.latest_published() is not None:
            return None
        newest = self.archive.archive.latest()
        if newest is None:
            return None
        if await self.store.create_publication(newest.number, BASELINE, ()):
            log.info(
                "fresh database: issue #%d is the baseline; newer issues get published",
                newest.number,
            )
            return newest.number
        return None

    # -- rendering outbox rows ------------------------------------------------------------

    async def load_issue(self, issue_number: int) -> None:
        """Reload the content, once per issue, if ``issue_number`` is not in the archive: a
        publication written by another process (``dlw-bot publish``) may name a file this
        process has not loaded yet (the watcher's debounce, or a filesystem it cannot watch)."""
        if self.archive.archive.issue(issue_number) is not None:
            return
        async with self._reload_lock:
            if issue_number in self._reloaded_for:
                return
            self._reloaded_for.add(issue_number)
            if self.archive.archive.issue(issue_number) is None:
                await self.archive.reload()

    def render(self, delivery: Delivery) -> Reply:
        """The reply an outbox row sends. Raises :class:`PermanentError` if it can't be built."""
        return self.render_planned(delivery.issue_number, delivery.kind, delivery.payload)

    def render_planned(
        self, issue_number: int, kind: DeliveryKind, payload: Mapping[str, Any]
    ) -> Reply:
        if kind is DeliveryKind.REPORT:
            return _report_reply(payload)
        archive = self.archive.archive
        issue = archive.issue(issue_number)
        if issue is None:
            raise PermanentError(f"issue #{issue_number} is no longer in the archive")
        if kind is DeliveryKind.CHANNEL:
            return channel_reply(issue)
        matches = _find_items(archive, issue, payload.get("items", ()))
        if not matches:
            raise PermanentError(f"none of the matching items is in issue #{issue.number} any more")
        return digest_reply(issue, matches)

    # -- reports --------------------------------------------------------------------------

    async def write_reports(self) -> list[int]:
        """Queue the operators' report of every finished publication not reported yet."""
        written: list[int] = []
        for number in await self.store.unreported_publications():
            outcome = await self.store.publication_outcome(number)
            if outcome is None:
                continue
            payload = report_payload(outcome)
            deliveries = [
                PlannedDelivery(target, DeliveryKind.REPORT, payload) for target in self.operators()
            ]
            if await self.store.record_report(number, deliveries):
                log.info("publication of #%d finished: %s", number, payload["summary"])
                written.append(number)
        if written and self.on_publish is not None:
            self.on_publish()
        return written

    def operators(self) -> list[Target]:
        targets: list[Target] = []
        for entry in self.settings.admins:
            platform, _, user_id = entry.partition(":")
            if platform not in self.local_platforms:
                targets.append(Target.user(platform, user_id))
        return targets


def channel_reply(issue: Issue) -> Reply:
    """What a registered channel receives for ``issue``."""
    return issue_reply(issue, footer=CHANNEL_FOOTER)


class _DigestMatcher:
    """Which items of one issue each subscription matches, computed once per subscription."""

    def __init__(self, archive: Archive, issue: Issue) -> None:
        self.archive = archive
        self.issue = issue
        self._cache: dict[Subscription, list[Story]] = {}

    def stories(self, subscription: Subscription) -> list[Story]:
        found = self._cache.get(subscription)
        if found is None:
            if subscription.kind is SubscriptionKind.TOPIC:
                found = [
                    s
                    for s in self.archive.stories_for_topic(subscription.value)
                    if s.issue == self.issue.number
                ]
            else:
                found = self.archive.keyword_matches(subscription.value, issue=self.issue.number)
            self._cache[subscription] = found
        return found

    def match(self, subscriptions: Sequence[Subscription]) -> list[dict[str, str]]:
        """The matching items in issue order, each once, with the first subscription matching it."""
        reasons: dict[int, tuple[Story, str]] = {}
        for subscription in subscriptions:
            for story in self.stories(subscription):
                reasons.setdefault(story.key, (story, self.reason(subscription)))
        return [
            {"section": story.section, "title": story.item.title, "reason": reason}
            for _, (story, reason) in sorted(reasons.items())
        ]

    def reason(self, subscription: Subscription) -> str:
        if subscription.kind is SubscriptionKind.TOPIC:
            topic = self.archive.taxonomy.get(subscription.value)
            return f"topic {topic.label if topic else subscription.value}"
        return f"keyword “{subscription.value}”"


def _find_items(
    archive: Archive, issue: Issue, wanted: Sequence[Mapping[str, Any]]
) -> list[tuple[Story, str]]:
    """The planned items, looked up by section and title (so a later edit of the issue file
    does not shift them onto other items); items no longer there are left out."""
    stories = archive.stories(issue)
    by_place = {(s.section, s.item.title): s for s in stories}
    by_title = {s.item.title: s for s in stories}
    found: list[tuple[Story, str]] = []
    for entry in wanted:
        title = str(entry.get("title", ""))
        story = by_place.get((str(entry.get("section", "")), title)) or by_title.get(title)
        if story is not None:
            found.append((story, str(entry.get("reason", "your topics"))))
    return found


def report_payload(outcome: PublicationOutcome) -> dict[str, Any]:
    """The operators' report, frozen when the publication finished."""
    publication = outcome.publication
    return {
        "title": f"Issue #{publication.issue_number} delivered",
        "summary": _report_summary(publication),
        "unreachable": [
            {
                "target": str(u.target),
                "kind": u.kind.value,
                "status": u.status.value,
                "error": u.error,
            }
            for u in outcome.unreachable[:REPORT_LIST_LIMIT]
        ],
        "more": max(0, len(outcome.unreachable) - REPORT_LIST_LIMIT),
    }


def _report_summary(publication: Publication) -> str:
    sent = publication.total(DeliveryStatus.SENT)
    total = sum(sum(c.values()) for c in publication.counts.values())
    if not total:
        return "Nothing to send: no channel is registered and no reader follows a matching topic."
    per_platform = format_counts(publication.counts)
    return f"Sent {sent} of {total} ({per_platform})."


def _report_reply(payload: Mapping[str, Any]) -> Reply:
    blocks: list[Block] = [Paragraph(str(payload.get("summary", "")))]
    unreachable = payload.get("unreachable") or []
    if unreachable:
        blocks.append(Paragraph("Not delivered (inactive destinations will not get later issues):"))
        for u in unreachable:
            what = "went inactive" if u.get("status") == DeliveryStatus.GONE else "failed"
            blocks.append(
                Entry(
                    title=f"{u.get('target')} ({u.get('kind')})",
                    summary=str(u.get("error") or "no reason given"),
                    meta=what,
                )
            )
    if payload.get("more"):
        blocks.append(Paragraph(f"…and {payload['more']} more: see dlw-bot status.", muted=True))
    tone = Tone.ERROR if unreachable else Tone.SUCCESS
    return Reply(
        title=str(payload.get("title", "Publication report")), blocks=tuple(blocks), tone=tone
    )


_STATUS_ORDER = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.GONE,
)


def format_counts(counts: Mapping[str, Mapping[DeliveryStatus, int]]) -> str:
    """E.g. "telegram: 2 pending, 120 sent, 1 gone; discord: 14 sent"."""
    parts = []
    for platform, by_status in sorted(counts.items()):
        shown = [f"{by_status[s]} {s.value}" for s in _STATUS_ORDER if by_status.get(s)]
        parts.append(f"{platform}: {', '.join(shown) or 'nothing'}")
    return "; ".join(parts) or "nothing queued"


async def status_reply(
    store: Store,
    *,
    schedule: str | None,
    next_slot: dt.datetime | None,
    local_platforms: Collection[str] = (),
    limit: int = 10,
) -> Reply:
    """Where publishing stands: the schedule, the audience, recent publications, the outbox."""
    blocks: list[Block] = []
    if schedule is None:
        blocks.append(
            Paragraph("Scheduled publishing is off; publish with /publish or dlw-bot publish.")
        )
    else:
        when = f"; next slot {next_slot:%Y-%m-%d %H:%M} UTC" if next_slot else ""
        blocks.append(Paragraph(f"Schedule: {schedule}{when}."))
    channels = Counter(c.target.platform for c in await store.channels(active_only=True))
    readers = Counter(p for p, _ in await store.subscribers_with_subscriptions())
    audience = "; ".join(
        f"{platform}: {_plural(channels[platform], 'channel')}, "
        f"{_plural(readers[platform], 'reader')} with subscriptions"
        for platform in sorted(set(channels) | set(readers))
        if platform not in local_platforms
    )
    blocks.append(
        Paragraph(f"Audience: {audience or 'no channel registered, no subscriptions yet'}.")
    )
    blocks.append(Paragraph(f"Outbox: {format_counts(await store.outbox_counts())}.", muted=True))
    publications = await store.publications(limit)
    if not publications:
        blocks.append(Paragraph("No issue has been published yet."))
    for publication in publications:
        if publication.baseline:
            state = "baseline: where this database started; nothing was sent"
        elif not publication.done:
            state = "delivering"
        else:
            state = "delivered, report sent" if publication.reported_at else "delivered"
        blocks.append(
            Entry(
                title=f"Issue #{publication.issue_number}",
                summary=format_counts(publication.counts) if publication.counts else "",
                meta=f"{publication.trigger}, {publication.created_at[:16].replace('T', ' ')} UTC · {state}",
            )
        )
    return Reply(title="Publishing status", blocks=tuple(blocks), ephemeral=True)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# -- dispatching ----------------------------------------------------------------------------


class Sender(Protocol):
    """The part of an adapter the dispatcher uses (see :class:`adapters.base.Adapter`)."""

    platform: str
    limits: Limits

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]: ...


@dataclass
class Dispatcher:
    """Drains one platform's outbox through ``sender``.

    ``worker`` names this process in the store's claims; it must be unique among processes
    sharing the database and stable across restarts (``DLW_INSTANCE``), so that a restarted
    process resumes its own unfinished rows at once. Claims of other workers older than
    ``lease`` seconds are taken back too (their process died).

    Outcomes: sent; ``RateLimited`` waits exactly ``retry_after`` (the whole platform pauses, the
    row is not counted as failing); ``TransientError`` retries with exponential backoff up to
    ``max_attempts``; ``TargetGone`` settles the row as gone and deactivates the destination;
    ``ChatMoved`` moves the chat's registrations and resends; ``PermanentError`` (or a bug) is
    recorded as failed, never retried.
    """

    sender: Sender
    store: Store
    publisher: Publisher
    worker: str
    concurrency: int | None = None
    idle_poll: float = 2.0
    lease: float = 600.0
    max_attempts: int = 5
    backoff: float = 2.0
    max_backoff: float = 600.0
    shutdown_grace: float = 10.0
    clock: Callable[[], dt.datetime] = utcnow
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _paused_until: dt.datetime | None = field(default=None, init=False)
    _chat_locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = field(
        default_factory=dict, init=False
    )
    _inflight: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    @property
    def platform(self) -> str:
        return self.sender.platform

    def wake(self) -> None:
        """New rows may be due (a publication in this process): look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until ``stop`` is set (or cancelled); in-flight sends finish before returning."""
        stop = stop or asyncio.Event()
        resumed = await self.store.release_claims(self.platform, worker=self.worker)
        if resumed:
            log.warning(
                "%s: resuming %d deliveries left unfinished by a previous run",
                self.platform,
                resumed,
            )
        try:
            while not stop.is_set():
                await self._step(stop)
        finally:
            await self._finish_inflight()

    async def _finish_inflight(self) -> None:
        """Let sends under way finish and be recorded; past ``shutdown_grace`` they are cancelled
        and stay claimed, to be resumed (and possibly repeated) at the next start."""
        if not self._inflight:
            return
        pending = set(self._inflight)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pending, timeout=self.shutdown_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _step(self, stop: asyncio.Event) -> None:
        claimed = await self._claim()
        self._wake.clear()
        if claimed:
            return
        waiters: set[asyncio.Task[Any]] = set(self._inflight)
        if not self._inflight:
            await self.publisher.write_reports()
            await self._release_expired()
        timeout = await self._idle_timeout()
        waiters.add(asyncio.ensure_future(self._wake.wait()))
        waiters.add(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters - self._inflight:
                waiter.cancel()

    async def _idle_timeout(self) -> float:
        """How long to wait when there is nothing to claim: until the next row falls due, a
        pause ends, or the next poll for other processes' publications."""
        timeout = self.idle_poll
        now = self.clock()
        if self._paused_until and self._paused_until > now:
            return min(timeout, (self._paused_until - now).total_seconds())
        if self._inflight:
            return timeout  # a finishing send wakes the loop, which then claims what is due
        due = await self.store.next_due(self.platform)
        if due is not None:
            timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        return max(timeout, 0.001)

    async def _release_expired(self) -> None:
        cutoff = self.clock() - dt.timedelta(seconds=self.lease)
        released = await self.store.release_claims(self.platform, older_than=cutoff)
        if released:
            log.warning(
                "%s: took back %d deliveries claimed over %gs ago",
                self.platform,
                released,
                self.lease,
            )

    async def _claim(self) -> int:
        """Claim as many due rows as there are free slots and start sending them."""
        now = self.clock()
        if self._paused_until and self._paused_until > now:
            return 0
        free = self._limit - len(self._inflight)
        if free <= 0:
            return 0
        deliveries = await self.store.claim_deliveries(self.platform, self.worker, free, now=now)
        for delivery in deliveries:
            task = asyncio.create_task(self._deliver(delivery), name=f"deliver-{delivery.id}")
            self._inflight.add(task)
            task.add_done_callback(self._finished)
        return len(deliveries)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task crashed", exc_info=task.exception())

    @property
    def _limit(self) -> int:
        return max(1, self.concurrency or self.sender.limits.max_concurrency)

    async def _deliver(self, delivery: Delivery) -> None:
        # One message at a time per chat (Telegram: about one per second in a chat): rows for
        # a chat already being sent to wait for it.
        key = (delivery.target.chat_id, delivery.target.thread_id)
        lock, users = self._chat_locks.get(key, (asyncio.Lock(), 0))
        self._chat_locks[key] = (lock, users + 1)
        try:
            async with lock:
                await self._attempt(delivery)
        finally:
            lock, users = self._chat_locks[key]
            if users <= 1:
                del self._chat_locks[key]
            else:
                self._chat_locks[key] = (lock, users - 1)

    async def _attempt(self, delivery: Delivery) -> None:
        target = delivery.target
        try:
            if delivery.kind is not DeliveryKind.REPORT:
                await self.publisher.load_issue(delivery.issue_number)
            reply = self.publisher.render(delivery)
            ids = await self.sender.send(target, reply, skip=len(delivery.sent))
        except RateLimited as error:
            until = self.clock() + dt.timedelta(seconds=error.retry_after)
            self._paused_until = max(self._paused_until or until, until)
            await self._settled(
                delivery,
                self.store.retry_delivery(
                    delivery,
                    until,
                    str(error),
                    count_attempt=False,
                    sent=[*delivery.sent, *error.sent],
                ),
            )
            log.info("%s: rate limited, pausing %.2fs", self.platform, error.retry_after)
        except TargetGone as error:
            await self._settled(
                delivery, self.store.mark_gone(delivery, str(error), thread_only=error.thread_only)
            )
            log.info("%s: %s is gone (%s); deactivated", self.platform, target, error)
        except ChatMoved as error:
            await self.store.migrate_chat(target.platform, target.chat_id, error.new_chat_id)
            await self._settled(
                delivery,
                self.store.retry_delivery(delivery, self.clock(), str(error), count_attempt=False),
            )
            log.info(
                "%s: %s moved to %s; resending there", self.platform, target, error.new_chat_id
            )
        except TransientError as error:
            attempts = delivery.attempts + 1
            if attempts >= self.max_attempts:
                message = f"gave up after {attempts} attempts: {error}"
                await self._settled(delivery, self.store.mark_failed(delivery, message))
                log.warning(
                    "%s: delivery %d to %s failed: %s", self.platform, delivery.id, target, message
                )
            else:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
                delay *= random.uniform(0.8, 1.2)
                when = self.clock() + dt.timedelta(seconds=delay)
                await self._settled(
                    delivery,
                    self.store.retry_delivery(
                        delivery,
                        when,
                        str(error),
                        count_attempt=True,
                        sent=[*delivery.sent, *error.sent],
                    ),
                )
                log.info(
                    "%s: delivery %d to %s: %s; retry in %.1fs",
                    self.platform,
                    delivery.id,
                    target,
                    error,
                    delay,
                )
        except (PermanentError, DeliveryError) as error:
            await self._settled(delivery, self.store.mark_failed(delivery, str(error)))
            log.warning(
                "%s: delivery %d to %s failed: %s", self.platform, delivery.id, target, error
            )
        except Exception as error:  # a bug (rendering, adapter): recorded, never retried in a loop
            log.exception("%s: delivery %d to %s crashed", self.platform, delivery.id, target)
            await self._settled(
                delivery, self.store.mark_failed(delivery, f"internal error: {error!r}")
            )
        else:
            await self._settled(delivery, self.store.mark_sent(delivery, [*delivery.sent, *ids]))

    async def _settled(self, delivery: Delivery, outcome: Awaitable[bool]) -> None:
        if not await outcome:
            log.warning(
                "%s: delivery %d was no longer claimed by %s when it finished (lease expired?)",
                self.platform,
                delivery.id,
                self.worker,
            )
