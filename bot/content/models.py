"""The shape of a newsletter issue, as editors write it in ``content/issues/NNNN.yaml``.

The models are frozen and strict so that a typo in a content file is an error with a field
path, never a silently coerced value. ``content/schema/issue.json`` is generated from
:class:`Issue` (see :mod:`bot.content.schema`) so editors get completion and checks.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

__all__ = ["Issue", "Item", "Limits", "Section", "TopicId", "check_url"]

_TOPIC_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class Limits:
    """How large content may be. Real issues stay far below (about 20 items, abstracts of
    2,000 characters); the bounds keep a broken or hostile file from turning one command into
    thousands of messages or seconds of work."""

    SUMMARY_CHARS = 20_000
    INTRO_CHARS = 20_000
    SUBTITLE_CHARS = 500
    ITEMS_PER_SECTION = 100
    ITEMS_PER_ISSUE = 300
    SECTIONS_PER_ISSUE = 30
    TOPICS_PER_ITEM = 20


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
TopicId = Annotated[str, StringConstraints(pattern=_TOPIC_ID, max_length=40)]


def check_url(value: str) -> str:
    """``value`` if it is a web link a reader can open; raises ValueError saying why not."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname or ("." not in parts.hostname and parts.hostname != "localhost"):
        raise ValueError("must name a host, like https://example.com/article")
    if re.search(r"\s", value):
        raise ValueError("must not contain spaces")
    return value


Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2048), AfterValidator(check_url)
]


class _Model(BaseModel):
    # Strict: "206" is not a number and 1 is not a title. Sequence fields set strict=False
    # only so YAML lists become tuples; their elements stay strict.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Item(_Model):
    """One story of a section: what a reader sees as a linked title and a summary."""

    title: Annotated[Text, StringConstraints(max_length=300)] = Field(
        description="The headline, as printed in the newsletter."
    )
    url: Url | None = Field(default=None, description="Link to the story (http or https).")
    summary: Annotated[Text, StringConstraints(max_length=Limits.SUMMARY_CHARS)] = Field(
        description="The newsletter's summary (or a paper's abstract)."
    )
    topics: tuple[TopicId, ...] = Field(
        default=(),
        strict=False,
        max_length=Limits.TOPICS_PER_ITEM,
        description="Topic ids from content/topics.yaml this item is about, on top of the ones "
        "found from its text.",
    )


class Section(_Model):
    """A named list of items, e.g. "Papers & Publications"."""

    name: Annotated[Text, StringConstraints(max_length=80)] = Field(
        description='Section heading, e.g. "Mobile & Edge".'
    )
    items: tuple[Item, ...] = Field(
        min_length=1,
        max_length=Limits.ITEMS_PER_SECTION,
        strict=False,
        description="The stories, in newsletter order.",
    )


_SIGN_OFF = re.compile(
    r"^(as always\b|until next (week|time)\b|happy reading\b|thanks for reading\b|"
    r"see you\b|cheers\b)",
    re.IGNORECASE,
)


def _is_salutation(paragraph: str) -> bool:
    """A greeting or a sign-off: a short line ending in "," or "!" ("Hey folks,", "Until next
    week!") or one of the newsletter's closing formulas."""
    short = len(paragraph) <= 40 and paragraph.endswith((",", "!"))
    return short or bool(_SIGN_OFF.match(paragraph))


class Issue(_Model):
    """One weekly issue of Deep Learning Weekly."""

    number: int = Field(gt=0, lt=100_000, description="The issue number, e.g. 206.")
    title: Text = Field(description='The title line, e.g. "Deep Learning Weekly: Issue #206".')
    subtitle: Annotated[Text, StringConstraints(max_length=Limits.SUBTITLE_CHARS)] | None = Field(
        default=None,
        description="The headline topics line under the title; recent issues have none.",
    )
    date: dt.date | None = Field(
        default=None, strict=False, description="Publication date (YYYY-MM-DD), if known."
    )
    source_url: Url | None = Field(
        default=None, description="Where the issue is published on the web (http or https)."
    )
    intro: Annotated[Text, StringConstraints(max_length=Limits.INTRO_CHARS)] = Field(
        description="The editors' introduction; paragraphs separated by a blank line."
    )
    sections: tuple[Section, ...] = Field(
        min_length=1,
        max_length=Limits.SECTIONS_PER_ISSUE,
        strict=False,
        description="The sections, in order.",
    )

    @model_validator(mode="after")
    def _not_too_many_items(self) -> Issue:
        count = sum(len(section.items) for section in self.sections)
        if count > Limits.ITEMS_PER_ISSUE:
            raise ValueError(
                f"{count:,} items in all; an issue may have at most {Limits.ITEMS_PER_ISSUE:,}"
            )
        return self

    @model_validator(mode="after")
    def _section_names_unique(self) -> Issue:
        seen: set[str] = set()
        for section in self.sections:
            key = section.name.casefold()
            if key in seen:
                raise ValueError(f"section {section.name!r} appears twice")
            seen.add(key)
        return self

    @property
    def headline(self) -> str:
        """The line that says what is in the issue: the subtitle, else the intro's lead.

        Recent issues have no subtitle; their intro opens with "This week in deep learning,
        we bring you …", which says the same. Greetings ("Hey folks,") are skipped.
        """
        if self.subtitle:
            return self.subtitle
        substance = self.intro_substance
        if substance:
            return substance[0]
        paragraphs = [p.strip() for p in self.intro.split("\n\n") if p.strip()]
        return " ".join(paragraphs[0].split()) if paragraphs else ""

    @property
    def intro_substance(self) -> tuple[str, ...]:
        """The paragraphs of the intro that say what is in the issue ("This week in deep
        learning, we bring you …", "You may also enjoy …"), each on one line: the editors'
        greeting ("Hey folks,") and sign-off ("As always, happy reading…", "Until next week!")
        are left out, as a reader who opens the issue in a chat has no use for them."""
        paragraphs = (" ".join(p.split()) for p in self.intro.split("\n\n"))
        return tuple(p for p in paragraphs if p and not _is_salutation(p))

    @property
    def items(self) -> tuple[Item, ...]:
        """Every item of the issue, in order."""
        return tuple(item for section in self.sections for item in section.items)
