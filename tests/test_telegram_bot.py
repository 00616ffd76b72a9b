"""The Telegram adapter, end to end: the real adapter and python-telegram-bot against the fake
Bot API (tests/fakes/telegram/) on 127.0.0.1.

Readers are simulated as Telegram would deliver them (private chats, a forum supergroup with
topics, a basic group, a channel, inline queries, button presses, webhook POSTs), and every
assertion is about what a reader would see or what the store remembers. The fake validates the
HTML and the 4096-unit limit like Telegram, so a reply that arrives at all was accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from adapters.base import Adapter
from adapters.telegram import (
    TelegramAdapter,
    TelegramSettings,
    api_urls,
    delivery_error,
    more_callback_data,
    render_html,
)
from bot.app import App
from bot.config import Settings
from bot.delivery import (
    ChatMoved,
    DeliveryError,
    PermanentError,
    RateLimited,
    TargetGone,
    TransientError,
    note_unreachable,
)
from bot.reply import Action, Continuation, Entry, Paragraph, Reply
from bot.store import Subscription, SubscriptionKind, Target
from bot.views import channel_reply, inline_entries
from tests.conftest import sqlite
from tests.fakes.telegram import FakeTelegram, SentMessage, parse_html, utf16_len

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ALICE, BOB, CAROL, OWNER, OPERATOR = 42, 43, 44, 99, 77
FORUM = -1001234567890  # a forum supergroup: topics 7 and 8; Bob is an admin, Carol a member
BASIC = -4001  # a basic group (can be migrated); Bob is an admin
CHANNEL = -1009876543210  # Bob administers it; the bot is an admin (it must be, to post)
MIGRATED = -1005550001
BOT = "dlw_test_bot"
BRAIN = "\U0001f9e0"
HOSTILE_TITLE = '<script>alert("x")</script> & friends'
HOSTILE_URL = 'https://example.com/a?b=1&c="2"'


# ----------------------------------------------------------------------------- fixtures


class LogWatch(logging.Handler):
    """Every log record of a test, and a way to wait for one (no sleeping)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    @property
    def text(self) -> str:
        return "\n".join(self.format(record) for record in self.records)

    async def wait_for(self, fragment: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while fragment not in self.text:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    root = logging.getLogger()
    level = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(level)


def write_hostile_issue(content_dir: Path) -> None:
    """An older issue whose content tries everything: markup, quotes, emoji, a huge summary."""
    issue = {
        "number": 150,
        "title": "Deep Learning Weekly: Issue #150",
        "subtitle": '<b>Hostile</b> & "quoted" subtitle',
        "intro": "Testing.",
        "sections": [
            {
                "name": "<Odd> & Section",
                "items": [
                    {
                        "title": HOSTILE_TITLE,
                        "url": HOSTILE_URL,
                        "summary": (f"Zebrafish {BRAIN} <tag> & ampersand. " * 400).strip(),
                    },
                    {
                        "title": "Quokka benchmark",
                        "url": "https://example.com/quokka",
                        "summary": "Quokkas & <pandas>.",
                    },
                ],
            }
        ],
    }
    (content_dir / "issues" / "0150.yaml").write_text(yaml.safe_dump(issue, allow_unicode=True))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username=BOT) as telegram:
        telegram.add_private_chat(ALICE, "Alice", username="alice")
        telegram.add_private_chat(BOB, "Bob")
        telegram.add_private_chat(CAROL, "Carol")
        telegram.add_group(
            FORUM,
            "DLW readers",
            admins=[BOB],
            members=[ALICE, CAROL, OPERATOR],
            creator=OWNER,
            forum=True,
            topics=[7, 8],
        )
        telegram.add_group(BASIC, "Old group", admins=[BOB], members=[CAROL], creator=OWNER)
        telegram.add_channel(CHANNEL, "DLW channel", admins=[BOB], creator=OWNER)
        yield telegram


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram, content_dir: Path) -> Settings:
    write_hostile_issue(content_dir)
    return settings.model_copy(update={"admins": (f"telegram:{OPERATOR}",)})


@pytest.fixture
def telegram_settings(fake: FakeTelegram) -> TelegramSettings:
    """``DLW_TELEGRAM_*`` aimed at the fake."""
    return TelegramSettings(token=SecretStr(fake.token), api_url=fake.base_url)


Launch = Callable[..., Awaitable[TelegramAdapter]]


@pytest.fixture
async def launch(
    tg_settings: Settings, telegram_settings: TelegramSettings
) -> AsyncIterator[Launch]:
    """Start an adapter (own App) with settings and adapter options changed; stopped after.

    ``settings`` keys ``telegram_*`` change the adapter's settings, the others the core's."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(settings: dict[str, Any] | None = None, **options: Any) -> TelegramAdapter:
            changes = settings or {}
            core = {k: v for k, v in changes.items() if not k.startswith("telegram_")}
            own = {k[9:]: v for k, v in changes.items() if k.startswith("telegram_")}
            app = await App.create(tg_settings.model_copy(update=core))
            stack.push_async_callback(app.close)
            defaults: dict[str, Any] = {"timeout": 3.0, "poll_timeout": 5.0, "backoff": 0.01}
            adapter = TelegramAdapter(
                app.adapter_services,
                telegram_settings.model_copy(update=own),
                **(defaults | options),
            )
            APPS[adapter] = app
            await adapter.start()
            stack.push_async_callback(adapter.stop)
            return adapter

        yield start


@pytest.fixture
async def adapter(launch: Launch) -> TelegramAdapter:
    return await launch()


#: The App each launched adapter was given services of (adapters never see the App).
APPS: dict[TelegramAdapter, App] = {}


def app_of(adapter: TelegramAdapter) -> App:
    return APPS[adapter]


# ----------------------------------------------------------------------------- helpers


async def ask(
    fake: FakeTelegram,
    chat_id: int,
    text: str,
    *,
    user: int | None = None,
    thread: int | None = None,
    count: int = 1,
) -> list[SentMessage]:
    """A reader sends ``text``; returns the bot's ``count`` new messages there."""
    before = len(fake.messages_in(chat_id, thread))
    if chat_id == CHANNEL:
        fake.channel_post(chat_id, text)
    else:
        fake.send_text(chat_id, text, user, thread)
    messages = await fake.wait_for_messages(chat_id, before + count, thread_id=thread)
    return messages[before:]


