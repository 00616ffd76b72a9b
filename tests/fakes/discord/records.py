"""What the fake records (requests, messages, interactions, sessions) and its internal plumbing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from aiohttp import web

from tests.fakes.discord.protocol import (
    JSON,
    MESSAGE_FLAG_CROSSPOSTED,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    _now_iso,
)


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


@dataclass(frozen=True)
class ForumTag:
    """A tag a forum (or media channel) offers its posts; ``moderated`` ones need
    MANAGE_THREADS to apply."""

    id: int
    name: str
    moderated: bool = False

    def public(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "moderated": self.moderated,
            "emoji_id": None,
            "emoji_name": None,
        }


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
    #: Channel flags (forums: REQUIRE_TAG); for threads in a forum, the tags applied.
    flags: int = 0
    available_tags: list[ForumTag] = field(default_factory=list)
    applied_tags: list[int] = field(default_factory=list)
    #: A group DM's or a DM's members (private channels the bot is no member of).
    recipient_ids: list[int] = field(default_factory=list)
    #: Monotonic times of this announcement channel's crossposts (Discord: 10 an hour).
    crossposts: list[float] = field(default_factory=list, repr=False)


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
    def crossposted(self) -> bool:
        """Published to the channels following this announcement channel."""
        return bool(self.flags & MESSAGE_FLAG_CROSSPOSTED)

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
    #: Discord's interaction context type: 0 guild, 1 the bot's DM, 2 another DM or group DM.
    context: int = 0
