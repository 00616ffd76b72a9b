"""The Telegram fake, exercised through the real python-telegram-bot client.

These tests are the fake's contract: if PTB (unmodified, over HTTP) sees the results and
errors asserted here, bot tests built on the fake see what they would see in production.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import socket
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram import FakeTelegram, parse_html

pytestmark = pytest.mark.asyncio

ALICE = 42
BOB = 43
CAROL = 44
GROUP = -1001234567890
BASIC_GROUP = -4001
CHANNEL = -1009876543210

PtbApp = Application[Any, Any, Any, Any, Any, Any]


# ------------------------------------------------------------------ handlers of the test bot


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(" ".join(context.args or []) or "(nothing)")


async def html(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        'Read <b>this</b> <a href="https://example.com/post">post</a> &amp; more',
        parse_mode=ParseMode.HTML,
    )


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Alpha", callback_data="pick:a"),
                InlineKeyboardButton("Beta", callback_data="pick:b"),
            ],
            [InlineKeyboardButton("Docs", url="https://Example.com")],
        ]
    )
    await update.effective_message.reply_text("Pick one", reply_markup=keyboard)


async def on_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"You picked {query.data}")
    await query.edit_message_text(f"Picked <b>{query.data}</b>", parse_mode=ParseMode.HTML)


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.inline_query
    assert query is not None
    text = query.query or "empty"
    await query.answer(
        [
            InlineQueryResultArticle(
                id="echo", title=f"Echo {text}", input_message_content=InputTextMessageContent(text)
            )
        ],
        cache_time=0,
    )


# ------------------------------------------------------------------ fixtures


def build_app(fake: FakeTelegram) -> PtbApp:
    """A stock Application pointed at the fake, with short timeouts."""
    return (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .connect_timeout(2)
        .read_timeout(2)
        .write_timeout(2)
        .pool_timeout(2)
        .get_updates_connect_timeout(2)
        .get_updates_read_timeout(2)
        .get_updates_write_timeout(2)
        .get_updates_pool_timeout(2)
        .build()
    )


def make_bot(fake: FakeTelegram) -> Bot:
    """A bare Bot (no polling) for direct API calls."""
    return Bot(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        request=HTTPXRequest(read_timeout=3, connect_timeout=2, pool_timeout=2),
        get_updates_request=HTTPXRequest(read_timeout=3, connect_timeout=2, pool_timeout=2),
    )


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as telegram:
        telegram.add_private_chat(ALICE, first_name="Alice", username="alice")
        telegram.add_group(
            GROUP,
            "DLW readers",
            admins=[BOB],
            members=[ALICE, CAROL],
            creator=99,
            forum=True,
            topics=[7],
        )
        yield telegram


@pytest_asyncio.fixture
async def polling_app(fake: FakeTelegram) -> AsyncIterator[PtbApp]:
    application = build_app(fake)
    application.add_handler(CommandHandler("echo", echo))
    application.add_handler(CommandHandler("html", html))
    application.add_handler(CommandHandler("menu", menu))
    application.add_handler(CallbackQueryHandler(on_pick, pattern=r"^pick:"))
    application.add_handler(InlineQueryHandler(on_inline))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(fake) as direct:
        yield direct


def retry_after_seconds(exc: RetryAfter) -> float:
    """RetryAfter.retry_after is int or timedelta depending on PTB_TIMEDELTA; normalise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


# ------------------------------------------------------------------ end to end with polling


async def test_command_round_trip_through_polling(fake: FakeTelegram, polling_app: PtbApp) -> None:
    update = fake.send_text(ALICE, "/echo hello world")
    assert update["message"]["entities"] == [{"offset": 0, "length": 5, "type": "bot_command"}]

    [reply] = await fake.wait_for_messages(ALICE, 1)

    assert reply.text == "hello world"
    assert reply.chat_id == ALICE
    assert [call.method for call in fake.calls[:2]] == ["getMe", "deleteWebhook"]
    assert fake.calls_to("sendMessage")[0].params["chat_id"] == ALICE


