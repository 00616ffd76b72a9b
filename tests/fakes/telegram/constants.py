"""Limits, defaults and wire constants of the Bot API that several parts of the fake share."""

from __future__ import annotations

import re
from typing import Any, Final, Literal, TypeVar

JSONDict = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]
_T = TypeVar("_T")

LOOPBACK: Final = "127.0.0.1"
MAX_MESSAGE_LENGTH: Final = 4096  # UTF-16 code units, after entity parsing
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_INLINE_RESULTS: Final = 50
MAX_INLINE_RESULT_ID_BYTES: Final = 64
MAX_INLINE_NEXT_OFFSET_BYTES: Final = 64
MAX_CALLBACK_ANSWER_LENGTH: Final = 200  # answerCallbackQuery text, "0-200 characters"
MAX_COMMANDS: Final = 100
MAX_COMMAND_LENGTH: Final = 32
MAX_COMMAND_DESCRIPTION_LENGTH: Final = 256
DEFAULT_TOKEN: Final = "7000000001:TEST-fake-token-not-a-real-secret"

# Update kinds Telegram leaves out when allowed_updates is not given (or empty).
_DEFAULT_EXCLUDED_UPDATES: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
#: A button's kinds in the order the Bot API server tries them (Client::
#: get_inline_keyboard_button_type): the first one present wins, the rest are ignored.
_INLINE_BUTTON_ACTIONS: Final = (
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
)
#: What Telegram's clients accept as a deep link's ``start`` parameter.
START_PARAMETER: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]+")
_SECRET_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_QUERY_ID_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
