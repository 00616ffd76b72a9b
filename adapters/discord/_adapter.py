"""Discord on discord.py 2.x: the registry's commands as slash commands, replies as embeds.

The adapter is thin: an interaction becomes a :class:`~bot.commands.Context` and a
:meth:`CommandRegistry.invoke <bot.commands.CommandRegistry.invoke>` call, the
:class:`~bot.reply.Reply` becomes embeds (:mod:`adapters.discord._render`). Nothing here knows
what a command does.

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

Mapping an interaction to a Context
===================================
* DM with the bot → ``ChatKind.PRIVATE``, ``chat_id`` = the *user* id (what ``Target.user``
  addresses; :meth:`DiscordAdapter.send` opens the DM channel itself).
* Guild text channel → ``ChatKind.GROUP``, ``chat_id`` = the channel id.
* Thread → ``ChatKind.GROUP``, ``chat_id`` = the *thread's* id and ``thread_id`` empty: a thread
  is a channel of its own on Discord (messages are posted to its id, it is deleted or archived on
  its own), so ``/weekly on`` in a thread registers exactly that thread, ``/weekly off`` there
  removes exactly that registration, and the parent channel's registration is independent.
* ``user_id`` = the user's id; operators come from ``DLW_ADMINS`` (``discord:<user id>``).

Answering within Discord's 3 seconds
====================================
The handler runs first with a budget (:data:`ANSWER_BUDGET`, 2 s, leaving a second for the
HTTP round trip). Almost every command finishes in milliseconds, so it is answered with one
response whose ephemerality is exactly the reply's (subscription replies and errors are
ephemeral). Only if the budget runs out is the interaction deferred, publicly ("thinking…"),
because ephemerality is not known before the reply exists; a reply that then turns out to be
ephemeral replaces the public placeholder: it is deleted and the reply sent as an ephemeral
follow-up, so private content never shows in the channel. Further messages of a long reply are
follow-ups. Every message is sent with ``AllowedMentions.none()``.

Long replies offer a "More" button whose ``custom_id`` carries the command line and page
(``dlw:more:2:/search pytorch``), or a key into :meth:`Store.save_continuation
<bot.store.Store.save_continuation>` when that would exceed 100 characters. The button is a
``DynamicItem``: a stateless, persistent handler that survives restarts.

Gateway: only the ``GUILDS`` intent (no privileged intent, no message content: slash commands
arrive as interactions regardless). :meth:`DiscordAdapter.start` returns once READY has been
received (``on_connect``), not after ``on_ready``, which discord.py delays by its 2-second
guild timeout. Commands are synced only when their payload hash differs from the one stored in
the ``meta`` table, because Discord limits command creation per day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters.discord._commands import command_set_hash, slash_command
from adapters.discord._errors import delivery_error, describe, install_log_redaction
from adapters.discord._render import DiscordMessage, render_embeds
from adapters.discord.settings import DiscordSettings
from bot.app import App
from bot.commands import (
    ChatKind,
    CommandRegistry,
    Context,
    Suggest,
)
from bot.delivery import (
    Limits,
    PermanentError,
    TransientError,
)
from bot.model import Target
from bot.reply import Continuation, Reply, shorten

__all__ = [
    "ANSWER_BUDGET",
    "INTENTS",
    "PLATFORM",
    "DiscordAdapter",
    "MoreButton",
    "point_discord_at",
]

log = logging.getLogger("adapters.discord")

PLATFORM = "discord"
#: Seconds a command may take before the interaction is deferred (Discord allows 3 in all).
ANSWER_BUDGET = 2.0
#: How long :meth:`DiscordAdapter.start` waits for the gateway's READY.
CONNECT_TIMEOUT = 30.0
#: A 429 asking to wait longer than this surfaces as ``RateLimited`` instead of blocking a send.
MAX_RATE_LIMIT_WAIT = 30.0
NO_MENTIONS = discord.AllowedMentions.none()
#: Discord limits: custom_id, button label.
_CUSTOM_ID_LIMIT = 100
_LABEL_LIMIT = 80


def _intents() -> discord.Intents:
    """``GUILDS`` only: channel and thread metadata for interactions; nothing privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


INTENTS = _intents()


