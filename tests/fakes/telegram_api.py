"""A small but faithful fake of the Telegram Bot API, served over HTTP on 127.0.0.1.

Why this exists
---------------
Mocking ``telegram.Bot`` methods tests our *assumptions* about Telegram, not Telegram. This fake
sits on the other side of the wire instead: the real, unmodified python-telegram-bot client
(``ApplicationBuilder().base_url(fake.base_url)``) talks HTTP to it exactly as it would talk to
``api.telegram.org``, so request encoding, response parsing and PTB's error mapping
(``BadRequest``, ``Forbidden``, ``RetryAfter``, ``ChatMigrated``, ``NetworkError``...) are all
exercised for real. Where Telegram has rules that bite in production (HTML entity parsing,
4096 UTF-16 units, callback data size, command names, blocked users, migrated groups, flood
limits) the fake enforces them with Telegram's own error descriptions, so a test that passes
here does not fail against the real service for a reason the fake could have known about.

The HTML parser is a line-by-line port of TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp),
which is the code the Bot API server runs, so error wording and byte offsets match.

Only loopback is ever used: the server binds 127.0.0.1 and webhook delivery refuses any URL
whose host is not 127.0.0.1.

Quick start::

    async with FakeTelegram() as tg:
        tg.add_private_chat(42, first_name="Alice")
        app = (ApplicationBuilder().token(tg.token).base_url(tg.base_url)
               .base_file_url(tg.base_file_url).build())
        ...  # add handlers, initialize, start, start_polling
        tg.send_text(42, "/start")
        [reply] = await tg.wait_for_messages(42, 1)
        assert reply.text == "Hello Alice"

Test-facing API of :class:`FakeTelegram`
----------------------------------------
Lifecycle
    ``await start()`` / ``await stop()`` or ``async with FakeTelegram() as tg``;
    ``base_url`` (``http://127.0.0.1:PORT/bot``), ``base_file_url``, ``token``, ``port``,
    ``bot`` (a :class:`FakeUser`; also ``bot_id``, ``bot_username``), ``get_me()``.
World state
    ``add_user``, ``add_private_chat``, ``add_group`` (basic group or supergroup, optional forum
    topics), ``add_channel``, ``add_topic``, ``set_member_status``, ``block_user`` /
    ``unblock_user``, ``kick_bot_from``, ``migrate_group``; ``users`` and ``chats`` dicts.
User input (each returns the update dict it queued)
    ``send_text``, ``channel_post``, ``press_button``, ``inline_query``, ``push_update``
    (any raw update body). ``update_id`` grows monotonically. Group messages obey privacy
    mode (see ``send_text``); filtered updates land in ``filtered_updates``.
Recording
    ``calls`` (every call made with the right token, :class:`RecordedCall`), ``calls_to``, ``messages``
    (:class:`SentMessage`, everything the bot sent), ``messages_in(chat_id, thread_id)``,
    ``last_message``, ``edits``, ``deleted_messages``, ``inline_answers``,
    ``callback_answers``, ``chat_actions``, ``commands_for``, ``webhook``,
    ``webhook_deliveries``, ``pending_updates``, ``active_long_polls``,
    ``too_many_requests_sent``, ``warnings``, ``clear_calls()``.
Waiting (event driven, never sleeps)
    ``await wait_for(predicate, timeout=5.0)``, ``await wait_for_messages(chat_id, count)``,
    ``await wait_for_call(method)``. Timeouts raise ``AssertionError`` with a summary.
Failure injection
    ``fail_next(method, error_code=..., description=..., retry_after=...,
    migrate_to_chat_id=..., times=1, chat_id=None, raw_body=None)``,
    ``rate_limit(messages_per_second)``.
Webhooks
    ``setWebhook``/``deleteWebhook``/``getWebhookInfo`` are served;
    ``await deliver_via_webhook(update)`` POSTs one update (with
    ``X-Telegram-Bot-Api-Secret-Token``) to the registered 127.0.0.1 URL and returns the
    HTTP status; ``await deliver_pending_via_webhook()`` flushes the queue.

Knowingly not modelled: media/file methods, MarkdownV2/Markdown parsing (text is passed through
unparsed and a warning is recorded), inline-message editing, per-chat flood limits, business
connections, payments, and Telegram's full URL/e-mail auto-detection (a close approximation is
used).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

__all__ = [
    "BotAPIError",
    "CallbackAnswer",
    "ChatActionRecord",
    "EntityParseError",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "InlineAnswer",
    "MessageEdit",
    "MessageVersion",
    "ParsedText",
    "RecordedCall",
    "SentMessage",
    "WebhookConfig",
    "WebhookDelivery",
    "check_link",
    "detect_entities",
    "entity_text",
    "parse_html",
    "utf16_len",
]

JSONDict = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]
_T = TypeVar("_T")

LOOPBACK: Final = "127.0.0.1"
MAX_MESSAGE_LENGTH: Final = 4096  # UTF-16 code units, after entity parsing
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_INLINE_RESULTS: Final = 50
MAX_INLINE_RESULT_ID_BYTES: Final = 64
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
_INLINE_BUTTON_ACTIONS: Final = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE: Final = re.compile(r"[a-z0-9_]+")
_SECRET_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
_QUERY_ID_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)

# Parameter names whose form-encoded value is JSON / an integer / a boolean. Only used to make
# RecordedCall.params convenient to assert on; the method handlers parse their own parameters.
_JSON_PARAMS: Final = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "results",
        "link_preview_options",
        "reply_parameters",
        "button",
        "media",
        "permissions",
        "rights",
    }
)
_INT_PARAMS: Final = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "max_connections",
        "reply_to_message_id",
        "until_date",
    }
)
_BOOL_PARAMS: Final = frozenset(
    {
        "disable_notification",
        "protect_content",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "allow_paid_broadcast",
        "for_channels",
    }
)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class BotAPIError(Exception):
    """An error response of the Bot API: HTTP status == ``error_code``, as Telegram does.

    PTB maps the *HTTP status* (not the JSON) to its exception classes, and looks at
    ``parameters.retry_after`` / ``parameters.migrate_to_chat_id`` first, so both must be right.
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        raw_body: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id
        self.raw_body = raw_body

    def body(self) -> JSONDict:
        """The JSON body Telegram would send for this error."""
        result: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        parameters: JSONDict = {}
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            result["parameters"] = parameters
        return result

    def response(self) -> web.Response:
        """Render as an aiohttp response (a raw body, e.g. an nginx HTML page, if given)."""
        if self.raw_body is not None:
            return web.Response(
                text=self.raw_body, status=self.error_code, content_type="text/html"
            )
        return web.json_response(self.body(), status=self.error_code)


def _bad_request(message: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {message}")


class EntityParseError(ValueError):
    """HTML could not be parsed; the message is TDLib's, without the Bot API prefix."""


# --------------------------------------------------------------------------------------------
# Text utilities: UTF-16 lengths, Telegram's HTML parser, entity detection, link checking
# --------------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for offsets and the 4096 limit."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def entity_text(text: str, entity: Mapping[str, Any]) -> str:
    """The substring of ``text`` an entity covers (offsets are UTF-16 code units)."""
    raw = text.encode("utf-16-le", "surrogatepass")
    start = int(entity["offset"]) * 2
    end = start + int(entity["length"]) * 2
    return raw[start:end].decode("utf-16-le", "surrogatepass")


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[i]`` is the UTF-16 offset of ``text[i]`` (and ``prefix[len]`` the total)."""
    prefix = [0] * (len(text) + 1)
    total = 0
    for index, char in enumerate(text):
        prefix[index] = total
        total += 2 if ord(char) > 0xFFFF else 1
    prefix[len(text)] = total
    return prefix


@dataclass(slots=True)
class ParsedText:
    """Plain text plus Bot API ``MessageEntity`` dicts, as Telegram stores a message."""

    text: str
    entities: list[JSONDict]


# Same order of preference as TDLib's MessageEntity::get_type_priority; lower sorts first.
_ENTITY_PRIORITY: Final[dict[str, int]] = {
    "mention": 50,
    "hashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "bold": 90,
    "italic": 91,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "cashtag": 50,
    "phone_number": 50,
    "underline": 92,
    "strikethrough": 93,
    "blockquote": 0,
    "spoiler": 94,
    "custom_emoji": 99,
    "expandable_blockquote": 0,
}


def _entity_sort_key(entity: Mapping[str, Any]) -> tuple[int, int, int]:
    priority = _ENTITY_PRIORITY.get(str(entity["type"]), 50)
    if entity["type"] == "pre" and entity.get("language"):
        priority = 10  # PreCode
    return (int(entity["offset"]), -int(entity["length"]), priority)


_SPACE_BYTES: Final = frozenset(b" \t\r\n\x00\v\f")  # td::is_space (NUL included: C string end)
_ATTRIBUTE_NAME_STOP: Final = frozenset(b"=>/\"'")
_NAME_TOKEN_BYTES: Final = frozenset((string.ascii_letters + string.digits + ".-").encode())
_HEX_BYTES: Final = frozenset(string.hexdigits.encode())
_DIGIT_BYTES: Final = frozenset(string.digits.encode())
_ALPHA_BYTES: Final = frozenset(string.ascii_letters.encode())
_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_NAMED_ENTITIES: Final[dict[bytes, int]] = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}


def _decode_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    """Port of TDLib ``decode_html_entity``: (code point or 0, position after the entity)."""
    size = len(src)

    def at(index: int) -> int:
        return src[index] if index < size else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == 0x23:  # '#': numeric character reference
        end += 1
        if at(pos + 2) == 0x78:  # 'x': hexadecimal
            end += 1
            while at(end) in _HEX_BYTES:
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while at(end) in _DIGIT_BYTES:
                code = code * 10 + at(end) - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while at(end) in _ALPHA_BYTES:
            end += 1
        code = _NAMED_ENTITIES.get(src[pos + 1 : end], 0)
        if code == 0:
            return 0, pos  # unsupported named entity: the '&' stays literal, as in Telegram
    if at(end) == 0x3B:  # ';'
        end += 1
    return code, end


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    out_pos: int


@dataclass(slots=True)
class _RawEntity:
    type: str
    offset: int
    length: int
    argument: str = ""
    language: str = ""
    user_id: int | None = None


_TG_USER_LINK_RE: Final = re.compile(r"tg:(?://)?user\?id=(\d+)(?:&.*)?", re.IGNORECASE | re.DOTALL)


def _link_user_id(url: str) -> int | None:
    """``tg://user?id=123`` links become ``text_mention`` entities (LinkManager::get_link_user_id)."""
    match = _TG_USER_LINK_RE.fullmatch(url)
    if match is None:
        return None
    user_id = int(match.group(1))
    return user_id if 0 < user_id < 2**40 else None


def check_link(link: str) -> str | None:
    """Approximation of TDLib ``LinkManager::get_checked_link``: normalised URL or ``None``.

    Telegram silently drops a ``text_link`` whose URL it rejects, and normalises the ones it
    keeps (``http://`` is added, the host is lower-cased, an empty path becomes ``/``).
    """
    lowered = link.lower()
    for scheme in ("tg:", "ton:", "tonsite:"):
        if lowered.startswith(scheme):
            rest = link[len(scheme) :]
            rest = rest.removeprefix("//")
            match = re.fullmatch(r"([^/?#]*)(.*)", rest, re.DOTALL)
            if match is None:
                return None
            host, tail = match.group(1), match.group(2)
            allowed = (
                string.ascii_letters + string.digits + "-_" + ("." if scheme == "tonsite:" else "")
            )
            if not host or any(char not in allowed for char in host):
                return None
            return f"{scheme[:-1]}://{host.lower()}{tail}"
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", link)
    if scheme_match is not None:
        protocol = scheme_match.group(1).lower()
        if protocol not in ("http", "https"):
            return None
        rest = link[scheme_match.end() :]
    else:
        protocol = "http"
        rest = link
    match = re.fullmatch(r"([^/?#]*)(.*)", rest, re.DOTALL)
    if match is None:
        return None
    authority, tail = match.group(1), match.group(2)
    userinfo = ""
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
    host, port = authority, ""
    is_ipv6 = host.startswith("[")
    if is_ipv6:
        closing = host.find("]")
        if closing < 0:
            return None
        host, after = host[: closing + 1], host[closing + 1 :]
        if after:
            if not after.startswith(":"):
                return None
            port = after[1:]
    elif ":" in host:
        host, port = host.rsplit(":", 1)
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return None
    host = host.lower()
    if not host:
        return None
    if not is_ipv6:
        allowed_host = set(string.ascii_lowercase + string.digits + "-._~%")
        if any(char not in allowed_host and ord(char) < 0x80 for char in host):
            return None
        if "." not in host:
            return None
    if any(char.isspace() for char in tail):
        return None
    if not tail:
        tail = "/"
    elif tail[0] != "/":
        tail = "/" + tail
    userinfo_part = f"{userinfo}@" if userinfo else ""
    port_part = f":{port}" if port else ""
    return f"{protocol}://{userinfo_part}{host}{port_part}{tail}"


def _close_html_entity(
    tag: _OpenTag, length: int, entities: list[_RawEntity], inner: bytes
) -> None:
    """Turn a closed tag into an entity, including TDLib's pre+code → pre(language) merge."""
    offset = tag.utf16_offset
    name = tag.name
    if name in ("i", "em"):
        entities.append(_RawEntity("italic", offset, length))
    elif name in ("b", "strong"):
        entities.append(_RawEntity("bold", offset, length))
    elif name in ("s", "strike", "del"):
        entities.append(_RawEntity("strikethrough", offset, length))
    elif name in ("u", "ins"):
        entities.append(_RawEntity("underline", offset, length))
    elif name == "tg-spoiler" or (name == "span" and tag.argument == "spoiler"):
        entities.append(_RawEntity("spoiler", offset, length))
    elif name == "tg-emoji":
        try:
            document_id = int(tag.argument)
        except ValueError:
            document_id = 0
        if document_id == 0 or not -(2**63) <= document_id < 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(_RawEntity("custom_emoji", offset, length, argument=str(document_id)))
    elif name == "a":
        url = tag.argument or inner.decode("utf-8", "replace")
        user_id = _link_user_id(url)
        if user_id is not None:
            entities.append(_RawEntity("text_mention", offset, length, user_id=user_id))
        else:
            checked = check_link(url)
            if checked:
                entities.append(_RawEntity("text_link", offset, length, argument=checked))
    elif name == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "code"
            and last.offset == offset
            and last.length == length
            and last.argument
        ):
            last.type = "pre"
            last.language = last.argument
            last.argument = ""
        else:
            entities.append(_RawEntity("pre", offset, length))
    elif name == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "pre"
            and not last.language
            and last.offset == offset
            and last.length == length
            and tag.argument
        ):
            last.language = tag.argument
        else:
            entities.append(_RawEntity("code", offset, length, argument=tag.argument))
    elif name == "blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append(_RawEntity(kind, offset, length))


