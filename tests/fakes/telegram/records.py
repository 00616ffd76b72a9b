"""What the fake records (calls, messages, answers) and the world it simulates (users, chats)."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram.constants import ChatType, JSONDict, MemberStatus
from tests.fakes.telegram.errors import BotAPIError
from tests.fakes.telegram.text import entity_text


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
    content_type: str | None = None  # of the request body (None: no body)

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
    def urls(self) -> list[str]:
        """The ``url`` of every URL button (as Telegram normalised it)."""
        return [str(b["url"]) for b in self.buttons if "url" in b]

    @property
    def button_labels(self) -> list[str]:
        return [str(b["text"]) for b in self.buttons]

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
