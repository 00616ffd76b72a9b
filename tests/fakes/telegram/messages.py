"""Rules shared by the methods that send or edit messages: chats, text, markup, replies, previews."""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.telegram.constants import (
    _INLINE_BUTTON_ACTIONS,
    MAX_CALLBACK_DATA_BYTES,
    MAX_MESSAGE_LENGTH,
    JSONDict,
)
from tests.fakes.telegram.core import _Core
from tests.fakes.telegram.errors import BotAPIError, EntityParseError, _bad_request
from tests.fakes.telegram.html import parse_html
from tests.fakes.telegram.params import _chat_key, _Params
from tests.fakes.telegram.records import FakeChat, SentMessage, _StoredMessage
from tests.fakes.telegram.text import (
    _entity_sort_key,
    _link_user_id,
    _trim_formatted,
    check_link,
    detect_entities,
    utf16_len,
)


class _MessageRules(_Core):
    """Checks and JSON shared by the methods that send or edit messages."""

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
        # An empty url or callback_data counts as absent (get_optional_string_field).
        actions = [
            name
            for name in _INLINE_BUTTON_ACTIONS
            if name in button and not (name in ("url", "callback_data") and button[name] == "")
        ]
        if not actions:
            raise _bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            # The spec says exactly one; the server silently uses the first and drops the rest,
            # so a button meant to call back would open a page instead: a bug, recorded.
            self.protocol_violations.append(
                f"InlineKeyboardButton {text!r} has {' and '.join(actions)}; exactly one may be "
                f"set (the Bot API uses {actions[0]} and ignores the rest)"
            )
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

    def _check_inline_result(self, result: JSONDict) -> None:
        """An inline result's message is checked like a sent message (HTML, 1-4096, buttons).

        The user picks a result later and Telegram sends its message then; a result whose text
        would not parse is refused when the bot answers, so the bot learns it here.
        """
        if result.get("type") == "article" and not str(result.get("title") or "").strip():
            raise _bad_request("ARTICLE_TITLE_EMPTY")
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            self._format_text(
                _Params(
                    {
                        "text": content.get("message_text"),
                        "parse_mode": content.get("parse_mode"),
                        "entities": content.get("entities"),
                    }
                )
            )
        if result.get("reply_markup") is not None:
            anywhere = FakeChat(id=0, type="private")  # results can be sent to any chat
            self._parse_reply_markup(
                _Params({"reply_markup": result["reply_markup"]}), anywhere, inline_only=True
            )

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
        """The message's link preview options as Telegram keeps them (Client::
        get_link_preview_options, then TDLib's process_input_message_text): ``is_disabled``
        drops the URL, and without a URL the media size preferences mean nothing. The options
        replace ``disable_web_page_preview`` when both are given."""
        options = params.json_("link_preview_options", "link preview options")
        disable_flag = params.raw.get("disable_web_page_preview")
        disable = params.bool_("disable_web_page_preview") if disable_flag is not None else None
        if options is None:
            return ({"is_disabled": True}, True) if disable else (None, disable)
        if not isinstance(options, dict):
            raise _bad_request("object expected as link preview options")
        for name in ("is_disabled", "prefer_small_media", "prefer_large_media", "show_above_text"):
            if options.get(name) is not None and not isinstance(options[name], bool):
                raise _bad_request(f'field "{name}" must be of type Boolean')
        url = options.get("url")
        if url is not None and not isinstance(url, str):
            raise _bad_request('field "url" must be of type String')
        kept: JSONDict = {
            key: value for key, value in options.items() if value not in (None, False, "")
        }
        if kept.get("is_disabled"):
            kept.pop("url", None)
        if not kept.get("url"):
            kept.pop("prefer_small_media", None)
            kept.pop("prefer_large_media", None)
        return (kept or None), disable

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
