"""``dlw-bot init``: a working content directory, started from the bundled content.

The bundled content is read-only (it may live inside site-packages); operators import into and
edit a copy of it. :func:`init_content` makes that copy in a fresh or empty directory, and never
touches a directory that already holds something.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.config import bundled_content_dir
from bot.content.schema import SCHEMA_FILE
from bot.errors import DlwError
from bot.ingest.write import DRAFTS_DIR, ISSUES_DIR

__all__ = ["InitError", "InitResult", "init_content"]


class InitError(DlwError):
    """The target cannot become a content directory (it is not empty, or not writable)."""


@dataclass(frozen=True)
class InitResult:
    """Where ``dlw-bot init`` made a working content directory, and how many issues it holds."""

    directory: Path
    issues: int


def init_content(target: Path, *, source: Path | None = None) -> InitResult:
    """Copy the bundled issues, ``topics.yaml`` and the schema into ``target`` (new or empty)."""
    source = source or bundled_content_dir()
    if target.exists():
        if not target.is_dir():
            raise InitError(f"{target} exists and is not a directory; nothing was written.")
        if any(target.iterdir()):
            raise InitError(
                f"{target} already exists and is not empty; nothing was written. Choose a new "
                "or empty directory (`dlw-bot init DIR`)."
            )
    issues = sorted((source / ISSUES_DIR).glob("*.yaml"))
    try:
        (target / ISSUES_DIR).mkdir(parents=True, exist_ok=True)
        (target / DRAFTS_DIR).mkdir(exist_ok=True)
        for issue in issues:
            shutil.copyfile(issue, target / ISSUES_DIR / issue.name)
        shutil.copyfile(source / "topics.yaml", target / "topics.yaml")
        schema = source / SCHEMA_FILE
        if schema.is_file():
            (target / SCHEMA_FILE).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(schema, target / SCHEMA_FILE)
    except OSError as exc:
        raise InitError(f"cannot create {target}: {exc.strerror or exc}") from None
    return InitResult(target, len(issues))
