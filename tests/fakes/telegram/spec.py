"""Parameters of the Bot API methods the fake serves and fields of the objects it checks.

Derived by ``tests/fakes/tools/telegram_spec.py`` (not at test time) from the Telegram
Bot API spec JSON: github.com/PaulSonOfLars/telegram-bot-api-spec, ``api.json`` at
160fd99, "Bot API 10.1", released June 11, 2026.

Each entry maps a name to (types as the spec spells them, required). Abstract types
(``InlineQueryResult``, ``BotCommandScope``, ``InputMessageContent``) map to their subtypes,
and a subtype's ``type`` discriminator to the constant the spec says it must be.
"""

from __future__ import annotations

from typing import Final

Param = tuple[tuple[str, ...], bool]

#: The spec's scalar types; anything else is an object (or array) sent as JSON.
SCALARS: Final = frozenset({"Integer", "String", "Boolean", "True", "Float", "InputFile"})

SPEC_VERSION: Final = "Bot API 10.1 (June 11, 2026)"

METHODS: Final[dict[str, dict[str, Param]]] = {
    "getMe": {},
    "deleteWebhook": {
        "drop_pending_updates": (("Boolean",), False),
    },
    "setWebhook": {
        "url": (("String",), True),
        "certificate": (("InputFile",), False),
        "ip_address": (("String",), False),
        "max_connections": (("Integer",), False),
        "allowed_updates": (("Array of String",), False),
        "drop_pending_updates": (("Boolean",), False),
        "secret_token": (("String",), False),
    },
    "getWebhookInfo": {},
    "getUpdates": {
        "offset": (("Integer",), False),
        "limit": (("Integer",), False),
        "timeout": (("Integer",), False),
        "allowed_updates": (("Array of String",), False),
    },
    "sendMessage": {
        "business_connection_id": (("String",), False),
        "chat_id": (("Integer", "String"), True),
        "message_thread_id": (("Integer",), False),
        "direct_messages_topic_id": (("Integer",), False),
        "text": (("String",), True),
        "parse_mode": (("String",), False),
        "entities": (("Array of MessageEntity",), False),
        "link_preview_options": (("LinkPreviewOptions",), False),
        "disable_notification": (("Boolean",), False),
        "protect_content": (("Boolean",), False),
        "allow_paid_broadcast": (("Boolean",), False),
        "message_effect_id": (("String",), False),
        "suggested_post_parameters": (("SuggestedPostParameters",), False),
        "reply_parameters": (("ReplyParameters",), False),
        "reply_markup": (
            ("InlineKeyboardMarkup", "ReplyKeyboardMarkup", "ReplyKeyboardRemove", "ForceReply"),
            False,
        ),
    },
    "editMessageText": {
        "business_connection_id": (("String",), False),
        "chat_id": (("Integer", "String"), False),
        "message_id": (("Integer",), False),
        "inline_message_id": (("String",), False),
        "text": (("String",), False),
        "parse_mode": (("String",), False),
        "entities": (("Array of MessageEntity",), False),
        "link_preview_options": (("LinkPreviewOptions",), False),
        "rich_message": (("InputRichMessage",), False),
        "reply_markup": (("InlineKeyboardMarkup",), False),
    },
    "deleteMessage": {
        "chat_id": (("Integer", "String"), True),
        "message_id": (("Integer",), True),
    },
    "answerCallbackQuery": {
        "callback_query_id": (("String",), True),
        "text": (("String",), False),
        "show_alert": (("Boolean",), False),
        "url": (("String",), False),
        "cache_time": (("Integer",), False),
    },
    "answerInlineQuery": {
        "inline_query_id": (("String",), True),
        "results": (("Array of InlineQueryResult",), True),
        "cache_time": (("Integer",), False),
        "is_personal": (("Boolean",), False),
        "next_offset": (("String",), False),
        "button": (("InlineQueryResultsButton",), False),
    },
    "setMyCommands": {
        "commands": (("Array of BotCommand",), True),
        "scope": (("BotCommandScope",), False),
        "language_code": (("String",), False),
    },
    "getMyCommands": {
        "scope": (("BotCommandScope",), False),
        "language_code": (("String",), False),
    },
    "deleteMyCommands": {
        "scope": (("BotCommandScope",), False),
        "language_code": (("String",), False),
    },
    "getChatMember": {
        "chat_id": (("Integer", "String"), True),
        "user_id": (("Integer",), True),
    },
    "getChat": {
        "chat_id": (("Integer", "String"), True),
    },
    "getChatAdministrators": {
        "chat_id": (("Integer", "String"), True),
        "return_bots": (("Boolean",), False),
    },
    "sendChatAction": {
        "business_connection_id": (("String",), False),
        "chat_id": (("Integer", "String"), True),
        "message_thread_id": (("Integer",), False),
        "action": (("String",), True),
    },
}

