"""One reader cannot starve the rest (issue 11, item 6): a command budget per reader, fair
sending between readers, bounded "More" rows, a bounded shutdown; and forged page numbers.

Through the real adapter and python-telegram-bot against the fake Bot API on 127.0.0.1; every
assertion is about what the fake recorded (counts, order), never about wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.discord._more import MORE as DISCORD_MORE
from adapters.telegram import TelegramAdapter, TelegramSettings
from adapters.telegram._send import MORE as TELEGRAM_MORE
from bot.app import App
from bot.commands import SLOW_DOWN, ChatKind, Throttle, Verdict, build_registry
from bot.config import Settings
from bot.model import DeliveryStatus, Subscription, SubscriptionKind, Target
from bot.pacing import FairPacer, Lane, PacerClosed
from bot.paging import PayloadFormat
from bot.reply import Tone
from tests.conftest import sqlite
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

FLOOD, CALM = 42, 43
PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
BOT = "dlw_test_bot"

Launch = Callable[..., Awaitable[tuple[App, TelegramAdapter]]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username=BOT) as telegram:
        telegram.add_private_chat(FLOOD, "Flood")
        telegram.add_private_chat(CALM, "Calm")
        yield telegram


@pytest.fixture
async def launch(settings: Settings, fake: FakeTelegram) -> AsyncIterator[Launch]:
    """An App with ``core`` settings changed and a Telegram adapter on the fake; both stopped
    after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            core: dict[str, Any] | None = None,
            own: dict[str, Any] | None = None,
            **options: Any,
        ) -> tuple[App, TelegramAdapter]:
            app = await App.create(settings.model_copy(update=core or {}))
            stack.push_async_callback(app.close)
            telegram = TelegramSettings(
                token=SecretStr(fake.token), api_url=fake.base_url, **(own or {})
            )
            defaults: dict[str, Any] = {"timeout": 3.0, "poll_timeout": 5.0, "backoff": 0.01}
            adapter = TelegramAdapter(app.adapter_services, telegram, **(defaults | options))
            await adapter.start()
            stack.push_async_callback(adapter.stop)
            return app, adapter

        yield start


# ----------------------------------------------------------------------------- command budget


def test_the_budget_is_a_burst_then_a_rate_with_one_notice() -> None:
    now = [0.0]
    throttle = Throttle(burst=3, rate=1.0, clock=lambda: now[0])
    verdicts = [throttle.admit("telegram", "1") for _ in range(6)]
    assert verdicts == [Verdict.RUN] * 3 + [Verdict.NOTIFY, Verdict.DROP, Verdict.DROP]
    assert throttle.admit("telegram", "2") is Verdict.RUN  # another reader is unaffected
    now[0] = 1.0
    assert throttle.admit("telegram", "1") is Verdict.RUN  # one more a second
    assert throttle.admit("telegram", "1") is Verdict.DROP  # still flooding: still silent
    now[0] = 10.0  # quiet long enough to fill up again: a later flood is told again
    verdicts = [throttle.admit("telegram", "1") for _ in range(5)]
    assert verdicts == [Verdict.RUN] * 3 + [Verdict.NOTIFY, Verdict.DROP]


async def test_over_budget_readers_get_one_notice_then_silence_and_operators_no_limit(
    app: App,
) -> None:
    registry = build_registry(Throttle(burst=2, rate=0.001))
    services = app.adapter_services
    reader = services.context("telegram", "1", "1")
    replies = [await registry.dispatch_text(reader, "/start") for _ in range(5)]
    assert [r is not None for r in replies] == [True, True, True, False, False]
    notice = replies[2]
    assert notice is not None and notice.tone is Tone.ERROR
    assert notice.plain_text().startswith(SLOW_DOWN)
    assert await registry.continue_(reader, "/search learning", 2) is None
    assert await registry.invoke(reader, "start", {}) is None
    # Group chatter is not a command for us and costs nothing; operators are never throttled.
    member = services.context("telegram", "2", "-5", ChatKind.GROUP)
    assert [await registry.dispatch_text(member, "hello everyone") for _ in range(5)] == [None] * 5
    assert await registry.dispatch_text(member, "/start") is not None
    operator = services.context("telegram", "3", "3", operator=True)
    assert all([await registry.dispatch_text(operator, "/start") for _ in range(5)])