async def test_html_reply_is_parsed_into_plain_text_and_entities(
    fake: FakeTelegram, polling_app: PtbApp
) -> None:
    fake.send_text(ALICE, "/html")

    [reply] = await fake.wait_for_messages(ALICE, 1)

    assert reply.parse_mode == "HTML"
    assert reply.raw_text.startswith("Read <b>this</b>")
    assert reply.text == "Read this post & more"
    assert reply.links == ["https://example.com/post"]
    assert reply.entity_texts("bold") == ["this"]
    assert reply.entity_texts("text_link") == ["post"]


async def test_group_command_addressed_to_bot_in_forum_topic(
    fake: FakeTelegram, polling_app: PtbApp
) -> None:
    update = fake.send_text(
        GROUP, "/echo@dlw_test_bot in topic", from_user=CAROL, message_thread_id=7
    )
    assert update["message"]["entities"][0]["length"] == len("/echo@dlw_test_bot")

    [reply] = await fake.wait_for_messages(GROUP, 1, thread_id=7)

    assert reply.text == "in topic"
    assert reply.message_thread_id == 7
    # PTB quotes in groups: the reply points at Carol's message, which the fake knows.
    assert reply.reply_to_message_id == update["message"]["message_id"]


async def test_privacy_mode_filters_chatter_but_not_commands(
    fake: FakeTelegram, polling_app: PtbApp
) -> None:
    chatter = fake.send_text(GROUP, "just chatting", from_user=CAROL)
    other_bot = fake.send_text(GROUP, "/echo@other_bot hi", from_user=CAROL)
    fake.send_text(GROUP, "/echo visible", from_user=CAROL)

    [reply] = await fake.wait_for_messages(GROUP, 1)

    assert reply.text == "visible"
    filtered = [update for update, _ in fake.filtered_updates]
    assert chatter in filtered
    assert other_bot in filtered


async def test_callback_query_answer_and_edit(fake: FakeTelegram, polling_app: PtbApp) -> None:
    fake.send_text(ALICE, "/menu")
    [menu_message] = await fake.wait_for_messages(ALICE, 1)
    assert menu_message.callback_data == ["pick:a", "pick:b"]
    # Telegram normalises button URLs.
    assert menu_message.buttons[2]["url"] == "https://example.com/"

    fake.press_button(menu_message, "pick:b")
    await fake.wait_for(lambda: fake.edits, what="the menu to be edited")

    [answer] = fake.callback_answers
    assert answer.text == "You picked pick:b"
    assert answer.data == "pick:b"
    assert menu_message.text == "Picked pick:b"
    assert menu_message.entity_texts("bold") == ["pick:b"]
    assert menu_message.reply_markup is None  # an edit without markup drops the keyboard
    assert menu_message.history[0].text == "Pick one"
    assert menu_message.edit_date is not None


async def test_inline_query_answer_is_recorded(fake: FakeTelegram, polling_app: PtbApp) -> None:
    fake.inline_query(ALICE, "transformers")

    [answer] = await fake.wait_for(lambda: fake.inline_answers)

    assert answer.query == "transformers"
    assert answer.from_user_id == ALICE
    assert answer.results[0]["id"] == "echo"
    assert answer.results[0]["input_message_content"]["message_text"] == "transformers"


