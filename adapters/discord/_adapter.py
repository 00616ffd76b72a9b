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
* A post of a forum (or media) channel → ``chat_id`` = the *forum's* id: nobody can type in a
  forum itself, so its posts are where its commands arrive, and ``/weekly on`` there registers
  the forum, which then gets one new post per issue.
* A DM or group DM between users (a user-installed command, context 2) → like the bot's DM:
  ``ChatKind.PRIVATE`` keyed by the user's id; the answer is the interaction response.
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

Long replies offer a "More" button (:mod:`adapters.discord._more`); a reply's actions are
buttons too (:mod:`adapters.discord._actions`): pressing one runs its command line through the
same registry as the presser, where the button is or, for a private action, for the presser
alone (their private context, answered ephemerally).

Gateway: only the ``GUILDS`` intent (no privileged intent, no message content: slash commands
arrive as interactions regardless). :meth:`DiscordAdapter.start` returns once READY has been
received (``on_connect``), not after ``on_ready``, which discord.py delays by its 2-second
guild timeout. Commands are synced only when their payload hash differs from the one stored in
the ``meta`` table, because Discord limits command creation per day.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import aiohttp
import discord
from discord import app_commands

from adapters.discord._actions import (
    ACT_HERE,
    ACT_PRIVATELY,
    ActionButton,
    action_format,
    layout,
    link_button,
)
from adapters.discord._channels import crosspost_refused_reply, match_tags, thread_name
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
from bot.reply import Continuation, Heading, Reply

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
#: ``meta`` keys: an announcement channel whose crosspost refusal the operators were told of;
#: the forum post a reply opened (so a retry continues it).
_REFUSED_KEY = "discord.crosspost.refused.{channel}"
_FORUM_POST_KEY = "discord.forum.{forum}.post.{name}"
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
        self._later: set[asyncio.Task[None]] = set()  # crossposts waiting out the hourly limit
        self._refused: dict[int, bool] = {}  # announcement channels the operators were told of
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
        for later in list(self._later):
            later.cancel()
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

        channel: Any = interaction.channel
        chat_id = str(interaction.channel_id)
        parent = getattr(channel, "parent", None) if isinstance(channel, discord.Thread) else None
        if isinstance(parent, discord.ForumChannel):
            # A forum's commands are used inside its posts: the forum is the destination.
            channel, chat_id = parent, str(parent.id)
        name = getattr(channel, "name", None)
        guild = interaction.guild
        title = f"#{name}" if name else None
        if title and guild is not None and getattr(guild, "name", None):
            title = f"{guild.name} {title}"
        return self.services.context(
            PLATFORM,
            user_id,
            chat_id,
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
        *,
        private: bool = False,
    ) -> None:
        """Reply to ``interaction`` with what ``work`` returns (``private``: to the asker
        alone, whatever the reply says), deferring it if ``work`` takes long (privately
        when the answer will be private anyway)."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.answer_budget)
            deferred = not done
            if deferred:
                await interaction.response.defer(thinking=True, ephemeral=private)
            reply = await task
            if reply is None:  # over the reader's command budget and already told: silence
                if deferred:
                    await interaction.delete_original_response()
                return
            if private and not reply.ephemeral:
                reply = replace(reply, ephemeral=True)
            await self._respond(interaction, reply, deferred=deferred, placeholder_private=private)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning(
                "discord: could not answer %s (interaction %s): %s",
                what,
                interaction.id,
                describe(exc, interaction.token),
            )

    async def _respond(
        self,
        interaction: discord.Interaction[Any],
        reply: Reply,
        *,
        deferred: bool,
        placeholder_private: bool = False,
    ) -> None:
        messages = render_embeds(reply)
        ephemeral = reply.ephemeral
        first, rest = messages[0], messages[1:]
        owner = _asker(interaction)
        async with self._payload(first, owner) as payload:
            if not deferred:
                await interaction.response.send_message(**payload, ephemeral=ephemeral)
            elif ephemeral and not placeholder_private:  # a public "thinking…" stays public
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

    async def press_action(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """An action button: run its command line as the presser; a private one in their own
        private context, answered to them alone. The button stays (others may press it too)."""
        private = custom_id.startswith(ACT_PRIVATELY.inline)
        found = await self.services.paging.decode(custom_id, ACT_PRIVATELY if private else ACT_HERE)
        if found is None:
            work: Coroutine[Any, Any, Reply | None] = _ready(expired_reply())
        else:
            line, page = found
            ctx = self.context(interaction)
            if private:
                user_id = str(interaction.user.id)
                ctx = replace(ctx, chat_id=user_id, chat_kind=ChatKind.PRIVATE, chat_title=None)
            work = self.registry.continue_(ctx, line, page)
        await self._answer(interaction, work, "an action button", private=private)

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
        """The keyword arguments sending ``message`` takes; its buttons included: the reply's
        actions, then "More" (command lines too long for a button are saved among ``owner``'s
        newest; one that could not be saved leaves its button out, logged).

        A DynamicItem's view is only a carrier for the buttons' JSON: discord.py registers the
        buttons' templates (already done at start) and, for ephemeral follow-ups, would keep a
        15-minute timeout task per view, so each view is stopped once its message is sent.
        """
        payload: dict[str, Any] = {"embeds": list(message.embeds), "allowed_mentions": NO_MENTIONS}
        items: list[discord.ui.Item[Any]] = []
        for action in layout(message.actions, more=message.more is not None):
            if action.url is not None:
                link = link_button(action)
                if link is not None:
                    items.append(link)
                continue
            custom_id = await self.services.paging.encode(
                Continuation(action.command or "", 1), action_format(action), owner=owner
            )
            if custom_id is not None:
                items.append(ActionButton(custom_id, action.label))
        if message.more is not None:
            custom_id = await self.services.paging.encode(message.more, MORE, owner=owner)
            if custom_id is not None:
                items.append(MoreButton(custom_id, message.more.label))
        view: discord.ui.View | None = None
        if items:
            view = discord.ui.View(timeout=None)
            for item in items:
                view.add_item(item)
            payload["view"] = view
        try:
            yield payload
        finally:
            if view is not None:
                view.stop()

    # -- delivery ----------------------------------------------------------------------------

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        """Post ``reply`` to a channel/thread, or by DM when ``target.direct``; the message ids.

        The channel's kind comes from the gateway's cache (``GUILDS`` intent), or one fetch
        when it is not cached yet: a forum (or media channel) gets one new post per reply
        (:meth:`_post_in_forum`), an announcement channel has each message published to the
        servers following it (:meth:`_crosspost`), any other channel or thread gets plain
        messages. Errors become :mod:`bot.delivery` errors; the store is not touched (the
        dispatcher records outcomes).
        """
        client = self._client
        if client is None or client.is_closed():
            raise TransientError("the Discord adapter is not running")
        ids: list[str] = []
        try:
            destination: discord.abc.Messageable
            announcement = False
            if target.direct:
                destination = await client.create_dm(discord.Object(int(target.chat_id)))
            else:
                channel = await self._channel(client, int(target.chat_id))
                if isinstance(channel, discord.ForumChannel):
                    return await self._post_in_forum(channel, target, reply, skip, ids)
                announcement = isinstance(channel, discord.TextChannel) and channel.is_news()
                destination = (
                    channel
                    if isinstance(channel, discord.abc.Messageable)
                    else client.get_partial_messageable(int(target.chat_id))
                )
            for message in render_embeds(reply)[skip:]:
                async with self._payload(message, str(target)) as payload:
                    sent = await destination.send(**payload)
                ids.append(str(sent.id))
                if announcement:
                    await self._crosspost(sent, target)
            return ids
        except ValueError as exc:  # a chat id that is no snowflake
            raise PermanentError(f"bad Discord target {target}: {exc}") from exc
        except Exception as exc:
            translated = delivery_error(exc)
            if translated is None:
                raise
            translated.sent = tuple(ids)
            raise translated from exc

    @staticmethod
    async def _channel(client: Client, channel_id: int) -> Any:
        """The channel from the gateway's cache, else fetched (once, right after a start,
        before its guild arrived); errors are the caller's to translate."""
        return client.get_channel(channel_id) or await client.fetch_channel(channel_id)

    # -- announcement channels ------------------------------------------------------------------

    async def _crosspost(
        self, message: discord.Message, target: Target, *, retry: bool = True
    ) -> None:
        """Publish ``message`` to the channels following its announcement channel.

        Never fails the delivery: the post is in the channel either way. Discord refusing
        (403: the bot lacks a permission) is told to the operators once per channel; its
        hourly limit (10 a channel) is a 429 whose wait discord.py sits out when short, and
        which is otherwise tried again once (``retry``) in the background after ``retry_after``.
        """
        try:
            await message.publish()
        except discord.Forbidden as exc:
            await self._crosspost_refused(message, target, exc)
            return
        except discord.RateLimited as exc:
            if retry:
                self._crosspost_later(message, target, exc.retry_after)
            else:
                log.warning(
                    "discord: publishing message %s in %s to followers is still rate limited; "
                    "given up (the post itself is in the channel)",
                    message.id,
                    target,
                )
            return
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.warning(
                "discord: could not publish message %s in %s to followers: %s",
                message.id,
                target,
                describe(exc),
            )
            return
        key = _REFUSED_KEY.format(channel=message.channel.id)
        refused = self._refused.pop(message.channel.id, None)
        try:  # the post is out: remembering what was reported must never fail its delivery
            if refused or await self.services.meta.get_meta(key):
                await self.services.meta.set_meta(key, "")  # granted now: report anew later
        except Exception as failed:
            log.warning("discord: could not note that %s may publish again: %s", target, failed)

    async def _crosspost_refused(
        self, message: discord.Message, target: Target, exc: discord.Forbidden
    ) -> None:
        channel_id = message.channel.id
        log.warning(
            "discord: not allowed to publish message %s in announcement channel %s: %s",
            message.id,
            target,
            describe(exc),
        )
        key = _REFUSED_KEY.format(channel=channel_id)
        if self._refused.get(channel_id):
            return
        self._refused[channel_id] = True  # told once per process even if the store can't say
        try:  # the post is out: the store being busy must never fail its delivery
            if await self.services.meta.get_meta(key):
                return
            await self.services.meta.set_meta(key, "reported")
        except Exception as failed:
            log.warning("discord: could not look up whether %s was reported: %s", target, failed)
        channel = message.channel
        name = getattr(channel, "name", None)
        guild = getattr(getattr(channel, "guild", None), "name", None)
        where = f"#{name}" if name else f"channel {channel_id}"
        if guild:
            where += f" ({guild})"
        reason = f"{exc.text or 'Missing Permissions'}, HTTP {exc.status} code {exc.code}"
        await self.services.report_to_operators(crosspost_refused_reply(where, reason))

    def _crosspost_later(self, message: discord.Message, target: Target, wait: float) -> None:
        log.warning(
            "discord: publishing message %s in %s to followers is rate limited for %.0f s "
            "(Discord allows 10 an hour a channel); trying once more then",
            message.id,
            target,
            wait,
        )

        async def retry() -> None:
            await asyncio.sleep(wait)
            await self._crosspost(message, target, retry=False)

        task = asyncio.create_task(retry(), name=f"discord-crosspost-{message.id}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    @property
    def pending_crossposts(self) -> int:
        """Crossposts waiting out Discord's hourly limit (dropped at stop: the posts are sent,
        only their publication to followers is lost)."""
        return len(self._later)

    # -- forum channels -----------------------------------------------------------------------

    async def _post_in_forum(
        self,
        forum: discord.ForumChannel,
        target: Target,
        reply: Reply,
        skip: int,
        ids: list[str],
    ) -> list[str]:
        """One forum post for ``reply``: its first message opens the post, the others go
        inside it; the forum's tags that match the reply's headings are applied.

        The post's id is remembered (``meta``) so a retry that ``skip``s the first messages
        continues inside the same post instead of opening a second one.
        """
        messages = render_embeds(reply)
        name = thread_name(reply)
        key = _FORUM_POST_KEY.format(
            forum=forum.id, name=hashlib.sha256(name.encode()).hexdigest()[:16]
        )
        thread: discord.abc.Messageable
        if skip == 0:
            sections = [b.text for b in reply.blocks if isinstance(b, Heading)]
            tags = match_tags(forum.available_tags, sections, required=forum.flags.require_tag)
            async with self._payload(messages[0], str(target)) as payload:
                created = await forum.create_thread(name=name, applied_tags=tags, **payload)
            ids.append(str(created.message.id))
            await self.services.meta.set_meta(key, str(created.thread.id))
            thread = created.thread
            skip = 1
        else:
            known = await self.services.meta.get_meta(key)
            if not known:
                raise PermanentError(
                    f"the forum post {name!r} of an earlier attempt in {target} is unknown; "
                    "its remaining messages can't be added to it"
                )
            thread = self._require_client().get_partial_messageable(int(known))
        for message in messages[skip:]:
            async with self._payload(message, str(target)) as payload:
                sent = await thread.send(**payload)
            ids.append(str(sent.id))
        return ids

    def _require_client(self) -> Client:
        if self._client is None:
            raise TransientError("the Discord adapter is not running")
        return self._client


def _log_gateway_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("discord: the gateway connection ended", exc_info=task.exception())


async def _ready(reply: Reply) -> Reply:
    return reply


def _asker(interaction: discord.Interaction[Any]) -> str:
    """Whose "More" buttons a reply's saved continuation counts against."""
    return f"{PLATFORM}:user {interaction.user.id}"