OBJECTS: Final[dict[str, dict[str, Param]]] = {
    "MessageEntity": {
        "type": (("String",), True),
        "offset": (("Integer",), True),
        "length": (("Integer",), True),
        "url": (("String",), False),
        "user": (("User",), False),
        "language": (("String",), False),
        "custom_emoji_id": (("String",), False),
        "unix_time": (("Integer",), False),
        "date_time_format": (("String",), False),
    },
    "InlineKeyboardMarkup": {
        "inline_keyboard": (("Array of Array of InlineKeyboardButton",), True),
    },
    "InlineKeyboardButton": {
        "text": (("String",), True),
        "icon_custom_emoji_id": (("String",), False),
        "style": (("String",), False),
        "url": (("String",), False),
        "callback_data": (("String",), False),
        "web_app": (("WebAppInfo",), False),
        "login_url": (("LoginUrl",), False),
        "switch_inline_query": (("String",), False),
        "switch_inline_query_current_chat": (("String",), False),
        "switch_inline_query_chosen_chat": (("SwitchInlineQueryChosenChat",), False),
        "copy_text": (("CopyTextButton",), False),
        "callback_game": (("CallbackGame",), False),
        "pay": (("Boolean",), False),
    },
    "ReplyKeyboardMarkup": {
        "keyboard": (("Array of Array of KeyboardButton",), True),
        "is_persistent": (("Boolean",), False),
        "resize_keyboard": (("Boolean",), False),
        "one_time_keyboard": (("Boolean",), False),
        "input_field_placeholder": (("String",), False),
        "selective": (("Boolean",), False),
    },
    "KeyboardButton": {
        "text": (("String",), True),
        "icon_custom_emoji_id": (("String",), False),
        "style": (("String",), False),
        "request_users": (("KeyboardButtonRequestUsers",), False),
        "request_chat": (("KeyboardButtonRequestChat",), False),
        "request_managed_bot": (("KeyboardButtonRequestManagedBot",), False),
        "request_contact": (("Boolean",), False),
        "request_location": (("Boolean",), False),
        "request_poll": (("KeyboardButtonPollType",), False),
        "web_app": (("WebAppInfo",), False),
    },
    "ReplyKeyboardRemove": {
        "remove_keyboard": (("Boolean",), True),
        "selective": (("Boolean",), False),
    },
    "ForceReply": {
        "force_reply": (("Boolean",), True),
        "input_field_placeholder": (("String",), False),
        "selective": (("Boolean",), False),
    },
    "LinkPreviewOptions": {
        "is_disabled": (("Boolean",), False),
        "url": (("String",), False),
        "prefer_small_media": (("Boolean",), False),
        "prefer_large_media": (("Boolean",), False),
        "show_above_text": (("Boolean",), False),
    },
    "ReplyParameters": {
        "message_id": (("Integer",), True),
        "chat_id": (("Integer", "String"), False),
        "allow_sending_without_reply": (("Boolean",), False),
        "quote": (("String",), False),
        "quote_parse_mode": (("String",), False),
        "quote_entities": (("Array of MessageEntity",), False),
        "quote_position": (("Integer",), False),
        "checklist_task_id": (("Integer",), False),
        "poll_option_id": (("String",), False),
    },
    "BotCommand": {
        "command": (("String",), True),
        "description": (("String",), True),
    },
    "InlineQueryResultArticle": {
        "type": (("String",), True),
        "id": (("String",), True),
        "title": (("String",), True),
        "input_message_content": (("InputMessageContent",), True),
        "reply_markup": (("InlineKeyboardMarkup",), False),
        "url": (("String",), False),
        "description": (("String",), False),
        "thumbnail_url": (("String",), False),
        "thumbnail_width": (("Integer",), False),
        "thumbnail_height": (("Integer",), False),
    },
    "InputTextMessageContent": {
        "message_text": (("String",), True),
        "parse_mode": (("String",), False),
        "entities": (("Array of MessageEntity",), False),
        "link_preview_options": (("LinkPreviewOptions",), False),
    },
    "InlineQueryResultsButton": {
        "text": (("String",), True),
        "web_app": (("WebAppInfo",), False),
        "start_parameter": (("String",), False),
    },
    "WebAppInfo": {
        "url": (("String",), True),
    },
    "LoginUrl": {
        "url": (("String",), True),
        "forward_text": (("String",), False),
        "bot_username": (("String",), False),
        "request_write_access": (("Boolean",), False),
    },
    "SwitchInlineQueryChosenChat": {
        "query": (("String",), False),
        "allow_user_chats": (("Boolean",), False),
        "allow_bot_chats": (("Boolean",), False),
        "allow_group_chats": (("Boolean",), False),
        "allow_channel_chats": (("Boolean",), False),
    },
    "CopyTextButton": {
        "text": (("String",), True),
    },
    "CallbackGame": {},
    "BotCommandScopeDefault": {
        "type": (("String",), True),
    },
    "BotCommandScopeAllPrivateChats": {
        "type": (("String",), True),
    },
    "BotCommandScopeAllGroupChats": {
        "type": (("String",), True),
    },
    "BotCommandScopeAllChatAdministrators": {
        "type": (("String",), True),
    },
    "BotCommandScopeChat": {
        "type": (("String",), True),
        "chat_id": (("Integer", "String"), True),
    },
    "BotCommandScopeChatAdministrators": {
        "type": (("String",), True),
        "chat_id": (("Integer", "String"), True),
    },
    "BotCommandScopeChatMember": {
        "type": (("String",), True),
        "chat_id": (("Integer", "String"), True),
        "user_id": (("Integer",), True),
    },
}

