"""Discord's wire constants (opcodes, intents, permissions, flags) and small shared helpers."""

from __future__ import annotations

import datetime
import json
import time
from typing import Any, Final, TypeAlias, TypeVar

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
MANAGE_THREADS: Final = 1 << 34
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

#: app_permissions in a DM between users or a group DM, where the bot is no member (a
#: user-installed command): what an interaction response itself needs.
PRIVATE_CHANNEL_APP_PERMISSIONS: Final = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES

MESSAGE_FLAG_CROSSPOSTED: Final = 1 << 0
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
CHANNEL_GROUP_DM: Final = 3
CHANNEL_GUILD_ANNOUNCEMENT: Final = 5
CHANNEL_ANNOUNCEMENT_THREAD: Final = 10
CHANNEL_PUBLIC_THREAD: Final = 11
CHANNEL_GUILD_FORUM: Final = 15
CHANNEL_GUILD_MEDIA: Final = 16
#: Channel flag: a forum (or media channel) whose posts need a tag.
CHANNEL_FLAG_REQUIRE_TAG: Final = 1 << 4

#: Application integration types and interaction context types.
INSTALL_GUILD: Final = 0
INSTALL_USER: Final = 1
CONTEXT_GUILD: Final = 0
CONTEXT_BOT_DM: Final = 1
CONTEXT_PRIVATE_CHANNEL: Final = 2

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


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
