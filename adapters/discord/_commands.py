"""Slash commands generated from the registry: one option per declared parameter.

How the slash commands are generated
====================================
discord.py derives a command's options from its callback's signature. For each registry
:class:`~bot.commands.Command` we synthesise that signature: ``(interaction, option_0, ...)``
with an ``inspect.Signature`` assigned to ``__signature__`` (which ``inspect.signature`` honours),
and every option annotated with an *instance* of :class:`ParamOption`, an
``app_commands.Transformer`` built from the :class:`~bot.commands.Param` declaration. Transformer
instances are a documented annotation form, and their ``type``/``min_value``/``max_value``/
``choices`` properties and ``autocomplete`` method are exactly the option payload Discord needs:
TEXT → string (``max_length``), INTEGER → integer (min/max), choices → ``Choice`` list,
:class:`~bot.commands.Suggest` → autocomplete through ``registry.suggestions``. Descriptions and
the Discord-side option names are applied with the public ``app_commands.describe`` and
``app_commands.rename`` decorators (Python names are ``option_N`` so any declared name works,
even a Python keyword). Adding a command to :mod:`bot.commands` therefore needs no change here.

Permissions and contexts: ``Permission.CHAT_ADMIN`` → ``default_permissions`` Manage Server
(Discord hides the command from other members; a server may re-grant it in its Integrations
settings), and :attr:`Context.chat_admin` checks Manage Server / Manage Channels again at run
time. ``Permission.OPERATOR`` → ``default_permissions`` Administrator and guilds only (Discord
ignores default permissions in DMs, so operator commands are not offered there at all); the
registry's ``DLW_ADMINS`` check is what actually guards them. A command whose ``chats`` exclude
private chats is guild-only; one without group chats is DM-only.

User install: a reader command (everyone may use it, private chats included: ``/latest``,
``/search``, ``/section``…) is registered for both installs (``integration_types`` [0, 1]) and
every context (``contexts`` [0, 1, 2]: guilds, the bot's DM, other DMs and group DMs), so a
reader who added the app to their account can use it anywhere; the answer is the interaction
response, which needs no bot in that channel. ``/weekly`` and operator commands stay guild
install, guild context only. Discord applies both lists to global commands only.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.commands import ChatKind, Command, Param, ParamType, Permission, Suggest
from bot.reply import shorten

__all__ = ["ParamOption", "SuggestedOption", "command_set_hash", "slash_command"]

#: Discord limits: option descriptions, choice names/values, string options.
_DESCRIPTION_LIMIT = 100
_CHOICE_LIMIT = 100
_STRING_OPTION_LIMIT = 6000


def command_set_hash(payloads: list[dict[str, Any]]) -> str:
    """A stable digest of the command payloads Discord would receive."""
    canonical = json.dumps(payloads, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


CommandRunner = Callable[[discord.Interaction[Any], str, dict[str, Any]], Awaitable[None]]
Suggester = Callable[[discord.Interaction[Any], Suggest, str], Awaitable[list[tuple[str, str]]]]


class ParamOption(app_commands.Transformer[Any]):
    """One :class:`~bot.commands.Param` as a slash-command option.

    Used as the annotation of a generated callback's parameter; discord.py reads the option's
    type, bounds and choices from these properties. Values pass through unchanged: the
    registry converts and validates them like any other input.
    """

    def __init__(self, param: Param) -> None:
        self.param = param

    @property
    def type(self) -> discord.AppCommandOptionType:
        if self.param.type is ParamType.INTEGER:
            return discord.AppCommandOptionType.integer
        return discord.AppCommandOptionType.string

    @property
    def min_value(self) -> int | None:
        return self.param.min_value if self.param.type is ParamType.INTEGER else None

    @property
    def max_value(self) -> int | None:
        if self.param.type is ParamType.INTEGER:
            return self.param.max_value
        if self.param.max_length is None:
            return None
        return min(self.param.max_length, _STRING_OPTION_LIMIT)  # a string option's max_length

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]] | None:
        if not self.param.choices:
            return None
        integer = self.param.type is ParamType.INTEGER
        return [
            app_commands.Choice[int | float | str](
                name=choice[:_CHOICE_LIMIT], value=int(choice) if integer else choice
            )
            for choice in self.param.choices
        ]

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> Any:
        return value


class SuggestedOption(ParamOption):
    """An option with autocomplete: what the reader has typed goes to ``registry.suggestions``."""

    def __init__(self, param: Param, source: Suggest, suggest: Suggester) -> None:
        super().__init__(param)
        self.source = source
        self._suggest = suggest

    async def autocomplete(
        self, interaction: discord.Interaction[Any], value: int | float | str, /
    ) -> list[app_commands.Choice[int | float | str]]:
        pairs = await self._suggest(interaction, self.source, str(value))
        return [
            app_commands.Choice[int | float | str](
                name=shorten(label, _CHOICE_LIMIT), value=choice[:_CHOICE_LIMIT]
            )
            for label, choice in pairs
            if label and choice
        ][:25]


def slash_command(
    command: Command, run: CommandRunner, suggest: Suggester
) -> app_commands.Command[Any, ..., None] | None:
    """The slash command for ``command`` (None if it fits no Discord context).

    ``run(interaction, name, args)`` is called with the options the user gave, keyed by the
    registry's parameter names; ``suggest`` serves autocomplete.
    """
    in_guilds = bool(command.chats & {ChatKind.GROUP, ChatKind.CHANNEL})
    in_dms = ChatKind.PRIVATE in command.chats and command.permission is not Permission.OPERATOR
    if not (in_guilds or in_dms):
        return None
    for_readers = in_dms and command.permission is Permission.EVERYONE
    params = {f"option_{index}": param for index, param in enumerate(command.params)}

    async def callback(interaction: discord.Interaction[Any], **options: Any) -> None:
        args = {params[key].name: value for key, value in options.items() if value is not None}
        await run(interaction, command.name, args)

    signature = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    for key, param in params.items():
        option = ParamOption(param)
        if param.suggest is not None and param.type is ParamType.TEXT and not param.choices:
            option = SuggestedOption(param, param.suggest, suggest)
        signature.append(
            inspect.Parameter(
                key,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=option,
                default=inspect.Parameter.empty if param.required else None,
            )
        )
    callback.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = f"slash_{command.name}"
    if params:
        app_commands.describe(
            **{key: shorten(p.description, _DESCRIPTION_LIMIT) for key, p in params.items()}
        )(callback)
        app_commands.rename(**{key: p.name for key, p in params.items()})(callback)
    slash: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=command.name,
        description=command.description,
        callback=callback,
        allowed_contexts=app_commands.AppCommandContext(
            guild=in_guilds, dm_channel=in_dms, private_channel=for_readers
        ),
        allowed_installs=app_commands.AppInstallationType(guild=True, user=for_readers),
    )
    slash.guild_only = not in_dms
    if command.permission is Permission.CHAT_ADMIN:
        slash.default_permissions = discord.Permissions(manage_guild=True)
    elif command.permission is Permission.OPERATOR:
        slash.default_permissions = discord.Permissions(administrator=True)
    return slash
