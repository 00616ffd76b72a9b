"""Where the store lives, as ``DLW_DATABASE`` says: a SQLite file or a PostgreSQL URL.

Anything else is refused with a reason, never guessed: a URL the bot cannot use taken as a file
name used to create a directory tree named after the URL.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = ["POSTGRES_SCHEMES", "Location", "describe_location", "parse_location", "redact"]

#: The URL schemes that select the PostgreSQL backend (those libpq and asyncpg accept).
POSTGRES_SCHEMES = ("postgresql", "postgres")

#: A SQLite file (a Path) or a PostgreSQL URL (a str).
Location = Path | str

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def parse_location(value: Path | str) -> Location:
    """``DLW_DATABASE`` → the SQLite file (a :class:`Path`) or the PostgreSQL URL (a str).

    * a path, or ``sqlite:///relative/file`` / ``sqlite:////absolute/file`` (SQLAlchemy's
      form; ``sqlite:///:memory:`` too) → SQLite;
    * ``postgresql://`` or ``postgres://`` → PostgreSQL;
    * any other scheme is a :class:`ValueError` saying what is accepted.
    """
    if isinstance(value, Path):
        return value
    text = value.strip()
    if not text:
        raise ValueError("empty: give a SQLite file or a postgresql:// URL")
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    scheme = match.group(1).lower()
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(text)
        if not (parts.hostname or dict(parse_qsl(parts.query)).get("host")):
            raise ValueError(
                f"{redact(text)}: no server in the URL (postgresql://user:password@host/database)"
            )
        return text
    if scheme == "sqlite":
        path = text[len(match.group(0)) :]
        if not path.startswith("/") or path == "/":
            raise ValueError(
                f"{text}: a SQLite URL is sqlite:///relative/file or sqlite:////absolute/file"
            )
        return Path(path[1:])
    hint = ""
    if scheme.startswith(("postgresql+", "postgres+")):
        hint = " (write postgresql:// without a driver name: the bot uses asyncpg)"
    raise ValueError(
        f"{redact(text)}: {scheme}:// is not a database dlw-bot can use{hint}; give a SQLite file"
        " (or sqlite:///file) or a postgresql:// URL"
    )


def redact(url: str) -> str:
    """The URL with its password (in the authority or a ``password=`` parameter) as ``***``, for
    messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() == "password" for k, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() == "password" else v) for k, v in pairs],
                quote_via=quote,
                safe="*/",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def describe_location(location: Path | str) -> str:
    """The store's location for a log line or message: the file, or the URL without password."""
    return str(location) if isinstance(location, Path) else redact(location)