async def test_a_flooding_reader_gets_one_notice_and_does_not_delay_another(
    fake: FakeTelegram, launch: Launch
) -> None:
    # One update at a time, so the calm reader's reply proves every flood update was handled.
    await launch({"command_burst": 3, "command_rate": 0.001}, concurrency=1)
    for _ in range(40):
        fake.send_text(FLOOD, "/search learning")
    fake.send_text(CALM, "/start")

    [welcome] = await fake.wait_for_messages(CALM, 1)

    flood = fake.messages_in(FLOOD)
    assert len(flood) == 4  # the burst's three answers and one notice, nothing per dropped one
    assert [m.text for m in flood].count(SLOW_DOWN) == 1 and flood[-1].text == SLOW_DOWN
    assert "Deep Learning Weekly" in welcome.text


# ----------------------------------------------------------------------------- fair sending


def senders(fake: FakeTelegram) -> list[int]:
    """The chats of the bot's accepted messages, in the order the fake accepted them."""
    return [int(c.params["chat_id"]) for c in fake.calls_to("sendMessage") if c.ok]


async def test_one_readers_backlog_does_not_delay_another_readers_reply(
    fake: FakeTelegram, launch: Launch
) -> None:
    # No command budget here: the point is what the sending order does with a backlog.
    await launch({"command_rate": 0}, {"max_rate": 40})
    backlog = 40
    for _ in range(backlog):
        fake.send_text(FLOOD, "/search learning")
    await fake.wait_for(lambda: FLOOD in senders(fake), what="the flood's first reply")
    fake.send_text(CALM, "/start")

    await fake.wait_for_messages(CALM, 1)
    order = senders(fake)
    await fake.wait_for_messages(FLOOD, backlog)

    # First come, first served, the calm reader would wait for the whole backlog; with turns
    # round-robin they wait for at most one message of the flood (plus those already granted).
    flood_before = order.index(CALM)
    assert flood_before < backlog // 2, order
    assert len(fake.messages_in(FLOOD)) == backlog  # the flood is answered in full, just later


async def test_replies_go_ahead_of_a_weekly_fan_out(fake: FakeTelegram, settings: Settings) -> None:
    readers = range(1000, 1020)
    for reader in readers:
        fake.add_private_chat(reader, f"Reader {reader}")
    core = settings.model_copy(update={"publish_schedule": "off", "instance": "test-1"})
    # A slow pace, so the dispatcher's sends under way (up to 8) queue for their turns.
    telegram = TelegramSettings(token=SecretStr(fake.token), api_url=fake.base_url, max_rate=10)
    async with App.create(core) as app:
        for reader in readers:
            await app.store.subscribe("telegram", str(reader), [PYTORCH])
        await app.publisher.publish(206)
        adapter = TelegramAdapter(app.adapter_services, telegram, timeout=3.0, poll_timeout=5.0)
        async with app.running([adapter]):
            await fake.wait_for(lambda: len(senders(fake)) >= 2, what="the fan-out under way")
            before = len(senders(fake))
            fake.send_text(CALM, "/start")
            await fake.wait_for_messages(CALM, 1)
            order = senders(fake)
            await fake.wait_for(lambda: all(fake.messages_in(r) for r in readers), timeout=15)
    # First come, first served the reply would wait for every digest already queued; ahead of
    # bulk it waits at most for the turn being handed out as it arrived.
    assert order.index(CALM) - before <= 2, (before, order)


