"""Turn a :class:`~bot.reply.Reply` into Telegram HTML messages.

Pure functions, no network: the adapter sends what :func:`render_html` returns. Telegram's
HTML is strict (an unescaped ``<`` or ``&`` from a title or a reader's query fails the whole
message with "can't parse entities") and a message may hold at most 4096 characters, counted
in UTF-16 code units *after* the tags are parsed away. We measure the raw HTML in UTF-16 units
instead: it is never shorter than what Telegram counts, so a message that fits here fits there
whatever the mix of tags, entities and emoji, and no tag can be cut because splits only happen
between blocks (:func:`bot.reply.chunk`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bot.reply import Block, Entry, Heading, Paragraph, Quote, Reply, chunk, emphasize, shorten

__all__ = ["MAX_MESSAGE_UTF16", "RenderedMessage", "escape", "render_block", "render_html"]

MAX_MESSAGE_UTF16 = 4096
_SEPARATOR = "\n\n"  # between blocks; an entry's own lines are joined with one newline


@dataclass(frozen=True)
class RenderedMessage:
    """One ``sendMessage`` worth of HTML.

    ``link_preview`` is only ever true for a message carrying a single story of a reply that asked
    for previews: a card per item would bury a multi-item reply.
    """

    text: str
    link_preview: bool = False


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits (an emoji counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str) -> str:
    """Escape text for an HTML text node (Telegram knows ``&lt; &gt; &amp; &quot;``)."""
    return html.escape(text, quote=False)


def _attribute(value: str) -> str:
    return html.escape(value, quote=True)


def _marked(text: str, marks: Sequence[tuple[int, int]]) -> str:
    """``text`` escaped, with the ``marks`` ranges in bold."""
    return emphasize(text, marks, plain=escape, strong=lambda part: f"<b>{escape(part)}</b>")


def _linked(text: str, url: str | None) -> str:
    label = escape(text)
    return f'<a href="{_attribute(url)}">{label}</a>' if url else label


def render_block(block: Block) -> str:
    """The HTML of one block: headings bold, muted text italic, a quote as a blockquote
    (expandable when collapsed), an entry as a bold linked title with its summary (search
    matches bold) and an italic line of context."""
    if isinstance(block, Heading):
        return f"<b>{escape(block.text)}</b>"
    if isinstance(block, Paragraph):
        return f"<i>{escape(block.text)}</i>" if block.muted else escape(block.text)
    if isinstance(block, Quote):  # an issue's intro: its first lines, the rest on a tap
        tag = "blockquote expandable" if block.collapsed else "blockquote"
        return f"<{tag}>{escape(block.text)}</blockquote>"
    lines = [f"<b>{_linked(block.title, block.url)}</b>"]
    if block.summary:
        lines.append(_marked(block.summary, block.marks))
    if block.meta:
        web = f' · <a href="{_attribute(block.meta_url)}">web</a>' if block.meta_url else ""
        lines.append(f"<i>{escape(block.meta)}</i>{web}")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Title(Heading):
    """The reply's title: a heading that may carry a link (only ever the first block)."""

    url: str | None = None


def _render(block: Block) -> str:
    if isinstance(block, _Title):
        return f"<b>{_linked(block.text, block.url)}</b>"
    return render_block(block)


def _measure(block: Block) -> int:
    return utf16_len(_render(block))


_B = TypeVar("_B", Heading, Paragraph, Quote, Entry)


def _shortened(block: _B, name: str, limit: int) -> _B:
    """``block`` with its text field ``name`` shortened to ``limit`` characters (search marks
    past the cut are dropped or clipped with it)."""
    text: str = getattr(block, name)
    short = shorten(text, limit)
    changes: dict[str, Any] = {name: short}
    if isinstance(block, Entry) and name == "summary":
        keep = len(short) - (1 if short != text and short.endswith("…") else 0)
        changes["marks"] = tuple((s, min(e, keep)) for s, e in block.marks if s < keep)
    return replace(block, **changes)


def _shrink(block: _B, name: str, budget: int) -> _B:
    """The longest cut of field ``name`` that makes ``block`` fit (or the shortest possible).

    Escaping inflates text unevenly (``&`` is five units, an emoji two), so the cut is found by
    bisection on the rendered size rather than estimated.
    """
    low, high = 0, len(getattr(block, name))
    best = _shortened(block, name, 0)
    while low <= high:
        middle = (low + high) // 2
        candidate = _shortened(block, name, middle)
        if _measure(candidate) <= budget:
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def _fit(block: Block, budget: int) -> Block:
    """Make a block that is too large for one message fit, losing as little as possible.

    An entry loses summary text first (it is the long part), then its context line, then, for a
    pathological URL, the link, and only then title length.
    """
    if isinstance(block, Entry):
        entry = block
        for name in ("summary", "meta"):
            if _measure(entry) > budget and getattr(entry, name):
                entry = _shrink(entry, name, budget)
        if _measure(entry) > budget and entry.meta_url:
            entry = replace(entry, meta_url=None)
        if _measure(entry) > budget and entry.url:
            entry = replace(entry, url=None)
        return _shrink(entry, "title", budget) if _measure(entry) > budget else entry
    text: Heading | Paragraph | Quote = block
    if isinstance(text, _Title) and text.url and _measure(text) > budget:
        text = replace(text, url=None)
    if _measure(text) <= budget:
        return text
    if isinstance(text, Heading):
        return _shrink(text, "text", budget)
    if isinstance(text, Quote):
        return _shrink(text, "text", budget)
    return _shrink(text, "text", budget)


def render_html(reply: Reply, *, limit: int = MAX_MESSAGE_UTF16) -> list[RenderedMessage]:
    """Render ``reply`` as one or more HTML messages, each at most ``limit`` UTF-16 units.

    The title opens the first message, the footer closes the last; long replies are split
    between blocks (a heading stays with what follows it) and an entry too large for any
    message has its summary shortened. The adapter adds the "more" button to the last message.
    """
    blocks: list[Block] = []
    if reply.title and reply.title.strip():
        blocks.append(_Title(reply.title, url=reply.url))
    blocks.extend(block for block in reply.blocks if _visible(block))
    if reply.footer and reply.footer.strip():
        blocks.append(Paragraph(reply.footer, muted=True))
    separator = utf16_len(_SEPARATOR)
    rendered: dict[Block, str] = {}  # chunk() measures every block; render each just once

    def html_of(block: Block) -> str:
        html = rendered.get(block)
        if html is None:
            html = rendered[block] = _render(block)
        return html

    runs = chunk(blocks, limit, lambda b: utf16_len(html_of(b)), separator=separator, fit=_fit)
    previews_wanted = reply.link_previews and len(reply.entries) <= 1
    messages = [
        RenderedMessage(_SEPARATOR.join(html_of(block) for block in run), previews_wanted)
        for run in runs
    ]
    for follow in reply.then:
        messages.extend(render_html(follow, limit=limit))
    return messages


def _visible(block: Block) -> bool:
    """Telegram refuses a message with no visible text, so blank blocks are dropped up front."""
    if isinstance(block, Entry):
        return bool(block.title.strip() or block.summary.strip() or (block.meta or "").strip())
    return bool(block.text.strip())
