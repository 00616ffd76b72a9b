"""The "More" button of a paged reply: a stateless ``DynamicItem`` that survives restarts.

Long replies offer a "More" button whose ``custom_id`` carries the command line and page
(``dlw:more:2:/search pytorch``), or a key the core saves it under (:mod:`bot.paging`) when that
would exceed 100 characters. The button is a
``DynamicItem``: a stateless, persistent handler that survives restarts.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

import discord

from bot.paging import PayloadFormat, inline_payload
from bot.reply import Continuation, shorten

__all__ = ["MORE", "MoreButton", "PressesMore"]

#: "More" button custom_ids: ``dlw:more:PAGE:COMMAND`` within 100 characters, else a stored key.
MORE = PayloadFormat(inline="dlw:more:", stored="dlw:more:key:", limit=100)
_LABEL_LIMIT = 80


@runtime_checkable
class PressesMore(Protocol):
    """What the client's adapter does when a "More" button is pressed."""

    async def press_more(self, interaction: discord.Interaction[Any], custom_id: str) -> None: ...


class MoreButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"dlw:more:(?:(?P<page>[0-9]{1,9}):(?P<command>/.+)|key:(?P<key>[A-Za-z0-9_-]{1,64}))",
):
    """The "More" button of a paged reply; stateless, so it works after a restart."""

    def __init__(self, custom_id: str, label: str = "More") -> None:
        super().__init__(
            discord.ui.Button(
                label=shorten(label, _LABEL_LIMIT),
                custom_id=custom_id,
                style=discord.ButtonStyle.secondary,
            )
        )

    @staticmethod
    def inline_custom_id(more: Continuation) -> str | None:
        """The custom_id carrying the command line itself, if it fits in 100 characters."""
        return inline_payload(more, MORE)

    @staticmethod
    def key_custom_id(key: str) -> str:
        return MORE.stored + key

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> MoreButton:
        label = getattr(item, "label", None) or "More"
        return cls(match.group(0), label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        adapter = getattr(interaction.client, "adapter", None)
        if isinstance(adapter, PressesMore):
            await adapter.press_more(interaction, self.custom_id)