#: Abstract types and the subtypes they stand for.
SUBTYPES: Final[dict[str, tuple[str, ...]]] = {
    "BotCommandScope": (
        "BotCommandScopeDefault",
        "BotCommandScopeAllPrivateChats",
        "BotCommandScopeAllGroupChats",
        "BotCommandScopeAllChatAdministrators",
        "BotCommandScopeChat",
        "BotCommandScopeChatAdministrators",
        "BotCommandScopeChatMember",
    ),
    "InlineQueryResult": (
        "InlineQueryResultCachedAudio",
        "InlineQueryResultCachedDocument",
        "InlineQueryResultCachedGif",
        "InlineQueryResultCachedMpeg4Gif",
        "InlineQueryResultCachedPhoto",
        "InlineQueryResultCachedSticker",
        "InlineQueryResultCachedVideo",
        "InlineQueryResultCachedVoice",
        "InlineQueryResultArticle",
        "InlineQueryResultAudio",
        "InlineQueryResultContact",
        "InlineQueryResultGame",
        "InlineQueryResultDocument",
        "InlineQueryResultGif",
        "InlineQueryResultLocation",
        "InlineQueryResultMpeg4Gif",
        "InlineQueryResultPhoto",
        "InlineQueryResultVenue",
        "InlineQueryResultVideo",
        "InlineQueryResultVoice",
    ),
    "InputMessageContent": (
        "InputTextMessageContent",
        "InputRichMessageContent",
        "InputLocationMessageContent",
        "InputVenueMessageContent",
        "InputContactMessageContent",
        "InputInvoiceMessageContent",
    ),
}

#: Subtype -> (discriminating field, the value the spec says it must have).
DISCRIMINATORS: Final[dict[str, tuple[str, str]]] = {
    "InlineQueryResultArticle": ("type", "article"),
    "BotCommandScopeDefault": ("type", "default"),
    "BotCommandScopeAllPrivateChats": ("type", "all_private_chats"),
    "BotCommandScopeAllGroupChats": ("type", "all_group_chats"),
    "BotCommandScopeAllChatAdministrators": ("type", "all_chat_administrators"),
    "BotCommandScopeChat": ("type", "chat"),
    "BotCommandScopeChatAdministrators": ("type", "chat_administrators"),
    "BotCommandScopeChatMember": ("type", "chat_member"),
}