def check_valid(messages: list[SentMessage]) -> str:
    """Every message is HTML Telegram accepted, within 4096 UTF-16 units even before parsing,
    without link previews (multi-item replies); returns the text a reader sees."""
    for message in messages:
        assert message.parse_mode == "HTML"
        assert utf16_len(message.raw_text) <= 4096
        assert utf16_len(message.text) <= 4096
        assert message.link_preview_options == {"is_disabled": True}
    return "\n".join(m.text for m in messages)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_no_token(fake: FakeTelegram, logs: LogWatch) -> None:
    secret = fake.token.partition(":")[2]
    assert logs.records, "nothing was logged at all"
    assert secret not in logs.text
    for record in logs.records:
        assert secret not in record.getMessage()


# ----------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("make_error", "expected", "detail"),
    [
        (lambda: RetryAfter(7), RateLimited, 7.0),
        (lambda: ChatMigrated(-100777), ChatMoved, "-100777"),
        (lambda: Forbidden("Forbidden: bot was blocked by the user"), TargetGone, False),
        (
            lambda: Forbidden("Forbidden: bot was kicked from the supergroup chat"),
            TargetGone,
            False,
        ),
        (lambda: BadRequest("Chat not found"), TargetGone, False),
        (lambda: BadRequest("Need administrator rights in the channel chat"), TargetGone, False),
        (lambda: BadRequest("Message thread not found"), TargetGone, True),
        (lambda: BadRequest("TOPIC_DELETED"), TargetGone, True),
        (lambda: BadRequest("Can't parse entities: unsupported start tag"), PermanentError, None),
        (lambda: NetworkError("Bad Gateway"), TransientError, None),
        (lambda: TimedOut(), TransientError, None),
        (lambda: InvalidToken(), PermanentError, None),
    ],
)
def test_platform_errors_become_delivery_errors(
    make_error: Callable[[], TelegramError], expected: type[DeliveryError], detail: object
) -> None:
    translated = delivery_error(make_error())

    assert type(translated) is expected
    if isinstance(translated, RateLimited):
        assert translated.retry_after == detail
    elif isinstance(translated, ChatMoved):
        assert translated.new_chat_id == detail
    elif isinstance(translated, TargetGone):
        assert translated.thread_only is detail


def test_more_button_data_is_the_command_when_it_fits_in_64_bytes() -> None:
    assert more_callback_data(Continuation("/search learning", 2)) == "more:2:/search learning"
    assert more_callback_data(Continuation("/search " + "é" * 28, 2)) is None  # 64+ bytes
    assert more_callback_data(Continuation("/x", 3), key="abc") == "more#abc"


@pytest.mark.parametrize(
    ("configured", "base", "files"),
    [
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081/bot", "http://127.0.0.1:8081/file/bot"),
        (
            "http://127.0.0.1:8081/bot/",
            "http://127.0.0.1:8081/bot",
            "http://127.0.0.1:8081/file/bot",
        ),
        ("https://tg.example/api/bot{token}/test", "https://tg.example/api/bot{token}/test", None),
    ],
)
def test_the_api_url_may_be_a_server_root_or_ptbs_base_url(
    configured: str, base: str, files: str | None
) -> None:
    assert api_urls(configured) == (base, files)


async def test_note_unreachable_marks_readers_chats_and_topics(app: App) -> None:
    store = app.store
    await store.subscribe("telegram", "42", [Subscription(SubscriptionKind.TOPIC, "pytorch")])
    for target in (
        Target("telegram", "-1"),
        Target("telegram", "-2", "7"),
        Target("telegram", "-2", "8"),
    ):
        await store.register_channel(target, title=None, registered_by="43")

    assert await note_unreachable(store, Target.user("telegram", "42"), TargetGone("blocked"))
    assert await note_unreachable(store, Target("telegram", "-1"), ChatMoved("-100"))
    assert await note_unreachable(
        store, Target("telegram", "-2", "7"), TargetGone("x", thread_only=True)
    )
    assert not await note_unreachable(store, Target("telegram", "-2"), TransientError("x"))

    assert await store.subscribers_with_subscriptions() == {}
    active = {str(c.target) for c in await store.channels()}
    assert active == {"telegram:-100", "telegram:-2/8"}
    assert await note_unreachable(store, Target("telegram", "-2", "8"), TargetGone("kicked"))
    assert [c.inactive_reason for c in await store.channels(active_only=False) if not c.active] == [
        "kicked"
    ]


async def test_inline_entries_offer_latest_items_or_search_results(app: App) -> None:
    archive = app.archive.archive

    latest = inline_entries(archive, "  ")
    found = inline_entries(archive, "transformers")
    nothing = inline_entries(archive, '"!!!"')

    assert [e.title for e in latest.entries][-1] == "Thinking Like Transformers"
    assert len(latest.entries) == 20 and not latest.has_more
    assert all(e.meta and e.meta.startswith("Issue #206 · ") for e in latest.entries)
    assert "Thinking Like Transformers" in [e.title for e in found.entries]
    assert nothing.entries == ()
    paged = inline_entries(archive, "", page=2, per_page=15)
    assert len(paged.entries) == 5 and not paged.has_more
    assert inline_entries(archive, "", per_page=15).has_more


# ----------------------------------------------------------------------------- lifecycle