def point_discord_at(root: str | None) -> None:
    """Aim discord.py at another Discord-compatible server (``DLW_DISCORD_API_URL``).

    ``root`` is the server's root, e.g. ``http://127.0.0.1:8090``: REST goes to
    ``<root>/api/v10``, the gateway to the same host over ``ws``/``wss``. ``None`` leaves
    discord.py aimed at Discord itself. discord.py 2.7 has no public switch, but reads both
    class attributes at use time (every request, every connect), so setting them before login is
    enough and touches no client internals. They are process-wide: tests restore them.
    """
    if not root:
        return
    url = yarl.URL(root.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"DLW_DISCORD_API_URL must be an http(s) root URL, not {root!r}")
    discord.http.Route.BASE = f"{url}/api/v10"
    gateway = url.with_scheme("wss" if url.scheme == "https" else "ws")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway.with_path(
        gateway.path.rstrip("/") + "/"
    )


# -------------------------------------------------------------------------------------------
# The "More" button
# -------------------------------------------------------------------------------------------


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
        custom_id = f"dlw:more:{more.page}:{more.command}"
        fits = len(custom_id) <= _CUSTOM_ID_LIMIT and "\n" not in custom_id
        return custom_id if fits and more.command.startswith("/") else None

    @staticmethod
    def key_custom_id(key: str) -> str:
        return f"dlw:more:key:{key}"

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
        client = interaction.client
        if not isinstance(client, _Client):
            return
        match = self.__discord_ui_compiled_template__.fullmatch(self.custom_id)
        if match is None:  # cannot happen: discord.py dispatched on this very template
            return
        await client.adapter.press_more(
            interaction, match["command"], int(match["page"] or 0), match["key"]
        )


# -------------------------------------------------------------------------------------------
# Client and adapter
# -------------------------------------------------------------------------------------------


class _Tree(app_commands.CommandTree["_Client"]):
    async def on_error(
        self, interaction: discord.Interaction[_Client], error: app_commands.AppCommandError
    ) -> None:
        await self.client.adapter.command_failed(interaction, error)


class _Client(discord.Client):
    """A discord.py client that knows its adapter and signals the gateway's READY."""

    def __init__(self, adapter: DiscordAdapter) -> None:
        super().__init__(
            intents=INTENTS,
            allowed_mentions=NO_MENTIONS,
            max_messages=None,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
        )
        self.adapter = adapter
        self.tree = _Tree(self)
        self.connected = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(MoreButton)

    async def on_connect(self) -> None:
        """READY was received: interactions are dispatched from now on."""
        self.connected.set()


