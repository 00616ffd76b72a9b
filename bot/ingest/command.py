"""The content commands of the command line: ``dlw-bot import``, ``init`` and ``approve``.

:mod:`bot.cli` declares the arguments and calls these; what they print is here. Messages go
where a script expects them: written/unchanged lines, diffs and ``--dry-run`` YAML on standard
output; guesses (``SOURCE:LINE: guessed: ...``) and errors (``SOURCE[:LINE]: error: ...``) on
standard error. Exit code 1 when anything failed or was left unwritten.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import Settings
from bot.ingest.batch import Destination, ImportRecord, ImportSummary, import_sources
from bot.ingest.drafts import DraftError, approve_draft, list_drafts
from bot.ingest.sources import SourceRef, expand_sources
from bot.ingest.workdir import InitError, init_content
from bot.ingest.write import ISSUES_DIR, ContentNotWritable, SaveStatus, check_writable
from bot.reply import plural

__all__ = ["run_approve", "run_import", "run_init"]


def destination_for(settings: Settings, output: Path | None) -> Destination:
    """Where an import writes: ``-o`` (a directory, or one ``.yaml`` file), else the content
    directory's ``issues/``. Raises :class:`ContentNotWritable` for the bundled content or a
    content directory the bot could not start on."""
    if output is not None:
        if output.suffix.lower() in (".yaml", ".yml"):
            check_writable(output.parent, explicit=True, need_topics=False)
            return Destination(output.parent, output)
        check_writable(output, explicit=True, need_topics=False)
        return Destination(output)
    content = settings.content_dir
    check_writable(content, explicit="content_dir" in settings.model_fields_set)
    return Destination(content / ISSUES_DIR)


class _Printer:
    """Prints each record as it arrives (above the progress bar, when there is one)."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err

    def raw(self, text: str) -> None:
        """YAML and diffs exactly as they are (rich would expand tabs, for one)."""
        if text:
            self.out.file.write(text)
            self.out.file.flush()

    def __call__(self, record: ImportRecord) -> None:
        if record.skipped is not None:
            self.err.print(f"{record.source}: skipped {record.skipped!r}: not an issue")
            return
        outcome = record.outcome
        if outcome is None or outcome.status is not SaveStatus.UNCHANGED:  # else: reviewed before
            for guess in record.guesses:
                self.err.print(f"{guess.where(record.source)}: guessed: {guess.message}")
        if outcome is None:
            self.err.print(record.error_line)
            return
        issue = outcome.issue
        shape = (
            f"issue #{issue.number}, {plural(len(issue.sections), 'section')}, "
            f"{plural(len(issue.items), 'item')}, "
            f"{plural(len(record.guesses), 'guess', 'guesses')} to review"
        )
        status = outcome.status
        if status is SaveStatus.DRY_RUN:
            self.raw(outcome.rendered)
            self.raw(outcome.diff)
            self.err.print(f"{record.source}: would write {outcome.path} ({shape}).")
        elif status is SaveStatus.WRITTEN:
            self.out.print(f"Wrote {outcome.path}: {shape}.")
        elif status is SaveStatus.REPLACED:
            self.raw(outcome.diff)
            self.out.print(f"Replaced {outcome.path}: {shape}.")
        elif status is SaveStatus.UNCHANGED:
            self.out.print(f"{outcome.path}: issue #{issue.number} unchanged.")
        else:  # DIFFERS
            self.raw(outcome.diff)
            self.err.print(
                f"{record.source}: error: issue #{issue.number} differs from {outcome.path}; "
                "nothing written (--replace overwrites it)"
            )


def _progress(refs: list[SourceRef], err: Console) -> Progress | None:
    if len(refs) < 2 or not err.is_terminal:
        return None
    return Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err,
        transient=True,
    )


def run_import(
    settings: Settings,
    sources: list[str],
    *,
    output: Path | None = None,
    replace: bool = False,
    dry_run: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``dlw-bot import SOURCE…``; returns the exit code."""
    # file=None: rich looks sys.stdout/sys.stderr up at each write (so the bar can redirect).
    out = Console(file=stdout, highlight=False, markup=False, soft_wrap=True, emoji=False)
    err = Console(
        file=stderr, stderr=True, highlight=False, markup=False, soft_wrap=True, emoji=False
    )
    try:
        destination = destination_for(settings, output)
    except ContentNotWritable as exc:
        err.print(f"error: {exc} Nothing was written.")
        return 1
    refs = expand_sources(sources)
    if not refs:
        err.print("error: no files to import (the directories given are empty).")
        return 1
    summary = _run(refs, destination, out, err, replace=replace, dry_run=dry_run)
    if summary.documents > 1 or len(summary.records) > 1:
        err.print(summary.describe())
        failures = summary.failures
        if failures and summary.documents <= 10:
            pass  # their lines are just above
        elif failures and len(failures) <= 20:
            err.print("Failed:")
            for record in failures:
                err.print(f"  {record.error_line}")
        elif failures:
            err.print(f"{len(failures)} failed; their reasons are printed above.")
    if dry_run or (not summary.wrote_anything and not summary.ok):
        err.print("Nothing was written.")
    return 0 if summary.ok else 1


def _run(
    refs: list[SourceRef],
    destination: Destination,
    out: Console,
    err: Console,
    *,
    replace: bool,
    dry_run: bool,
) -> ImportSummary:
    progress = _progress(refs, err)
    # With a bar, rich redirects sys.stdout above it; ``out`` writes to sys.stdout lazily.
    printer = _Printer(out, progress.console if progress else err)
    context: AbstractContextManager[Any] = progress if progress is not None else nullcontext()
    with context:
        task = progress.add_task("", total=len(refs)) if progress is not None else None

        def advanced(ref: SourceRef) -> None:
            if progress is not None and task is not None:
                progress.update(task, advance=1, description=Path(ref.name).name)

        return asyncio.run(
            import_sources(
                refs,
                destination,
                replace=replace,
                dry_run=dry_run,
                on_record=printer,
                on_document=advanced,
            )
        )


def run_init(directory: Path) -> int:
    """``dlw-bot init [DIR]``."""
    try:
        result = init_content(directory)
    except InitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    where = result.directory.absolute()
    print(
        f"Created {where}: {plural(result.issues, 'issue')} in issues/, topics.yaml, "
        "schema/issue.json, and drafts/ for issues waiting for approval."
    )
    if where == (Path.cwd() / "content").absolute():
        print(
            "The bot serves it when started in this directory (./content is used when it exists); "
            f"from anywhere else set DLW_CONTENT_DIR={where}"
        )
    else:
        print(f"Point the bot at it: DLW_CONTENT_DIR={where} (in the environment or .env).")
    print("Then: dlw-bot import SOURCE… adds issues to it.")
    return 0


def run_approve(settings: Settings, number: int | None) -> int:
    """``dlw-bot approve [N]``: move a draft into the archive, or list the drafts."""
    content = settings.content_dir
    if number is None:
        drafts = list_drafts(content)
        if not drafts:
            print(f"No drafts waiting in {content / 'drafts'}.")
            return 0
        for draft in drafts:
            title = draft.issue.title if draft.issue else "(not a valid issue file)"
            print(f"#{draft.number}  {title}  {draft.path}")
        print("Approve one with: dlw-bot approve N")
        return 0
    try:
        check_writable(content, explicit="content_dir" in settings.model_fields_set)
        target = approve_draft(content, number)
    except (ContentNotWritable, DraftError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"Approved issue #{number}: {target}. A running bot serves it within a second and "
        "publishes it at the next weekly slot (or /publish)."
    )
    return 0
