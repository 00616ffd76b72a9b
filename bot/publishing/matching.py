"""Which of one issue's items each reader's subscriptions match, without scanning the archive.

Planning a publication matches every reader against the issue being published. Asking the
archive for that (:meth:`~bot.archive.Archive.stories_for_topic`, then keep this issue's;
:meth:`~bot.archive.Archive.keyword_matches`, an FTS query over every issue's doclists) costs
time that grows with the archive: 5.4 ms per digest at 5,000 issues. :class:`IssueIndex`
indexes the one issue's stories once instead: their topics (as the archive matched them) and
their unstemmed words, in a tiny FTS5 table with the archive's own tokenizer and phrase query,
so a keyword matches here exactly what it matches in the archive, in microseconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.archive import Archive, Story, _phrase_query
from bot.content.models import Issue
from bot.model import Subscription, SubscriptionKind

__all__ = ["IssueIndex"]

# The archive's ``words`` table: unstemmed, diacritics folded (see Archive._build_index).
_WORDS = (
    "CREATE VIRTUAL TABLE words USING fts5(title, summary, "
    "tokenize = 'unicode61 remove_diacritics 2', content='', columnsize=0)"
)


class IssueIndex:
    """One issue's stories, indexed for matching subscriptions (built once per plan)."""

    def __init__(self, archive: Archive, issue: Issue) -> None:
        self.archive = archive
        self.issue = issue
        self.stories = archive.stories(issue)
        self._by_key = {story.key: story for story in self.stories}
        self._by_topic: dict[str, list[Story]] = {}
        for story in self.stories:
            for topic in archive.topics_of(story):
                self._by_topic.setdefault(topic.id, []).append(story)
        self._db = sqlite3.connect(":memory:")
        try:
            self._db.execute(_WORDS)
            self._db.executemany(
                "INSERT INTO words(rowid, title, summary) VALUES (?, ?, ?)",
                [(story.key, story.item.title, story.item.summary) for story in self.stories],
            )
        except BaseException:
            self._db.close()
            raise
        self._cache: dict[Subscription, list[Story]] = {}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IssueIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stories_for(self, subscription: Subscription) -> list[Story]:
        """The issue's stories ``subscription`` matches, in issue order."""
        found = self._cache.get(subscription)
        if found is None:
            if subscription.kind is SubscriptionKind.TOPIC:
                found = self._by_topic.get(subscription.value, [])
            else:
                found = self._keyword(subscription.value)
            self._cache[subscription] = found
        return found

    def _keyword(self, phrase: str) -> list[Story]:
        query = _phrase_query([phrase])
        if query is None:
            return []
        rows = self._db.execute(
            "SELECT rowid FROM words WHERE words MATCH ? ORDER BY rowid", (query,)
        ).fetchall()
        return [self._by_key[rowid] for (rowid,) in rows]

    def match(self, subscriptions: Sequence[Subscription]) -> list[dict[str, str]]:
        """The matching items in issue order, each once, with the first subscription matching
        it: a digest's payload."""
        reasons: dict[int, tuple[Story, str]] = {}
        for subscription in subscriptions:
            for story in self.stories_for(subscription):
                reasons.setdefault(story.key, (story, self.reason(subscription)))
        return [
            {"section": story.section, "title": story.item.title, "reason": reason}
            for _, (story, reason) in sorted(reasons.items())
        ]

    def follows(self, subscriptions: Sequence[Subscription]) -> list[dict[str, str]]:
        """Every subscription matching at least one item, as the digest's footer names them
        and its Stop buttons stop them (``value``: what /unsubscribe takes)."""
        return [
            {"label": self.label(s), "value": s.value} for s in subscriptions if self.stories_for(s)
        ]

    def label(self, subscription: Subscription) -> str:
        """How a reader knows the subscription: the topic's label, a keyword in quotes."""
        if subscription.kind is SubscriptionKind.TOPIC:
            topic = self.archive.taxonomy.get(subscription.value)
            return topic.label if topic else subscription.value
        return f"“{subscription.value}”"

    def reason(self, subscription: Subscription) -> str:
        kind = "topic" if subscription.kind is SubscriptionKind.TOPIC else "keyword"
        return f"{kind} {self.label(subscription)}"
