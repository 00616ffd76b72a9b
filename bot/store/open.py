"""One way in: the store ``DLW_DATABASE`` names, whichever backend that is."""

from __future__ import annotations

from pathlib import Path

from bot.store.protocols import Store
from bot.store.urls import parse_location

__all__ = ["open_store"]


async def open_store(location: Path | str, *, busy_timeout: float = 3.0) -> Store:
    """Open (and migrate) the store at ``location``: a SQLite file (a path, or
    ``sqlite:///file``) or a PostgreSQL database (``postgresql://`` / ``postgres://``).

    Raises :class:`ValueError` for a location no backend takes (another scheme) and
    :class:`~bot.store.StoreUnavailable` naming the file or server (password redacted) when the
    database cannot be used: unreachable, wrong credentials, missing, corrupt, newer schema.
    """
    where = parse_location(location)
    if isinstance(where, Path):
        from bot.store.sqlite import SQLiteStore

        return await SQLiteStore.open(where, busy_timeout=busy_timeout)
    from bot.store.postgres import PostgresStore

    return await PostgresStore.open(where, busy_timeout=busy_timeout)
