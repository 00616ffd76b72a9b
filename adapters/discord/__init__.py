"""Discord on discord.py: slash commands generated from the registry, embeds, autocomplete.

The public names; the modules behind them are private (``_adapter``: the bot, ``_commands``:
slash commands from the registry, ``_render``: embeds, ``_actions``: a reply's buttons,
``_channels``: announcement and forum channels, ``_errors``: what errors mean) except
:mod:`.settings`, which the entry point reads without loading discord.py (the adapter itself
loads on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adapters.discord.settings import DiscordSettings

if TYPE_CHECKING:
    from adapters.discord._actions import ActionButton
    from adapters.discord._adapter import ANSWER_BUDGET, PLATFORM, DiscordAdapter
    from adapters.discord._channels import crosspost_refused_reply, match_tags, thread_name
    from adapters.discord._client import INTENTS, point_discord_at
    from adapters.discord._commands import (
        ParamOption,
        SuggestedOption,
        command_set_hash,
        slash_command,
    )
    from adapters.discord._errors import delivery_error
    from adapters.discord._more import MoreButton
    from adapters.discord._render import (
        COLOURS,
        DESCRIPTION_LIMIT,
        EMBEDS_PER_MESSAGE,
        FOOTER_LIMIT,
        MESSAGE_EMBED_CHARS,
        TITLE_LIMIT,
        DiscordMessage,
        escape,
        escape_title,
        render_block,
        render_embeds,
    )

__all__ = [
    "ANSWER_BUDGET",
    "COLOURS",
    "DESCRIPTION_LIMIT",
    "EMBEDS_PER_MESSAGE",
    "FOOTER_LIMIT",
    "INTENTS",
    "MESSAGE_EMBED_CHARS",
    "PLATFORM",
    "TITLE_LIMIT",
    "ActionButton",
    "DiscordAdapter",
    "DiscordMessage",
    "DiscordSettings",
    "MoreButton",
    "ParamOption",
    "SuggestedOption",
    "command_set_hash",
    "crosspost_refused_reply",
    "delivery_error",
    "escape",
    "escape_title",
    "match_tags",
    "point_discord_at",
    "render_block",
    "render_embeds",
    "slash_command",
    "thread_name",
]

_LAZY = {
    **dict.fromkeys(["ANSWER_BUDGET", "PLATFORM", "DiscordAdapter"], "_adapter"),
    **dict.fromkeys(["INTENTS", "point_discord_at"], "_client"),
    "MoreButton": "_more",
    "ActionButton": "_actions",
    **dict.fromkeys(["crosspost_refused_reply", "match_tags", "thread_name"], "_channels"),
    **dict.fromkeys(
        ["ParamOption", "SuggestedOption", "command_set_hash", "slash_command"], "_commands"
    ),
    "delivery_error": "_errors",
    **dict.fromkeys(
        [
            "COLOURS",
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
        ],
        "_render",
    ),
}


def __getattr__(name: str) -> Any:
    """The adapter's names load discord.py only when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
