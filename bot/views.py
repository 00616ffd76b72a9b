"""Replies built from content: an issue, a section, search results, a digest.

Commands and the publisher share these, so ``/latest`` in a chat and the weekly channel post of
the same issue look the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.archive import Archive, QueryError, SearchPage, Story
from bot.content.models import Issue, Item, Section
from bot.reply import Block, Continuation, Entry, Heading, Paragraph, Reply, shorten

__all__ = [
    "DIGEST_SUMMARY_CHARS",
    "INLINE_PAGE_SIZE",
    "ISSUE_SUMMARY_CHARS",
    "EntryPage",
    "digest_reply",
    "inline_entries",
    "issue_reply",
    "search_reply",
    "section_reply",
]

ISSUE_SUMMARY_CHARS = 280  # an issue overview trims paper abstracts; /section shows them whole
DIGEST_SUMMARY_CHARS = 400
HEADLINE_CHARS = 500  # recent issues have no subtitle; their intro's lead paragraph stands in
INLINE_PAGE_SIZE = 20  # Telegram shows at most 50 inline results per answer


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
    """The whole issue: its headline, date and web link, then every section with its items
    (long summaries trimmed)."""
    blocks: list[Block] = [Paragraph(shorten(issue.headline, HEADLINE_CHARS))]
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


def section_reply(
    issue: Issue, section: Section, *, command: str, page: int, per_page: int = 10
) -> Reply:
    """One section with full summaries, paged so a long section is not a wall of text."""
    start = (page - 1) * per_page
    items = section.items[start : start + per_page]
    blocks: list[Block] = [Entry(title=i.title, url=i.url, summary=i.summary) for i in items]
    more = Continuation(command, page + 1) if start + per_page < len(section.items) else None
    count = f"{len(section.items)} item{'s' if len(section.items) != 1 else ''}"
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
            f"Nothing in the {len(archive.issues)} issues of the archive matches “{page.query}”.",
            hint="Try fewer or different words, or see /topics.",
        )
    blocks: list[Block] = []
    last = page.first + len(page.hits) - 1
    blocks.append(
        Paragraph(
            f"Results {page.first}–{last}" + (", more available" if page.has_more else ""),
            muted=True,
        )
    )
    for hit in page.hits:
        item = hit.story.item
        blocks.append(
            Entry(
                title=item.title,
                url=item.url,
                summary=hit.snippet,
                meta=hit.story.where,
                marks=hit.marks,
            )
        )
    return Reply(
        title=f"Search: {page.query}",
        blocks=tuple(blocks),
        more=Continuation(command, page.page + 1) if page.has_more else None,
    )


def digest_reply(issue: Issue, matches: Sequence[tuple[Story, str]]) -> Reply:
    """A reader's digest: the items of ``issue`` matching their topics, each saying why."""
    blocks: list[Block] = [
        Paragraph(
            f"{len(matches)} item{'s' if len(matches) != 1 else ''} on topics you follow:",
            muted=True,
        )
    ]
    for story, reason in matches:
        blocks.append(
            _entry(
                story.item, limit=DIGEST_SUMMARY_CHARS, meta=f"{story.section} · matched {reason}"
            )
        )
    return Reply(
        title=f"{issue_title(issue)} — your topics",
        blocks=tuple(blocks),
        footer="Manage topics with /subscriptions, /unsubscribe.",
    )


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
