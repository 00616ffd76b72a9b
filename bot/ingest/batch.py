"""``dlw-bot import``: every source read, parsed and saved, one record per issue or failure.

The CLI, the benchmark and the tests go through :func:`import_sources`; the feed poller
(:mod:`bot.ingest.poller`) shares the reading, parsing and saving underneath. Records are
reported as they are made (``on_record``) so a long bulk import shows its progress, and
collected in an :class:`ImportSummary` for the final line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.ingest.detect import MAX_DOCUMENT_BYTES, Document, issues_of, read_document
from bot.ingest.sources import (
    FETCH_TIMEOUT,
    RawDocument,
    SourceError,
    SourceRef,
    fetch_url,
    http_client,
    read_file,
    read_stream,
)
from bot.ingest.types import Guess, IngestError, Parsed
from bot.ingest.write import (
    SaveOutcome,
    SaveStatus,
    issue_file_name,
    save_issue,
    sync_directories,
)
from bot.reply import plural

__all__ = [
    "Destination",
    "ImportRecord",
    "ImportSummary",
    "import_sources",
    "parse_safely",
    "read_safely",
    "read_source",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    """Where issues are written: ``directory/NNNN.yaml``, or exactly ``file`` (one issue)."""

    directory: Path
    file: Path | None = None

    def path_for(self, number: int) -> Path:
        return self.file if self.file is not None else self.directory / issue_file_name(number)


@dataclass(frozen=True)
class ImportRecord:
    """What became of one issue of one source (or of the whole source, if it failed)."""

    source: str
    outcome: SaveOutcome | None = None
    guesses: tuple[Guess, ...] = ()
    error: str | None = None
    line: int | None = None  # of the error, if known
    skipped: str | None = None  # a feed item that is not an issue: its title

    @property
    def failed(self) -> bool:
        return self.outcome is None and self.skipped is None

    @property
    def error_line(self) -> str:
        """``SOURCE[:LINE]: error: MESSAGE``."""
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: error: {self.error}"


@dataclass
class ImportSummary:
    """What one ``dlw-bot import`` run did with each document, for its closing summary."""

    records: list[ImportRecord] = field(default_factory=list)
    documents: int = 0

    @property
    def counts(self) -> Counter[str]:
        return Counter(
            r.outcome.status.value if r.outcome else "skipped" if r.skipped else "failed"
            for r in self.records
        )

    @property
    def failures(self) -> list[ImportRecord]:
        return [r for r in self.records if r.failed]

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was left unwritten because a different file exists."""
        return not any(
            r.failed or (r.outcome is not None and r.outcome.status is SaveStatus.DIFFERS)
            for r in self.records
        )

    @property
    def wrote_anything(self) -> bool:
        return any(r.outcome is not None and r.outcome.wrote for r in self.records)

    def describe(self) -> str:
        counts = self.counts
        parts = [f"{counts['written'] + counts['replaced']} imported"]
        if counts["replaced"]:
            parts[0] += f" ({counts['replaced']} replaced)"
        if counts["dry-run"]:
            parts.append(f"{counts['dry-run']} would be written (dry run)")
        parts.append(f"{counts['unchanged']} unchanged")
        if counts["differs"]:
            parts.append(f"{counts['differs']} differ from the existing file (not written)")
        parts.append(f"{counts['failed']} failed")
        if counts["skipped"]:
            skipped = counts["skipped"]
            parts.append(f"{plural(skipped, 'feed item')} skipped (not issues)")
        documents = plural(self.documents, "document")
        return f"{', '.join(parts).capitalize()} (from {documents})."


def read_safely(document: RawDocument) -> Document:
    """:func:`read_document` (issues, and a feed's failed and skipped items), with an unexpected
    parser exception turned into an :class:`IngestError` (logged with its traceback)."""
    try:
        return read_document(document.data, name=document.name, content_type=document.content_type)
    except IngestError:
        raise
    except Exception as exc:  # a parser bug must not take the whole bulk import down
        log.exception("the parser failed on %s", document.name)
        raise IngestError(f"could not be parsed ({type(exc).__name__}: {exc})") from exc


