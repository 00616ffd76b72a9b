"""Weekly publishing through the real Discord adapter, end to end.

The real, unmodified discord.py 2.7 client inside :class:`DiscordAdapter` runs against the
loopback fake in ``tests/fakes/discord/`` (REST + gateway), and the app's own dispatcher
(``App.dispatch``) drains the outbox through it. The assertions look at what Discord received and
readers would see (channel posts, thread posts, DMs, the operators' report) and at what the outbox
and the audience tables recorded.

How the core reacts to each delivery outcome is covered with a scripted platform in
``test_publishing.py``; the question here is whether Discord's real answers (status codes, JSON
error codes, 429s, and what discord.py does with them on its own) reach the dispatcher with the
right meaning.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from adapters.discord import (
    COLOURS,
    DiscordAdapter,
    DiscordSettings,
    render_embeds,
)
from bot.app import App
from bot.config import Settings
from bot.reply import Tone
from bot.store import Subscription, SubscriptionKind, Target
from bot.views import channel_footer, channel_reply
from tests.conftest import sqlite
from tests.fakes.discord import SEND_MESSAGES, FakeDiscord, MessageRecord
from tests.fakes.discord_reading import (
    assert_within_limits,
    no_loop_errors,
    text_of,
    unescape,
)
from tests.helpers import wait_for as eventually

GUILD_ID = 91384788765712384
GENERAL_ID = 91384788765712385
WEEKLY_ID = 91384788765712386  # registered for the weekly post
NEWS_ID = 91384788765712387  # registered, then deleted by a moderator (10003)
QUIET_ID = 91384788765712388  # registered, then the bot loses Send Messages there (50013)
THREAD_ID = 91384788765712389  # a thread in #general, registered on its own
OLD_THREAD_ID = 91384788765712390  # a thread that gets archived (50083)

ALICE_ID = 90351110224678912  # follows the PyTorch topic
BOB_ID = 90351110224678913  # follows the keyword "mobile"
CAROL_ID = 90351110224678914  # follows a keyword nothing in #206 matches
DAN_ID = 90351110224678915  # follows PyTorch, keeps his DMs closed (50007)
EVE_ID = 90351110224678916  # follows PyTorch, her account is gone (10013)
OPERATOR_ID = 90351110224678917  # in DLW_ADMINS: gets the report

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
MOBILE = Subscription(SubscriptionKind.KEYWORD, "mobile")
ZEBRAFISH = Subscription(SubscriptionKind.KEYWORD, "zebrafish")

#: What a reader sees of the digest for each subscription (#206 as bundled).
PYTORCH_206 = [
    "An Overview of the PyTorch Mobile Demo Apps",
    "FedBN Example: PyTorch - From Centralized To Federated",
    "PyTorch 1.9 Release, including torch.linalg and Mobile Interpreter",
]
MOBILE_206 = [
    "An Overview of the PyTorch Mobile Demo Apps",
    "PyTorch 1.9 Release, including torch.linalg and Mobile Interpreter",
]

OPEN_DM = "/users/@me/channels"
WAIT = 10.0  # generous bound for conditions; a passing run never waits this long


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake(discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        for user_id, name in (
            (ALICE_ID, "alice"),
            (BOB_ID, "bob"),
            (CAROL_ID, "carol"),
            (OPERATOR_ID, "operator"),
        ):
            server.add_user(user_id, name)
        server.add_user(DAN_ID, "dan", dms_open=False)
        # EVE_ID is deliberately unknown to Discord: her account was deleted.
        server.add_guild(
            GUILD_ID,
            "Deep Learning Weekly",
            channels=[
                (GENERAL_ID, "general"),
                (WEEKLY_ID, "weekly"),
                (NEWS_ID, "news"),
                (QUIET_ID, "quiet"),
            ],
            threads=[
                (THREAD_ID, GENERAL_ID, "papers-discussion"),
                (OLD_THREAD_ID, GENERAL_ID, "last-year"),
            ],
            members=[ALICE_ID, BOB_ID, CAROL_ID, DAN_ID, OPERATOR_ID],
        )
        yield server


@pytest.fixture
def settings(settings: Settings, fake: FakeDiscord) -> Settings:
    """conftest's settings with one operator (``DLW_DISCORD_*`` are the adapter's own)."""
    return settings.model_copy(
        update={
            "admins": (f"discord:{OPERATOR_ID}",),
            "instance": "publishing-test",
        }
    )


@pytest.fixture
async def bot(app: App, fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    """The running adapter with the app's Discord dispatcher draining the outbox through it.

    Torn down the way ``serve`` does it: publishing stops (sends under way are recorded) while
    the adapter is still connected, then the adapter closes, then (other fixtures) the app.
    """
    with no_loop_errors():
        settings = DiscordSettings(
            token=SecretStr(fake.token), api_url=fake.root, guild_id=GUILD_ID
        )
        adapter = DiscordAdapter(app.adapter_services, settings)
        await adapter.start()
        try:
            app.dispatch(adapter, idle_poll=0.05, backoff=0.01)
            yield adapter
        finally:
            await app.stop_publishing()
            await adapter.stop()


# ------------------------------------------------------------------------------- helpers


async def register(app: App, *channel_ids: int) -> None:
    for channel_id in channel_ids:
        await app.store.register_channel(
            Target("discord", str(channel_id)), title=None, registered_by=str(OPERATOR_ID)
        )


async def outbox(app: App, issue: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, target) → the row's status, attempts, error, message ids and not_before."""
    async with sqlite(app.store).reading() as db:
        rows = await (
            await db.execute(
                "SELECT kind, target, status, attempts, error, message_ids, not_before"
                " FROM outbox WHERE issue_number = ? AND platform = 'discord'",
                (issue,),
            )
        ).fetchall()
    return {
        (r["kind"], r["target"]): {
            "status": r["status"],
            "attempts": r["attempts"],
            "error": r["error"],
            "message_ids": json.loads(r["message_ids"]) if r["message_ids"] else None,
            "not_before": dt.datetime.strptime(r["not_before"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=dt.UTC
            ),
        }
        for r in rows
    }


async def reader_state(app: App, user_id: int) -> tuple[bool, str | None]:
    async with sqlite(app.store).reading() as db:
        row = await (
            await db.execute(
                "SELECT active, inactive_reason FROM subscribers"
                " WHERE platform = 'discord' AND user_id = ?",
                (str(user_id),),
            )
        ).fetchone()
    assert row is not None
    return bool(row[0]), row[1]


async def channel_state(app: App) -> dict[int, tuple[bool, str | None]]:
    return {
        int(c.target.chat_id): (c.active, c.inactive_reason)
        for c in await app.store.channels("discord", active_only=False)
    }


async def delivered(app: App, fake: FakeDiscord, issue: int) -> MessageRecord:
    """Wait until the operator has the publication's report and every row (the report's too)
    is settled; return the report as the operator sees it."""
    await fake.wait_for(lambda: fake.dm_messages(OPERATOR_ID), timeout=WAIT)

    async def settled() -> bool:
        rows = await outbox(app, issue)
        return any(k == "report" for k, _ in rows) and all(
            r["status"] not in ("pending", "claimed") for r in rows.values()
        )

    await eventually(settled, f"issue #{issue}'s outbox to settle")
    (report,) = fake.dm_messages(OPERATOR_ID)
    return report


_ENTRY_TITLE = re.compile(r"^\*\*(?:\[(?P<linked>.*)\]\([^)]*\)|(?P<plain>.*))\*\*$", re.M)


def entry_titles(*messages: MessageRecord) -> list[str]:
    """The stories listed in the messages, in order: each entry's bold (linked) title line."""
    titles: list[str] = []
    for message in messages:
        for embed in message.embeds:
            for match in _ENTRY_TITLE.finditer(embed.get("description") or ""):
                titles.append(unescape(match["linked"] or match["plain"]))
    return titles


def story_titles(app: App, number: int) -> list[str]:
    """An issue's story titles in order, as displayed (runs of whitespace shown as one space)."""
    issue = app.archive.archive.issue(number)
    assert issue is not None
    return [" ".join(s.item.title.split()) for s in app.archive.archive.stories(issue)]


def message_ids(messages: list[MessageRecord]) -> list[str]:
    return [str(m.id) for m in messages]


def posts_to(fake: FakeDiscord, channel_id: int) -> list[int | None]:
    """Statuses of every attempt to post in a channel, in order."""
    return [r.status for r in fake.requests_to("POST", rf"/channels/{channel_id}/messages")]


def dm_opened_for(fake: FakeDiscord) -> list[int]:
    return [int(r.json["recipient_id"]) for r in fake.requests_to("POST", OPEN_DM)]


def dm_posts(fake: FakeDiscord, user_id: int) -> list[int | None]:
    """Statuses of every attempt to post in the user's DM channel (if one was opened)."""
    dm = [c.id for c in fake.channels.values() if c.recipient_id == user_id]
    return posts_to(fake, dm[0]) if dm else []


# ------------------------------------------------------------------------------- delivery


async def test_an_issue_reaches_channels_threads_and_matching_readers(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID, THREAD_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    await app.store.subscribe("discord", str(BOB_ID), [MOBILE])
    await app.store.subscribe("discord", str(CAROL_ID), [ZEBRAFISH])

    result = await app.publisher.publish(206)
    assert result.created
    assert result.message == (
        "Publishing issue #206: 2 channel posts and 2 digests (discord: 2 channels, 2 digests)."
    )
    report = await delivered(app, fake, 206)

    # The channel: the whole issue as embeds, every story once, in the issue's order.
    issue = app.archive.archive.issue(206)
    assert issue is not None
    posted = fake.channel_messages(WEEKLY_ID)
    assert len(posted) == len(render_embeds(channel_reply(issue)))
    for message in posted:
        assert_within_limits(message)
        assert not message.ephemeral
    first_embed = posted[0].embeds[0]
    assert unescape(first_embed["title"]) == "Deep Learning Weekly: Issue #206"
    assert first_embed["color"] == COLOURS[Tone.INFO]
    assert [unescape(e["title"]) for e in posted[0].embeds[1:]] == [s.name for s in issue.sections]
    assert entry_titles(*posted) == story_titles(app, 206)
    assert posted[-1].embeds[-1]["footer"]["text"] == channel_footer(issue)
    assert "/section papers 206 " in channel_footer(issue)  # still right after later issues
    # The thread is a destination of its own and gets the same post.
    in_thread = fake.channel_messages(THREAD_ID)
    assert [m.embeds for m in in_thread] == [m.embeds for m in posted]
    assert fake.channel_messages(GENERAL_ID) == []  # not its parent channel

    # Readers: one DM each, with only the stories their subscriptions match, saying why.
    (alice,) = fake.dm_messages(ALICE_ID)
    (bob,) = fake.dm_messages(BOB_ID)
    for dm, titles, reason, followed in (
        (alice, PYTORCH_206, "matched topic PyTorch", "PyTorch. Stop it with /unsubscribe pytorch"),
        (bob, MOBILE_206, "matched keyword “mobile”", "“mobile”. Stop it with /unsubscribe mobile"),
    ):
        assert_within_limits(dm)
        assert unescape(dm.embeds[0]["title"]) == "Deep Learning Weekly: Issue #206 — your topics"
        assert entry_titles(dm) == titles
        text = text_of(dm)
        assert f"{len(titles)} items on topics you follow:" in text
        assert text.count(reason) == len(titles)
        assert dm.embeds[-1]["footer"]["text"] == (
            f"You get this because you follow {followed}; /subscriptions lists what you follow."
        )
    # Carol's keyword matches nothing in #206: no DM was even opened for her.
    assert fake.dm_messages(CAROL_ID) == []
    assert CAROL_ID not in dm_opened_for(fake)

    # The outbox: every row sent once, with the ids of the messages Discord stored.
    rows = await outbox(app, 206)
    assert {key: row["status"] for key, row in rows.items()} == {
        ("channel", str(WEEKLY_ID)): "sent",
        ("channel", str(THREAD_ID)): "sent",
        ("digest", str(ALICE_ID)): "sent",
        ("digest", str(BOB_ID)): "sent",
        ("report", str(OPERATOR_ID)): "sent",
    }
    assert rows[("channel", str(WEEKLY_ID))]["message_ids"] == message_ids(posted)
    assert rows[("channel", str(THREAD_ID))]["message_ids"] == message_ids(in_thread)
    assert rows[("digest", str(ALICE_ID))]["message_ids"] == [str(alice.id)]
    assert rows[("digest", str(BOB_ID))]["message_ids"] == [str(bob.id)]
    assert rows[("report", str(OPERATOR_ID))]["message_ids"] == [str(report.id)]
    assert all(r["attempts"] == 1 and r["error"] is None for r in rows.values())
    assert posts_to(fake, WEEKLY_ID) == [200] * len(posted)  # nothing was posted twice

    # The operator's report, by DM.
    assert_within_limits(report)
    assert unescape(report.embeds[0]["title"]) == "Issue #206 delivered"
    assert report.embeds[0]["color"] == COLOURS[Tone.SUCCESS]
    assert "Sent 4 of 4 (discord: 4 sent)." in text_of(report)
    publication = await app.store.publication(206)
    assert publication is not None and publication.done and publication.reported_at is not None

    # Publishing again queues nothing.
    again = await app.publisher.publish(206)
    assert not again.created and "already published" in again.message
    assert await outbox(app, 206) == rows


async def test_gone_destinations_are_deactivated_once_and_reported(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID, NEWS_ID, QUIET_ID, OLD_THREAD_ID)
    for reader in (ALICE_ID, DAN_ID, EVE_ID):
        await app.store.subscribe("discord", str(reader), [PYTORCH])
    fake.remove_channel(NEWS_ID)  # 404 / 10003 Unknown Channel
    fake.deny_bot(QUIET_ID, SEND_MESSAGES)  # 403 / 50013 Missing Permissions
    fake.fail_next(  # 400 / 50083: a thread archived after it was registered
        "POST",
        rf"/channels/{OLD_THREAD_ID}/messages",
        status=400,
        code=50083,
        message="Thread is archived",
    )
    # DAN_ID keeps his DMs closed (403 / 50007); EVE_ID is unknown (404 / 10013).

    await app.publisher.publish(206)
    report = await delivered(app, fake, 206)

    rows = await outbox(app, 206)
    assert {key: row["status"] for key, row in rows.items()} == {
        ("channel", str(WEEKLY_ID)): "sent",
        ("channel", str(NEWS_ID)): "gone",
        ("channel", str(QUIET_ID)): "gone",
        ("channel", str(OLD_THREAD_ID)): "gone",
        ("digest", str(ALICE_ID)): "sent",
        ("digest", str(DAN_ID)): "gone",
        ("digest", str(EVE_ID)): "gone",
        ("report", str(OPERATOR_ID)): "sent",
    }
    assert rows[("digest", str(DAN_ID))]["error"] == (
        "DMs closed: HTTP 403 (code 50007): Cannot send messages to this user"
    )
    assert rows[("digest", str(EVE_ID))]["error"].startswith("unknown user: HTTP 404 (code 10013)")
    assert rows[("channel", str(NEWS_ID))]["error"].startswith(
        "unknown channel: HTTP 404 (code 10003)"
    )
    assert rows[("channel", str(QUIET_ID))]["error"].startswith(
        "missing permissions: HTTP 403 (code 50013)"
    )
    assert rows[("channel", str(OLD_THREAD_ID))]["error"].startswith(
        "thread archived: HTTP 400 (code 50083)"
    )
    # Each was tried exactly once: "gone" is never retried.
    assert all(r["attempts"] == 1 for r in rows.values())
    assert posts_to(fake, NEWS_ID) == [404]
    assert posts_to(fake, QUIET_ID) == [403]
    assert posts_to(fake, OLD_THREAD_ID) == [400]
    assert dm_posts(fake, DAN_ID) == [403]
    assert dm_opened_for(fake).count(EVE_ID) == 1
    assert fake.dm_messages(DAN_ID) == []

    # Readers and channels that are gone are inactive, with Discord's reason; the rest are not.
    dan_active, dan_reason = await reader_state(app, DAN_ID)
    assert not dan_active and dan_reason is not None and dan_reason.startswith("DMs closed")
    eve_active, _ = await reader_state(app, EVE_ID)
    assert not eve_active
    assert (await reader_state(app, ALICE_ID))[0]
    channels = await channel_state(app)
    assert channels[WEEKLY_ID] == (True, None)
    for gone, why in (
        (NEWS_ID, "unknown channel"),
        (QUIET_ID, "missing permissions"),
        (OLD_THREAD_ID, "thread archived"),
    ):
        active, reason = channels[gone]
        assert not active and reason is not None and reason.startswith(why)

    # The operator learns about every one of them.
    assert_within_limits(report)
    assert report.embeds[0]["color"] == COLOURS[Tone.ERROR]
    text = text_of(report)
    assert "Sent 2 of 7 (discord: 2 sent, 5 gone)." in text
    assert "Not delivered (inactive destinations will not get later issues):" in text
    for listed in (
        f"discord:{NEWS_ID} (channel)",
        f"discord:{QUIET_ID} (channel)",
        f"discord:{OLD_THREAD_ID} (channel)",
        f"discord:user {DAN_ID} (digest)",
        f"discord:user {EVE_ID} (digest)",
    ):
        assert listed in entry_titles(report)
    assert "Cannot send messages to this user" in text
    assert text.count("went inactive") == 5

    # The next issue is not planned for any of them.
    issue_202 = app.archive.archive.issue(202)
    assert issue_202 is not None
    planned = {d.target.chat_id for d in (await app.publisher.plan(issue_202)).deliveries}
    assert str(WEEKLY_ID) in planned
    assert planned.isdisjoint({str(NEWS_ID), str(QUIET_ID), str(OLD_THREAD_ID)})
    assert planned.isdisjoint({str(DAN_ID), str(EVE_ID)})


async def test_a_server_error_is_retried_and_delivered_once(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    # 503 is not among the statuses discord.py retries by itself (500/502/504/524), so it
    # reaches the dispatcher, which retries with its own backoff.
    fake.fail_next("POST", rf"/channels/{WEEKLY_ID}/messages", status=503)
    fake.fail_next("POST", OPEN_DM, status=503)  # opening the DM fails once too

    await app.publisher.publish(206)
    report = await delivered(app, fake, 206)

    posted = fake.channel_messages(WEEKLY_ID)
    assert len(posted) == 1 and posts_to(fake, WEEKLY_ID) == [503, 200]
    assert len(fake.dm_messages(ALICE_ID)) == 1
    assert dm_opened_for(fake).count(ALICE_ID) == 2
    rows = await outbox(app, 206)
    for key in (("channel", str(WEEKLY_ID)), ("digest", str(ALICE_ID))):
        assert rows[key]["status"] == "sent"
        assert rows[key]["attempts"] == 2  # the failed try counts
        assert rows[key]["error"] is None  # and is forgotten once delivered
    assert rows[("channel", str(WEEKLY_ID))]["message_ids"] == message_ids(posted)
    assert "Sent 2 of 2 (discord: 2 sent)." in text_of(report)
    assert (await channel_state(app))[WEEKLY_ID] == (True, None)


async def test_a_bad_request_fails_the_row_once_and_is_reported(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID, THREAD_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    fake.fail_next(
        "POST",
        rf"/channels/{THREAD_ID}/messages",
        status=400,
        code=50035,
        message="Invalid Form Body",
        errors={
            "embeds": {
                "0": {
                    "description": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 4096 or fewer in length.",
                            }
                        ]
                    }
                }
            }
        },
    )

    await app.publisher.publish(206)
    report = await delivered(app, fake, 206)

    rows = await outbox(app, 206)
    failed = rows[("channel", str(THREAD_ID))]
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert failed["error"] == (
        "HTTP 400 (code 50035): Invalid Form Body\n"
        "In embeds.0.description: Must be 4096 or fewer in length."
    )
    assert posts_to(fake, THREAD_ID) == [400]  # tried once, never again
    assert fake.channel_messages(THREAD_ID) == []
    # A refused request says nothing about the destination: it stays registered and active.
    assert (await channel_state(app))[THREAD_ID] == (True, None)
    assert rows[("channel", str(WEEKLY_ID))]["status"] == "sent"
    assert rows[("digest", str(ALICE_ID))]["status"] == "sent"

    text = text_of(report)
    assert report.embeds[0]["color"] == COLOURS[Tone.ERROR]
    assert "Sent 2 of 3 (discord: 2 sent, 1 failed)." in text
    assert f"discord:{THREAD_ID} (channel)" in entry_titles(report)
    assert "Must be 4096 or fewer in length." in text
    assert text.count("*failed*") == 1 and "went inactive" not in text  # the entry's meta line


# ------------------------------------------------------------------------------- 429s


async def test_a_short_429_is_waited_out_by_discord_py(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    # A real bucket 429 (Via header, retry_after in the body) well under the adapter's 30 s:
    # discord.py sleeps and retries on its own; the dispatcher only sees the success.
    fake.fail_next("POST", rf"/channels/{WEEKLY_ID}/messages", status=429, retry_after=0.05)

    await app.publisher.publish(206)
    report = await delivered(app, fake, 206)

    assert posts_to(fake, WEEKLY_ID) == [429, 200]
    assert len(fake.channel_messages(WEEKLY_ID)) == 1
    rows = await outbox(app, 206)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert rows[("channel", str(WEEKLY_ID))]["attempts"] == 1
    assert rows[("channel", str(WEEKLY_ID))]["error"] is None
    assert "Sent 2 of 2 (discord: 2 sent)." in text_of(report)


async def test_a_cloudflare_429_pauses_the_dispatcher_then_delivers(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    # Without the Via header discord.py takes a 429 for a Cloudflare ban and raises at once;
    # the adapter surfaces it as RateLimited(Retry-After = 1 s), which pauses the dispatcher.
    fake.fail_next("POST", rf"/channels/{WEEKLY_ID}/messages", status=429, via=False)

    await app.publisher.publish(206)
    report = await delivered(app, fake, 206)

    attempts = fake.requests_to("POST", rf"/channels/{WEEKLY_ID}/messages")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.9  # waited the Retry-After
    assert len(fake.channel_messages(WEEKLY_ID)) == 1
    rows = await outbox(app, 206)
    assert {r["status"] for r in rows.values()} == {"sent"}
    assert rows[("channel", str(WEEKLY_ID))]["attempts"] == 1  # a 429 is not a failed attempt
    assert rows[("channel", str(WEEKLY_ID))]["error"] is None
    assert "Sent 2 of 2 (discord: 2 sent)." in text_of(report)


async def test_a_long_429_surfaces_and_defers_the_row(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await register(app, WEEKLY_ID)
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    # Longer than the adapter lets discord.py sleep (30 s): raised as discord.RateLimited, the
    # row waits for the retry_after instead of blocking a send (or failing).
    fake.fail_next("POST", rf"/channels/{WEEKLY_ID}/messages", status=429, retry_after=120)

    before = dt.datetime.now(dt.UTC)
    await app.publisher.publish(206)
    await fake.wait_for(lambda: fake.dm_messages(ALICE_ID), timeout=WAIT)
    key = ("channel", str(WEEKLY_ID))

    async def deferred() -> bool:
        row = (await outbox(app, 206))[key]
        return row["status"] == "pending" and row["error"] is not None  # tried, put back

    await eventually(deferred, "the rate-limited row to go back to pending")
    row = (await outbox(app, 206))[key]
    assert row["attempts"] == 0  # not counted as a failure
    assert row["error"].startswith("rate limited (retry after 120s)")
    wait = (row["not_before"] - before).total_seconds()
    assert 119 <= wait <= 125
    assert posts_to(fake, WEEKLY_ID) == [429]
    assert fake.channel_messages(WEEKLY_ID) == []
    assert (await outbox(app, 206))[("digest", str(ALICE_ID))]["status"] == "sent"
    publication = await app.store.publication(206)
    assert publication is not None and not publication.done  # so no report yet
    assert fake.dm_messages(OPERATOR_ID) == []


# ------------------------------------------------------------------------------- long posts


def _write_long_issue(content_dir: Path) -> None:
    """Issue #207: six sections of eight linked stories, several messages on Discord."""
    sections = [
        {
            "name": f"Section {s}",
            "items": [
                {
                    "title": f"Story {s}.{i}",
                    "url": f"https://example.org/{s}/{i}",
                    "summary": " ".join(["A long summary sentence about deep learning."] * 12),
                }
                for i in range(8)
            ],
        }
        for s in range(6)
    ]
    issue = {
        "number": 207,
        "title": "Deep Learning Weekly: Issue #207",
        "subtitle": "A very long issue",
        "intro": "Hello.",
        "sections": sections,
    }
    (content_dir / "issues" / "0207.yaml").write_text(yaml.safe_dump(issue, sort_keys=False))


async def test_a_long_issue_is_posted_as_several_messages_in_order(
    app: App, fake: FakeDiscord, bot: DiscordAdapter, content_dir: Path
) -> None:
    _write_long_issue(content_dir)
    assert (await app.archive.reload()).added == (207,)
    issue = app.archive.archive.issue(207)
    assert issue is not None
    expected = len(render_embeds(channel_reply(issue)))
    assert expected >= 3
    await register(app, WEEKLY_ID)

    await app.publisher.publish(207)
    await delivered(app, fake, 207)

    posted = fake.channel_messages(WEEKLY_ID)
    assert len(posted) == expected
    for message in posted:
        assert_within_limits(message)
    assert entry_titles(*posted) == story_titles(app, 207)
    assert posted[-1].embeds[-1]["footer"]["text"] == channel_footer(issue)
    row = (await outbox(app, 207))[("channel", str(WEEKLY_ID))]
    assert row["status"] == "sent" and row["message_ids"] == message_ids(posted)


async def test_a_failure_midway_through_a_long_post_does_not_repeat_what_was_posted(
    app: App, fake: FakeDiscord, bot: DiscordAdapter, content_dir: Path
) -> None:
    _write_long_issue(content_dir)
    assert (await app.archive.reload()).added == (207,)
    await register(app, WEEKLY_ID)
    # One post per 0.3 s in #weekly: discord.py waits for the bucket by itself between the
    # messages of the post, which leaves the test time to make the second one fail.
    fake.rate_limit(rf"/channels/{WEEKLY_ID}/messages", 1, window=0.3, method="POST")

    await app.publisher.publish(207)
    await fake.wait_for(lambda: fake.channel_messages(WEEKLY_ID), timeout=WAIT)
    fake.fail_next("POST", rf"/channels/{WEEKLY_ID}/messages", status=503)
    await delivered(app, fake, 207)

    posted = fake.channel_messages(WEEKLY_ID)
    assert entry_titles(*posted) == story_titles(app, 207)  # each story once, in order
    assert posts_to(fake, WEEKLY_ID)[:2] == [200, 503]  # the second message did fail
    row = (await outbox(app, 207))[("channel", str(WEEKLY_ID))]
    assert row["status"] == "sent" and row["message_ids"] == message_ids(posted)
