"""A reply's :class:`~bot.reply.Action` buttons: stateless ``DynamicItem`` handlers.

A command action ("Follow topics" → ``/topics``, "Stop pytorch" → ``/unsubscribe pytorch``)
becomes a button whose ``custom_id`` carries the command line, like the "More" button
(:mod:`adapters.discord._more`): ``dlw:do:1:/unsubscribe pytorch`` runs it where the button is,
``dlw:me:1:/topics`` runs it for the presser alone (``Action.private``: answered ephemerally, in
the presser's private context). A line too long for Discord's 100 characters is saved by the
core's :class:`~bot.paging.Paging` under a short key (``dlw:do:key:…``). A url action is a link
button, which Discord opens itself and never sends to the bot.

Discord's layout rules: at most 5 buttons a row and 5 rows a message (25 buttons), labels of at
most 80 characters, custom_ids unique in a message and link urls of at most 512 characters.
:func:`layout` keeps every message within them (the "More" button always keeps its place).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import discord

from bot.paging import PayloadFormat
from bot.reply import Action, shorten

__all__ = [
    "ACT_HERE",
    "ACT_PRIVATELY",
    "BUTTONS_PER_MESSAGE",
    "ActionButton",
    "PressesAction",
    "action_format",
    "layout",
]

log = logging.getLogger("adapters.discord")

#: Buttons that run their command where they are, and those that answer the presser alone.
ACT_HERE = PayloadFormat(inline="dlw:do:", stored="dlw:do:key:", limit=100)
ACT_PRIVATELY = PayloadFormat(inline="dlw:me:", stored="dlw:me:key:", limit=100)
#: 5 action rows of 5 buttons.
BUTTONS_PER_MESSAGE = 25
LABEL_LIMIT = 80
LINK_LIMIT = 512


def action_format(action: Action) -> PayloadFormat:
    return ACT_PRIVATELY if action.private else ACT_HERE


@runtime_checkable
class PressesAction(Protocol):
    """What the client's adapter does when an action button is pressed."""

    async def press_action(self, interaction: discord.Interaction[Any], custom_id: str) -> None: ...


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"dlw:(?:do|me):(?:[0-9]{1,9}:/.+|key:[A-Za-z0-9_-]{1,64})",
):
    """A command action's button; stateless, so it works after a restart."""

    def __init__(self, custom_id: str, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=shorten(label, LABEL_LIMIT),
                custom_id=custom_id,
                style=discord.ButtonStyle.primary,
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ActionButton:
        return cls(match.group(0), getattr(item, "label", None) or "…")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        adapter = getattr(interaction.client, "adapter", None)
        if isinstance(adapter, PressesAction):
            await adapter.press_action(interaction, self.custom_id)


def link_button(action: Action) -> discord.ui.Button[discord.ui.View] | None:
    """A url action as a link button; ``None`` for a url Discord would refuse."""
    url = (action.url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > LINK_LIMIT:
        log.warning(
            "discord: left out the %r button: %r is no web link Discord accepts",
            action.label[:40],
            url[:80],
        )
        return None
    return discord.ui.Button(
        label=shorten(action.label, LABEL_LIMIT), url=url, style=discord.ButtonStyle.link
    )


def layout(actions: Sequence[Action], *, more: bool) -> list[Action]:
    """The actions that fit on one message beside its "More" button (if any): labelled,
    distinct command lines (Discord refuses duplicate custom_ids), 25 buttons in all."""
    room = BUTTONS_PER_MESSAGE - (1 if more else 0)
    kept: list[Action] = []
    seen: set[tuple[bool, str]] = set()
    for action in actions:
        if not action.label.strip():  # Discord refuses a button with neither label nor emoji
            log.warning(
                "discord: left out a button without a label (%r)", action.command or action.url
            )
            continue
        key = (action.private, action.command) if action.command else (False, action.url or "")
        if key in seen:
            continue
        seen.add(key)
        kept.append(action)
    if len(kept) > room:
        log.warning(
            "discord: a reply has %d buttons; Discord shows %d a message, the rest are left out",
            len(kept),
            room,
        )
    return kept[:room]
