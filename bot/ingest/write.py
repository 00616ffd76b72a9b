"""Parsed issues → content files, safely.

Every write is atomic (a temporary file in the same directory, fsync, :func:`os.replace`), so a
running bot's hot reload never reads half a file. An existing issue file is never overwritten
unless asked: the same issue again is *unchanged*, a different one is *differs* with a short
unified diff. Nothing is ever written into the bundled content (see :func:`check_writable`).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import bundled_content_dir
from bot.content.loader import MAX_FILE_BYTES, load_yaml
from bot.content.models import Issue
from bot.errors import DlwError
from bot.files import UnreadableFile, read_regular
from bot.ingest.types import Guess, Parsed

__all__ = [
    "DRAFTS_DIR",
    "ISSUES_DIR",
    "ContentNotWritable",
    "SaveOutcome",
    "SaveStatus",
    "atomic_write",
    "check_writable",
    "issue_file_name",
    "issue_to_yaml",
    "read_issue_file",
    "save_issue",
    "sync_directories",
]

ISSUES_DIR = "issues"
DRAFTS_DIR = "drafts"  # issues waiting for an operator's approval; the loader never reads it
MAX_DIFF_LINES = 40

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ContentNotWritable(DlwError):
    """The target directory must not be written to (the bundled content), or is not ready."""


# -- where writes may go -----------------------------------------------------------------


def _installed_package_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def check_writable(directory: Path, *, explicit: bool, need_topics: bool = True) -> None:
    """Refuse to write issues into ``directory`` if it is the bundled content, or if the bot
    could not start on it (no ``topics.yaml``).

    The installed package (``site-packages/bot/_bundled_content``) is never writable. A source
    checkout's ``content/`` is the bundled copy too, unless the operator chose it explicitly
    (``DLW_CONTENT_DIR`` or ``-o``): that is how the project's own issues are edited.
    """
    resolved = directory.resolve()
    package = _installed_package_dir()
    bundled = bundled_content_dir().resolve()
    inside_package = resolved == package or package in resolved.parents
    if inside_package or (resolved == bundled and not explicit):
        raise ContentNotWritable(
            f"{directory} is the bundled content that ships with dlw-bot, which is read-only. "
            "Create a working copy with `dlw-bot init` (./content, served automatically when "
            "the bot starts in that directory) or `dlw-bot init DIR` and set DLW_CONTENT_DIR=DIR."
        )
    if need_topics and not (directory / "topics.yaml").is_file():
        raise ContentNotWritable(
            f"{directory} has no topics.yaml, so the bot would refuse to start on it. "
            f"Create a complete content directory with `dlw-bot init {directory}` (an empty or "
            f"new directory), or copy topics.yaml from {bundled}."
        )


# -- rendering ---------------------------------------------------------------------------


class _ContentDumper(_Dumper):  # type: ignore[misc,valid-type]
    """Block style, multi-line text as ``|`` blocks: files that read well and diff line by line."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ContentDumper.add_representer(str, _represent_str)


def _display_source(source: str) -> str:
    return source if "://" in source else Path(source).name


def issue_to_yaml(
    issue: Issue, *, source: str | None = None, guesses: tuple[Guess, ...] = ()
) -> str:
    """Render ``issue`` as a content file; guesses become a review note at the top."""
    body = _yaml_body(issue)
    header = [f"# {issue.title}"]
    shown = _display_source(source or "input")
    if source:
        header.append(f"# Imported from {shown} by `dlw-bot import`.")
    if guesses:
        header.append("# The importer guessed; review these spots, then delete this note:")
        header.extend(
            f"#   {shown} line {g.line}: {g.message}" if g.line else f"#   {shown}: {g.message}"
            for g in guesses
        )
    return "\n".join(header) + "\n" + body


def _yaml_body(issue: Issue) -> str:
    data = issue.model_dump(mode="json", exclude_defaults=True)
    body: str = yaml.dump(
        data, Dumper=_ContentDumper, sort_keys=False, allow_unicode=True, width=100
    )
    if Issue.model_validate(load_yaml(body)) != issue:  # the file must say
        raise AssertionError("YAML round trip changed the issue")  # exactly what we parsed
    return body


