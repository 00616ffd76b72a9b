"""RSS 2.0 and Atom feeds (read with feedparser): every item that is an issue of the newsletter.

An item's HTML content (``content:encoded``, Atom ``content``, else its description) is read
as a post page; its title, link and date are the issue's. Items that name no issue number
(an announcement, a podcast episode) are skipped and listed, never half-imported.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import feedparser

from bot.ingest.assemble import title_number
from bot.ingest.blocks import Meta
from bot.ingest.html import parse_html
from bot.ingest.types import IngestError, Parsed
from bot.reply import plural

__all__ = ["FeedItemFailure", "FeedResult", "parse_feed"]

# Entity declarations (the "billion laughs") and external entities have no place in a feed.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


@dataclass(frozen=True)
class FeedItemFailure:
    """One item of a feed that was not imported, and why."""

    title: str
    reason: str


@dataclass(frozen=True)
class FeedResult:
    """A feed read item by item: issues, items that failed, and items that are no issue."""

    issues: list[Parsed]
    failures: list[FeedItemFailure]
    skipped: list[str]  # titles of items that are not issues


def parse_feed(data: bytes) -> FeedResult:
    """Every issue in a feed document; raises :class:`IngestError` if it is no usable feed."""
    if _ENTITY_DECLARATION.search(data[:65536]):
        raise IngestError("the feed declares XML entities (<!ENTITY …>); refused as unsafe")
    parsed: Any = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=True)
    entries = list(parsed.get("entries") or [])
    if not entries:
        problem = parsed.get("bozo_exception")
        if problem is not None:
            raise IngestError(f"not a valid feed: {_one_line(problem)}")
        raise IngestError("the feed has no items")
    issues: list[Parsed] = []
    failures: list[FeedItemFailure] = []
    skipped: list[str] = []
    for entry in entries:
        title = " ".join(str(entry.get("title") or "").split())
        html = _content(entry)
        if title_number(title) is None and (not html or title_number(html[:2000]) is None):
            skipped.append(title or "(untitled item)")
            continue
        meta = Meta(
            title=title or None,
            date=_date(entry),
            source_url=str(entry.get("link") or "") or None,
        )
        try:
            issues.append(parse_html(html, meta=meta))
        except IngestError as exc:
            failures.append(FeedItemFailure(title, exc.message))
    if not issues and not failures:
        others = plural(len(skipped), "other item")
        raise IngestError(f"the feed has no issues of the newsletter ({others})")
    return FeedResult(issues, failures, skipped)


def _content(entry: Any) -> str:
    for content in entry.get("content") or []:
        value = content.get("value")
        if isinstance(value, str) and value.strip():
            return value
    summary = entry.get("summary")
    return summary if isinstance(summary, str) else ""


def _date(entry: Any) -> dt.date | None:
    for key in ("published_parsed", "updated_parsed"):
        stamp = entry.get(key)
        if stamp:
            return dt.datetime.fromtimestamp(calendar.timegm(stamp), dt.UTC).date()
    return None


def _one_line(problem: object) -> str:
    return " ".join(str(problem).split())[:200]
