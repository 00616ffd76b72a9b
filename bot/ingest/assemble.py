"""Build an :class:`~bot.content.models.Issue` from the blocks of any format.

An issue reads, in every format::

    Deep Learning Weekly: Issue 417        the title line (or the document's title)
    [date line] [subtitle]                 both optional
    <intro paragraphs>                     until a rule, a heading, a gap or the first story
    [---]
    <Section heading>                      recognised by its place, whatever its name
    <item title>                           a linked or bold line, or a line its summary follows
    [Abstract:]                            a label paragraph, skipped
    <item summary>                         one or more paragraphs
    ...

Markdown and HTML say which block is a heading or a link; plain text does not, so there a
heading is a short line standing alone before a story (reported as a guess unless it is one
of the standard names), and text that went through e-mail has lost things this module
restores as the 2021 importer did: a first block of stories without heading, a heading lost
between two blank lines, an item without its title line. Each assumption is a
:class:`~bot.ingest.types.Guess` with its line, for an editor to review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.content.models import Issue, check_url
from bot.content.sections import CANONICAL_SECTIONS, canonical_heading
from bot.ingest.blocks import Block, Meta, clean_heading, clean_url, parse_date
from bot.ingest.types import Guess, IngestError, Parsed

__all__ = ["assemble", "derive_title", "title_number"]

_TITLE = re.compile(r"\bIssue\s*#?\s*(?P<number>\d{1,5})\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.…][\"'”’)\]]{0,3}$")
_LONG_TEXT = 250  # characters; longer than any headline
_MAX_TITLE_LINE = 300
_MAX_HEADING = 60
_SUBTITLE_END = re.compile(r"[.…!?,:;]$")


def title_number(line: str) -> int | None:
    """The issue number a title line names (``Deep Learning Weekly: Issue #206`` → 206)."""
    if len(line) > _MAX_TITLE_LINE:
        return None
    match = _TITLE.search(line)
    return int(match.group("number")) if match else None


def _summary_like(block: Block) -> bool:
    text = block.text
    return len(text) > _LONG_TEXT or bool(_SENTENCE_END.search(text))


@dataclass
class _Builder:
    """Accumulates sections and items while walking the body."""

    plain: bool  # plain text: no markup, so place and blank lines are all there is
    explicit_headings: set[str]
    guesses: list[Guess] = field(default_factory=list)
    sections: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    pending_title: Block | None = None

    def open_section(self, name: str) -> None:
        self.sections.append((name, []))
        self.used.add(name)

    def guess_section(self, at: Block, why: str) -> None:
        current = self.sections[-1][0] if self.sections else None
        start = CANONICAL_SECTIONS.index(current) + 1 if current in CANONICAL_SECTIONS else 0
        name = next(
            (
                s
                for s in CANONICAL_SECTIONS[start:]
                if s not in self.used and s not in self.explicit_headings
            ),
            f"More stories {len(self.sections) + 1}",
        )
        self.guesses.append(Guess(at.line or None, f'{why}; assumed section "{name}"'))
        self.open_section(name)

    def add_item(self, title: Block | str, summary: str) -> None:
        item: dict[str, Any] = {"title": title if isinstance(title, str) else title.text}
        if isinstance(title, Block) and title.link:
            url = self._usable_url(title)
            if url:
                item["url"] = url
        item["summary"] = summary
        self.sections[-1][1].append(item)

    def _usable_url(self, title: Block) -> str | None:
        url = clean_url(title.link or "")
        try:
            return check_url(url) if len(url) <= 2048 else check_url("")
        except ValueError:
            self.guesses.append(
                Guess(title.line or None, f"dropped the link {url[:80]!r}: not a web address")
            )
            return None

    @property
    def last_item(self) -> dict[str, Any] | None:
        if self.sections and self.sections[-1][1]:
            return self.sections[-1][1][-1]
        return None


def assemble(blocks: Sequence[Block], meta: Meta, *, fmt: str) -> Parsed:
    """The issue ``blocks`` describe; ``fmt`` is the format they were read from.

    Raises :class:`IngestError` naming the line when the blocks are not an issue.
    """
    plain = fmt == "text"
    rest = [b for b in blocks if b.rule or b.text.strip()]
    if not rest:
        raise IngestError("the document is empty", line=1)
    number, title, rest = _take_title(rest, meta, plain)
    date = meta.date
    if rest and len(rest[0].lines) == 1 and not rest[0].heading:
        line_date = parse_date(rest[0].text)
        if line_date is not None:
            date = date or line_date
            rest = rest[1:]
    subtitle = meta.subtitle
    if subtitle is None and plain and len(rest) > 1 and _subtitle_shaped(rest[0]):
        subtitle, rest = rest[0].text, rest[1:]
    if not rest:
        raise IngestError(
            "nothing after the title line: no introduction and no stories",
            line=blocks[0].line or None,
        )
    intro, body = _split_intro(rest, plain, at=blocks[0].line or 1)

    builder = _Builder(
        plain=plain,
        explicit_headings={h for p in body if (h := canonical_heading(clean_heading(p.text)))},
    )
    for index, block in enumerate(body):
        following = body[index + 1] if index + 1 < len(body) else None
        after = body[index + 2] if index + 2 < len(body) else None
        _walk(builder, block, following, after)
    if builder.pending_title is not None:
        p = builder.pending_title
        raise IngestError(f"the item {p.text!r} has no summary after it", line=p.line or None)
    for name, items in builder.sections:
        if not items:
            builder.guesses.append(Guess(None, f'the section "{name}" has no stories; left out'))
    builder.sections = [(name, items) for name, items in builder.sections if items]
    if not builder.sections:
        raise IngestError("no stories found after the introduction", line=body[0].line or None)

    data: dict[str, Any] = {
        "number": number,
        "title": title,
        "intro": "\n\n".join("\n".join(p.lines) for p in intro),
        "sections": [{"name": name, "items": items} for name, items in builder.sections],
    }
    if subtitle:
        data["subtitle"] = subtitle
    if date:
        data["date"] = date
    if meta.source_url:
        data["source_url"] = clean_url(meta.source_url)
    try:
        issue = Issue.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        where = f"{where}: " if where else ""
        raise IngestError(f"the parsed issue is not valid: {where}{message}") from exc
    return Parsed(issue=issue, guesses=tuple(builder.guesses), format=fmt)


def _take_title(blocks: list[Block], meta: Meta, plain: bool) -> tuple[int, str, list[Block]]:
    """The issue number and title line, and the blocks after the title."""
    if meta.title and (number := title_number(meta.title)) is not None:
        title = " ".join(meta.title.split())
        first = blocks[0]
        if not first.is_rule and title_number(first.text) == number and len(first.lines) == 1:
            blocks = blocks[1:]  # the page repeats its title as the first heading
        return number, title, blocks
    head = blocks[0]
    number = title_number(head.lines[0]) if head.lines else None
    if plain:
        if number is None:
            found = head.lines[0][:80] if head.lines else ""
            raise IngestError(
                f"expected the title line, like 'Deep Learning Weekly: Issue 417', found {found!r}",
                line=head.line,
            )
        if len(head.lines) > 1:
            raise IngestError("expected a blank line after the title line", line=head.line + 1)
        return number, head.lines[0], blocks[1:]
    for index, block in enumerate(blocks[:3]):
        if block.is_rule or len(block.lines) != 1:
            continue
        number = title_number(block.text)
        if number is not None:
            return number, block.text, blocks[index + 1 :]
    raise IngestError(
        "no issue number found: expected a title like 'Deep Learning Weekly: Issue 417'",
        line=head.line or None,
    )


def _subtitle_shaped(block: Block) -> bool:
    """The headline-topics line under the title: one line, no sentence, not the intro."""
    text = block.text
    return (
        len(block.lines) == 1
        and not block.gap
        and not block.is_rule
        and block.link is None
        and len(text) <= _MAX_TITLE_LINE
        and not _SUBTITLE_END.search(text)
        and canonical_heading(clean_heading(text)) is None
    )


def _starts_body(block: Block) -> bool:
    return (
        block.is_rule
        or block.heading
        or block.link is not None
        or (len(block.lines) == 1 and canonical_heading(clean_heading(block.text)) is not None)
    )


def _split_intro(blocks: list[Block], plain: bool, *, at: int) -> tuple[list[Block], list[Block]]:
    """The intro runs until a rule, a heading, the first story or (plain text) two blank lines."""
    for index, p in enumerate(blocks):
        if plain and p.gap:
            if index == 0:
                raise IngestError(
                    "expected the introduction after the title, found two blank lines",
                    line=p.line,
                )
            return blocks[:index], blocks[index:]
        if _starts_body(p):
            if index == 0:
                raise IngestError(
                    "expected an introduction before the first story", line=p.line or None
                )
            return blocks[:index], blocks[index:]
    where = blocks[-1].line if blocks else at
    if plain:
        raise IngestError(
            "could not find where the introduction ends: expected two blank lines, "
            "a --- rule or a section heading",
            line=where,
        )
    raise IngestError("no stories found: no heading or linked title after the introduction")


def _heading(
    builder: _Builder, p: Block, following: Block | None, after: Block | None
) -> str | None:
    """The section ``p`` opens, if it is a heading; guessed ones are reported."""
    if p.link is not None or p.is_label:
        return None
    name = clean_heading(p.text)
    if not name:
        return None
    canonical = canonical_heading(name)
    if p.heading:
        return canonical or name[:80]
    if len(p.lines) != 1:
        return None
    if canonical is not None:
        return canonical
    if builder.pending_title is not None or len(name) > _MAX_HEADING or _summary_like(p):
        return None
    if following is None or not _title_shaped(following, after):
        return None
    if not builder.plain:
        return name if p.strong else None  # a heading set in bold instead of as a heading
    builder.guesses.append(
        Guess(p.line, f'took "{name}" for a section heading (a short line before a story)')
    )
    return name


def _title_shaped(p: Block, after: Block | None) -> bool:
    """``p`` opens a story: a linked line, or a short line its summary follows."""
    if p.link is not None:
        return True
    if p.heading or p.is_rule or p.is_label or len(p.lines) != 1 or _summary_like(p):
        return False
    return after is not None and (
        after.is_label or (after.link is None and not after.heading and _summary_like(after))
    )


def _walk(builder: _Builder, p: Block, following: Block | None, after: Block | None) -> None:
    if p.is_rule or p.is_label:
        return
    heading = _heading(builder, p, following, after)
    if heading is not None:
        if builder.pending_title is not None:
            t = builder.pending_title
            raise IngestError(
                f"the item {t.text!r} has no summary before the heading {heading!r}",
                line=t.line or None,
            )
        builder.open_section(heading)
        return

    if builder.pending_title is not None:  # this paragraph is the pending item's summary
        title = builder.pending_title
        another_title = p.link is not None or (
            title.link is None
            and builder.plain
            and not _summary_like(p)
            and len(p.lines) == 1
            and not p.gap
        )
        if another_title:
            raise IngestError(
                f"the item {title.text!r} has no summary: line {p.line} ({p.text[:80]!r}) "
                "looks like another title",
                line=title.line or None,
            )
        builder.pending_title = None
        builder.add_item(title, "\n".join(p.lines) if len(p.lines) > 1 else p.text)
        return

    if p.link is not None or (not builder.plain and p.strong):
        _open_story(builder, p, untitled=False)
        builder.pending_title = p
        return

    # Items come in pairs, so a paragraph is a title when the next one reads as its summary;
    # this keeps titles that end in "A.I." apart from summaries.
    has_summary_next = (
        following is not None
        and following.link is None
        and not following.heading
        and (
            following.is_label
            or (
                (len(following.lines) > 1 or canonical_heading(following.text) is None)
                and _summary_like(following)
            )
        )
    )
    untitled = len(p.lines) == 1 and _summary_like(p) and not has_summary_next
    _open_story(builder, p, untitled=untitled)

    if len(p.lines) > 1:  # a title line directly followed by its summary lines
        builder.guesses.append(
            Guess(p.line, "no blank line between title and summary; took the first line as title")
        )
        builder.add_item(p.lines[0], " ".join(p.lines[1:]))
    elif untitled:
        last = builder.last_item
        if p.gap or last is None:
            derived = derive_title(p.text)
            builder.guesses.append(
                Guess(
                    p.line or None, f'this story has no title line; derived the title "{derived}"'
                )
            )
            builder.add_item(derived, p.text)
        else:
            last["summary"] = f"{last['summary']}\n\n{p.text}"
            if builder.plain:  # markup already says it is another paragraph of the story
                builder.guesses.append(
                    Guess(p.line, f"treated as a second paragraph of {last['title']!r}")
                )
    else:
        builder.pending_title = p


def _open_story(builder: _Builder, p: Block, *, untitled: bool) -> None:
    """Before a story: restore the section heading the text lost, if it did."""
    if not builder.sections:
        builder.guess_section(p, "the first block of stories has no heading")
    elif builder.plain and p.gap and builder.last_item is not None and not untitled:
        builder.guess_section(p, "two blank lines and no heading before this story")


def derive_title(summary: str, limit: int = 90) -> str:
    """A short title from a summary: its first clause, or its first words."""
    for separator in (", ", " — ", " - ", ": ", "; "):
        cut = summary.find(separator, 0, limit + 1)
        if 20 <= cut <= limit:
            return summary[:cut].rstrip(" .")
    sentence = re.split(r"(?<=[.!?])\s", summary[: limit * 2], maxsplit=1)[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    words = summary[:limit].rsplit(" ", 1)[0]
    return words.rstrip(" ,;:") + "…"
