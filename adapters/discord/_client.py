"""The discord.py client the adapter runs: intents, where it connects, READY, dynamic items."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import discord
import yarl
from discord import app_commands

from adapters.discord._actions import ActionButton, PressesAction
from adapters.discord._more import MoreButton, PressesMore
from adapters.discord.settings import Shards

__all__ = [
    "INTENTS",
    "MAX_RATE_LIMIT_WAIT",
    "NO_MENTIONS",
    "Client",
    "ClientAdapter",
    "ShardedClient",
    "make_client",
    "point_discord_at",
]

#: A 429 asking to wait longer than this surfaces as ``RateLimited`` instead of blocking a send.
MAX_RATE_LIMIT_WAIT = 30.0
NO_MENTIONS = discord.AllowedMentions.none()


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


class ClientAdapter(PressesMore, PressesAction, Protocol):
    """What the client hands interactions it can't route to: the adapter's error handling."""

    async def command_failed(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None: ...


class _Tree(app_commands.CommandTree["Client"]):
    async def on_error(
        self, interaction: discord.Interaction[Client], error: app_commands.AppCommandError
    ) -> None:
        await self.client.adapter.command_failed(interaction, error)


class Client(discord.Client):
    """A discord.py client that knows its adapter and signals the gateway's READY."""

    def __init__(self, adapter: ClientAdapter, **sharding: Any) -> None:
        super().__init__(
            **sharding,
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
        self.add_dynamic_items(MoreButton, ActionButton)

    async def on_connect(self) -> None:
        """READY was received: interactions are dispatched from now on."""
        self.connected.set()

    async def on_disconnect(self) -> None:
        """The gateway connection dropped (discord.py reconnects): not ready until it is back."""
        self.connected.clear()


class ShardedClient(Client, discord.AutoShardedClient):
    """The same client running a set of gateway shards (``DLW_DISCORD_SHARDS``): each shard
    IDENTIFYs with ``[shard_id, shard_count]`` and Discord sends it the events of the servers
    with ``(guild_id >> 22) % shard_count == shard_id``. Interactions arrive on the shard of
    their server, and are answered over REST like everything this bot sends."""


def make_client(adapter: ClientAdapter, shards: Shards | None) -> Client:
    """One unsharded connection, or the shards asked for (``count`` None: Discord's count)."""
    if shards is None:
        return Client(adapter)
    return ShardedClient(
        adapter,
        shard_ids=list(shards.ids) if shards.ids is not None else None,
        shard_count=shards.count,
    )
