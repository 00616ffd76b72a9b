"""Discord on discord.py 2.x: the registry's commands as slash commands, replies as embeds.

The adapter is thin: an interaction becomes a :class:`~bot.commands.Context` and a
:meth:`CommandRegistry.invoke <bot.commands.CommandRegistry.invoke>` call, the
:class:`~bot.reply.Reply` becomes embeds (:mod:`adapters.discord._render`). Nothing here knows
what a command does.

How the slash commands are generated, and with which permissions: :mod:`adapters.discord._commands`.

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

Long replies offer a "More" button (:mod:`adapters.discord._more`).

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
from collections.abc import Coroutine
from typing import Any

import aiohttp
import discord
from discord import app_commands

from adapters.discord._client import INTENTS, NO_MENTIONS, Client, make_client, point_discord_at
from adapters.discord._commands import command_set_hash, slash_command
from adapters.discord._errors import delivery_error, describe, install_log_redaction
from adapters.discord._more import MORE, MoreButton
from adapters.discord._render import DiscordMessage, render_embeds
from adapters.discord.settings import DiscordSettings
from bot.commands import ChatKind, CommandRegistry, Context, Suggest
from bot.delivery import Limits, PermanentError, TransientError
from bot.model import Target
from bot.paging import expired_reply
from bot.platform import AdapterServices
from bot.reply import Reply

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


class DiscordAdapter:
    """The Discord bot: slash commands, embeds, weekly channel posts and topic digests by DM."""

    platform = PLATFORM

    def __init__(
        self,
        services: AdapterServices,
        settings: DiscordSettings,
        *,
        answer_budget: float = ANSWER_BUDGET,
        receive: bool = True,
    ) -> None:
        self.services = services
        self.settings = settings
        self.registry: CommandRegistry = services.registry
        self.answer_budget = answer_budget
        # discord.py paces each route by Discord's headers (about 5 messages per 5 s in one
        # channel); the dispatcher keeps well under the 50 requests/s global limit.
        self.limits = Limits(messages_per_second=25.0)
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self.receive = receive  # False: REST only (sending), no gateway (no bot role)

    @property
    def ready(self) -> bool:
        """Connected to the gateway (or, sending only, logged in): what ``/readyz`` asks."""
        client = self._client
        if client is None or client.is_closed():
            return False
        return not self.receive or client.connected.is_set()

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
        client = make_client(self, self.settings.shards)
        guild = self._guild()
        for command in self.registry:
            slash = slash_command(command, self.run_command, self.suggest)
            if slash is not None:
                client.tree.add_command(slash, guild=guild)
        self._client = client
        try:
            await client.login(token.get_secret_value())
            shards = self.settings.shards
            if not self.receive:
                log.info("discord: logged in as %s, sending only (no bot role)", client.user)
                return
            if shards is None or shards.syncs_commands:
                await self._sync_if_changed(client, guild)
            self._task = asyncio.create_task(client.connect(), name="discord-gateway")
            self._task.add_done_callback(_log_gateway_end)
            await self._wait_connected(client, self._task)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "discord: connected as %s; %d commands (%s)%s",
            client.user,
            len(client.tree.get_commands(guild=guild)),
            f"guild {guild.id}" if guild else "global",
            f"; {shards.describe()}" if shards else "",
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
    async def _wait_connected(client: Client, task: asyncio.Task[None]) -> None:
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

    async def _sync_if_changed(self, client: Client, guild: discord.Object | None) -> None:
        """Bulk-overwrite the commands only if their payload changed since the last sync."""
        payloads = [c.to_dict(client.tree) for c in client.tree.get_commands(guild=guild)]
        digest = command_set_hash(payloads)
        scope = f"guild:{guild.id}" if guild else "global"
        key = f"discord.commands.{client.application_id}.{scope}"
        store = self.services.meta
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
            return self.services.context(
                PLATFORM, user_id, user_id, ChatKind.PRIVATE, bot_username=bot_name
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
        return self.services.context(
            PLATFORM,
            user_id,
            str(interaction.channel_id),
            ChatKind.GROUP,
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
        work: Coroutine[Any, Any, Reply | None],
        what: str,
    ) -> None:
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.answer_budget)
            deferred = not done
            if deferred:
                await interaction.response.defer(thinking=True)
            reply = await task
            if reply is None:  # over the reader's command budget and already told: silence
                if deferred:
                    await interaction.delete_original_response()
                return
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
        owner = _asker(interaction)
        async with self._payload(first, owner) as payload:
            if not deferred:
                await interaction.response.send_message(**payload, ephemeral=ephemeral)
            elif ephemeral:  # the public "thinking…" must not become a private reply
                await interaction.delete_original_response()
                await interaction.followup.send(**payload, ephemeral=True)
            else:
                await interaction.edit_original_response(**payload)
        for message in rest:
            async with self._payload(message, owner) as payload:
                await interaction.followup.send(**payload, ephemeral=ephemeral)

    async def press_more(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """The "More" button: drop it from its message, then post the next page below."""
        try:
            await interaction.response.edit_message(view=None)
            found = await self.services.paging.decode(custom_id, MORE)
            if found is None:
                reply: Reply | None = expired_reply()
            else:
                reply = await self.registry.continue_(self.context(interaction), *found)
            if reply is None:  # over the reader's command budget, already told
                return
            source = interaction.message
            ephemeral = reply.ephemeral or bool(source and source.flags.ephemeral)
            for message in render_embeds(reply):
                async with self._payload(message, _asker(interaction)) as payload:
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
    async def _payload(self, message: DiscordMessage, owner: str = "") -> Any:
        """The keyword arguments sending ``message`` takes; its More button, if any, included
        (saved among ``owner``'s newest when it is too long for the button).

        A DynamicItem's view is only a carrier for the button's JSON: discord.py registers the
        button's template (already done at start) and, for ephemeral follow-ups, would keep a
        15-minute timeout task per view, so each view is stopped once its message is sent.
        """
        payload: dict[str, Any] = {"embeds": list(message.embeds), "allowed_mentions": NO_MENTIONS}
        view: discord.ui.View | None = None
        custom_id = None
        if message.more is not None:  # None when it could not be saved: no button (logged)
            custom_id = await self.services.paging.encode(message.more, MORE, owner=owner)
        if message.more is not None and custom_id is not None:
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
                async with self._payload(message, str(target)) as payload:
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


def _asker(interaction: discord.Interaction[Any]) -> str:
    """Whose "More" buttons a reply's saved continuation counts against."""
    return f"{PLATFORM}:user {interaction.user.id}"
