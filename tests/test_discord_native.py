"""Discord-native delivery: action buttons, announcement channels, forum channels, user install.

As in ``test_discord_bot.py``, the real discord.py client inside :class:`DiscordAdapter` runs
against the loopback fake in ``tests/fakes/discord/``; the fake refuses what Discord refuses
(component layout, crosspost permissions and its hourly limit, forum tags, command contexts),
and the assertions look at what readers and operators would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from adapters.discord import ANSWER_BUDGET, DiscordAdapter, DiscordSettings, match_tags, thread_name
from bot.app import App
from bot.commands import Command, Context
from bot.config import Settings
from bot.delivery import PermanentError, TargetGone
from bot.reply import Action, Block, Entry, Heading, Paragraph, Reply
from bot.store import Subscription, SubscriptionKind, Target
from bot.views import channel_reply
from tests.conftest import sqlite
from tests.fakes.discord import (
    ADMINISTRATOR,
    CHANNEL_GUILD_ANNOUNCEMENT,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    MANAGE_MESSAGES,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    ChannelRecord,
    FakeDiscord,
    InteractionRecord,
    MessageRecord,
)
from tests.fakes.discord_reading import no_loop_errors, text_of
from tests.helpers import wait_for as eventually

GUILD_ID = 71384788765712384
GENERAL_ID = 71384788765712385
ALICE_ID = 70351110224678912
BOB_ID = 70351110224678913
OPERATOR_ID = 70351110224678917

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """conftest's settings with one Discord operator, who gets the adapter's reports."""
    return settings.model_copy(update={"admins": (f"discord:{OPERATOR_ID}",)})


@pytest.fixture
async def fake(discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_user(ALICE_ID, "alice")
        server.add_user(BOB_ID, "bob")
        server.add_user(OPERATOR_ID, "operator")
        server.add_guild(
            GUILD_ID,
            "Deep Learning Weekly",
            channels=[(GENERAL_ID, "general")],
            members=[ALICE_ID, BOB_ID, OPERATOR_ID],
        )
        yield server


@contextlib.asynccontextmanager
async def serving(
    app: App, fake: FakeDiscord, *, answer_budget: float = ANSWER_BUDGET, **settings: Any
) -> AsyncIterator[DiscordAdapter]:
    """A started adapter, known to the app as running (so it can reach the operators);
    ``settings``: DiscordSettings fields (DiscordSettings would ignore any other name)."""
    values: dict[str, Any] = {"token": SecretStr(fake.token), "api_url": fake.root}
    assert settings.keys() <= DiscordSettings.model_fields.keys(), settings
    with no_loop_errors():
        adapter = DiscordAdapter(
            app.adapter_services,
            DiscordSettings(**(values | {"guild_id": GUILD_ID} | settings)),
            answer_budget=answer_budget,
        )
        await adapter.start()
        app.adapters.append(adapter)
        try:
            yield adapter
        finally:
            app.adapters.remove(adapter)
            await adapter.stop()


@pytest.fixture
async def bot(app: App, fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    async with serving(app, fake) as adapter:
        yield adapter


def buttons(message: MessageRecord) -> list[dict[str, Any]]:
    return [c for row in message.components for c in row.get("components", [])]


def button(message: MessageRecord, label: str) -> dict[str, Any]:
    found = [b for b in buttons(message) if b.get("label") == label]
    assert found, (
        f"no {label!r} button on the message: {[b.get('label') for b in buttons(message)]}"
    )
    return found[0]


async def press(
    fake: FakeDiscord, message: MessageRecord, label: str, user_id: int
) -> InteractionRecord:
    record = await fake.press_component(
        message, button(message, label)["custom_id"], user_id=user_id
    )
    return await fake.wait_for_response(record)


def answer_of(record: InteractionRecord) -> MessageRecord:
    assert record.response_type == 4, record.callbacks  # a new message, the post stays as it is
    assert record.original is not None
    return record.original


# ------------------------------------------------------------------------------- action buttons

POST = Reply(
    title="Deep Learning Weekly: Issue #206",
    blocks=(Paragraph("This week in deep learning…"),),
    actions=(
        Action("Follow topics", command="/topics", private=True),
        Action("Follow PyTorch", command="/subscribe pytorch", private=True),
        Action("Read on the web", url="https://www.deeplearningweekly.com/p/issue-206"),
        Action(" ", command="/latest"),  # no label: left out, the post still goes
        Action("Not a web link", url="javascript:alert(1)"),  # left out too
    ),
)


async def test_actions_are_buttons_under_the_post(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    (message_id,) = await bot.send(Target("discord", str(GENERAL_ID)), POST)
    (message,) = fake.channel_messages(GENERAL_ID)
    assert str(message.id) == message_id
    shown = [(b["label"], b["style"], b.get("custom_id"), b.get("url")) for b in buttons(message)]
    assert shown == [
        ("Follow topics", 1, "dlw:me:1:/topics", None),
        ("Follow PyTorch", 1, "dlw:me:1:/subscribe pytorch", None),
        ("Read on the web", 5, None, "https://www.deeplearningweekly.com/p/issue-206"),
    ]


async def test_a_private_action_answers_the_presser_alone(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await bot.send(Target("discord", str(GENERAL_ID)), POST)
    (post,) = fake.channel_messages(GENERAL_ID)

    topics = answer_of(await press(fake, post, "Follow topics", ALICE_ID))
    assert topics.ephemeral  # only Alice sees the taxonomy, the channel sees nothing
    assert "/subscribe pytorch" in text_of(topics)

    followed = answer_of(await press(fake, post, "Follow PyTorch", BOB_ID))
    assert followed.ephemeral
    assert "PyTorch" in text_of(followed)
    # Run as the presser, in their private context: Bob follows PyTorch, Alice does not.
    assert await app.store.subscriptions("discord", str(BOB_ID)) == [PYTORCH]
    assert await app.store.subscriptions("discord", str(ALICE_ID)) == []
    assert buttons(post)  # the buttons stay for the next reader
    assert [m.id for m in fake.channel_messages(GENERAL_ID, include_interactions=False)] == [
        post.id
    ]


async def test_a_slow_private_action_is_deferred_privately(app: App, fake: FakeDiscord) -> None:
    release = asyncio.Event()

    async def slow(ctx: Context) -> Reply:
        await release.wait()
        return Reply.text(f"just for {ctx.user_id}")

    app.registry.add(Command("slowly", "Takes its time", "Slow.", slow))
    post = Reply(
        blocks=(Paragraph("x"),), actions=(Action("Mine", command="/slowly", private=True),)
    )
    async with serving(app, fake, answer_budget=0.05) as bot:
        await bot.send(Target("discord", str(GENERAL_ID)), post)
        (message,) = fake.channel_messages(GENERAL_ID)
        record = await fake.press_component(
            message, button(message, "Mine")["custom_id"], user_id=ALICE_ID
        )
        await fake.wait_for(lambda: record.response_type == 5)
        assert record.response is not None and record.response.data == {"flags": 64}
        release.set()
        await fake.wait_for_response(record, count=2)
    # Even "thinking…" was only shown to Alice; her answer replaces it.
    assert [e.kind for e in record.events] == ["callback", "edit_original"]
    assert record.original is not None and record.original.ephemeral
    assert f"just for {ALICE_ID}" in text_of(record.original)


async def test_an_in_place_action_in_a_digest_stops_that_topic(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    await app.store.subscribe("discord", str(ALICE_ID), [PYTORCH])
    digest = Reply(
        title="Deep Learning Weekly: Issue #206 — your topics",
        blocks=(Paragraph("1 item on topics you follow:"),),
        footer="You get this because you follow PyTorch.",
        actions=(
            Action("Stop PyTorch", command="/unsubscribe pytorch"),
            Action("Manage topics", command="/subscriptions"),
        ),
    )
    await bot.send(Target.user("discord", str(ALICE_ID)), digest)
    (dm,) = fake.dm_messages(ALICE_ID)
    assert dm.embeds[-1]["footer"]["text"] == "You get this because you follow PyTorch."

    stopped = answer_of(await press(fake, dm, "Stop PyTorch", ALICE_ID))
    assert "Stopped following" in text_of(stopped)
    assert await app.store.subscriptions("discord", str(ALICE_ID)) == []
    manage = answer_of(await press(fake, dm, "Manage topics", ALICE_ID))
    assert "don't follow any topics" in text_of(manage)


async def test_many_actions_fit_discords_layout(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    many = tuple(Action(f"Topic {n}", command=f"/subscribe topic{n}") for n in range(30))
    twice = (*many, many[0], Action("Again", command="/subscribe topic0"))
    long_line = "/search " + " ".join(["learning"] * 15)
    reply = Reply(
        blocks=(Paragraph("Pick one"),),
        actions=(Action("A long search " * 10, command=long_line), *twice),
    )
    await bot.send(Target("discord", str(GENERAL_ID)), reply)  # the fake refuses a bad layout
    (message,) = fake.channel_messages(GENERAL_ID)
    rows = message.components
    assert len(rows) <= 5 and all(len(row["components"]) <= 5 for row in rows)
    shown = buttons(message)
    assert len(shown) == 25
    assert len({b["custom_id"] for b in shown}) == 25  # a repeated command line shown once
    first = shown[0]
    assert len(first["label"]) <= 80 and first["label"].endswith("…")
    assert first["custom_id"].startswith("dlw:do:key:")  # too long for 100 characters: saved

    result = answer_of(await press(fake, message, first["label"], ALICE_ID))
    assert "learning" in text_of(result).lower()


async def test_an_expired_action_says_so(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    reply = Reply(blocks=(Paragraph("x"),), actions=(Action("Old", command="/search " + "a" * 99),))
    await bot.send(Target("discord", str(GENERAL_ID)), reply)
    (message,) = fake.channel_messages(GENERAL_ID)
    saved = button(message, "Old")
    # A forged or forgotten key: the reader is told, nothing crashes.
    message.data["components"][0]["components"][0]["custom_id"] = "dlw:do:key:unknownkey"
    del saved
    answer = answer_of(await press(fake, message, "Old", ALICE_ID))
    assert answer.ephemeral and "expired" in text_of(answer)


# ------------------------------------------------------------------------------- user install

GROUP_DM_ID = 71384788765712390
READER_COMMANDS = {"latest", "search", "section", "issue", "topics", "subscribe"}


async def test_reader_commands_can_be_installed_by_a_user(app: App, fake: FakeDiscord) -> None:
    async with serving(app, fake, guild_id=None):
        commands = {c["name"]: c for c in fake.registered_commands(None)}
    for name in READER_COMMANDS:
        assert commands[name]["integration_types"] == [0, 1], name
        assert commands[name]["contexts"] == [0, 1, 2], name
    assert commands["weekly"]["integration_types"] == [0]
    assert commands["weekly"]["contexts"] == [0]
    operator_only = [c for c in app.registry if c.permission.value == "operator"]
    assert operator_only
    for declared in operator_only:
        assert commands[declared.name]["integration_types"] == [0], declared.name
        assert commands[declared.name]["contexts"] == [0], declared.name


async def test_a_user_installed_command_answers_in_a_group_dm(app: App, fake: FakeDiscord) -> None:
    fake.install_for_user(ALICE_ID)
    fake.add_private_channel(GROUP_DM_ID, [ALICE_ID, BOB_ID, OPERATOR_ID], name="reading group")
    async with serving(app, fake, guild_id=None) as bot:
        record = await fake.wait_for_response(
            await fake.invoke_slash(
                "search", {"query": "learning"}, private_channel=GROUP_DM_ID, user_id=ALICE_ID
            )
        )
        assert record.payload["context"] == 2
        assert record.payload["authorizing_integration_owners"] == {"1": str(ALICE_ID)}
        answer = answer_of(record)
        assert not answer.ephemeral  # the group sees the answer, as in a channel
        assert answer.channel_id == GROUP_DM_ID
        assert "Results 1–8" in text_of(answer)

        # "More" works there too (an interaction, no bot in the channel needed).
        more = button(answer, "More")
        pressed = await fake.press_component(answer, more["custom_id"], user_id=BOB_ID)
        await fake.wait_for_response(pressed, count=2)
        assert "Results 9–" in text_of(*pressed.followups)

        section = answer_of(
            await fake.wait_for_response(
                await fake.invoke_slash(
                    "section", {"name": "papers"}, private_channel=GROUP_DM_ID, user_id=ALICE_ID
                )
            )
        )
        assert "Papers" in text_of(section)

        # The bot is no member of the group: it can't post there on its own.
        with pytest.raises(TargetGone, match="missing access"):
            await bot.send(Target("discord", str(GROUP_DM_ID)), Reply.text("hello"))

    # Only what Discord offers there: no /weekly, and nothing for Bob, who has not installed it.
    with pytest.raises(PermissionError, match="not available in DMs or group DMs"):
        await fake.invoke_slash(
            "weekly", {"setting": "on"}, private_channel=GROUP_DM_ID, user_id=ALICE_ID
        )
    with pytest.raises(PermissionError, match="has not installed"):
        await fake.invoke_slash("latest", private_channel=GROUP_DM_ID, user_id=BOB_ID)


async def test_user_install_must_be_enabled_for_the_application(
    app: App, discord_urls: None, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord(install_types=(0,)) as fake:  # the portal offers guild install only
        fake.add_guild(GUILD_ID, "Deep Learning Weekly", channels=[(GENERAL_ID, "general")])
        async with serving(app, fake, guild_id=None):
            pass
    (sync,) = fake.command_syncs
    assert sync.status == 400
    assert fake.registered_commands(None) == []
    assert "syncing global commands failed" in caplog.text
    assert "integration type 1" in caplog.text


# ------------------------------------------------------------------------------- announcement channels

NEWS_ID = 71384788765712391  # an announcement channel other servers follow


def with_news(fake: FakeDiscord) -> None:
    fake.add_channel(GUILD_ID, NEWS_ID, "dlw-news", type=CHANNEL_GUILD_ANNOUNCEMENT)


async def issue_206(app: App) -> Reply:
    issue = app.archive.archive.issue(206)
    assert issue is not None
    return channel_reply(issue)


def long_post(*sections: str) -> Reply:
    """A weekly post too long for one message: sections of long stories."""
    blocks: list[Block] = [Paragraph("This week in deep learning…")]
    for section in sections:
        blocks.append(Heading(section))
        blocks.extend(
            Entry(f"{section} story {n}", "word " * 400, url=f"https://example.com/{n}")
            for n in range(3)
        )
    return Reply(title="Deep Learning Weekly: Issue #206", blocks=tuple(blocks))


async def test_posts_in_an_announcement_channel_are_published_to_followers(
    app: App, fake: FakeDiscord
) -> None:
    with_news(fake)
    async with serving(app, fake) as bot:
        ids = await bot.send(
            Target("discord", str(NEWS_ID)), long_post("Industry", "Papers & Publications")
        )
    posted = fake.channel_messages(NEWS_ID)
    assert [str(m.id) for m in posted] == ids and len(ids) > 1
    assert all(m.crossposted for m in posted)  # every part of the post reaches the followers
    published = fake.requests_to("POST", rf"/channels/{NEWS_ID}/messages/\d+/crosspost")
    assert [r.path.split("/")[-2] for r in published] == ids
    assert not fake.requests_to("POST", rf"/channels/{GENERAL_ID}/messages/\d+/crosspost")


async def test_a_refused_crosspost_is_reported_to_the_operators_once(
    app: App, fake: FakeDiscord
) -> None:
    with_news(fake)
    crosspost = rf"/channels/{NEWS_ID}/messages/\d+/crosspost"
    fake.fail_next(
        "POST", crosspost, status=403, code=50013, message="Missing Permissions", times=3
    )
    async with serving(app, fake) as bot:
        first = await bot.send(Target("discord", str(NEWS_ID)), Reply.text("Issue #206 is out"))
        second = await bot.send(Target("discord", str(NEWS_ID)), Reply.text("Issue #207 is out"))
        # The posts count as sent: they are in the channel, only not published.
        assert len(first) == len(second) == 1
        assert [m.crossposted for m in fake.channel_messages(NEWS_ID)] == [False, False]
        (report,) = fake.dm_messages(OPERATOR_ID)  # told once for this channel, not per post
        text = text_of(report)
        assert "#dlw-news (Deep Learning Weekly)" in text
        assert "Send Messages and Manage Messages" in text
        assert "Missing Permissions" in text

        # Still refused: not told again. Then granted: published, and a later refusal is
        # told anew.
        await bot.send(Target("discord", str(NEWS_ID)), Reply.text("Issue #208 is out"))
        assert len(fake.dm_messages(OPERATOR_ID)) == 1
        await bot.send(Target("discord", str(NEWS_ID)), Reply.text("Issue #209 is out"))
        assert fake.channel_messages(NEWS_ID)[-1].crossposted
        fake.fail_next("POST", crosspost, status=403, code=50013, message="Missing Permissions")
        await bot.send(Target("discord", str(NEWS_ID)), Reply.text("Issue #210 is out"))
        assert len(fake.dm_messages(OPERATOR_ID)) == 2


async def test_a_channel_not_cached_yet_is_fetched_once(app: App, fake: FakeDiscord) -> None:
    async with serving(app, fake) as bot:
        with_news(fake)  # created after the bot's guilds arrived: not in its cache
        await bot.send(Target("discord", str(NEWS_ID)), Reply.text("#206"))
    (post,) = fake.channel_messages(NEWS_ID)
    assert post.crossposted
    assert len(fake.requests_to("GET", rf"/channels/{NEWS_ID}")) == 1


async def test_the_fake_refuses_crossposts_as_discord_does(app: App, fake: FakeDiscord) -> None:
    with_news(fake)
    fake.deny_bot(NEWS_ID, MANAGE_MESSAGES)  # not needed for the bot's own messages
    async with serving(app, fake) as bot:
        await bot.send(Target("discord", str(NEWS_ID)), Reply.text("own post"))
        await bot.send(Target("discord", str(GENERAL_ID)), Reply.text("not an announcement"))
    (own,) = fake.channel_messages(NEWS_ID)
    assert own.crossposted
    user_post = await fake.post_user_message(NEWS_ID, ALICE_ID, "a moderator's post")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {fake.token}"}) as http:
        api = f"{fake.root}/api/v10/channels"
        again = await http.post(f"{api}/{NEWS_ID}/messages/{own.id}/crosspost")
        assert (again.status, (await again.json())["code"]) == (400, 40033)  # published once
        others = await http.post(f"{api}/{NEWS_ID}/messages/{user_post.id}/crosspost")
        assert (others.status, (await others.json())["code"]) == (403, 50013)  # Manage Messages
        (plain,) = fake.channel_messages(GENERAL_ID)
        text = await http.post(f"{api}/{GENERAL_ID}/messages/{plain.id}/crosspost")
        assert text.status == 400


async def test_the_hourly_crosspost_limit_is_waited_out_not_a_crash(
    app: App, discord_urls: None, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord(crosspost_limit=(2, 3600.0)) as fake:
        fake.add_user(OPERATOR_ID, "operator")
        fake.add_guild(GUILD_ID, "Deep Learning Weekly", channels=[(GENERAL_ID, "general")])
        with_news(fake)
        async with serving(app, fake) as bot:
            for number in (206, 207, 208):
                sent = await bot.send(Target("discord", str(NEWS_ID)), Reply.text(f"#{number}"))
                assert len(sent) == 1  # the third too: the post is sent, publishing waits
            limited = fake.requests_to("POST", rf"/channels/{NEWS_ID}/messages/\d+/crosspost")
            assert [r.status for r in limited] == [200, 200, 429]
            assert bot.pending_crossposts == 1  # tried again once the hour is over
            assert "rate limited for 3600 s" in caplog.text
            assert fake.dm_messages(OPERATOR_ID) == []  # nothing for the operators to fix
        assert bot.pending_crossposts == 0  # stopping drops the wait


async def test_a_short_crosspost_limit_is_sat_out_by_discord_py(
    app: App, discord_urls: None
) -> None:
    async with FakeDiscord(crosspost_limit=(1, 0.2)) as fake:
        fake.add_guild(GUILD_ID, "Deep Learning Weekly", channels=[(GENERAL_ID, "general")])
        with_news(fake)
        async with serving(app, fake) as bot:
            await bot.send(Target("discord", str(NEWS_ID)), Reply.text("#206"))
            await bot.send(Target("discord", str(NEWS_ID)), Reply.text("#207"))
            assert all(m.crossposted for m in fake.channel_messages(NEWS_ID))
            statuses = [
                r.status
                for r in fake.requests_to("POST", rf"/channels/{NEWS_ID}/messages/\d+/crosspost")
            ]
            assert statuses == [200, 429, 200]
            assert bot.pending_crossposts == 0


# ------------------------------------------------------------------------------- forum channels

FORUM_ID = 71384788765712392  # tags: Papers, Tools, Industry, Staff picks (moderated)
POST_ID = 71384788765712393  # a reader's post in that forum
STRICT_ID = 71384788765712394  # requires a tag; none matches a section
BARE_ID = 71384788765712395  # requires a tag and has none
MEDIA_ID = 71384788765712396  # a media channel, tagged like a forum
PAPERS, TOOLS, INDUSTRY, PICKS, MISC = (71384788765712500 + n for n in range(5))


@pytest.fixture
async def forum(discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_user(ALICE_ID, "alice")
        server.add_user(OPERATOR_ID, "operator")
        server.add_guild(
            GUILD_ID,
            "Deep Learning Weekly",
            channels=[(GENERAL_ID, "general")],
            threads=[(POST_ID, FORUM_ID, "what are you reading?")],
            members=[ALICE_ID, OPERATOR_ID],
        )
        tags: list[tuple[int, str] | tuple[int, str, bool]] = [
            (PAPERS, "Papers"),
            (TOOLS, "tools"),
            (INDUSTRY, "Industry"),
            (PICKS, "Staff picks", True),
        ]
        server.add_channel(GUILD_ID, FORUM_ID, "dlw-forum", type=CHANNEL_GUILD_FORUM, tags=tags)
        server.add_channel(
            GUILD_ID,
            STRICT_ID,
            "strict",
            type=CHANNEL_GUILD_FORUM,
            tags=[(MISC, "Weekly")],
            require_tag=True,
        )
        server.add_channel(GUILD_ID, BARE_ID, "bare", type=CHANNEL_GUILD_FORUM, require_tag=True)
        server.add_channel(GUILD_ID, MEDIA_ID, "media", type=CHANNEL_GUILD_MEDIA, tags=tags)
        yield server


def posts_in(fake: FakeDiscord, forum_id: int) -> list[ChannelRecord]:
    """The bot's posts in a forum (the readers' post left out)."""
    return [t for t in fake.threads_in(forum_id) if t.id != POST_ID]


async def test_weekly_in_a_forum_post_registers_the_forum(app: App, forum: FakeDiscord) -> None:
    async with serving(app, forum):
        record = await forum.wait_for_response(
            await forum.invoke_slash(
                "weekly", {"setting": "on"}, channel_id=POST_ID, permissions=ADMINISTRATOR
            )
        )
        assert "Done: every new issue" in text_of(answer_of(record))
        assert [(c.target, c.title) for c in await app.store.channels("discord")] == [
            (Target("discord", str(FORUM_ID)), "Deep Learning Weekly #dlw-forum")
        ]
    with pytest.raises(PermissionError, match="only in a post"):  # as in Discord's client
        await forum.invoke_slash("latest", channel_id=FORUM_ID)


async def test_a_weekly_post_in_a_forum_is_one_tagged_post(app: App, forum: FakeDiscord) -> None:
    post = long_post("Industry", "Libraries & Tools", "Papers & Publications")
    async with serving(app, forum) as bot:
        ids = await bot.send(Target("discord", str(FORUM_ID)), post)
    (thread,) = posts_in(forum, FORUM_ID)
    assert thread.name == "Deep Learning Weekly #206"
    assert thread.applied_tags == [INDUSTRY, TOOLS, PAPERS]  # in the sections' order
    messages = forum.channel_messages(thread.id)
    assert [str(m.id) for m in messages] == ids and len(ids) > 1
    assert messages[0].id == thread.id  # the post's opening message
    assert "This week in deep learning" in text_of(messages[0])
    assert forum.channel_messages(FORUM_ID) == []  # nothing outside the post

    # Another issue: another post; the media channel takes posts the same way.
    async with serving(app, forum) as bot:
        await bot.send(
            Target("discord", str(FORUM_ID)),
            Reply(title="Deep Learning Weekly: Issue #207", blocks=(Paragraph("Short"),)),
        )
        await bot.send(Target("discord", str(MEDIA_ID)), post)
    assert [t.name for t in posts_in(forum, FORUM_ID)] == [
        "Deep Learning Weekly #206",
        "Deep Learning Weekly #207",
    ]
    assert posts_in(forum, FORUM_ID)[1].applied_tags == []
    (media_post,) = forum.threads_in(MEDIA_ID)
    assert media_post.applied_tags == [INDUSTRY, TOOLS, PAPERS]


async def test_a_retry_continues_inside_the_same_post(app: App, forum: FakeDiscord) -> None:
    post = long_post("Industry", "Papers & Publications")
    forum.deny_bot(FORUM_ID, SEND_MESSAGES_IN_THREADS)  # the post opens, nothing goes inside
    async with serving(app, forum) as bot:
        with pytest.raises(TargetGone) as refused:
            await bot.send(Target("discord", str(FORUM_ID)), post)
        (thread,) = posts_in(forum, FORUM_ID)
        assert refused.value.sent == (str(thread.id),)
        forum.channels[FORUM_ID].bot_deny = 0
        rest = await bot.send(Target("discord", str(FORUM_ID)), post, skip=1)
    assert len(posts_in(forum, FORUM_ID)) == 1  # no second post
    assert [str(m.id) for m in forum.channel_messages(thread.id)] == [str(thread.id), *rest]


async def test_a_forum_that_requires_a_tag(app: App, forum: FakeDiscord) -> None:
    async with serving(app, forum) as bot:
        await bot.send(Target("discord", str(STRICT_ID)), long_post("Industry"))
        (thread,) = forum.threads_in(STRICT_ID)
        assert thread.applied_tags == [MISC]  # no match: its first tag, not a refusal
        with pytest.raises(PermanentError, match=r"40067.*tag is required"):
            await bot.send(Target("discord", str(BARE_ID)), long_post("Industry"))
    assert forum.threads_in(BARE_ID) == []


async def test_the_fake_refuses_forum_posts_as_discord_does(app: App, forum: FakeDiscord) -> None:
    async with serving(app, forum):
        pass
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {forum.token}"}) as http:
        api = f"{forum.root}/api/v10/channels/{FORUM_ID}"
        message = {"embeds": [{"description": "hello"}]}

        async def create(**body: Any) -> tuple[int, Any]:
            async with http.post(f"{api}/threads", json={"message": message, **body}) as response:
                return response.status, await response.json()

        status, error = await create(name="x", applied_tags=["123"])
        assert (status, error["code"]) == (400, 50035)
        assert "applied_tags" in error["errors"]
        status, error = await create(name="x", applied_tags=[str(PAPERS)] * 6)
        assert (status, error["code"]) == (400, 50035)
        status, error = await create(name="", applied_tags=[])
        assert (status, error["errors"]["name"]["_errors"][0]["code"]) == (
            400,
            "BASE_TYPE_MIN_LENGTH",
        )
        status, error = await create(name="x", applied_tags=[str(PICKS)])  # moderated
        assert (status, error["code"]) == (403, 50013)
        status, created = await create(name="fine", applied_tags=[str(PAPERS)])
        assert status == 201 and created["message"]["id"] == created["id"]
        async with http.post(f"{api}/messages", json=message) as response:
            assert (response.status, (await response.json())["code"]) == (400, 50008)
    forum.deny_bot(FORUM_ID, SEND_MESSAGES)
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bot {forum.token}"}) as http,
        http.post(
            f"{forum.root}/api/v10/channels/{FORUM_ID}/threads",
            json={"name": "x", "message": {"content": "hi"}},
        ) as response,
    ):
        assert (response.status, (await response.json())["code"]) == (403, 50013)


def test_tags_match_section_names_forgivingly() -> None:
    @dataclass(frozen=True)
    class Tag:
        name: str
        moderated: bool = False

    papers, tools, mobile, picks = Tag("paper"), Tag("Tools"), Tag("MOBILE"), Tag("Papers", True)
    code, extra = Tag("Code"), Tag("Learning")
    available = [papers, tools, mobile, picks, code, extra, Tag("Industry")]
    sections = [
        "Industry",
        "Mobile & Edge",
        "Learning",
        "Libraries & Code",
        "Papers & Publications",
    ]
    chosen = match_tags(available, sections)
    assert [t.name for t in chosen] == [
        "Industry",
        "MOBILE",
        "Learning",
        "Code",
        "paper",
    ]  # 5 at most
    assert match_tags(available, ["Tools & Libraries"]) == [tools]
    assert match_tags([picks], ["Papers & Publications"]) == []  # moderated: left alone
    assert match_tags([picks, tools], ["Nothing alike"], required=True) == [tools]
    assert match_tags([picks], ["Nothing alike"], required=True) == []


def test_thread_names() -> None:
    assert (
        thread_name(Reply(title="Deep Learning Weekly: Issue #430")) == "Deep Learning Weekly #430"
    )
    assert thread_name(Reply(title="A special edition")) == "A special edition"
    assert len(thread_name(Reply(title="word " * 50))) <= 100
    assert thread_name(Reply(blocks=(Paragraph("An untitled post"),))) == "An untitled post"


# ------------------------------------------------------------------------------- end to end


async def test_publishing_reaches_a_forum_and_an_announcement_channel(
    app: App, forum: FakeDiscord
) -> None:
    """The app's own dispatcher drains the outbox through the adapter: one tagged forum post,
    a published announcement, each row recorded with the ids Discord stored."""
    forum.add_channel(GUILD_ID, NEWS_ID, "dlw-news", type=CHANNEL_GUILD_ANNOUNCEMENT)
    for channel_id in (FORUM_ID, NEWS_ID):
        await app.store.register_channel(
            Target("discord", str(channel_id)), title=None, registered_by=str(OPERATOR_ID)
        )
    async with serving(app, forum) as bot:
        app.dispatch(bot, idle_poll=0.05, backoff=0.01)
        try:
            assert (await app.publisher.publish(206)).created
            await forum.wait_for(lambda: forum.dm_messages(OPERATOR_ID), timeout=10.0)

            async def settled() -> dict[str, tuple[str, list[str]]] | None:
                async with sqlite(app.store).reading() as db:
                    rows = await (
                        await db.execute(
                            "SELECT target, status, message_ids FROM outbox"
                            " WHERE issue_number = 206 AND kind = 'channel'"
                        )
                    ).fetchall()
                found = {r[0]: (r[1], json.loads(r[2] or "[]")) for r in rows}
                done = found and all(status == "sent" for status, _ in found.values())
                return found if done else None

            rows = await eventually(settled, "the channel rows to be sent")
        finally:
            await app.stop_publishing()
    (post,) = posts_in(forum, FORUM_ID)
    assert post.name == "Deep Learning Weekly #206"
    assert post.applied_tags == [INDUSTRY, PAPERS]  # "Industry", "Papers & Publications"
    assert rows[str(FORUM_ID)][1] == [str(m.id) for m in forum.channel_messages(post.id)]
    news = forum.channel_messages(NEWS_ID)
    assert rows[str(NEWS_ID)][1] == [str(m.id) for m in news]
    assert news and all(m.crossposted for m in news)
