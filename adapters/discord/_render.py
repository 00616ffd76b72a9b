"""A :class:`~bot.reply.Reply` as Discord embeds, within every limit Discord enforces.

Pure functions, no client and no I/O, so the layout is unit-tested on its own and the adapter
only sends what :func:`render_embeds` returns.

Layout: the reply's title heads the first embed; every :class:`~bot.reply.Heading` starts a new
embed titled with it (a section of an issue reads as one card); paragraphs and entries go into
the embeds' descriptions, an entry as ``**[title](url)**``, its summary (search matches in bold)
and its meta line in italics. The footer goes on the very last embed, the tone picks the colour.

Limits (Discord answers 400/50035 otherwise): title 256, description 4,096, footer 2,048, at most
10 embeds and 6,000 characters of embed text per message. A long reply is cut with
:func:`bot.reply.chunk` *between* blocks, first into messages (6,000 minus the title and footer
they may carry), then each message into embeds at headings and at 4,096; so an entry is never
torn in half and a heading never ends a message. Sizes are measured on the escaped markdown that
is actually sent.

Everything that came from content or readers is escaped: markdown characters get a backslash
(``discord.utils.escape_markdown`` only escapes *paired* markers, which could pair with our own
``**``), and ``discord.utils.escape_mentions`` defuses ``@everyone``/``<@id>``. The adapter also
sends every message with ``AllowedMentions.none()``, so even a missed mention cannot ping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote, urlsplit

import discord

from bot.reply import (
    Action,
    Block,
    Continuation,
    Heading,
    Paragraph,
    Quote,
    Reply,
    Tone,
    chunk,
    emphasize,
    shorten,
)

__all__ = [
    "DESCRIPTION_LIMIT",
    "EMBEDS_PER_MESSAGE",
    "FOOTER_LIMIT",
    "MESSAGE_EMBED_CHARS",
    "TITLE_LIMIT",
    "DiscordMessage",
    "escape",
    "escape_title",
    "render_block",
    "render_embeds",
]

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
EMBEDS_PER_MESSAGE = 10
MESSAGE_EMBED_CHARS = 6000
SEPARATOR = "\n\n"  # between blocks of one description

#: Embed colours: Deep Learning Weekly's blurple for information, Discord's green and red.
COLOURS: dict[Tone, int] = {
    Tone.INFO: 0x5865F2,
    Tone.SUCCESS: 0x57F287,
    Tone.ERROR: 0xED4245,
}

_MARKDOWN = re.compile(r"([\\*_~|`\[\]<])")  # emphasis, code, spoilers, masked links, <@id>
_LINE_START = re.compile(r"(?m)^(\s*(?:\d+(?=\.\s))?)([-+>#.])")  # lists, quotes, headers
_INLINE = re.compile(r"([\\*_~|`])")  # what still renders in an embed title


@dataclass(frozen=True)
class DiscordMessage:
    """One message of a rendered reply: its embeds, and the "More" button and the reply's
    action buttons when they go on it (its last message)."""

    embeds: tuple[discord.Embed, ...]
    more: Continuation | None = None
    actions: tuple[Action, ...] = ()

    @property
    def size(self) -> int:
        """Characters of embed text, as Discord counts them for its 6,000 limit."""
        return sum(len(e) for e in self.embeds)


def escape(text: str) -> str:
    """``text`` made inert: no markdown, no mentions, no masked links, no list or quote lines."""
    text = discord.utils.escape_mentions(text)
    text = _MARKDOWN.sub(r"\\\1", text)
    return _LINE_START.sub(r"\1\\\2", text)


def escape_title(text: str) -> str:
    """``text`` for an embed title, where only emphasis, code and spoilers render."""
    return _INLINE.sub(r"\\\1", text)


def _largest_fit(text: str, render: Callable[[str], str], limit: int) -> str:
    """The longest ``shorten(text, n)`` whose rendering is at most ``limit`` characters.

    Escaping can double a text's length, so the cut is searched rather than computed.
    """
    if len(render(text)) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(shorten(text, middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return shorten(text, low) if low else ""


def _title(text: str, limit: int = TITLE_LIMIT) -> str:
    return escape_title(_largest_fit(" ".join(text.split()), escape_title, limit))


def _link_target(url: str) -> str | None:
    """A URL safe inside ``[text](url)``, or None if it is no web link."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url.strip(), safe="/:?#[]@!$&'*+,;=%~")


def _marked(summary: str, marks: Sequence[tuple[int, int]]) -> str:
    """``summary`` escaped, with the ``marks`` ranges in bold (trimmed of spaces)."""
    return emphasize(
        summary, marks, plain=escape, strong=lambda part: f"**{escape(part)}**", trim=True
    )


def _italic(text: str) -> str:
    return "\n".join(f"*{escape(line)}*" if line.strip() else "" for line in text.splitlines())


def render_block(block: Block) -> str:
    """The markdown of one block as it appears in a description (a heading: its embed title)."""
    if isinstance(block, Heading):
        return _title(block.text)
    if isinstance(block, Paragraph):
        return _italic(block.text) if block.muted else escape(block.text)
    if isinstance(block, Quote):  # Discord can't collapse text: a quote in the description
        return _quoted(block.text, escape)
    title = escape(" ".join(block.title.split()) or "Untitled")
    target = _link_target(block.url) if block.url else None
    lines = [f"**[{title}]({target})**" if target else f"**{title}**"]
    if block.summary:
        lines.append(_marked(block.summary, block.marks))
    if block.meta:
        web = _link_target(block.meta_url) if block.meta_url else None
        lines.append(_italic(block.meta) + (f" · [web]({web})" if web else ""))
    return "\n".join(lines)


