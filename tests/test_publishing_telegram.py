"""Weekly publishing end to end through the real Telegram adapter (python-telegram-bot 22)
against the fake Bot API (tests/fakes/telegram/) on 127.0.0.1.

tests/test_publishing.py covers planning and every dispatcher decision with a scripted
platform; here the same paths run through PTB's HTTP client, its rate limiter and its error
mapping, and the assertions are about what Telegram's users would see (messages in chats, in the
right forum topic) and what the store remembers (outbox rows, active readers and channels).

The last two tests run the bot as users run it, ``python -m bot run`` in a subprocess: one is
killed with SIGKILL in the middle of a fan-out and restarted (nobody is lost, at most the rows in
flight at the kill are repeated), the other picks up a content file dropped in while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from adapters.telegram import TelegramAdapter, TelegramSettings
from bot.app import App
from bot.config import Settings
from bot.store import Subscription, SubscriptionKind, Target
from bot.views import channel_footer, headline_topics
from tests.conftest import REPO
from tests.fakes.telegram import FakeTelegram, SentMessage
from tests.helpers import wait_for as until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

ALICE, BOB, CAROL, OPERATOR, OWNER = 42, 43, 44, 77, 99
FORUM = -1001234567890  # a forum supergroup with topics 7 and 8
BASIC = -4001  # a basic group (can become a supergroup)
CHANNEL = -1009876543210  # the bot is an administrator, as it must be to post
MIGRATED = -1005550001
BOT = "dlw_test_bot"

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
MOBILE = Subscription(SubscriptionKind.KEYWORD, "mobile")
NOTHING = Subscription(SubscriptionKind.KEYWORD, "zebrafish")  # matches nothing in #206

ISSUE_206 = "Deep Learning Weekly: Issue #206"
DIGEST_206 = f"{ISSUE_206} — your topics"
PYTORCH_ITEMS = (
    "An Overview of the PyTorch Mobile Demo Apps",
    "FedBN Example: PyTorch - From Centralized To Federated",
    "PyTorch 1.9 Release, including torch.linalg and Mobile Interpreter",
)
MOBILE_ITEMS = (PYTORCH_ITEMS[0], PYTORCH_ITEMS[2])
PROCESS_LOG_TAIL = 6000  # characters of a subprocess's log shown when a test fails


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username=BOT) as telegram:
        for user, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol"), (OPERATOR, "Op")):
            telegram.add_private_chat(user, name)
        telegram.add_group(
            FORUM, "DLW readers", admins=[BOB], creator=OWNER, forum=True, topics=[7, 8]
        )
        telegram.add_group(BASIC, "Old group", admins=[BOB], members=[CAROL], creator=OWNER)
        telegram.add_channel(CHANNEL, "DLW channel", admins=[BOB], creator=OWNER)
        yield telegram


@pytest.fixture
def tg_settings(settings: Settings, fake: FakeTelegram) -> Settings:
    return settings.model_copy(
        update={
            "admins": (f"telegram:{OPERATOR}",),
            "publish_schedule": "off",
            "instance": "test-1",
        }
    )


@pytest.fixture
def telegram_settings(fake: FakeTelegram) -> TelegramSettings:
    """``DLW_TELEGRAM_*`` aimed at the fake."""
    return TelegramSettings(token=SecretStr(fake.token), api_url=fake.base_url)


@pytest.fixture
async def tg_app(tg_settings: Settings) -> AsyncIterator[App]:
    application = await App.create(tg_settings)
    try:
        yield application
    finally:
        await application.close()


Start = Callable[..., Awaitable[TelegramAdapter]]


@pytest.fixture
async def start(tg_app: App, telegram_settings: TelegramSettings) -> AsyncIterator[Start]:
    """Start the real adapter (options: TelegramAdapter's keywords; ``dispatcher``: the
    Dispatcher's) and the app's dispatcher for it, as ``serve`` does but with tiny delays;
    both are stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def go(dispatcher: dict[str, Any] | None = None, **options: Any) -> TelegramAdapter:
            defaults: dict[str, Any] = {"timeout": 3.0, "poll_timeout": 5.0, "backoff": 0.01}
            adapter = TelegramAdapter(
                tg_app.adapter_services, telegram_settings, **(defaults | options)
            )
            await adapter.start()
            stack.push_async_callback(adapter.stop)
            tg_app.dispatch(adapter, **({"idle_poll": 0.05, "backoff": 0.01} | (dispatcher or {})))
            stack.push_async_callback(tg_app.stop_publishing)
            return adapter

        yield go


# ----------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Row:
    """One outbox row, as the store keeps it."""

    target: str
    thread_id: str
    kind: str
    status: str
    attempts: int
    error: str | None
    message_ids: list[str] | None


def outbox(database: Path | str, issue: int, kind: str | None = None) -> list[Row]:
    """The outbox rows of ``issue`` (read with plain sqlite3: WAL readers never wait)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        found = db.execute(
            "SELECT target, thread_id, kind, status, attempts, error, message_ids FROM outbox"
            " WHERE issue_number = ? AND (? IS NULL OR kind = ?) ORDER BY id",
            (issue, kind, kind),
        ).fetchall()
    return [
        Row(r[0], r[1], r[2], r[3], int(r[4]), r[5], json.loads(r[6]) if r[6] else None)
        for r in found
    ]


def by_target(rows: list[Row]) -> dict[str, Row]:
    return {r.target + (f"/{r.thread_id}" if r.thread_id else ""): r for r in rows}


def ids_of(messages: list[SentMessage]) -> list[str]:
    return [str(m.message_id) for m in messages]


def text_of(messages: list[SentMessage]) -> str:
    return "\n".join(m.text for m in messages)


def digests(fake: FakeTelegram, chat_id: int, title: str = DIGEST_206) -> list[SentMessage]:
    return [m for m in fake.messages_in(chat_id) if m.text.startswith(title)]


def sends_to(fake: FakeTelegram, chat_id: int) -> list[int | None]:
    """The HTTP status of every sendMessage to ``chat_id``, in order."""
    return [c.http_status for c in fake.calls_to("sendMessage") if c.params["chat_id"] == chat_id]


async def report(fake: FakeTelegram, timeout: float = 15.0) -> str:  # noqa: ASYNC109
    """The operators' report: it is queued once nothing of the publication is left to send, so
    its arrival also says every row has settled (but for the report's own)."""
    [message] = await fake.wait_for_messages(OPERATOR, 1, timeout)
    return message.text


def unsettled(database: Path | str, issue: int) -> list[Row]:
    return [r for r in outbox(database, issue) if r.status in ("pending", "claimed")]


async def settled_report(fake: FakeTelegram, app: App, issue: int = 206) -> str:
    """The report, once its own row is recorded too: nothing of ``issue`` is left to send."""
    text = await report(fake)
    database = app.settings.database
    await until(lambda: not unsettled(database, issue), f"issue #{issue}'s rows to settle")
    return text


def check_whole_issue(messages: list[SentMessage], app: App, number: int = 206) -> None:
    """``messages`` are the whole issue as a channel post: every item, the footer, valid HTML."""
    issue = app.archive.archive.issue(number)
    assert issue is not None
    assert len(messages) >= 2  # 20 items do not fit in one message of 4096 units
    assert messages[0].text.startswith(f"Deep Learning Weekly: Issue #{number}\n")
    text = text_of(messages)
    for section in issue.sections:
        for item in section.items:
            assert item.title in text
    assert text.rstrip().endswith(channel_footer(issue))
    assert all(m.parse_mode == "HTML" for m in messages)


# ----------------------------------------------------------------------------- in-process


async def test_an_issue_reaches_every_channel_topic_group_and_matching_reader(
    fake: FakeTelegram, tg_app: App, start: Start
) -> None:
    store = tg_app.store
    await store.register_channel(Target("telegram", str(CHANNEL)), title="C", registered_by="43")
    await store.register_channel(Target("telegram", str(FORUM), "7"), title="F", registered_by="43")
    await store.register_channel(Target("telegram", str(BASIC)), title="B", registered_by="43")
    await store.subscribe("telegram", str(ALICE), [PYTORCH])
    await store.subscribe("telegram", str(BOB), [MOBILE])
    await store.subscribe("telegram", str(CAROL), [NOTHING])
    await start()

    result = await tg_app.publisher.publish(206)

    assert result.message == (
        "Publishing issue #206: 3 channel posts and 2 digests (telegram: 3 channels, 2 digests)."
    )
    text = await settled_report(fake, tg_app)
    # the channel, the forum topic (and only that topic) and the group get the whole issue
    check_whole_issue(fake.messages_in(CHANNEL), tg_app)
    check_whole_issue(fake.messages_in(BASIC), tg_app)
    in_topic = fake.messages_in(FORUM, 7)
    check_whole_issue(in_topic, tg_app)
    assert {m.message_thread_id for m in in_topic} == {7}
    assert fake.messages_in(FORUM) == in_topic and fake.messages_in(FORUM, 8) == []
    assert {m.message_thread_id for m in fake.messages_in(BASIC)} == {None}
    # each reader with a match gets one digest of just the matching items, saying why
    [alice] = fake.messages_in(ALICE)
    assert alice.text.startswith(f"{DIGEST_206}\n\n3 items on topics you follow:")
    assert [t for t in PYTORCH_ITEMS if t in alice.text] == list(PYTORCH_ITEMS)
    assert alice.text.count("matched topic PyTorch") == 3
    assert "Mesh Transformer JAX" not in alice.text and "TinyML" not in alice.text
    [bob] = fake.messages_in(BOB)
    assert bob.text.startswith(f"{DIGEST_206}\n\n2 items on topics you follow:")
    assert [t for t in PYTORCH_ITEMS if t in bob.text] == list(MOBILE_ITEMS)
    assert bob.text.count("matched keyword “mobile”") == 2
    assert fake.messages_in(CAROL) == []  # nothing matched: no message at all
    # the store: every row sent once, with the ids Telegram gave the messages
    rows = by_target(outbox(tg_app.settings.database, 206))
    assert {k: (r.kind, r.status, r.attempts) for k, r in rows.items()} == {
        str(CHANNEL): ("channel", "sent", 1),
        f"{FORUM}/7": ("channel", "sent", 1),
        str(BASIC): ("channel", "sent", 1),
        str(ALICE): ("digest", "sent", 1),
        str(BOB): ("digest", "sent", 1),
        str(OPERATOR): ("report", "sent", 1),
    }
    assert rows[str(CHANNEL)].message_ids == ids_of(fake.messages_in(CHANNEL))
    assert rows[f"{FORUM}/7"].message_ids == ids_of(in_topic)
    assert rows[str(ALICE)].message_ids == [str(alice.message_id)]
    # the operator's report, once
    assert text.startswith("Issue #206 delivered\n")
    assert "Sent 5 of 5 (telegram: 5 sent)." in text and "Not delivered" not in text
    publication = await store.publication(206)
    assert publication is not None and publication.done and publication.reported_at
    assert len(fake.calls_to("sendMessage")) == 2 * 3 + 2 + 1  # nothing sent twice


async def test_unreachable_destinations_go_inactive_and_are_listed_in_the_report(
    fake: FakeTelegram, tg_app: App, start: Start
) -> None:
    store = tg_app.store
    await store.register_channel(Target("telegram", str(CHANNEL)), title="C", registered_by="43")
    await store.register_channel(Target("telegram", str(FORUM), "7"), title="F", registered_by="43")
    await store.register_channel(Target("telegram", str(FORUM), "8"), title="F", registered_by="43")
    await store.subscribe("telegram", str(ALICE), [PYTORCH])
    await store.subscribe("telegram", str(BOB), [MOBILE])
    # Telegram's own notices (my_chat_member) never reached the bot: it finds out by sending
    fake.block_user(ALICE, emit_update=False)
    fake.kick_bot_from(CHANNEL, emit_update=False)
    fake.chats[FORUM].topics.discard(8)  # topic 8 was deleted: "message thread not found"
    await start()

    await tg_app.publisher.publish(206)
    text = await settled_report(fake, tg_app)

    rows = by_target(outbox(tg_app.settings.database, 206))
    assert {k: (r.status, r.error) for k, r in rows.items() if r.kind != "report"} == {
        str(CHANNEL): ("gone", "Forbidden: bot was kicked from the channel chat"),
        f"{FORUM}/7": ("sent", None),
        f"{FORUM}/8": ("gone", "Message thread not found"),
        str(ALICE): ("gone", "Forbidden: bot was blocked by the user"),
        str(BOB): ("sent", None),
    }
    # each gone destination was tried once, never again
    assert sends_to(fake, ALICE) == [403] and sends_to(fake, CHANNEL) == [403]
    check_whole_issue(fake.messages_in(FORUM, 7), tg_app)
    assert len(fake.messages_in(BOB)) == 1
    # the reader and the channel are inactive; only the deleted topic lost its registration
    assert list(await store.subscribers_with_subscriptions()) == [("telegram", str(BOB))]
    assert [c.target for c in await store.channels()] == [Target("telegram", str(FORUM), "7")]
    registered = {
        (c.target.chat_id, c.target.thread_id): (c.active, c.inactive_reason)
        for c in await store.channels(active_only=False)
    }
    assert registered == {
        (str(CHANNEL), ""): (False, "Forbidden: bot was kicked from the channel chat"),
        (str(FORUM), "7"): (True, None),
    }
    # the operator hears about every one of them
    assert "Sent 2 of 5 (telegram: 2 sent, 3 gone)." in text
    assert "Not delivered (inactive destinations will not get later issues):" in text
    for where, why in (
        (f"telegram:{CHANNEL} (channel)", "Forbidden: bot was kicked from the channel chat"),
        (f"telegram:{FORUM}/8 (channel)", "Message thread not found"),
        (f"telegram:user {ALICE} (digest)", "Forbidden: bot was blocked by the user"),
    ):
        assert f"{where}\n{why}\nwent inactive" in text
    # and the next issue is planned for what is left
    issue = tg_app.archive.archive.issue(202)
    assert issue is not None
    planned = {str(d.target) for d in (await tg_app.publisher.plan(issue)).deliveries}
    assert f"telegram:{FORUM}/7" in planned
    assert planned.isdisjoint(
        {f"telegram:{CHANNEL}", f"telegram:{FORUM}/8", f"telegram:user {ALICE}"}
    )


@pytest.mark.parametrize(
    "flood_retries",
    [
        pytest.param(0, id="dispatcher-pauses"),  # RateLimited reaches the dispatcher
        pytest.param(1, id="ptb-waits"),  # PTB's AIORateLimiter waits it out itself
    ],
)
async def test_a_flood_wait_is_waited_out_and_not_counted_as_a_failure(
    fake: FakeTelegram,
    tg_app: App,
    start: Start,
    flood_retries: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await tg_app.store.subscribe("telegram", str(ALICE), [PYTORCH])
    await tg_app.store.subscribe("telegram", str(BOB), [MOBILE])
    await start(flood_retries=flood_retries)
    fake.fail_next("sendMessage", error_code=429, retry_after=1, chat_id=ALICE)

    await tg_app.publisher.publish(206)
    text = await settled_report(fake, tg_app)

    refused, accepted = [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == ALICE]
    assert (refused.error_code, accepted.http_status) == (429, 200)
    assert accepted.at - refused.at >= 1.0  # retry_after honoured
    [digest] = fake.messages_in(ALICE)
    assert digest.text.startswith(DIGEST_206)
    rows = by_target(outbox(tg_app.settings.database, 206, "digest"))
    assert {k: (r.status, r.attempts) for k, r in rows.items()} == {
        str(ALICE): ("sent", 1),  # the 429 is not an attempt
        str(BOB): ("sent", 1),
    }
    assert "Sent 2 of 2 (telegram: 2 sent)." in text
    paused = "telegram: rate limited, pausing 1.00s" in caplog.text
    assert paused is (flood_retries == 0)


@pytest.mark.parametrize(
    ("network_retries", "tries_per_attempt"),
    [
        pytest.param(0, 1, id="dispatcher-retries"),  # TransientError reaches the dispatcher
        pytest.param(2, 3, id="adapter-retries"),  # RetryingRateLimiter retries first
    ],
)
async def test_server_errors_are_retried_and_delivered_or_given_up(
    fake: FakeTelegram,
    tg_app: App,
    start: Start,
    network_retries: int,
    tries_per_attempt: int,
) -> None:
    await tg_app.store.subscribe("telegram", str(ALICE), [PYTORCH])
    await tg_app.store.subscribe("telegram", str(BOB), [MOBILE])
    # Each attempt waits its turn in the reader's chat (about one a second): three attempts,
    # not the default five, are enough to be retried twice and delivered, or to give up.
    await start(network_retries=network_retries, dispatcher={"max_attempts": 3})
    max_attempts = tg_app.dispatchers[0].max_attempts
    assert max_attempts == 3
    fake.fail_next("sendMessage", error_code=502, times=2, chat_id=ALICE)
    fake.fail_next("sendMessage", error_code=500, times=100, chat_id=BOB)  # down for good

    await tg_app.publisher.publish(206)
    text = await settled_report(fake, tg_app)

    assert sends_to(fake, ALICE) == [502, 502, 200]
    [digest] = fake.messages_in(ALICE)
    assert digest.text.startswith(DIGEST_206)
    rows = by_target(outbox(tg_app.settings.database, 206, "digest"))
    dispatcher_attempts = 3 if network_retries == 0 else 1
    assert (rows[str(ALICE)].status, rows[str(ALICE)].attempts) == ("sent", dispatcher_attempts)
    bob = rows[str(BOB)]
    assert (bob.status, bob.attempts) == ("failed", max_attempts)
    assert (
        bob.error == f"gave up after {max_attempts} attempts: NetworkError: Internal Server Error"
    )
    assert sends_to(fake, BOB) == [500] * (max_attempts * tries_per_attempt)  # bounded, no loop
    assert fake.messages_in(BOB) == []
    assert "Sent 1 of 2 (telegram: 1 sent, 1 failed)." in text
    assert f"telegram:user {BOB} (digest)\n{bob.error}\nfailed" in text
    # a server error says nothing about the reader: Bob stays subscribed
    assert ("telegram", str(BOB)) in await tg_app.store.subscribers_with_subscriptions()


async def test_a_refused_message_fails_once_and_is_never_retried(
    fake: FakeTelegram, tg_app: App, start: Start
) -> None:
    await tg_app.store.subscribe("telegram", str(ALICE), [PYTORCH])
    await tg_app.store.subscribe("telegram", str(BOB), [MOBILE])
    await start()
    fake.fail_next(
        "sendMessage",
        error_code=400,
        description="Bad Request: can't parse entities: unsupported start tag at byte offset 3",
        times=10,  # it would be refused every time
        chat_id=BOB,
    )

    await tg_app.publisher.publish(206)
    text = await settled_report(fake, tg_app)

    assert sends_to(fake, BOB) == [400]  # once: a bad request is a bug, not bad luck
    assert fake.messages_in(BOB) == []
    assert len(fake.messages_in(ALICE)) == 1
    rows = by_target(outbox(tg_app.settings.database, 206, "digest"))
    bob = rows[str(BOB)]
    assert (bob.status, bob.attempts) == ("failed", 1)
    assert bob.error == ("BadRequest: Can't parse entities: unsupported start tag at byte offset 3")
    assert rows[str(ALICE)].status == "sent"
    assert "Sent 1 of 2 (telegram: 1 sent, 1 failed)." in text
    assert f"telegram:user {BOB} (digest)\n{bob.error}\nfailed" in text
    assert ("telegram", str(BOB)) in await tg_app.store.subscribers_with_subscriptions()


@pytest.mark.parametrize(
    ("error_code", "options"),
    [
        pytest.param(502, {"network_retries": 0}, id="server-error"),
        pytest.param(429, {"flood_retries": 0}, id="flood-wait"),
    ],
)
async def test_a_post_cut_off_midway_continues_after_the_part_already_sent(
    fake: FakeTelegram, tg_app: App, start: Start, error_code: int, options: dict[str, Any]
) -> None:
    await tg_app.store.register_channel(
        Target("telegram", str(CHANNEL)), title="C", registered_by="43"
    )
    await start(**options)  # the error reaches the dispatcher, which tries the row again

    await tg_app.publisher.publish(206)
    # the first part is on its way: the next message to the channel, the second part, fails
    await fake.wait_for(lambda: sends_to(fake, CHANNEL), what="the post's first part")
    fake.fail_next("sendMessage", error_code=error_code, chat_id=CHANNEL)
    await settled_report(fake, tg_app)

    assert sends_to(fake, CHANNEL) == [200, error_code, 200]
    post = fake.messages_in(CHANNEL)
    check_whole_issue(post, tg_app)
    assert len(post) == 2  # the first part once: the retry continued after it
    [row] = outbox(tg_app.settings.database, 206, "channel")
    assert (row.status, row.message_ids) == ("sent", ids_of(post))
    assert row.attempts == (2 if error_code == 502 else 1)  # a flood wait is not an attempt


@pytest.mark.parametrize("how", ["migrate_group", "fail_next"])
async def test_a_group_that_became_a_supergroup_gets_the_post_at_its_new_id(
    fake: FakeTelegram, tg_app: App, start: Start, how: str
) -> None:
    store = tg_app.store
    await store.register_channel(Target("telegram", str(BASIC)), title="B", registered_by="43")
    await store.register_channel(Target("telegram", str(CHANNEL)), title="C", registered_by="43")
    if how == "migrate_group":  # while the bot was not listening: it learns by sending
        fake.migrate_group(BASIC, MIGRATED, emit_updates=False)
    else:
        fake.add_group(MIGRATED, "Old group", admins=[BOB], creator=OWNER)
        fake.fail_next("sendMessage", error_code=400, migrate_to_chat_id=MIGRATED, chat_id=BASIC)
    await start()

    await tg_app.publisher.publish(206)
    text = await settled_report(fake, tg_app)

    assert fake.messages_in(BASIC) == []
    check_whole_issue(fake.messages_in(MIGRATED), tg_app)
    check_whole_issue(fake.messages_in(CHANNEL), tg_app)
    assert sends_to(fake, BASIC) == [400]
    rows = by_target(outbox(tg_app.settings.database, 206, "channel"))
    assert {k: (r.status, r.attempts) for k, r in rows.items()} == {
        str(MIGRATED): ("sent", 1),  # the move is not a failed attempt
        str(CHANNEL): ("sent", 1),
    }
    assert rows[str(MIGRATED)].message_ids == ids_of(fake.messages_in(MIGRATED))
    assert {c.target for c in await store.channels(active_only=False)} == {
        Target("telegram", str(MIGRATED)),
        Target("telegram", str(CHANNEL)),
    }
    assert "Sent 2 of 2 (telegram: 2 sent)." in text


async def test_an_issue_published_by_another_process_before_this_one_reloaded_still_goes_out(
    fake: FakeTelegram, tg_app: App, tg_settings: Settings, start: Start
) -> None:
    await tg_app.store.subscribe("telegram", str(ALICE), [PYTORCH])
    await start()  # the running bot: its archive has #202 and #206
    issues = tg_settings.content_dir / "issues"
    issue = yaml.safe_load((issues / "0206.yaml").read_text(encoding="utf-8"))
    issue["number"], issue["title"] = 207, "Deep Learning Weekly: Issue #207"
    (issues / "0207.yaml").write_text(yaml.safe_dump(issue, allow_unicode=True), "utf-8")
    # `dlw-bot publish` from another process (or machine) loads the new file itself and writes
    # the publication before the bot's watcher has reloaded (or where it cannot watch at all)
    other = await App.create(tg_settings)
    try:
        assert (await other.publisher.publish()).issue_number == 207
    finally:
        await other.close()

    text = await settled_report(fake, tg_app, 207)

    assert "Sent 1 of 1" in text, text
    [digest] = fake.messages_in(ALICE)
    assert digest.text.startswith("Deep Learning Weekly: Issue #207 — your topics")


# ----------------------------------------------------------------------------- real processes


@dataclass
class BotProcess:
    """``python -m bot …`` running with its output (stdout and stderr) in ``log``."""

    name: str
    log: Path
    process: asyncio.subprocess.Process

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    async def wait_for_log(self, fragment: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        def logged() -> bool:
            if self.process.returncode is not None and fragment not in self.output:
                raise AssertionError(f"{self.name} exited ({self.process.returncode})")
            return fragment in self.output

        await until(logged, f"{self.name} to log {fragment!r}", timeout)

    async def exit_code(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            return await self.process.wait()

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await self.exit_code()


Spawn = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
def bot_env(tg_settings: Settings, fake: FakeTelegram) -> dict[str, str]:
    """The environment of a bot process: ours without any DLW_ setting, then the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLW_")}
    env.update(
        {
            "DLW_TELEGRAM_TOKEN": fake.token,
            "DLW_TELEGRAM_API_URL": fake.base_url,
            "DLW_DATABASE": str(tg_settings.database),
            "DLW_CONTENT_DIR": str(tg_settings.content_dir),
            "DLW_PUBLISH_SCHEDULE": "off",
            "DLW_INSTANCE": "bot-1",
            "DLW_LOG_LEVEL": "INFO",
            "DLW_ADMINS": f"telegram:{OPERATOR}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
async def spawn(tmp_path: Path, bot_env: dict[str, str]) -> AsyncIterator[Spawn]:
    """Start ``python -m bot ARGS`` (asyncio, so the fake keeps serving meanwhile). Every
    process still running at the end is killed; every log is printed (shown if the test fails)."""
    started: list[BotProcess] = []

    async def go(*args: str, name: str, env: dict[str, str] | None = None) -> BotProcess:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                cwd=tmp_path,
                env=bot_env | (env or {}),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        started.append(BotProcess(name, log, process))
        return started[-1]

    try:
        yield go
    finally:
        for bot in started:
            if bot.process.returncode is None:
                bot.process.kill()
                await bot.process.wait()
        for bot in started:
            print(f"----- {bot.name} (exit {bot.process.returncode}) -----")
            print(bot.output[-PROCESS_LOG_TAIL:])


async def test_a_bot_killed_mid_fan_out_resumes_after_restart_without_losing_anyone(
    fake: FakeTelegram,
    tg_app: App,
    tg_settings: Settings,
    telegram_settings: TelegramSettings,
    spawn: Spawn,
    record_property: Callable[[str, object], None],
) -> None:
    readers = list(range(100_001, 100_201))  # 200 readers, each following PyTorch
    for user in readers:
        fake.add_private_chat(user, f"R{user}")
        await tg_app.store.subscribe("telegram", str(user), [PYTORCH])
    result = await tg_app.publisher.publish(206)
    assert result.created and "200 digests" in result.message
    rate = 64  # 200 digests take about three seconds
    slow = {"DLW_TELEGRAM_MAX_RATE": str(rate)}
    # what bounds the repeats: the dispatcher claims at most this many rows at once (at the
    # pace the bot runs at, as its slots follow the cap)
    in_flight_bound = TelegramAdapter(
        tg_app.adapter_services, telegram_settings.model_copy(update={"max_rate": rate})
    ).limits.max_concurrency
    database = tg_settings.database

    def reached() -> int:
        return sum(1 for user in readers if digests(fake, user))

    first = await spawn("run", name="bot-first-run", env=slow)
    await fake.wait_for(lambda: reached() >= 40, timeout=30, what="40 digests")
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL  # no cleanup at all

    at_kill = outbox(database, 206)
    statuses = [r.status for r in at_kill]
    claimed, pending = statuses.count("claimed"), statuses.count("pending")
    reached_at_kill = reached()
    assert claimed + pending > 0, "the fan-out was over before the kill"
    assert claimed <= in_flight_bound
    assert statuses.count("sent") <= reached_at_kill <= statuses.count("sent") + claimed

    second = await spawn("run", name="bot-second-run", env=slow)
    await fake.wait_for(lambda: reached() == len(readers), timeout=40, what="every reader's digest")
    text = await settled_report(fake, tg_app)
    assert await second.stop(signal.SIGTERM) == 0

    counts = [len(digests(fake, user)) for user in readers]
    duplicates = sum(n - 1 for n in counts)
    print(
        f"kill test: {reached_at_kill} digests before the kill, {claimed} rows claimed and "
        f"{pending} pending at the kill, {duplicates} duplicate digests after the restart"
    )
    record_property("duplicates", duplicates)
    record_property("claimed_at_kill", claimed)
    assert min(counts) == 1  # nobody lost
    assert duplicates <= claimed <= in_flight_bound  # only what was in flight may repeat
    rows = outbox(database, 206)
    assert {r.status for r in rows} == {"sent"}
    assert len([r for r in rows if r.kind == "digest"]) == len(readers)
    assert "Sent 200 of 200 (telegram: 200 sent)." in text
    assert len(fake.messages_in(OPERATOR)) == 1  # one report, though two processes worked
    if claimed:
        assert f"resuming {claimed} deliveries left unfinished by a previous run" in second.output
    assert "shutting down" in second.output
    assert fake.token.partition(":")[2] not in first.output + second.output


def write_atomically(path: Path, text: str) -> None:
    """As ``dlw-bot import`` writes: the watcher never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


async def test_a_new_issue_file_is_served_and_published_without_a_restart(
    fake: FakeTelegram, tg_app: App, tg_settings: Settings, spawn: Spawn
) -> None:
    store = tg_app.store
    await store.register_channel(Target("telegram", str(FORUM), "7"), title="F", registered_by="43")
    await store.subscribe("telegram", str(ALICE), [PYTORCH])
    issues = tg_settings.content_dir / "issues"

    bot = await spawn("run", name="bot")
    await bot.wait_for_log("telegram adapter running")
    assert "fresh database: issue #206 is the baseline" in bot.output  # nothing sent at start

    issue = yaml.safe_load((issues / "0206.yaml").read_text(encoding="utf-8"))
    issue["number"], issue["title"] = 207, "Deep Learning Weekly: Issue #207"
    write_atomically(issues / "0207.yaml", yaml.safe_dump(issue, allow_unicode=True))
    await bot.wait_for_log("content reloaded: 3 issues")
    assert "(new: (207,))" in bot.output

    publish = await spawn("publish", name="publish")  # another process, no issue number
    assert await publish.exit_code(timeout=30) == 0, publish.output
    assert "Publishing issue #207: 1 channel post and 1 digest" in publish.output

    post = await fake.wait_for_messages(FORUM, 2, timeout=10, thread_id=7)
    await tg_app.archive.reload()  # this process's archive, to check the post against
    check_whole_issue(post, tg_app, 207)
    [digest] = await fake.wait_for_messages(ALICE, 1, timeout=10)
    assert digest.text.startswith("Deep Learning Weekly: Issue #207 — your topics")
    text = await settled_report(fake, tg_app, 207)
    assert text.startswith("Issue #207 delivered") and "Sent 2 of 2" in text

    # a broken file is refused with its name and reason; the bot keeps serving what it had
    write_atomically(issues / "0208.yaml", "number: 208\nsubtitle: no title\n")
    await bot.wait_for_log("content change rejected")
    problem = "issues/0208.yaml: title: required field is missing"
    assert f"content not reloaded: {problem}" in bot.output
    told = (await fake.wait_for_messages(OPERATOR, 2))[1]  # the operator hears it too
    assert told.text.startswith("Content problem\n") and problem in told.text
    fake.send_text(ALICE, "/latest")
    latest = (await fake.wait_for_messages(ALICE, 2))[1]  # after the digest
    assert latest.text.startswith("Deep Learning Weekly: Issue #207\n")

    assert await bot.stop(signal.SIGTERM) == 0
    assert {r.status for r in outbox(tg_settings.database, 207)} == {"sent"}


# ----------------------------------------------------------------------------- buttons, cards


async def test_posts_offer_follow_links_and_digests_stop_and_manage_buttons(
    fake: FakeTelegram, tg_app: App, start: Start
) -> None:
    store = tg_app.store
    channel = Target("telegram", str(CHANNEL))
    await store.register_channel(channel, title="C", registered_by="43")
    await store.subscribe("telegram", str(ALICE), [PYTORCH, MOBILE])
    await store.subscribe("telegram", str(BOB), [PYTORCH])
    await start()

    await tg_app.publisher.publish(206)
    await settled_report(fake, tg_app)

    # The post: a Follow link that opens a private chat with the bot, below its last message;
    # issue #206 has no links at all, so no message shows a card.
    post = fake.messages_in(CHANNEL)
    assert [m.buttons for m in post[:-1]] == [[]] * (len(post) - 1)
    issue = tg_app.archive.archive.issue(206)
    assert issue is not None
    leading = headline_topics(tg_app.archive.archive, issue)  # the topics most stories are on
    assert [t.id for t in leading] == ["language-models", "research"]
    links = {b["text"]: b["url"] for b in post[-1].buttons}
    assert links == {
        "Follow topics": f"https://t.me/{BOT}?start=follow",
        **{f"Follow {t.label}": f"https://t.me/{BOT}?start=follow-{t.id}" for t in leading},
    }
    assert post[-1].callback_data == []
    assert {str(m.link_preview_options) for m in post} == {str({"is_disabled": True})}

    # A channel reader who never talked to the bot taps Follow, confirms, and is a subscriber.
    reader = 601
    fake.add_user(reader, "Erin")
    fake.open_link(reader, links[f"Follow {leading[0].label}"])  # the post's own button
    [confirm] = await fake.wait_for_messages(reader, 1)
    assert confirm.text.startswith(f"Follow {leading[0].label}?")
    fake.press_button(confirm, confirm.callback_data[0], from_user=reader)
    await fake.wait_for_messages(reader, 2)
    followed = Subscription(SubscriptionKind.TOPIC, leading[0].id)
    assert await store.subscriptions("telegram", str(reader)) == [followed]

    # Alice's digest: why she got it, a Stop button per subscription that matched, Manage.
    [alice] = digests(fake, ALICE)
    assert alice.link_preview_options == {"is_disabled": True}
    assert alice.text.endswith(
        "You get this because you follow PyTorch and “mobile”. Stop one with /unsubscribe and "
        "its name; /subscriptions lists what you follow."
    )
    assert alice.button_labels == ["Stop PyTorch", "Stop “mobile”", "Manage topics"]
    assert alice.callback_data == [
        "run:1:/unsubscribe pytorch",
        "run:1:/unsubscribe mobile",
        "run:1:/subscriptions",
    ]

    # Forwarded by hand, a digest travels without its buttons (Telegram drops callback
    # buttons), so nobody else can stop Alice's topics through it.
    copy = fake.forward_message(alice, BOB, from_user=BOB)
    assert "reply_markup" not in copy

    fake.press_button(alice, "run:1:/unsubscribe pytorch")
    [*_, stopped] = await fake.wait_for_messages(ALICE, 2)
    assert stopped.text == "Stopped following PyTorch (pytorch)."
    assert await store.subscriptions("telegram", str(ALICE)) == [MOBILE]
    assert await store.subscriptions("telegram", str(BOB)) == [PYTORCH]  # only the presser's

    fake.press_button(alice, "run:1:/subscriptions")
    [*_, manage] = await fake.wait_for_messages(ALICE, 3)
    assert manage.text.startswith("You follow 1 topic")


async def test_a_stop_button_pressed_by_someone_else_acts_on_theirs_and_says_so(
    fake: FakeTelegram, tg_app: App, start: Start
) -> None:
    """Wherever a Stop button can be pressed by another reader (a group the reply went to), it
    runs as the presser: their subscriptions, their truthful answer."""
    store = tg_app.store
    await store.subscribe("telegram", str(ALICE), [PYTORCH])
    adapter = await start()
    plan = await tg_app.publisher.plan(tg_app.archive.archive.issue(206))  # type: ignore[arg-type]
    [alice_row] = [d for d in plan.deliveries if d.target.chat_id == str(ALICE)]
    digest = tg_app.publisher.render_planned(206, alice_row.kind, alice_row.payload)

    [message_id] = await adapter.send(Target("telegram", str(FORUM), "7"), digest)
    [shown] = [m for m in fake.messages_in(FORUM, 7) if str(m.message_id) == message_id]
    fake.press_button(shown, "run:1:/unsubscribe pytorch", from_user=CAROL)
    [_, answer] = await fake.wait_for_messages(FORUM, 2, thread_id=7)

    assert answer.text.startswith("You don't follow “pytorch”.")
    assert "You follow: nothing yet." in answer.text
    assert await store.subscriptions("telegram", str(ALICE)) == [PYTORCH]