async def test_start_publishes_the_command_menu_and_starts_polling(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    assert isinstance(adapter, Adapter)
    assert adapter.bot_username == BOT
    assert fake.calls[0].method == "getMe"
    menu = {c["command"]: c["description"] for c in fake.commands_for()}
    assert menu["latest"] == "The newest issue"
    assert menu["weekly"] == "Post each new issue here automatically (admins)"
    assert set(menu) == {c.name for c in app_of(adapter).registry.public()}
    private = [c["command"] for c in fake.commands_for({"type": "all_private_chats"})]
    groups = [c["command"] for c in fake.commands_for({"type": "all_group_chats"})]
    assert "weekly" not in private and "search" in private
    assert "weekly" in groups
    await fake.wait_for(lambda: fake.active_long_polls == 1)
    assert adapter.limits.messages_per_second == 30

    await adapter.start()  # already running: nothing happens
    await adapter.stop()
    await adapter.stop()  # idempotent

    await fake.wait_for(lambda: fake.active_long_polls == 0)
    assert len(fake.calls_to("getMe")) == 1


async def test_a_local_bot_api_server_root_url_works(fake: FakeTelegram, launch: Launch) -> None:
    await launch({"telegram_api_url": f"http://127.0.0.1:{fake.port}"})

    [reply] = await ask(fake, ALICE, "/start")

    assert reply.text.startswith("Welcome")


async def test_a_rejected_token_stops_start_without_revealing_it(
    fake: FakeTelegram, launch: Launch, logs: LogWatch
) -> None:
    wrong = "7000000001:WRONG-secret-of-the-operator"

    with pytest.raises(RuntimeError, match="rejected the bot token") as info:
        await launch({"telegram_token": SecretStr(wrong)})

    assert "WRONG-secret" not in str(info.value) and info.value.__cause__ is None
    assert "WRONG-secret" not in logs.text


async def test_the_token_is_never_logged_even_at_debug_level(
    fake: FakeTelegram, launch: Launch, logs: LogWatch
) -> None:
    adapter = await launch()
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: can't parse entities")
    fake.send_text(ALICE, "/start")
    await logs.wait_for("reply to telegram:user 42 failed")
    fake.fail_next("sendMessage", error_code=502, times=3)
    with pytest.raises(TransientError):
        await adapter.send(Target("telegram", str(ALICE)), Reply.text("hi"))

    assert "Set Bot API URL" in logs.text  # python-telegram-bot logged its URL...
    assert_no_token(fake, logs)  # ...with the token blanked out


# ----------------------------------------------------------------------------- every command


COMMANDS: list[tuple[str, int, dict[str, list[str]]]] = [
    ("/start", 1, {"all": ["Welcome to Deep Learning Weekly", "Latest: Issue #206"]}),
    (
        "/help",
        1,
        {"all": ["Commands", "/section NAME [NUMBER]", "/weekly [on|off] [preview|nopreview]"]},
    ),
    ("/help search", 1, {"all": ["Usage: /search QUERY", "/search federated learning"]}),
    (
        "/latest",
        2,
        {"all": ["Deep Learning Weekly: Issue #206", "Papers & Publications", "Reward is enough"]},
    ),
    ("/issue 202", 2, {"all": ["Issue #202", "Unveiling our new Quantum AI campus"]}),
    ("/issues", 1, {"all": ["The archive: 3 issues", "Issue #206", "Issue #150"]}),
    (
        "/section papers",
        1,
        {
            "all": [
                "Papers & Publications — Issue #206",
                "Descending through a Crowded Valley",
                "Reward is enough",
                "Thinking Like Transformers",
            ]
        },
    ),
    ("/search pytorch", 1, {"all": ["Search: pytorch", "Overview of PyTorch Autograd Engine"]}),
    ("/topics", 1, {"all": ["22 topics", "/subscribe pytorch"]}),
    ("/subscribe pytorch", 1, {"all": ["Following the topic PyTorch (pytorch)"]}),
    ("/subscriptions", 1, {"all": ["You don't follow any topics yet"]}),
    ("/unsubscribe all", 1, {"all": ["You weren't following anything."]}),
    (
        "/weekly on",
        1,
        {
            "private": ["/weekly works in a channel or group chat, not here."],
            "group": ["Only administrators of this chat can use /weekly."],
            "channel": [
                "Done: every new issue of Deep Learning Weekly will be posted in this chat"
            ],
        },
    ),
]


@pytest.mark.parametrize(("line", "count", "expected"), COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_every_command_in_a_private_chat_a_group_and_a_channel(
    fake: FakeTelegram,
    adapter: TelegramAdapter,
    line: str,
    count: int,
    expected: dict[str, list[str]],
) -> None:
    command, _, rest = line.partition(" ")
    addressed = f"{command}@{BOT} {rest}".strip()
    for kind, chat, text, user in [
        ("private", ALICE, line, None),
        ("group", FORUM, addressed, CAROL),
        ("channel", CHANNEL, line, None),
    ]:
        messages = await ask(fake, chat, text, user=user, count=count)
        seen = check_valid(messages)
        for fragment in expected.get(kind, expected.get("all", [])):
            assert fragment in seen, (kind, fragment, seen[:500])
    group_reply = fake.messages_in(FORUM)[0]
    assert group_reply.reply_to_message_id is not None  # in a group the answer quotes the asker


async def test_the_papers_section_lists_the_papers_with_their_abstracts(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [message] = await ask(fake, ALICE, "/section papers")

    assert message.entity_texts("bold") == [
        "Papers & Publications — Issue #206",
        "Descending through a Crowded Valley -- Benchmarking Deep Learning Optimizers",
        "Reward is enough",
        "Thinking Like Transformers",
    ]
    assert message.entity_texts("italic") == ["3 items"]
    assert "reward is enough to drive behaviour" in message.text


async def test_a_long_reply_is_split_between_items(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    first, second = await ask(fake, ALICE, "/latest", count=2)

    check_valid([first, second])
    assert first.text.startswith("Deep Learning Weekly: Issue #206\n")
    headings = [
        "Industry",
        "Mobile & Edge",
        "Learning",
        "Libraries & Code",
        "Papers & Publications",
    ]
    bold = first.entity_texts("bold") + second.entity_texts("bold")
    assert [b for b in bold if b in headings] == headings
    assert len(bold) == 1 + len(headings) + 20  # title, headings, every item's title once
    assert second.text.split("\n")[0] in bold  # the cut falls before an item or a heading


async def test_plain_text_in_private_is_a_search_and_unknown_commands_get_a_hint(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [search] = await ask(fake, ALICE, "federated learning")
    [unknown] = await ask(fake, ALICE, "/lates")

    assert search.text.startswith("Search: federated learning")
    assert "Did you mean /latest?" in unknown.text


async def test_hostile_search_input_is_shown_literally(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [message] = await ask(fake, ALICE, '/search <b>x</b> & "q"')

    assert '<b>x</b> & "q"' in message.text
    assert "&lt;b&gt;x&lt;/b&gt; &amp;" in message.raw_text
    assert "x" not in message.entity_texts("bold")


async def test_hostile_content_stays_valid_and_within_the_limit(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    section = await ask(fake, ALICE, "/section odd 150", count=3)
    issue = await ask(fake, ALICE, "/issue 150")

    seen = check_valid(section)
    assert "<Odd> & Section — Issue #150" in seen
    [huge] = [m for m in section if HOSTILE_TITLE in m.text]
    assert huge.links == [HOSTILE_URL]
    assert huge.text.endswith("…") and utf16_len(huge.text) > 3000
    assert f"Zebrafish {BRAIN} <tag> & ampersand." in huge.text
    assert "Quokkas & <pandas>." in seen
    assert '<b>Hostile</b> & "quoted" subtitle' in check_valid(issue)


# ----------------------------------------------------------------------------- groups


async def test_group_commands_for_other_bots_and_chatter_are_ignored(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.can_read_all_group_messages = True  # as if the bot were an admin: it sees everything
    fake.send_text(FORUM, "/latest@other_bot", CAROL)
    fake.send_text(FORUM, "just chatting about /latest", CAROL)
    fake.send_text(FORUM, "/nonsense", CAROL)
    command = fake.send_text(FORUM, f"/help@{BOT} search", CAROL)

    [reply] = await fake.wait_for_messages(FORUM, 1)

    assert reply.text.startswith("/search")
    assert reply.reply_to_message_id == command["message"]["message_id"]
    [help_reply] = await ask(fake, FORUM, f"/start@{BOT}", user=CAROL)
    assert len(fake.messages_in(FORUM)) == 2 and help_reply.text.startswith("Welcome")


async def test_privacy_mode_means_other_bots_commands_never_arrive(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    other = fake.send_text(FORUM, "/latest@other_bot", CAROL)

    await ask(fake, FORUM, "/start", user=CAROL)

    assert other in [update for update, _ in fake.filtered_updates]


async def test_forum_topics_get_their_replies_and_their_own_weekly_registration(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    store = app_of(adapter).store
    [papers] = await ask(fake, FORUM, "/section papers", user=CAROL, thread=7)
    [on7] = await ask(fake, FORUM, f"/weekly@{BOT} on", user=BOB, thread=7)
    [on8] = await ask(fake, FORUM, "/weekly on", user=BOB, thread=8)
    [general] = await ask(fake, FORUM, "/weekly on", user=BOB)

    assert papers.message_thread_id == 7 and "Reward is enough" in papers.text
    assert "posted in this topic" in on7.text and on7.message_thread_id == 7
    assert on8.message_thread_id == 8
    assert general.message_thread_id is None and "posted in this chat" in general.text
    registered = {c.target for c in await store.channels("telegram")}
    assert registered == {
        Target("telegram", str(FORUM), "7"),
        Target("telegram", str(FORUM), "8"),
        Target("telegram", str(FORUM), ""),
    }

    [off7] = await ask(fake, FORUM, "/weekly off", user=BOB, thread=7)

    assert "this topic will no longer get the weekly post" in off7.text
    assert {c.target.thread_id for c in await store.channels("telegram")} == {"8", ""}
    sent = await adapter.send(Target("telegram", str(FORUM), "8"), Reply.text("Issue #207 is out"))
    assert fake.messages_in(FORUM, 8)[-1].text == "Issue #207 is out"
    assert sent == [str(fake.messages_in(FORUM, 8)[-1].message_id)]


async def test_weekly_is_for_chat_administrators_checked_with_telegram(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    store = app_of(adapter).store

    [refused] = await ask(fake, FORUM, "/weekly on", user=CAROL)

    assert refused.text == "Only administrators of this chat can use /weekly."
    [check] = fake.calls_to("getChatMember")
    assert check.params == {"chat_id": FORUM, "user_id": CAROL}
    assert await store.channels() == []

    [owner] = await ask(fake, FORUM, "/weekly on", user=OWNER)
    assert owner.text.startswith("Done:")
    [channel] = await store.channels()
    assert channel.registered_by == str(OWNER) and channel.title == "DLW readers"


async def test_an_anonymous_group_admin_may_use_weekly(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    chat = fake.chats[FORUM].to_dict()
    fake.push_update(  # how Telegram delivers a message an admin sent "as the group"
        {
            "message": {
                "message_id": 900,
                "from": {"id": 1087968824, "is_bot": True, "first_name": "Group"},
                "sender_chat": chat,
                "chat": chat,
                "date": 1,
                "text": "/weekly on",
                "entities": [{"offset": 0, "length": 7, "type": "bot_command"}],
            }
        }
    )

    [reply] = await fake.wait_for_messages(FORUM, 1)

    assert reply.text.startswith("Done:")
    assert fake.calls_to("getChatMember") == []
    [channel] = await app_of(adapter).store.channels()
    assert channel.registered_by == str(FORUM)


async def test_operators_may_use_admin_commands_anywhere(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [reply] = await ask(fake, FORUM, "/weekly on", user=OPERATOR)  # a plain member of the group

    assert reply.text.startswith("Done:")
    assert fake.calls_to("getChatMember") == []  # DLW_ADMINS decided; no need to ask Telegram


async def test_channel_posts_are_commands_from_the_channel_itself(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    store = app_of(adapter).store
    fake.channel_post(CHANNEL, "Our own post, not a command")

    [on] = await ask(fake, CHANNEL, "/weekly on")
    latest = await ask(fake, CHANNEL, "/latest", count=2)

    assert on.text.startswith("Done: every new issue")
    assert fake.calls_to("getChatMember") == []  # only channel admins can post at all
    [channel] = await store.channels()
    assert channel.target == Target("telegram", str(CHANNEL)) and channel.title == "DLW channel"
    assert latest[0].reply_to_message_id is None  # a channel post is not a conversation
    assert len(fake.messages_in(CHANNEL)) == 3

    [off] = await ask(fake, CHANNEL, "/weekly off")
    assert "no longer" in off.text and await store.channels() == []


# ----------------------------------------------------------------------------- buttons, inline


async def test_more_button_sends_the_next_page_below(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [first] = await ask(fake, FORUM, "/search learning", user=CAROL, thread=7)
    assert first.callback_data == ["more:2:/search learning"]
    assert first.buttons[0]["text"] == "More"

    fake.press_button(first, "more:2:/search learning", from_user=ALICE)
    [_, second] = await fake.wait_for_messages(FORUM, 2, thread_id=7)

    assert [a.data for a in fake.callback_answers] == ["more:2:/search learning"]
    assert fake.callback_answers[0].text is None
    assert second.text.startswith("Search: learning\n\nResults 9–")
    assert second.message_thread_id == 7
    check_valid([first, second])


async def test_more_button_for_a_long_command_goes_through_the_store(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    query = "reinforcement learning agents trained with rewards on hard benchmarks"
    [first] = await ask(fake, ALICE, f"/search {query}")
    [data] = first.callback_data
    assert data.startswith("more#") and len(data.encode()) <= 64

    fake.press_button(first, data)
    [_, second] = await fake.wait_for_messages(ALICE, 2)

    assert second.text.startswith(f"Search: {query}\n\nResults 9–")
    assert await app_of(adapter).store.load_continuation(data[5:]) == (f"/search {query}", 2)


async def test_a_page_whose_more_button_could_not_be_saved_still_reaches_the_reader(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    # The store refuses the continuation for real (SQLite aborts the INSERT, as on a full disk).
    async with sqlite(app_of(adapter).store).transaction() as db:
        await db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON continuations"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    query = "reinforcement learning agents trained with rewards on hard benchmarks"
    [first] = await ask(fake, ALICE, f"/search {query}")
    assert first.text.startswith(f"Search: {query}\n\nResults 1–")
    assert first.callback_data == []  # the page, without a button that could not work
    assert any(
        "without its More button" in r.getMessage() and r.levelno == logging.WARNING
        for r in logs.records
    )


async def test_an_expired_more_button_says_so_without_a_message(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    more = Continuation("/search " + "é" * 40, 2)  # too long for the button: kept in the store
    await adapter.send(Target("telegram", str(ALICE)), Reply((Paragraph("page 1"),), more=more))
    [message] = fake.messages_in(ALICE)
    async with sqlite(app_of(adapter).store).transaction() as db:
        await db.execute("DELETE FROM continuations")  # e.g. expired after 30 days

    fake.press_button(message, message.callback_data[0])
    [answer] = await fake.wait_for(lambda: fake.callback_answers)

    assert answer.text == "That button has expired; run the command again."
    assert len(fake.messages_in(ALICE)) == 1


async def test_inline_mode_offers_shareable_stories(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.inline_query(ALICE, "")
    fake.inline_query(ALICE, "transformers")
    fake.inline_query(ALICE, "the")  # a word in 30 items: more than one page of 20
    fake.inline_query(ALICE, '"!!!"')
    await fake.wait_for(lambda: len(fake.inline_answers) == 4)
    answers = fake.inline_answers
    by_query = {a.query: a for a in answers}

    latest = by_query[""]
    assert len(latest.results) == 20 and latest.next_offset in (None, "")
    assert latest.results[-1]["title"] == "Thinking Like Transformers"
    assert "Thinking Like Transformers" in [r["title"] for r in by_query["transformers"].results]
    assert by_query['"!!!"'].results == []
    for answer in answers:
        assert len({r["id"] for r in answer.results}) == len(answer.results)
        for result in answer.results:
            assert result["type"] == "article" and len(result["id"].encode()) <= 64
            content = result["input_message_content"]
            assert content["parse_mode"] == "HTML"
            shared = parse_html(content["message_text"])
            assert utf16_len(content["message_text"]) <= 4096
            assert shared.text.startswith(result["title"].rstrip("…"))
    common = by_query["the"]
    assert len(common.results) == 20 and common.next_offset == "2"

    fake.inline_query(ALICE, "the", offset="2")
    await fake.wait_for(lambda: len(fake.inline_answers) == 5)
    more = fake.inline_answers[-1]
    assert len(more.results) == 10 and not more.next_offset
    assert {r["id"] for r in more.results}.isdisjoint({r["id"] for r in common.results})


# ----------------------------------------------------------------------------- platform errors


async def test_a_flood_limit_is_waited_out_and_the_reply_still_arrives(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail_next("sendMessage", error_code=429, retry_after=1)

    [reply] = await ask(fake, ALICE, "/start")

    refused, accepted = fake.calls_to("sendMessage")
    assert refused.error_code == 429 and accepted.ok
    assert accepted.at - refused.at >= 1.0  # retry_after honoured, not guessed
    assert reply.text.startswith("Welcome")


async def test_a_reader_who_blocked_the_bot_is_marked_inactive(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    store = app_of(adapter).store
    await ask(fake, ALICE, "/subscribe pytorch")
    assert await store.subscribers_with_subscriptions() != {}
    fake.fail_next(
        "sendMessage", error_code=403, description="Forbidden: bot was blocked by the user"
    )

    fake.send_text(ALICE, "/latest")
    await logs.wait_for("marked unreachable")

    assert await store.subscribers_with_subscriptions() == {}
    assert "bot was blocked by the user" in logs.text
    assert_no_token(fake, logs)


async def test_blocking_and_unblocking_are_learnt_from_telegram_updates(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    store = app_of(adapter).store
    await ask(fake, ALICE, "/subscribe pytorch")

    fake.block_user(ALICE)
    await logs.wait_for("membership in 42 is now kicked")
    assert await store.subscribers_with_subscriptions() == {}

    fake.unblock_user(ALICE)
    await logs.wait_for("membership in 42 is now member")
    assert list(await store.subscribers_with_subscriptions()) == [("telegram", "42")]


async def test_a_group_that_kicked_the_bot_loses_its_weekly_post(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    store = app_of(adapter).store
    await ask(fake, BASIC, "/weekly on", user=BOB)
    await ask(fake, CHANNEL, "/weekly on")
    fake.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was kicked from the group chat",
        chat_id=BASIC,
    )

    fake.send_text(BASIC, "/start", CAROL)
    await logs.wait_for(f"telegram:{BASIC} marked unreachable")
    fake.kick_bot_from(CHANNEL, by_user=BOB)
    await logs.wait_for(f"membership in {CHANNEL} is now kicked")

    assert await store.channels() == []
    reasons = {c.target.chat_id: c.inactive_reason for c in await store.channels(active_only=False)}
    assert reasons == {
        str(BASIC): "Forbidden: bot was kicked from the group chat",
        str(CHANNEL): "the bot was removed from the channel",
    }


async def test_a_migrated_group_keeps_its_registration_and_still_gets_the_answer(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    store = app_of(adapter).store
    await ask(fake, BASIC, "/weekly on", user=BOB)

    fake.send_text(BASIC, "/start", CAROL)
    fake.migrate_group(BASIC, MIGRATED, emit_updates=False)  # before the bot answers
    [reply] = await fake.wait_for_messages(MIGRATED, 1)

    assert reply.text.startswith("Welcome")
    [channel] = await store.channels()
    assert channel.target == Target("telegram", str(MIGRATED))


async def test_a_migration_notice_moves_the_registration(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    store = app_of(adapter).store
    await ask(fake, BASIC, "/weekly on", user=BOB)

    fake.migrate_group(BASIC, MIGRATED)
    await logs.wait_for(f"became supergroup {MIGRATED}")

    [channel] = await store.channels()
    assert channel.target == Target("telegram", str(MIGRATED))


async def test_network_errors_are_retried_with_backoff_then_given_up(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    fake.fail_next("sendMessage", error_code=502, times=2)
    [reply] = await ask(fake, ALICE, "/start")
    assert [c.http_status for c in fake.calls_to("sendMessage")] == [502, 502, 200]
    assert reply.text.startswith("Welcome")

    fake.fail_next("sendMessage", error_code=500, times=3)
    fake.send_text(ALICE, "/help")
    await logs.wait_for("reply to telegram:user 42 failed")

    assert [c.http_status for c in fake.calls_to("sendMessage")][3:] == [500, 500, 500]
    assert "Internal Server Error" in logs.text
    assert_no_token(fake, logs)


async def test_webhook_mode_checks_the_secret_token(fake: FakeTelegram, launch: Launch) -> None:
    port = free_port()
    await launch(
        {
            "telegram_webhook_url": f"http://127.0.0.1:{port}/telegram/hook",
            "telegram_webhook_port": port,
            "telegram_webhook_secret": SecretStr("s3cret-token"),
        }
    )
    assert fake.webhook is not None
    assert fake.webhook.url == f"http://127.0.0.1:{port}/telegram/hook"
    assert fake.webhook.secret_token == "s3cret-token"
    assert set(fake.webhook.allowed_updates or ()) >= {"message", "callback_query", "inline_query"}

    update = fake.send_text(ALICE, "/section papers")
    assert await fake.deliver_via_webhook(update) == 200
    [reply] = await fake.wait_for_messages(ALICE, 1)
    assert "Thinking Like Transformers" in reply.text

    forged = fake.send_text(ALICE, "/weekly on")
    assert await fake.deliver_via_webhook(forged, secret_token="guessed") == 403
    assert fake.calls_to("getUpdates") == []  # webhook mode never polls
    assert len(fake.messages_in(ALICE)) == 1


async def test_webhook_mode_without_a_configured_secret_makes_one_up(
    fake: FakeTelegram, launch: Launch
) -> None:
    port = free_port()
    await launch(
        {"telegram_webhook_url": f"http://127.0.0.1:{port}/", "telegram_webhook_port": port}
    )

    assert fake.webhook is not None and len(fake.webhook.secret_token or "") >= 32
    assert await fake.deliver_via_webhook(fake.send_text(ALICE, "/start")) == 200
    await fake.wait_for_messages(ALICE, 1)


# ----------------------------------------------------------------------------- send()


async def test_send_delivers_and_translates_every_failure(
    fake: FakeTelegram, launch: Launch, logs: LogWatch
) -> None:
    adapter = await launch(flood_retries=0, network_retries=0)
    store = app_of(adapter).store
    await store.subscribe("telegram", str(ALICE), [Subscription(SubscriptionKind.TOPIC, "jax")])
    # Two messages; the failures go to other chats: each private chat takes about one a second.
    post = Reply(
        title="Issue #207", blocks=tuple(Entry(f"Story {n}", "x " * 400) for n in range(6))
    )

    ids = await adapter.send(Target.user("telegram", str(ALICE)), post)

    assert len(ids) == len(render_html(post)) > 1
    assert ids == [str(m.message_id) for m in fake.messages_in(ALICE)]

    fake.fail_next("sendMessage", error_code=429, retry_after=1)  # the next send waits it out
    with pytest.raises(RateLimited) as limited:
        await adapter.send(Target("telegram", str(BOB)), Reply.text("x"))
    assert limited.value.retry_after == 1

    fake.fail_next("sendMessage", error_code=502)
    with pytest.raises(TransientError, match="Bad Gateway"):
        await adapter.send(Target("telegram", str(CAROL)), Reply.text("x"))

    fake.fail_next("sendMessage", error_code=400, description="Bad Request: can't parse entities")
    with pytest.raises(PermanentError, match=r"(?i)can't parse entities"):
        await adapter.send(Target("telegram", str(BOB)), Reply.text("x"))

    with pytest.raises(TargetGone) as thread_gone:
        await adapter.send(Target("telegram", str(FORUM), "99"), Reply.text("x"))
    assert thread_gone.value.thread_only

    with pytest.raises(TargetGone, match=r"(?i)chat not found"):
        await adapter.send(Target("telegram", "-100999"), Reply.text("x"))

    fake.migrate_group(BASIC, MIGRATED, emit_updates=False)
    with pytest.raises(ChatMoved) as moved:
        await adapter.send(Target("telegram", str(BASIC)), Reply.text("x"))
    assert moved.value.new_chat_id == str(MIGRATED)

    fake.block_user(ALICE, emit_update=False)
    with pytest.raises(TargetGone, match=r"(?i)blocked by the user") as gone:
        await adapter.send(Target.user("telegram", str(ALICE)), Reply.text("x"))
    assert not gone.value.thread_only

    # send() reports; deciding what that means for the store is the dispatcher's job.
    assert list(await store.subscribers_with_subscriptions()) == [("telegram", str(ALICE))]
    assert_no_token(fake, logs)


async def test_send_before_start_is_a_transient_error(
    tg_settings: Settings, telegram_settings: TelegramSettings
) -> None:
    app = await App.create(tg_settings)
    try:
        adapter = TelegramAdapter(app.adapter_services, telegram_settings)
        with pytest.raises(TransientError, match="not running"):
            await adapter.send(Target("telegram", str(ALICE)), Reply.text("x"))
    finally:
        await app.close()


async def test_latest_shows_the_intro_collapsed_in_an_expandable_blockquote(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    """The intro's substance, as Telegram stored it: an expandable blockquote, no greeting."""
    first, _ = await ask(fake, ALICE, "/latest", count=2)
    [intro] = first.entity_texts("expandable_blockquote")
    assert intro.startswith("This week in deep learning, we bring you DeepMind’s latest")
    assert "\n\nYou may also enjoy Insilico Medicine’s" in intro
    for chatter in ("Hey folks", "As always", "Until next week"):
        assert chatter not in first.text
    assert first.text.index(intro) < first.text.index("Industry")  # before the first section


# ----------------------------------------------------------------------------- follow in one tap


WEB_ISSUE = "https://dlw.example/issues/207"


@pytest.fixture
def web_issue(content_dir: Path) -> None:
    """A newest issue published on the web, about PyTorch above all."""
    issue = {
        "number": 207,
        "title": "Deep Learning Weekly: Issue #207",
        "source_url": WEB_ISSUE,
        "intro": "This week: PyTorch everywhere.",
        "sections": [
            {
                "name": "Libraries & Code",
                "items": [
                    {
                        "title": f"PyTorch trick {n}",
                        "url": f"https://example.com/pytorch-{n}",
                        "summary": f"A PyTorch library for speed, part {n}.",
                    }
                    for n in (1, 2, 3)
                ]
                + [
                    {
                        "title": "JAX for physics",
                        "url": "https://example.com/jax",
                        "summary": "A JAX library.",
                    }
                ],
            }
        ],
    }
    (content_dir / "issues" / "0207.yaml").write_text(yaml.safe_dump(issue, allow_unicode=True))


def deep_links(message: SentMessage) -> dict[str, str]:
    """The message's URL buttons, label → link."""
    return {b["text"]: b["url"] for b in message.buttons if "url" in b}


@pytest.mark.usefixtures("web_issue")
async def test_latest_in_a_group_offers_follow_buttons_as_deep_links_and_the_issue_card(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    messages = await ask(fake, FORUM, f"/latest@{BOT}", user=CAROL, thread=7)

    [message] = messages
    assert message.callback_data == []  # nothing that would answer in the group
    assert deep_links(message) == {
        "Follow topics": f"https://t.me/{BOT}?start=follow",
        "Follow PyTorch": f"https://t.me/{BOT}?start=follow-pytorch",
        "Follow JAX": f"https://t.me/{BOT}?start=follow-jax",
    }
    # The issue's own page, as a large card above the text: the post reads as that issue.
    assert message.link_preview_options == {
        "url": WEB_ISSUE,
        "prefer_large_media": True,
        "show_above_text": True,
    }


async def test_an_issue_without_links_shows_no_card(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    messages = await ask(fake, ALICE, "/latest", count=2)  # issue #206 lost its links

    check_valid(messages)


@pytest.mark.usefixtures("web_issue")
async def test_latest_in_a_private_chat_follows_in_place(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    [latest] = await ask(fake, ALICE, "/latest")
    assert deep_links(latest) == {}  # already the reader's own chat: the buttons run here
    assert latest.callback_data == [
        "run:1:/topics",
        "run:1:/subscribe pytorch",
        "run:1:/subscribe jax",
    ]

    fake.press_button(latest, "run:1:/subscribe jax")
    [_, answer] = await fake.wait_for_messages(ALICE, 2)

    assert answer.text.startswith("Following the topic JAX (jax)")
    subs = await app_of(adapter).store.subscriptions("telegram", str(ALICE))
    assert subs == [Subscription(SubscriptionKind.TOPIC, "jax")]


async def test_a_start_link_asks_to_confirm_then_follows_once(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    store = app_of(adapter).store
    newcomer = 501  # never talked to the bot: the link opens the chat
    fake.add_user(newcomer, "Dana")

    fake.open_link(newcomer, f"https://t.me/{BOT}?start=follow-pytorch")
    [confirm] = await fake.wait_for_messages(newcomer, 1)

    assert confirm.text.startswith("Follow PyTorch?\n\nWhen a new issue has stories on PyTorch")
    assert await store.subscriptions("telegram", str(newcomer)) == []  # not before the tap
    assert confirm.button_labels == ["Follow PyTorch"]
    [data] = confirm.callback_data
    fake.press_button(confirm, data)
    [_, done] = await fake.wait_for_messages(newcomer, 2)
    assert done.text.startswith("Following the topic PyTorch (pytorch)")

    fake.press_button(confirm, data)  # a second tap changes nothing, and says so
    [*_, again] = await fake.wait_for_messages(newcomer, 3)
    assert again.text == "You already follow PyTorch (pytorch)."
    pytorch = Subscription(SubscriptionKind.TOPIC, "pytorch")
    assert await store.subscriptions("telegram", str(newcomer)) == [pytorch]

    fake.open_link(newcomer, f"https://t.me/{BOT}?start=follow-pytorch")
    [*_, known] = await fake.wait_for_messages(newcomer, 4)
    assert known.text.startswith("You already follow PyTorch.") and known.buttons == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start follow-no-such-topic", "names the topic “no-such-topic”, which the bot doesn't"),
        ("/start " + "f" * 65, "That start link is 65 characters long"),
        ("/start follow-py!torch", "That start link is damaged"),
        ("/start hello", "That start link isn't one of the bot's"),
        ("/start follow-", "That start link isn't one of the bot's"),
    ],
)
async def test_a_bad_start_link_gets_a_clear_answer(
    fake: FakeTelegram, adapter: TelegramAdapter, text: str, expected: str
) -> None:
    [answer] = await ask(fake, ALICE, text)

    assert expected in answer.text
    assert "/topics" in answer.text
    assert await app_of(adapter).store.subscriptions("telegram", str(ALICE)) == []


async def test_start_links_for_the_topic_list_and_a_link_telegram_would_not_pass(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.open_link(ALICE, f"https://t.me/{BOT}?start=follow")
    [topics] = await fake.wait_for_messages(ALICE, 1)
    assert topics.text.startswith("22 topics") and "/subscribe pytorch" in topics.text

    fake.open_link(ALICE, f"https://t.me/{BOT}?start=manage")
    [_, mine] = await fake.wait_for_messages(ALICE, 2)
    assert mine.text.startswith("You don't follow any topics yet")

    # A client drops a start parameter it would not accept: the reader gets the welcome.
    fake.open_link(ALICE, f"https://t.me/{BOT}?start=no%20spaces")
    [*_, welcome] = await fake.wait_for_messages(ALICE, 3)
    assert welcome.text.startswith("Welcome to Deep Learning Weekly")


async def test_weekly_chooses_the_post_card_per_chat_and_forgets_it_when_off(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    app = app_of(adapter)
    channel = Target("telegram", str(CHANNEL))
    issue = app.archive.archive.issue(150)  # no web page: its top story is the card
    assert issue is not None
    post = channel_reply(issue)
    assert post.preview is not None and post.preview.url == HOSTILE_URL

    [status] = await ask(fake, CHANNEL, "/weekly")
    assert status.text.startswith("This chat doesn't get the weekly post.")
    [on] = await ask(fake, CHANNEL, "/weekly on nopreview")
    assert "without a link card" in on.text
    [status] = await ask(fake, CHANNEL, "/weekly")
    assert status.text.startswith("This chat gets the weekly post, without a link card")

    ids = await adapter.send(channel, post)
    sent = [m for m in fake.messages_in(CHANNEL) if str(m.message_id) in ids]
    assert [m.link_preview_options for m in sent] == [{"is_disabled": True}] * len(sent)

    [changed] = await ask(fake, CHANNEL, "/weekly on preview")
    assert changed.text.startswith("Done: this chat keeps the weekly post, now with a link card")
    ids = await adapter.send(channel, post)
    first = next(m for m in fake.messages_in(CHANNEL) if str(m.message_id) == ids[0])
    # One story among many: a small card below the text, not the post's cover.
    assert first.link_preview_options == {"url": HOSTILE_URL, "prefer_small_media": True}

    await ask(fake, CHANNEL, "/weekly on nopreview")
    await app.store.set_channel_active(channel, False, "the bot lost its rights")  # paused
    [back] = await ask(fake, CHANNEL, "/weekly on")
    assert "without a link card" in back.text  # on again: the chat's choice kept
    await ask(fake, CHANNEL, "/weekly off")
    [again] = await ask(fake, CHANNEL, "/weekly on")  # a new registration: the default again
    assert "with a link card of the issue's web page" in again.text

    [wrong] = await ask(fake, CHANNEL, "/weekly off preview")
    assert "goes with /weekly on" in wrong.text


async def test_a_private_action_no_start_link_can_carry_is_left_out(
    fake: FakeTelegram, adapter: TelegramAdapter, logs: LogWatch
) -> None:
    reply = Reply(
        blocks=(Paragraph("Buttons"),),
        actions=(
            Action("Search", command="/search jax", private=True),
            Action("Open", url="https://example.com/page"),
            Action("Topics", command="/topics", private=True),
        ),
    )
    [message_id] = await adapter.send(Target("telegram", str(CHANNEL)), reply)

    [message] = [m for m in fake.messages_in(CHANNEL) if str(m.message_id) == message_id]
    assert deep_links(message) == {
        "Open": "https://example.com/page",
        "Topics": f"https://t.me/{BOT}?start=follow",
    }
    assert "no start link can carry '/search jax'" in logs.text


def test_only_a_request_that_never_left_is_repeated_inside_a_send() -> None:
    """A connection reset or a truncated answer may follow a message Telegram accepted:
    repeating it at once would post twice. Only a connection never made is safe (the
    dispatcher still retries the row later, after its backoff)."""
    import aiohttp
    from telegram.error import NetworkError

    from adapters.telegram._errors import _safe_to_retry

    def wrapped(cause: BaseException) -> NetworkError:
        error = NetworkError(f"aiohttp.{cause.__class__.__name__}")
        error.__cause__ = cause
        return error

    key = type("Key", (), {"ssl": None, "host": "127.0.0.1", "port": 1})()
    never_connected = aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))
    assert _safe_to_retry(wrapped(never_connected))
    assert not _safe_to_retry(wrapped(aiohttp.ServerDisconnectedError()))
    assert not _safe_to_retry(wrapped(aiohttp.ClientPayloadError("truncated answer")))
    assert not _safe_to_retry(wrapped(aiohttp.ClientOSError(104, "Connection reset by peer")))
    assert _safe_to_retry(NetworkError("Bad Gateway"))  # a 5xx answer: nothing was sent