# ------------------------------------------------------------------ validation Telegram does


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<foo>x</foo>", 'unsupported start tag "foo" at byte offset 0'),
        ("1 < 2", 'unsupported start tag "" at byte offset 2'),
        ("<b>unclosed", 'can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ('<span class="x">s</span>', 'tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_invalid_html_is_bad_request(
    fake: FakeTelegram, bot: Bot, text: str, expected: str
) -> None:
    with pytest.raises(BadRequest) as info:
        await bot.send_message(ALICE, text, parse_mode=ParseMode.HTML)

    assert "can't parse entities: " + expected in info.value.message.lower()
    assert fake.messages == []


async def test_literal_ampersand_is_accepted_like_telegram(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ALICE, "R&D &copy; <b>ok</b>", parse_mode=ParseMode.HTML)

    assert message.text == "R&D &copy; ok"


async def test_length_limit_counts_utf16_units_after_parsing(fake: FakeTelegram, bot: Bot) -> None:
    emoji = "\U0001f9e0"  # two UTF-16 code units
    await bot.send_message(ALICE, emoji * 2048)  # exactly 4096 units
    await bot.send_message(ALICE, "<b>" + "x" * 4096 + "</b>", parse_mode=ParseMode.HTML)

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(ALICE, emoji * 2048 + "x")
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(ALICE, "<b> </b>", parse_mode=ParseMode.HTML)
    assert len(fake.messages_in(ALICE)) == 2


async def test_chat_thread_and_button_validation(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(12345, "hi")
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(GROUP, "hi", message_thread_id=8)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(ALICE, "hi", reply_markup=too_long)

    message = await bot.send_message(GROUP, "in topic", message_thread_id=7)
    assert message.message_thread_id == 7
    assert message.is_topic_message

    # TDLib silently drops inline buttons with empty text (and rows left empty).
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("", callback_data="gone")],
            [InlineKeyboardButton("ok", callback_data="y")],
        ]
    )
    kept = await bot.send_message(ALICE, "buttons", reply_markup=keyboard)
    assert kept.reply_markup is not None
    assert [[b.text for b in row] for row in kept.reply_markup.inline_keyboard] == [["ok"]]


async def test_edit_and_reply_rules(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ALICE, "<b>v1</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>v1</b>", ALICE, message.message_id, parse_mode="HTML")
    edited = await bot.edit_message_text("v2", ALICE, message.message_id)
    assert isinstance(edited, Message)  # True would mean an inline message
    assert edited.text == "v2"
    assert [edit.previous.text for edit in fake.edits] == ["v1"]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", ALICE, 9999)

    user_message = fake.send_text(ALICE, "question?")["message"]
    with pytest.raises(BadRequest, match=r"(?i)message can't be edited"):
        await bot.edit_message_text("x", ALICE, user_message["message_id"])
    answer = await bot.send_message(
        ALICE, "answer", reply_parameters=ReplyParameters(user_message["message_id"])
    )
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "question?"
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(ALICE, "x", reply_parameters=ReplyParameters(9999))
    lenient = ReplyParameters(9999, allow_sending_without_reply=True)
    assert (await bot.send_message(ALICE, "x", reply_parameters=lenient)).reply_to_message is None