def test_turns_go_to_replies_first_then_round_robin_between_chats() -> None:
    async def scenario() -> list[str]:
        pacer = FairPacer(1000.0)
        granted: list[str] = []

        async def send(lane: Lane, key: str, label: str) -> None:
            await pacer.turn(lane, key)
            granted.append(label)

        sends = [send(Lane.BULK, f"chat{n}", f"bulk{n}") for n in range(3)]
        sends += [send(Lane.INTERACTIVE, "flood", f"flood{n}") for n in range(4)]
        sends += [send(Lane.INTERACTIVE, "calm", "calm")]
        await asyncio.gather(*sends)
        pacer.close()
        with pytest.raises(PacerClosed):
            await pacer.turn(Lane.INTERACTIVE, "late")
        return granted

    granted = asyncio.run(scenario())
    assert granted[:3] == ["flood0", "calm", "flood1"]  # calm's turn came after one flood reply
    assert granted[3:5] == ["flood2", "flood3"]
    assert granted[5:] == ["bulk0", "bulk1", "bulk2"]  # bulk only once no reply waits


# ----------------------------------------------------------------------------- "More" rows


async def test_saved_more_buttons_stay_bounded_per_reader(
    fake: FakeTelegram, launch: Launch
) -> None:
    app, _ = await launch({"command_rate": 0, "continuations_per_user": 5})
    queries = [
        f"reinforcement learning agents trained on hard benchmarks number {n}" for n in range(12)
    ]
    for query in queries:
        fake.send_text(FLOOD, f"/search {query}")
    await fake.wait_for_messages(FLOOD, len(queries))
    fake.send_text(CALM, f"/search {queries[0]}")
    [calm] = await fake.wait_for_messages(CALM, 1)

    async with sqlite(app.store).reading() as db:
        [(rows,)] = await (await db.execute("SELECT count(*) FROM continuations")).fetchall()
    assert rows == 5 + 1  # the flood's newest five, and the other reader's one untouched

    messages = fake.messages_in(FLOOD)
    by_query = {m.text.splitlines()[0]: m for m in messages}
    oldest, newest = by_query[f"Search: {queries[0]}"], max(messages, key=lambda m: m.message_id)
    fake.press_button(oldest, oldest.callback_data[0])
    [answer] = await fake.wait_for(lambda: fake.callback_answers)
    assert answer.text == "That button has expired; run the command again."
    fake.press_button(newest, newest.callback_data[0])
    await fake.wait_for_messages(FLOOD, len(queries) + 1)
    assert fake.messages_in(FLOOD)[-1].text.startswith("Search: ")
    fake.press_button(calm, calm.callback_data[0])
    await fake.wait_for_messages(CALM, 2)


# ----------------------------------------------------------------------------- forged pages


@pytest.mark.parametrize("page", [0, 10_001, 999_999_999, 2**63, 2**63 + 7, 10**30])
@pytest.mark.parametrize("form", [TELEGRAM_MORE, DISCORD_MORE], ids=["telegram", "discord"])
async def test_an_absurd_page_in_a_button_gets_a_clear_reply(
    app: App, form: PayloadFormat, page: int
) -> None:
    """Where both platforms' "More" handlers meet: a forged payload decoded, then continued
    (a client can send any callback data; 2**63 used to end in a traceback)."""
    services = app.adapter_services
    found = await services.paging.decode(f"{form.inline}{page}:/search learning", form)
    assert found == ("/search learning", page)
    reply = await services.registry.continue_(services.context("telegram", "1", "1"), *found)
    assert reply is not None and reply.tone is Tone.ERROR
    assert reply.plain_text() == "That page is out of range; run the command again."


# ----------------------------------------------------------------------------- shutdown


