"""A small but faithful fake of Discord (REST API + websocket gateway) for tests.

Why this exists
===============
Mocking ``discord.Interaction`` only proves that our code calls the mock the way the
test author imagined.  This module instead runs *one* aiohttp server on 127.0.0.1
(random free port) that speaks Discord's wire protocol, so the **real, unmodified**
discord.py 2.7 ``discord.Client`` with an ``app_commands.CommandTree`` logs in,
identifies on the gateway, receives ``INTERACTION_CREATE`` and answers through exactly
the HTTP calls it would make against discord.com.  The fake records what Discord would
have received (payloads, ``flags``, ``allowed_mentions``, response latency) and answers
with Discord's real status codes, JSON error codes/messages and headers, so that the
library's own machinery (rate-limit buckets and 429 retries, ``Forbidden``/``NotFound``
mapping, ``50035 Invalid Form Body`` parsing) is exercised instead of bypassed.

It never imports discord.py: it is an independent model of the API, written from the
API documentation and from what discord.py 2.7.1 sends and parses.  It only ever binds
and links to loopback addresses.

Pointing discord.py at the fake (both attributes are read at use time)::

    discord.http.Route.BASE = fake.root + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

Restore both afterwards.  A plain ``Client`` never calls ``/gateway/bot``;
``AutoShardedClient`` does, and both are served.  Close the client *before* stopping
the fake, otherwise discord.py sees close code 1001 and starts reconnecting.

Test-facing API (every coroutine must run on the loop that started the fake)
=============================================================================
Lifecycle / addresses
    ``FakeDiscord(*, token=None, application_id=None, bot_username="dlw-bot",
    heartbeat_interval=41.25, interaction_ack_timeout=3.0, interaction_token_ttl=900.0,
    allowed_privileged_intents=0, shard_count=1, default_rate_limit=(50, 1.0),
    global_rate_limit=None)``;
    ``await start()`` / ``await stop()`` / ``async with FakeDiscord() as fake``;
    ``.root`` (``http://127.0.0.1:PORT``), ``.gateway_url`` (``ws://127.0.0.1:PORT/``),
    ``.resume_gateway_url``, ``.token``, ``.application_id``, ``.bot_user`` (JSON).
World
    ``add_guild(guild_id, name, channels=[id | (id, name)], threads=[(thread_id,
    parent_id)], members=[user_id], *, bot_permissions=DEFAULT_BOT_PERMISSIONS,
    everyone_permissions=DEFAULT_MEMBER_PERMISSIONS, owner_id=None)``,
    ``add_user(user_id, username, dms_open=True)``, ``close_dms(user_id)``,
    ``open_dms(user_id)``, ``deny_bot(channel_id, permissions)`` (channel overwrite
    against the bot: no VIEW_CHANNEL -> 403/50001 "Missing Access", no SEND_MESSAGES ->
    403/50013 "Missing Permissions"), ``remove_channel(channel_id)`` (-> 404/10003).
Interactions (each returns an :class:`InteractionRecord` as soon as it is dispatched)
    ``await invoke_slash(name, options=None, *, guild_id=None, channel_id=None,
    user_id=None, permissions=DEFAULT_MEMBER_PERMISSIONS, in_dm=False, locale="en-US")``,
    ``await invoke_autocomplete(name, options, *, focused, ...)``,
    ``await press_component(message, custom_id, *, values=None, ...)``,
    ``await submit_modal(interaction, values, *, ...)``.  Records expose ``callbacks``
    (type, data, ``elapsed`` since dispatch, status), ``response`` /
    ``response_type`` / ``response_time``, ``followups``, ``original``,
    ``original_edits`` and ``events`` (every successful thing the bot did, in order).
Gateway control
    ``await wait_until_identified(timeout=5.0)`` (does *not* wait for ``on_ready``,
    which discord.py only fires ``guild_ready_timeout`` = 2 s after the last
    GUILD_CREATE), ``.sessions``, ``.gateway_connections``, ``.identified_intents``,
    ``await dispatch_event(event, data, *, guild_id=None)``,
    ``await request_reconnect()`` (op 7), ``await invalidate_session(resumable=False)``
    (op 9), ``await drop_connection(code=4000)``,
    ``await post_user_message(channel_id, user_id, content)`` (MESSAGE_CREATE gated by
    the MESSAGE_CONTENT intent the way Discord gates it),
    ``await sync_with_client()`` (asks the client for a heartbeat and waits for it: a
    barrier used before simulated clicks so the bot has stored its views).
Observation
    ``.requests`` (every REST request: method, path, query, json, files, status),
    ``requests_to(method, path_regex)``, ``channel_messages(channel_id)``,
    ``dm_messages(user_id)``, ``.messages``, ``.interactions``, ``.command_syncs`` /
    ``sync_count(guild_id=...)``, ``registered_commands(guild_id=None)``,
    ``await wait_for(predicate, timeout=5.0)`` (wakes on every recorded event via an
    ``asyncio.Condition``; never polls; raises ``AssertionError`` with a summary of
    recent traffic on timeout; for REST requests waiters wake only after the response
    has been written, so the client has it), ``await wait_for_response(interaction,
    count=1)``, ``summary()``.
Failure injection
    ``fail_next(method, path_regex, *, status, code=None, message=None,
    retry_after=None, times=1, scope="user", via=True, errors=None)``
    (``path_regex`` is ``re.fullmatch``-ed against the path after ``/api/v10``; 429s
    carry ``Via`` and X-RateLimit-* headers unless ``via=False``, which is what a
    Cloudflare ban looks like; ``scope="global"`` makes a global 429),
    ``rate_limit(route_regex, per_second, *, window=1.0, method=None)`` (a real bucket:
    discord.py sees the headers and pre-emptively waits).

What is modelled
================
* Gateway v10: HELLO (op 10) with ``heartbeat_interval``; heartbeats (op 1 -> op 11,
  also before IDENTIFY); IDENTIFY (op 2) -> READY (``v``, ``user``, unavailable
  ``guilds``, ``session_id``, ``resume_gateway_url`` pointing back at the fake,
  ``application {id, flags}``, ``shard`` when sharded) then one GUILD_CREATE per guild
  of that shard (channels, threads, roles, the bot member, ``large=false``), sequence
  numbers; RESUME (op 6) replays missed dispatches then RESUMED, unknown/invalidated
  sessions get op 9 ``false``; clean closes (1000/1001) invalidate the session like
  Discord does; REQUEST_GUILD_MEMBERS (op 8) -> GUILD_MEMBERS_CHUNK; close codes 4001
  (unknown opcode), 4002 (decode error), 4003 (not authenticated), 4004 (bad token),
  4005 (already authenticated), 4010 (invalid shard), 4012 (API version), 4013
  (invalid intents), 4014 (privileged intents not enabled for the application, see
  ``allowed_privileged_intents``).  Frames are sent as TEXT JSON frames: discord.py asks
  for ``compress=zlib-stream`` but only inflates BINARY frames.
* REST: JSON bodies with ``Content-Type: application/json`` exactly (discord.py only
  parses that), multipart bodies (``payload_json`` + ``files[n]``), ``Via`` and
  X-RateLimit-{Limit,Remaining,Reset,Reset-After,Bucket} on every routed response,
  X-RateLimit-Scope/Global + ``Retry-After`` on 429s, bot-token auth (401), snowflake
  path validation, 404/405 for unknown routes/methods, API version check (50041).
* Message validation like Discord (400/50035 with the nested ``errors`` tree, or
  50006 "Cannot send an empty message"): content <= 2000, <= 10 embeds, title <= 256,
  description <= 4096, <= 25 fields, field name <= 256 / value <= 1024 (both required),
  footer <= 2048, author name <= 256, <= 6000 characters over all embeds
  (``MAX_EMBED_SIZE_EXCEEDED``), <= 5 action rows of <= 5 components, custom_id <= 100,
  label <= 80, ``allowed_mentions`` parse/list exclusivity; ``mentions`` /
  ``mention_everyone`` in returned messages honour ``allowed_mentions``.
* Application commands: bulk overwrite (PUT) with Discord's validation (names
  ``^[-_'\\p{L}\\p{N}]{1,32}$`` lowercase, descriptions 1-100, <= 25 options/choices,
  required-before-optional, unique names, 4000-character size, 100 commands), stable
  ids across re-syncs, every PUT recorded.
* Interactions: callback types 4/5/6/7/8/9 with per-interaction-type allowed sets,
  40060 "Interaction has already been acknowledged.", 10062 "Unknown interaction" after
  ``interaction_ack_timeout`` (3 s), ``with_response`` -> InteractionCallbackResponse
  (``interaction`` + ``resource``; ``message`` only for types 4 and 7, as documented),
  followups (``wait`` is always true; the first followup after a type-5 defer edits the
  loading message, as Discord documents), @original and followup GET/PATCH/DELETE,
  10015 "Unknown Webhook" before acknowledgement, 50027 after the 15-minute token TTL.
* DMs: POST /users/@me/channels always succeeds; sending to a user with closed DMs
  returns 403/50007 "Cannot send messages to this user".
* Gateway MESSAGE_CREATE/UPDATE/DELETE for messages the bot sends (GUILD_MESSAGES /
  DIRECT_MESSAGES intents), as Discord echoes the bot's own messages.

Limits (cannot be faked faithfully, or deliberately not modelled)
================================================================
* Only the JSON gateway encoding; ``encoding=etf`` is closed with 4002 and payload
  compression is never applied (TEXT frames only).
* Interaction callback ``resource`` for types 5/6/8/9 is returned as ``{"type": N}``;
  Discord documents ``message`` only for types 4/7 and the live shape of the others
  is unverified here.
* The exact error bodies for invalid callback types (modelled as 50035
  ``BASE_TYPE_CHOICES``), for DMs to unknown users (modelled as 404/10013) and for
  foreign application ids (modelled as 403/20012) are best-effort.
* String lengths are counted in Python code points; Discord's counting of astral-plane
  characters is not verified.  Markdown, link previews, unfurled embeds, polls, stickers,
  attachments as command options, subcommands in ``invoke_slash`` options dicts,
  audit-log reasons, sub-rate-limits and shared buckets across routes, gateway
  send-rate limiting (120/60 s) and server-side heartbeat-timeout closes are not
  modelled.
* Permissions are a flat model: @everyone + the bot's managed role + one per-channel
  deny overwrite for the bot; invoking members carry whatever ``permissions`` the test
  passes.  Without embed/attach permission Discord's silent embed stripping is not
  modelled (missing ATTACH_FILES is a 403/50013).
* Timing: real network latency, Cloudflare edge behaviour and global-command
  propagation delays cannot be reproduced.  The fake cannot observe when discord.py
  has *finished* handling an HTTP response (e.g. stored a view), only when the bytes
  were written; ``sync_with_client`` narrows that gap with a gateway round trip but is
  a barrier by convention, not a guarantee.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import math
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self, TypeAlias, TypeVar, cast

from aiohttp import WSMsgType, web

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_MEMBER_PERMISSIONS",
    "EMBED_LINKS",
    "INTENT_GUILDS",
    "INTENT_GUILD_MEMBERS",
    "INTENT_GUILD_PRESENCES",
    "INTENT_MESSAGE_CONTENT",
    "MENTION_EVERYONE",
    "MESSAGE_FLAG_EPHEMERAL",
    "MESSAGE_FLAG_LOADING",
    "PRIVILEGED_INTENTS",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "AttachmentRecord",
    "CallbackRecord",
    "ChannelRecord",
    "CommandSync",
    "DiscordHTTPError",
    "FakeDiscord",
    "GatewayConnection",
    "GatewaySession",
    "GuildRecord",
    "InteractionRecord",
    "MessageRecord",
    "RequestRecord",
    "ResponseEvent",
    "UserRecord",
]

JSON: TypeAlias = dict[str, Any]
_T = TypeVar("_T")

# --------------------------------------------------------------------------------------
# Protocol constants
# --------------------------------------------------------------------------------------

API_VERSIONS: Final = frozenset({9, 10})
GATEWAY_VERSIONS: Final = frozenset({"9", "10"})
DISCORD_EPOCH_MS: Final = 1_420_070_400_000

OP_DISPATCH: Final = 0
OP_HEARTBEAT: Final = 1
OP_IDENTIFY: Final = 2
OP_PRESENCE_UPDATE: Final = 3
OP_VOICE_STATE_UPDATE: Final = 4
OP_RESUME: Final = 6
OP_RECONNECT: Final = 7
OP_REQUEST_GUILD_MEMBERS: Final = 8
OP_INVALID_SESSION: Final = 9
OP_HELLO: Final = 10
OP_HEARTBEAT_ACK: Final = 11
OP_REQUEST_SOUNDBOARD_SOUNDS: Final = 31

INTENT_GUILDS: Final = 1 << 0
INTENT_GUILD_MEMBERS: Final = 1 << 1
INTENT_GUILD_PRESENCES: Final = 1 << 8
INTENT_GUILD_MESSAGES: Final = 1 << 9
INTENT_DIRECT_MESSAGES: Final = 1 << 12
INTENT_MESSAGE_CONTENT: Final = 1 << 15
PRIVILEGED_INTENTS: Final = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT
#: Every intent bit the v10 gateway accepts (bits 0-16, 20, 21, 24, 25).
VALID_INTENTS: Final = sum(1 << b for b in (*range(17), 20, 21, 24, 25))

CREATE_INSTANT_INVITE: Final = 1 << 0
ADMINISTRATOR: Final = 1 << 3
ADD_REACTIONS: Final = 1 << 6
STREAM: Final = 1 << 9
VIEW_CHANNEL: Final = 1 << 10
SEND_MESSAGES: Final = 1 << 11
MANAGE_MESSAGES: Final = 1 << 13
EMBED_LINKS: Final = 1 << 14
ATTACH_FILES: Final = 1 << 15
READ_MESSAGE_HISTORY: Final = 1 << 16
MENTION_EVERYONE: Final = 1 << 17
USE_EXTERNAL_EMOJIS: Final = 1 << 18
CONNECT: Final = 1 << 20
SPEAK: Final = 1 << 21
USE_VAD: Final = 1 << 25
CHANGE_NICKNAME: Final = 1 << 26
USE_APPLICATION_COMMANDS: Final = 1 << 31
CREATE_PUBLIC_THREADS: Final = 1 << 35
CREATE_PRIVATE_THREADS: Final = 1 << 36
USE_EXTERNAL_STICKERS: Final = 1 << 37
SEND_MESSAGES_IN_THREADS: Final = 1 << 38
SEND_POLLS: Final = 1 << 49
USE_EXTERNAL_APPS: Final = 1 << 50
ALL_PERMISSIONS: Final = (1 << 51) - 1

#: Roughly the @everyone permissions of a freshly created guild.
DEFAULT_MEMBER_PERMISSIONS: Final = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | STREAM
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | USE_VAD
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | USE_EXTERNAL_STICKERS
    | SEND_MESSAGES_IN_THREADS
    | SEND_POLLS
    | USE_EXTERNAL_APPS
)
#: What a bot invited with the usual "send messages" scope gets on its managed role.
DEFAULT_BOT_PERMISSIONS: Final = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | USE_EXTERNAL_EMOJIS
)
#: app_permissions Discord reports in a DM with the bot (documented bits + basics).
DM_APP_PERMISSIONS: Final = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | EMBED_LINKS
    | ATTACH_FILES
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
)

MESSAGE_FLAG_SUPPRESS_EMBEDS: Final = 1 << 2
MESSAGE_FLAG_EPHEMERAL: Final = 1 << 6
MESSAGE_FLAG_LOADING: Final = 1 << 7
MESSAGE_FLAG_SUPPRESS_NOTIFICATIONS: Final = 1 << 12
MESSAGE_FLAG_IS_VOICE_MESSAGE: Final = 1 << 13
MESSAGE_FLAG_IS_COMPONENTS_V2: Final = 1 << 15
_SETTABLE_MESSAGE_FLAGS: Final = (
    MESSAGE_FLAG_SUPPRESS_EMBEDS
    | MESSAGE_FLAG_SUPPRESS_NOTIFICATIONS
    | MESSAGE_FLAG_IS_VOICE_MESSAGE
    | MESSAGE_FLAG_IS_COMPONENTS_V2
)

CHANNEL_GUILD_TEXT: Final = 0
CHANNEL_DM: Final = 1
CHANNEL_PUBLIC_THREAD: Final = 11

INTERACTION_APPLICATION_COMMAND: Final = 2
INTERACTION_MESSAGE_COMPONENT: Final = 3
INTERACTION_AUTOCOMPLETE: Final = 4
INTERACTION_MODAL_SUBMIT: Final = 5

CALLBACK_CHANNEL_MESSAGE: Final = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE: Final = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE: Final = 6
CALLBACK_UPDATE_MESSAGE: Final = 7
CALLBACK_AUTOCOMPLETE_RESULT: Final = 8
CALLBACK_MODAL: Final = 9

_ALLOWED_CALLBACKS: Final[dict[int, frozenset[int]]] = {
    INTERACTION_APPLICATION_COMMAND: frozenset({4, 5, 9}),
    INTERACTION_MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    INTERACTION_AUTOCOMPLETE: frozenset({8}),
    INTERACTION_MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

_OPTION_SUB_COMMAND: Final = 1
_OPTION_SUB_COMMAND_GROUP: Final = 2
_OPTION_STRING: Final = 3
_OPTION_INTEGER: Final = 4
_OPTION_BOOLEAN: Final = 5
_OPTION_USER: Final = 6
_OPTION_CHANNEL: Final = 7
_OPTION_ROLE: Final = 8
_OPTION_MENTIONABLE: Final = 9
_OPTION_NUMBER: Final = 10
_OPTION_ATTACHMENT: Final = 11

_SNOWFLAKE_PARAMS: Final = frozenset(
    {
        "application_id",
        "channel_id",
        "command_id",
        "guild_id",
        "interaction_id",
        "message_id",
        "user_id",
        "webhook_id",
    }
)
_MAJOR_PARAMS: Final = ("channel_id", "guild_id", "webhook_id", "interaction_id")

#: Default (code, message) per HTTP status for ``fail_next``.
_DEFAULT_ERRORS: Final[dict[int, tuple[int, str]]] = {
    400: (50035, "Invalid Form Body"),
    401: (0, "401: Unauthorized"),
    403: (50001, "Missing Access"),
    404: (0, "404: Not Found"),
    405: (0, "405: Method Not Allowed"),
    429: (0, "You are being rate limited."),
    500: (0, "500: Internal Server Error"),
    503: (0, "503: Service Unavailable"),
}
_CLOUDFLARE_HTML: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_TRACE: Final = ['["gateway-prd-fake-0",{"micros":0}]']


def _now_iso() -> str:
    """Discord's ISO-8601 timestamp format (microseconds, explicit +00:00)."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _is_snowflake(value: str) -> bool:
    return value.isdigit() and len(value) <= 20 and int(value) < (1 << 64)