async def test_set_my_commands_validation_and_scopes(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands(
        [BotCommand("start", "Start here"), BotCommand("/latest", "Latest issue")]
    )
    await bot.set_my_commands(
        [BotCommand("topics", "Topics")], scope=BotCommandScopeAllGroupChats(), language_code="de"
    )

    assert [c.command for c in await bot.get_my_commands()] == ["start", "latest"]
    grouped = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="de")
    assert [c.command for c in grouped] == ["topics"]
    assert await bot.get_my_commands(scope=BotCommandScopeAllGroupChats()) == ()
    assert fake.commands_for({"type": "all_group_chats"}, "de")[0]["description"] == "Topics"

    for commands, error in [
        ([BotCommand("Start", "x")], "BOT_COMMAND_INVALID"),
        ([BotCommand("with-dash", "x")], "BOT_COMMAND_INVALID"),
        ([BotCommand("a" * 33, "x")], "command length must not exceed 32"),
        ([BotCommand("ok", "")], "command description must be non-empty"),
        ([BotCommand("ok", "d" * 257)], "command description length must not exceed 256"),
        ([BotCommand(f"c{i}", "x") for i in range(101)], "BOT_COMMANDS_TOO_MUCH"),
    ]:
        with pytest.raises(BadRequest) as info:
            await bot.set_my_commands(commands)
        assert error.lower() in info.value.message.lower()
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.set_my_commands([BotCommand("x", "y")], scope=BotCommandScopeChat(777))

    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_get_chat_member_reflects_roles(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_user(12, "Stranger")  # known to Telegram, but not in the group
    statuses = {
        user_id: (await bot.get_chat_member(GROUP, user_id)).status
        for user_id in (99, BOB, CAROL, fake.bot_id, 12)
    }

    assert statuses[12] == ChatMemberStatus.LEFT
    assert statuses[99] == ChatMemberStatus.OWNER
    assert statuses[BOB] == ChatMemberStatus.ADMINISTRATOR
    assert statuses[CAROL] == ChatMemberStatus.MEMBER
    assert statuses[fake.bot_id] == ChatMemberStatus.MEMBER
    admins = await bot.get_chat_administrators(GROUP)
    assert {admin.user.id for admin in admins} == {99, BOB}
    chat = await bot.get_chat(GROUP)
    assert chat.type == "supergroup"
    assert chat.is_forum

    with pytest.raises(BadRequest, match=r"(?i)user not found"):
        await bot.get_chat_member(GROUP, 555)


async def test_channel_posts_deletes_and_chat_actions(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_channel(CHANNEL, "DLW weekly", admins=[BOB], username="dlw_weekly")
    post = await bot.send_message("@dlw_weekly", "Issue 206 is out https://example.com/206")
    assert post.sender_chat is not None
    assert post.sender_chat.id == CHANNEL
    assert post.from_user is None
    [stored] = fake.messages_in(CHANNEL)
    assert stored.links == ["https://example.com/206"]

    incoming = fake.channel_post(CHANNEL, "posted by a human")
    assert "from" not in incoming["channel_post"]
    assert incoming in fake.pending_updates

    await bot.send_chat_action(GROUP, "typing", message_thread_id=7)
    assert fake.chat_actions[-1].action == "typing"
    with pytest.raises(BadRequest, match=r"(?i)wrong parameter action"):
        await bot.send_chat_action(ALICE, "dancing")

    assert await bot.delete_message(CHANNEL, post.message_id)
    assert fake.messages_in(CHANNEL) == []
    assert stored.deleted
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(CHANNEL, post.message_id)

    fake.add_channel(-1000000000077, "Not ours", bot_is_admin=False)
    with pytest.raises(BadRequest, match=r"(?i)need administrator rights in the channel chat"):
        await bot.send_message(-1000000000077, "hi")


# ------------------------------------------------------------------ failures PTB must map


# PTB itself reads the deprecated int-valued ``retry_after`` when building RetryAfter.
ignore_ptb_retry_after_deprecation = pytest.mark.filterwarnings(
    "ignore::telegram.warnings.PTBDeprecationWarning"
)


@ignore_ptb_retry_after_deprecation
async def test_injected_429_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendMessage", error_code=429, retry_after=7)

    with pytest.raises(RetryAfter) as info:
        await bot.send_message(ALICE, "hi")

    assert retry_after_seconds(info.value) == 7
    assert fake.too_many_requests_sent == 1
    await bot.send_message(ALICE, "hi again")  # only the next call failed


async def test_forbidden_blocked_and_kicked(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_private_chat(BOB, "Bob", started=False)
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(BOB, "hi")

    fake.block_user(ALICE)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ALICE, "hi")

    fake.kick_bot_from(GROUP)
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hi")

    fake.fail_next(
        "sendMessage", error_code=403, description="Forbidden: bot was kicked from the group chat"
    )
    with pytest.raises(Forbidden, match="kicked from the group chat"):
        await bot.send_message(ALICE, "hi")
    kinds = [next(k for k in update if k != "update_id") for update in fake.pending_updates]
    assert kinds == ["my_chat_member", "my_chat_member"]


async def test_migrated_group_raises_chat_migrated(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(BASIC_GROUP, "Old group", members=[ALICE], creator=BOB)
    await bot.send_message(BASIC_GROUP, "before")
    fake.migrate_group(BASIC_GROUP, -1005550001)

    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(BASIC_GROUP, "after")

    assert info.value.new_chat_id == -1005550001
    await bot.send_message(info.value.new_chat_id, "after")
    fake.fail_next("sendMessage", error_code=400, migrate_to_chat_id=-100777, chat_id=ALICE)
    with pytest.raises(ChatMigrated):
        await bot.send_message(ALICE, "x")


@pytest.mark.parametrize(
    ("code", "raw_body"), [(500, None), (502, None), (502, "<html>nginx</html>")]
)
async def test_server_errors_are_network_errors(
    fake: FakeTelegram, bot: Bot, code: int, raw_body: str | None
) -> None:
    fake.fail_next("sendMessage", error_code=code, raw_body=raw_body)

    with pytest.raises(NetworkError) as info:
        await bot.send_message(ALICE, "hi")

    assert type(info.value) is NetworkError
    assert ("Internal Server Error" if code == 500 else "Bad Gateway") in str(info.value)


@ignore_ptb_retry_after_deprecation
async def test_rate_limit_sliding_window(fake: FakeTelegram, bot: Bot) -> None:
    fake.rate_limit(5)

    outcomes = await asyncio.gather(
        *(bot.send_message(ALICE, f"n{i}") for i in range(8)), return_exceptions=True
    )

    refused = [o for o in outcomes if isinstance(o, RetryAfter)]
    assert len(refused) == 3
    assert all(retry_after_seconds(o) >= 1 for o in refused)
    assert fake.too_many_requests_sent == 3
    assert len(fake.messages_in(ALICE)) == 5
    fake.rate_limit(None)
    await bot.send_message(ALICE, "free again")


async def test_unknown_method_bad_token_and_json_bodies(fake: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.base_url}{fake.token}"
        async with http.post(f"{url}/sendSticker", json={"chat_id": ALICE}) as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        async with http.post(f"{fake.base_url}1:wrong/getMe") as response:
            assert response.status == 401
        async with http.post(
            f"{url}/SENDMESSAGE",  # method names are case-insensitive
            json={"chat_id": ALICE, "text": "<i>json</i>", "parse_mode": "HTML"},
        ) as response:
            body = await response.json()
            assert body["ok"] is True
            assert body["result"]["entities"] == [{"offset": 0, "length": 4, "type": "italic"}]
    with pytest.raises(InvalidToken):  # initialize() calls getMe; __aenter__ then shuts down
        async with Bot("1:wrong", base_url=fake.base_url):
            pass


async def test_answer_callback_query_needs_an_issued_id(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("123")


async def test_wait_for_timeout_reports_recent_calls(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(ALICE, "something else")

    with pytest.raises(AssertionError) as info:
        await fake.wait_for_messages(ALICE, 2, timeout=0.05)

    report = str(info.value)
    assert "2 bot message(s) in chat 42" in report
    assert "sendMessage" in report
    assert "something else" in report


# ------------------------------------------------------------------ getUpdates semantics


async def test_long_poll_returns_promptly_when_an_update_arrives(
    fake: FakeTelegram, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=35))
    await fake.wait_for(lambda: fake.active_long_polls == 1)

    fake.send_text(ALICE, "wake up")
    # Returning at all before the poll's own 30 s timeout is the point; 5 s bounds a failure.
    updates = await asyncio.wait_for(poll, timeout=5)

    assert [u.effective_message.text for u in updates if u.effective_message] == ["wake up"]


async def test_long_poll_times_out_empty(fake: FakeTelegram, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await bot.get_updates(timeout=dtm.timedelta(milliseconds=200)) == ()
    assert loop.time() - started >= 0.15  # it did wait (pytest-timeout bounds a hang)


async def test_offset_limit_and_allowed_updates(fake: FakeTelegram, bot: Bot) -> None:
    ids = [fake.send_text(ALICE, f"m{i}")["update_id"] for i in range(3)]
    assert ids == sorted(ids)

    first_two = await bot.get_updates(limit=2)
    assert [u.update_id for u in first_two] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1] + 1)] == ids[2:]
    assert len(fake.pending_updates) == 1

    await bot.get_updates(offset=ids[2] + 1, allowed_updates=["callback_query"])
    fake.send_text(ALICE, "ignored now")
    assert fake.pending_updates == []
    assert fake.filtered_updates[-1][1] == "message not in allowed_updates"


async def test_newer_get_updates_terminates_older_one(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: fake.active_long_polls == 1)

    second = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first
    fake.send_text(ALICE, "for the survivor")
    assert len(await second) == 1


# ------------------------------------------------------------------ webhook mode


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_delivery_to_ptb_webhook_server(fake: FakeTelegram) -> None:
    application = build_app(fake)
    application.add_handler(CommandHandler("echo", echo))
    port = free_loopback_port()
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="tg-hook",
        webhook_url=f"http://127.0.0.1:{port}/tg-hook",
        secret_token="s3cret-token",
    )
    try:
        assert fake.webhook is not None
        assert fake.webhook.secret_token == "s3cret-token"

        update = fake.send_text(ALICE, "/echo via webhook")
        assert await fake.deliver_via_webhook(update) == 200
        [reply] = await fake.wait_for_messages(ALICE, 1)
        assert reply.text == "via webhook"
        assert fake.pending_updates == []

        forged = fake.send_text(ALICE, "/echo forged")
        assert await fake.deliver_via_webhook(forged, secret_token="wrong") == 403
        assert len(fake.pending_updates) == 1
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def test_webhook_rules(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)https url must be provided"):
        await bot.set_webhook("http://example.com/hook")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await bot.set_webhook("https://example.com:1234/hook")
    await bot.set_webhook("https://example.com/hook", secret_token="abc")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.com/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    with pytest.raises(ValueError, match=r"only 127\.0\.0\.1"):
        await fake.deliver_via_webhook({"update_id": 1})
    assert await bot.delete_webhook()


# ------------------------------------------------------------------ parser unit checks


async def test_parse_html_matches_tdlib_examples() -> None:
    parsed = parse_html('🏟 <pre><code class="language-python">x = 1</code></pre>')

    assert parsed.text == "🏟 x = 1"
    assert parsed.entities == [{"offset": 3, "length": 5, "type": "pre", "language": "python"}]


# ------------------------------------------------------------------ checked against the Bot API spec


async def post_raw(fake: FakeTelegram, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One JSON request to the fake, as any HTTP client could send it (no PTB in between)."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{fake.base_url}{fake.token}/{method}", json=body) as response,
    ):
        return response.status, await response.json()


