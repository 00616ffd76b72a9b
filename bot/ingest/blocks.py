"""The common shape every format is read into before an issue is assembled from it.

Plain text, Markdown and HTML differ in how they mark a heading, a link or a rule, not in what
a newsletter issue is. Each reader turns its format into a flat list of :class:`Block` (one per
paragraph, heading or rule, with the hints its markup gave) plus the document's
:class:`Meta`; :mod:`bot.ingest.assemble` builds the issue from that, the same way for all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["Block", "Meta", "clean_heading", "clean_url", "is_label", "is_rule", "parse_date"]

# Query parameters that only track the click (mail and ad campaigns), removed from stored links.
_TRACKING = re.compile(r"^(utm_[a-z_]*|fbclid|gclid|dclid|mc_cid|mc_eid|_hsenc|_hsmi|mkt_tok)$")
_RULE = re.compile(r"^(?:[-*_=—–]\s*){3,}$")
_EDGE_PUNCTUATION = re.compile(r"^[^\w(]+|[^\w)]+$")


@dataclass(frozen=True)
class Block:
    """One paragraph, heading or rule of a document, in reading order."""

    line: int  # 1-based line in the source where it starts (0 when the format has none)
    lines: tuple[str, ...]  # its text, one entry per source line
    blanks_before: int = 1  # plain text: blank lines before it (two or more mark lost text)
    heading: bool = False  # the markup says it is a heading (Markdown #, HTML <h2>)
    rule: bool = False  # a horizontal rule (---, <hr>)
    link: str | None = None  # the block is one link (an item title): its target
    strong: bool = False  # the block is bold throughout (a title or heading by its look)

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def gap(self) -> bool:
        """Two or more blank lines before it: something (a heading, a title) may be missing."""
        return self.blanks_before >= 2

    @property
    def is_rule(self) -> bool:
        return self.rule or is_rule(self.text)

    @property
    def is_label(self) -> bool:
        return is_label(self.text)


@dataclass(frozen=True)
class Meta:
    """What a format says about the issue outside its body (front matter, <head>, feed item)."""

    title: str | None = None
    subtitle: str | None = None
    date: dt.date | None = None
    source_url: str | None = None


def is_rule(text: str) -> bool:
    """``---``, ``***``, ``———``: a separator, not text."""
    return bool(_RULE.match(text.strip()))


def is_label(text: str) -> bool:
    """A label paragraph such as ``Abstract:`` that announces the next paragraph."""
    return text.strip().strip("*_:").strip().casefold() == "abstract"


def clean_heading(text: str) -> str:
    """A heading without stray punctuation or emphasis around it: ``**Papers:**`` → ``Papers``."""
    return _EDGE_PUNCTUATION.sub("", " ".join(text.split()))


def clean_url(url: str) -> str:
    """``url`` without click-tracking query parameters (``utm_*`` and the like)."""
    url = url.strip()
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _TRACKING.match(k.lower())]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept, doseq=True)))


_DATE_FORMATS = ("%Y-%m-%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%A, %B %d, %Y")


def parse_date(value: object) -> dt.date | None:
    """A date from front matter, a feed or a page: ISO timestamps and the common written forms."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    text = value.strip()
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    else:
        return stamp.astimezone(dt.UTC).date() if stamp.tzinfo else stamp.date()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
