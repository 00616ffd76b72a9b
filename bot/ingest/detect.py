"""Detect a document's format from its content and hand it to the right parser."""

from __future__ import annotations

from bot.ingest.types import Guess, IngestError, Parsed

__all__ = ["MAX_DOCUMENT_BYTES", "parse_document"]

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024


def parse_document(
    data: bytes | str, *, name: str = "input", content_type: str | None = None
) -> list[Parsed]:
    """Every issue in ``data`` (one for a post, any number for a feed).

    Raises :class:`IngestError` with one clear line for empty, binary, oversized or
    unparseable input. ``name`` (a file name or URL) and ``content_type`` only break ties.
    """
    # Interim: plain text through the 2021 importer until the format parsers land.
    from bot.content.importer import ImportFailure, import_text

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        result = import_text(text)
    except ImportFailure as exc:
        raise IngestError(exc.message, line=exc.line) from exc
    guesses = tuple(Guess(g.line, g.message) for g in result.guesses)
    return [Parsed(result.issue, guesses, "text")]