class _Snowflakes:
    """Time-ordered snowflake ids so ``discord.utils.snowflake_time`` stays plausible."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17)
        self._last = max(candidate, self._last + 1)
        return self._last


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class DiscordHTTPError(Exception):
    """An error response exactly as Discord shapes it: ``{"message", "code", "errors"?}``.

    Raised inside route handlers and turned into the HTTP response by the dispatcher, so
    handlers read like the API documentation ("if X: Unknown Channel").
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSON | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after = retry_after

    def body(self) -> JSON:
        if self.status == 429:  # rate limits have their own shape and no "code"
            return {
                "message": self.message,
                "retry_after": round(self.retry_after or 0.0, 3),
                "global": self.headers.get("X-RateLimit-Global") == "true",
            }
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _unknown(code: int, what: str) -> DiscordHTTPError:
    return DiscordHTTPError(404, code, f"Unknown {what}")


class _FormErrors:
    """Collects validation failures into Discord's nested ``errors`` tree (50035)."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: Sequence[str | int], value: Any, maximum: int) -> int:
        """Check an optional string; return its length for the embed total."""
        if value is None:
            return 0
        text = str(value)
        if len(text) > maximum:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
        return len(text)

    def required_len(self, path: Sequence[str | int], value: Any, maximum: int) -> int:
        if value is None or str(value) == "":
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return 0
        return self.max_len(path, value, maximum)

    def between(self, path: Sequence[str | int], value: Any, low: int, high: int) -> int:
        text = "" if value is None else str(value)
        if not low <= len(text) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
        return len(text)

    def raise_if_any(self) -> None:
        if self.tree:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", errors=self.tree)


# --------------------------------------------------------------------------------------
# Records (what tests assert on)
# --------------------------------------------------------------------------------------


@dataclass
class AttachmentRecord:
    """A file uploaded in a multipart request (``files[n]``)."""

    id: int
    filename: str
    content_type: str | None
    data: bytes = field(repr=False)
    upload_index: int | None = None
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RequestRecord:
    """One REST request as the fake received it (``path`` excludes ``/api/v10``)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any = field(repr=False)
    files: list[AttachmentRecord] = field(repr=False)
    authorized: bool
    at: float
    status: int | None = None
    error_code: int | None = None
    injected: bool = False


@dataclass
class UserRecord:
    id: int
    username: str
    global_name: str | None = None
    dms_open: bool = True
    bot: bool = False

    def public(self) -> JSON:
        """The public user object Discord embeds in messages, members and interactions."""
        data: JSON = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "7021" if self.bot else "0",
            "avatar": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class ChannelRecord:
    id: int
    type: int
    name: str | None
    guild_id: int | None
    position: int = 0
    parent_id: int | None = None
    recipient_id: int | None = None
    owner_id: int | None = None
    bot_deny: int = 0
    last_message_id: int | None = None
    created_at: str = field(default_factory=_now_iso)


@dataclass
class GuildRecord:
    id: int
    name: str
    owner_id: int
    bot_role_id: int
    bot_permissions: int
    everyone_permissions: int
    channel_ids: list[int]
    member_ids: list[int]
    joined_at: str = field(default_factory=_now_iso)


@dataclass
class MessageRecord:
    """A message as Discord stores it; ``data`` is the message object it returns."""

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    source: Literal["channel", "interaction_response", "followup", "user"]
    data: JSON = field(repr=False)
    payload: JSON = field(repr=False)
    interaction_id: int | None = None
    attachments: list[AttachmentRecord] = field(default_factory=list, repr=False)
    edits: list[JSON] = field(default_factory=list, repr=False)
    deleted: bool = False

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[JSON]:
        return list(self.data.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        return list(self.data.get("components") or [])

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & MESSAGE_FLAG_LOADING)

    @property
    def allowed_mentions(self) -> JSON | None:
        """The ``allowed_mentions`` of the latest request that set it (None: never sent)."""
        for body in (*reversed(self.edits), self.payload):
            if "allowed_mentions" in body:
                value = body["allowed_mentions"]
                return dict(value) if isinstance(value, dict) else None
        return None

    @property
    def mentioned_user_ids(self) -> list[int]:
        """Users this message actually pings (after ``allowed_mentions``)."""
        return [int(u["id"]) for u in self.data.get("mentions") or []]

    @property
    def mention_everyone(self) -> bool:
        return bool(self.data.get("mention_everyone"))


@dataclass
class CallbackRecord:
    """One POST to ``/interactions/{id}/{token}/callback`` (accepted or rejected)."""

    type: Any
    data: JSON | None = field(repr=False)
    elapsed: float
    status: int = 0
    error_code: int | None = None
    files: list[AttachmentRecord] = field(default_factory=list, repr=False)

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class ResponseEvent:
    """Something the bot successfully did in answer to an interaction."""

    kind: Literal[
        "callback",
        "followup",
        "edit_original",
        "edit_followup",
        "delete_original",
        "delete_followup",
    ]
    payload: JSON | None = field(repr=False)
    message: MessageRecord | None
    elapsed: float
    callback_type: int | None = None


@dataclass
class InteractionRecord:
    """An interaction the fake dispatched, and everything the bot did about it."""

    id: int
    token: str
    type: int
    name: str
    guild_id: int | None
    channel_id: int
    user_id: int
    payload: JSON = field(repr=False)
    dispatched_at: float | None = None
    callbacks: list[CallbackRecord] = field(default_factory=list)
    followups: list[MessageRecord] = field(default_factory=list)
    original: MessageRecord | None = None
    events: list[ResponseEvent] = field(default_factory=list)
    source_message_id: int | None = None
    parent: InteractionRecord | None = field(default=None, repr=False)
    modal: JSON | None = field(default=None, repr=False)

    @property
    def response(self) -> CallbackRecord | None:
        """The accepted initial response (callback), if any."""
        return next((c for c in self.callbacks if c.accepted), None)

    @property
    def acknowledged(self) -> bool:
        return self.response is not None

    @property
    def response_type(self) -> int | None:
        response = self.response
        return None if response is None else int(response.type)

    @property
    def response_time(self) -> float | None:
        """Seconds between dispatching INTERACTION_CREATE and the accepted callback."""
        response = self.response
        return None if response is None else response.elapsed

    @property
    def rejected_callbacks(self) -> list[CallbackRecord]:
        return [c for c in self.callbacks if not c.accepted]

    @property
    def original_edits(self) -> list[JSON]:
        """Bodies of successful PATCHes to ``@original`` (the initial response)."""
        return [e.payload for e in self.events if e.kind == "edit_original" and e.payload]


