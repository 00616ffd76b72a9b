"""Every reply the bot builds: an issue, a section, search results, a digest, a channel post,
the operators' report, preview and status, a content problem.

Commands, the publisher and the app share these, so ``/latest`` in a chat and the weekly channel
post of the same issue look the same, and a reader of this module sees every message the bot can
send. Builders are pure: whoever calls them has gathered the data.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.archive import Archive, QueryError, SearchPage, Story
from bot.content.models import Issue, Item, Section
from bot.content.topics import Topic
from bot.model import DeliveryStatus, Instance, Lease, Publication
from bot.reply import (
    Action,
    Block,
    Continuation,
    Entry,
    Heading,
    LinkPreview,
    Paragraph,
    Quote,
    Reply,
    Tone,
    plural,
    shorten,
)

__all__ = [
    "DIGEST_SUMMARY_CHARS",
    "FOLLOW_BUTTONS",
    "INLINE_PAGE_SIZE",
    "ISSUE_SUMMARY_CHARS",
    "STOP_BUTTONS",
    "EntryPage",
    "Followed",
    "channel_footer",
    "channel_reply",
    "content_rejected_reply",
    "digest_reply",
    "follow_actions",
    "format_counts",
    "headline_topics",
    "inline_entries",
    "instances_reply",
    "issue_preview",
    "issue_reply",
    "preview_reply",
    "report_reply",
    "search_reply",
    "section_reply",
    "status_reply",
]

ISSUE_SUMMARY_CHARS = 280  # an issue overview trims paper abstracts; /section shows them whole
DIGEST_SUMMARY_CHARS = 400
HEADLINE_CHARS = 500  # recent issues have no subtitle; their intro's lead paragraph stands in
INTRO_CHARS = 1500  # the intro's substance, collapsed where the platform can; rarely cut
INLINE_PAGE_SIZE = 20  # Telegram shows at most 50 inline results per answer
FOLLOW_BUTTONS = 2  # "Follow <topic>" buttons under a post: its leading topics, not a menu
STOP_BUTTONS = 3  # "Stop <topic>" buttons under a digest; the rest are one "Manage" away


def _entry(item: Item, *, limit: int | None = None, meta: str | None = None) -> Entry:
    summary = item.summary if limit is None else shorten(" ".join(item.summary.split()), limit)
    return Entry(title=item.title, url=item.url, summary=summary, meta=meta)


def issue_title(issue: Issue) -> str:
    return (
        issue.title
        if str(issue.number) in issue.title
        else f"Deep Learning Weekly: Issue #{issue.number}"
    )


def issue_reply(
    issue: Issue, *, summary_limit: int = ISSUE_SUMMARY_CHARS, footer: str | None = None
) -> Reply:
    """The whole issue: its subtitle and the substance of its intro (collapsed where the
    platform can), date and web link, then every section with its items (long summaries
    trimmed)."""
    blocks: list[Block] = []
    if issue.subtitle:
        blocks.append(Paragraph(shorten(issue.subtitle, HEADLINE_CHARS)))
    intro = _intro(issue)
    if intro:
        blocks.append(Quote(intro))
    elif not issue.subtitle:
        blocks.append(Paragraph(shorten(issue.headline, HEADLINE_CHARS)))
    if issue.date:
        blocks.append(Paragraph(issue.date.strftime("%d %B %Y").lstrip("0"), muted=True))
    if issue.source_url:
        blocks.append(Entry(title="Read on the web", url=issue.source_url))
    for section in issue.sections:
        blocks.append(Heading(section.name))
        blocks.extend(_entry(item, limit=summary_limit) for item in section.items)
    return Reply(
        title=issue_title(issue), url=issue.source_url, blocks=tuple(blocks), footer=footer
    )


def _intro(issue: Issue) -> str:
    """The intro's substance (no greeting, no sign-off), cut at a paragraph if it is long."""
    kept: list[str] = []
    size = 0
    for paragraph in issue.intro_substance:
        if kept and size + len(paragraph) > INTRO_CHARS:
            break
        kept.append(shorten(paragraph, INTRO_CHARS))
        size += len(paragraph) + 2
    return "\n\n".join(kept)


def section_reply(
    issue: Issue, section: Section, *, command: str, page: int, per_page: int = 10
) -> Reply:
    """One section with full summaries, paged so a long section is not a wall of text."""
    start = (page - 1) * per_page
    items = section.items[start : start + per_page]
    blocks: list[Block] = [Entry(title=i.title, url=i.url, summary=i.summary) for i in items]
    more = Continuation(command, page + 1) if start + per_page < len(section.items) else None
    count = plural(len(section.items), "item")
    if page > 1:
        count += f", page {page}"
    return Reply(
        title=f"{section.name} — Issue #{issue.number}",
        blocks=(Paragraph(count, muted=True), *blocks),
        more=more,
    )