def read_issue_file(path: Path) -> Issue | None:
    """The issue in an existing content file, or ``None`` if it does not hold a valid one."""
    try:
        data: Any = load_yaml(read_regular(path, limit=MAX_FILE_BYTES).decode("utf-8"))
        return Issue.model_validate(data)
    except (UnreadableFile, UnicodeDecodeError, yaml.YAMLError, ValidationError):
        return None


def issue_file_name(number: int) -> str:
    return f"{number:04d}.yaml"


# -- writing -----------------------------------------------------------------------------


def atomic_write(path: Path, text: str, *, sync_directory: bool = True) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    The data is on disk before the rename; ``sync_directory`` also makes the rename durable
    at once (a bulk import does that once per directory at the end instead, see
    :func:`sync_directories`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # O_EXCL: never someone else's file; 0o666 minus the umask, like any file the user creates.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if sync_directory:
        _fsync_directory(path.parent)


def sync_directories(directories: set[Path]) -> None:
    """Make the renames of earlier ``atomic_write(..., sync_directory=False)`` durable."""
    for directory in directories:
        _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class SaveStatus(StrEnum):
    """What saving an imported issue did to its file (never an overwrite unless asked)."""

    WRITTEN = "written"  # a new file
    REPLACED = "replaced"  # an existing, different file overwritten (--replace)
    UNCHANGED = "unchanged"  # the file already says exactly this
    DIFFERS = "differs"  # a different file exists; nothing written
    DRY_RUN = "dry-run"  # would have been written


@dataclass(frozen=True)
class SaveOutcome:
    """One saved (or not saved) issue file, with what was rendered and how it differs."""

    status: SaveStatus
    path: Path
    issue: Issue
    rendered: str
    diff: str = ""  # for DIFFERS and REPLACED: the unified diff, at most MAX_DIFF_LINES lines

    @property
    def wrote(self) -> bool:
        return self.status in (SaveStatus.WRITTEN, SaveStatus.REPLACED)


def save_issue(
    parsed: Parsed,
    path: Path,
    *,
    source: str,
    replace: bool = False,
    dry_run: bool = False,
    also_existing: tuple[Path, ...] = (),
    sync_directory: bool = True,
) -> SaveOutcome:
    """Write ``parsed`` to ``path`` unless a file there (or in ``also_existing``, e.g. the
    published copy of a draft) already holds it; never overwrite a different one unless
    ``replace``."""
    rendered = issue_to_yaml(parsed.issue, source=source, guesses=parsed.guesses)
    for existing_path in (path, *also_existing):
        if not existing_path.exists():
            continue
        existing = read_issue_file(existing_path)
        if existing == parsed.issue:
            return SaveOutcome(SaveStatus.UNCHANGED, existing_path, parsed.issue, rendered)
        diff = _short_diff(existing_path, rendered)
        if not replace or existing_path != path:
            return SaveOutcome(SaveStatus.DIFFERS, existing_path, parsed.issue, rendered, diff)
        if dry_run:
            return SaveOutcome(SaveStatus.DRY_RUN, path, parsed.issue, rendered, diff)
        atomic_write(path, rendered, sync_directory=sync_directory)
        return SaveOutcome(SaveStatus.REPLACED, path, parsed.issue, rendered, diff)
    if dry_run:
        return SaveOutcome(SaveStatus.DRY_RUN, path, parsed.issue, rendered)
    atomic_write(path, rendered, sync_directory=sync_directory)
    return SaveOutcome(SaveStatus.WRITTEN, path, parsed.issue, rendered)


def _strip_note(text: str) -> list[str]:
    """The YAML without the review note at the top, so the diff shows content, not comments."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return lines[start:]


def _short_diff(existing_path: Path, rendered: str) -> str:
    try:
        current = existing_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"(cannot read {existing_path}: {exc})\n"
    lines = list(
        difflib.unified_diff(
            _strip_note(current),
            _strip_note(rendered),
            fromfile=str(existing_path),
            tofile="imported",
            n=1,
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"… {hidden} more diff lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def content_change(directory: Path, path: str) -> bool:
    """Whether a changed ``path`` under the content ``directory`` can change what is served:
    not a temporary file of :func:`atomic_write` (or any hidden file), not a draft."""
    changed = Path(path)
    if changed.name.startswith(".") or changed.name.endswith("~"):
        return False
    try:
        parts = changed.relative_to(directory).parts
    except ValueError:
        return True
    return not parts or parts[0] != DRAFTS_DIR
