"""Plain text, as the newsletter arrives by e-mail or is copied from a page: paragraphs.

Paragraphs are separated by blank lines, and the number of blank lines matters (two mark a
heading or title the text lost). A title line may carry its link the way plain-text e-mails
print one (``Title [https://…]``, ``Title (https://…)``, ``Title <https://…>``, or the URL
on the next line), and the e-mail's ``View this post on the web at https://…`` line gives
the issue's web address.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.ingest.assemble import assemble
from bot.ingest.blocks import Block, Meta
from bot.ingest.types import Parsed

__all__ = ["blocks_of", "parse_text"]

_TRAILING_LINK = re.compile(
    r"^(?P<text>.+?)\s*(?:\[(?P<a>https?://\S+)\]|\((?P<b>https?://\S+)\)|<(?P<c>https?://\S+)>)$"
)
_BARE_URL = re.compile(r"^https?://\S+$")
_WEB_VERSION = re.compile(
    r"^View (?:this post|this email|it) (?:on the web|in your browser) at:?\s+(?P<url>https?://\S+)$",
    re.IGNORECASE,
)
_MAX_TITLE = 300


def parse_text(text: str) -> Parsed:
    """The issue in ``text``; raises :class:`~bot.ingest.types.IngestError` if there is none."""
    blocks = list(blocks_of(text))
    source_url = None
    while blocks and (match := _WEB_VERSION.match(blocks[0].text)):
        source_url = match.group("url")
        blocks.pop(0)
    return assemble(blocks, Meta(source_url=source_url), fmt="text")


def blocks_of(text: str) -> Iterator[Block]:
    """Paragraphs of ``text`` with their first line number and the blank lines before them."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff").split("\n")
    blanks = 0
    start = 0
    current: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            if current:
                yield _block(start, current, blanks)
                current, blanks = [], 0
            blanks += 1
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        yield _block(start, current, blanks)


def _block(start: int, lines: list[str], blanks: int) -> Block:
    if len(lines) == 2 and _BARE_URL.match(lines[1]) and len(lines[0]) <= _MAX_TITLE:
        return Block(start, (lines[0],), blanks, link=lines[1])
    if len(lines) == 1 and len(lines[0]) <= _MAX_TITLE + 2100:
        match = _TRAILING_LINK.match(lines[0])
        if match and len(match.group("text")) <= _MAX_TITLE:
            url = match.group("a") or match.group("b") or match.group("c")
            return Block(start, (match.group("text"),), blanks, link=url)
    return Block(start, tuple(lines), blanks)
