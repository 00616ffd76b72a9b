"""Discord's own kinds of channel, for the weekly post: announcement channels and forums.

Pure helpers, no I/O; :class:`~adapters.discord.DiscordAdapter` does the sending.

* **Announcement channels** (type 5): each message of the post is published ("crossposted") so
  servers following the channel receive it through Discord's channel following. Discord needs
  Send Messages for the bot's own messages (and Manage Messages for anyone else's) and allows
  10 crossposts an hour per channel; :func:`crosspost_refused_reply` is what the operators are
  told when Discord refuses.
* **Forum and media channels** (types 15, 16) take posts, not messages: each issue becomes one
  post named :func:`thread_name` ("Deep Learning Weekly #206"), its first message the post's
  opening, the other messages of a long reply inside it, with the forum's tags that match the
  reply's section headings (:func:`match_tags`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from bot.reply import Heading, Paragraph, Reply, Tone, shorten

__all__ = [
    "MAX_TAGS",
    "THREAD_NAME_LIMIT",
    "crosspost_refused_reply",
    "match_tags",
    "thread_name",
]

log = logging.getLogger("adapters.discord")

#: Discord: at most 5 tags on a forum post; a post's name is 1-100 characters.
MAX_TAGS = 5
THREAD_NAME_LIMIT = 100
_ISSUE = re.compile(r":?\s*Issue\s+#\s*(\d+)", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_FILLER = frozenset({"and", "the", "of", "in", "for", "a", "an", "on", "to"})


class Tag(Protocol):
    """What matching needs of a forum tag (``discord.ForumTag`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def moderated(self) -> bool: ...


def thread_name(reply: Reply) -> str:
    """The forum post's name: the reply's title, "…: Issue #206" compacted to "… #206" so
    the number shows in the forum's list; within Discord's 100 characters."""
    title = reply.title or next(
        (b.text for b in reply.blocks if isinstance(b, Heading | Paragraph)), ""
    )
    name = _ISSUE.sub(r" #\1", " ".join(title.split())).strip()
    return shorten(name or "Deep Learning Weekly", THREAD_NAME_LIMIT)


def _words(name: str) -> frozenset[str]:
    """A name's words for matching: case-folded, "&" and fillers dropped, plurals singular."""
    words = {w.casefold() for w in _WORD.findall(name)} - _FILLER
    return frozenset(w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words)


def _matches(tag: str, section: str) -> bool:
    tag_words, section_words = _words(tag), _words(section)
    if not tag_words or not section_words:
        return False
    return tag_words <= section_words or section_words <= tag_words


T = TypeVar("T", bound=Tag)


def match_tags(
    available: Sequence[T], sections: Sequence[str], *, required: bool = False
) -> list[T]:
    """The forum's tags for a post with these section headings, in the sections' order.

    Forgiving: a tag matches a section when one's words contain the other's, ignoring case,
    "&", small words and plurals ("Papers" ↔ "Papers & Publications", "Tools" ↔ "Libraries &
    Tools"). Moderated tags (only moderators may apply them) are left alone. At most
    :data:`MAX_TAGS`. A forum that ``required`` a tag and matched none gets its first tag a
    bot may apply, so the post is not refused.
    """
    usable = [t for t in available if not t.moderated]
    chosen: list[T] = []
    for section in sections:
        for tag in usable:
            if tag not in chosen and _matches(tag.name, section):
                chosen.append(tag)
    if not chosen and required and usable:
        log.info(
            "discord: no forum tag matches the sections; the forum requires one, so %r is used",
            usable[0].name,
        )
        chosen.append(usable[0])
    return chosen[:MAX_TAGS]


def crosspost_refused_reply(where: str, reason: str) -> Reply:
    """What the operators are told, once per channel, when Discord won't publish a post to the
    servers following an announcement channel."""
    return Reply(
        title="Discord: the weekly post was not published to followers",
        blocks=(
            Paragraph(
                f"The weekly post went out in {where}, an announcement channel, but Discord "
                f"refused to publish it to the servers that follow the channel ({reason})."
            ),
            Paragraph(
                "Give the bot Send Messages and Manage Messages in that channel (Edit Channel → "
                "Permissions → the bot's role). Later posts are published again once it has "
                "them; this message is not repeated for that channel until then.",
                muted=True,
            ),
        ),
        tone=Tone.ERROR,
    )