def _raw_entity_to_dict(entity: _RawEntity) -> JSONDict:
    result: JSONDict = {"offset": entity.offset, "length": entity.length, "type": entity.type}
    if entity.type == "text_link":
        result["url"] = entity.argument
    elif entity.type == "text_mention":
        result["user"] = {"id": entity.user_id}
    elif entity.type == "pre" and entity.language:
        result["language"] = entity.language
    elif entity.type == "custom_emoji":
        result["custom_emoji_id"] = entity.argument
    return result


def parse_html(text: str) -> ParsedText:
    """Parse Telegram-flavoured HTML exactly like TDLib's ``parse_html``.

    Raises :class:`EntityParseError` with TDLib's message (byte offsets are UTF-8 offsets into
    ``text``). Notable real-world behaviour kept on purpose: an ``&`` that does not start one of
    ``&lt; &gt; &amp; &quot;`` or a numeric reference stays a literal ``&``; a stray ``<`` is a
    start tag (``a < b`` fails with ``Unsupported start tag ""``); ``</>`` closes any tag.
    ``text_mention`` entities carry only ``{"id": ...}`` here; FakeTelegram fills the user in.
    """
    src = text.encode("utf-8", "surrogatepass")
    size = len(src)

    def at(index: int) -> int:
        return src[index] if index < size else 0

    out = bytearray()
    entities: list[_RawEntity] = []
    nested: list[_OpenTag] = []
    utf16_offset = 0
    need_recheck_utf8 = False
    i = 0
    while i < size:
        char = src[i]
        if char == 0x26:  # '&'
            code, new_i = _decode_html_entity(src, i)
            if code:
                utf16_offset += 2 if code > 0xFFFF else 1
                if 0xD800 <= code <= 0xDFFF:
                    need_recheck_utf8 = True
                out += chr(code).encode("utf-8", "surrogatepass")
                i = new_i
                continue
        if char != 0x3C:  # not '<'
            if char & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16_offset += 2 if char >= 0xF0 else 1
            out.append(char)
            i += 1
            continue

        begin_pos = i
        i += 1
        if at(i) != 0x2F:  # start tag
            while at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
            tag_name = src[begin_pos + 1 : i].lower().decode("utf-8", "replace")
            if tag_name not in _HTML_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag_name}" at byte offset {begin_pos}'
                )
            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) == 0x3E:
                    break
                attribute_begin = i
                while at(i) not in _SPACE_BYTES and at(i) not in _ATTRIBUTE_NAME_STOP:
                    i += 1
                attribute_name = src[attribute_begin:i]
                if not attribute_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag_name}" at byte offset {begin_pos}'
                    )
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) != 0x3D:  # no '=': a value-less attribute
                    if at(i) == 0:
                        raise EntityParseError(
                            f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}'
                        )
                    if tag_name == "blockquote" and attribute_name == b"expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) == 0:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}'
                    )
                if at(i) not in (0x22, 0x27):  # a name token, case-insensitive
                    token_begin = i
                    while at(i) in _NAME_TOKEN_BYTES:
                        i += 1
                    attribute_value = src[token_begin:i].lower().decode("ascii")
                    if at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a quoted string literal
                    end_character = at(i)
                    i += 1
                    value = bytearray()
                    while at(i) != end_character and at(i) != 0:
                        if at(i) == 0x26:
                            code, new_i = _decode_html_entity(src, i)
                            if code:
                                value += chr(code).encode("utf-8", "surrogatepass")
                                i = new_i
                                continue
                        value.append(at(i))
                        i += 1
                    if at(i) == end_character:
                        i += 1
                    attribute_value = bytes(value).decode("utf-8", "replace")
                if at(i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
                if tag_name == "a" and attribute_name == b"href":
                    argument = attribute_value
                elif (
                    tag_name == "code"
                    and attribute_name == b"class"
                    and attribute_value.startswith("language-")
                ):
                    argument = attribute_value[len("language-") :]
                elif (
                    tag_name == "span"
                    and attribute_name == b"class"
                    and attribute_value.startswith("tg-")
                ):
                    argument = attribute_value[len("tg-") :]
                elif tag_name == "tg-emoji" and attribute_name == b"emoji-id":
                    argument = attribute_value
                elif tag_name == "blockquote" and attribute_name == b"expandable":
                    argument = "1"
            if tag_name == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin_pos}'
                )
            nested.append(_OpenTag(tag_name, argument, utf16_offset, len(out)))
        else:  # end tag
            if not nested:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin_pos}")
            while at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                i += 1
            end_tag_name = src[begin_pos + 2 : i].lower().decode("utf-8", "replace")
            while at(i) in _SPACE_BYTES and at(i) != 0:
                i += 1
            if at(i) != 0x3E:
                raise EntityParseError(f"Unclosed end tag at byte offset {begin_pos}")
            open_tag = nested[-1]
            if end_tag_name and end_tag_name != open_tag.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {begin_pos}, expected "</{open_tag.name}>", '
                    f'found "</{end_tag_name}>"'
                )
            if utf16_offset > open_tag.utf16_offset:
                _close_html_entity(
                    open_tag,
                    utf16_offset - open_tag.utf16_offset,
                    entities,
                    bytes(out[open_tag.out_pos :]),
                )
            nested.pop()
        i += 1  # skip the '>'

    if nested:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{nested[-1].name}"'
        )
    for entity in entities:
        if entity.type == "code":
            entity.argument = ""
    try:
        plain = bytes(out).decode("utf-8")
    except UnicodeDecodeError as exc:
        if need_recheck_utf8:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, check "
                "for unmatched surrogate code units"
            ) from exc
        plain = bytes(out).decode("utf-8", "replace")
    result = [_raw_entity_to_dict(entity) for entity in entities]
    result.sort(key=_entity_sort_key)
    return ParsedText(plain, result)


_ASCII_WORD: Final = frozenset(string.ascii_letters + string.digits + "_")
_SHORT_USERNAMES: Final = frozenset(
    {"gif", "wiki", "vid", "bing", "pic", "bold", "imdb", "coub", "like", "vote"}
)
_URL_RE: Final = re.compile(r"(?i)(?:https?://|www\.)[^\s<>\"']+")
_EMAIL_RE: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL_TRAILING: Final = ".,:;!?'\")]}"


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _find_bot_commands(text: str) -> list[tuple[int, int]]:
    """Port of TDLib ``match_bot_commands``: ``/cmd`` or ``/cmd@bot_name``."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        slash = text.find("/", pos)
        if slash < 0:
            return found
        if slash > 0:
            previous = text[slash - 1]
            if _is_word_char(previous) or previous in "/<>":
                pos = slash + 1
                continue
        end = slash + 1
        while end < size and text[end] in _ASCII_WORD:
            end += 1
        command_size = end - slash - 1
        if command_size < 1 or command_size > 64:
            pos = max(end, slash + 1)
            continue
        command_end = end
        if end < size and text[end] == "@":
            mention_end = end + 1
            while mention_end < size and text[mention_end] in _ASCII_WORD:
                mention_end += 1
            mention_size = mention_end - end - 1
            if mention_size < 3 or mention_size > 32:
                pos = mention_end
                continue
            command_end = end = mention_end
        following = text[end] if end < size else ""
        if following and (_is_word_char(following) or following in "/<>"):
            pos = end
            continue
        found.append((slash, command_end))
        pos = end


def _find_mentions(text: str) -> list[tuple[int, int]]:
    """Port of TDLib ``find_mentions``: ``@username`` (4..32 chars, or a few short bot names)."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        at_sign = text.find("@", pos)
        if at_sign < 0:
            return found
        if at_sign > 0 and _is_word_char(text[at_sign - 1]):
            pos = at_sign + 1
            continue
        end = at_sign + 1
        while end < size and text[end] in _ASCII_WORD:
            end += 1
        pos = max(end, at_sign + 1)
        name = text[at_sign + 1 : end]
        if not 2 <= len(name) <= 32:
            continue
        if end < size and _is_word_char(text[end]):
            continue
        if len(name) >= 4 or name.lower() in _SHORT_USERNAMES:
            found.append((at_sign, end))


