"""The base of the fake Discord: state, stop, world building, failure injection, observation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any, Literal, cast

from aiohttp import web

from tests.fakes.discord.conformance import conform
from tests.fakes.discord.errors import _FormErrors
from tests.fakes.discord.protocol import (
    _T,
    CHANNEL_ANNOUNCEMENT_THREAD,
    CHANNEL_DM,
    CHANNEL_FLAG_REQUIRE_TAG,
    CHANNEL_GROUP_DM,
    CHANNEL_GUILD_ANNOUNCEMENT,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    CHANNEL_GUILD_TEXT,
    CHANNEL_PUBLIC_THREAD,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    INSTALL_GUILD,
    INSTALL_USER,
    JSON,
    _Snowflakes,
)
from tests.fakes.discord.records import (
    ChannelRecord,
    CommandSync,
    ForumTag,
    GatewayConnection,
    GatewaySession,
    GuildRecord,
    InteractionRecord,
    MessageRecord,
    RequestRecord,
    UserRecord,
    _Bucket,
    _Ctx,
    _Failure,
    _RateRule,
    _Route,
)
from tests.fakes.violations import ProtocolViolations


class _Core(ProtocolViolations):
    """State, world building, failure injection, observation and small lookups.

    The bottom of the chain ``_Core`` <- ``_Payloads`` <- ``_Gateway`` <- ``_Handlers`` <-
    ``_InteractionEndpoints`` <- ``_Interactions`` <- ``_Rest`` <- :class:`FakeDiscord`: each
    layer uses only what lies below it, so the whole is checked by a type checker like one class.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int | None = None,
        bot_username: str = "dlw-bot",
        heartbeat_interval: float = 41.25,
        interaction_ack_timeout: float = 3.0,
        interaction_token_ttl: float = 900.0,
        allowed_privileged_intents: int = 0,
        shard_count: int = 1,
        default_rate_limit: tuple[int, float] = (50, 1.0),
        global_rate_limit: int | None = None,
        install_types: Sequence[int] = (INSTALL_GUILD, INSTALL_USER),
        crosspost_limit: tuple[int, float] = (10, 3600.0),
    ) -> None:
        self._ids = _Snowflakes()
        self.application_id: int = application_id or self._ids.next()
        self.bot = UserRecord(self.application_id, bot_username, bot=True)
        self.token: str = token or self._make_token()
        self.heartbeat_interval = heartbeat_interval
        self.interaction_ack_timeout = interaction_ack_timeout
        self.interaction_token_ttl = interaction_token_ttl
        self.allowed_privileged_intents = allowed_privileged_intents
        self.shard_count = shard_count
        self.default_rate_limit = default_rate_limit
        self.global_rate_limit = global_rate_limit
        #: How the application may be installed (Developer Portal → Installation): guild
        #: install (0) and, when enabled there, user install (1).
        self.install_types: frozenset[int] = frozenset(install_types)
        #: Crossposts per announcement channel and window (Discord: 10 an hour).
        self.crosspost_limit = crosspost_limit
        #: Users who installed the application to their account (user install).
        self.user_installs: set[int] = set()

        self.users: dict[int, UserRecord] = {self.bot.id: self.bot}
        self.guilds: dict[int, GuildRecord] = {}
        self.channels: dict[int, ChannelRecord] = {}
        self._removed_channels: set[int] = set()
        self._dm_channel_of: dict[int, int] = {}
        self.messages: dict[int, MessageRecord] = {}
        self.commands: dict[int | None, list[JSON]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self.command_syncs: list[CommandSync] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.requests: list[RequestRecord] = []
        self.sessions: list[GatewaySession] = []
        self.gateway_connections: list[GatewayConnection] = []
        #: Requests Discord would accept but that cannot be what the bot meant (fields the API
        #: does not know, flags it drops); checked against the OpenAPI tables. See __aexit__.
        self.protocol_violations: list[str] = []

        self._failures: list[_Failure] = []
        self._rate_rules: list[_RateRule] = []
        self._buckets: dict[str, _Bucket] = {}
        self._global_window: tuple[float, int] = (0.0, 0)
        self._cond = asyncio.Condition()
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._requests_in_flight = 0
        self._port: int | None = None
        self._default_user_id: int | None = None
        self._routes = self._build_routes()

    def _build_routes(self) -> list[_Route]:
        """The REST routes; the REST layer fills them in."""
        return []

    # ----------------------------------------------------------------- lifecycle

    async def stop(self) -> None:
        """Close open gateway sockets (1001, like a Discord restart) and the server."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"Going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        """Stop; then fail the test if the bot sent what Discord would silently ignore.

        Only when the test is not already failing for another reason. Tests that provoke
        violations on purpose read them with ``take_violations()``.
        """
        await self.stop()
        self._fail_on_violations(exc_type, "Discord's API")

    def _conform(
        self, ctx: _Ctx, body: Any, schema: str, errors: _FormErrors, path: Sequence[str | int] = ()
    ) -> None:
        """Check a body against the OpenAPI tables: bad values into ``errors``, unknown fields
        into ``protocol_violations``."""
        where = f"{ctx.method} {_redacted(ctx.path)}"
        self.protocol_violations.extend(conform(body, schema, errors, where=where, path=path))

    def _check_flags(self, ctx: _Ctx, flags: Any, settable: int) -> int:
        """The flags Discord keeps; bits a bot may not set here are dropped by Discord, so
        asking for them is a protocol violation."""
        value = int(flags or 0)
        if value & ~settable:
            self.protocol_violations.append(
                f"{ctx.method} {_redacted(ctx.path)}: flags {value} include {value & ~settable}, "
                f"which a bot cannot set here (settable: {settable}); Discord drops them"
            )
        return value & settable

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/resume"

    @property
    def bot_user(self) -> JSON:
        """The bot's full user object as ``GET /users/@me`` returns it."""
        data = self.bot.public()
        data.update(
            {"verified": True, "mfa_enabled": True, "email": None, "locale": "en-US", "bio": ""}
        )
        return data

    def _make_token(self) -> str:
        """Same three-part shape as a real bot token (base64 id . timestamp . hmac)."""
        head = base64.urlsafe_b64encode(str(self.application_id).encode()).decode().rstrip("=")
        return f"{head}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"

    # ----------------------------------------------------------------- world building

    def add_user(self, user_id: int, username: str, dms_open: bool = True) -> UserRecord:
        """Add (or update) a user; ``dms_open=False`` makes DMs fail with 50007."""
        user = self.users.get(user_id)
        if user is None:
            user = UserRecord(user_id, username, dms_open=dms_open)
            self.users[user_id] = user
        else:
            user.username = username
            user.dms_open = dms_open
        return user

    def add_guild(
        self,
        guild_id: int,
        name: str,
        channels: Sequence[int | tuple[int, str]] = (),
        threads: Sequence[tuple[int, int] | tuple[int, int, str]] = (),
        members: Sequence[int] = (),
        *,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        owner_id: int | None = None,
    ) -> GuildRecord:
        """Add a guild the bot is a member of (must happen before the client identifies).

        Unknown member ids become users named ``user<id>``.
        """
        for member_id in members:
            if member_id not in self.users:
                self.add_user(member_id, f"user{member_id}")
        guild = GuildRecord(
            id=guild_id,
            name=name,
            owner_id=owner_id or (members[0] if members else self.bot.id),
            bot_role_id=self._ids.next(),
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
            channel_ids=[],
            member_ids=list(members),
        )
        self.guilds[guild_id] = guild
        for position, spec in enumerate(channels):
            channel_id, channel_name = spec if isinstance(spec, tuple) else (spec, None)
            self.channels[channel_id] = ChannelRecord(
                id=channel_id,
                type=CHANNEL_GUILD_TEXT,
                name=channel_name or f"channel-{position}",
                guild_id=guild_id,
                position=position,
            )
            guild.channel_ids.append(channel_id)
        for thread in threads:
            thread_id, parent_id, *rest = thread
            thread_name = str(rest[0]) if rest else f"thread-{thread_id}"
            self.channels[thread_id] = ChannelRecord(
                id=thread_id,
                type=CHANNEL_PUBLIC_THREAD,
                name=str(thread_name),
                guild_id=guild_id,
                parent_id=parent_id,
                owner_id=self.bot.id,
            )
            guild.channel_ids.append(thread_id)
        return guild

    def add_channel(
        self,
        guild_id: int,
        channel_id: int,
        name: str,
        *,
        type: int = CHANNEL_GUILD_TEXT,
        tags: Sequence[tuple[int, str] | tuple[int, str, bool]] = (),
        require_tag: bool = False,
    ) -> ChannelRecord:
        """Add a channel of any guild type (before the client identifies, for its cache):
        text (0), announcement (5), forum (15) or media (16). ``tags`` are a forum's
        ``(id, name[, moderated])``; ``require_tag`` sets the forum's REQUIRE_TAG flag."""
        if type not in (
            CHANNEL_GUILD_TEXT,
            CHANNEL_GUILD_ANNOUNCEMENT,
            CHANNEL_GUILD_FORUM,
            CHANNEL_GUILD_MEDIA,
        ):
            raise ValueError(f"add_channel models channel types 0, 5, 15 and 16, not {type}")
        forum = type in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA)
        if (tags or require_tag) and not forum:
            raise ValueError("only forum and media channels have tags")
        if len(tags) > 20:
            raise ValueError("a forum has at most 20 tags")
        guild = self.guilds[guild_id]
        channel = ChannelRecord(
            id=channel_id,
            type=type,
            name=name,
            guild_id=guild_id,
            position=len(guild.channel_ids),
            flags=CHANNEL_FLAG_REQUIRE_TAG if require_tag else 0,
            available_tags=[
                ForumTag(t[0], t[1], bool(t[2]) if len(t) > 2 else False) for t in tags
            ],
        )
        self.channels[channel_id] = channel
        guild.channel_ids.append(channel_id)
        return channel

    def add_private_channel(
        self, channel_id: int, members: Sequence[int], *, name: str | None = None
    ) -> ChannelRecord:
        """A DM between users (two members) or a group DM (more): the bot is no member, so
        it can only answer interactions there (a user-installed command), never post."""
        for member_id in members:
            if member_id not in self.users:
                self.add_user(member_id, f"user{member_id}")
        group = len(members) > 2
        channel = ChannelRecord(
            id=channel_id,
            type=CHANNEL_GROUP_DM if group else CHANNEL_DM,
            name=name if group else None,
            guild_id=None,
            owner_id=members[0] if group and members else None,
            recipient_ids=list(members),
        )
        self.channels[channel_id] = channel
        return channel

    def install_for_user(self, user_id: int) -> None:
        """The user adds the application to their account (user install); the application
        must allow it (``install_types``)."""
        if INSTALL_USER not in self.install_types:
            raise PermissionError("the application does not offer user install")
        self._user(user_id)
        self.user_installs.add(user_id)

    def deny_bot(self, channel_id: int, permissions: int) -> None:
        """Add a channel overwrite denying ``permissions`` to the bot's role."""
        self._channel(channel_id).bot_deny |= permissions

    def remove_channel(self, channel_id: int) -> None:
        """Delete a channel: later requests get 404/10003 "Unknown Channel"."""
        channel = self.channels.pop(channel_id)
        self._removed_channels.add(channel_id)
        if channel.guild_id is not None:
            guild = self.guilds[channel.guild_id]
            guild.channel_ids.remove(channel_id)

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
        scope: Literal["user", "shared", "global"] = "user",
        via: bool = True,
        errors: JSON | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status``.

        ``method`` may be ``"*"``.  ``path_regex`` is ``re.fullmatch``-ed against the path
        after ``/api/v10`` (e.g. ``r"/channels/\\d+/messages"``).  Without ``code`` /
        ``message`` Discord's usual pair for the status is used.  502/504 answer with
        Cloudflare's HTML page, as the real edge does.
        """
        self._failures.append(
            _Failure(
                method=None if method == "*" else method.upper(),
                pattern=re.compile(path_regex),
                status=status,
                code=code,
                message=message,
                retry_after=retry_after,
                remaining=times,
                scope=scope,
                via=via,
                errors=errors,
            )
        )

    def rate_limit(
        self,
        route_regex: str,
        per_second: int,
        *,
        window: float = 1.0,
        method: str | None = None,
    ) -> None:
        """Enforce a bucket of ``per_second`` requests per ``window`` seconds.

        Responses carry the real X-RateLimit headers, so discord.py's bucket logic sees
        ``Remaining: 0`` and waits by itself; a client that ignores them gets a 429.
        """
        self._rate_rules.insert(
            0,
            _RateRule(
                method=method.upper() if method else None,
                pattern=re.compile(route_regex),
                limit=per_second,
                window=window,
            ),
        )

    # ----------------------------------------------------------------- observation

    async def _notify(self) -> None:
        if self._requests_in_flight:
            return  # _handle_rest notifies after its response is written
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[], _T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - a timeout argument is the documented test API
    ) -> _T:
        """Wait until ``predicate()`` is truthy and return its value.

        The predicate is re-evaluated whenever the fake records anything (request,
        gateway frame, callback...), so there is no polling interval to tune.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    result = await self._cond.wait_for(predicate)
                    return cast(_T, result)
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s\n{self.summary()}") from None

    async def wait_for_response(
        self,
        interaction: InteractionRecord,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - see wait_for
    ) -> InteractionRecord:
        """Wait until the bot did ``count`` successful things (callback, followups, edits).

        Rejected callbacks are not events; wait on ``interaction.callbacks`` for those.
        """
        await self.wait_for(lambda: len(interaction.events) >= count, timeout=timeout)
        return interaction

    async def wait_until_identified(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 - see wait_for
        *,
        count: int = 1,
    ) -> GatewaySession:
        """Wait for IDENTIFY + READY + GUILD_CREATEs (not for ``on_ready``)."""
        await self.wait_for(lambda: len(self.sessions) >= count, timeout=timeout)
        return self.sessions[count - 1]

    def requests_to(self, method: str, path_regex: str) -> list[RequestRecord]:
        pattern = re.compile(path_regex)
        return [
            r
            for r in self.requests
            if (method == "*" or r.method == method.upper()) and pattern.fullmatch(r.path)
        ]

    def channel_messages(
        self, channel_id: int, *, include_interactions: bool = True
    ) -> list[MessageRecord]:
        """Live (not deleted) messages in a channel, oldest first."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id
            and not m.deleted
            and (include_interactions or m.source in ("channel", "user"))
        ]

    def threads_in(self, forum_id: int) -> list[ChannelRecord]:
        """The posts (threads) of a forum or media channel, oldest first."""
        return sorted(
            (
                c
                for c in self.channels.values()
                if c.parent_id == forum_id
                and c.type in (CHANNEL_PUBLIC_THREAD, CHANNEL_ANNOUNCEMENT_THREAD)
            ),
            key=lambda c: c.id,
        )

    def dm_messages(self, user_id: int) -> list[MessageRecord]:
        channel_id = self._dm_channel_of.get(user_id)
        return [] if channel_id is None else self.channel_messages(channel_id)

    def sync_count(self, guild_id: int | None = None) -> int:
        """Successful bulk overwrites for a scope (``None`` = global commands)."""
        return sum(
            1 for s in self.command_syncs if s.guild_id == guild_id and 200 <= s.status < 300
        )

    def registered_commands(self, guild_id: int | None = None) -> list[JSON]:
        return list(self.commands.get(guild_id, []))

    def summary(self, last: int = 15) -> str:
        """Human-readable recent traffic, used in timeout assertions."""
        lines = [f"recent REST requests (last {last} of {len(self.requests)}):"]
        for r in self.requests[-last:]:
            code = f" code={r.error_code}" if r.error_code else ""
            path = re.sub(r"/([\w-]{12})[\w-]{28,}", r"/\1...", r.path)  # shorten tokens
            lines.append(f"  {r.method} {path} -> {r.status}{code}")
        lines.append(
            "gateway sessions: "
            + (
                ", ".join(
                    f"{s.session_id[:8]} seq={s.seq} connected={s.connected} "
                    f"resumes={s.resumes} invalidated={s.invalidated}"
                    for s in self.sessions
                )
                or "none (client never identified)"
            )
        )
        for i in list(self.interactions.values())[-5:]:
            lines.append(
                f"interaction {i.name} id={i.id}: callbacks="
                f"{[(c.type, c.status) for c in i.callbacks]} events="
                f"{[e.kind for e in i.events]}"
            )
        return "\n".join(lines)

    # ----------------------------------------------------------------- small lookups

    def _user(self, user_id: int) -> UserRecord:
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}; add_user() it first") from None

    def _channel(self, channel_id: int) -> ChannelRecord:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise KeyError(f"unknown channel {channel_id}") from None

    def _default_user(self) -> UserRecord:
        if self._default_user_id is None:
            humans = [u for u in self.users.values() if not u.bot]
            if humans:
                self._default_user_id = humans[0].id
            else:
                self._default_user_id = self.add_user(self._ids.next(), "tester").id
        return self.users[self._default_user_id]

    def _dm_channel(self, user_id: int) -> ChannelRecord:
        channel_id = self._dm_channel_of.get(user_id)
        if channel_id is None:
            channel_id = self._ids.next()
            self.channels[channel_id] = ChannelRecord(
                id=channel_id, type=CHANNEL_DM, name=None, guild_id=None, recipient_id=user_id
            )
            self._dm_channel_of[user_id] = channel_id
        return self.channels[channel_id]


def _redacted(path: str) -> str:
    """A request path with interaction/webhook tokens shortened, for reports."""
    return re.sub(r"/([\w-]{12})[\w-]{28,}", r"/\1...", path)
