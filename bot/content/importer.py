"""Turn a newsletter issue received as plain text into an :class:`~bot.content.models.Issue`.

The plain text is a sequence of paragraphs separated by blank lines::

    Deep Learning Weekly: Issue #206        title line
    <subtitle>                               headline topics
    <intro paragraphs>                       up to two blank lines
    [Section heading]                        e.g. "Mobile & Edge"
    <item title>
    <item summary>                           (papers: two blank lines before the abstract)
    ...

Text that went through e-mail loses things: some headings vanish (two blank lines are left where
they stood) and an item may lose its title line. The importer restores what it can and reports
each assumption as a :class:`Guess` with its line number, so an editor reviews exactly those
spots. Input it cannot make sense of raises :class:`ImportFailure` naming the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.content.models import Issue
from bot.content.sections import CANONICAL_SECTIONS, canonical_heading

__all__ = ["Guess", "ImportFailure", "ImportResult", "import_text"]

_TITLE_LINE = re.compile(r"^(?P<title>.*\bIssue\s*#?\s*(?P<number>\d{1,5})\b.*)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.…](?:[\"'”’)\]]*)$")
_LONG_TEXT = 250  # characters; longer than any headline


@dataclass(frozen=True)
class Guess:
    """Something the importer assumed, for an editor to check."""

    line: int
    message: str


class ImportFailure(Exception):
    """The text cannot be imported; ``line`` is where the problem is (1-based)."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True)
class ImportResult:
    issue: Issue
    guesses: tuple[Guess, ...]


@dataclass(frozen=True)
class _Paragraph:
    line: int  # 1-based line of its first text line
    lines: tuple[str, ...]
    blanks_before: int

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def gap(self) -> bool:
        """Two or more blank lines before it: something (a heading, a title) may be missing."""
        return self.blanks_before >= 2

    def looks_like_summary(self) -> bool:
        text = self.text
        return bool(_SENTENCE_END.search(text)) or len(text) > _LONG_TEXT


@dataclass
class _Builder:
    """Accumulates sections and items while walking the body."""

    explicit_headings: set[str]
    guesses: list[Guess] = field(default_factory=list)
    sections: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    pending_title: _Paragraph | None = None

    def open_section(self, name: str) -> None:
        self.sections.append((name, []))

    def guess_section(self, at: _Paragraph, why: str) -> None:
        current = self.sections[-1][0] if self.sections else None
        used = {name for name, _ in self.sections} | self.explicit_headings
        start = CANONICAL_SECTIONS.index(current) + 1 if current in CANONICAL_SECTIONS else 0
        candidates = [s for s in CANONICAL_SECTIONS[start:] if s not in used]
        name = candidates[0] if candidates else f"More stories {len(self.sections) + 1}"
        self.guesses.append(Guess(at.line, f'{why}; assumed section "{name}"'))
        self.open_section(name)

    def add_item(self, title: str, summary: str) -> None:
        self.sections[-1][1].append({"title": title, "summary": summary})

    @property
    def last_item(self) -> dict[str, Any] | None:
        if self.sections and self.sections[-1][1]:
            return self.sections[-1][1][-1]
        return None


def import_text(text: str) -> ImportResult:
    """Parse one plain-text issue. Raises :class:`ImportFailure` if it cannot."""
    paragraphs = list(_paragraphs(text))
    if not paragraphs:
        raise ImportFailure(1, "the file is empty")

    head = paragraphs[0]
    match = _TITLE_LINE.match(head.lines[0])
    if not match:
        raise ImportFailure(
            head.line,
            f"expected the title line, like 'Deep Learning Weekly: Issue #206', found {head.lines[0]!r}",
        )
    if len(head.lines) > 1:
        raise ImportFailure(head.line + 1, "expected a blank line after the title line")
    if len(paragraphs) < 2:
        raise ImportFailure(head.line, "the title line is not followed by a subtitle")
    subtitle = paragraphs[1]
    intro, body = _split_intro(paragraphs[2:], subtitle)

    builder = _Builder(explicit_headings={h for p in body if (h := canonical_heading(p.text))})
    for index, paragraph in enumerate(body):
        _walk(builder, paragraph, body[index + 1] if index + 1 < len(body) else None)
    if builder.pending_title is not None:
        p = builder.pending_title
        raise ImportFailure(p.line, f"the item {p.text!r} has no summary after it")

    data = {
        "number": int(match.group("number")),
        "title": match.group("title").strip(),
        "subtitle": subtitle.text,
        "intro": "\n\n".join("\n".join(p.lines) for p in intro),
        "sections": [{"name": name, "items": items} for name, items in builder.sections],
    }
    try:
        issue = Issue.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in err["loc"])
        raise ImportFailure(
            head.line, f"the parsed issue is not valid: {where}: {err['msg']}"
        ) from exc
    return ImportResult(issue=issue, guesses=tuple(builder.guesses))