def _is_hashtag_char(char: str) -> bool:
    return char.isalnum() or char in "_\u200c\u00b7" or "\u0d80" <= char <= "\u0dff"


def _find_hashtags(text: str) -> list[tuple[int, int]]:
    """Approximation of TDLib ``match_hashtags``: ``#tag`` with at least one letter."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        hash_sign = text.find("#", pos)
        if hash_sign < 0:
            return found
        if hash_sign > 0 and _is_hashtag_char(text[hash_sign - 1]):
            pos = hash_sign + 1
            continue
        end = hash_sign + 1
        while end < size and _is_hashtag_char(text[end]):
            end += 1
        pos = max(end, hash_sign + 1)
        body = text[hash_sign + 1 : end]
        if not body or (end < size and text[end] == "#"):
            continue
        if not any(char.isalpha() for char in body):
            continue
        found.append((hash_sign, min(end, hash_sign + 1 + 256)))


def _find_urls(text: str) -> list[tuple[int, int]]:
    """Approximation of TDLib URL detection: explicit ``http(s)://`` or ``www.`` links."""
    found: list[tuple[int, int]] = []
    for match in _URL_RE.finditer(text):
        start, end = match.start(), match.end()
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "@/"):
            continue
        while end > start and text[end - 1] in _URL_TRAILING:
            if text[end - 1] == ")" and text[start:end].count("(") >= text[start:end].count(")"):
                break
            end -= 1
        if check_link(text[start:end]) is not None:
            found.append((start, end))
    return found


def _find_emails(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for match in _EMAIL_RE.finditer(text):
        start = match.start()
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in ".@"):
            continue
        found.append((start, match.end()))
    return found


_BLOCKING_ENTITY_TYPES: Final = frozenset({"code", "pre", "text_link", "text_mention"})


def detect_entities(text: str, existing: Iterable[Mapping[str, Any]] = ()) -> list[JSONDict]:
    """Entities Telegram finds by itself in plain text (bot commands, mentions, hashtags,
    URLs, e-mails) outside code/pre/text_link entities. Returns new entities only."""
    prefix = _utf16_prefix(text)
    blocked = [
        (int(entity["offset"]), int(entity["offset"]) + int(entity["length"]))
        for entity in existing
        if entity["type"] in _BLOCKING_ENTITY_TYPES
    ]
    taken: list[tuple[int, int]] = []
    found: list[JSONDict] = []
    finders: list[tuple[str, Callable[[str], list[tuple[int, int]]]]] = [
        ("url", _find_urls),
        ("email", _find_emails),
        ("bot_command", _find_bot_commands),
        ("mention", _find_mentions),
        ("hashtag", _find_hashtags),
    ]
    for kind, finder in finders:
        for start, end in finder(text):
            u_start, u_end = prefix[start], prefix[end]
            if any(u_start < b_end and b_start < u_end for b_start, b_end in blocked):
                continue
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append({"offset": u_start, "length": u_end - u_start, "type": kind})
    found.sort(key=_entity_sort_key)
    return found


_TRIM_CHARS: Final = " \t\r\n\v\f"


def _trim_formatted(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Telegram strips leading/trailing whitespace and clips entities to what remains."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM_CHARS))])
    total = utf16_len(stripped)
    clipped: list[JSONDict] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - lead)
        end = min(total, int(entity["offset"]) + int(entity["length"]) - lead)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped


# --------------------------------------------------------------------------------------------
# Records and world state
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class FakeUser:
    """A Telegram user (or the bot itself, with ``is_bot=True``)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_dict(self) -> JSONDict:
        """The ``User`` object as it appears in messages."""
        result: JSONDict = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            result["last_name"] = self.last_name
        if self.username:
            result["username"] = self.username
        if self.language_code and not self.is_bot:
            result["language_code"] = self.language_code
        return result


@dataclass(slots=True)
class FakeChat:
    """A chat known to the fake. ``members`` maps user ids (the bot included) to a status."""

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_id: int | None = None  # private chats: the other party
    is_forum: bool = False
    topics: set[int] = field(default_factory=set)
    members: dict[int, MemberStatus] = field(default_factory=dict)
    blocked: bool = False  # private chats: the user blocked the bot
    started: bool = True  # private chats: the user has talked to the bot before
    migrated_to: int | None = None
    migrated_from: int | None = None
    next_message_id: int = 1

    def to_dict(self) -> JSONDict:
        """The short ``Chat`` object embedded in messages and updates."""
        result: JSONDict = {"id": self.id}
        if self.type == "private":
            result["first_name"] = self.first_name or ""
            if self.last_name:
                result["last_name"] = self.last_name
        else:
            result["title"] = self.title or ""
        if self.username:
            result["username"] = self.username
        result["type"] = self.type
        if self.is_forum:
            result["is_forum"] = True
        return result


@dataclass(slots=True)
class RecordedCall:
    """One HTTP call the bot made. ``params`` are decoded (ints, bools, JSON objects)."""

    method: str
    params: JSONDict
    at: float
    http_status: int | None = None
    ok: bool | None = None
    result: Any = None
    error_code: int | None = None
    description: str | None = None

    @property
    def finished(self) -> bool:
        """False while a long poll is still waiting."""
        return self.http_status is not None

    def summary(self) -> str:
        """One line for failure reports."""
        shown = {key: value for key, value in self.params.items() if key != "reply_markup"}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        if len(text) > 160:
            text = text[:157] + "..."
        outcome = "pending" if self.http_status is None else str(self.http_status)
        if self.description:
            outcome += f" {self.description}"
        return f"{self.method} {text} -> {outcome}"


@dataclass(slots=True)
class MessageVersion:
    """A message's content at some point in time (kept in ``SentMessage.history``)."""

    text: str
    raw_text: str
    parse_mode: str | None
    entities: list[JSONDict]
    reply_markup: JSONDict | None
    link_preview_options: JSONDict | None
    edit_date: int | None


