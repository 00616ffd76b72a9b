"""Detect a document's format from its content and hand it to the right reader.

The content decides: a feed starts with ``<rss``/``<feed`` (after an XML declaration), a page
with a doctype or an HTML element, Markdown shows front matter, ``#`` headings or
``[text](url)`` links, anything else is plain text. The file name and the HTTP content type
only break ties (``.md`` text with no Markdown marks is still read as Markdown).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.ingest.feed import FeedItemFailure, parse_feed
from bot.ingest.html import parse_html
from bot.ingest.markdown import parse_markdown
from bot.ingest.text import parse_text
from bot.ingest.types import IngestError, Parsed

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "Document",
    "detect_format",
    "issues_of",
    "parse_document",
    "read_document",
]

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024

_FEED = re.compile(
    rb"^\s*(?:<\?xml[^>]{0,200}\?>\s*)?(?:<!--.{0,2000}?-->\s*)*<(?:rss|feed|rdf:RDF)\b",
    re.DOTALL | re.IGNORECASE,
)
_XML = re.compile(rb"^\s*<\?xml", re.IGNORECASE)
_HTML = re.compile(
    r"^\s*(?:<!doctype\s+html|<html|<head|<body|<article|<div|<p[\s>]|<h[1-6][\s>])", re.IGNORECASE
)
_MARKDOWN = re.compile(r"^(?:#{1,6}\s+\S|\*\*\[|\\---$)|\]\(https?://", re.MULTILINE)


@dataclass(frozen=True)
class Document:
    """What one document held: its issues, and (feeds) the items that failed or were skipped."""

    format: str
    issues: list[Parsed]
    failures: list[FeedItemFailure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def detect_format(data: bytes, *, name: str = "", content_type: str | None = None) -> str:
    """``"feed"``, ``"html"``, ``"markdown"`` or ``"text"``, from the content first."""
    kind = (content_type or "").split(";")[0].strip().lower()
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    head = data[:4096]
    if _FEED.match(head):
        return "feed"
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if _HTML.match(text):
        return "html"
    if _XML.match(head) or kind in ("application/rss+xml", "application/atom+xml"):
        return "feed"
    if text.startswith("---\n") or text.startswith("---\r\n") or _MARKDOWN.search(text):
        return "markdown"
    if kind in ("text/html", "application/xhtml+xml") or suffix in ("html", "htm"):
        return "html" if "<" in text else "text"
    if kind == "text/markdown" or suffix in ("md", "markdown"):
        return "markdown"
    return "text"


def read_document(
    data: bytes | str, *, name: str = "input", content_type: str | None = None
) -> Document:
    """Every issue in ``data``, with a feed's failed and skipped items.

    Raises :class:`IngestError` with one clear line for empty, binary, oversized or
    unreadable input, and when a post is not an issue.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise IngestError(
            f"too large: {len(raw) / 1e6:.1f} MB (the limit is {MAX_DOCUMENT_BYTES // 2**20} MB)"
        )
    if not raw.strip():
        raise IngestError("the document is empty")
    if b"\x00" in raw[:65536]:
        raise IngestError("not text: this looks like a binary file")
    fmt = detect_format(raw, name=name, content_type=content_type)
    if fmt == "feed":
        result = parse_feed(raw)
        return Document("feed", result.issues, result.failures, result.skipped)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"not UTF-8 text (byte {exc.start}): save it as UTF-8 and import it again"
        ) from None
    text = text.removeprefix("\ufeff")
    if fmt == "html":
        return Document("html", [parse_html(text)])
    if fmt == "markdown":
        return Document("markdown", [parse_markdown(text)])
    return Document("text", [parse_text(text)])


def parse_document(
    data: bytes | str, *, name: str = "input", content_type: str | None = None
) -> list[Parsed]:
    """Every issue in ``data`` (one for a post, any number for a feed).

    A feed item that fails is not returned (:func:`read_document` lists those); a feed
    none of whose items could be read raises the first failure.
    """
    return issues_of(read_document(data, name=name, content_type=content_type))


def issues_of(document: Document) -> list[Parsed]:
    """The issues of a read document; a feed none of whose items could be read raises the
    first failure instead of answering with nothing."""
    if not document.issues and document.failures:
        first = document.failures[0]
        raise IngestError(f"no item of the feed could be imported; {first.title}: {first.reason}")
    return document.issues
