"""The newsletter's post as exported to Markdown (CommonMark, read with markdown-it-py).

The export starts with optional YAML front matter (``title``, ``published_at``,
``source_url``, ``subtitle``), then the post: ``## **Section**`` headings,
``**[title](url)**`` item titles, ``**Abstract:**`` labels, and backslash escapes
(``\\---`` is a rule written so that Markdown does not read it as one).
"""

from __future__ import annotations

from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.ingest.assemble import assemble
from bot.ingest.blocks import Block, Meta, parse_date
from bot.ingest.types import IngestError, Parsed

__all__ = ["parse_markdown", "split_front_matter"]

_MAX_FRONT_MATTER = 16 * 1024
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_md = MarkdownIt("commonmark")


def parse_markdown(text: str) -> Parsed:
    """The issue in a Markdown document; raises :class:`~bot.ingest.types.IngestError`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    front, body, offset = split_front_matter(text)
    meta = Meta(
        title=_str(front.get("title")),
        subtitle=_str(front.get("subtitle")) or None,
        date=parse_date(front.get("published_at") or front.get("date")),
        source_url=_str(front.get("source_url") or front.get("canonical_url") or front.get("url")),
    )
    return assemble(list(_blocks(body, offset)), meta, fmt="markdown")


def split_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Front matter fields, the body, and how many lines the front matter took."""
    if not text.startswith("---\n"):
        return {}, text, 0
    end = text.find("\n---\n", 3, _MAX_FRONT_MATTER)
    if end < 0:
        if text.find("\n---\n", 3) >= 0:
            raise IngestError(f"the front matter is longer than {_MAX_FRONT_MATTER // 1024} KB")
        return {}, text, 0  # a rule at the top, not front matter
    raw = text[4:end]
    try:
        # Anchors and aliases have no use in front matter and can expand without bound.
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(raw, Loader=_Loader)):
            raise IngestError(
                "the front matter uses YAML aliases (*name), which are refused", line=2
            )
        data = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise IngestError(
            f"the front matter is not valid YAML: {getattr(exc, 'problem', None) or exc}",
            line=mark.line + 2 if mark else 2,
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IngestError("the front matter must be a mapping of fields (title: ...)", line=2)
    return data, text[end + 5 :], raw.count("\n") + 3


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _blocks(body: str, offset: int):  # type: ignore[no-untyped-def]
    heading = False
    for token in _md.parse(body):
        if token.type == "heading_open":
            heading = True
        elif token.type == "heading_close":
            heading = False
        elif token.type == "hr":
            line = token.map[0] + 1 + offset if token.map else 0
            yield Block(line, ("---",), rule=True)
        elif token.type in ("code_block", "fence"):
            text = " ".join(token.content.split())
            if text:
                yield Block(token.map[0] + 1 + offset if token.map else 0, (text,))
        elif token.type == "inline":
            text, link, strong = _inline(token.children or [])
            if text:
                line = token.map[0] + 1 + offset if token.map else 0
                yield Block(line, (text,), heading=heading, link=link, strong=strong)


def _inline(children: list[Token]) -> tuple[str, str | None, bool]:
    """Plain text of an inline run; its link if the run is one link; whether it is all bold."""
    parts: list[str] = []
    links: list[str] = []
    in_link = strong = 0
    text_outside_link = text_not_strong = False
    for child in children:
        kind = child.type
        if kind == "link_open":
            in_link += 1
            href = child.attrs.get("href")
            links.append(href if isinstance(href, str) else "")
            continue
        if kind == "link_close":
            in_link -= 1
            continue
        if kind == "strong_open":
            strong += 1
            continue
        if kind == "strong_close":
            strong -= 1
            continue
        if kind in ("text", "code_inline"):
            piece = child.content
        elif kind in ("softbreak", "hardbreak"):
            piece = " "
        elif kind == "image":
            piece = child.content
        else:
            continue
        parts.append(piece)
        if piece.strip():
            text_outside_link |= in_link == 0
            text_not_strong |= strong == 0
    text = " ".join("".join(parts).split())
    link = links[0] if len(links) == 1 and not text_outside_link and links[0] else None
    return text, link, bool(text) and not text_not_strong
