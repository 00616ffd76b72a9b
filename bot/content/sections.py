"""The newsletter's standard sections, in print order, and the short names readers use for them.

The importer uses the order to restore headings the plain text lost; the archive uses the
aliases to understand ``/section libs``. Issues may also carry sections outside this list;
those are found by their own name.
"""

from __future__ import annotations

from bot.content.topics import normalize

__all__ = ["CANONICAL_SECTIONS", "SECTION_ALIASES", "canonical_heading"]

CANONICAL_SECTIONS: tuple[str, ...] = (
    "Industry",
    "Mobile & Edge",
    "Learning",
    "Libraries & Code",
    "Papers & Publications",
)

SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "Industry": ("industry", "news", "business", "ind"),
    "Mobile & Edge": ("mobile", "edge", "mobile edge", "mobile and edge", "tinyml", "on device"),
    "Learning": ("learning", "learn", "tutorials", "courses", "education"),
    "Libraries & Code": (
        "libraries",
        "libs",
        "lib",
        "code",
        "libraries and code",
        "tools",
        "repos",
    ),
    "Papers & Publications": (
        "papers",
        "paper",
        "publications",
        "papers and publications",
        "research",
    ),
}


_BY_KEY: dict[str, str] = {normalize(name): name for name in CANONICAL_SECTIONS}
_LONGEST = max(len(name) for name in CANONICAL_SECTIONS) + 10  # room for stray spaces


def canonical_heading(line: str) -> str | None:
    """The standard section a heading line names exactly (any case, ``&`` or ``and``)."""
    if len(line) > _LONGEST:  # every paragraph of an issue is asked; most are long
        return None
    return _BY_KEY.get(normalize(line))