async def test_unknown_parameters_and_fields_are_protocol_violations(fake: FakeTelegram) -> None:
    # Telegram ignores both silently, so the message goes out: the fake records the mistake.
    status, _ = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "<b>hi</b>", "parse_mod": "HTML"}
    )
    assert status == 200
    status, _ = await post_raw(
        fake,
        "sendMessage",
        {"chat_id": ALICE, "text": "hi", "link_preview_options": {"is_disable": True}},
    )
    assert status == 200

    first, second = fake.take_violations()
    assert "sendMessage: unknown parameter 'parse_mod'" in first
    assert "parse_mode" in first  # the report lists what the spec has
    assert "field 'is_disable' that LinkPreviewOptions does not have" in second
    assert fake.protocol_violations == []


async def test_a_misspelling_through_ptb_is_caught(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ALICE, "quiet", api_kwargs={"disable_notifcation": True})

    assert message.text == "quiet"  # delivered, and not silently: Telegram ignored the typo
    [violation] = fake.take_violations()
    assert "unknown parameter 'disable_notifcation'" in violation


async def test_a_violation_fails_the_fake_when_it_stops() -> None:
    async def misspell() -> None:
        async with FakeTelegram() as telegram:
            telegram.add_private_chat(ALICE)
            await post_raw(telegram, "sendMessage", {"chat_id": ALICE, "text": "a", "txt": "b"})

    with pytest.raises(AssertionError, match="unknown parameter 'txt'"):
        await misspell()


