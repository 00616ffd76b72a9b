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

The HTML parser (``html.py``) is a line-by-line port of TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp),
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
    topics), ``add_channel``, ``block_user`` /
    ``unblock_user``, ``kick_bot_from``, ``migrate_group``; ``users`` and ``chats`` dicts.
User input (each returns the update dict it queued)
    ``send_text``, ``channel_post``, ``press_button``, ``inline_query``, ``push_update``
    (any raw update body); ``open_link`` (a reader taps ``https://t.me/<bot>?start=<payload>``
    and presses Start: ``/start <payload>``, the payload dropped if a client would not accept
    it) and ``forward_message`` (a copy in another chat, with only its URL buttons, as
    Telegram forwards). ``update_id`` grows monotonically. Group messages obey privacy
    mode (see ``send_text``); filtered updates land in ``filtered_updates``.
Recording
    ``calls`` (every call made with the right token, :class:`RecordedCall`), ``calls_to``, ``messages``
    (:class:`SentMessage`, everything the bot sent), ``messages_in(chat_id, thread_id)``,
    ``edits``, ``deleted_messages``, ``inline_answers``,
    ``callback_answers``, ``chat_actions``, ``commands_for``, ``webhook``,
    ``webhook_deliveries``, ``pending_updates``, ``active_long_polls``,
    ``too_many_requests_sent``, ``warnings``, ``protocol_violations`` / ``take_violations()``.
    A :class:`SentMessage` has ``buttons``, ``button_labels``, ``callback_data``, ``urls`` and
    ``link_preview_options`` as Telegram keeps them (``is_disabled`` drops the URL; without a
    URL the media size preferences are dropped).
Keyboards
    Inline buttons are read as the Bot API server reads them (Client.cpp,
    ``get_inline_keyboard_button_type``): the first of url, callback_data, ... wins; a button
    with two is a protocol violation (the real server silently drops the second); callback_data
    is 1-64 bytes; URLs must be http(s), tg: or ton: links Telegram accepts.
Protocol violations
    The Bot API ignores parameters and object fields it does not know, so a misspelling would
    pass in production. Each call is checked against tables derived from the official spec
    (``spec.py``, see its docstring for the version): unknown names are appended to
    ``protocol_violations`` and leaving ``async with FakeTelegram()`` with any recorded fails
    the test. Object fields of the wrong type get Telegram's 400.
Waiting (event driven, never sleeps)
    ``await wait_for(predicate, timeout=5.0)``, ``await wait_for_messages(chat_id, count)``.
    Timeouts raise ``AssertionError`` with a summary.
Failure injection
    ``fail_next(method, error_code=..., description=..., retry_after=...,
    migrate_to_chat_id=..., times=1, chat_id=None, raw_body=None)``,
    ``rate_limit(messages_per_second)``.
Webhooks
    ``setWebhook``/``deleteWebhook``/``getWebhookInfo`` are served;
    ``await deliver_via_webhook(update)`` POSTs one update (with
    ``X-Telegram-Bot-Api-Secret-Token``) to the registered 127.0.0.1 URL and returns the
    HTTP status. ``FakeTelegram(push_webhook=True)`` delivers by itself as Telegram does: each
    queued update POSTed in order, the same one again (after ``webhook_retry`` seconds,
    doubling up to 1 s) on a non-2xx answer or none; every attempt is in ``webhook_deliveries``
    (status 0: no answer).

Knowingly not modelled: media/file methods, MarkdownV2/Markdown parsing (text is passed through
unparsed and a warning is recorded), inline-message editing, per-chat flood limits, business
connections, payments, and Telegram's full URL/e-mail auto-detection (a close approximation is
used).

Layout: ``errors`` (error bodies), ``text`` / ``html`` (UTF-16, links, entity detection, TDLib's
HTML parser), ``records`` (what tests assert on), ``params`` (request decoding), ``world`` (users,
chats, user input), ``messages`` / ``methods`` (the Bot API methods), ``core`` (state, HTTP, waiting,
failure injection). :class:`FakeTelegram` is the top of one inheritance chain, ``core`` <-
``messages`` <- ``world`` <- ``methods``, in which each layer uses only the ones below it.
"""

from tests.fakes.telegram.errors import BotAPIError, EntityParseError
from tests.fakes.telegram.html import parse_html
from tests.fakes.telegram.records import (
    CallbackAnswer,
    ChatActionRecord,
    FakeChat,
    FakeUser,
    InlineAnswer,
    MessageEdit,
    MessageVersion,
    RecordedCall,
    SentMessage,
    WebhookConfig,
    WebhookDelivery,
)
from tests.fakes.telegram.server import FakeTelegram
from tests.fakes.telegram.text import (
    ParsedText,
    check_link,
    detect_entities,
    entity_text,
    utf16_len,
)

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