def search_reply(page: SearchPage, archive: Archive, *, command: str) -> Reply:
    if not page.hits:
        if page.page > 1:
            return Reply.text(f"No more results for “{page.query}”.")
        return Reply.error(
            f"Nothing in the {plural(len(archive.issues), 'issue')} of the archive matches “{page.query}”.",
            hint="Try fewer or different words, or see /topics.",
        )
    blocks: list[Block] = []
    last = page.first + len(page.hits) - 1
    blocks.append(
        Paragraph(
            (f"Result {page.first:,}" if last == page.first else f"Results {page.first:,}–{last:,}")
            + (", more available" if page.has_more else ""),
            muted=True,
        )
    )
    for hit in page.hits:
        item = hit.story.item
        issue = archive.issue(hit.story.issue)
        blocks.append(
            Entry(
                title=item.title,
                url=item.url,
                summary=hit.snippet,
                meta=_where_to_open(archive, hit.story),
                marks=hit.marks,
                meta_url=issue.source_url if issue else None,
            )
        )
    return Reply(
        title=f"Search: {page.query}",
        blocks=tuple(blocks),
        more=Continuation(command, page.page + 1) if page.has_more else None,
    )


def _where_to_open(archive: Archive, story: Story) -> str:
    """Where a story appeared and the command that opens that section of that issue:
    "Issue #202 · Mobile & Edge · /section mobile 202"."""
    issue = archive.issue(story.issue)
    if issue is None:
        return story.where
    names = [s.name for s in issue.sections]
    if story.section not in names:
        return story.where
    short = archive.section_choices(issue)[names.index(story.section)]
    return f"{story.where} · /section {short} {story.issue}"


@dataclass(frozen=True)
class Followed:
    """A subscription a digest matched: how readers know it (``label``: "PyTorch", "“jax”")
    and what ``/unsubscribe`` takes to stop it (``value``)."""

    label: str
    value: str


def digest_reply(
    issue: Issue, matches: Sequence[tuple[Story, str]], follows: Sequence[Followed] = ()
) -> Reply:
    """A reader's digest: the items of ``issue`` matching their topics, each saying why; the
    footer names the subscriptions that matched (``follows``), with a button to stop each
    (run as whoever presses it, so only ever on the presser's own subscriptions) and one to
    manage them all."""
    blocks: list[Block] = [
        Paragraph(
            f"{plural(len(matches), 'item')} on topics you follow:",
            muted=True,
        )
    ]
    for story, reason in matches:
        blocks.append(
            _entry(
                story.item, limit=DIGEST_SUMMARY_CHARS, meta=f"{story.section} · matched {reason}"
            )
        )
    if follows:
        stop = (
            f"Stop it with /unsubscribe {follows[0].value}"
            if len(follows) == 1
            else "Stop one with /unsubscribe and its name"
        )
        footer = (
            f"You get this because you follow {_and(f.label for f in follows)}. "
            f"{stop}; /subscriptions lists what you follow."
        )
    else:  # a row planned before digests named their subscriptions
        footer = "Manage topics with /subscriptions, /unsubscribe."
    actions = tuple(
        Action(f"Stop {f.label}", command=f"/unsubscribe {f.value}") for f in follows[:STOP_BUTTONS]
    )
    return Reply(
        title=f"{issue_title(issue)} — your topics",
        blocks=tuple(blocks),
        footer=footer,
        actions=(*actions, Action("Manage topics", command="/subscriptions")),
    )