@pytest.mark.parametrize(
    ("options", "description"),
    [
        (
            {"is_disabled": "yes"},
            'can\'t parse link preview options: Field "is_disabled" must be of type Boolean',
        ),
        (
            {"url": 42},
            'can\'t parse link preview options: Field "url" must be of type String',
        ),
        ("[true]", 'can\'t parse link preview options: Field "link_preview_options"'),
    ],
)
async def test_link_preview_options_field_types(
    fake: FakeTelegram, options: Any, description: str
) -> None:
    status, body = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "link_preview_options": options}
    )
    assert status == 400
    assert body["description"].startswith(f"Bad Request: {description}")
    assert fake.messages == []


def article(**overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": "article",
        "id": "r1",
        "title": "Issue 202",
        "input_message_content": {"message_text": "<b>Issue 202</b>", "parse_mode": "HTML"},
    }
    result.update(overrides)
    return {key: value for key, value in result.items() if value is not None}


@pytest.mark.parametrize(
    ("result", "extra", "description"),
    [
        (article(), {}, None),
        (
            article(input_message_content={"message_text": "a < b", "parse_mode": "HTML"}),
            {},
            "can't parse entities: Unsupported start tag",
        ),
        (article(input_message_content={"message_text": " "}), {}, "message text is empty"),
        (article(input_message_content={"message_text": "x" * 4097}), {}, "message is too long"),
        (
            article(title=None),
            {},
            "can't parse inline query result article: Can't find field \"title\"",
        ),
        (
            article(input_message_content=None),
            {},
            'Can\'t find field "input_message_content"',
        ),
        (article(title=" "), {}, "ARTICLE_TITLE_EMPTY"),
        (article(id="x" * 65), {}, "RESULT_ID_INVALID"),
        (article(), {"next_offset": "9" * 65}, "NEXT_OFFSET_INVALID"),
        (
            article(
                reply_markup={"inline_keyboard": [[{"text": "More", "callback_data": "x" * 65}]]}
            ),
            {},
            "BUTTON_DATA_INVALID",
        ),
    ],
)
async def test_inline_results_are_validated_like_messages(
    fake: FakeTelegram, result: dict[str, Any], extra: dict[str, Any], description: str | None
) -> None:
    query = fake.inline_query(ALICE, "202")["inline_query"]
    status, body = await post_raw(
        fake, "answerInlineQuery", {"inline_query_id": query["id"], "results": [result], **extra}
    )
    if description is None:
        assert (status, body["result"]) == (200, True)
        assert fake.inline_answers[0].results == [result]
    else:
        assert status == 400
        assert description in body["description"]
        assert fake.inline_answers == []