def parse_safely(document: RawDocument) -> list[Parsed]:
    """:func:`parse_document`, with an unexpected parser exception turned into an
    :class:`IngestError` (logged with its traceback): bad input never crashes an import."""
    return issues_of(read_safely(document))


async def read_source(
    ref: SourceRef,
    client: httpx.AsyncClient | None,
    *,
    limit: int = MAX_DOCUMENT_BYTES,
    time_limit: float = FETCH_TIMEOUT,
) -> RawDocument:
    """The bytes of ``ref`` within the bounds; :class:`SourceError` if it cannot be read."""
    if ref.error is not None:
        raise SourceError(ref.error)
    if ref.name == "-":
        return RawDocument("-", read_stream(limit=limit))
    if ref.is_url:
        if client is None:
            raise SourceError("no HTTP client")  # pragma: no cover - import_sources passes one
        fetched = await fetch_url(client, ref.name, limit=limit, time_limit=time_limit)
        assert fetched.document is not None  # unconditional requests never get a 304
        return fetched.document
    assert ref.path is not None
    return RawDocument(ref.name, read_file(ref.path, limit=limit))


async def import_sources(
    refs: list[SourceRef],
    destination: Destination,
    *,
    replace: bool = False,
    dry_run: bool = False,
    on_record: Callable[[ImportRecord], None] | None = None,
    on_document: Callable[[SourceRef], None] | None = None,
    limit: int = MAX_DOCUMENT_BYTES,
    time_limit: float = FETCH_TIMEOUT,
) -> ImportSummary:
    """Read, parse and save every source; never raises for bad input (it becomes a record)."""
    summary = ImportSummary()
    seen_file: int | None = None
    touched: set[Path] = set()  # directories written to: their renames made durable at the end

    def record(entry: ImportRecord) -> None:
        summary.records.append(entry)
        if on_record is not None:
            on_record(entry)

    client = http_client(timeout=time_limit) if any(r.is_url for r in refs) else None
    try:
        for ref in refs:
            summary.documents += 1
            try:
                raw = await read_source(ref, client, limit=limit, time_limit=time_limit)
                document = read_safely(raw)
                found = document.issues
                if not found and document.failures:
                    first = document.failures[0]
                    raise IngestError(
                        f"no item of the feed could be imported; {first.title}: {first.reason}"
                    )
                if not found:
                    raise IngestError("no issues found in it")
            except SourceError as exc:
                record(ImportRecord(ref.name, error=str(exc)))
            except IngestError as exc:
                record(ImportRecord(ref.name, error=exc.message, line=exc.line))
            else:
                for parsed in found:
                    number = parsed.issue.number
                    if destination.file is not None and seen_file not in (None, number):
                        record(
                            ImportRecord(
                                ref.name,
                                guesses=parsed.guesses,
                                error=f"issue #{number}: -o {destination.file} takes one issue "
                                "only; give a directory to import several",
                            )
                        )
                        continue
                    seen_file = number
                    try:
                        outcome = save_issue(
                            parsed,
                            destination.path_for(number),
                            source=ref.name,
                            replace=replace,
                            dry_run=dry_run,
                            sync_directory=False,
                        )
                    except OSError as exc:
                        record(
                            ImportRecord(
                                ref.name,
                                guesses=parsed.guesses,
                                error=f"issue #{number}: cannot write: {exc.strerror or exc}",
                            )
                        )
                        continue
                    if outcome.wrote:
                        touched.add(outcome.path.parent)
                    record(ImportRecord(ref.name, outcome, parsed.guesses))
                for failure in document.failures:
                    record(ImportRecord(ref.name, error=f"{failure.title}: {failure.reason}"))
                for title in document.skipped:
                    record(ImportRecord(ref.name, skipped=title))
            if on_document is not None:
                on_document(ref)
    finally:
        sync_directories(touched)
        if client is not None:
            await client.aclose()
    return summary
