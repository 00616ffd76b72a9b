"""The Bot API methods the fake serves, one ``_m_*`` coroutine per method."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.telegram.constants import (
    _CHAT_ACTIONS,
    _COMMAND_RE,
    _NOT_MODIFIED,
    _QUERY_ID_INVALID,
    _SECRET_TOKEN_RE,
    LOOPBACK,
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_COMMAND_DESCRIPTION_LENGTH,
    MAX_COMMAND_LENGTH,
    MAX_COMMANDS,
    MAX_INLINE_NEXT_OFFSET_BYTES,
    MAX_INLINE_RESULT_ID_BYTES,
    MAX_INLINE_RESULTS,
    JSONDict,
)
from tests.fakes.telegram.errors import BotAPIError, _bad_request, _default_description
from tests.fakes.telegram.params import Handler, _decode_for_record, _Params
from tests.fakes.telegram.records import (
    CallbackAnswer,
    ChatActionRecord,
    InlineAnswer,
    MessageEdit,
    SentMessage,
    WebhookConfig,
    _Described,
    _Poller,
    _StoredMessage,
)
from tests.fakes.telegram.text import utf16_len
from tests.fakes.telegram.world import _World


class _Methods(_World):
    """The Bot API methods: one ``_m_*`` handler each, and the table that routes to them."""

    def _method_table(self) -> dict[str, Handler]:
        return {
            "getme": self._m_get_me,
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
            "sendchataction": self._m_send_chat_action,
        }

    # ---------------------------------------------------------------- Bot API methods

    async def _m_get_me(self, params: _Params) -> Any:
        return self.get_me()

    async def _m_delete_webhook(self, params: _Params) -> Any:
        if params.bool_("drop_pending_updates"):
            self._updates.clear()
        if self.webhook is None:
            return _Described(True, "Webhook is already deleted")
        self.webhook = None
        self._webhook_changed()
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
        self._webhook_changed()
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
        if utf16_len(params.str_("text") or "") > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
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
            self._check_inline_result(result)
        next_offset = params.str_("next_offset") or ""
        if len(next_offset.encode("utf-8")) > MAX_INLINE_NEXT_OFFSET_BYTES:
            raise _bad_request("NEXT_OFFSET_INVALID")
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

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """Commands stored by setMyCommands for exactly this scope and language."""
        key = self._scope_key(scope if scope is not None else {"type": "default"}, language_code)
        return copy.deepcopy(self._commands.get(key, []))