def _quoted(text: str, escape_line: Callable[[str], str]) -> str:
    return "\n".join(f"> {escape_line(line)}" if line.strip() else "" for line in text.splitlines())


def _fit(block: Block, budget: int) -> Block:
    """A smaller version of a block that alone exceeds ``budget``: its text is shortened."""
    if isinstance(block, Heading):
        return block  # rendered as a title, which _title already cuts to 256
    if isinstance(block, Paragraph):

        def paragraph(text: str) -> str:
            return render_block(Paragraph(text, block.muted))

        return Paragraph(_largest_fit(block.text, paragraph, budget), block.muted)
    if isinstance(block, Quote):
        # Each step of the search renders a longer or shorter start of the same lines: escape
        # each line once (an intro can be hundreds of lines; escaping is three regex passes).
        escaped: dict[str, str] = {}

        def escape_line(line: str) -> str:
            if line not in escaped:
                escaped[line] = escape(line)
            return escaped[line]

        def quoted(text: str) -> str:
            return _quoted(text, escape_line)

        return replace(block, text=_largest_fit(block.text, quoted, budget))
    entry = block
    if len(render_block(replace(entry, summary="", marks=()))) + 1 > budget // 2:
        # A monstrous title, meta or URL: cut those to a quarter each, drop a huge link.
        entry = replace(
            entry,
            title=shorten(entry.title, budget // 4),
            url=entry.url if entry.url and len(entry.url) <= budget // 4 else None,
            meta=shorten(entry.meta, budget // 4) if entry.meta else None,
            meta_url=entry.meta_url
            if entry.meta_url and len(entry.meta_url) <= budget // 4
            else None,
        )

    def summary(text: str) -> str:
        marks = tuple((s, min(e, len(text))) for s, e in entry.marks if s < len(text))
        return render_block(replace(entry, summary=text, marks=marks))

    cut = _largest_fit(entry.summary, summary, budget)
    marks = tuple((s, min(e, len(cut))) for s, e in entry.marks if s < len(cut))
    return replace(entry, summary=cut, marks=marks)


class _Rendered:
    """Each block's markdown, rendered once for one reply: measuring, cutting into messages and
    into embeds and finally sending each look at every block again."""

    def __init__(self) -> None:
        # by identity; the block is kept, so its id is not reused for another during the reply
        self._done: dict[int, tuple[Block, str]] = {}

    def __call__(self, block: Block) -> str:
        done = self._done.get(id(block))
        if done is None:
            done = self._done[id(block)] = (block, render_block(block))
        return done[1]

    def size(self, block: Block) -> int:
        return len(self(block))


def _embed(
    blocks: Sequence[Block],
    title: str | None,
    colour: int,
    url: str | None,
    markdown: Callable[[Block], str],
) -> discord.Embed:
    description = SEPARATOR.join(markdown(b) for b in blocks) or None
    return discord.Embed(title=title or None, description=description, colour=colour, url=url)


def _run_embeds(
    run: Sequence[Block], title: str | None, url: str | None, colour: int, markdown: _Rendered
) -> list[discord.Embed]:
    """One message's blocks as embeds: a new embed at each heading and wherever 4,096 is hit."""
    embeds: list[discord.Embed] = []
    sections: list[tuple[str | None, str | None, list[Block]]] = [(title, url, [])]
    for block in run:
        if isinstance(block, Heading):
            sections.append((markdown(block), None, []))
        else:
            sections[-1][2].append(block)
    for heading, link, body in sections:
        parts = chunk(body, DESCRIPTION_LIMIT, markdown.size, separator=len(SEPARATOR)) or [[]]
        for index, part in enumerate(parts):
            first = index == 0
            if part or (first and heading):
                embeds.append(
                    _embed(
                        part, heading if first else None, colour, link if first else None, markdown
                    )
                )
    return embeds


def render_embeds(reply: Reply) -> list[DiscordMessage]:
    """Split ``reply`` into messages of embeds, each within Discord's limits.

    The first message carries the reply's title, the last its footer, the "More" button and
    the action buttons (before the messages of ``reply.then``).
    """
    colour = COLOURS[reply.tone]
    title = _title(reply.title) if reply.title else None
    footer = shorten(" ".join(reply.footer.split()), FOOTER_LIMIT) if reply.footer else None
    link = _link_target(reply.url) if reply.url and title else None
    budget = MESSAGE_EMBED_CHARS - len(title or "") - len(footer or "")
    block_budget = min(DESCRIPTION_LIMIT, budget)
    markdown = _Rendered()
    visible = [b for b in reply.blocks if markdown(b).strip()]  # Discord refuses blank text
    blocks = [_fit(b, block_budget) if markdown.size(b) > block_budget else b for b in visible]

    messages: list[list[discord.Embed]] = []
    for number, run in enumerate(chunk(blocks, budget, markdown.size, separator=len(SEPARATOR))):
        embeds = _run_embeds(
            run, title if number == 0 else None, link if number == 0 else None, colour, markdown
        )
        for start in range(0, len(embeds), EMBEDS_PER_MESSAGE):
            messages.append(embeds[start : start + EMBEDS_PER_MESSAGE])

    if not messages:  # nothing but perhaps a title: Discord refuses an empty embed
        messages = [[discord.Embed(title=title, description=None if title else "…", colour=colour)]]
    if footer:
        messages[-1][-1].set_footer(text=footer)
    rendered = [DiscordMessage(tuple(embeds)) for embeds in messages]
    if reply.more or reply.actions:
        rendered[-1] = DiscordMessage(rendered[-1].embeds, reply.more, reply.actions)
    for follow in reply.then:
        rendered.extend(render_embeds(follow))
    return rendered
