"""The topic taxonomy readers subscribe to, and forgiving lookup of a topic by what a reader typed.

Topics live in ``content/topics.yaml``. Each has an id (what content files and the store use),
a label (what readers see), aliases (other names a reader may type) and keywords (phrases that
make an item match the topic; the archive matches them with its full-text index, so matching
uses the same stemming as search).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from bot.content.models import TopicId

__all__ = ["Taxonomy", "Topic", "TopicFile", "normalize"]

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


def normalize(text: str) -> str:
    """Fold what a reader typed into a comparable key: case, ``&``/``and``, punctuation, spaces."""
    text = text.casefold().replace("&", " and ")
    text = re.sub(r"[^\w+#]+", " ", text)
    return " ".join(text.split())


class Topic(BaseModel):
    """One subscribable topic."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    id: TopicId = Field(description="Stable id used in content files and subscriptions.")
    label: Phrase = Field(description="Name shown to readers.")
    aliases: tuple[Phrase, ...] = Field(
        default=(), strict=False, description="Other names readers may type."
    )
    keywords: tuple[Phrase, ...] = Field(
        min_length=1,
        strict=False,
        description="Phrases whose presence in an item's title or summary matches it.",
    )


class TopicFile(BaseModel):
    """The whole of ``topics.yaml``."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    topics: tuple[Topic, ...] = Field(min_length=1, strict=False)

    @model_validator(mode="after")
    def _ids_and_names_unique(self) -> TopicFile:
        seen: dict[str, str] = {}
        for topic in self.topics:
            for name in (topic.id, topic.label, *topic.aliases):
                key = normalize(name)
                owner = seen.setdefault(key, topic.id)
                if owner != topic.id:
                    raise ValueError(f"{name!r} names both topic {owner!r} and topic {topic.id!r}")
        return self


@dataclass(frozen=True)
class Taxonomy:
    """The loaded topics, with lookup by any of their names."""

    topics: tuple[Topic, ...]
    _by_name: dict[str, Topic] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Topic] = {}
        for topic in self.topics:
            for name in (topic.id, topic.label, *topic.aliases):
                by_name.setdefault(normalize(name), topic)
        object.__setattr__(self, "_by_name", by_name)

    def __iter__(self) -> Iterator[Topic]:
        return iter(self.topics)

    def __len__(self) -> int:
        return len(self.topics)

    def get(self, topic_id: str) -> Topic | None:
        """The topic with exactly this id."""
        return next((t for t in self.topics if t.id == topic_id), None)

    def resolve(self, text: str) -> Topic | None:
        """The topic a reader means by ``text`` (id, label or alias, any case/punctuation)."""
        key = normalize(text)
        if not key:
            return None
        if key in self._by_name:
            return self._by_name[key]
        # "pytorch" typed as "py torch", "language-models" as "language model": compare squashed.
        squashed = key.replace(" ", "").rstrip("s")
        for name, topic in self._by_name.items():
            if name.replace(" ", "").rstrip("s") == squashed:
                return topic
        return None

    def suggest(self, text: str, limit: int = 3) -> list[Topic]:
        """Topics whose names are close to ``text``: for "did you mean" replies."""
        matches = difflib.get_close_matches(
            normalize(text), list(self._by_name), n=limit * 3, cutoff=0.75
        )
        return _unique(self._by_name[m] for m in matches)[:limit]

    def names(self) -> list[str]:
        """Every name a reader may type, for autocomplete."""
        return [t.id for t in self.topics]


def _unique(topics: Iterable[Topic]) -> list[Topic]:
    seen: set[str] = set()
    out: list[Topic] = []
    for topic in topics:
        if topic.id not in seen:
            seen.add(topic.id)
            out.append(topic)
    return out