async def test_callback_answer_text_is_at_most_200_characters(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    await bot.send_message(ALICE, "Pick", reply_markup=markup)
    [message] = fake.messages
    first = fake.press_button(message, "go")["callback_query"]["id"]
    second = fake.press_button(message, "go")["callback_query"]["id"]

    with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
        await bot.answer_callback_query(first, "x" * 201)
    assert await bot.answer_callback_query(first, "😀" * 100)  # 200 UTF-16 units
    assert await bot.answer_callback_query(second, "")
    assert [answer.text for answer in fake.callback_answers] == ["😀" * 100, ""]


# ------------------------------------------------------------------ keyboards, cards, deep links


def keyboard_of(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"inline_keyboard": [list(buttons)]}


@pytest.mark.parametrize(
    ("button", "description"),
    [
        ({"text": "x", "callback_data": "d" * 65}, "BUTTON_DATA_INVALID"),
        ({"text": "x", "callback_data": "é" * 33}, "BUTTON_DATA_INVALID"),  # 66 bytes
        ({"text": "x", "callback_data": 7}, 'Field "callback_data" must be of type String'),
        ({"text": "x", "callback_data": ""}, "Text buttons are unallowed in the inline keyboard"),
        ({"text": "x"}, "Text buttons are unallowed in the inline keyboard"),
        ({"text": "x", "url": "javascript:alert(1)"}, "Wrong HTTP URL"),
        ({"text": "x", "url": "ftp://example.com/file"}, "Wrong HTTP URL"),
        ({"text": 5, "url": "https://example.com"}, 'Field "text" must be of type String'),
    ],
)
async def test_inline_keyboards_are_refused_as_telegram_refuses_them(
    fake: FakeTelegram, button: dict[str, Any], description: str
) -> None:
    status, body = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "reply_markup": keyboard_of(button)}
    )

    assert status == 400
    assert description in body["description"]
    assert fake.messages == []


