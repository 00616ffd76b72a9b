"""Planning publications: an issue's deliveries into the outbox, in one transaction.

:class:`Publisher` decides *what* to send. Publishing issue N writes, in one transaction, the
publication record and one outbox row per destination: a ``channel`` row for every registered
chat (the whole issue) and a ``digest`` row for every reader with at least one matching item
(just those items, each saying which subscription matched). Publishing N again is a no-op.

When a publication has nothing left to send, operators (``DLW_ADMINS``) get a short report by
direct message: how much was sent, and every destination that failed or went inactive.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.archive import Archive, ArchiveHolder, Story
from bot.config import Settings
from bot.content.models import Issue
from bot.delivery import PermanentError
from bot.model import (
    BASELINE,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    Publication,
    PublicationOutcome,
    Target,
)
from bot.publishing.matching import IssueIndex
from bot.reply import Reply, plural
from bot.store import Store
from bot.views import (
    Followed,
    channel_reply,
    digest_reply,
    format_counts,
    headline_topics,
    report_reply,
)

__all__ = ["Plan", "Preview", "PublishResult", "Publisher", "describe_counts", "report_payload"]

log = logging.getLogger("bot.publishing")

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
    total = f"{plural(channels, 'channel post')} and {plural(digests, 'digest')}"
    if not counts:
        return total + " (no channel is registered and no reader follows a matching topic)"
    per_platform = "; ".join(
        f"{platform}: {plural(c[DeliveryKind.CHANNEL], 'channel')}, "
        f"{plural(c[DeliveryKind.DIGEST], 'digest')}"
        for platform, c in sorted(counts.items())
    )
    return f"{total} ({per_platform})"


@dataclass(frozen=True)
class Preview:
    """What publishing ``issue`` would do, changing nothing: ``/preview`` and
    ``dlw-bot publish --dry-run`` both show this."""

    issue: Issue
    plan: Plan
    published: Publication | None  # the issue's publication, if it has one

    @property
    def already_published(self) -> bool:
        """Publishing it again sends nothing (a baseline does not count)."""
        return self.published is not None and not self.published.baseline


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
        with IssueIndex(self.archive.archive, issue) as index:  # the issue's stories, once
            for (platform, user_id), subscriptions in readers.items():
                if platform in self.local_platforms:
                    continue
                items = index.match(subscriptions)
                if items:
                    deliveries.append(
                        PlannedDelivery(
                            Target.user(platform, user_id),
                            DeliveryKind.DIGEST,
                            {"items": items, "follows": index.follows(subscriptions)},
                        )
                    )
        return Plan(issue, tuple(deliveries))

    async def preview(self, issue: Issue) -> Preview:
        """What publishing ``issue`` would send today, and whether it is out already."""
        return Preview(issue, await self.plan(issue), await self.store.publication(issue.number))

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
                if done is not None and done.baseline:
                    # Naming the baseline really does send it (see publish): say so.
                    how = (
                        " (the baseline: it was never sent). Name it, e.g. publish "
                        f"{last}, to send it for real."
                    )
                else:  # naming it would be refused as already published: don't suggest it
                    how = ". An issue is sent once; the next new issue is published next."
                return PublishResult(
                    None,
                    False,
                    f"Nothing new to publish: the newest issue is #{newest.number} and "
                    f"#{last} is already published{how}",
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
            return report_reply(payload)
        archive = self.archive.archive
        issue = archive.issue(issue_number)
        if issue is None:
            raise PermanentError(f"issue #{issue_number} is no longer in the archive")
        if kind is DeliveryKind.CHANNEL:
            return channel_reply(issue, headline_topics(archive, issue))
        matches = _find_items(archive, issue, payload.get("items", ()))
        if not matches:
            raise PermanentError(f"none of the matching items is in issue #{issue.number} any more")
        return digest_reply(issue, matches, _followed(payload.get("follows", ())))

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


def _followed(planned: Sequence[Mapping[str, Any]]) -> list[Followed]:
    """The subscriptions a digest row matched, each once (rows planned before digests named
    them have none: the digest then offers only "Manage")."""
    seen: dict[str, Followed] = {}
    for entry in planned:
        if not isinstance(entry, Mapping):
            continue
        value, label = entry.get("value"), entry.get("label")
        if isinstance(value, str) and value and isinstance(label, str) and value not in seen:
            seen[value] = Followed(label, value)
    return list(seen.values())


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
