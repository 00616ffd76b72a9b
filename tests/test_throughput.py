"""Throughput of one process and the pace of several: batched claims and settles, the token
bucket shared through the store, the per-process window, paid broadcasts on Telegram."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from adapters.telegram import TelegramAdapter, TelegramSettings
from bot import pacing
from bot.app import App
from bot.config import Settings
from bot.delivery import Limits, PermanentError, RateLimited, TargetGone
from bot.model import Subscription, SubscriptionKind, Target
from bot.pacing import FairPacer, Lane, LocalBucket, SharedBucket, window_limit, window_pace
from bot.publishing import Dispatcher
from bot.reply import Reply
from bot.store import SQLiteStore
from tests.conftest import sqlite
from tests.fakes.telegram import FakeTelegram
from tests.helpers import wait_for

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")


@dataclass
class BusyPlatform:
    """Answers every send after a scheduler turn, so many are under way at once; fails the
    chats ``script`` names, once each."""

    platform: str = "tg"
    limits: Limits = field(default_factory=lambda: Limits(messages_per_second=0))
    script: dict[str, Exception] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        await asyncio.sleep(0)
        error = self.script.pop(target.chat_id, None)
        if error is not None:
            raise error
        self.sent.append(target.chat_id)
        return [f"m{len(self.sent)}"]


async def outbox(app: App) -> dict[str, tuple[str, int]]:
    async with sqlite(app.store).reading() as db:
        rows = await (
            await db.execute("SELECT target, status, attempts FROM outbox WHERE kind = 'digest'")
        ).fetchall()
    return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}


async def test_a_fan_out_takes_far_fewer_store_round_trips_than_messages(app: App) -> None:
    readers = [f"r{n}" for n in range(240)]
    for reader in readers:
        await app.store.subscribe("tg", reader, [PYTORCH])
    platform = BusyPlatform(
        script={
            "r10": TargetGone("bot was blocked"),
            "r20": PermanentError("Bad Request: message is too long"),
            "r30": RateLimited(0.05),
        }
    )
    dispatcher = Dispatcher(
        platform,
        app.store,
        app.publisher,
        worker="w1",
        concurrency=32,
        idle_poll=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    app.publisher.on_publish = dispatcher.wake
    try:
        await app.publisher.publish(206)
        await wait_for(lambda: len(platform.sent) == len(readers) - 2, "every digest that can go")

        async def settled() -> bool:
            return all(status != "claimed" for status, _ in (await outbox(app)).values())

        await wait_for(settled, "every outcome recorded")
    finally:
        stop.set()
        await task

    rows = await outbox(app)
    assert rows.pop("r10") == ("gone", 1)
    assert rows.pop("r20") == ("failed", 1)
    assert rows.pop("r30") == ("sent", 1)  # the rate limit was waited out, not an attempt
    assert set(rows.values()) == {("sent", 1)}
    assert sorted(platform.sent) == sorted(r for r in readers if r not in ("r10", "r20"))
    assert await app.store.subscriptions("tg", "r10") == [PYTORCH]  # kept, but inactive:
    assert ("tg", "r10") not in await app.store.subscribers_with_subscriptions("tg")
    # Claims and settles together: a small fraction of a round trip per message (row by row
    # it was two, plus the heartbeat and the polls).
    assert dispatcher.settled == len(readers) + 1  # r30's rate limit, then its delivery
    assert dispatcher.store_calls <= len(readers) / 4, dispatcher.store_calls


@pytest.mark.parametrize("cap", [2, 3, 5, 30, 100, 300, 1000, 1234.5])
def test_the_bucket_never_grants_more_than_the_cap_in_a_second(cap: float) -> None:
    rate, burst = window_pace(cap)
    assert rate > 0 and burst >= 1
    assert rate + burst <= cap  # a full bucket and a second of refill: still within the cap
    if cap >= 100:
        assert rate >= 0.97 * cap  # and close to it
    assert window_limit(cap) == max(1, int(cap))


@pytest.mark.parametrize("cap", [30, 100, 300, 1000])
def test_several_processes_on_one_budget_pace_further_below_the_cap(cap: float) -> None:
    alone, burst = window_pace(cap)
    shared, shared_burst = window_pace(cap, sharers=2)
    assert shared <= alone and shared_burst == burst
    assert shared + shared_burst <= cap
    assert window_pace(cap, sharers=4) == (shared, shared_burst)
    if cap >= 100:  # (under that, the burst's two tokens already leave more room)
        assert 0.95 * cap <= shared < alone


async def test_a_shared_bucket_with_a_census_sizes_itself_for_its_sharers(
    tmp_path: Path,
) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    counted: list[int] = []

    async def census() -> int:
        counted.append(2)
        return 2

    rate, burst = window_pace(300)
    bucket = SharedBucket(store, "telegram:1", rate, burst, cap=300, census=census)
    try:
        await bucket.take(5)
        await bucket.take(5)
    finally:
        await store.close()
    assert (bucket.rate, bucket.burst) == window_pace(300, sharers=2)
    assert counted == [2]  # asked once, not at every take


def busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best = start = 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_processes_sharing_the_store_share_one_cap(tmp_path: Path) -> None:
    # Two stores on one file are two processes' connections; each pacer serves its own
    # senders as fast as the shared bucket lets it.
    cap = 40
    rate, burst = window_pace(cap)
    database = tmp_path / "shared.sqlite3"
    first = await SQLiteStore.open(database)
    second = await SQLiteStore.open(database)
    stamps: list[float] = []
    loop = asyncio.get_running_loop()
    try:
        pacers = [
            FairPacer(source=SharedBucket(store, "telegram:1", rate, burst))
            for store in (first, second)
        ]
        until = loop.time() + 1.6

        async def sender(pacer: FairPacer, key: str) -> None:
            while loop.time() < until:
                await pacer.turn(Lane.BULK, key)
                stamps.append(loop.time())

        await asyncio.gather(*(sender(pacer, f"chat{n}") for pacer in pacers for n in range(4)))
        for pacer in pacers:
            pacer.close()
    finally:
        await first.close()
        await second.close()
    assert busiest_second(stamps) <= cap
    assert len(stamps) >= rate  # both together ran at the shared pace, not each at half


@dataclass
class RecordingBudget:
    """The store's bucket, recording each take (how many turns had gone out, when, how many
    tokens were asked for, how deep the bucket may be booked); with ``hold``, a database that
    answers every take after the first only once the test sets ``answer`` (a busy database)."""

    store: SQLiteStore
    turns: list[float] = field(default_factory=list)
    hold: bool = False
    asked_after: list[int] = field(default_factory=list)  # turns handed out at each take
    asked_at: list[float] = field(default_factory=list)  # loop time of each take
    wanted: list[int] = field(default_factory=list)
    depth: list[float] = field(default_factory=list)  # ``book`` of each take
    answer: asyncio.Event = field(default_factory=asyncio.Event)

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float, book: float = 0.0
    ) -> tuple[int, float]:
        self.asked_after.append(len(self.turns))
        self.asked_at.append(asyncio.get_running_loop().time())
        self.wanted.append(wanted)
        self.depth.append(book)
        if self.hold and len(self.asked_after) > 1:
            await self.answer.wait()
        return await self.store.take_tokens(bucket, wanted, rate=rate, burst=burst, book=book)


def senders_of(pacer: FairPacer, turns: list[float], count: int) -> list[asyncio.Future[None]]:
    """``count`` sends to as many chats, each noting when it got its turn."""
    loop = asyncio.get_running_loop()

    async def sender(n: int) -> None:
        await pacer.turn(Lane.BULK, f"chat{n}")
        turns.append(loop.time())

    return [asyncio.ensure_future(sender(n)) for n in range(count)]


async def test_a_shared_bucket_books_ahead_and_asks_again_before_its_tokens_run_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacing, "STALE_TOKENS", 10.0)  # a busy test machine drops none
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    turns: list[float] = []
    budget = RecordingBudget(store, turns, hold=True)
    # 100/s with a burst of 2 books 10 tokens (100 ms) ahead: the first take grants 12.
    pacer = FairPacer(source=SharedBucket(budget, "telegram:1", 100.0, 2))
    senders = senders_of(pacer, turns, 20)
    try:
        # It asks again while tokens of the first take are still in hand, and hands all of
        # them out while that second answer is slow to come.
        await wait_for(lambda: len(budget.asked_after) == 2, what="a second take")
        assert budget.wanted[0] == 12 and budget.depth[0] == 10
        assert budget.asked_after[1] < 12
        await wait_for(lambda: len(turns) == 12, what="every token of the first take used")
        assert len(budget.asked_after) == 2 and not budget.answer.is_set()
        # Booked tokens go out as they fall due (10 ms apart after the answer), never at once.
        assert turns[11] >= budget.asked_at[0] + 0.1
        budget.answer.set()
        await asyncio.gather(*senders)
        assert len(budget.asked_after) < 20  # a take per few sends, not per send
    finally:
        pacer.close()
        for task in senders:
            task.cancel()
        await store.close()


async def test_a_pacer_that_falls_behind_asks_for_less_then_more_once_it_keeps_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    turns: list[float] = []
    budget = RecordingBudget(store, turns)
    pacer = FairPacer(source=SharedBucket(budget, "telegram:1", 100.0, 2))
    senders = senders_of(pacer, turns, 100)
    try:
        await wait_for(lambda: len(turns) >= 3, what="the first turns")
        stalled_after = len(budget.wanted)
        time.sleep(0.1)  # noqa: ASYNC251 - the event loop held up (a busy process) past a due token
        await wait_for(lambda: len(budget.wanted) > stalled_after, what="a take after the stall")
        monkeypatch.setattr(pacing, "STALE_TOKENS", 10.0)  # no later hiccup counts from here
        await asyncio.gather(*senders)
    finally:
        pacer.close()
        for task in senders:
            task.cancel()
        await store.close()
    assert budget.wanted[0] == 12  # a burst of 2 and 100 ms of 100 a second
    assert set(budget.depth) == {10}  # however much it asks for, the bucket's depth is shared
    first, *later = budget.wanted[stalled_after:]
    assert first < 12  # it fell behind: the next take asked for less
    assert max(later) > first  # and the ones after for more again, as it kept up


async def test_a_process_asking_for_less_still_gets_turns_while_another_is_busy(
    tmp_path: Path,
) -> None:
    # Two processes on one budget (two stores on one file), both with sends waiting; the
    # second books less ahead (it fell behind). The bucket's depth is the same for both, so
    # the second is not locked out until the first has nothing left to send.
    database = tmp_path / "shared.sqlite3"
    stores = [await SQLiteStore.open(database), await SQLiteStore.open(database)]
    pacers = [FairPacer(source=SharedBucket(store, "telegram:1", 200.0, 2)) for store in stores]
    pacers[1]._lead = pacers[1].source.ahead / 8  # where falling behind leaves it
    turns: list[list[float]] = [[], []]
    senders = [task for n in (0, 1) for task in senders_of(pacers[n], turns[n], 100)]
    try:
        # (locked out, the second would never finish: a guard, not a measure)
        await asyncio.wait_for(asyncio.gather(*senders), timeout=30)
    finally:
        for pacer in pacers:
            pacer.close()
        for task in senders:
            task.cancel()
        for store in stores:
            await store.close()
    first_done = max(turns[0])
    assert sum(1 for at in turns[1] if at < first_done) >= 5  # not locked out meanwhile


async def test_requests_without_a_turn_wait_out_a_flood_pause() -> None:
    from adapters.telegram import RetryingRateLimiter

    loop = asyncio.get_running_loop()
    limiter = RetryingRateLimiter(overall_max_rate=30)
    sent: list[float] = []

    async def request(*_args: object, **_kwargs: object) -> bool:
        sent.append(loop.time())
        return True

    limiter.pacer.pause(0.3)  # a 429 said to wait
    paused_at = loop.time()
    # A callback answer (no turn: rate_limit_args None) goes out only once the pause is over.
    assert await limiter.process_request(request, (), {}, "answerCallbackQuery", {}, None)
    assert sent[0] - paused_at >= 0.3
    limiter.close()


async def test_the_window_counts_a_request_until_a_second_after_its_answer() -> None:
    loop = asyncio.get_running_loop()
    pacer = FairPacer(source=LocalBucket(1000.0, 10), per_second=3)
    for n in range(3):
        await pacer.turn(Lane.BULK, f"chat{n}")
    fourth = asyncio.ensure_future(pacer.turn(Lane.BULK, "chat3"))
    with pytest.raises(TimeoutError):  # three requests under way fill the window
        await asyncio.wait_for(asyncio.shield(fourth), 0.2)
    pacer.answered()
    answered_at = loop.time()
    await fourth
    assert loop.time() - answered_at >= 1.0  # the answered one counted for a second longer
    pacer.close()


# ----------------------------------------------------------------------------- Telegram

ALICE, BOB, OPERATOR = 42, 43, 77
CHANNEL = -1009876543210


def test_paid_broadcasts_lift_the_cap_and_refuse_more_than_telegram_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DLW_TELEGRAM_MAX_RATE", raising=False)
    monkeypatch.setenv("DLW_TELEGRAM_PAID_BROADCAST", "on")
    assert TelegramSettings(_env_file=None).cap == 1000
    monkeypatch.setenv("DLW_TELEGRAM_MAX_RATE", "400")
    assert TelegramSettings(_env_file=None).cap == 400
    monkeypatch.setenv("DLW_TELEGRAM_MAX_RATE", "2000")
    with pytest.raises(ValidationError, match=r"DLW_TELEGRAM_MAX_RATE=2000 is over 1000"):
        TelegramSettings(_env_file=None)
    monkeypatch.setenv("DLW_TELEGRAM_PAID_BROADCAST", "off")
    assert TelegramSettings(_env_file=None).cap == 2000  # a local Bot API server
    monkeypatch.delenv("DLW_TELEGRAM_MAX_RATE")
    assert TelegramSettings(_env_file=None).cap == 30


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as telegram:
        for user in (ALICE, BOB, OPERATOR):
            telegram.add_private_chat(user, f"User {user}")
        telegram.add_channel(CHANNEL, "DLW channel", admins=[BOB], creator=BOB)
        yield telegram


async def test_paid_broadcasts_go_out_as_such_and_replies_do_not(
    fake: FakeTelegram, settings: Settings
) -> None:
    core = settings.model_copy(
        update={"publish_schedule": "off", "instance": "t1", "admins": (f"telegram:{OPERATOR}",)}
    )
    telegram = TelegramSettings(
        _env_file=None, token=SecretStr(fake.token), api_url=fake.base_url, paid_broadcast=True
    )
    async with contextlib.AsyncExitStack() as stack:
        app = await App.create(core)
        stack.push_async_callback(app.close)
        await app.store.register_channel(
            Target("telegram", str(CHANNEL)), title="DLW channel", registered_by=str(BOB)
        )
        await app.store.subscribe("telegram", str(ALICE), [PYTORCH])
        adapter = TelegramAdapter(app.adapter_services, telegram, timeout=3.0, poll_timeout=5.0)
        assert adapter.limits.messages_per_second == 1000
        await adapter.start()
        stack.push_async_callback(adapter.stop)
        app.dispatch(adapter, idle_poll=0.05)
        stack.push_async_callback(app.stop_publishing)
        await app.publisher.publish(206)
        await fake.wait_for_messages(OPERATOR, 1, 15)  # the report: everything went out
        fake.send_text(BOB, "/start")
        await fake.wait_for_messages(BOB, 1)

    sends = fake.calls_to("sendMessage")
    paid = {call.params["chat_id"] for call in sends if call.params.get("allow_paid_broadcast")}
    assert paid == {CHANNEL, ALICE, OPERATOR}  # the outbox: posts, digests, the report
    [reply] = [call for call in sends if call.params["chat_id"] == BOB]
    assert "allow_paid_broadcast" not in reply.params  # an answer is not a broadcast
    assert {call.content_type for call in sends} == {"application/json"}


async def test_a_send_refused_by_a_flood_limit_is_tried_again_in_a_turn_of_its_own(
    fake: FakeTelegram, settings: Settings
) -> None:
    readers = (ALICE, BOB)
    fake.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=ALICE)
    # A cap of 2 a second: turns 1 s apart (a bucket of 1 token refilling at 1 a second).
    telegram = TelegramSettings(
        _env_file=None, token=SecretStr(fake.token), api_url=fake.base_url, max_rate=2
    )
    app = await App.create(settings.model_copy(update={"publish_schedule": "off"}))
    adapter = TelegramAdapter(app.adapter_services, telegram, timeout=3.0, poll_timeout=5.0)
    try:
        await adapter.start()
        await asyncio.gather(
            *(adapter.send(Target.user("telegram", str(u)), Reply.text("x")) for u in readers)
        )
    finally:
        await adapter.stop()
        await app.close()
    sends = fake.calls_to("sendMessage")
    assert [call.params["chat_id"] for call in sends if call.error_code == 429] == [ALICE]
    assert {call.params["chat_id"] for call in sends if call.ok} == set(readers)
    # The retry waited for a turn like every send: it did not go out on top of the turn the
    # next send got when the pause ended (as the client library's own retry did).
    stamps = [call.at for call in sends]
    assert min(b - a for a, b in itertools.pairwise(stamps)) >= 0.9


async def test_the_fake_flags_a_paid_broadcast_flag_telegram_would_read_as_false(
    fake: FakeTelegram,
) -> None:
    from tests.test_fake_telegram_api import post_raw

    status, _ = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "allow_paid_broadcast": "yes"}
    )
    assert status == 200  # Telegram sends it, unpaid and at the free pace
    [violation] = fake.take_violations()
    assert "allow_paid_broadcast='yes' is not a Boolean" in violation
    status, _ = await post_raw(
        fake, "sendMessage", {"chat_id": ALICE, "text": "hi", "allow_paid_broadcast": True}
    )
    assert status == 200 and fake.take_violations() == []