def _and(names: Iterable[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    listed = list(names)
    return listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} and {listed[-1]}"


@dataclass(frozen=True)
class EntryPage:
    """One page of stories for a picker (Telegram's inline mode): ``page`` is 1-based."""

    entries: tuple[Entry, ...]
    page: int
    has_more: bool


def inline_entries(
    archive: Archive, query: str, *, page: int = 1, per_page: int = INLINE_PAGE_SIZE
) -> EntryPage:
    """The stories to offer for ``@bot QUERY`` typed in any chat, ready to be shared.

    An empty query offers the latest issue's items, in the issue's order; anything else is the
    same search as /search, best first. A query the search refuses offers nothing rather than an
    error, because inline results have nowhere to show one. Each entry carries its summary
    (trimmed like a digest's) and where it appeared, since a shared message stands alone.
    """
    page = max(1, page)
    text = " ".join(query.split())
    if not text:
        latest = archive.latest()
        stories = archive.stories(latest) if latest is not None else []
        start = (page - 1) * per_page
        chosen = stories[start : start + per_page]
        return EntryPage(
            tuple(_story_entry(s) for s in chosen), page, start + per_page < len(stories)
        )
    try:
        found = archive.search(text, page=page, per_page=per_page, as_you_type=True)
    except QueryError:
        return EntryPage((), page, False)
    return EntryPage(tuple(_story_entry(h.story) for h in found.hits), page, found.has_more)


def _story_entry(story: Story) -> Entry:
    return _entry(story.item, limit=DIGEST_SUMMARY_CHARS, meta=story.where)


# -- publishing: channel posts, reports, previews, status -------------------------------------


def channel_footer(issue: Issue) -> str:
    """The footer of a channel post. The /section hint names the issue: the post stays in the
    channel after newer issues, when a bare /section would open the newest one's."""
    if any(s.name == "Papers & Publications" for s in issue.sections):
        again = f"/section papers {issue.number} for one section"
    else:
        again = f"/issue {issue.number} to read it again"
    return (
        f"Deep Learning Weekly bot: {again}, /search anything, or follow a topic (the buttons "
        "below) to get its stories by direct message."
    )


def headline_topics(archive: Archive, issue: Issue, limit: int = FOLLOW_BUTTONS) -> list[Topic]:
    """The topics most of ``issue``'s stories are about (ties in taxonomy order): what a post
    offers to follow in one tap."""
    counts: Counter[str] = Counter()
    for story in archive.stories(issue):
        counts.update(topic.id for topic in archive.topics_of(story))
    order = {topic.id: index for index, topic in enumerate(archive.taxonomy)}
    ranked = sorted(counts, key=lambda t: (-counts[t], order.get(t, len(order))))
    return [topic for t in ranked[:limit] if (topic := archive.taxonomy.get(t)) is not None]


def follow_actions(topics: Sequence[Topic], *, private: bool) -> tuple[Action, ...]:
    """ "Follow topics" (the list to choose from) and "Follow <topic>" for each of ``topics``.

    ``private``: run them in the reader's own chat with the bot (a channel or group post, where
    a subscription can't be answered in place); in a private chat they run right there."""
    return (
        Action("Follow topics", command="/topics", private=private),
        *(
            Action(f"Follow {topic.label}", command=f"/subscribe {topic.id}", private=private)
            for topic in topics
        ),
    )


def issue_preview(issue: Issue) -> LinkPreview | None:
    """The link card of an issue's post, chosen on purpose: the issue's own web page as a large
    card above the text (the newsletter's cover, so the post reads as that issue), else its top
    story as a small card below (one story among many must not look like the post's subject)."""
    if issue.source_url:
        return LinkPreview(issue.source_url, large=True, above=True)
    top = next((i.url for s in issue.sections for i in s.items if i.url), None)
    return LinkPreview(top) if top else None


_STATUS_ORDER = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.GONE,
)


def channel_reply(issue: Issue, topics: Sequence[Topic] = ()) -> Reply:
    """What a registered channel receives for ``issue``: the issue, its link card, and buttons
    to follow its headline ``topics`` in a private chat with the bot."""
    return replace(
        issue_reply(issue, footer=channel_footer(issue)),
        actions=follow_actions(topics, private=True),
        preview=issue_preview(issue),
    )


def report_reply(payload: Mapping[str, Any]) -> Reply:
    """The operators' report of a finished publication (its payload frozen in the outbox)."""
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
        blocks.append(Paragraph(f"…and {payload['more']:,} more: see dlw-bot status.", muted=True))
    tone = Tone.ERROR if unreachable else Tone.SUCCESS
    return Reply(
        title=str(payload.get("title", "Publication report")), blocks=tuple(blocks), tone=tone
    )


def format_counts(counts: Mapping[str, Mapping[DeliveryStatus, int]]) -> str:
    """E.g. "telegram: 2 pending, 120 sent, 1 gone; discord: 14 sent"."""
    parts = []
    for platform, by_status in sorted(counts.items()):
        shown = [f"{by_status[s]:,} {s.value}" for s in _STATUS_ORDER if by_status.get(s)]
        parts.append(f"{platform}: {', '.join(shown) or 'nothing'}")
    return "; ".join(parts) or "nothing queued"