@dataclass(slots=True)
class SentMessage:
    """A text message the bot sent, with both the raw request and what Telegram made of it."""

    message_id: int
    chat_id: int
    message_thread_id: int | None
    text: str  # plain text after entity parsing and trimming
    raw_text: str  # exactly what the bot sent
    parse_mode: str | None
    entities: list[JSONDict]
    reply_markup: JSONDict | None
    link_preview_options: JSONDict | None
    disable_web_page_preview: bool | None
    disable_notification: bool
    protect_content: bool
    reply_to_chat_id: int | None
    reply_to_message_id: int | None
    date: int
    params: JSONDict
    edit_date: int | None = None
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)

    def version(self) -> MessageVersion:
        """Snapshot of the current content."""
        return MessageVersion(
            text=self.text,
            raw_text=self.raw_text,
            parse_mode=self.parse_mode,
            entities=copy.deepcopy(self.entities),
            reply_markup=copy.deepcopy(self.reply_markup),
            link_preview_options=copy.deepcopy(self.link_preview_options),
            edit_date=self.edit_date,
        )

    def entity_texts(self, entity_type: str) -> list[str]:
        """Texts covered by entities of one type, e.g. ``entity_texts("bold")``."""
        return [entity_text(self.text, e) for e in self.entities if e["type"] == entity_type]

    @property
    def links(self) -> list[str]:
        """URLs of ``text_link`` entities and of auto-detected ``url`` entities, in order."""
        result: list[str] = []
        for entity in self.entities:
            if entity["type"] == "text_link":
                result.append(str(entity["url"]))
            elif entity["type"] == "url":
                result.append(entity_text(self.text, entity))
        return result

    @property
    def buttons(self) -> list[JSONDict]:
        """All inline keyboard buttons, row by row."""
        if not self.reply_markup or "inline_keyboard" not in self.reply_markup:
            return []
        return [button for row in self.reply_markup["inline_keyboard"] for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The ``callback_data`` of every callback button."""
        return [str(b["callback_data"]) for b in self.buttons if "callback_data" in b]


@dataclass(slots=True)
class MessageEdit:
    """One successful ``editMessageText``: the content before, and the (live) message."""

    chat_id: int
    message_id: int
    previous: MessageVersion
    message: SentMessage


@dataclass(slots=True)
class InlineAnswer:
    """An ``answerInlineQuery`` call that Telegram accepted."""

    inline_query_id: str
    query: str
    from_user_id: int
    results: list[JSONDict]
    cache_time: int | None
    is_personal: bool
    next_offset: str | None
    button: JSONDict | None


@dataclass(slots=True)
class CallbackAnswer:
    """An ``answerCallbackQuery`` call that Telegram accepted."""

    callback_query_id: str
    data: str | None
    from_user_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass(slots=True)
class ChatActionRecord:
    """A ``sendChatAction`` call that Telegram accepted."""

    chat_id: int
    action: str
    message_thread_id: int | None


@dataclass(slots=True)
class WebhookConfig:
    """What ``setWebhook`` registered."""

    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None
    allowed_updates: list[str] | None
    has_custom_certificate: bool
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass(slots=True)
class WebhookDelivery:
    """One POST of an update to the registered webhook."""

    update_id: int
    url: str
    status: int


@dataclass(slots=True)
class _StoredMessage:
    """Any message in a chat: bot messages keep a live SentMessage, others their JSON."""

    json: JSONDict | None
    sent: SentMessage | None
    deleted: bool = False


@dataclass(slots=True)
class _IssuedQuery:
    """A callback or inline query the fake handed to the bot (answerable once)."""

    from_user_id: int
    data: str
    answered: bool = False


@dataclass(slots=True, eq=False)
class _InjectedFailure:
    method: str  # lower-case
    error: BotAPIError
    remaining: int
    chat_id: int | str | None


@dataclass(slots=True, eq=False)
class _Poller:
    """A pending long poll; ``terminated`` when a newer getUpdates replaced it."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: bool = False


@dataclass(slots=True)
class _Described:
    """A successful result that also carries a ``description`` (setWebhook & co)."""

    value: Any
    description: str


Handler = Callable[["_Params"], Awaitable[Any]]


class _Params:
    """Typed access to request parameters, lenient about form strings vs. JSON values.

    PTB form-encodes: strings raw, everything else JSON-encoded (``"123"``, ``"true"``,
    ``'{"inline_keyboard": ...}'``). JSON bodies carry native values. Telegram accepts both.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def present(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value != ""

    def str_(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def int_(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be of type Integer')

    def float_(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be of type Number')

    def bool_(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json_(self, name: str, what: str) -> Any:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {what} JSON object") from None
        return value


def _chat_key(value: Any) -> int | str | None:
    """Normalise a chat_id parameter for matching (ints for numeric ids, else the string)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _decode_for_record(raw: Mapping[str, Any]) -> JSONDict:
    """Best-effort typed view of the parameters for RecordedCall.params."""
    decoded: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in _JSON_PARAMS:
                try:
                    decoded[key] = json.loads(value)
                except ValueError:
                    decoded[key] = value
                continue
            if key in _INT_PARAMS:
                try:
                    decoded[key] = int(value)
                except ValueError:
                    decoded[key] = value
                continue
            if key in _BOOL_PARAMS and value.lower() in ("true", "false"):
                decoded[key] = value.lower() == "true"
                continue
        decoded[key] = value
    return decoded


def _default_description(error_code: int, retry_after: int | None, migrate: int | None) -> str:
    if error_code == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if error_code == 400 and migrate is not None:
        return "Bad Request: group chat was upgraded to a supergroup chat"
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(error_code, "Unknown error")


# --------------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """The fake Bot API server plus the simulated Telegram world around the bot.

    Everything runs on the test's event loop; the test-facing mutators (``send_text`` ...) are
    synchronous because they only change in-memory state and wake waiters.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "dlw_test_bot",
        bot_first_name: str = "DLW Test Bot",
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = False,
        supports_inline_queries: bool = True,
        port: int = 0,
    ) -> None:
        bot_id_text, _, secret = token.partition(":")
        if not bot_id_text.isdigit() or not secret:
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token: Final[str] = token
        self.bot: Final[FakeUser] = FakeUser(
            id=int(bot_id_text), first_name=bot_first_name, username=bot_username, is_bot=True
        )
        self.can_join_groups = can_join_groups
        self.can_read_all_group_messages = can_read_all_group_messages
        self.supports_inline_queries = supports_inline_queries
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = False

        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.chats: dict[int, FakeChat] = {}

        self.calls: list[RecordedCall] = []
        self.messages: list[SentMessage] = []
        self.edits: list[MessageEdit] = []
        self.deleted_messages: list[tuple[int, int]] = []
        self.inline_answers: list[InlineAnswer] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[ChatActionRecord] = []
        self.webhook: WebhookConfig | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.filtered_updates: list[tuple[JSONDict, str]] = []
        self.warnings: list[str] = []
        self.too_many_requests_sent = 0

        self._history: dict[int, dict[int, _StoredMessage]] = {}
        self._by_chat: dict[tuple[int, int | None], list[SentMessage]] = {}
        self._deleted_in: dict[tuple[int, int | None], int] = {}
        self._updates: deque[JSONDict] = deque()
        self._next_update_id = 500_000_001
        self._allowed_updates: frozenset[str] | None = None
        self._pollers: set[_Poller] = set()
        self._waiters: set[asyncio.Future[None]] = set()
        self._injected: list[_InjectedFailure] = []
        self._rate_cap: int | None = None
        self._rate_window: deque[float] = deque()
        self._callback_queries: dict[str, _IssuedQuery] = {}
        self._inline_queries: dict[str, _IssuedQuery] = {}
        self._query_counter = 0
        self._commands: dict[str, list[JSONDict]] = {}
        self._handlers: dict[str, Handler] = {
            "getme": self._m_get_me,
            "logout": self._m_true,
            "close": self._m_true,
            "deletewebhook": self._m_delete_webhook,
            "setwebhook": self._m_set_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "getupdates": self._m_get_updates,
            "sendmessage": self._m_send_message,
            "editmessagetext": self._m_edit_message_text,
            "deletemessage": self._m_delete_message,
            "answercallbackquery": self._m_answer_callback_query,
            "answerinlinequery": self._m_answer_inline_query,
            "setmycommands": self._m_set_my_commands,
            "getmycommands": self._m_get_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "getchatmember": self._m_get_chat_member,
            "getchat": self._m_get_chat,
            "getchatadministrators": self._m_get_chat_administrators,
            "getchatmembercount": self._m_get_chat_member_count,
            "sendchataction": self._m_send_chat_action,
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port (or the one given) and start serving."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        # handler_cancellation: a long poll whose client went away must not linger.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def stop(self) -> None:
        """Answer pending long polls, close the webhook client and the server."""
        self._closing = True
        for poller in list(self._pollers):
            poller.event.set()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (only after ``start()``)."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends ``{token}/{method}``."""
        return f"http://{LOOPBACK}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)`` (file downloads answer 404)."""
        return f"http://{LOOPBACK}:{self.port}/file/bot"

    @property
    def bot_id(self) -> int:
        return self.bot.id

    @property
    def bot_username(self) -> str:
        return self.bot.username or ""

    def get_me(self) -> JSONDict:
        """The ``getMe`` result."""
        return {
            **self.bot.to_dict(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ---------------------------------------------------------------- world state

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
    ) -> FakeUser:
        """Register (or update) a user. Group members that were never added get a default."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = FakeUser(
            id=user_id,
            first_name=first_name if first_name is not None else f"User{user_id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        return user

    def _ensure_user(self, user_id: int) -> FakeUser:
        user = self.users.get(user_id)
        return user if user is not None else self.add_user(user_id)

    def add_private_chat(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> FakeChat:
        """A private chat with a user (chat id == user id). ``started=False`` models a user who
        never opened the bot: sends then fail with "bot can't initiate conversation"."""
        user = self.add_user(
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = FakeChat(
            id=user_id,
            type="private",
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            user_id=user_id,
            started=started,
            members={user_id: "member", self.bot.id: "member"},
        )
        self._add_chat(chat)
        return chat

    def add_group(
        self,
        chat_id: int,
        title: str,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        forum: bool = False,
        topics: Iterable[int] = (),
        *,
        creator: int | None = None,
        supergroup: bool | None = None,
        username: str | None = None,
        bot_status: MemberStatus = "member",
    ) -> FakeChat:
        """A basic group or a supergroup (inferred from a ``-100…`` id unless ``supergroup``
        is given). ``forum=True`` makes a forum whose topics are the given thread ids."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        is_super = (
            supergroup if supergroup is not None else (forum or str(chat_id).startswith("-100"))
        )
        if forum and not is_super:
            raise ValueError("only supergroups can be forums")
        chat = FakeChat(
            id=chat_id,
            type="supergroup" if is_super else "group",
            title=title,
            username=username,
            is_forum=forum,
            topics=set(topics),
        )
        if chat.topics and not forum:
            raise ValueError("topics need forum=True")
        self._fill_members(chat, creator, admins, members)
        chat.members[self.bot.id] = bot_status
        self._add_chat(chat)
        return chat

    def add_channel(
        self,
        chat_id: int,
        title: str,
        admins: Iterable[int] = (),
        *,
        creator: int | None = None,
        username: str | None = None,
        bot_is_admin: bool = True,
    ) -> FakeChat:
        """A channel. Bots can post only as administrators, hence ``bot_is_admin=True``."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative")
        chat = FakeChat(id=chat_id, type="channel", title=title, username=username)
        self._fill_members(chat, creator, admins, ())
        chat.members[self.bot.id] = "administrator" if bot_is_admin else "left"
        self._add_chat(chat)
        return chat

    def add_topic(self, chat_id: int, thread_id: int) -> None:
        """Create a forum topic in a forum supergroup."""
        chat = self._chat(chat_id)
        if not chat.is_forum:
            raise ValueError(f"chat {chat_id} is not a forum")
        chat.topics.add(thread_id)

    def set_member_status(self, chat_id: int, user_id: int, status: MemberStatus) -> None:
        """Change anyone's status in a chat (the bot included)."""
        chat = self._chat(chat_id)
        if user_id != self.bot.id:
            self._ensure_user(user_id)
        chat.members[user_id] = status

    def _fill_members(
        self, chat: FakeChat, creator: int | None, admins: Iterable[int], members: Iterable[int]
    ) -> None:
        if creator is not None:
            self._ensure_user(creator)
            chat.members[creator] = "creator"
        for user_id in admins:
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, "administrator")
        for user_id in members:
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, "member")

    def _add_chat(self, chat: FakeChat) -> None:
        if chat.id in self.chats:
            raise ValueError(f"chat {chat.id} already exists")
        self.chats[chat.id] = chat
        self._history[chat.id] = {}

    def _chat(self, chat_id: int) -> FakeChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}; add it first")
        return chat

    def block_user(self, user_id: int, *, emit_update: bool = True) -> None:
        """The user blocks the bot: every later send to them gets 403 "bot was blocked by the
        user". Telegram also sends the bot a ``my_chat_member`` update (member → kicked)."""
        chat = self._chat(user_id)
        if chat.type != "private":
            raise ValueError("block_user needs a private chat id")
        chat.blocked = True
        if emit_update:
            self._emit_my_chat_member(chat, self.users[user_id], "member", "kicked")

    def unblock_user(self, user_id: int, *, emit_update: bool = True) -> None:
        """The user restarts the bot."""
        chat = self._chat(user_id)
        chat.blocked = False
        chat.started = True
        if emit_update:
            self._emit_my_chat_member(chat, self.users[user_id], "kicked", "member")

    def kick_bot_from(
        self, chat_id: int, *, by_user: int | None = None, emit_update: bool = True
    ) -> None:
        """Remove the bot from a group/supergroup/channel: later calls get 403 "bot was kicked
        from the … chat", and the bot receives a ``my_chat_member`` update."""
        chat = self._chat(chat_id)
        if chat.type == "private":
            raise ValueError("use block_user for private chats")
        old = chat.members.get(self.bot.id, "member")
        chat.members[self.bot.id] = "kicked"
        actor = self._chat_actor(chat, by_user)
        if emit_update and actor is not None:
            self._emit_my_chat_member(chat, actor, old, "kicked")

    def migrate_group(self, old_id: int, new_id: int, *, emit_updates: bool = True) -> FakeChat:
        """Upgrade a basic group to a supergroup. Sends to ``old_id`` then fail with 400 and
        ``parameters.migrate_to_chat_id`` (PTB raises ``ChatMigrated``)."""
        old = self._chat(old_id)
        if old.type != "group":
            raise ValueError("only basic groups can be migrated")
        if old.migrated_to is not None:
            raise ValueError("group already migrated")
        new = FakeChat(
            id=new_id,
            type="supergroup",
            title=old.title,
            members=dict(old.members),
            migrated_from=old_id,
        )
        self._add_chat(new)
        old.migrated_to = new_id
        actor = self._chat_actor(old, None)
        if emit_updates and actor is not None:
            date = self._now()
            self._enqueue(
                {
                    "message": {
                        "message_id": self._next_message_id(old),
                        "from": actor.to_dict(),
                        "chat": old.to_dict(),
                        "date": date,
                        "migrate_to_chat_id": new_id,
                    }
                },
                deliver=True,
            )
            self._enqueue(
                {
                    "message": {
                        "message_id": self._next_message_id(new),
                        "from": actor.to_dict(),
                        "chat": new.to_dict(),
                        "date": date,
                        "migrate_from_chat_id": old_id,
                    }
                },
                deliver=True,
            )
        return new

    def _chat_actor(self, chat: FakeChat, preferred: int | None) -> FakeUser | None:
        """Who performs an admin action: the given user, else creator, admin, member."""
        if preferred is not None:
            return self._ensure_user(preferred)
        for wanted in ("creator", "administrator", "member"):
            for user_id, status in chat.members.items():
                if status == wanted and user_id != self.bot.id:
                    return self.users[user_id]
        return None

    def _emit_my_chat_member(self, chat: FakeChat, actor: FakeUser, old: str, new: str) -> None:
        def member(status: str) -> JSONDict:
            if status == "administrator":
                return self._member_dict(chat, self.bot, "administrator")
            result: JSONDict = {"user": self.bot.to_dict(), "status": status}
            if status == "kicked":
                result["until_date"] = 0
            return result

        self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": actor.to_dict(),
                    "date": self._now(),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            },
            deliver=True,
        )

    # ---------------------------------------------------------------- user input → updates

    def push_update(self, payload: JSONDict) -> JSONDict:
        """Queue any raw update body, e.g. ``{"edited_message": {...}}``; returns the update."""
        return self._enqueue(copy.deepcopy(payload), deliver=True)

    def send_text(
        self,
        chat_id: int,
        text: str,
        from_user: int | None = None,
        message_thread_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user writes ``text`` in a private chat or group; returns the ``message`` update.

        Entities are detected like Telegram does (``/cmd`` and ``/cmd@bot`` → ``bot_command``,
        URLs, mentions, hashtags). In groups the bot's privacy mode applies, unless it is an
        admin or ``can_read_all_group_messages``: only commands (plain or ``@this_bot``),
        mentions of the bot and replies to the bot are delivered; other messages are recorded
        in ``filtered_updates`` instead of the queue.
        """
        chat = self._chat(chat_id)
        if chat.type == "channel":
            raise ValueError("use channel_post() for channels")
        if chat.migrated_to is not None:
            raise ValueError(f"group {chat_id} was migrated to {chat.migrated_to}")
        user = self._sender(chat, from_user)
        if message_thread_id is not None and (
            not chat.is_forum or message_thread_id not in chat.topics
        ):
            raise ValueError(f"chat {chat_id} has no forum topic {message_thread_id}")
        plain, _ = _trim_formatted(text, [])
        if not plain:
            raise ValueError("Telegram clients do not send empty messages")
        entities = detect_entities(plain)
        message: JSONDict = {
            "message_id": self._next_message_id(chat),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": self._now(),
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        replied_to_bot = False
        if reply_to_message_id is not None:
            stored = self._history[chat.id].get(reply_to_message_id)
            if stored is None or stored.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            message["reply_to_message"] = self._stored_json(stored, nested=True)
            replied_to_bot = stored.sent is not None
        message["text"] = plain
        if entities:
            message["entities"] = entities
        self._history[chat.id][message["message_id"]] = _StoredMessage(message, None)
        reason = None
        if chat.type == "private":
            if chat.blocked:
                self.unblock_user(chat.id)
            chat.started = True
        else:
            reason = self._privacy_filter_reason(chat, plain, entities, replied_to_bot)
        return self._enqueue({"message": message}, deliver=reason is None, reason=reason)

    def channel_post(
        self, chat_id: int, text: str, *, author_signature: str | None = None
    ) -> JSONDict:
        """A post in a channel (``sender_chat`` set, no ``from``); bots get these only as
        channel administrators."""
        chat = self._chat(chat_id)
        if chat.type != "channel":
            raise ValueError(f"chat {chat_id} is not a channel")
        plain, _ = _trim_formatted(text, [])
        entities = detect_entities(plain)
        post: JSONDict = {
            "message_id": self._next_message_id(chat),
            "sender_chat": chat.to_dict(),
            "chat": chat.to_dict(),
            "date": self._now(),
        }
        if author_signature:
            post["author_signature"] = author_signature
        post["text"] = plain
        if entities:
            post["entities"] = entities
        self._history[chat.id][post["message_id"]] = _StoredMessage(post, None)
        bot_status = chat.members.get(self.bot.id, "left")
        reason = (
            None if bot_status in ("administrator", "creator") else "bot is not a channel admin"
        )
        return self._enqueue({"channel_post": post}, deliver=reason is None, reason=reason)

    def press_button(
        self, message: SentMessage, callback_data: str, from_user: int | None = None
    ) -> JSONDict:
        """A user presses an inline button of a bot message; returns the ``callback_query``
        update. Only buttons that exist on the message (as currently edited) can be pressed."""
        chat = self._chat(message.chat_id)
        if message.deleted:
            raise ValueError("the message was deleted")
        if callback_data not in message.callback_data:
            raise ValueError(
                f"message {message.message_id} has no button with callback_data "
                f"{callback_data!r}; it has {message.callback_data!r}"
            )
        user = (
            self._sender(chat, from_user)
            if chat.type != "channel"
            else self._require_user(from_user)
        )
        query_id = self._new_query_id()
        self._callback_queries[query_id] = _IssuedQuery(user.id, callback_data)
        query: JSONDict = {
            "id": query_id,
            "from": user.to_dict(),
            "message": self._sent_json(message),
            "chat_instance": str(-(abs(chat.id) ^ self.bot.id)),
            "data": callback_data,
        }
        return self._enqueue({"callback_query": query}, deliver=True)

    def inline_query(
        self,
        from_user: int,
        query: str,
        offset: str = "",
        *,
        chat_type: str | None = "sender",
    ) -> JSONDict:
        """A user types ``@bot query``; returns the ``inline_query`` update."""
        if not self.supports_inline_queries:
            raise ValueError("inline mode is off for this bot (supports_inline_queries=False)")
        user = self._require_user(from_user)
        query_id = self._new_query_id()
        self._inline_queries[query_id] = _IssuedQuery(user.id, query)
        body: JSONDict = {"id": query_id, "from": user.to_dict(), "query": query, "offset": offset}
        if chat_type is not None:
            body["chat_type"] = chat_type
        return self._enqueue({"inline_query": body}, deliver=True)

    def _require_user(self, user_id: int | None) -> FakeUser:
        if user_id is None:
            raise ValueError("from_user is required here")
        return self._ensure_user(user_id)

    def _sender(self, chat: FakeChat, from_user: int | None) -> FakeUser:
        if chat.type == "private":
            if from_user is not None and from_user != chat.user_id:
                raise ValueError(f"only user {chat.user_id} writes in private chat {chat.id}")
            assert chat.user_id is not None
            return self.users[chat.user_id]
        if from_user is None:
            raise ValueError("from_user is required in groups")
        status = chat.members.get(from_user)
        if status in ("left", "kicked"):
            raise ValueError(f"user {from_user} is not in chat {chat.id} ({status})")
        user = self._ensure_user(from_user)
        if status is None:
            chat.members[from_user] = "member"
        return user

    def _privacy_filter_reason(
        self, chat: FakeChat, text: str, entities: list[JSONDict], replied_to_bot: bool
    ) -> str | None:
        """Why a group message would not reach the bot (None: it does)."""
        bot_status = chat.members.get(self.bot.id, "member")
        if bot_status in ("left", "kicked"):
            return f"bot is {bot_status}"
        if self.can_read_all_group_messages or bot_status in ("administrator", "creator"):
            return None
        if replied_to_bot:
            return None
        me = self.bot_username.lower()
        for entity in entities:
            covered = entity_text(text, entity)
            if entity["type"] == "bot_command":
                _, _, target = covered.partition("@")
                if target:
                    if target.lower() == me:
                        return None
                elif entity["offset"] == 0:
                    return None
            elif entity["type"] == "mention" and covered[1:].lower() == me:
                return None
        return "privacy mode: not a command, mention or reply for this bot"

    def _new_query_id(self) -> str:
        self._query_counter += 1
        return f"{self.bot.id}{self._query_counter:08d}"

    def _next_message_id(self, chat: FakeChat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _enqueue(self, payload: JSONDict, *, deliver: bool, reason: str | None = None) -> JSONDict:
        update: JSONDict = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        kind = next(key for key in payload)
        if deliver and not self._is_allowed(kind):
            deliver, reason = False, f"{kind} not in allowed_updates"
        if deliver:
            self._updates.append(update)
            for poller in list(self._pollers):
                poller.event.set()
        else:
            self.filtered_updates.append((update, reason or "filtered"))
        self._notify()
        return update

    def _is_allowed(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed (getUpdates) or delivered (webhook)."""
        return list(self._updates)

    @property
    def active_long_polls(self) -> int:
        """How many getUpdates calls are currently waiting."""
        return len(self._pollers)

    # ---------------------------------------------------------------- recording helpers

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Calls of one method (case-insensitive, as Telegram treats method names)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def clear_calls(self) -> None:
        """Forget recorded calls (e.g. between benchmark phases); state is kept."""
        self.calls.clear()

    def messages_in(
        self, chat_id: int, thread_id: int | None = None, *, include_deleted: bool = False
    ) -> list[SentMessage]:
        """Messages the bot sent to a chat, oldest first; ``thread_id`` narrows to one forum
        topic (``None``: the whole chat)."""
        key = (chat_id, thread_id)
        found = self._by_chat.get(key, [])
        if include_deleted or not self._deleted_in.get(key):
            return list(found)
        return [message for message in found if not message.deleted]

    def _count_in(self, chat_id: int, thread_id: int | None) -> int:
        key = (chat_id, thread_id)
        return len(self._by_chat.get(key, ())) - self._deleted_in.get(key, 0)

    def last_message(self, chat_id: int, thread_id: int | None = None) -> SentMessage | None:
        """The newest (not deleted) bot message in a chat."""
        found = self.messages_in(chat_id, thread_id)
        return found[-1] if found else None

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """Commands stored by setMyCommands for exactly this scope and language."""
        key = self._scope_key(scope if scope is not None else {"type": "default"}, language_code)
        return copy.deepcopy(self._commands.get(key, []))

    # ---------------------------------------------------------------- waiting

    def _notify(self) -> None:
        """Wake every ``wait_for``; called whenever anything is recorded or queued."""
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(
        self,
        predicate: Callable[[], _T],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fixture's documented API
        *,
        what: str | None = None,
    ) -> _T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-evaluated whenever the fake records a call or queues an update, so there is no
        polling interval to tune and no sleep. On timeout raises ``AssertionError`` with what
        the bot did recently, which is usually the clue to why the condition never held.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(what or repr(predicate), timeout))
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fixture's documented API
        *,
        thread_id: int | None = None,
    ) -> list[SentMessage]:
        """Wait until the bot has at least ``count`` live messages in the chat; return them."""
        await self.wait_for(
            lambda: self._count_in(chat_id, thread_id) >= count,
            timeout,
            what=f"{count} bot message(s) in chat {chat_id}"
            + (f" thread {thread_id}" if thread_id is not None else ""),
        )
        return self.messages_in(chat_id, thread_id)

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fixture's documented API
    ) -> list[RecordedCall]:
        """Wait until ``count`` finished calls of ``method`` were made; return them."""
        wanted = method.lower()

        def finished() -> list[RecordedCall]:
            done = [c for c in self.calls if c.method.lower() == wanted and c.finished]
            return done if len(done) >= count else []

        return await self.wait_for(finished, timeout, what=f"{count} {method} call(s)")

    def _timeout_report(self, what: str, timeout: float) -> str:
        interesting = [call for call in self.calls if call.method.lower() != "getupdates"]
        polls = len(self.calls) - len(interesting)
        lines = [f"Timed out after {timeout}s waiting for {what}."]
        lines.append(
            f"Bot made {len(self.calls)} call(s) ({polls} getUpdates); last "
            f"{min(15, len(interesting))} other call(s):"
        )
        lines.extend(f"  {call.summary()}" for call in interesting[-15:])
        per_chat = {chat_id: self._count_in(chat_id, None) for chat_id in self.chats}
        lines.append(f"Bot messages per chat: {per_chat}")
        lines.append(
            f"Queued updates: {len(self._updates)}; filtered: {len(self.filtered_updates)}; "
            f"active long polls: {len(self._pollers)}"
        )
        return "\n".join(lines)

    # ---------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
        raw_body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (optionally only for ``chat_id``) fail.

        ``description`` defaults to Telegram's usual text for the code (429 →
        "Too Many Requests: retry after N" with ``retry_after`` defaulting to 1; 400 with
        ``migrate_to_chat_id`` → "group chat was upgraded…"; 500/502 → "Internal Server
        Error"/"Bad Gateway"). ``raw_body`` sends a non-JSON body instead (e.g. an nginx page).
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        error = BotAPIError(
            error_code,
            description or _default_description(error_code, retry_after, migrate_to_chat_id),
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
            raw_body=raw_body,
        )
        self._injected.append(_InjectedFailure(method.lower(), error, times, _chat_key(chat_id)))

    def _take_injected(self, method: str, raw: Mapping[str, Any]) -> BotAPIError | None:
        if not self._injected:
            return None
        wanted = method.lower()
        chat = _chat_key(raw.get("chat_id"))
        for injected in self._injected:
            if injected.method == wanted and (injected.chat_id is None or injected.chat_id == chat):
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._injected.remove(injected)
                return injected.error
        return None

    def rate_limit(self, messages_per_second: float | None) -> None:
        """Global flood control for sendMessage: at most ``max(1, int(n))`` accepted messages
        in any sliding 1-second window; the rest get 429 with an integer ``retry_after`` (≥ 1)
        telling when the window frees up. ``None`` switches it off."""
        self._rate_window.clear()
        self._rate_cap = None if messages_per_second is None else max(1, int(messages_per_second))

    def _check_rate_limit(self) -> None:
        if self._rate_cap is None:
            return
        now = asyncio.get_running_loop().time()
        window = self._rate_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self._rate_cap:
            retry_after = max(1, math.ceil(window[0] + 1.0 - now))
            raise BotAPIError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        window.append(now)

    # ---------------------------------------------------------------- webhook delivery

    async def deliver_via_webhook(
        self, update: JSONDict, *, secret_token: str | None = None
    ) -> int:
        """POST one update to the registered webhook, like Telegram; returns the HTTP status.

        Sends ``X-Telegram-Bot-Api-Secret-Token`` (the registered one, or ``secret_token`` to
        simulate a forged request). Only ``http(s)://127.0.0.1`` URLs are ever contacted.
        A 2xx answer removes the update from the pending queue.
        """
        if self.webhook is None:
            raise RuntimeError("no webhook is set (the bot has not called setWebhook)")
        url = self.webhook.url
        if urlsplit(url).hostname != LOOPBACK:
            raise ValueError(f"refusing to deliver to {url!r}: only {LOOPBACK} is allowed")
        headers = {"Content-Type": "application/json"}
        token = secret_token if secret_token is not None else self.webhook.secret_token
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._client.post(
            url, data=json.dumps(update).encode(), headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            status = response.status
            reason = response.reason or ""
        if 200 <= status < 300:
            update_id = update.get("update_id")
            self._updates = deque(u for u in self._updates if u.get("update_id") != update_id)
        elif self.webhook is not None:
            self.webhook.last_error_date = self._now()
            self.webhook.last_error_message = f"Wrong response from the webhook: {status} {reason}"
        self.webhook_deliveries.append(
            WebhookDelivery(int(update.get("update_id", 0)), url, status)
        )
        self._notify()
        return status

    async def deliver_pending_via_webhook(self) -> list[int]:
        """Deliver every queued update in order; returns the statuses."""
        return [await self.deliver_via_webhook(update) for update in list(self._updates)]

    # ---------------------------------------------------------------- HTTP plumbing

    def _now(self) -> int:
        return int(time.time())

    async def _handle_other(self, request: web.Request) -> web.Response:
        return BotAPIError(404, "Not Found").response()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Query string plus body: JSON, urlencoded or multipart, as the Bot API accepts."""
        params: dict[str, Any] = dict(request.query.items())
        if not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _bad_request("can't parse JSON object") from None
                if not isinstance(data, dict):
                    raise _bad_request("JSON object expected")
                params.update(data)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(value.file.read()),
                    }
                else:
                    params[key] = value
        return params

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != self.token:
            if re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token) is None:
                return BotAPIError(404, "Not Found").response()
            return BotAPIError(401, "Unauthorized").response()
        try:
            raw = await self._read_params(request)
        except BotAPIError as exc:
            return exc.response()
        call = RecordedCall(method, _decode_for_record(raw), asyncio.get_running_loop().time())
        self.calls.append(call)
        self._notify()
        try:
            handler = self._handlers.get(method.lower())
            if handler is None:
                raise BotAPIError(404, "Not Found")
            injected = self._take_injected(method, raw)
            if injected is not None:
                raise injected
            result = await handler(_Params(raw))
        except BotAPIError as exc:
            call.http_status = exc.error_code
            call.ok = False
            call.error_code = exc.error_code
            call.description = exc.description
            if exc.error_code == 429:
                self.too_many_requests_sent += 1
            self._notify()
            return exc.response()
        except asyncio.CancelledError:
            call.http_status = 499
            call.description = "client went away"
            self._notify()
            raise
        body: JSONDict = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.value
            body["description"] = result.description
            result = result.value
        else:
            body["result"] = result
        call.http_status = 200
        call.ok = True
        call.result = result
        self._notify()
        return web.json_response(body)

    # ---------------------------------------------------------------- common checks

    def _resolve_chat_value(self, value: Any) -> FakeChat:
        key = _chat_key(value)
        if key is None or key == "":
            raise _bad_request("chat_id is empty")
        if isinstance(key, str):
            if key.startswith("@"):
                wanted = key[1:].lower()
                for chat in self.chats.values():
                    if chat.username and chat.username.lower() == wanted:
                        return chat
            raise _bad_request("chat not found")
        found = self.chats.get(key)
        if found is None:
            raise _bad_request("chat not found")
        return found

    def _resolve_chat(self, params: _Params) -> FakeChat:
        return self._resolve_chat_value(params.raw.get("chat_id"))

    def _check_membership(self, chat: FakeChat) -> None:
        """403s for chats the bot is no longer in."""
        if chat.type == "private":
            return
        status = chat.members.get(self.bot.id, "member")
        if status == "kicked":
            raise BotAPIError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if status == "left":
            raise BotAPIError(403, f"Forbidden: bot is not a member of the {chat.type} chat")

    def _chat_for_write(self, params: _Params) -> FakeChat:
        """The target chat of a send/edit/delete, after migration and membership checks."""
        chat = self._resolve_chat(params)
        if chat.migrated_to is not None:
            raise BotAPIError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.type == "channel":
            status = chat.members.get(self.bot.id, "left")
            if status == "kicked":
                raise BotAPIError(403, "Forbidden: bot was kicked from the channel chat")
            if status not in ("administrator", "creator"):
                raise _bad_request("need administrator rights in the channel chat")
        else:
            self._check_membership(chat)
        return chat

    def _check_user_reachable(self, chat: FakeChat) -> None:
        if chat.type != "private":
            return
        if chat.blocked:
            raise BotAPIError(403, "Forbidden: bot was blocked by the user")
        if not chat.started:
            raise BotAPIError(403, "Forbidden: bot can't initiate conversation with a user")

    def _check_thread(self, chat: FakeChat, thread_id: int | None) -> None:
        if thread_id is None:
            return
        if not chat.is_forum or thread_id not in chat.topics:
            raise _bad_request("message thread not found")

    def _format_text(
        self, params: _Params, *, text_name: str = "text"
    ) -> tuple[str, str, str | None, list[JSONDict]]:
        """(raw text, plain text, parse_mode, entities) with Telegram's checks applied."""
        raw_text = params.str_(text_name) or ""
        parse_mode = params.str_("parse_mode") or None
        given = params.json_("entities", "message entities")
        if given is not None:
            if not isinstance(given, list):
                raise _bad_request("can't parse message entities JSON object")
            plain = raw_text
            entities = self._sanitize_entities(raw_text, given)
        else:
            mode = (parse_mode or "").strip().lower()
            if mode == "html":
                try:
                    parsed = parse_html(raw_text)
                except EntityParseError as exc:
                    raise _bad_request(f"can't parse entities: {exc}") from None
                plain, entities = parsed.text, parsed.entities
            elif mode in ("markdown", "markdownv2"):
                self.warnings.append(
                    f"parse_mode={parse_mode} is not parsed by the fake; text kept verbatim"
                )
                plain, entities = raw_text, []
            elif mode == "":
                plain, entities = raw_text, []
            else:
                raise _bad_request("unsupported parse_mode")
        plain, entities = _trim_formatted(plain, entities)
        if not plain:
            raise _bad_request("message text is empty")
        if utf16_len(plain) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        for entity in entities:
            if entity["type"] == "text_mention":
                user = self.users.get(int(entity["user"]["id"]))
                entity["user"] = (
                    user.to_dict()
                    if user is not None
                    else {"id": entity["user"]["id"], "is_bot": False, "first_name": ""}
                )
        entities = sorted(entities + detect_entities(plain, entities), key=_entity_sort_key)
        return raw_text, plain, parse_mode, entities

    def _sanitize_entities(self, text: str, given: list[Any]) -> list[JSONDict]:
        """Explicit ``entities``: keep well-formed ones inside the text, like TDLib's fixing."""
        total = utf16_len(text)
        result: list[JSONDict] = []
        for item in given:
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                raise _bad_request(
                    'can\'t parse MessageEntity: field "type" must be of type String'
                )
            try:
                offset, length = int(item["offset"]), int(item["length"])
            except (KeyError, TypeError, ValueError):
                raise _bad_request("can't parse MessageEntity: wrong offset or length") from None
            start, end = max(0, offset), min(total, offset + length)
            if end <= start:
                continue
            entity: JSONDict = {"offset": start, "length": end - start, "type": item["type"]}
            if item["type"] == "text_link":
                url = check_link(str(item.get("url", "")))
                if url is None:
                    continue
                entity["url"] = url
            elif item["type"] == "text_mention":
                user = item.get("user")
                if not isinstance(user, dict) or "id" not in user:
                    raise _bad_request("can't parse MessageEntity: user is required")
                entity["user"] = {"id": int(user["id"])}
            elif item["type"] == "pre" and item.get("language"):
                entity["language"] = str(item["language"])
            elif item["type"] == "custom_emoji":
                entity["custom_emoji_id"] = str(item.get("custom_emoji_id", ""))
            result.append(entity)
        return result

    def _parse_reply_markup(
        self, params: _Params, chat: FakeChat, *, inline_only: bool
    ) -> JSONDict | None:
        """Validate reply_markup like the Bot API + TDLib do; returns the stored form.

        Inline buttons with empty text are dropped silently (TDLib skips them), rows left
        empty disappear, URLs are normalised, callback_data must be 1-64 bytes.
        """
        markup = params.json_("reply_markup", "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("object expected as reply markup")
        if "inline_keyboard" not in markup:
            if inline_only or chat.type == "channel":
                raise _bad_request("inline keyboard expected")
            if not any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
                raise _bad_request('can\'t find field "inline_keyboard"')
            return copy.deepcopy(markup)
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or any(not isinstance(row, list) for row in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        out_rows: list[list[JSONDict]] = []
        for row in rows:
            out_row: list[JSONDict] = []
            for button in row:
                checked = self._check_inline_button(button, chat)
                if checked is not None:
                    out_row.append(checked)
            if out_row:
                out_rows.append(out_row)
        return {"inline_keyboard": out_rows} if out_rows else None

    def _check_inline_button(self, button: Any, chat: FakeChat) -> JSONDict | None:
        prefix = "can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise _bad_request(prefix + "InlineKeyboardButton must be an Object")
        text = button.get("text")
        if not isinstance(text, str):
            raise _bad_request(prefix + 'Field "text" must be of type String')
        actions = [name for name in _INLINE_BUTTON_ACTIONS if name in button]
        if not actions:
            raise _bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
        if text == "":
            return None
        result = copy.deepcopy(button)
        action = actions[0]
        if action == "callback_data":
            data = button["callback_data"]
            if not isinstance(data, str):
                raise _bad_request(prefix + 'Field "callback_data" must be of type String')
            if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        elif action == "url":
            url = str(button["url"])
            if _link_user_id(url) is None:
                checked = check_link(url)
                if checked is None:
                    raise _bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
                result["url"] = checked
        elif action in ("switch_inline_query", "switch_inline_query_current_chat") and (
            chat.type == "channel"
        ):
            raise _bad_request(
                f"can't use {action} button in a channel chat, because users will not be able "
                "to use the button without knowing bot's username"
            )
        return result

    def _resolve_reply(self, params: _Params, chat: FakeChat) -> _StoredMessage | None:
        reply_parameters = params.json_("reply_parameters", "reply parameters")
        allow_without = params.bool_("allow_sending_without_reply")
        target = chat
        if isinstance(reply_parameters, dict):
            try:
                message_id: int | None = int(reply_parameters["message_id"])
            except (KeyError, TypeError, ValueError):
                raise _bad_request("can't parse reply parameters JSON object") from None
            allow_without = bool(reply_parameters.get("allow_sending_without_reply", allow_without))
            if reply_parameters.get("chat_id") is not None:
                target = self._resolve_chat_value(reply_parameters["chat_id"])
        elif reply_parameters is not None:
            raise _bad_request("can't parse reply parameters JSON object")
        else:
            message_id = params.int_("reply_to_message_id")
        if message_id is None:
            return None
        stored = self._history[target.id].get(message_id)
        if stored is None or stored.deleted:
            if allow_without:
                return None
            raise _bad_request("message to be replied not found")
        return stored

    def _link_preview(self, params: _Params) -> tuple[JSONDict | None, bool | None]:
        options = params.json_("link_preview_options", "link preview options")
        disable_flag = params.raw.get("disable_web_page_preview")
        disable = params.bool_("disable_web_page_preview") if disable_flag is not None else None
        if disable:
            return {"is_disabled": True}, True
        if isinstance(options, dict):
            shown = {key: value for key, value in options.items() if value not in (None, False)}
            return (shown or None), disable
        return None, disable

    # ---------------------------------------------------------------- message store & JSON

    def _sent_json(self, message: SentMessage, *, nested: bool = False) -> JSONDict:
        """The ``Message`` object Telegram returns for a bot message."""
        chat = self.chats[message.chat_id]
        result: JSONDict = {"message_id": message.message_id}
        if chat.type == "channel":
            result["sender_chat"] = chat.to_dict()
        else:
            result["from"] = self.bot.to_dict()
        result["chat"] = chat.to_dict()
        result["date"] = message.date
        if message.edit_date is not None:
            result["edit_date"] = message.edit_date
        if message.message_thread_id is not None:
            result["message_thread_id"] = message.message_thread_id
            result["is_topic_message"] = True
        if not nested and message.reply_to_message_id is not None:
            assert message.reply_to_chat_id is not None
            stored = self._history[message.reply_to_chat_id].get(message.reply_to_message_id)
            if stored is not None and not stored.deleted:
                result["reply_to_message"] = self._stored_json(stored, nested=True)
        result["text"] = message.text
        if message.entities:
            result["entities"] = copy.deepcopy(message.entities)
        if message.link_preview_options:
            result["link_preview_options"] = dict(message.link_preview_options)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = copy.deepcopy(message.reply_markup)
        return result

    def _stored_json(self, stored: _StoredMessage, *, nested: bool) -> JSONDict:
        if stored.sent is not None:
            return self._sent_json(stored.sent, nested=nested)
        assert stored.json is not None
        result = copy.deepcopy(stored.json)
        if nested:
            result.pop("reply_to_message", None)
        return result

    def _lookup(self, chat: FakeChat, message_id: int | None) -> _StoredMessage | None:
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        stored = self._history[chat.id].get(message_id)
        return None if stored is None or stored.deleted else stored

    # ---------------------------------------------------------------- Bot API methods

    async def _m_true(self, params: _Params) -> Any:
        return True

    async def _m_get_me(self, params: _Params) -> Any:
        return self.get_me()

    async def _m_delete_webhook(self, params: _Params) -> Any:
        if params.bool_("drop_pending_updates"):
            self._updates.clear()
        if self.webhook is None:
            return _Described(True, "Webhook is already deleted")
        self.webhook = None
        return _Described(True, "Webhook was deleted")

    async def _m_set_webhook(self, params: _Params) -> Any:
        url = (params.str_("url") or "").strip()
        if not url:
            return await self._m_delete_webhook(params)
        parts = urlsplit(url)
        if parts.hostname == LOOPBACK:
            # Deviation on purpose: Telegram refuses loopback webhooks, the fake only allows them.
            if parts.scheme not in ("http", "https"):
                raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        else:
            if parts.scheme != "https":
                raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            try:
                port = parts.port or 443
            except ValueError:
                raise _bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                ) from None
            if port not in (80, 88, 443, 8443):
                raise _bad_request(
                    "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
                )
        secret = params.str_("secret_token") or None
        if secret is not None and _SECRET_TOKEN_RE.fullmatch(secret) is None:
            raise _bad_request("secret token contains unallowed characters")
        max_connections = params.int_("max_connections") or 40
        allowed = self._parse_allowed_updates(params)
        if params.bool_("drop_pending_updates"):
            self._updates.clear()
        previous = self.webhook
        self.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=min(100, max(1, max_connections)),
            ip_address=params.str_("ip_address"),
            allowed_updates=allowed
            if allowed is not None
            else (previous.allowed_updates if previous else None),
            has_custom_certificate=params.present("certificate"),
        )
        for poller in list(self._pollers):
            poller.event.set()
        if previous is not None and previous.url == url:
            return _Described(True, "Webhook is already set")
        return _Described(True, "Webhook was set")

    def _parse_allowed_updates(self, params: _Params) -> list[str] | None:
        allowed = params.json_("allowed_updates", "allowed updates")
        if allowed is None:
            return None
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise _bad_request("can't parse allowed updates JSON object")
        self._allowed_updates = frozenset(allowed) if allowed else None
        return list(allowed)

    async def _m_get_webhook_info(self, params: _Params) -> Any:
        info: JSONDict = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": bool(self.webhook and self.webhook.has_custom_certificate),
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            info["ip_address"] = self.webhook.ip_address or LOOPBACK
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = list(self.webhook.allowed_updates)
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        return info

    async def _m_get_updates(self, params: _Params) -> Any:
        if self.webhook is not None:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.int_("offset") or 0
        limit = params.int_("limit") or 100
        if not 1 <= limit <= 100:
            limit = 100
        timeout = max(0.0, min(params.float_("timeout") or 0.0, 50.0))
        self._parse_allowed_updates(params)
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
        elif offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
        # A newer getUpdates ends the older one, as Telegram does (409 for the old caller).
        for poller in list(self._pollers):
            poller.terminated = True
            poller.event.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._updates or self._closing:
                return [self._updates[index] for index in range(min(limit, len(self._updates)))]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            poller = _Poller()
            self._pollers.add(poller)
            self._notify()
            try:
                await asyncio.wait_for(poller.event.wait(), remaining)
            except TimeoutError:
                pass
            finally:
                self._pollers.discard(poller)
            if poller.terminated:
                raise BotAPIError(409, _default_description(409, None, None))
            if self.webhook is not None:
                raise BotAPIError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )

    async def _m_send_message(self, params: _Params) -> Any:
        chat = self._chat_for_write(params)
        thread_id = params.int_("message_thread_id")
        self._check_thread(chat, thread_id)
        raw_text, plain, parse_mode, entities = self._format_text(params)
        markup = self._parse_reply_markup(params, chat, inline_only=False)
        reply_to = self._resolve_reply(params, chat)
        link_preview, disable_preview = self._link_preview(params)
        self._check_user_reachable(chat)
        self._check_rate_limit()
        reply_chat_id: int | None = None
        reply_message_id: int | None = None
        if reply_to is not None:
            source = reply_to.sent
            if source is not None:
                reply_chat_id, reply_message_id = source.chat_id, source.message_id
            else:
                assert reply_to.json is not None
                reply_chat_id = int(reply_to.json["chat"]["id"])
                reply_message_id = int(reply_to.json["message_id"])
        message = SentMessage(
            message_id=self._next_message_id(chat),
            chat_id=chat.id,
            message_thread_id=thread_id,
            text=plain,
            raw_text=raw_text,
            parse_mode=parse_mode,
            entities=entities,
            reply_markup=markup,
            link_preview_options=link_preview,
            disable_web_page_preview=disable_preview,
            disable_notification=params.bool_("disable_notification"),
            protect_content=params.bool_("protect_content"),
            reply_to_chat_id=reply_chat_id,
            reply_to_message_id=reply_message_id,
            date=self._now(),
            params=_decode_for_record(params.raw),
        )
        self._history[chat.id][message.message_id] = _StoredMessage(None, message)
        self.messages.append(message)
        self._by_chat.setdefault((chat.id, None), []).append(message)
        if thread_id is not None:
            self._by_chat.setdefault((chat.id, thread_id), []).append(message)
        return self._sent_json(message)

    async def _m_edit_message_text(self, params: _Params) -> Any:
        if params.present("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")  # the fake does not track inline messages
        chat = self._chat_for_write(params)
        stored = self._lookup(chat, params.int_("message_id"))
        if stored is None:
            raise _bad_request("message to edit not found")
        message = stored.sent
        if message is None:
            raise _bad_request("message can't be edited")
        raw_text, plain, parse_mode, entities = self._format_text(params)
        markup = self._parse_reply_markup(params, chat, inline_only=True)
        link_preview, _ = self._link_preview(params)
        if (
            plain == message.text
            and entities == message.entities
            and markup == message.reply_markup
        ):
            raise BotAPIError(400, _NOT_MODIFIED)
        previous = message.version()
        message.history.append(previous)
        message.text = plain
        message.raw_text = raw_text
        message.parse_mode = parse_mode
        message.entities = entities
        message.reply_markup = markup  # no reply_markup in the edit removes the keyboard
        message.link_preview_options = link_preview
        message.edit_date = self._now()
        self.edits.append(MessageEdit(chat.id, message.message_id, previous, message))
        return self._sent_json(message)

    async def _m_delete_message(self, params: _Params) -> Any:
        chat = self._chat_for_write(params)
        stored = self._lookup(chat, params.int_("message_id"))
        if stored is None:
            raise _bad_request("message to delete not found")
        bot_is_admin = chat.members.get(self.bot.id) in ("administrator", "creator")
        if stored.sent is None and chat.type != "private" and not bot_is_admin:
            raise _bad_request("message can't be deleted")
        stored.deleted = True
        if stored.sent is not None:
            stored.sent.deleted = True
            keys: list[tuple[int, int | None]] = [(chat.id, None)]
            if stored.sent.message_thread_id is not None:
                keys.append((chat.id, stored.sent.message_thread_id))
            for key in keys:
                self._deleted_in[key] = self._deleted_in.get(key, 0) + 1
        message_id = params.int_("message_id")
        assert message_id is not None
        self.deleted_messages.append((chat.id, message_id))
        return True

    async def _m_answer_callback_query(self, params: _Params) -> Any:
        query_id = params.str_("callback_query_id") or ""
        issued = self._callback_queries.get(query_id)
        if issued is None or issued.answered:
            raise _bad_request(_QUERY_ID_INVALID.removeprefix("Bad Request: "))
        issued.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                data=issued.data,
                from_user_id=issued.from_user_id,
                text=params.str_("text"),
                show_alert=params.bool_("show_alert"),
                url=params.str_("url"),
                cache_time=params.int_("cache_time"),
            )
        )
        return True

    async def _m_answer_inline_query(self, params: _Params) -> Any:
        query_id = params.str_("inline_query_id") or ""
        issued = self._inline_queries.get(query_id)
        results = params.json_("results", "inline query results")
        if not isinstance(results, list):
            raise _bad_request("can't parse inline query results JSON object")
        if issued is None or issued.answered:
            raise _bad_request(_QUERY_ID_INVALID.removeprefix("Bad Request: "))
        if len(results) > MAX_INLINE_RESULTS:
            raise _bad_request("RESULTS_TOO_MUCH")
        seen: set[str] = set()
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("type"), str):
                raise _bad_request(
                    'can\'t parse InlineQueryResult: field "type" must be of type String'
                )
            result_id = result.get("id")
            if (
                not isinstance(result_id, str)
                or not 1 <= len(result_id.encode()) <= MAX_INLINE_RESULT_ID_BYTES
            ):
                raise _bad_request("RESULT_ID_INVALID")
            if result_id in seen:
                raise _bad_request("RESULT_ID_DUPLICATE")
            seen.add(result_id)
        button = params.json_("button", "inline query results button")
        issued.answered = True
        self.inline_answers.append(
            InlineAnswer(
                inline_query_id=query_id,
                query=issued.data,
                from_user_id=issued.from_user_id,
                results=results,
                cache_time=params.int_("cache_time"),
                is_personal=params.bool_("is_personal"),
                next_offset=params.str_("next_offset"),
                button=button if isinstance(button, dict) else None,
            )
        )
        return True

    def _scope_key(self, scope: Any, language_code: str) -> str:
        """Canonical key for (scope, language): commands are stored per exact pair."""
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad_request("can't parse BotCommandScope JSON object")
        kind = scope["type"]
        key: JSONDict = {"type": kind}
        if kind in ("chat", "chat_administrators", "chat_member"):
            key["chat_id"] = self._resolve_chat_value(scope.get("chat_id")).id
            if kind == "chat_member":
                try:
                    key["user_id"] = int(scope["user_id"])
                except (KeyError, TypeError, ValueError):
                    raise _bad_request("can't parse BotCommandScope JSON object") from None
        elif kind not in (
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
        ):
            raise _bad_request("unsupported bot command scope type")
        if language_code and not (
            len(language_code) == 2 and language_code.isascii() and language_code.isalpha()
        ):
            raise _bad_request("invalid language code specified")
        return json.dumps([key, language_code], sort_keys=True)

    def _scope_key_from(self, params: _Params) -> str:
        scope = params.json_("scope", "BotCommandScope")
        return self._scope_key(
            scope if scope is not None else {"type": "default"}, params.str_("language_code") or ""
        )

    async def _m_set_my_commands(self, params: _Params) -> Any:
        commands = params.json_("commands", "bot commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse bot commands JSON object")
        cleaned: list[JSONDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad_request("can't parse BotCommand: BotCommand must be an Object")
            command = str(item.get("command", "")).strip().removeprefix("/")
            description = str(item.get("description", "")).strip()
            if not command:
                raise _bad_request("command must be non-empty")
            if len(command) > MAX_COMMAND_LENGTH:
                raise _bad_request(f"command length must not exceed {MAX_COMMAND_LENGTH}")
            if not description:
                raise _bad_request("command description must be non-empty")
            if len(description) > MAX_COMMAND_DESCRIPTION_LENGTH:
                raise _bad_request(
                    f"command description length must not exceed {MAX_COMMAND_DESCRIPTION_LENGTH}"
                )
            cleaned.append({"command": command, "description": description})
        key = self._scope_key_from(params)
        if len(cleaned) > MAX_COMMANDS:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        if any(_COMMAND_RE.fullmatch(item["command"]) is None for item in cleaned):
            raise _bad_request("BOT_COMMAND_INVALID")
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, params: _Params) -> Any:
        return copy.deepcopy(self._commands.get(self._scope_key_from(params), []))

    async def _m_delete_my_commands(self, params: _Params) -> Any:
        self._commands.pop(self._scope_key_from(params), None)
        return True

    def _member_dict(self, chat: FakeChat, user: FakeUser, status: str) -> JSONDict:
        """A ``ChatMember`` object; administrators carry Telegram's full rights set."""
        result: JSONDict = {"user": user.to_dict(), "status": status}
        if status == "creator":
            result["is_anonymous"] = False
        elif status == "administrator":
            result.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=True,
                can_edit_stories=True,
                can_delete_stories=True,
            )
            if chat.type == "channel":
                result.update(can_post_messages=True, can_edit_messages=True)
            else:
                result["can_pin_messages"] = True
            if chat.type == "supergroup":
                result["can_manage_topics"] = chat.is_forum
        elif status == "kicked":
            result["until_date"] = 0
        elif status == "restricted":
            result.update(
                is_member=True,
                can_send_messages=False,
                can_send_audios=False,
                can_send_documents=False,
                can_send_photos=False,
                can_send_videos=False,
                can_send_video_notes=False,
                can_send_voice_notes=False,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                can_edit_tag=False,
                until_date=0,
            )
        return result

    async def _m_get_chat_member(self, params: _Params) -> Any:
        chat = self._resolve_chat(params)
        self._check_membership(chat)
        user_id = params.int_("user_id")
        if user_id is None:
            raise _bad_request('parameter "user_id" is required')
        user = self.users.get(user_id)
        if user is None:
            raise _bad_request("user not found")
        if chat.type == "channel" and chat.members.get(self.bot.id) not in (
            "administrator",
            "creator",
        ):
            raise _bad_request("member list is inaccessible")
        status = chat.members.get(user_id, "left")
        return self._member_dict(chat, user, status)

    async def _m_get_chat_administrators(self, params: _Params) -> Any:
        chat = self._resolve_chat(params)
        self._check_membership(chat)
        if chat.type == "private":
            raise _bad_request("there are no administrators in the private chat")
        return [
            self._member_dict(chat, self.users[user_id], status)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator")
        ]

    async def _m_get_chat_member_count(self, params: _Params) -> Any:
        chat = self._resolve_chat(params)
        self._check_membership(chat)
        return sum(
            1
            for status in chat.members.values()
            if status in ("creator", "administrator", "member", "restricted")
        )

    async def _m_get_chat(self, params: _Params) -> Any:
        chat = self._resolve_chat(params)
        self._check_membership(chat)
        info = chat.to_dict()
        info.update(
            accent_color_id=abs(chat.id) % 7,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": chat.type == "private",
                "limited_gifts": chat.type == "private",
                "unique_gifts": chat.type == "private",
                "premium_subscription": chat.type == "private",
                "gifts_from_channels": chat.type == "private",
            },
        )
        if chat.type in ("group", "supergroup"):
            info["permissions"] = {
                "can_send_messages": True,
                "can_send_audios": True,
                "can_send_documents": True,
                "can_send_photos": True,
                "can_send_videos": True,
                "can_send_video_notes": True,
                "can_send_voice_notes": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
                "can_change_info": False,
                "can_invite_users": True,
                "can_pin_messages": False,
                "can_manage_topics": False,
            }
        return info

    async def _m_send_chat_action(self, params: _Params) -> Any:
        chat = self._chat_for_write(params)
        thread_id = params.int_("message_thread_id")
        self._check_thread(chat, thread_id)
        action = params.str_("action") or ""
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        self._check_user_reachable(chat)
        self.chat_actions.append(ChatActionRecord(chat.id, action, thread_id))
        return True


async def _self_check() -> None:  # pragma: no cover - handy when hacking on the fake
    """``python -m tests.fakes.telegram_api`` starts and stops the server once."""
    async with FakeTelegram() as fake:
        print(f"FakeTelegram listening on {fake.base_url}")


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_self_check())
