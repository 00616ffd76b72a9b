"""What a command answers, independent of any platform, and how to cut it to a size budget.

Handlers build a :class:`Reply` from blocks: headings, paragraphs, quotes (an issue's intro) and
entries (a story: title, link, summary). Adapters render blocks to Telegram HTML, Discord embeds or the terminal, and use
:func:`chunk` to split a long reply *between* blocks so no message exceeds the platform's limit
and no entry is torn in half. Everything in a reply is plain text; adapters escape it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "Action",
    "Block",
    "Continuation",
    "Entry",
    "Heading",
    "LinkPreview",
    "Paragraph",
    "Quote",
    "Reply",
    "Tone",
    "chunk",
    "emphasize",
    "plural",
    "shorten",
]


class Tone(StrEnum):
    """How a reply should feel; adapters may pick a colour or an icon from it."""

    INFO = "info"
    SUCCESS = "success"
    ERROR = "error"


@dataclass(frozen=True)
class Heading:
    """A section heading inside a reply, e.g. "Papers & Publications"."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    """Running text. ``muted`` marks secondary text (hints, counts)."""

    text: str
    muted: bool = False


@dataclass(frozen=True)
class Entry:
    """One story: a (linked) title, its summary and a small line of context.

    ``marks`` are ``(start, end)`` character ranges of ``summary`` to emphasise, e.g. the words
    a search matched. ``meta_url`` is a web page for the context line (the issue a search hit
    appeared in), linked after it where the platform has links.
    """

    title: str
    summary: str = ""
    url: str | None = None
    meta: str | None = None
    marks: tuple[tuple[int, int], ...] = ()
    meta_url: str | None = None


@dataclass(frozen=True)
class Quote:
    """A passage set apart from the rest, e.g. an issue's introduction; paragraphs separated by
    a blank line. ``collapsed`` asks platforms that can to show its opening and let the reader
    expand the rest (Telegram's expandable blockquote); others show it whole, set apart."""

    text: str
    collapsed: bool = True


Block = Heading | Paragraph | Quote | Entry


@dataclass(frozen=True)
class Continuation:
    """How to fetch the next page of a long reply: the same command line, a later page."""

    command: str
    page: int
    label: str = "More"


@dataclass(frozen=True)
class Action:
    """A button under a reply: it runs ``command`` as the reader who pressed it, or opens ``url``.

    ``private`` runs the command in a private conversation with the bot rather than where the
    button is (a channel post's "Follow topics"): Telegram opens the bot's chat through a
    ``t.me/<bot>?start=…`` deep link, Discord answers the presser alone. Exactly one of
    ``command`` and ``url`` is set.
    """

    label: str
    command: str | None = None
    url: str | None = None
    private: bool = False

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("an action runs a command or opens a url, exactly one of them")


@dataclass(frozen=True)
class LinkPreview:
    """The one web page a reply's card should show, where the platform draws link cards.

    ``large`` asks for the page's picture at full width rather than a thumbnail; ``above`` puts
    the card above the text (a cover) rather than below it (a reference). Adapters that draw no
    cards ignore it; a reply without one shows no card unless ``link_previews`` allows it.
    """

    url: str
    large: bool = False
    above: bool = False


@dataclass(frozen=True)
class Reply:
    """A platform-neutral answer.

    ``title`` is shown prominently (an embed title, a bold first line); ``ephemeral`` asks for a
    reply only the asker sees, where the platform can; ``link_previews`` is off for multi-item
    replies so a chat is not flooded with cards; ``more`` offers the next page. ``then`` are
    replies sent right after this one as messages of their own (a preview's summary line).
    ``actions`` are buttons under the reply's last message (follow a topic, stop a digest).
    ``preview`` is the page a link card shows (a channel post's issue page), chosen on purpose.
    """

    blocks: tuple[Block, ...] = ()
    title: str | None = None
    url: str | None = None
    tone: Tone = Tone.INFO
    ephemeral: bool = False
    link_previews: bool = False
    more: Continuation | None = None
    footer: str | None = None
    then: tuple[Reply, ...] = ()
    actions: tuple[Action, ...] = ()
    preview: LinkPreview | None = None

    def __post_init__(self) -> None:
        if self.then and self.more:
            raise ValueError("a reply with follow-up replies (then) can't also offer more pages")

    @classmethod
    def text(
        cls, text: str, *, tone: Tone = Tone.INFO, title: str | None = None, ephemeral: bool = False
    ) -> Reply:
        """A reply of one or more plain paragraphs (split on blank lines)."""
        paragraphs = tuple(Paragraph(p) for p in text.split("\n\n") if p.strip())
        return cls(blocks=paragraphs, tone=tone, title=title, ephemeral=ephemeral)

    @classmethod
    def error(cls, text: str, *, hint: str | None = None) -> Reply:
        """A friendly refusal, optionally with a muted hint of what to do instead."""
        blocks: list[Block] = [Paragraph(text)]
        if hint:
            blocks.append(Paragraph(hint, muted=True))
        return cls(blocks=tuple(blocks), tone=Tone.ERROR, ephemeral=True)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Entry))

    def plain_text(self) -> str:
        """A readable plain-text rendering: logs, tests and the simplest adapters."""
        lines: list[str] = []
        if self.title:
            lines.append(self.title)
        for block in self.blocks:
            if isinstance(block, Heading):
                lines.append(f"\n{block.text}")
            elif isinstance(block, Paragraph | Quote):
                lines.append(block.text)
            else:
                lines.append(f"• {block.title}" + (f" <{block.url}>" if block.url else ""))
                if block.summary:
                    lines.append(f"  {block.summary}")
                if block.meta:
                    web = f" <{block.meta_url}>" if block.meta_url else ""
                    lines.append(f"  ({block.meta}){web}")
        if self.footer:
            lines.append(self.footer)
        lines.extend(f"\n{follow.plain_text()}" for follow in self.then)
        return "\n".join(lines).strip()

    def with_blocks(self, blocks: Sequence[Block]) -> Reply:
        return replace(self, blocks=tuple(blocks))


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural unless it is one: "1 item", "1,024 items"."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def shorten(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    cut = text[: limit - len(ellipsis) + 1]
    space = cut.rfind(" ")
    cut = cut[:space] if space >= limit // 2 else cut[: limit - len(ellipsis)]
    return cut.rstrip(" ,;:.-–—") + ellipsis


