"""The base of dlw-bot's own errors, so callers can tell ours from a library's or a bug."""

from __future__ import annotations

__all__ = ["DlwError"]


class DlwError(Exception):
    """An error dlw-bot raises on purpose, with a message fit to show an operator or reader."""