async def test_shutdown_with_a_backlog_in_many_topics_is_bounded_and_loses_no_delivery(
    fake: FakeTelegram, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """63 forum topics registered for the weekly post made SIGTERM take 178 s: their posts
    waited in the group's 20-a-minute limit, and so did the shutdown."""
    forum, topics, new_topics = -100200300, range(100, 140), range(200, 263)
    fake.add_group(
        forum, "Forum", admins=[CALM], creator=CALM, forum=True, topics=[*topics, *new_topics]
    )
    core = settings.model_copy(
        update={
            "publish_schedule": "off",
            "instance": "test-1",
            "shutdown_timeout": 1.0,
            "command_rate": 0,
        }
    )
    telegram = TelegramSettings(token=SecretStr(fake.token), api_url=fake.base_url, max_rate=20)
    caplog.set_level(logging.INFO)
    async with App.create(core) as app:
        for topic in topics:
            target = Target("telegram", str(forum), str(topic))
            await app.store.register_channel(target, title="Forum", registered_by=str(CALM))
        assert (await app.publisher.publish(206)).message.startswith("Publishing issue #206")
        adapter = TelegramAdapter(app.adapter_services, telegram, timeout=3.0, poll_timeout=5.0)
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(app.running([adapter]))
        # 63 mistyped /weekly in 63 topics: 63 quick replies in one group (a usage error is
        # answered at once; a valid /weekly would first ask Telegram about admin rights)
        for topic in new_topics:
            fake.send_text(forum, "/weekly sideways", CALM, topic)
        await fake.wait_for(lambda: len(fake.messages_in(forum)) >= 20, what="the group limit")
        for _ in range(60):  # and a backlog of replies waiting for their turn
            fake.send_text(FLOOD, "/search learning")
        await fake.wait_for(lambda: FLOOD in senders(fake), what="the first reply")

        # The failure bound of this test: a few times the configured timeout, never minutes.
        await asyncio.wait_for(stack.aclose(), timeout=core.shutdown_timeout * 4)

        counts = (await app.store.outbox_counts())["telegram"]
        resumed = await app.store.release_claims("telegram", worker="test-1")
        after = (await app.store.outbox_counts())["telegram"]
    # Every row is sent or waits for the next start (nothing failed, nothing lost) ...
    assert sum(counts.values()) == len(topics)  # (the new topics registered after publishing)
    assert set(after) <= {DeliveryStatus.SENT, DeliveryStatus.PENDING}, (counts, resumed)
    assert after.get(DeliveryStatus.PENDING, 0) > 0  # the backlog really was there
    # ... and the replies still queued were dropped with a line in the log.
    assert "queued messages not sent" in caplog.text
    assert len(fake.messages_in(FLOOD)) < 60
    assert len(fake.messages_in(forum)) < len(topics) + len(new_topics)  # not all waited for


# ----------------------------------------------------------------------------- Discord


async def test_a_flooding_discord_user_gets_one_notice_then_no_answers(
    discord_urls: None, settings: Settings
) -> None:
    """The budget lives in the core, so Discord's slash commands share it: over it, the
    interaction is left unanswered (Discord tells only that user it got no answer)."""
    from tests.fakes.discord import FakeDiscord
    from tests.fakes.discord_reading import text_of
    from tests.test_discord_bot import ALICE_ID, BOB_ID, GENERAL_ID, GUILD_ID, serving

    async with FakeDiscord() as fake:
        fake.add_user(ALICE_ID, "alice")
        fake.add_user(BOB_ID, "bob")
        fake.add_guild(
            GUILD_ID, "DLW", channels=[(GENERAL_ID, "general")], members=[ALICE_ID, BOB_ID]
        )
        core = settings.model_copy(update={"command_burst": 2, "command_rate": 0.001})
        async with App.create(core) as app, serving(app, fake):
            answers = []
            for _ in range(3):
                record = await fake.invoke_slash("start", user_id=ALICE_ID)
                answers.append(await fake.wait_for_response(record))
            dropped = [await fake.invoke_slash("start", user_id=ALICE_ID) for _ in range(5)]
            other = await fake.wait_for_response(await fake.invoke_slash("start", user_id=BOB_ID))

            texts = [text_of(a.original) if a.original else "" for a in answers]
            assert SLOW_DOWN not in texts[0] and SLOW_DOWN not in texts[1]
            assert SLOW_DOWN in texts[2]
            assert all(not record.events for record in dropped)
            assert other.original is not None