def emphasize(
    text: str,
    marks: Sequence[tuple[int, int]],
    *,
    plain: Callable[[str], str],
    strong: Callable[[str], str],
    trim: bool = False,
) -> str:
    """Render ``text`` with the ``marks`` ranges emphasised: ranges are clipped to the text,
    sorted and merged; ``trim`` keeps spaces outside them (Markdown won't bold ``** word**``).
    ``plain`` and ``strong`` are the adapter's escaping and its emphasis of an escaped part."""
    spans: list[tuple[int, int]] = []
    for raw_start, raw_end in sorted(marks):
        start, end = max(0, raw_start), min(len(text), raw_end)
        while trim and start < end and text[start].isspace():
            start += 1
        while trim and end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    out: list[str] = []
    position = 0
    for start, end in spans:
        out.append(plain(text[position:start]))
        out.append(strong(text[start:end]))
        position = end
    out.append(plain(text[position:]))
    return "".join(out)


@dataclass
class _Chunk:
    blocks: list[Block] = field(default_factory=list)
    size: int = 0


def chunk(
    blocks: Sequence[Block],
    budget: int,
    measure: Callable[[Block], int],
    *,
    separator: int = 0,
    fit: Callable[[Block, int], Block] | None = None,
) -> list[list[Block]]:
    """Split ``blocks`` into runs whose measured size stays within ``budget``.

    ``measure`` is the adapter's rendered size of one block and ``separator`` the size of what it
    puts between blocks. Cuts fall between blocks, never inside one, and a heading is never left
    alone at the end of a run. A single block larger than the budget is passed to ``fit`` (which
    must return a smaller block, e.g. with a shortened summary); without ``fit`` it raises
    ``ValueError``.
    """
    if budget <= 0:
        raise ValueError("budget must be positive")
    runs: list[_Chunk] = [_Chunk()]
    for original in blocks:
        block = original
        size = measure(block)
        if size > budget:
            if fit is None:
                raise ValueError(f"a block of size {size} does not fit in {budget}")
            block = fit(block, budget)
            size = measure(block)
            if size > budget:
                raise ValueError(f"fit() returned a block of size {size} for a budget of {budget}")
        current = runs[-1]
        extra = size + (separator if current.blocks else 0)
        if current.blocks and current.size + extra > budget:
            carried: list[Block] = []
            if isinstance(current.blocks[-1], Heading):  # keep a heading with what follows it
                carried.append(current.blocks.pop())
                current.size -= measure(carried[0]) + (separator if current.blocks else 0)
            fresh = _Chunk(blocks=carried, size=sum(measure(b) for b in carried))
            if not current.blocks:
                runs.pop()
            runs.append(fresh)
            current = fresh
            extra = size + (separator if current.blocks else 0)
            if current.size + extra > budget:  # heading + block too big together: part them
                runs.append(_Chunk())
                current = runs[-1]
                extra = size
        current.blocks.append(block)
        current.size += extra
    return [run.blocks for run in runs if run.blocks]
