"""What every importer returns: the parsed issue and the guesses an editor should review."""

from __future__ import annotations

from dataclasses import dataclass

from bot.content.models import Issue
from bot.errors import DlwError

__all__ = ["Guess", "IngestError", "Parsed"]


@dataclass(frozen=True)
class Guess:
    """Something an importer assumed, for an editor to check; ``line`` is 1-based if known."""

    line: int | None
    message: str

    def where(self, source: str) -> str:
        return f"{source}:{self.line}" if self.line else source


@dataclass(frozen=True)
class Parsed:
    """One issue read from a document, with its guesses and the format it was read as."""

    issue: Issue
    guesses: tuple[Guess, ...]
    format: str  # "text", "markdown", "html" or "feed"


class IngestError(DlwError):
    """A document that cannot be imported, with a one-line reason (and its line, if known)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)