@dataclass
class CommandSync:
    """One bulk overwrite (PUT) of application commands."""

    guild_id: int | None
    payload: list[JSON] = field(repr=False)
    status: int
    at: float


@dataclass
class GatewaySession:
    """A gateway session created by IDENTIFY (survives RESUMEs)."""

    session_id: str
    identify: JSON = field(repr=False)
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    events: list[JSON] = field(default_factory=list, repr=False)
    ws: web.WebSocketResponse | None = field(default=None, repr=False)
    resumes: int = 0
    invalidated: bool = False
    presence: JSON | None = field(default=None, repr=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    @property
    def shard_id(self) -> int:
        return 0 if self.shard is None else self.shard[0]


@dataclass
class GatewayConnection:
    """One websocket connection (a RESUME opens a new connection on the same session)."""

    path: str
    query: dict[str, str]
    opened_at: float
    received: list[JSON] = field(default_factory=list, repr=False)
    heartbeats: int = 0
    session: GatewaySession | None = field(default=None, repr=False)
    close_code: int | None = None
    closed_by_server: bool = False
    ws: web.WebSocketResponse | None = field(default=None, repr=False)


# --------------------------------------------------------------------------------------
# Internal plumbing
# --------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Ctx:
    request: web.Request
    method: str
    path: str
    params: dict[str, str]
    body: Any
    files: list[AttachmentRecord]
    record: RequestRecord


_Handler: TypeAlias = Callable[[_Ctx], Awaitable[_Reply]]


@dataclass
class _Route:
    method: str
    template: str
    handler: _Handler
    auth: bool = True
    global_limit: bool = True
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(pattern)


@dataclass
class _Failure:
    method: str | None
    pattern: re.Pattern[str]
    status: int
    code: int | None
    message: str | None
    retry_after: float | None
    remaining: int
    scope: str
    via: bool
    errors: JSON | None


@dataclass
class _RateRule:
    method: str | None
    pattern: re.Pattern[str]
    limit: int
    window: float


@dataclass
class _Bucket:
    bucket_hash: str
    limit: int
    window: float
    remaining: int = 0
    reset_at: float = 0.0


@dataclass
class _InteractionContext:
    guild: GuildRecord | None
    channel: ChannelRecord
    user: UserRecord
    permissions: int
    locale: str


# --------------------------------------------------------------------------------------
# Pure validation helpers
# --------------------------------------------------------------------------------------


def _walk_components(components: Iterable[Any]) -> Iterable[JSON]:
    """Yield every component dict, recursing through rows, containers and sections."""
    for component in components:
        if not isinstance(component, dict):
            continue
        yield component
        for key in ("components", "items"):
            children = component.get(key)
            if isinstance(children, list):
                yield from _walk_components(children)
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _validate_components(
    errors: _FormErrors, prefix: list[str | int], components: Any, flags: int
) -> None:
    if not isinstance(components, list):
        errors.add([*prefix, "components"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if flags & MESSAGE_FLAG_IS_COMPONENTS_V2:
        total = sum(1 for _ in _walk_components(components))
        if total > 40:
            errors.add(
                [*prefix, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length."
            )
    else:
        if len(components) > 5:
            errors.add(
                [*prefix, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."
            )
        for i, row in enumerate(components):
            if not isinstance(row, dict):
                continue
            children = row.get("components") or []
            if row.get("type") == 1 and not 1 <= len(children) <= 5:
                errors.add(
                    [*prefix, "components", i, "components"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 5 in length.",
                )
    for component in _walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is not None and not 1 <= len(str(custom_id)) <= 100:
            errors.add(
                [*prefix, "components", "custom_id"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if component.get("type") == 2:
            if component.get("style") not in (5, 6) and custom_id is None:
                errors.add(
                    [*prefix, "components", "custom_id"],
                    "COMPONENT_CUSTOM_ID_REQUIRED",
                    "A custom id is required",
                )
            label = component.get("label")
            if label is not None and len(str(label)) > 80:
                errors.add(
                    [*prefix, "components", "label"],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 80 or fewer in length.",
                )


def _validate_embeds(errors: _FormErrors, prefix: list[str | int], embeds: Any) -> None:
    if not isinstance(embeds, list):
        errors.add([*prefix, "embeds"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if len(embeds) > 10:
        errors.add([*prefix, "embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        path: list[str | int] = [*prefix, "embeds", i]
        if not isinstance(embed, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        total += errors.max_len([*path, "title"], embed.get("title"), 256)
        total += errors.max_len([*path, "description"], embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add([*path, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, embed_field in enumerate(fields):
            fpath: list[str | int] = [*path, "fields", j]
            if not isinstance(embed_field, dict):
                errors.add(
                    fpath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
                )
                continue
            total += errors.required_len([*fpath, "name"], embed_field.get("name"), 256)
            total += errors.required_len([*fpath, "value"], embed_field.get("value"), 1024)
        footer = embed.get("footer")
        if isinstance(footer, dict):
            total += errors.required_len([*path, "footer", "text"], footer.get("text"), 2048)
        author = embed.get("author")
        if isinstance(author, dict):
            total += errors.required_len([*path, "author", "name"], author.get("name"), 256)
    if total > 6000:
        errors.add(
            [*prefix, "embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        )


def _validate_message_fields(errors: _FormErrors, prefix: list[str | int], body: JSON) -> None:
    """Field-level checks shared by create and edit (channel, webhook and callback)."""
    errors.max_len([*prefix, "content"], body.get("content"), 2000)
    if body.get("embeds") is not None:
        _validate_embeds(errors, prefix, body["embeds"])
    if body.get("components") is not None:
        _validate_components(errors, prefix, body["components"], int(body.get("flags") or 0))
    mentions = body.get("allowed_mentions")
    if isinstance(mentions, dict):
        parse = mentions.get("parse") or []
        for kind in ("users", "roles"):
            listed = mentions.get(kind) or []
            if kind in parse and listed:
                errors.add(
                    [*prefix, "allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            if len(listed) > 100:
                errors.add(
                    [*prefix, "allowed_mentions", kind],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                )


def _message_is_empty(data: JSON) -> bool:
    return (
        not str(data.get("content") or "").strip()
        and not data.get("embeds")
        and not data.get("attachments")
        and not data.get("components")
        and not data.get("sticker_ids")
        and not data.get("sticker_items")
        and not data.get("poll")
    )


def _empty_message_error() -> DiscordHTTPError:
    return DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _valid_command_name(name: Any, command_type: int) -> bool:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if command_type != 1:  # user/message commands: free text incl. spaces and capitals
        return True
    return name == name.lower() and all(ch.isalnum() or ch in "-_'" for ch in name)


def _command_size(command: JSON) -> int:
    """Characters Discord counts against the 4000-character command limit."""
    size = len(str(command.get("name") or "")) + len(str(command.get("description") or ""))
    for option in command.get("options") or []:
        if isinstance(option, dict):
            size += _command_size(option)
            for choice in option.get("choices") or []:
                if isinstance(choice, dict):
                    size += len(str(choice.get("name") or "")) + len(str(choice.get("value")))
    return size


def _validate_options(errors: _FormErrors, path: list[str | int], options: Any) -> None:
    if options is None:
        return
    if not isinstance(options, list):
        errors.add([*path, "options"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if len(options) > 25:
        errors.add([*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        opath: list[str | int] = [*path, "options", i]
        if not isinstance(option, dict):
            errors.add(opath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        option_type = option.get("type")
        if option_type not in range(1, 12):
            errors.add([*opath, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1..11}.")
        if not _valid_command_name(option.get("name"), 1):
            errors.add(
                [*opath, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        name = str(option.get("name"))
        if name in names:
            errors.add(
                [*opath, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option name already exists",
            )
        names.add(name)
        errors.between([*opath, "description"], option.get("description"), 1, 100)
        if option_type in (_OPTION_SUB_COMMAND, _OPTION_SUB_COMMAND_GROUP):
            _validate_options(errors, opath, option.get("options"))
            continue
        if option.get("required"):
            if seen_optional:
                errors.add(
                    [*path, "options"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = option.get("choices")
        if choices is not None:
            if len(choices) > 25:
                errors.add(
                    [*opath, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for j, choice in enumerate(choices):
                cpath: list[str | int] = [*opath, "choices", j]
                errors.between([*cpath, "name"], choice.get("name"), 1, 100)
                if option_type == _OPTION_STRING:
                    errors.max_len([*cpath, "value"], choice.get("value"), 100)
            if option.get("autocomplete"):
                errors.add(
                    [*opath, "autocomplete"],
                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be set with choices",
                )


def _validate_commands(payload: Any) -> list[JSON]:
    """Validate a bulk-overwrite body the way Discord does; return it as a list."""
    if not isinstance(payload, list):
        raise DiscordHTTPError(
            400,
            50035,
            "Invalid Form Body",
            errors={"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Only iterables."}]},
        )
    errors = _FormErrors()
    seen: set[tuple[int, str]] = set()
    per_type: dict[int, int] = {}
    for i, command in enumerate(payload):
        if not isinstance(command, dict):
            errors.add([i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        command_type = int(command.get("type") or 1)
        per_type[command_type] = per_type.get(command_type, 0) + 1
        if not _valid_command_name(command.get("name"), command_type):
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        key = (command_type, str(command.get("name")))
        if key in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add(key)
        if command_type == 1:
            errors.between([i, "description"], command.get("description"), 1, 100)
        elif command.get("description"):
            errors.add(
                [i, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            )
        _validate_options(errors, [i], command.get("options"))
        if _command_size(command) > 4000:
            errors.add([i], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
    errors.raise_if_any()
    limits = {1: 100, 2: 15, 3: 15}
    for command_type, count in per_type.items():
        limit = limits.get(command_type, 100)
        if count > limit:
            raise DiscordHTTPError(
                400, 30032, f"Maximum number of application commands reached ({limit})"
            )
    return [dict(c) for c in payload]


def _truthy_query(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "t", "yes")


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------


class FakeDiscord:
    """REST API + gateway of Discord in one loopback aiohttp server.  See module docs."""

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

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving REST + gateway."""
        if self._runner is not None:
            return
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_rest)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._handle_cdn)
        app.router.add_get("/", self._handle_gateway)
        app.router.add_get("/resume", self._handle_gateway)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def stop(self) -> None:
        """Close open gateway sockets (1001, like a Discord restart) and the server."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"Going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

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

    def close_dms(self, user_id: int) -> None:
        self._user(user_id).dms_open = False

    def open_dms(self, user_id: int) -> None:
        self._user(user_id).dms_open = True

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

    async def sync_with_client(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Round-trip a gateway heartbeat request (op 1) through the client.

        Discord may ask for an immediate heartbeat; discord.py answers from its gateway
        loop.  Once the answer arrives, the client has read everything sent before and
        had several event-loop turns to finish handling earlier HTTP responses (for
        example storing a view after its callback).  Used before simulated clicks, since
        a human cannot click a button in the same microsecond it was created.
        """
        for conn in self.gateway_connections:
            ws = conn.ws
            if ws is None or ws.closed or conn.session is None or conn.session.ws is not ws:
                continue
            before = conn.heartbeats

            def answered(conn: GatewayConnection = conn, before: int = before) -> bool:
                return conn.heartbeats > before

            await self._send_frame(ws, {"t": None, "s": None, "op": OP_HEARTBEAT, "d": None})
            await self.wait_for(answered, timeout=timeout)

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

    @property
    def identified_intents(self) -> int | None:
        """Intents of the latest IDENTIFY (None if the client never identified)."""
        return self.sessions[-1].intents if self.sessions else None

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

    def _bot_permissions(self, channel: ChannelRecord) -> int:
        if channel.guild_id is None:
            return DM_APP_PERMISSIONS
        guild = self.guilds[channel.guild_id]
        base = guild.everyone_permissions | guild.bot_permissions
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        deny = channel.bot_deny
        if channel.parent_id is not None and channel.parent_id in self.channels:
            deny |= self.channels[channel.parent_id].bot_deny
        return base & ~deny

    # ----------------------------------------------------------------- payload builders

    def _role_payloads(self, guild: GuildRecord) -> list[JSON]:
        def role(role_id: int, name: str, perms: int, position: int, managed: bool) -> JSON:
            data: JSON = {
                "id": str(role_id),
                "name": name,
                "description": None,
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "icon": None,
                "unicode_emoji": None,
                "position": position,
                "permissions": str(perms),
                "managed": managed,
                "mentionable": False,
                "flags": 0,
            }
            if managed:
                data["tags"] = {"bot_id": str(self.bot.id)}
            return data

        return [
            role(guild.id, "@everyone", guild.everyone_permissions, 0, False),
            role(guild.bot_role_id, self.bot.username, guild.bot_permissions, 1, True),
        ]

    def _member_payload(self, guild: GuildRecord, user_id: int, *, with_user: bool = True) -> JSON:
        roles = [str(guild.bot_role_id)] if user_id == self.bot.id else []
        data: JSON = {
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": roles,
            "joined_at": guild.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            data["user"] = self._user(user_id).public()
        return data

    def _channel_payload(self, channel: ChannelRecord) -> JSON:
        if channel.type == CHANNEL_DM:
            recipient = self._user(channel.recipient_id or 0)
            return {
                "id": str(channel.id),
                "type": CHANNEL_DM,
                "last_message_id": _opt_str(channel.last_message_id),
                "flags": 0,
                "recipients": [recipient.public()],
            }
        data: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "last_message_id": _opt_str(channel.last_message_id),
            "rate_limit_per_user": 0,
            "flags": 0,
            "parent_id": _opt_str(channel.parent_id),
        }
        if channel.type == CHANNEL_PUBLIC_THREAD:
            data.update(
                {
                    "owner_id": str(channel.owner_id or self.bot.id),
                    "message_count": sum(
                        1 for m in self.messages.values() if m.channel_id == channel.id
                    ),
                    "member_count": 1,
                    "total_message_sent": 0,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": 1440,
                        "archive_timestamp": channel.created_at,
                        "locked": False,
                        "create_timestamp": channel.created_at,
                    },
                }
            )
        else:
            overwrites = []
            if channel.bot_deny and channel.guild_id is not None:
                guild = self.guilds[channel.guild_id]
                overwrites.append(
                    {
                        "id": str(guild.bot_role_id),
                        "type": 0,
                        "allow": "0",
                        "deny": str(channel.bot_deny),
                    }
                )
            data.update(
                {
                    "position": channel.position,
                    "permission_overwrites": overwrites,
                    "topic": None,
                    "nsfw": False,
                }
            )
        return data

    def _guild_create_payload(self, guild: GuildRecord, intents: int) -> JSON:
        members = [self._member_payload(guild, self.bot.id)]
        if intents & INTENT_GUILD_PRESENCES:  # Discord then includes (online) members
            members += [self._member_payload(guild, m) for m in guild.member_ids]
        channels = [self.channels[c] for c in guild.channel_ids if c in self.channels]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "roles": self._role_payloads(guild),
            "emojis": [],
            "stickers": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "application_id": None,
            "incidents_data": None,
            # GUILD_CREATE-only fields
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.member_ids) + 1,
            "lazy": True,
            "voice_states": [],
            "members": members,
            "channels": [
                self._channel_payload(c) for c in channels if c.type != CHANNEL_PUBLIC_THREAD
            ],
            "threads": [
                self._channel_payload(c) for c in channels if c.type == CHANNEL_PUBLIC_THREAD
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.allowed_privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13  # GATEWAY_PRESENCE_LIMITED
        if self.allowed_privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15  # GATEWAY_GUILD_MEMBERS_LIMITED
        if self.allowed_privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
        return flags

    def _app_info(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": hashlib.sha256(self.token.encode()).hexdigest(),
            "flags": self._application_flags(),
            "owner": UserRecord(self.application_id + 1, "app-owner").public(),
            "team": None,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
            "bot": self.bot.public(),
        }

    def _mentions(
        self,
        content: str,
        allowed: Any,
        channel: ChannelRecord,
        replied_user_id: int | None,
        author_id: int,
    ) -> tuple[list[JSON], list[str], bool]:
        """Resolve pings like Discord: content mentions filtered by ``allowed_mentions``."""
        parse: set[str]
        listed_users: set[int]
        listed_roles: set[int]
        if isinstance(allowed, dict):
            parse = set(allowed.get("parse") or [])
            listed_users = {int(u) for u in allowed.get("users") or []}
            listed_roles = {int(r) for r in allowed.get("roles") or []}
            replied = bool(allowed.get("replied_user"))
        else:
            parse = {"users", "roles", "everyone"}
            listed_users, listed_roles, replied = set(), set(), True
        user_ids: list[int] = []
        for match in re.findall(r"<@!?(\d+)>", content):
            uid = int(match)
            if (
                ("users" in parse or uid in listed_users)
                and uid in self.users
                and uid not in user_ids
            ):
                user_ids.append(uid)
        if replied_user_id is not None and replied and replied_user_id not in user_ids:
            user_ids.append(replied_user_id)
        role_ids: list[str] = []
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        for match in re.findall(r"<@&(\d+)>", content):
            rid = int(match)
            if guild and ("roles" in parse or rid in listed_roles) and str(rid) not in role_ids:
                role_ids.append(str(rid))
        everyone = (
            ("@everyone" in content or "@here" in content)
            and "everyone" in parse
            and (
                author_id != self.bot.id or bool(self._bot_permissions(channel) & MENTION_EVERYONE)
            )
        )
        return [self._user(u).public() for u in user_ids], role_ids, everyone

    def _attachment_payload(self, attachment: AttachmentRecord, ephemeral: bool) -> JSON:
        url = f"{self.root}/attachments/{attachment.id}/{attachment.filename}"
        data: JSON = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "url": url,
            "proxy_url": url,
            "content_type": attachment.content_type,
        }
        if attachment.description is not None:
            data["description"] = attachment.description
        if ephemeral:
            data["ephemeral"] = True
        return data

    def _attach_files(self, body: JSON, files: list[AttachmentRecord]) -> list[AttachmentRecord]:
        """Give uploaded files real ids and descriptions from ``body["attachments"]``."""
        described = {
            str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)
        }
        for upload in files:
            meta = described.get(str(upload.upload_index), {})
            upload.description = meta.get("description")
            if meta.get("filename"):
                upload.filename = str(meta["filename"])
        return files

    def _build_message(
        self,
        *,
        message_id: int,
        channel: ChannelRecord,
        author: UserRecord,
        body: JSON,
        attachments: list[AttachmentRecord],
        flags: int,
        message_type: int,
        interaction: InteractionRecord | None = None,
    ) -> JSON:
        content = str(body.get("content") or "")
        replied_user: int | None = None
        reference = body.get("message_reference")
        referenced: MessageRecord | None = None
        if isinstance(reference, dict) and reference.get("message_id"):
            referenced = self.messages.get(int(reference["message_id"]))
            if referenced is not None:
                replied_user = referenced.author_id
        mentions, mention_roles, everyone = self._mentions(
            content, body.get("allowed_mentions"), channel, replied_user, author.id
        )
        ephemeral = bool(flags & MESSAGE_FLAG_EPHEMERAL)
        data: JSON = {
            "type": message_type,
            "content": content,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": [self._attachment_payload(a, ephemeral) for a in attachments],
            "embeds": [
                {"type": "rich", **e} if "type" not in e else dict(e)
                for e in body.get("embeds") or []
            ],
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags,
            "components": list(body.get("components") or []),
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": author.public(),
            "pinned": False,
            "mention_everyone": everyone,
            "tts": bool(body.get("tts")),
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if isinstance(reference, dict) and reference.get("message_id"):
            data["message_reference"] = {
                "type": 0,
                "channel_id": str(reference.get("channel_id") or channel.id),
                "message_id": str(reference["message_id"]),
            }
            if channel.guild_id is not None:
                data["message_reference"]["guild_id"] = str(channel.guild_id)
            data["referenced_message"] = referenced.data if referenced else None
        if interaction is not None:
            data["webhook_id"] = str(self.application_id)
            data["application_id"] = str(self.application_id)
            invoker = self._user(interaction.user_id).public()
            metadata: JSON = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": invoker,
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.type == INTERACTION_APPLICATION_COMMAND:
                metadata["name"] = interaction.name
                metadata["command_type"] = 1
                data["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": interaction.name,
                    "user": invoker,
                }
            elif interaction.source_message_id is not None:
                metadata["interacted_message_id"] = str(interaction.source_message_id)
            data["interaction_metadata"] = metadata
        return data

    # ----------------------------------------------------------------- gateway: server

    async def _send_frame(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        """Send one TEXT frame (discord.py only inflates BINARY frames)."""
        if not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(frame, separators=(",", ":")))

    async def _close_ws(
        self, conn: GatewayConnection, ws: web.WebSocketResponse, code: int, reason: str
    ) -> None:
        conn.closed_by_server = True
        conn.close_code = code
        await ws.close(code=code, message=reason.encode())

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Bad Request")
        await ws.prepare(request)
        conn = GatewayConnection(
            path=request.path, query=dict(request.query), opened_at=time.monotonic(), ws=ws
        )
        self.gateway_connections.append(conn)
        self._sockets.add(ws)
        try:
            if request.query.get("v", "10") not in GATEWAY_VERSIONS:
                await self._close_ws(conn, ws, 4012, "Invalid API version")
                return ws
            if request.query.get("encoding", "json") != "json":
                await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
                return ws
            hello = {
                "t": None,
                "s": None,
                "op": OP_HELLO,
                "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000), "_trace": _TRACE},
            }
            await self._send_frame(ws, hello)
            await self._notify()
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(conn, ws, str(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
                else:
                    break
        finally:
            self._sockets.discard(ws)
            if not conn.closed_by_server:
                conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.ws is ws:
                session.ws = None
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    # A clean close ends the session on Discord's side too.
                    session.invalidated = True
            await self._notify()
        return ws

    async def _on_gateway_frame(
        self, conn: GatewayConnection, ws: web.WebSocketResponse, text: str
    ) -> None:
        try:
            payload = json.loads(text)
            op = payload["op"]
        except (ValueError, KeyError, TypeError):
            await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
            return
        conn.received.append(payload)
        if op == OP_HEARTBEAT:
            conn.heartbeats += 1
            await self._send_frame(ws, {"t": None, "s": None, "op": OP_HEARTBEAT_ACK, "d": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, ws, payload.get("d") or {})
        elif op == OP_RESUME:
            await self._resume(conn, ws, payload.get("d") or {})
        elif conn.session is None:
            await self._close_ws(conn, ws, 4003, "Not authenticated.")
        elif op == OP_PRESENCE_UPDATE:
            conn.session.presence = payload.get("d")
        elif op == OP_REQUEST_GUILD_MEMBERS:
            await self._members_chunk(conn.session, payload.get("d") or {})
        elif op in (OP_VOICE_STATE_UPDATE, OP_REQUEST_SOUNDBOARD_SOUNDS):
            pass  # recorded in conn.received; voice/soundboard are not modelled
        else:
            await self._close_ws(conn, ws, 4001, "Unknown opcode.")
        await self._notify()

    def _guilds_for_shard(self, shard: tuple[int, int] | None) -> list[GuildRecord]:
        if shard is None:
            return list(self.guilds.values())
        shard_id, count = shard
        return [g for g in self.guilds.values() if (g.id >> 22) % count == shard_id]

    async def _identify(self, conn: GatewayConnection, ws: web.WebSocketResponse, d: JSON) -> None:
        if conn.session is not None:
            await self._close_ws(conn, ws, 4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            await self._close_ws(conn, ws, 4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents & ~VALID_INTENTS:
            await self._close_ws(conn, ws, 4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await self._close_ws(conn, ws, 4014, "Disallowed intent(s).")
            return
        shard: tuple[int, int] | None = None
        if d.get("shard") is not None:
            raw = d["shard"]
            if (
                not isinstance(raw, list)
                or len(raw) != 2
                or not all(isinstance(x, int) for x in raw)
                or not 0 <= raw[0] < raw[1]
            ):
                await self._close_ws(conn, ws, 4010, "Invalid shard.")
                return
            shard = (raw[0], raw[1])
        session = GatewaySession(
            session_id=secrets.token_hex(16), identify=d, intents=intents, shard=shard, ws=ws
        )
        conn.session = session
        guilds = self._guilds_for_shard(shard)
        ready: JSON = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "_trace": _TRACE,
        }
        if shard is not None:
            ready["shard"] = [shard[0], shard[1]]
        await self._dispatch(session, "READY", ready)
        if intents & INTENT_GUILDS:
            for guild in guilds:
                await self._dispatch(
                    session, "GUILD_CREATE", self._guild_create_payload(guild, intents)
                )
        # Only now is the session visible to tests: READY + GUILD_CREATEs are on the wire.
        self.sessions.append(session)

    async def _resume(self, conn: GatewayConnection, ws: web.WebSocketResponse, d: JSON) -> None:
        if d.get("token") != self.token:
            await self._close_ws(conn, ws, 4004, "Authentication failed.")
            return
        session = next((s for s in self.sessions if s.session_id == d.get("session_id")), None)
        if session is None or session.invalidated:
            await self._send_frame(ws, {"t": None, "s": None, "op": OP_INVALID_SESSION, "d": False})
            return
        old = session.ws
        session.ws = ws
        conn.session = session
        session.resumes += 1
        if old is not None and old is not ws and not old.closed:
            with contextlib.suppress(Exception):
                await old.close(code=4000)
        last_seq = int(d.get("seq") or 0)
        async with session.lock:
            for frame in session.events:
                if frame["s"] > last_seq:
                    await self._send_frame(ws, frame)
        await self._dispatch(session, "RESUMED", {"_trace": _TRACE})

    async def _members_chunk(self, session: GatewaySession, d: JSON) -> None:
        guild = self.guilds.get(int(d.get("guild_id") or 0))
        if guild is None:
            return
        ids = [self.bot.id, *guild.member_ids]
        query = str(d.get("query") or "").lower()
        wanted = {int(u) for u in d.get("user_ids") or []}
        if wanted:
            ids = [i for i in ids if i in wanted]
        elif query:
            ids = [i for i in ids if self.users[i].username.lower().startswith(query)]
        limit = int(d.get("limit") or 0)
        if limit:
            ids = ids[:limit]
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [self._member_payload(guild, i) for i in ids],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted if u not in ids],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        if d.get("presences"):
            chunk["presences"] = []
        await self._dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _dispatch(self, session: GatewaySession, event: str, data: JSON) -> int:
        """Send a DISPATCH with the next sequence number; kept for replay on RESUME."""
        async with session.lock:
            session.seq += 1
            frame: JSON = {"t": event, "s": session.seq, "op": OP_DISPATCH, "d": data}
            session.events.append(frame)
            if session.ws is not None:
                await self._send_frame(session.ws, frame)
            seq = session.seq
        await self._notify()
        return seq

    def _session_for(self, guild_id: int | None) -> GatewaySession | None:
        live = [s for s in self.sessions if not s.invalidated]
        for session in reversed(live):
            if session.shard is None:
                return session
            shard_id, count = session.shard
            if (0 if guild_id is None else (guild_id >> 22) % count) == shard_id:
                return session
        return None

    async def _require_session(self, guild_id: int | None) -> GatewaySession:
        return await self.wait_for(lambda: self._session_for(guild_id), timeout=5.0)

    # ----------------------------------------------------------------- gateway: test API

    async def dispatch_event(self, event: str, data: JSON, *, guild_id: int | None = None) -> int:
        """Push any gateway DISPATCH (e.g. GUILD_DELETE) to the session owning ``guild_id``."""
        session = await self._require_session(guild_id)
        return await self._dispatch(session, event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py reconnects to resume_gateway_url and RESUMEs."""
        for session in self.sessions:
            if session.ws is not None and not session.invalidated:
                await self._send_frame(
                    session.ws, {"t": None, "s": None, "op": OP_RECONNECT, "d": None}
                )

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (``resumable=False`` forces a fresh IDENTIFY)."""
        for session in self.sessions:
            if session.ws is not None and not session.invalidated:
                if not resumable:
                    session.invalidated = True
                await self._send_frame(
                    session.ws, {"t": None, "s": None, "op": OP_INVALID_SESSION, "d": resumable}
                )

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the live gateway socket(s) with ``code`` (4000 = resumable)."""
        for conn in self.gateway_connections:
            ws, session = conn.ws, conn.session
            if ws is None or ws.closed or session is None or session.invalidated:
                continue
            if session.ws is ws:
                await self._close_ws(conn, ws, code, "Dropped by test")

    async def post_user_message(
        self, channel_id: int, user_id: int, content: str, *, embeds: Sequence[JSON] = ()
    ) -> MessageRecord:
        """A human posts a message: MESSAGE_CREATE reaches the bot, gated like Discord.

        Without the MESSAGE_CONTENT intent, content/embeds/attachments/components are
        blanked unless it is a DM or the bot is mentioned.
        """
        channel = self._channel(channel_id)
        author = self._user(user_id)
        body: JSON = {"content": content, "embeds": list(embeds)}
        record = self._store_message(
            channel, author, body, [], flags=0, message_type=0, source="user"
        )
        await self._gateway_message_event("MESSAGE_CREATE", record)
        return record

    async def _gateway_message_event(self, event: str, record: MessageRecord) -> None:
        if record.ephemeral:
            return  # ephemeral messages are never sent over the gateway
        channel = self.channels.get(record.channel_id)
        guild_id = record.guild_id
        session = self._session_for(guild_id)
        if session is None or channel is None:
            return
        needed = INTENT_DIRECT_MESSAGES if guild_id is None else INTENT_GUILD_MESSAGES
        if not session.intents & needed:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": str(record.id), "channel_id": str(record.channel_id)}
            if guild_id is not None:
                data["guild_id"] = str(guild_id)
            await self._dispatch(session, event, data)
            return
        data = json.loads(json.dumps(record.data))
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            if record.author_id in self.users and (
                record.author_id == self.bot.id
                or record.author_id in self.guilds[guild_id].member_ids
            ):
                data["member"] = self._member_payload(
                    self.guilds[guild_id], record.author_id, with_user=False
                )
        privileged_view = (
            session.intents & INTENT_MESSAGE_CONTENT
            or record.author_id == self.bot.id
            or guild_id is None
            or self.bot.id in record.mentioned_user_ids
        )
        if not privileged_view:
            data.update(content="", embeds=[], attachments=[], components=[])
        await self._dispatch(session, event, data)

    # ----------------------------------------------------------------- interactions: test API

    def _interaction_context(
        self,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        permissions: int,
        in_dm: bool,
        locale: str,
    ) -> _InteractionContext:
        user = self._user(user_id) if user_id is not None else self._default_user()
        if in_dm:
            return _InteractionContext(None, self._dm_channel(user.id), user, permissions, locale)
        if guild_id is None:
            if channel_id is not None and channel_id in self.channels:
                guild_id = self.channels[channel_id].guild_id
            elif self.guilds:
                guild_id = next(iter(self.guilds))
        if guild_id is None or guild_id not in self.guilds:
            raise KeyError(f"unknown guild {guild_id}; add_guild() it or pass in_dm=True")
        guild = self.guilds[guild_id]
        if channel_id is None:
            text = [c for c in guild.channel_ids if self.channels[c].type == CHANNEL_GUILD_TEXT]
            if not text:
                raise KeyError(f"guild {guild_id} has no text channel to invoke from")
            channel_id = text[0]
        channel = self._channel(channel_id)
        if channel.guild_id != guild_id:
            raise KeyError(f"channel {channel_id} is not in guild {guild_id}")
        if user.id not in guild.member_ids:
            guild.member_ids.append(user.id)
        return _InteractionContext(guild, channel, user, permissions, locale)

    def _find_command(self, name: str, command_type: int, ctx: _InteractionContext) -> JSON:
        scopes: list[int | None] = [None] if ctx.guild is None else [ctx.guild.id, None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and int(command.get("type") or 1) == command_type:
                    return command
        known = {str(scope): [c["name"] for c in cmds] for scope, cmds in self.commands.items()}
        raise LookupError(
            f"command {name!r} is not registered for this context (did the bot sync its "
            f"tree?); registered: {known}"
        )

    def _check_invocable(self, command: JSON, ctx: _InteractionContext) -> None:
        """Discord's client hides commands the user may not run: mirror that here."""
        if ctx.guild is None:
            contexts = command.get("contexts")
            if command.get("guild_id") is not None:
                raise PermissionError("guild commands cannot be used in DMs")
            if contexts is not None and 1 not in contexts:
                raise PermissionError(f"/{command['name']} is not available in bot DMs")
            if contexts is None and command.get("dm_permission") is False:
                raise PermissionError(f"/{command['name']} has dm_permission=false")
            return
        contexts = command.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise PermissionError(f"/{command['name']} is not available in guilds")
        required = command.get("default_member_permissions")
        if required is not None and not ctx.permissions & ADMINISTRATOR:
            needed = int(required)
            if ctx.permissions & needed != needed:
                raise PermissionError(
                    f"/{command['name']} requires permissions {needed}; Discord would not "
                    f"show it to a member with {ctx.permissions}"
                )

    def _resolve_option(
        self,
        option_type: int,
        value: Any,
        resolved: JSON,
        ctx: _InteractionContext,
    ) -> Any:
        if option_type == _OPTION_STRING:
            return str(value)
        if option_type == _OPTION_INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"integer option needs an int, got {value!r}")
            return value
        if option_type == _OPTION_NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"number option needs a float, got {value!r}")
            return value
        if option_type == _OPTION_BOOLEAN:
            return bool(value)
        target = int(value)
        if option_type in (_OPTION_USER, _OPTION_MENTIONABLE) and target in self.users:
            resolved.setdefault("users", {})[str(target)] = self._user(target).public()
            if ctx.guild is not None and (target in ctx.guild.member_ids or target == self.bot.id):
                member = self._member_payload(ctx.guild, target, with_user=False)
                member["permissions"] = str(ctx.guild.everyone_permissions)
                resolved.setdefault("members", {})[str(target)] = member
            return str(target)
        if option_type in (_OPTION_ROLE, _OPTION_MENTIONABLE) and ctx.guild is not None:
            roles = {r["id"]: r for r in self._role_payloads(ctx.guild)}
            if str(target) in roles:
                resolved.setdefault("roles", {})[str(target)] = roles[str(target)]
                return str(target)
        if option_type == _OPTION_CHANNEL and target in self.channels:
            channel = self.channels[target]
            partial = self._channel_payload(channel)
            partial["permissions"] = str(ctx.permissions)
            resolved.setdefault("channels", {})[str(target)] = partial
            return str(target)
        if option_type == _OPTION_ATTACHMENT:
            raise NotImplementedError("attachment options are not modelled")
        raise KeyError(f"cannot resolve {value!r} for option type {option_type}")

    def _build_options(
        self,
        command: JSON,
        options: Mapping[str, Any] | Sequence[JSON] | None,
        ctx: _InteractionContext,
        focused: str | None,
    ) -> tuple[list[JSON], JSON]:
        registered = {o["name"]: o for o in command.get("options") or []}
        resolved: JSON = {}
        if options is None:
            options = {}
        if not isinstance(options, Mapping):  # pre-shaped option list, fill in types
            shaped = [dict(o) for o in options]
            for given in shaped:
                if "type" not in given and given.get("name") in registered:
                    given["type"] = registered[given["name"]]["type"]
            return shaped, resolved
        result: list[JSON] = []
        for name, value in options.items():
            spec = registered.get(name)
            if spec is None:
                raise KeyError(f"/{command['name']} has no option {name!r}: {sorted(registered)}")
            option_type = int(spec["type"])
            if option_type in (_OPTION_SUB_COMMAND, _OPTION_SUB_COMMAND_GROUP):
                raise NotImplementedError("pass subcommands as a pre-shaped options list")
            option: JSON = {"name": name, "type": option_type}
            if name == focused:
                if not spec.get("autocomplete"):
                    raise ValueError(f"option {name!r} of /{command['name']} has no autocomplete")
                option["value"] = str(value)  # what the user has typed so far
                option["focused"] = True
            else:
                option["value"] = self._resolve_option(option_type, value, resolved, ctx)
                choices = spec.get("choices")
                if choices and option["value"] not in [c["value"] for c in choices]:
                    raise ValueError(f"{value!r} is not one of the choices of {name!r}")
            result.append(option)
        if focused is None:
            missing = [
                n for n, spec in registered.items() if spec.get("required") and n not in options
            ]
            if missing:
                raise ValueError(f"/{command['name']} is missing required options {missing}")
        elif focused not in options:
            raise ValueError(f"focused option {focused!r} must be in options")
        return result, resolved

    def _interaction_payload(
        self, record_id: int, token: str, itype: int, data: JSON, ctx: _InteractionContext
    ) -> JSON:
        channel = self._channel_payload(ctx.channel)
        payload: JSON = {
            "id": str(record_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": ctx.locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self._bot_permissions(ctx.channel)),
            "channel": channel,
            "channel_id": str(ctx.channel.id),
        }
        if ctx.guild is None:
            payload["user"] = ctx.user.public()
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": "0"}
        else:
            member = self._member_payload(ctx.guild, ctx.user.id)
            member["permissions"] = str(ctx.permissions)
            channel["permissions"] = str(ctx.permissions)
            payload.update(
                {
                    "guild_id": str(ctx.guild.id),
                    "guild_locale": "en-US",
                    "guild": {"id": str(ctx.guild.id), "locale": "en-US", "features": []},
                    "member": member,
                    "context": 0,
                    "authorizing_integration_owners": {"0": str(ctx.guild.id)},
                }
            )
        return payload

    async def _dispatch_interaction(
        self,
        itype: int,
        name: str,
        data: JSON,
        ctx: _InteractionContext,
        *,
        message: MessageRecord | None = None,
        parent: InteractionRecord | None = None,
    ) -> InteractionRecord:
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        payload = self._interaction_payload(interaction_id, token, itype, data, ctx)
        if message is not None:
            payload["message"] = message.data
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=itype,
            name=name,
            guild_id=ctx.guild.id if ctx.guild else None,
            channel_id=ctx.channel.id,
            user_id=ctx.user.id,
            payload=payload,
            source_message_id=message.id if message else None,
            parent=parent,
        )
        self.interactions[interaction_id] = record
        session = await self._require_session(record.guild_id)
        record.dispatched_at = asyncio.get_running_loop().time()
        await self._dispatch(session, "INTERACTION_CREATE", payload)
        return record

    async def invoke_slash(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        in_dm: bool = False,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """A user runs ``/name`` (APPLICATION_COMMAND, type 2).

        The command must have been registered (synced) for the guild or globally;
        option types come from the registered payload.  Without ``guild_id`` the first
        guild is used; without ``channel_id`` its first text channel; without
        ``user_id`` the first non-bot user (a "tester" user is created if none).
        """
        ctx = self._interaction_context(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            permissions=permissions,
            in_dm=in_dm,
            locale=locale,
        )
        command = self._find_command(name, 1, ctx)
        self._check_invocable(command, ctx)
        built, resolved = self._build_options(command, options, ctx, focused=None)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1}
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return await self._dispatch_interaction(INTERACTION_APPLICATION_COMMAND, name, data, ctx)

    async def invoke_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON],
        *,
        focused: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        in_dm: bool = False,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """The user is typing into option ``focused`` (APPLICATION_COMMAND_AUTOCOMPLETE)."""
        ctx = self._interaction_context(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            permissions=permissions,
            in_dm=in_dm,
            locale=locale,
        )
        command = self._find_command(name, 1, ctx)
        self._check_invocable(command, ctx)
        built, _ = self._build_options(command, options, ctx, focused=focused)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return await self._dispatch_interaction(INTERACTION_AUTOCOMPLETE, name, data, ctx)

    async def press_component(
        self,
        message: MessageRecord | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Click a button / choose in a select menu on a message (MESSAGE_COMPONENT)."""
        record = self.messages[message] if isinstance(message, int) else message
        record = self.messages.get(record.id, record)
        if record.deleted:
            raise LookupError(f"message {record.id} was deleted")
        component = next(
            (c for c in _walk_components(record.components) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            ids = [c.get("custom_id") for c in _walk_components(record.components)]
            raise LookupError(f"no component {custom_id!r} on message {record.id}: {ids}")
        if component.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        channel = self._channel(record.channel_id)
        if channel.type == CHANNEL_DM and user_id is None:
            user_id = channel.recipient_id  # only the recipient sees a bot DM
        ctx = self._interaction_context(
            guild_id=channel.guild_id,
            channel_id=None if channel.guild_id is None else channel.id,
            user_id=user_id,
            permissions=permissions,
            in_dm=channel.guild_id is None,
            locale=locale,
        )
        if channel.guild_id is None:
            ctx.channel = channel
        component_type = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        await self.sync_with_client()
        if component_type in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        return await self._dispatch_interaction(
            INTERACTION_MESSAGE_COMPONENT, custom_id, data, ctx, message=record
        )

    async def submit_modal(
        self,
        interaction: InteractionRecord,
        values: Mapping[str, str | Sequence[str]],
        *,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Submit the modal the bot opened (type-9 callback) on ``interaction``."""
        modal = interaction.modal
        if modal is None:
            raise LookupError(f"interaction {interaction.id} did not open a modal")

        def answer(component: JSON) -> JSON:
            value = values.get(str(component.get("custom_id")), "")
            out: JSON = {"type": component["type"], "custom_id": component["custom_id"]}
            if isinstance(value, str):
                out["value"] = value
            else:
                out["values"] = list(value)
            if "id" in component:
                out["id"] = component["id"]
            return out

        submitted: list[JSON] = []
        for top in modal.get("components") or []:
            if top.get("type") == 1:
                submitted.append(
                    {"type": 1, "components": [answer(c) for c in top.get("components") or []]}
                )
            elif top.get("type") == 18 and isinstance(top.get("component"), dict):
                submitted.append({"type": 18, "component": answer(top["component"])})
            elif top.get("type") == 10:
                submitted.append({"type": 10, "id": top.get("id")})
        channel = self._channel(interaction.channel_id)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        perms = int(interaction.payload.get("member", {}).get("permissions") or 0)
        ctx = _InteractionContext(guild, channel, self._user(interaction.user_id), perms, locale)
        source = (
            self.messages.get(interaction.source_message_id)
            if interaction.source_message_id
            else None
        )
        data: JSON = {"custom_id": modal["custom_id"], "components": submitted}
        await self.sync_with_client()
        return await self._dispatch_interaction(
            INTERACTION_MODAL_SUBMIT,
            str(modal["custom_id"]),
            data,
            ctx,
            message=source,
            parent=interaction,
        )

    # ----------------------------------------------------------------- REST: dispatcher

    def _build_routes(self) -> list[_Route]:
        r = _Route
        webhook_message = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        return [
            r("GET", "/gateway", self._get_gateway, auth=False),
            r("GET", "/gateway/bot", self._get_gateway_bot),
            r("GET", "/users/@me", self._get_me),
            r("POST", "/users/@me/channels", self._create_dm),
            r("GET", "/users/{user_id}", self._get_user),
            r("GET", "/oauth2/applications/@me", self._get_app),
            r("GET", "/applications/@me", self._get_app),
            r("GET", "/applications/{application_id}/commands", self._get_commands),
            r("PUT", "/applications/{application_id}/commands", self._put_commands),
            r("POST", "/applications/{application_id}/commands", self._post_command),
            r(
                "DELETE",
                "/applications/{application_id}/commands/{command_id}",
                self._delete_command,
            ),
            r(
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._get_commands,
            ),
            r(
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._put_commands,
            ),
            r(
                "POST",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._post_command,
            ),
            r(
                "DELETE",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self._delete_command,
            ),
            r("GET", "/channels/{channel_id}", self._get_channel),
            r("POST", "/channels/{channel_id}/messages", self._post_channel_message),
            r("GET", "/channels/{channel_id}/messages/{message_id}", self._get_channel_message),
            r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_channel_message),
            r(
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}",
                self._delete_channel_message,
            ),
            r("POST", "/channels/{channel_id}/typing", self._typing),
            r("GET", "/guilds/{guild_id}", self._get_guild),
            r("GET", "/guilds/{guild_id}/channels", self._get_guild_channels),
            r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            r(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self._interaction_callback,
                auth=False,
                global_limit=False,
            ),
            r(
                "POST",
                "/webhooks/{webhook_id}/{webhook_token}",
                self._execute_webhook,
                auth=False,
                global_limit=False,
            ),
            r("GET", webhook_message, self._get_webhook_message, auth=False, global_limit=False),
            r("PATCH", webhook_message, self._edit_webhook_message, auth=False, global_limit=False),
            r(
                "DELETE",
                webhook_message,
                self._delete_webhook_message,
                auth=False,
                global_limit=False,
            ),
        ]

    def _match_route(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        path_matched = False
        for route in self._routes:
            match = route.regex.fullmatch(path)
            if match is None:
                continue
            params = match.groupdict()
            if any(
                key == "user_id" and value == "@me" for key, value in params.items()
            ):  # "/users/@me" is its own route
                continue
            path_matched = True
            if route.method == method:
                return route, params
        if path_matched:
            raise DiscordHTTPError(405, 0, "405: Method Not Allowed")
        raise DiscordHTTPError(404, 0, "404: Not Found")

    async def _read_body(self, request: web.Request) -> tuple[Any, list[AttachmentRecord]]:
        if not request.body_exists:
            return None, []
        if request.content_type == "multipart/form-data":
            form = await request.post()
            payload: Any = None
            files: list[AttachmentRecord] = []
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    match = re.fullmatch(r"files\[(\d+)\]", key)
                    files.append(
                        AttachmentRecord(
                            id=self._ids.next(),
                            filename=value.filename,
                            content_type=value.content_type,
                            data=value.file.read(),
                            upload_index=int(match.group(1)) if match else len(files),
                        )
                    )
                elif key == "payload_json":
                    try:
                        payload = json.loads(str(value))
                    except ValueError:
                        raise DiscordHTTPError(
                            400, 50109, "The request body contains invalid JSON."
                        ) from None
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None

    def _bucket(self, route: _Route, method: str, path: str, params: dict[str, str]) -> _Bucket:
        rule = next(
            (
                rr
                for rr in self._rate_rules
                if (rr.method is None or rr.method == method) and rr.pattern.fullmatch(path)
            ),
            None,
        )
        if rule is not None:
            seed, limit, window = f"rule:{rule.pattern.pattern}", rule.limit, rule.window
        else:
            seed = f"{route.method} {route.template}"
            limit, window = self.default_rate_limit
        bucket_hash = hashlib.sha1(seed.encode()).hexdigest()[:32]
        major = "+".join(
            params[p] for p in (*_MAJOR_PARAMS, "webhook_token", "interaction_token") if p in params
        )
        key = f"{bucket_hash}:{major}"
        bucket = self._buckets.get(key)
        if bucket is None or (bucket.limit, bucket.window) != (limit, window):
            bucket = _Bucket(bucket_hash, limit, window)
            self._buckets[key] = bucket
        return bucket

    @staticmethod
    def _bucket_headers(bucket: _Bucket, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{bucket.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(bucket.reset_at - now, 0.0):.3f}",
            "X-RateLimit-Bucket": bucket.bucket_hash,
        }

    def _rate_limited(
        self, retry_after: float, *, scope: str, bucket: _Bucket | None, now: float
    ) -> DiscordHTTPError:
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": scope,
        }
        if scope == "global":
            headers["X-RateLimit-Global"] = "true"
        elif bucket is not None:
            headers.update(self._bucket_headers(bucket, now))
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset-After"] = f"{retry_after:.3f}"
            headers["X-RateLimit-Reset"] = f"{now + retry_after:.3f}"
        return DiscordHTTPError(
            429, 0, "You are being rate limited.", headers=headers, retry_after=retry_after
        )

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if (failure.method is None or failure.method == method) and failure.pattern.fullmatch(
                path
            ):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _failure_response(
        self, failure: _Failure, bucket: _Bucket | None, now: float
    ) -> web.Response:
        status = failure.status
        headers: dict[str, str] = {}
        if status == 429:
            retry_after = 0.05 if failure.retry_after is None else failure.retry_after
            error = self._rate_limited(retry_after, scope=failure.scope, bucket=bucket, now=now)
            headers.update(error.headers)
            body = error.body()
            if failure.message:
                body["message"] = failure.message
            if failure.code:
                body["code"] = failure.code
            if failure.via:
                headers["Via"] = "1.1 google"
            return self._response(429, body, headers)
        headers["Via"] = "1.1 google"
        if status in (502, 504) and failure.code is None and failure.message is None:
            reason = "Bad Gateway" if status == 502 else "Gateway Time-out"
            html = _CLOUDFLARE_HTML.format(status=status, reason=reason)
            return web.Response(
                status=status,
                body=html.encode(),
                headers={"Content-Type": "text/html", **headers},
            )
        default_code, default_message = _DEFAULT_ERRORS.get(status, (0, f"{status}: Error"))
        error_body: JSON = {
            "message": failure.message if failure.message is not None else default_message,
            "code": failure.code if failure.code is not None else default_code,
        }
        if failure.errors:
            error_body["errors"] = failure.errors
        if failure.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(failure.retry_after))
        return self._response(status, error_body, headers)

    @staticmethod
    def _response(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
        out = dict(headers)
        if body is None:
            return web.Response(status=status, headers=out)
        out["Content-Type"] = "application/json"  # exactly; discord.py compares verbatim
        return web.Response(status=status, body=_json_bytes(body), headers=out)

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        method = request.method.upper()
        version_match = re.fullmatch(r"v(\d+)(/.*)?", tail)
        path = (version_match.group(2) or "/") if version_match else "/" + tail
        record = RequestRecord(
            method=method,
            path=path,
            query=dict(request.query),
            json=None,
            files=[],
            authorized=request.headers.get("Authorization") == f"Bot {self.token}",
            at=time.monotonic(),
        )
        self.requests.append(record)
        # Waiters are woken only once the response bytes are on the socket, so a test
        # that saw "callback recorded" never races ahead of the client receiving it.
        self._requests_in_flight += 1
        try:
            response = await self._process(request, record, version_match)
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
        finally:
            self._requests_in_flight -= 1
            await self._notify()
        return response

    async def _process(
        self, request: web.Request, record: RequestRecord, version: re.Match[str] | None
    ) -> web.Response:
        method, path = record.method, record.path
        now = time.time()
        bucket: _Bucket | None = None
        try:
            if version is None:
                raise DiscordHTTPError(404, 0, "404: Not Found")
            if int(version.group(1)) not in API_VERSIONS:
                raise DiscordHTTPError(400, 50041, "Invalid API version provided.")
            record.json, record.files = await self._read_body(request)
            route, params = self._match_route(method, path)
            for key, value in params.items():
                if key in _SNOWFLAKE_PARAMS and not _is_snowflake(value) and value != "@original":
                    raise DiscordHTTPError(
                        400,
                        50035,
                        "Invalid Form Body",
                        errors={
                            key: {
                                "_errors": [
                                    {
                                        "code": "NUMBER_TYPE_COERCE",
                                        "message": f'Value "{value}" is not snowflake.',
                                    }
                                ]
                            }
                        },
                    )
            if route.auth and not record.authorized:
                raise DiscordHTTPError(401, 0, "401: Unauthorized")
            bucket = self._bucket(route, method, path, params)
            failure = self._take_failure(method, path)
            if failure is not None:
                record.injected = True
                record.status = failure.status
                record.error_code = failure.code or _DEFAULT_ERRORS.get(failure.status, (0, ""))[0]
                return self._failure_response(failure, bucket, now)
            if route.global_limit and self.global_rate_limit is not None:
                start, count = self._global_window
                if now - start >= 1.0:
                    start, count = now, 0
                if count >= self.global_rate_limit:
                    raise self._rate_limited(
                        start + 1.0 - now, scope="global", bucket=None, now=now
                    )
                self._global_window = (start, count + 1)
            if now >= bucket.reset_at:
                bucket.remaining = bucket.limit
                bucket.reset_at = now + bucket.window
            if bucket.remaining <= 0:
                raise self._rate_limited(
                    bucket.reset_at - now, scope="user", bucket=bucket, now=now
                )
            bucket.remaining -= 1
            reply = await route.handler(
                _Ctx(request, method, path, params, record.json, record.files, record)
            )
            headers = {"Via": "1.1 google", **self._bucket_headers(bucket, now), **reply.headers}
            record.status = reply.status
            return self._response(reply.status, reply.body, headers)
        except DiscordHTTPError as error:
            record.status = error.status
            record.error_code = error.code
            headers = {"Via": "1.1 google", **error.headers}
            if bucket is not None and error.status != 429:
                headers.update(self._bucket_headers(bucket, now))
            return self._response(error.status, error.body(), headers)

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        """Serve uploaded attachments so ``Attachment.read()`` works against the fake."""
        attachment_id = int(request.match_info["attachment_id"])
        for message in self.messages.values():
            for attachment in message.attachments:
                if attachment.id == attachment_id:
                    return web.Response(
                        body=attachment.data,
                        content_type=attachment.content_type or "application/octet-stream",
                    )
        return web.Response(status=404, text="Not Found")

    # ----------------------------------------------------------------- REST: handlers

    async def _get_gateway(self, ctx: _Ctx) -> _Reply:
        return _Reply(body={"url": self.gateway_url.rstrip("/")})

    async def _get_gateway_bot(self, ctx: _Ctx) -> _Reply:
        return _Reply(
            body={
                "url": self.gateway_url.rstrip("/"),
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self.sessions),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_me(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self.bot_user)

    async def _get_user(self, ctx: _Ctx) -> _Reply:
        user = self.users.get(int(ctx.params["user_id"]))
        if user is None:
            raise _unknown(10013, "User")
        return _Reply(body=user.public())

    async def _get_app(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self._app_info())

    async def _create_dm(self, ctx: _Ctx) -> _Reply:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        recipient = str(body.get("recipient_id", ""))
        if not _is_snowflake(recipient):
            errors = _FormErrors()
            errors.add(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")
            errors.raise_if_any()
        user_id = int(recipient)
        if user_id not in self.users or user_id == self.bot.id:
            raise _unknown(10013, "User")
        return _Reply(body=self._channel_payload(self._dm_channel(user_id)))

    def _command_scope(self, ctx: _Ctx) -> int | None:
        if int(ctx.params["application_id"]) != self.application_id:
            raise DiscordHTTPError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        if "guild_id" not in ctx.params:
            return None
        guild_id = int(ctx.params["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return guild_id

    def _store_commands(self, scope: int | None, commands: list[JSON]) -> list[JSON]:
        """Give commands ids (stable per scope/type/name) and Discord's output shape."""
        stored: list[JSON] = []
        for command in commands:
            command_type = int(command.get("type") or 1)
            key = (scope, command_type, str(command["name"]))
            command_id = self._command_ids.get(key)
            if command_id is None:
                command_id = self._ids.next()
                self._command_ids[key] = command_id
            perms = command.get("default_member_permissions")
            out: JSON = {
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "default_member_permissions": None if perms is None else str(perms),
                "type": command_type,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description") or "",
                "description_localizations": command.get("description_localizations"),
                "nsfw": bool(command.get("nsfw")),
                "integration_types": command.get("integration_types") or [0],
            }
            if scope is None:
                out["dm_permission"] = command.get("dm_permission", True) is not False
                out["contexts"] = command.get("contexts")
            else:
                out["guild_id"] = str(scope)
                out["contexts"] = None
            if command.get("options"):
                out["options"] = command["options"]
            stored.append(out)
        return stored

    async def _get_commands(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self.registered_commands(self._command_scope(ctx)))

    async def _put_commands(self, ctx: _Ctx) -> _Reply:
        scope = self._command_scope(ctx)
        sync = CommandSync(
            guild_id=scope,
            payload=ctx.body if isinstance(ctx.body, list) else [],
            status=400,
            at=time.monotonic(),
        )
        self.command_syncs.append(sync)
        commands = _validate_commands(ctx.body)
        stored = self._store_commands(scope, commands)
        self.commands[scope] = stored
        sync.status = 200
        return _Reply(body=stored)

    async def _post_command(self, ctx: _Ctx) -> _Reply:
        scope = self._command_scope(ctx)
        (command,) = _validate_commands([ctx.body])
        existing = self.commands.setdefault(scope, [])
        (stored,) = self._store_commands(scope, [command])
        for i, old in enumerate(existing):
            if old["id"] == stored["id"]:
                existing[i] = stored
                return _Reply(body=stored)
        existing.append(stored)
        return _Reply(status=201, body=stored)

    async def _delete_command(self, ctx: _Ctx) -> _Reply:
        scope = self._command_scope(ctx)
        existing = self.commands.get(scope, [])
        for command in existing:
            if command["id"] == ctx.params["command_id"]:
                existing.remove(command)
                return _Reply(status=204)
        raise _unknown(10063, "application command")

    def _visible_channel(self, channel_id: int) -> ChannelRecord:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown(10003, "Channel")
        if channel.guild_id is not None and not self._bot_permissions(channel) & VIEW_CHANNEL:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return channel

    async def _get_channel(self, ctx: _Ctx) -> _Reply:
        return _Reply(
            body=self._channel_payload(self._visible_channel(int(ctx.params["channel_id"])))
        )

    def _store_message(
        self,
        channel: ChannelRecord,
        author: UserRecord,
        body: JSON,
        files: list[AttachmentRecord],
        *,
        flags: int,
        message_type: int,
        source: Literal["channel", "interaction_response", "followup", "user"],
        interaction: InteractionRecord | None = None,
    ) -> MessageRecord:
        message_id = self._ids.next()
        attachments = self._attach_files(body, files)
        data = self._build_message(
            message_id=message_id,
            channel=channel,
            author=author,
            body=body,
            attachments=attachments,
            flags=flags,
            message_type=message_type,
            interaction=interaction,
        )
        record = MessageRecord(
            id=message_id,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author.id,
            source=source,
            data=data,
            payload=dict(body),
            interaction_id=interaction.id if interaction else None,
            attachments=attachments,
        )
        self.messages[message_id] = record
        channel.last_message_id = message_id
        return record

    def _check_send_allowed(self, channel: ChannelRecord, files: list[AttachmentRecord]) -> None:
        if channel.type == CHANNEL_DM:
            recipient = self.users.get(channel.recipient_id or 0)
            if recipient is None or not recipient.dms_open:
                raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
            return
        perms = self._bot_permissions(channel)
        if not perms & VIEW_CHANNEL:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        send = SEND_MESSAGES_IN_THREADS if channel.type == CHANNEL_PUBLIC_THREAD else SEND_MESSAGES
        if not perms & send or (files and not perms & ATTACH_FILES):
            raise DiscordHTTPError(403, 50013, "Missing Permissions")

    def _check_upload_size(self, files: list[AttachmentRecord]) -> None:
        if sum(f.size for f in files) > 10 * 1024 * 1024:
            raise DiscordHTTPError(413, 40005, "Request entity too large")

    async def _post_channel_message(self, ctx: _Ctx) -> _Reply:
        channel_id = int(ctx.params["channel_id"])
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown(10003, "Channel")
        self._check_send_allowed(channel, ctx.files)
        self._check_upload_size(ctx.files)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        errors = _FormErrors()
        _validate_message_fields(errors, [], body)
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id"):
            target = self.messages.get(int(reference["message_id"]))
            if (target is None or target.deleted) and reference.get("fail_if_not_exists", True):
                errors.add(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
        errors.raise_if_any()
        if _message_is_empty({**body, "attachments": ctx.files}):
            raise _empty_message_error()
        flags = int(body.get("flags") or 0) & _SETTABLE_MESSAGE_FLAGS
        message_type = 19 if isinstance(reference, dict) and reference.get("message_id") else 0
        record = self._store_message(
            channel,
            self.bot,
            body,
            ctx.files,
            flags=flags,
            message_type=message_type,
            source="channel",
        )
        await self._gateway_message_event("MESSAGE_CREATE", record)
        return _Reply(body=record.data)

    def _channel_message(self, ctx: _Ctx) -> MessageRecord:
        channel = self._visible_channel(int(ctx.params["channel_id"]))
        record = self.messages.get(int(ctx.params["message_id"]))
        if record is None or record.deleted or record.channel_id != channel.id or record.ephemeral:
            raise _unknown(10008, "Message")
        return record

    async def _get_channel_message(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self._channel_message(ctx).data)

    def _apply_edit(
        self,
        record: MessageRecord,
        body: JSON,
        files: list[AttachmentRecord],
        prefix: list[str | int],
    ) -> None:
        """Apply an edit with Discord's semantics: omitted fields keep their value."""
        errors = _FormErrors()
        _validate_message_fields(errors, prefix, {**body, "flags": record.flags})
        errors.raise_if_any()
        self._check_upload_size(files)
        data = dict(record.data)
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in body:
                data[key] = body[key] if body[key] is not None else empty
        if "embeds" in body:
            data["embeds"] = [
                {"type": "rich", **e} if "type" not in e else dict(e) for e in data["embeds"]
            ]
        kept = record.attachments
        if "attachments" in body:
            keep_ids = {
                str(a.get("id")) for a in body.get("attachments") or [] if isinstance(a, dict)
            }
            kept = [a for a in record.attachments if str(a.id) in keep_ids]
        new_files = self._attach_files(body, files)
        attachments = [*kept, *new_files]
        data["attachments"] = [self._attachment_payload(a, record.ephemeral) for a in attachments]
        flags = record.flags
        if "flags" in body and body["flags"] is not None:
            requested = int(body["flags"])
            flags = (flags & ~MESSAGE_FLAG_SUPPRESS_EMBEDS) | (
                requested & MESSAGE_FLAG_SUPPRESS_EMBEDS
            )
            if requested & MESSAGE_FLAG_IS_COMPONENTS_V2:
                flags |= MESSAGE_FLAG_IS_COMPONENTS_V2
        was_loading = bool(flags & MESSAGE_FLAG_LOADING)
        flags &= ~MESSAGE_FLAG_LOADING
        data["flags"] = flags
        if _message_is_empty(data):
            raise _empty_message_error()
        channel = self.channels.get(record.channel_id) or ChannelRecord(
            id=record.channel_id, type=CHANNEL_GUILD_TEXT, name=None, guild_id=record.guild_id
        )
        allowed = body.get("allowed_mentions", record.allowed_mentions)
        mentions, roles, everyone = self._mentions(
            str(data.get("content") or ""), allowed, channel, None, record.author_id
        )
        data.update(mentions=mentions, mention_roles=roles, mention_everyone=everyone)
        if not was_loading:
            data["edited_timestamp"] = _now_iso()
        record.data = data
        record.attachments = attachments
        record.edits.append(dict(body))

    async def _edit_channel_message(self, ctx: _Ctx) -> _Reply:
        record = self._channel_message(ctx)
        if record.author_id != self.bot.id:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        self._apply_edit(record, body, ctx.files, [])
        await self._gateway_message_event("MESSAGE_UPDATE", record)
        return _Reply(body=record.data)

    async def _delete_channel_message(self, ctx: _Ctx) -> _Reply:
        record = self._channel_message(ctx)
        channel = self.channels[record.channel_id]
        if record.author_id != self.bot.id and not self._bot_permissions(channel) & MANAGE_MESSAGES:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        record.deleted = True
        await self._gateway_message_event("MESSAGE_DELETE", record)
        return _Reply(status=204)

    async def _typing(self, ctx: _Ctx) -> _Reply:
        channel = self._visible_channel(int(ctx.params["channel_id"]))
        self._check_send_allowed(channel, [])
        return _Reply(status=204)

    def _guild(self, ctx: _Ctx) -> GuildRecord:
        guild = self.guilds.get(int(ctx.params["guild_id"]))
        if guild is None:
            raise _unknown(10004, "Guild")
        return guild

    async def _get_guild(self, ctx: _Ctx) -> _Reply:
        guild = self._guild(ctx)
        payload = self._guild_create_payload(guild, 0)
        for key in (
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "lazy",
            "voice_states",
            "members",
            "channels",
            "threads",
            "presences",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
            "embedded_activities",
        ):
            payload.pop(key, None)
        return _Reply(body=payload)

    async def _get_guild_channels(self, ctx: _Ctx) -> _Reply:
        guild = self._guild(ctx)
        return _Reply(
            body=[
                self._channel_payload(self.channels[c])
                for c in guild.channel_ids
                if self.channels[c].type != CHANNEL_PUBLIC_THREAD
            ]
        )

    async def _get_member(self, ctx: _Ctx) -> _Reply:
        guild = self._guild(ctx)
        user_id = int(ctx.params["user_id"])
        if user_id != self.bot.id and user_id not in guild.member_ids:
            raise _unknown(10007, "Member")
        return _Reply(body=self._member_payload(guild, user_id))

    # ----------------------------------------------------------------- REST: interactions

    def _interaction_by_token(self, webhook_id: str, token: str) -> InteractionRecord:
        if int(webhook_id) != self.application_id:
            raise _unknown(10015, "Webhook")
        record = next((i for i in self.interactions.values() if i.token == token), None)
        if record is None or record.dispatched_at is None:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        age = asyncio.get_running_loop().time() - record.dispatched_at
        if age > self.interaction_token_ttl:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return record

    def _elapsed(self, record: InteractionRecord) -> float:
        return asyncio.get_running_loop().time() - (record.dispatched_at or 0.0)

    async def _interaction_callback(self, ctx: _Ctx) -> _Reply:
        record = self.interactions.get(int(ctx.params["interaction_id"]))
        if record is None or record.token != ctx.params["interaction_token"]:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        callback = CallbackRecord(
            type=body.get("type"),
            data=body.get("data"),
            elapsed=self._elapsed(record),
            files=ctx.files,
        )
        record.callbacks.append(callback)
        try:
            message = await self._apply_callback(record, callback, body, ctx.files)
        except DiscordHTTPError as error:
            callback.status, callback.error_code = error.status, error.code
            raise
        callback.status = 200 if _truthy_query(ctx.record.query.get("with_response")) else 204
        record.events.append(
            ResponseEvent(
                kind="callback",
                payload=body,
                message=message,
                elapsed=callback.elapsed,
                callback_type=int(callback.type),
            )
        )
        if callback.status == 204:
            return _Reply(status=204)
        return _Reply(body=self._callback_response(record, int(callback.type), message))

    def _callback_response(
        self, record: InteractionRecord, callback_type: int, message: MessageRecord | None
    ) -> JSON:
        """The InteractionCallbackResponse returned for ``?with_response=true``."""
        interaction: JSON = {"id": str(record.id), "type": record.type}
        resource: JSON = {"type": callback_type}
        if message is not None and callback_type in (4, 5, 7):
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = callback_type == 5
            interaction["response_message_ephemeral"] = message.ephemeral
            if callback_type in (4, 7):
                resource["message"] = message.data
        return {"interaction": interaction, "resource": resource}

    async def _apply_callback(
        self,
        record: InteractionRecord,
        callback: CallbackRecord,
        body: JSON,
        files: list[AttachmentRecord],
    ) -> MessageRecord | None:
        if record.acknowledged:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if callback.elapsed > self.interaction_ack_timeout:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        allowed = set(_ALLOWED_CALLBACKS[record.type])
        if record.type == INTERACTION_MODAL_SUBMIT and record.source_message_id is None:
            allowed -= {6, 7}
        callback_type = body.get("type")
        if callback_type not in allowed:
            errors = _FormErrors()
            choices = ", ".join(str(t) for t in sorted(allowed))
            errors.add(["type"], "BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
            errors.raise_if_any()
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        channel = self.channels[record.channel_id]
        if callback_type == CALLBACK_CHANNEL_MESSAGE:
            self._check_upload_size(files)
            errors = _FormErrors()
            _validate_message_fields(errors, ["data"], data)
            errors.raise_if_any()
            if _message_is_empty({**data, "attachments": files}):
                raise _empty_message_error()
            flags = int(data.get("flags") or 0) & (_SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                channel,
                self.bot,
                data,
                files,
                flags=flags,
                message_type=20 if record.type == INTERACTION_APPLICATION_COMMAND else 0,
                source="interaction_response",
                interaction=record,
            )
            record.original = message
            await self._gateway_message_event("MESSAGE_CREATE", message)
            return message
        if callback_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            flags = MESSAGE_FLAG_LOADING | (int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                channel,
                self.bot,
                {},
                [],
                flags=flags,
                message_type=20 if record.type == INTERACTION_APPLICATION_COMMAND else 0,
                source="interaction_response",
                interaction=record,
            )
            record.original = message
            await self._gateway_message_event("MESSAGE_CREATE", message)
            return message
        if callback_type in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            target = self.messages.get(record.source_message_id or 0)
            if target is None or target.deleted:
                raise _unknown(10008, "Message")
            record.original = target
            if callback_type == CALLBACK_UPDATE_MESSAGE:
                self._apply_edit(target, data, files, ["data"])
                await self._gateway_message_event("MESSAGE_UPDATE", target)
            return target
        if callback_type == CALLBACK_AUTOCOMPLETE_RESULT:
            errors = _FormErrors()
            suggestions = data.get("choices")
            if not isinstance(suggestions, list):
                errors.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
            else:
                if len(suggestions) > 25:
                    errors.add(
                        ["data", "choices"],
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 25 or fewer in length.",
                    )
                for i, choice in enumerate(suggestions):
                    errors.between(["data", "choices", i, "name"], choice.get("name"), 1, 100)
                    if isinstance(choice.get("value"), str):
                        errors.max_len(["data", "choices", i, "value"], choice["value"], 100)
            errors.raise_if_any()
            return None
        # CALLBACK_MODAL
        errors = _FormErrors()
        errors.required_len(["data", "title"], data.get("title"), 45)
        errors.required_len(["data", "custom_id"], data.get("custom_id"), 100)
        components = data.get("components")
        if not isinstance(components, list) or not 1 <= len(components) <= 5:
            errors.add(
                ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
            )
        errors.raise_if_any()
        record.modal = data
        return None

    async def _execute_webhook(self, ctx: _Ctx) -> _Reply:
        """Followup messages (``wait`` is always true for interaction webhooks)."""
        record = self._interaction_by_token(ctx.params["webhook_id"], ctx.params["webhook_token"])
        if not record.acknowledged:
            raise _unknown(10015, "Webhook")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        self._check_upload_size(ctx.files)
        errors = _FormErrors()
        _validate_message_fields(errors, [], body)
        errors.raise_if_any()
        original = record.original
        if (
            record.response_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.loading
            and not original.deleted
        ):
            # Documented (deprecated) behaviour: the first followup after a deferred
            # response edits the loading message; its ephemeral state is preserved.
            edit = {k: v for k, v in body.items() if k != "flags"}
            self._apply_edit(original, edit, ctx.files, [])
            message = original
            await self._gateway_message_event("MESSAGE_UPDATE", message)
        else:
            if _message_is_empty({**body, "attachments": ctx.files}):
                raise _empty_message_error()
            flags = int(body.get("flags") or 0) & (_SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                self.channels[record.channel_id],
                self.bot,
                body,
                ctx.files,
                flags=flags,
                message_type=0,
                source="followup",
                interaction=record,
            )
            await self._gateway_message_event("MESSAGE_CREATE", message)
        record.followups.append(message)
        record.events.append(
            ResponseEvent(
                kind="followup", payload=body, message=message, elapsed=self._elapsed(record)
            )
        )
        return _Reply(body=message.data)

    def _webhook_message(self, ctx: _Ctx) -> tuple[InteractionRecord, MessageRecord, bool]:
        record = self._interaction_by_token(ctx.params["webhook_id"], ctx.params["webhook_token"])
        if not record.acknowledged:
            raise _unknown(10015, "Webhook")
        message_id = ctx.params["message_id"]
        if message_id == "@original":
            message = record.original
            is_original = True
        else:
            is_original = record.original is not None and str(record.original.id) == message_id
            message = next((m for m in record.followups if str(m.id) == message_id), None)
            if is_original:
                message = record.original
        if message is None or message.deleted:
            raise _unknown(10008, "Message")
        return record, message, is_original

    async def _get_webhook_message(self, ctx: _Ctx) -> _Reply:
        _, message, _ = self._webhook_message(ctx)
        return _Reply(body=message.data)

    async def _edit_webhook_message(self, ctx: _Ctx) -> _Reply:
        record, message, is_original = self._webhook_message(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        self._apply_edit(message, body, ctx.files, [])
        record.events.append(
            ResponseEvent(
                kind="edit_original" if is_original else "edit_followup",
                payload=body,
                message=message,
                elapsed=self._elapsed(record),
            )
        )
        await self._gateway_message_event("MESSAGE_UPDATE", message)
        return _Reply(body=message.data)

    async def _delete_webhook_message(self, ctx: _Ctx) -> _Reply:
        record, message, is_original = self._webhook_message(ctx)
        message.deleted = True
        record.events.append(
            ResponseEvent(
                kind="delete_original" if is_original else "delete_followup",
                payload=None,
                message=message,
                elapsed=self._elapsed(record),
            )
        )
        await self._gateway_message_event("MESSAGE_DELETE", message)
        return _Reply(status=204)


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
