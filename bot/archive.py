"""The loaded newsletter: every issue, searchable, with topics matched to every item.

An :class:`Archive` is immutable once built. Full-text search and topic matching run on an
in-memory SQLite FTS5 index built with the archive (bm25 ranking, Porter stemming); queries are
CPU-only and take well under a millisecond on a realistic archive, so they run on the event loop.
:class:`ArchiveHolder` swaps in a new archive when the content directory changes and keeps the
last good one when a changed file is broken.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.content.loader import ContentError, ContentErrors, LoadedContent, load_content
from bot.content.models import Issue, Item, Section
from bot.content.sections import SECTION_ALIASES
from bot.content.topics import Taxonomy, Topic, normalize
from bot.errors import DlwError

__all__ = [
    "MAX_QUERY_CHARS",
    "Archive",
    "ArchiveHolder",
    "QueryError",
    "ReloadOutcome",
    "SearchHit",
    "SearchPage",
    "Story",
    "fts_query",
]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 12
SEARCH_CACHE_SIZE = 512  # pages; each holds at most a few KB
_MARK_START, _MARK_END = "\x02", "\x03"
_TERM = re.compile(r'"([^"]*)"|(\w+)')


@dataclass(frozen=True)
class Story:
    """An item together with where it appeared."""

    key: int  # stable within one archive: the FTS rowid
    issue: int
    section: str
    item: Item

    @property
    def where(self) -> str:
        return f"Issue #{self.issue} · {self.section}"


@dataclass(frozen=True)
class SearchHit:
    """One search result: the story, the snippet shown and the words to emphasise in it."""

    story: Story
    snippet: str
    marks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SearchPage:
    """One page of search results, and whether a later page exists (a "More" button)."""

    query: str
    hits: tuple[SearchHit, ...]
    page: int
    has_more: bool
    per_page: int

    @property
    def first(self) -> int:
        """1-based position of the first hit on this page."""
        return (self.page - 1) * self.per_page + 1


class QueryError(DlwError, ValueError):
    """A search query that cannot be run, with a message fit to show the reader."""


def fts_query(text: str, *, prefix_last: bool = True, any_term: bool = False) -> str | None:
    """Turn what a reader typed into a safe FTS5 query, or ``None`` if nothing is searchable.

    Only word characters survive, each term is quoted, and ``"a phrase"`` stays a phrase, so
    FTS operators (AND, NEAR, ``*``, ``:``, parentheses) typed by a reader are plain words.
    Terms must all match, or with ``any_term`` any of them.
    """
    terms: list[str] = []
    for phrase, word in _TERM.findall(text):
        words = re.findall(r"\w+", phrase) if phrase else [word]
        if words:
            terms.append('"' + " ".join(words) + '"')
        if len(terms) >= MAX_QUERY_TERMS:
            break
    if not terms:
        return None
    last = terms[-1]
    if prefix_last and " " not in last and len(last) >= 5:  # '"pytor"' finds pytorch as you type
        terms[-1] = last + " *"
    return (" OR " if any_term else " ").join(terms)


class Archive:
    """Every issue of the newsletter, with lookup, search and topic matching."""

    def __init__(self, content: LoadedContent) -> None:
        for skipped in content.skipped:
            log.warning("content file not read: %s", skipped)
        self.issues: tuple[Issue, ...] = content.issues
        self.taxonomy: Taxonomy = content.taxonomy
        self._by_number = {issue.number: issue for issue in self.issues}
        self._stories: list[Story] = []
        self._rowids: dict[int, tuple[int, int]] = {}  # issue -> its stories' first, last key
        self._search_cache: OrderedDict[tuple[str, int, int, int | None], list[SearchHit]] = (
            OrderedDict()
        )
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        # Searches run in worker threads (see search_async); one query at a time on the
        # connection, and the page cache is shared.
        self._lock = threading.Lock()
        self._build_index()
        self._topics_by_story: dict[int, tuple[Topic, ...]] = {}
        self._stories_by_topic: dict[str, tuple[Story, ...]] = {}
        self._match_topics()

    @classmethod
    def load(cls, directory: Path) -> Archive:
        """Load ``directory``; raises :class:`~bot.content.loader.ContentErrors`."""
        return cls(load_content(directory))

    # -- issues and sections -------------------------------------------------------------

    def latest(self) -> Issue | None:
        return self.issues[-1] if self.issues else None

    def issue(self, number: int) -> Issue | None:
        return self._by_number.get(number)

    @property
    def numbers(self) -> list[int]:
        return [issue.number for issue in self.issues]

    @property
    def item_count(self) -> int:
        return len(self._stories)

    def stories(self, issue: Issue) -> list[Story]:
        """The stories of ``issue`` in newsletter order (a slice, not a scan of the archive)."""
        first, last = self._rowids.get(issue.number, (1, 0))
        return self._stories[first - 1 : last]

    def section(self, issue: Issue, name: str) -> Section | None:
        """The section of ``issue`` a reader means by ``name`` ("papers", "libs", "Mobile")."""
        key = normalize(name)
        if not key:
            return None
        names = {normalize(s.name): s for s in issue.sections}
        if key in names:
            return names[key]
        for canonical, aliases in SECTION_ALIASES.items():
            if key in aliases and normalize(canonical) in names:
                return names[normalize(canonical)]
        # Any section, standard or not, answers to each word of its name ("MLOps & LLMOps":
        # mlops, llmops), also typed without spaces ("ml ops").
        compact = key.replace(" ", "")
        by_word = {
            s.name: s
            for s in issue.sections
            if any(compact == word for word in normalize(s.name).split() if word != "and")
            or compact == normalize(s.name).replace(" ", "")
        }
        if len(by_word) == 1:
            return next(iter(by_word.values()))
        candidates = self._section_names(issue)
        if len(key) >= 3:
            starts = {
                s.name: s
                for alias, s in candidates
                if alias.startswith(key) or any(w.startswith(key) for w in alias.split()[1:])
            }
            if len(starts) == 1:
                return next(iter(starts.values()))
        close = difflib.get_close_matches(key, [alias for alias, _ in candidates], n=1, cutoff=0.8)
        if close:
            return dict(candidates)[close[0]]
        return None

    def section_choices(self, issue: Issue) -> list[str]:
        """Short names a reader can type for the sections of ``issue``.

        A standard section's first alias (``papers``); any other section's first word when
        that word finds it (``mlops``), else its whole name.
        """
        choices: list[str] = []
        for section in issue.sections:
            short = _short_name(section.name)
            if section.name not in SECTION_ALIASES:
                first = short.split()[0]
                short = first if self.section(issue, first) is section else short
            choices.append(short)
        return choices

    def _section_names(self, issue: Issue) -> list[tuple[str, Section]]:
        pairs: list[tuple[str, Section]] = []
        for section in issue.sections:
            pairs.append((normalize(section.name), section))
            pairs.extend((alias, section) for alias in SECTION_ALIASES.get(section.name, ()))
        return pairs

    # -- search --------------------------------------------------------------------------

    def search(
        self,
        text: str,
        *,
        page: int = 1,
        per_page: int = 8,
        issue: int | None = None,
        as_you_type: bool = False,
    ) -> SearchPage:
        """Rank items by relevance to ``text`` (bm25; titles weigh more than summaries).

        ``as_you_type`` (inline queries) also matches the last word as a prefix; full searches
        don't, since a prefix of a common word widens the match set bm25 has to rank.
        Raises :class:`QueryError` for an empty, oversized or unsearchable query.
        """
        query = " ".join(text.split())
        if not query:
            raise QueryError("Tell me what to look for, e.g. /search federated learning")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(
                f"That search is {len(query):,} characters long; please keep it under {MAX_QUERY_CHARS:,}."
            )
        match = fts_query(query, prefix_last=as_you_type)
        if match is None:
            raise QueryError(
                "There are no words to search for in that query; try plain words like 'pytorch'."
            )
        page = max(1, page)
        offset = (page - 1) * per_page
        hits = self._run_search(match, per_page + 1, offset, issue)
        if not hits and (offset == 0 or not self._run_search(match, 1, 0, issue)):
            # Nothing has every word: fall back to items with any of them, still ranked.
            any_match = fts_query(query, any_term=True, prefix_last=as_you_type)
            if any_match and any_match != match:
                hits = self._run_search(any_match, per_page + 1, offset, issue)
        return SearchPage(
            query=query,
            hits=tuple(hits[:per_page]),
            page=page,
            has_more=len(hits) > per_page,
            per_page=per_page,
        )

    async def search_async(
        self,
        text: str,
        *,
        page: int = 1,
        per_page: int = 8,
        issue: int | None = None,
        as_you_type: bool = False,
    ) -> SearchPage:
        """:meth:`search` in a worker thread. Ranking long summaries can take tens of
        milliseconds, which must not hold up every other reader; SQLite releases the GIL
        while it ranks, so the event loop keeps answering."""
        return await asyncio.to_thread(
            self.search, text, page=page, per_page=per_page, issue=issue, as_you_type=as_you_type
        )

    def _run_search(
        self, match: str, limit: int, offset: int, issue: int | None
    ) -> list[SearchHit]:
        # The archive never changes, so a page once ranked stays right: popular queries and
        # "more" clicks skip running bm25 over every match again.
        key = (match, limit, offset, issue)
        with self._lock:
            cached = self._search_cache.get(key)
            if cached is not None:
                self._search_cache.move_to_end(key)
                return cached
            hits = self._rank(match, limit, offset, issue)
            self._search_cache[key] = hits
            if len(self._search_cache) > SEARCH_CACHE_SIZE:
                self._search_cache.popitem(last=False)
            return hits

    def _rank(self, match: str, limit: int, offset: int, issue: int | None) -> list[SearchHit]:
        sql = (
            "SELECT rowid, snippet(items, 1, ?, ?, '…', 24) FROM items WHERE items MATCH ?"
            + (" AND issue = ?" if issue is not None else "")
            + " ORDER BY bm25(items, 6.0, 1.0) LIMIT ? OFFSET ?"
        )
        params: list[object] = [_MARK_START, _MARK_END, match]
        if issue is not None:
            params.append(issue)
        params += [limit, offset]
        try:
            rows = self._db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:  # should not happen: fts_query quotes everything
            log.warning("search query %r failed: %s", match, exc)
            raise QueryError("I couldn't run that search; try simpler words.") from exc
        return [self._hit(rowid, snippet) for rowid, snippet in rows]

    def _hit(self, rowid: int, snippet: str) -> SearchHit:
        text, marks = _parse_marks(snippet)
        return SearchHit(story=self._stories[rowid - 1], snippet=text, marks=marks)

    def count_matches(self, phrase: str) -> int:
        """How many items of the archive a keyword subscription would have matched."""
        return len(self.keyword_matches(phrase))

    def keyword_matches(self, phrase: str, *, issue: int | None = None) -> list[Story]:
        """Items whose title or summary contain ``phrase`` (stemmed, any case)."""
        query = _phrase_query([phrase])
        if query is None:
            return []
        sql = "SELECT rowid FROM words WHERE words MATCH ?"
        params: list[object] = [query]
        if issue is not None:
            # ``words`` keeps no columns (only the index), but an issue's stories have
            # consecutive rowids.
            first, last = self._rowids.get(issue, (0, -1))
            sql += " AND rowid BETWEEN ? AND ?"
            params += [first, last]
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY rowid", params).fetchall()
        return [self._stories[r - 1] for (r,) in rows]

    # -- topics --------------------------------------------------------------------------

    def topics_of(self, story: Story) -> tuple[Topic, ...]:
        return self._topics_by_story.get(story.key, ())

    def stories_for_topic(self, topic_id: str) -> tuple[Story, ...]:
        return self._stories_by_topic.get(topic_id, ())

    # -- building ------------------------------------------------------------------------

    def _build_index(self) -> None:
        # items: stemmed, for ranked search. words: unstemmed, for topic and keyword matching,
        # where stems are too loose ("generative" and "general" share one).
        self._db.execute(
            "CREATE VIRTUAL TABLE items USING fts5("
            "title, summary, issue UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self._db.execute(
            "CREATE VIRTUAL TABLE words USING fts5(title, summary, issue UNINDEXED, "
            "tokenize = 'unicode61 remove_diacritics 2', content='', columnsize=0)"
        )
        rows: list[tuple[int, str, str, int]] = []
        for issue in self.issues:
            first = len(self._stories) + 1
            for section in issue.sections:
                for item in section.items:
                    story = Story(len(self._stories) + 1, issue.number, section.name, item)
                    self._stories.append(story)
                    rows.append((story.key, item.title, item.summary, issue.number))
            self._rowids[issue.number] = (first, len(self._stories))
        with self._db:
            for table in ("items", "words"):
                self._db.executemany(
                    f"INSERT INTO {table}(rowid, title, summary, issue) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")

    def _match_topics(self) -> None:
        found: dict[int, list[Topic]] = {}
        tagged: dict[str, set[int]] = {}  # topic id -> stories whose file names it
        for story in self._stories:
            for topic_id in story.item.topics:
                tagged.setdefault(topic_id, set()).add(story.key)
        for topic in self.taxonomy:
            query = _phrase_query(topic.keywords)
            rowids: set[int] = set()
            if query is not None:
                rowids = {
                    r
                    for (r,) in self._db.execute(
                        "SELECT rowid FROM words WHERE words MATCH ?", (query,)
                    )
                }
            rowids |= tagged.get(topic.id, set())
            for rowid in sorted(rowids):
                found.setdefault(rowid, []).append(topic)
            self._stories_by_topic[topic.id] = tuple(self._stories[r - 1] for r in sorted(rowids))
        self._topics_by_story = {key: tuple(topics) for key, topics in found.items()}

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _phrase_query(phrases: Iterable[str]) -> str | None:
    """An FTS query matching any of ``phrases`` as whole words, plurals included."""
    alternatives: list[str] = []
    for phrase in phrases:
        words = re.findall(r"\w+", phrase.casefold())
        if not words:
            continue
        *head, last = words
        for variant in _plurals(last):
            alternatives.append('"' + " ".join([*head, variant]) + '"')
    return " OR ".join(dict.fromkeys(alternatives)) or None


def _plurals(word: str) -> list[str]:
    """The word and its regular English plural (``chip`` → ``chips``, ``library`` → ``libraries``)."""
    if not word.isalpha() or len(word) < 3:
        return [word]
    if word.endswith("y") and word[-2] not in "aeiou":
        return [word, word[:-1] + "ies"]
    if word.endswith(("s", "x", "ch", "sh")):
        return [word, word + "es"]
    return [word, word + "s"]


def _parse_marks(snippet: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Strip the highlight markers from an FTS snippet, returning the text and marked ranges."""
    out: list[str] = []
    marks: list[tuple[int, int]] = []
    length = 0
    for index, part in enumerate(snippet.split(_MARK_START)):
        marked, end, rest = part.partition(_MARK_END) if index else ("", "", part)
        if end and marked:
            marks.append((length, length + len(marked)))
        text = marked + rest if end else part
        out.append(text)
        length += len(text)
    return "".join(out), tuple(marks)