async def test_a_button_with_two_actions_is_a_protocol_violation(fake: FakeTelegram) -> None:
    """The server silently keeps the url and drops the callback: a button that was meant to
    call back would open a page instead, so the fake records the mistake."""
    both = {"text": "Stop", "url": "https://t.me/some_bot?start=x", "callback_data": "run:1:/x"}
    status, body = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "reply_markup": keyboard_of(both)}
    )

    assert status == 200
    [violation] = fake.take_violations()
    assert "has url and callback_data; exactly one may be set" in violation
    assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["url"].startswith(
        "https://t.me/"
    )


async def test_start_links_and_callback_buttons_are_accepted(fake: FakeTelegram, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Follow", url="https://t.me/dlw_bot?start=follow-pytorch")],
            [InlineKeyboardButton("Stop", callback_data="run:1:/unsubscribe pytorch")],
        ]
    )
    fake.add_channel(CHANNEL, "DLW weekly", admins=[BOB])
    sent = await bot.send_message(CHANNEL, "post", reply_markup=markup)

    [message] = fake.messages
    assert message.urls == ["https://t.me/dlw_bot?start=follow-pytorch"]
    assert message.callback_data == ["run:1:/unsubscribe pytorch"]
    assert sent.reply_markup is not None


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        (
            {"url": "https://dlw.example/207", "prefer_large_media": True, "show_above_text": True},
            {"url": "https://dlw.example/207", "prefer_large_media": True, "show_above_text": True},
        ),
        # is_disabled wins: no card, so the URL and the sizes mean nothing
        (
            {"is_disabled": True, "url": "https://dlw.example/207", "prefer_small_media": True},
            {"is_disabled": True},
        ),
        # without a URL the size preferences are dropped (TDLib's process_input_message_text)
        ({"prefer_large_media": True, "show_above_text": True}, {"show_above_text": True}),
        ({"is_disabled": False}, None),
    ],
)
async def test_link_preview_options_are_kept_as_telegram_keeps_them(
    fake: FakeTelegram, options: dict[str, Any], kept: dict[str, Any] | None
) -> None:
    status, _ = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "link_preview_options": options}
    )

    assert status == 200
    assert fake.messages[0].link_preview_options == kept


async def test_link_preview_options_must_be_an_object(fake: FakeTelegram) -> None:
    status, body = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "link_preview_options": "7"}
    )

    assert status == 400
    assert "link preview options" in body["description"]


async def test_opening_a_start_link_sends_start_with_its_payload(fake: FakeTelegram) -> None:
    name = fake.bot.username
    [update] = [fake.open_link(501, f"https://t.me/{name}?start=follow-pytorch")]
    assert update["message"]["text"] == "/start follow-pytorch"
    assert update["message"]["entities"][0]["type"] == "bot_command"
    assert fake.chats[501].started  # the link opened a chat the user never had

    dropped = fake.open_link(501, f"https://t.me/{name}?start=" + "x" * 65)
    assert dropped["message"]["text"] == "/start"  # a client drops what Telegram won't take
    with pytest.raises(ValueError, match="not this bot"):
        fake.open_link(501, "https://t.me/another_bot?start=follow")
    with pytest.raises(ValueError, match=r"no t\.me link"):
        fake.open_link(501, "https://example.com/?start=follow")