class DiscordAdapter:
    """The Discord bot: slash commands, embeds, weekly channel posts and topic digests by DM."""

    platform = PLATFORM

    def __init__(
        self, app: App, settings: DiscordSettings, *, answer_budget: float = ANSWER_BUDGET
    ) -> None:
        self.app = app
        self.settings = settings
        self.registry: CommandRegistry = app.registry
        self.answer_budget = answer_budget
        # discord.py paces each route by Discord's headers (about 5 messages per 5 s in one
        # channel); the dispatcher keeps well under the 50 requests/s global limit.
        self.limits = Limits(messages_per_second=25.0)
        self._client: _Client | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> discord.Client | None:
        """The running discord.py client (None when stopped)."""
        return self._client

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Log in, sync commands if they changed, connect; return once interactions flow."""
        if self._client is not None:
            return
        token = self.settings.token
        if token is None:
            raise RuntimeError("DLW_DISCORD_TOKEN is not set")
        install_log_redaction()
        point_discord_at(self.settings.api_url)
        client = _Client(self)
        guild = self._guild()
        for command in self.registry:
            slash = slash_command(command, self.run_command, self.suggest)
            if slash is not None:
                client.tree.add_command(slash, guild=guild)
        self._client = client
        try:
            await client.login(token.get_secret_value())
            await self._sync_if_changed(client, guild)
            self._task = asyncio.create_task(client.connect(), name="discord-gateway")
            self._task.add_done_callback(_log_gateway_end)
            await self._wait_connected(client, self._task)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "discord: connected as %s; %d commands (%s)",
            client.user,
            len(client.tree.get_commands(guild=guild)),
            f"guild {guild.id}" if guild else "global",
        )

    async def stop(self) -> None:
        """Close the gateway and HTTP session; safe to call twice."""
        client, task = self._client, self._task
        self._client = self._task = None
        if client is None:
            return
        await client.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)

    def _guild(self) -> discord.Object | None:
        guild_id = self.settings.guild_id
        return discord.Object(guild_id) if guild_id else None

    @staticmethod
    async def _wait_connected(client: _Client, task: asyncio.Task[None]) -> None:
        waiter = asyncio.create_task(client.connected.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, task}, timeout=CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
        if waiter in done and not waiter.cancelled():
            return
        if task in done:
            task.result()  # raises what ended the connection (bad token, privileged intents)
            raise ConnectionError("the Discord gateway closed before READY")
        raise TimeoutError(f"no READY from the Discord gateway within {CONNECT_TIMEOUT:g} s")

    async def _sync_if_changed(self, client: _Client, guild: discord.Object | None) -> None:
        """Bulk-overwrite the commands only if their payload changed since the last sync."""
        payloads = [c.to_dict(client.tree) for c in client.tree.get_commands(guild=guild)]
        digest = command_set_hash(payloads)
        scope = f"guild:{guild.id}" if guild else "global"
        key = f"discord.commands.{client.application_id}.{scope}"
        store = self.app.store
        if await store.get_meta(key) == digest:
            log.info("discord: %s commands unchanged; not syncing", scope)
            return
        try:
            await client.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            # Keep serving: the commands Discord already has still work. The hash is not
            # stored, so the next start tries again.
            log.error("discord: syncing %s commands failed: %s", scope, describe(exc))
            return
        await store.set_meta(key, digest)
        log.info("discord: synced %d %s commands", len(payloads), scope)

    # -- interactions ------------------------------------------------------------------------

    def context(self, interaction: discord.Interaction[Any]) -> Context:
        """Who asked, where: see the module documentation for the mapping."""
        user_id = str(interaction.user.id)
        client = interaction.client
        bot_name = client.user.name if client.user else None
        if interaction.guild_id is None:
            return Context(
                services=self.app,
                platform=PLATFORM,
                user_id=user_id,
                chat_id=user_id,
                chat_kind=ChatKind.PRIVATE,
                bot_username=bot_name,
            )

        async def chat_admin() -> bool:
            """Manage Server or Manage Channels in this channel (Administrator implies both)."""
            granted = interaction.permissions
            return granted.administrator or granted.manage_guild or granted.manage_channels

        channel = interaction.channel
        name = getattr(channel, "name", None)
        guild = interaction.guild
        title = f"#{name}" if name else None
        if title and guild is not None and getattr(guild, "name", None):
            title = f"{guild.name} {title}"
        return Context(
            services=self.app,
            platform=PLATFORM,
            user_id=user_id,
            chat_id=str(interaction.channel_id),
            chat_kind=ChatKind.GROUP,
            chat_title=title,
            bot_username=bot_name,
            chat_admin=chat_admin,
        )

    async def run_command(
        self, interaction: discord.Interaction[Any], name: str, args: dict[str, Any]
    ) -> None:
        """A slash command: the registry answers, we render and reply."""
        work = self.registry.invoke(self.context(interaction), name, args)
        await self._answer(interaction, work, f"/{name}")

    async def suggest(
        self, interaction: discord.Interaction[Any], source: Suggest, typed: str
    ) -> list[tuple[str, str]]:
        return await self.registry.suggestions(self.context(interaction), source, typed)

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        work: Coroutine[Any, Any, Reply],
        what: str,
    ) -> None:
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.answer_budget)
            deferred = not done
            if deferred:
                await interaction.response.defer(thinking=True)
            reply = await task
            await self._respond(interaction, reply, deferred=deferred)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning(
                "discord: could not answer %s (interaction %s): %s",
                what,
                interaction.id,
                describe(exc, interaction.token),
            )

    async def _respond(
        self, interaction: discord.Interaction[Any], reply: Reply, *, deferred: bool
    ) -> None:
        messages = render_embeds(reply)
        ephemeral = reply.ephemeral
        first, rest = messages[0], messages[1:]
        async with self._payload(first) as payload:
            if not deferred:
                await interaction.response.send_message(**payload, ephemeral=ephemeral)
            elif ephemeral:  # the public "thinking…" must not become a private reply
                await interaction.delete_original_response()
                await interaction.followup.send(**payload, ephemeral=True)
            else:
                await interaction.edit_original_response(**payload)
        for message in rest:
            async with self._payload(message) as payload:
                await interaction.followup.send(**payload, ephemeral=ephemeral)

    async def press_more(
        self,
        interaction: discord.Interaction[Any],
        command: str | None,
        page: int,
        key: str | None,
    ) -> None:
        """The "More" button: drop it from its message, then post the next page below."""
        try:
            await interaction.response.edit_message(view=None)
            if key is not None:
                saved = await self.app.store.load_continuation(key)
                command, page = saved if saved else (None, 0)
            if command is None:
                reply = Reply.error("That button has expired; run the command again.")
            else:
                reply = await self.registry.continue_(self.context(interaction), command, page)
            source = interaction.message
            ephemeral = reply.ephemeral or bool(source and source.flags.ephemeral)
            for message in render_embeds(reply):
                async with self._payload(message) as payload:
                    await interaction.followup.send(**payload, ephemeral=ephemeral)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning(
                "discord: could not answer a More button (interaction %s): %s",
                interaction.id,
                describe(exc, interaction.token),
            )

    async def command_failed(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """What discord.py could not route: a stale command, a bug. Apologise if we can."""
        name = interaction.command.name if interaction.command else "?"
        if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            log.warning("discord: /%s does not match the running bot: %s", name, error)
            text = "This command has just changed; please try again in a minute."
        else:
            log.error("discord: /%s failed", name, exc_info=error)
            text = "Sorry, something went wrong on my side. The problem has been logged."
        if interaction.type is not discord.InteractionType.application_command:
            return
        if interaction.response.is_done():
            return
        with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, OSError):
            async with self._payload(render_embeds(Reply.error(text))[0]) as payload:
                await interaction.response.send_message(**payload, ephemeral=True)

    @contextlib.asynccontextmanager
    async def _payload(self, message: DiscordMessage) -> Any:
        """The keyword arguments sending ``message`` takes; its More button, if any, included.

        A DynamicItem's view is only a carrier for the button's JSON: discord.py registers the
        button's template (already done at start) and, for ephemeral follow-ups, would keep a
        15-minute timeout task per view, so each view is stopped once its message is sent.
        """
        payload: dict[str, Any] = {"embeds": list(message.embeds), "allowed_mentions": NO_MENTIONS}
        view: discord.ui.View | None = None
        if message.more is not None:
            custom_id = MoreButton.inline_custom_id(message.more)
            if custom_id is None:
                stored = await self.app.store.save_continuation(
                    message.more.command, message.more.page
                )
                custom_id = MoreButton.key_custom_id(stored)
            view = discord.ui.View(timeout=None)
            view.add_item(MoreButton(custom_id, message.more.label))
            payload["view"] = view
        try:
            yield payload
        finally:
            if view is not None:
                view.stop()

    # -- delivery ----------------------------------------------------------------------------

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        """Post ``reply`` to a channel/thread, or by DM when ``target.direct``; the message ids.

        Channels are addressed by id without a cache lookup (``PartialMessageable``): nothing
        depends on what the gateway has told us. Errors become :mod:`bot.delivery` errors; the
        store is not touched (the dispatcher records outcomes).
        """
        client = self._client
        if client is None or client.is_closed():
            raise TransientError("the Discord adapter is not running")
        ids: list[str] = []
        try:
            destination: discord.abc.Messageable
            if target.direct:
                destination = await client.create_dm(discord.Object(int(target.chat_id)))
            else:
                destination = client.get_partial_messageable(int(target.chat_id))
            for message in render_embeds(reply)[skip:]:
                async with self._payload(message) as payload:
                    sent = await destination.send(**payload)
                ids.append(str(sent.id))
            return ids
        except ValueError as exc:  # a chat id that is no snowflake
            raise PermanentError(f"bad Discord target {target}: {exc}") from exc
        except Exception as exc:
            translated = delivery_error(exc)
            if translated is None:
                raise
            translated.sent = tuple(ids)
            raise translated from exc


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("discord: the gateway connection ended", exc_info=task.exception())