def status_reply(
    *,
    schedule: str | None,
    next_slot: dt.datetime | None,
    channels: Mapping[str, int],
    readers: Mapping[str, int],
    outbox: Mapping[str, Mapping[DeliveryStatus, int]],
    publications: Sequence[Publication],
) -> Reply:
    """Where publishing stands: the schedule, the audience per platform, the outbox, and the
    recent ``publications``."""
    blocks: list[Block] = []
    if schedule is None:
        blocks.append(
            Paragraph("Scheduled publishing is off; publish with /publish or dlw-bot publish.")
        )
    else:
        when = f"; next slot {next_slot:%Y-%m-%d %H:%M} UTC" if next_slot else ""
        blocks.append(Paragraph(f"Schedule: {schedule}{when}."))
    audience = "; ".join(
        f"{platform}: {plural(channels.get(platform, 0), 'channel')}, "
        f"{plural(readers.get(platform, 0), 'reader')} with subscriptions"
        for platform in sorted(set(channels) | set(readers))
    )
    blocks.append(
        Paragraph(f"Audience: {audience or 'no channel registered, no subscriptions yet'}.")
    )
    blocks.append(Paragraph(f"Outbox: {format_counts(outbox)}.", muted=True))
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


def preview_reply(
    issue: Issue,
    plan_described: str,
    published: Publication | None,
    topics: Sequence[Topic] = (),
) -> Reply:
    """``/preview``: the channel post exactly as channels get it, then what publishing would send
    (``plan_described``) and whether the issue is out already."""
    if published is None or published.baseline:
        verdict = f"Publishing issue #{issue.number} would send {plan_described}."
    else:
        verdict = (
            f"Issue #{issue.number} is already published ({published.trigger}); publishing it "
            f"again sends nothing. Today it would have gone out as {plan_described}."
        )
    summary = Reply.text(verdict, title=f"Preview of issue #{issue.number}", ephemeral=True)
    return replace(channel_reply(issue, topics), ephemeral=True, then=(summary,))


def task_failed_reply(task: str, error: BaseException, retry_in: float) -> Reply:
    """What operators are told the first time a background task fails in a row of failures."""
    return Reply.text(
        f"The background task {task} failed: {shorten(f'{type(error).__name__}: {error}', 300)}\n\n"
        f"It is restarted automatically (first in {retry_in:.3g}s, then less and less often) "
        "and nothing queued is lost; you hear from me again once it has recovered. The log has "
        "the details.",
        title="Background task failing",
        tone=Tone.ERROR,
    )


def task_recovered_reply(task: str, failures: int) -> Reply:
    """What operators are told when a failing background task works again."""
    return Reply.text(
        f"The background task {task} is running again after {plural(failures, 'failure')}.",
        title="Background task recovered",
    )


def content_rejected_reply(errors: Sequence[object], limit: int = 10) -> Reply:
    """What operators are told when a content change can't be served."""
    lines = [str(e) for e in errors[:limit]]
    more = f"\n\n…and {len(errors) - limit:,} more." if len(errors) > limit else ""
    return Reply.text(
        "A content change was rejected; the bot keeps serving the previous archive until the "
        "file is fixed:\n\n" + "\n\n".join(lines) + more,
        title="Content problem",
        tone=Tone.ERROR,
    )


def instances_reply(
    instances: Sequence[Instance], leases: Sequence[Lease], *, now: dt.datetime
) -> Reply:
    """``dlw-bot status``'s processes: each live instance with its roles, when it started and
    was last heard from, and the leases it holds (long polling, notices, the feed poller)."""
    held: dict[str, list[str]] = {}
    for lease in leases:
        held.setdefault(lease.holder, []).append(lease.name)
    blocks: list[Block] = []
    if not instances:
        blocks.append(Paragraph("No process has sent a heartbeat in the last minute."))
    for instance in instances:
        ago = max(0.0, (now - instance.last_seen).total_seconds())
        names = sorted({*held.pop(instance.process, []), *held.pop(instance.worker, [])})
        blocks.append(
            Entry(
                title=instance.worker
                if instance.worker == instance.process
                else f"{instance.worker} ({instance.process})",
                summary=f"roles: {', '.join(instance.roles) or 'not reported'}"
                + (f"; leases: {', '.join(names)}" if names else ""),
                meta=f"started {instance.started_at:%Y-%m-%d %H:%M} UTC · last heartbeat "
                f"{ago:.0f} s ago",
            )
        )
    for holder, names in sorted(held.items()):  # held by a process silent for over a minute
        blocks.append(
            Paragraph(f"Lease {', '.join(sorted(names))}: held by {holder}, not heard from lately.")
        )
    return Reply(title=f"Instances ({len(instances)})", blocks=tuple(blocks), ephemeral=True)
