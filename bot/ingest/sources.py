"""Documents in: files, directories, standard input and http(s) URLs, read within bounds.

Nothing here trusts its input. A file must be a regular file (a FIFO or a device is refused
without ever being opened for a blocking read) and at most ``limit`` bytes are read (``limit``
+ 1, to tell "exactly the limit" from "more"). A URL is fetched with httpx: a total deadline,
a capped number of redirects, the body size checked against ``Content-Length`` and again while
streaming, and the HTTP status or network error in the message. Every problem is a
:class:`SourceError` with one line fit to print after the source's name.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from bot.errors import DlwError
from bot.files import UnreadableFile, not_regular, read_at_most, read_regular, too_large
from bot.ingest.detect import MAX_DOCUMENT_BYTES

__all__ = [
    "FETCH_TIMEOUT",
    "MAX_REDIRECTS",
    "FetchResult",
    "RawDocument",
    "SourceError",
    "SourceRef",
    "expand_sources",
    "fetch_url",
    "http_client",
    "is_url",
    "read_file",
    "read_stream",
]

FETCH_TIMEOUT = 30.0  # seconds for a whole download, connection to last byte
MAX_REDIRECTS = 5
USER_AGENT = "dlw-bot (+https://github.com/; Deep Learning Weekly importer)"


class SourceError(DlwError):
    """A source that cannot be read, with a one-line reason."""


@dataclass(frozen=True)
class RawDocument:
    """One document's bytes, with what is known about where it came from."""

    name: str  # how to refer to it in messages: a path, a URL, or "-"
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class SourceRef:
    """One thing to read: a file path, a URL, or ``-`` (standard input)."""

    name: str
    path: Path | None = None  # for files
    error: str | None = None  # known unreadable before reading (missing, not a regular file)

    @property
    def is_url(self) -> bool:
        return is_url(self.name)


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def expand_sources(arguments: list[str]) -> list[SourceRef]:
    """Each argument as the sources it stands for: a directory's regular files (sorted, hidden
    ones skipped), a file, a URL or ``-``. Problems found without reading become ``error``."""
    refs: list[SourceRef] = []
    for argument in arguments:
        if argument == "-" or is_url(argument):
            refs.append(SourceRef(argument))
            continue
        path = Path(argument)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            refs.append(SourceRef(argument, path, "no such file or directory"))
            continue
        except OSError as exc:
            refs.append(SourceRef(argument, path, f"cannot read: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(mode):
            refs.extend(_directory(path))
        else:
            refs.append(SourceRef(argument, path, not_regular(mode)))
    return refs


def _directory(directory: Path) -> Iterator[SourceRef]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        yield SourceRef(str(directory), directory, f"cannot list: {exc.strerror or exc}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            mode = entry.stat().st_mode
        except OSError as exc:
            yield SourceRef(str(path), path, f"cannot read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(mode):
            continue  # one level: a directory of issues, not a tree
        yield SourceRef(str(path), path, not_regular(mode))


def read_file(path: Path, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``; :class:`SourceError` otherwise."""
    try:
        return read_regular(path, limit=limit)
    except UnreadableFile as exc:
        raise SourceError(exc.message) from None


def read_stream(stream: BinaryIO | None = None, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """At most ``limit`` bytes of ``stream`` (default: standard input)."""
    handle = stream if stream is not None else sys.stdin.buffer
    try:
        return read_at_most(handle, limit)
    except UnreadableFile as exc:
        raise SourceError(exc.message) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None


# -- http(s) -------------------------------------------------------------------------------


def http_client(
    *, timeout: float = FETCH_TIMEOUT, max_redirects: int = MAX_REDIRECTS
) -> httpx.AsyncClient:
    """The client every fetch uses: redirects followed up to ``max_redirects``, every phase
    (connect, each read) bounded by ``timeout``; the whole download is bounded by the caller."""
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=max_redirects,
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": USER_AGENT},
    )


@dataclass(frozen=True)
class FetchResult:
    """A download: a document, or ``not_modified`` for a 304 answer to a conditional request."""

    url: str  # the final URL, after redirects
    document: RawDocument | None
    etag: str | None = None
    last_modified: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.document is None


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    *,
    limit: int = MAX_DOCUMENT_BYTES,
    time_limit: float = FETCH_TIMEOUT,
    etag: str | None = None,
    last_modified: str | None = None,
) -> FetchResult:
    """GET ``url`` within ``timeout`` seconds in all and ``limit`` bytes; conditional when
    ``etag``/``last_modified`` are given (a 304 is a result with no document)."""
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        async with asyncio.timeout(time_limit):
            return await _fetch(client, url, headers, limit)
    except TimeoutError:
        raise SourceError(f"timed out after {time_limit:g} s") from None
    except httpx.TooManyRedirects:
        raise SourceError(f"too many redirects (more than {client.max_redirects})") from None
    except httpx.TimeoutException:
        raise SourceError(f"timed out (no answer within {time_limit:g} s)") from None
    except httpx.InvalidURL as exc:
        raise SourceError(f"not a valid URL: {exc}") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise SourceError(f"cannot reach: {reason}") from None


async def _fetch(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int
) -> FetchResult:
    async with client.stream("GET", url, headers=headers) as response:
        final = str(response.url)
        if response.status_code == 304:
            return FetchResult(
                final,
                None,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
                dict(response.headers),
            )
        if response.status_code >= 400:
            phrase = response.reason_phrase or ""
            raise SourceError(f"HTTP {response.status_code} {phrase}".rstrip())
        if response.status_code >= 300:
            raise SourceError(f"HTTP {response.status_code} without a usable redirect")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise SourceError(too_large(limit))
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise SourceError(too_large(limit))
            chunks.append(chunk)
        content_type = response.headers.get("content-type")
        return FetchResult(
            final,
            RawDocument(url, b"".join(chunks), content_type),
            response.headers.get("etag"),
            response.headers.get("last-modified"),
            dict(response.headers),
        )
