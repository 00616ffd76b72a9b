"""Reading a file that may be anything: only a regular file, and only so many bytes of it.

Content directories and import sources are chosen by operators but can hold anything: a FIFO
(whose blocking open would hang the reader forever), a link to ``/dev/zero`` (endless), a
directory named ``x.yaml``. :func:`read_regular` opens without blocking, checks what it opened
and reads at most ``limit`` bytes, so none of these can stall or exhaust the bot.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from bot.errors import DlwError

__all__ = ["UnreadableFile", "not_regular", "read_at_most", "read_regular", "too_large"]


class UnreadableFile(DlwError):
    """A file that is not read: not a regular file, too large, or failing; says which."""

    def __init__(self, message: str, *, special: bool = False) -> None:
        self.message = message
        self.special = special  # not a regular file at all (FIFO, device, socket, directory)
        super().__init__(message)


def not_regular(mode: int) -> str | None:
    """Why a file of this ``st_mode`` is refused, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        kind = "a FIFO (named pipe)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    elif stat.S_ISDIR(mode):
        kind = "a directory"
    else:
        kind = "not a regular file"
    return f"is {kind}, not a regular file; refused"


def too_large(limit: int) -> str:
    return f"too large: more than {limit / 1024 / 1024:g} MB"


def read_regular(path: Path, *, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``; :class:`UnreadableFile` otherwise.

    Opened non-blocking and checked after opening, so a FIFO swapped in after a directory
    listing cannot block the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise UnreadableFile("missing") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        problem = not_regular(info.st_mode)
        if problem is not None:
            raise UnreadableFile(problem, special=True)
        if info.st_size > limit:
            raise UnreadableFile(too_large(limit))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return read_at_most(handle, limit)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """All of ``handle`` if it holds at most ``limit`` bytes; :class:`UnreadableFile` if more."""
    chunks: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        chunk = handle.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnreadableFile(too_large(limit))
    return data