def _walk(builder: _Builder, p: _Paragraph, following: _Paragraph | None) -> None:
    heading = canonical_heading(p.text) if len(p.lines) == 1 else None
    if heading is not None:
        if builder.pending_title is not None:
            t = builder.pending_title
            raise ImportFailure(
                t.line, f"the item {t.text!r} has no summary before the heading {heading!r}"
            )
        builder.open_section(heading)
        return

    if builder.pending_title is not None:  # this paragraph is the pending item's summary
        title = builder.pending_title
        if not p.looks_like_summary() and len(p.lines) == 1 and not p.gap:
            raise ImportFailure(
                title.line,
                f"the item {title.text!r} has no summary: line {p.line} ({p.text!r}) looks like another title",
            )
        builder.pending_title = None
        builder.add_item(title.text, "\n".join(p.lines) if len(p.lines) > 1 else p.text)
        return

    # Items come in pairs, so a paragraph is a title when the next one reads as its summary;
    # this keeps titles that end in "A.I." apart from summaries.
    has_summary_next = (
        following is not None
        and (len(following.lines) > 1 or canonical_heading(following.text) is None)
        and following.looks_like_summary()
    )
    untitled = len(p.lines) == 1 and p.looks_like_summary() and not has_summary_next
    if not builder.sections:
        builder.guess_section(p, "the first block of stories has no heading")
    elif p.gap and builder.last_item is not None and not untitled:
        builder.guess_section(p, "two blank lines and no heading before this story")

    if len(p.lines) > 1:  # a title line directly followed by its summary lines
        builder.guesses.append(
            Guess(p.line, "no blank line between title and summary; took the first line as title")
        )
        builder.add_item(p.lines[0], " ".join(p.lines[1:]))
    elif untitled:
        if p.gap or builder.last_item is None:
            derived = derive_title(p.text)
            builder.guesses.append(
                Guess(p.line, f'this story has no title line; derived the title "{derived}"')
            )
            builder.add_item(derived, p.text)
        else:
            last = builder.last_item
            last["summary"] = f"{last['summary']}\n\n{p.text}"
            builder.guesses.append(
                Guess(p.line, f"treated as a second paragraph of {last['title']!r}")
            )
    else:
        builder.pending_title = p


def derive_title(summary: str, limit: int = 90) -> str:
    """A short title from a summary: its first clause, or its first words."""
    for separator in (", ", " — ", " - ", ": ", "; "):
        cut = summary.find(separator)
        if 20 <= cut <= limit:
            return summary[:cut].rstrip(" .")
    sentence = re.split(r"(?<=[.!?])\s", summary, maxsplit=1)[0].rstrip(".")
    if len(sentence) <= limit:
        return sentence
    words = summary[:limit].rsplit(" ", 1)[0]
    return words.rstrip(" ,;:") + "…"


def _split_intro(
    paragraphs: list[_Paragraph], subtitle: _Paragraph
) -> tuple[list[_Paragraph], list[_Paragraph]]:
    """The intro runs until the first gap (two blank lines) or the first section heading."""
    for index, p in enumerate(paragraphs):
        if index > 0 and (p.gap or canonical_heading(p.text)):
            return paragraphs[:index], paragraphs[index:]
        if index == 0 and p.gap:
            raise ImportFailure(
                p.line, "expected the introduction after the subtitle, found two blank lines"
            )
    where = paragraphs[-1].line if paragraphs else subtitle.line
    raise ImportFailure(
        where,
        "could not find where the introduction ends: expected two blank lines or a section heading",
    )


def _paragraphs(text: str) -> Iterator[_Paragraph]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff").split("\n")
    blanks = 0
    start = 0
    current: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            if current:
                yield _Paragraph(start, tuple(current), blanks)
                current, blanks = [], 0
            blanks += 1
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        yield _Paragraph(start, tuple(current), blanks)
