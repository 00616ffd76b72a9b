"""Newsletter documents → :class:`~bot.content.models.Issue`: plain text (both eras), Markdown,
HTML and feeds, each parse reporting its guesses.

:func:`parse_document` is the one entry point: it detects the format from the content (the
name and content type only break ties) and returns every issue the document holds.
"""

from __future__ import annotations

from bot.ingest.detect import MAX_DOCUMENT_BYTES, parse_document
from bot.ingest.types import Guess, IngestError, Parsed

__all__ = ["MAX_DOCUMENT_BYTES", "Guess", "IngestError", "Parsed", "parse_document"]