def _short_name(section: str) -> str:
    aliases = SECTION_ALIASES.get(section)
    return aliases[0] if aliases else normalize(section)


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: swapped in a new archive, or kept the old one because of ``errors``."""

    changed: bool
    errors: tuple[ContentError, ...] = ()
    added: tuple[int, ...] = ()


@dataclass
class ArchiveHolder:
    """The archive currently served, reloaded from ``directory`` when its files change."""

    directory: Path
    archive: Archive
    listeners: list[Callable[[Archive, ReloadOutcome], None]] = field(default_factory=list)

    @classmethod
    async def open(cls, directory: Path) -> ArchiveHolder:
        archive = await asyncio.to_thread(Archive.load, directory)
        return cls(directory=directory, archive=archive)

    async def reload(self) -> ReloadOutcome:
        """Load the directory again; on errors keep serving the current archive."""
        try:
            fresh = await asyncio.to_thread(Archive.load, self.directory)
        except ContentErrors as exc:
            for error in exc.errors:
                log.error("content not reloaded: %s", error)
            return ReloadOutcome(changed=False, errors=tuple(exc.errors))
        old = self.archive
        added = tuple(sorted(set(fresh.numbers) - set(old.numbers)))
        self.archive = fresh
        outcome = ReloadOutcome(changed=True, added=added)
        log.info(
            "content reloaded: %d issues, %d items (new: %s)",
            len(fresh.issues),
            fresh.item_count,
            added or "none",
        )
        for listener in self.listeners:
            listener(fresh, outcome)
        return outcome

    async def watch(
        self,
        *,
        stop: asyncio.Event | None = None,
        debounce_ms: int = 300,
        max_wait_ms: int = 10_000,
    ) -> AsyncIterator[ReloadOutcome]:
        """Reload whenever files under the directory change; yields each outcome.

        A burst of changes is one reload: it waits until nothing has changed for
        ``debounce_ms`` (at most ``max_wait_ms`` in all), so a bulk import of 500 issues
        reloads once. Temporary files of atomic writes and ``drafts/`` are not content.
        """
        from watchfiles import awatch

        from bot.ingest.write import content_change

        async for _changes in awatch(
            self.directory,
            stop_event=stop,
            debounce=max_wait_ms,
            step=debounce_ms,
            recursive=True,
            watch_filter=lambda _change, path: content_change(self.directory, path),
        ):
            yield await self.reload()
