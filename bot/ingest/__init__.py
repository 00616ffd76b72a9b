"""Newsletter documents → :class:`~bot.content.models.Issue`: plain text (both eras), Markdown,
HTML and feeds, each parse reporting its guesses.

:func:`parse_document` is the one entry point: it detects the format from the content (the
name and content type only break ties) and returns every issue the document holds;
:func:`read_document` also lists a feed's items that failed or were skipped.
"""

from __future__ import annotations

from bot.ingest.assemble import derive_title
from bot.ingest.detect import (
    MAX_DOCUMENT_BYTES,
    Document,
    detect_format,
    parse_document,
    read_document,
)
from bot.ingest.feed import FeedItemFailure
from bot.ingest.types import Guess, IngestError, Parsed

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "Document",
    "FeedItemFailure",
    "Guess",
    "IngestError",
    "Parsed",
    "derive_title",
    "detect_format",
    "parse_document",
    "read_document",
]
