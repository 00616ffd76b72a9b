"""Drafts: issues waiting for an operator (``DLW_FEED_REVIEW=on``).

A draft is an ordinary issue file in ``CONTENT_DIR/drafts/``. The loader only reads
``issues/``, so a draft is never served, searched or published. Approving it (``/approve N``,
``dlw-bot approve N``) moves it into ``issues/`` with one atomic rename; the running bot's
watcher reloads, and the weekly slot publishes it like any other new issue.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bot.content.models import Issue
from bot.errors import DlwError
from bot.ingest.write import DRAFTS_DIR, ISSUES_DIR, issue_file_name, read_issue_file

__all__ = ["Draft", "DraftError", "approve_draft", "list_drafts"]


class DraftError(DlwError):
    """A draft that cannot be approved, with the reason."""


@dataclass(frozen=True)
class Draft:
    """An issue from the feed waiting for an operator's /approve (DLW_FEED_REVIEW=on)."""

    number: int
    path: Path
    issue: Issue | None  # None: the file is not a valid issue


def list_drafts(content_dir: Path) -> list[Draft]:
    """Every draft, by number."""
    directory = content_dir / DRAFTS_DIR
    if not directory.is_dir():
        return []
    drafts = []
    for path in sorted(directory.glob("*.yaml")):
        if re.fullmatch(r"\d+", path.stem):
            drafts.append(Draft(int(path.stem), path, read_issue_file(path)))
    return sorted(drafts, key=lambda d: d.number)


def approve_draft(content_dir: Path, number: int) -> Path:
    """Move draft ``number`` into ``issues/`` (atomically); returns the issue file's path."""
    draft = content_dir / DRAFTS_DIR / issue_file_name(number)
    if not draft.is_file():
        waiting = ", ".join(f"#{d.number}" for d in list_drafts(content_dir)) or "none"
        raise DraftError(f"There is no draft of issue #{number} (drafts: {waiting}).")
    issue = read_issue_file(draft)
    if issue is None or issue.number != number:
        raise DraftError(
            f"{draft} is not a valid issue #{number}; fix it (dlw-bot validate shows the "
            "problems once it is in issues/) or delete it."
        )
    target = content_dir / ISSUES_DIR / issue_file_name(number)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # A hard link appears atomically and never replaces an existing file; then the draft
        # goes. (Same file system: the reloading bot never sees half a file.)
        os.link(draft, target)
    except FileExistsError:
        raise DraftError(
            f"Issue #{number} is already in the archive ({target}); delete the draft or the "
            "issue file first."
        ) from None
    except OSError as exc:
        raise DraftError(f"Cannot move {draft} to {target}: {exc.strerror or exc}") from None
    os.unlink(draft)
    return target
