"""The Discord adapter, driven as a user would drive it.

Every test runs the real, unmodified discord.py client inside :class:`DiscordAdapter` against
the loopback fake in ``tests/fakes/discord/`` (REST + websocket gateway): commands are
synced over HTTP, slash commands, autocomplete and button presses arrive as gateway
``INTERACTION_CREATE`` events, and the assertions look at what Discord would have received and
shown (payloads, flags, embeds, mentions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
import yaml
import yarl
from pydantic import SecretStr

from adapters.discord import (
    DiscordAdapter,
    DiscordSettings,
    MoreButton,
    command_set_hash,
    delivery_error,
    point_discord_at,
    render_embeds,
)
from bot.app import App
from bot.commands import (
    ISSUE_FOOTER,
    Command,
    Context,
    Param,
    ParamType,
    Permission,
)
from bot.delivery import PermanentError, RateLimited, TargetGone, TransientError
from bot.reply import Continuation, Paragraph, Reply
from bot.store import Subscription, SubscriptionKind, Target
from bot.views import digest_reply, issue_reply
from tests.fakes.discord import (
    ADMINISTRATOR,
    DEFAULT_MEMBER_PERMISSIONS,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    MESSAGE_FLAG_EPHEMERAL,
    PRIVILEGED_INTENTS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    FakeDiscord,
    InteractionRecord,
    MessageRecord,
)
from tests.fakes.discord_reading import (
    NO_PINGS,
    assert_within_limits,
    no_loop_errors,
    text_of,
    unescape,
)

GUILD_ID = 81384788765712384
GENERAL_ID = 81384788765712385
WEEKLY_ID = 81384788765712386
THREAD_ID = 81384788765712387
ALICE_ID = 80351110224678912
BOB_ID = 80351110224678913  # keeps his DMs closed
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture
async def fake(discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_user(ALICE_ID, "alice")
        server.add_user(BOB_ID, "bob", dms_open=False)
        server.add_guild(
            GUILD_ID,
            "Deep Learning Weekly",
            channels=[(GENERAL_ID, "general"), (WEEKLY_ID, "weekly")],
            threads=[(THREAD_ID, GENERAL_ID, "papers-discussion")],
            members=[ALICE_ID, BOB_ID],
        )
        yield server


def discord_settings(fake: FakeDiscord, **changes: Any) -> DiscordSettings:
    """``DLW_DISCORD_*`` as they would be configured for the fake's test guild."""
    values: dict[str, Any] = {"token": SecretStr(fake.token), "api_url": fake.root}
    return DiscordSettings(**(values | {"guild_id": GUILD_ID} | changes))


@contextlib.asynccontextmanager
async def serving(
    app: App, fake: FakeDiscord, settings: dict[str, Any] | None = None, **options: Any
) -> AsyncIterator[DiscordAdapter]:
    """A started adapter; on exit it is stopped and nothing may have leaked on the loop."""
    with no_loop_errors():
        adapter = DiscordAdapter(
            app.adapter_services, discord_settings(fake, **(settings or {})), **options
        )
        try:
            await adapter.start()
            yield adapter
        finally:
            await adapter.stop()


@pytest.fixture
async def bot(app: App, fake: FakeDiscord) -> AsyncIterator[DiscordAdapter]:
    async with serving(app, fake) as adapter:
        yield adapter


# ------------------------------------------------------------------------------- helpers


async def answered(
    fake: FakeDiscord, record: InteractionRecord, count: int = 1
) -> InteractionRecord:
    return await fake.wait_for_response(record, count)


def messages_of(record: InteractionRecord) -> list[MessageRecord]:
    """What the user sees: the response message, then each follow-up."""
    seen: list[MessageRecord] = []
    for message in [record.original, *record.followups]:
        if message is not None and not message.deleted and message not in seen:
            seen.append(message)
    return seen


def embed_titles(message: MessageRecord) -> list[str]:
    return [unescape(e["title"]) for e in message.embeds if e.get("title")]


def buttons(message: MessageRecord) -> list[dict[str, Any]]:
    return [c for row in message.components for c in row.get("components", [])]


def command(name: str, description: str, reply: Reply, *params: Param, **options: Any) -> Command:
    """A registry command answering ``reply`` (plus its arguments as a paragraph)."""

    async def handler(ctx: Context, **args: Any) -> Reply:
        shown = ", ".join(f"{k}={v}" for k, v in args.items() if v is not None)
        return reply.with_blocks([*reply.blocks, Paragraph(shown)]) if shown else reply

    return Command(name, description, f"{description}.", handler, params, **options)


class LogWaiter(logging.Handler):
    """Wakes a test when a matching log record arrives (no sleeping on guesses)."""

    def __init__(self, pattern: str) -> None:
        super().__init__(logging.DEBUG)
        self.pattern = re.compile(pattern)
        self.records: list[logging.LogRecord] = []
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.pattern.search(record.getMessage()):
            self.seen.set()


@contextlib.contextmanager
def watching_logs(pattern: str) -> Iterator[LogWaiter]:
    waiter = LogWaiter(pattern)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(waiter)
    root.setLevel(logging.DEBUG)
    try:
        yield waiter
    finally:
        root.removeHandler(waiter)
        root.setLevel(old_level)


# ------------------------------------------------------------------------------- gateway


async def test_identifies_with_the_guilds_intent_only(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    session = fake.sessions[0]
    assert session.intents == INTENT_GUILDS
    assert not session.intents & PRIVILEGED_INTENTS
    assert not session.intents & INTENT_MESSAGE_CONTENT
    assert session.connected
    # start() returned on READY, without waiting for on_ready's 2-second guild timeout.
    assert bot.client is not None
    assert not bot.client.is_ready()
    record = await answered(fake, await fake.invoke_slash("help"))
    assert record.response_type == 4


async def test_stop_is_clean_and_idempotent(fake: FakeDiscord, app: App) -> None:
    async with serving(app, fake) as adapter:
        await adapter.stop()
        await adapter.stop()
        assert adapter.client is None
        await fake.wait_for(lambda: not fake.sessions[0].connected)
        assert len(fake.gateway_connections) == 1  # closed for good: no reconnect
        with pytest.raises(TransientError):
            await adapter.send(Target("discord", str(GENERAL_ID)), Reply.text("hi"))


async def test_a_bad_token_fails_start_cleanly(app: App, fake: FakeDiscord) -> None:
    with no_loop_errors():
        wrong = discord_settings(fake, token=SecretStr("not-the-token"))
        adapter = DiscordAdapter(app.adapter_services, wrong)
        with pytest.raises(discord.LoginFailure):
            await adapter.start()
        assert adapter.client is None  # start() cleaned up after itself
    assert fake.requests[-1].status == 401
    assert not fake.gateway_connections


def test_point_discord_at_sets_rest_and_gateway(discord_urls: None) -> None:
    base = discord.http.Route.BASE
    point_discord_at(None)
    assert base == discord.http.Route.BASE  # unset: Discord itself
    point_discord_at("http://127.0.0.1:8090/")
    assert discord.http.Route.BASE == "http://127.0.0.1:8090/api/v10"
    assert yarl.URL("ws://127.0.0.1:8090/") == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    point_discord_at("https://gateway.example.org/discord")
    assert discord.http.Route.BASE == "https://gateway.example.org/discord/api/v10"
    assert (
        yarl.URL("wss://gateway.example.org/discord/")
        == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    )
    with pytest.raises(ValueError, match="http"):
        point_discord_at("ftp://example.org")


# ------------------------------------------------------------------------------- commands


async def test_slash_commands_are_generated_from_the_registry(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    (sync,) = fake.command_syncs
    sent = {c["name"]: c for c in sync.payload}
    assert set(sent) == set(app.registry.commands)
    for name, declared in app.registry.commands.items():
        assert sent[name]["description"] == declared.description
        assert [o["name"] for o in sent[name]["options"]] == [p.name for p in declared.params]

    section = {o["name"]: o for o in sent["section"]["options"]}
    assert section["name"]["type"] == 3  # string
    assert section["name"]["required"] is True
    assert section["name"]["autocomplete"] is True
    assert section["name"]["max_length"] == 80
    assert section["number"]["type"] == 4  # integer
    assert section["number"]["required"] is False
    assert (section["number"]["min_value"], section["number"]["max_value"]) == (1, 99_999)
    assert sent["subscribe"]["options"][0]["autocomplete"] is True
    assert sent["unsubscribe"]["options"][0]["autocomplete"] is True
    assert sent["search"]["options"][0].get("autocomplete") is None

    weekly = sent["weekly"]
    assert weekly["options"][0]["choices"] == [
        {"name": "on", "value": "on"},
        {"name": "off", "value": "off"},
    ]
    assert int(weekly["default_member_permissions"]) == MANAGE_GUILD
    assert weekly["contexts"] == [0]  # guilds only
    assert weekly["integration_types"] == [0]  # guild install only
    assert weekly["dm_permission"] is False
    assert sent["latest"]["contexts"] == [0, 1, 2]  # guilds, DMs with the bot, other DMs
    assert sent["latest"]["integration_types"] == [0, 1]  # guild and user install
    assert sent["latest"]["default_member_permissions"] is None
    assert {c["name"] for c in fake.registered_commands(GUILD_ID)} == set(sent)


async def test_commands_sync_only_when_they_change(app: App, fake: FakeDiscord) -> None:
    async with serving(app, fake):
        pass
    assert fake.sync_count(GUILD_ID) == 1
    key = f"discord.commands.{fake.application_id}.guild:{GUILD_ID}"
    digest = await app.store.get_meta(key)
    assert digest == command_set_hash(fake.command_syncs[0].payload)

    async with serving(app, fake):  # a restart with the same commands: no PUT
        pass
    assert fake.sync_count(GUILD_ID) == 1
    assert len(fake.requests_to("PUT", r"/applications/\d+/guilds/\d+/commands")) == 1

    # A new command in the registry: no adapter change, one more sync, usable at once.
    app.registry.add(
        command(
            "echo",
            "Say it back",
            Reply.text("Echo"),
            Param("text", "What to say.", max_length=50),
            Param(
                "times", "How often.", ParamType.INTEGER, required=False, min_value=1, max_value=3
            ),
        )
    )
    app.registry.add(
        command(
            "reload",
            "Reload content (operators)",
            Reply.text("Reloaded"),
            permission=Permission.OPERATOR,
        )
    )
    async with serving(app, fake):
        assert fake.sync_count(GUILD_ID) == 2
        assert await app.store.get_meta(key) != digest
        payload = {c["name"]: c for c in fake.command_syncs[-1].payload}
        assert [
            (o["name"], o["type"], o.get("max_length"), o.get("max_value"))
            for o in payload["echo"]["options"]
        ] == [
            ("text", 3, 50, None),
            ("times", 4, None, 3),
        ]
        assert int(payload["reload"]["default_member_permissions"]) == ADMINISTRATOR
        assert payload["reload"]["contexts"] == [0]  # never offered in DMs

        echo = await answered(fake, await fake.invoke_slash("echo", {"text": "hello", "times": 2}))
        assert "text=hello, times=2" in text_of(*messages_of(echo))
        # Discord shows /reload to server administrators; the registry still checks DLW_ADMINS.
        reload = await answered(
            fake, await fake.invoke_slash("reload", user_id=ALICE_ID, permissions=ADMINISTRATOR)
        )
        assert "is for the bot's operators" in text_of(*messages_of(reload))
        assert reload.original is not None and reload.original.ephemeral


async def test_a_failed_sync_is_retried_at_the_next_start(app: App, fake: FakeDiscord) -> None:
    fake.fail_next("PUT", r"/applications/\d+/guilds/\d+/commands", status=503)
    async with serving(app, fake):  # the bot still starts and serves what Discord already has
        pass
    assert fake.sync_count(GUILD_ID) == 0
    key = f"discord.commands.{fake.application_id}.guild:{GUILD_ID}"
    assert await app.store.get_meta(key) is None
    async with serving(app, fake):
        pass
    assert fake.sync_count(GUILD_ID) == 1
    assert await app.store.get_meta(key) is not None


async def test_global_sync_serves_direct_messages(app: App, fake: FakeDiscord) -> None:
    async with serving(app, fake, {"guild_id": None}):
        assert fake.sync_count(None) == 1
        assert fake.sync_count(GUILD_ID) == 0
        assert await app.store.get_meta(f"discord.commands.{fake.application_id}.global")

        start = await answered(fake, await fake.invoke_slash("start", in_dm=True, user_id=ALICE_ID))
        (message,) = fake.dm_messages(ALICE_ID)
        assert message is start.original
        assert "Welcome to Deep Learning Weekly" in text_of(message)

        sub = await answered(
            fake,
            await fake.invoke_slash("subscribe", {"topic": "jax"}, in_dm=True, user_id=ALICE_ID),
        )
        assert "Following the topic" in text_of(*messages_of(sub))
        # A DM is the reader's private chat, keyed by their user id.
        assert await app.store.subscriptions("discord", str(ALICE_ID)) == [
            Subscription(SubscriptionKind.TOPIC, "jax")
        ]
        with pytest.raises(PermissionError, match="not available in bot DMs"):
            await fake.invoke_slash("weekly", {"setting": "on"}, in_dm=True, user_id=ALICE_ID)


async def test_section_papers_lists_the_papers(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    record = await answered(fake, await fake.invoke_slash("section", {"name": "papers"}))
    assert record.response_type == 4
    assert record.acknowledged  # the fake refuses a callback after Discord's 3 s window
    (message,) = messages_of(record)
    assert not message.ephemeral
    assert_within_limits(message)
    assert embed_titles(message) == ["Papers & Publications — Issue #206"]
    text = text_of(message)
    for title in (
        "Descending through a Crowded Valley -- Benchmarking Deep Learning Optimizers",
        "Reward is enough",
        "Thinking Like Transformers",
    ):
        assert f"**{title}**" in text
    assert "Adam remains a strong contender" in text  # /section shows abstracts in full

    older = await answered(
        fake, await fake.invoke_slash("section", {"name": "mobile", "number": 202})
    )
    assert embed_titles(messages_of(older)[0])[0].endswith("Issue #202")


async def test_the_other_commands_answer_in_a_channel(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    async def run(name: str, options: dict[str, Any] | None = None) -> tuple[MessageRecord, str]:
        record = await answered(fake, await fake.invoke_slash(name, options, channel_id=WEEKLY_ID))
        (message,) = messages_of(record)
        assert_within_limits(message)
        assert not message.ephemeral
        return message, text_of(message)

    _, start = await run("start")
    assert "Welcome to Deep Learning Weekly" in start
    assert "Latest: Issue #206 — General AI" in start
    _, listing = await run("help")
    assert "/section NAME [NUMBER]" in listing
    assert "/weekly [on|off] [preview|nopreview]" in listing
    _, one = await run("help", {"command": "search"})
    assert "Usage: /search QUERY" in one
    issues, archive = await run("issues")
    assert embed_titles(issues) == ["The archive: 2 issues"]
    assert archive.index("Issue #206") < archive.index("Issue #202")
    _, topics = await run("topics")
    assert "PyTorch" in topics and "/subscribe pytorch" in topics
    old, older = await run("issue", {"number": 202})
    assert embed_titles(old)[0] == "Deep Learning Weekly: Issue #202"
    assert "Papers & Publications" in older


async def test_option_bounds_are_checked_again_by_the_registry(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    # Discord's client enforces min/max and max_length before sending; a modified client or a
    # stale command payload does not, so the registry's own validation still answers.
    record = await answered(fake, await fake.invoke_slash("issue", {"number": 123_456}))
    assert record.original is not None and record.original.ephemeral
    assert "Number must be at most 99999." in text_of(record.original)
    missing = await answered(fake, await fake.invoke_slash("issue", {"number": 150}))
    assert "There's no issue #150 in the archive" in text_of(*messages_of(missing))


async def test_latest_fits_discords_limits(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    record = await answered(fake, await fake.invoke_slash("latest"))
    (message,) = messages_of(record)  # issue #206 fits one message of embeds
    assert_within_limits(message)
    assert embed_titles(message) == [
        "Deep Learning Weekly: Issue #206",
        "Industry",
        "Mobile & Edge",
        "Learning",
        "Libraries & Code",
        "Papers & Publications",
    ]
    assert message.embeds[-1]["footer"]["text"] == ISSUE_FOOTER
    assert "DeepMind says reinforcement learning is ‘enough’ to reach general AI" in text_of(
        message
    )


def _write_long_issue(content_dir: Path) -> list[str]:
    """Issue #207: six sections of eight linked stories, far beyond one message."""
    titles: list[str] = []
    sections = []
    for s in range(6):
        items = []
        for i in range(8):
            title = f"Story {s}.{i}: *bold* claims about [models] & <tags> @everyone"
            titles.append(title)
            items.append(
                {
                    "title": title,
                    "url": f"https://example.org/{s}/{i}?q=(x)",
                    "summary": " ".join(["A long summary sentence about deep learning."] * 12),
                }
            )
        sections.append({"name": f"Section {s}", "items": items})
    issue = {
        "number": 207,
        "title": "Deep Learning Weekly: Issue #207",
        "subtitle": "A very long issue",
        "intro": "Hello.",
        "sections": sections,
    }
    (content_dir / "issues" / "0207.yaml").write_text(yaml.safe_dump(issue, sort_keys=False))
    return titles


async def test_a_long_issue_is_split_across_followups(
    app: App, content_dir: Path, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    titles = _write_long_issue(content_dir)
    outcome = await app.archive.reload()
    assert outcome.added == (207,), outcome.errors

    latest = app.archive.archive.latest()
    assert latest is not None and latest.number == 207
    expected = len(render_embeds(issue_reply(latest, footer=ISSUE_FOOTER)))
    assert expected >= 3
    first = await answered(fake, await fake.invoke_slash("latest"), count=expected)
    messages = messages_of(first)
    assert len(messages) == expected
    assert [e.kind for e in first.events] == ["callback"] + ["followup"] * (len(messages) - 1)
    for message in messages:
        assert_within_limits(message)
        assert not message.ephemeral
    assert embed_titles(messages[0])[0] == "Deep Learning Weekly: Issue #207"
    assert messages[-1].embeds[-1]["footer"]["text"] == ISSUE_FOOTER
    text = text_of(*messages)
    positions = [text.index(f"[{t}](https://example.org/") for t in titles]
    assert positions == sorted(positions)  # every story once, in order, never torn
    assert all(text.count(t) == 1 for t in titles)
    # Every embed is a whole section or a part of one; a section title never ends a message.
    for message in messages:
        last = message.embeds[-1]
        assert last.get("description"), "a heading was left alone at the end of a message"


async def test_search_with_hostile_text_never_pings(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    hostile = "@everyone <b>x</b> **y**"
    record = await answered(fake, await fake.invoke_slash("search", {"query": hostile}))
    (message,) = messages_of(record)
    assert_within_limits(message)
    assert record.response is not None and record.response.data is not None
    assert record.response.data["allowed_mentions"] == NO_PINGS
    description = message.embeds[0]["description"]
    assert "@\u200beveryone" in description  # escape_mentions
    assert r"\*\*y\*\*" in description  # no bold
    assert r"\<b>x\</b>" in description
    assert "Nothing in the 2 issues of the archive matches" in text_of(message)
    assert message.ephemeral  # an error only the asker sees

    pinging = f"<@{ALICE_ID}> learning @here"
    found = await answered(fake, await fake.invoke_slash("search", {"query": pinging}))
    for shown in messages_of(found):
        assert_within_limits(shown)
        assert f"<@{ALICE_ID}>" not in "".join(e.get("description", "") for e in shown.embeds)


async def test_subscription_replies_are_ephemeral(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    sub = await answered(
        fake, await fake.invoke_slash("subscribe", {"topic": "pytorch"}, user_id=ALICE_ID)
    )
    assert sub.response is not None and sub.response.data is not None
    assert sub.response.data["flags"] & MESSAGE_FLAG_EPHEMERAL
    assert sub.original is not None and sub.original.ephemeral
    assert "Following the topic PyTorch (pytorch)" in text_of(sub.original)
    assert await app.store.subscriptions("discord", str(ALICE_ID)) == [
        Subscription(SubscriptionKind.TOPIC, "pytorch")
    ]

    listing = await answered(fake, await fake.invoke_slash("subscriptions", user_id=ALICE_ID))
    assert listing.original is not None and listing.original.ephemeral
    assert "PyTorch (pytorch)" in text_of(listing.original)

    unsub = await answered(
        fake, await fake.invoke_slash("unsubscribe", {"topic": "pytorch"}, user_id=ALICE_ID)
    )
    assert unsub.original is not None and unsub.original.ephemeral
    assert "Stopped following PyTorch (pytorch)" in text_of(unsub.original)
    assert await app.store.subscriptions("discord", str(ALICE_ID)) == []
    # Public commands stay public.
    latest = await answered(fake, await fake.invoke_slash("issues"))
    assert latest.original is not None and not latest.original.ephemeral


async def test_autocomplete_offers_sections_topics_and_subscriptions(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    async def choices(name: str, option: str, typed: str) -> list[tuple[str, str]]:
        record = await answered(
            fake,
            await fake.invoke_autocomplete(name, {option: typed}, focused=option, user_id=ALICE_ID),
        )
        assert record.response_type == 8
        assert record.response is not None and record.response.data is not None
        return [(c["name"], c["value"]) for c in record.response.data["choices"]]

    assert await choices("section", "name", "pap") == [("Papers & Publications", "papers")]
    assert [v for _, v in await choices("section", "name", "")] == [
        "industry",
        "mobile",
        "learning",
        "libraries",
        "papers",
    ]
    assert ("PyTorch (pytorch)", "pytorch") in await choices("subscribe", "topic", "tor")
    await answered(
        fake, await fake.invoke_slash("subscribe", {"topic": "jax, diffusion"}, user_id=ALICE_ID)
    )
    mine = await choices("unsubscribe", "topic", "")
    assert [v for _, v in mine] == ["jax", "generative-models", "all"]  # diffusion is a topic


# ------------------------------------------------------------------------------- /weekly


async def test_weekly_needs_manage_server(app: App, fake: FakeDiscord, bot: DiscordAdapter) -> None:
    # Discord itself hides /weekly from members without Manage Server (default permissions).
    with pytest.raises(PermissionError, match="requires permissions 32"):
        await fake.invoke_slash("weekly", {"setting": "on"}, user_id=ALICE_ID)

    # A server may re-grant the command to everyone in its Integrations settings (the fake does
    # not model per-guild command permissions, so lift the default on its registered copy):
    # then the run-time check refuses.
    for registered in fake.commands[GUILD_ID]:
        if registered["name"] == "weekly":
            registered["default_member_permissions"] = None
    refused = await answered(
        fake, await fake.invoke_slash("weekly", {"setting": "on"}, user_id=ALICE_ID)
    )
    assert refused.original is not None and refused.original.ephemeral
    assert "Only administrators of this chat can use /weekly." in text_of(refused.original)
    assert await app.store.channels("discord") == []

    accepted = await answered(
        fake,
        await fake.invoke_slash(
            "weekly",
            {"setting": "on"},
            user_id=ALICE_ID,
            permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD,
        ),
    )
    assert accepted.original is not None and not accepted.original.ephemeral
    assert "every new issue of Deep Learning Weekly will be posted in this chat" in text_of(
        accepted.original
    )
    # Manage Channels is enough at run time, too.
    moderator = await answered(
        fake,
        await fake.invoke_slash(
            "weekly",
            {"setting": "on"},
            channel_id=WEEKLY_ID,
            user_id=BOB_ID,
            permissions=DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS,
        ),
    )
    assert "Done" in text_of(moderator.original)  # type: ignore[arg-type]
    channels = await app.store.channels("discord")
    assert [c.target for c in channels] == [
        Target("discord", str(GENERAL_ID)),
        Target("discord", str(WEEKLY_ID)),
    ]
    assert channels[0].registered_by == str(ALICE_ID)
    assert channels[0].title == "Deep Learning Weekly #general"


async def test_weekly_in_a_thread_registers_that_thread(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    admin = DEFAULT_MEMBER_PERMISSIONS | MANAGE_GUILD
    for channel in (GENERAL_ID, THREAD_ID):
        await answered(
            fake,
            await fake.invoke_slash(
                "weekly", {"setting": "on"}, channel_id=channel, permissions=admin
            ),
        )
    assert [c.target for c in await app.store.channels("discord")] == [
        Target("discord", str(GENERAL_ID)),
        Target("discord", str(THREAD_ID)),  # the thread is its own destination
    ]
    off = await answered(
        fake,
        await fake.invoke_slash(
            "weekly", {"setting": "off"}, channel_id=THREAD_ID, permissions=admin
        ),
    )
    assert "will no longer get the weekly post" in text_of(*messages_of(off))
    assert [c.target for c in await app.store.channels("discord")] == [
        Target("discord", str(GENERAL_ID))
    ]


# ------------------------------------------------------------------------------- More button


async def test_more_button_round_trip(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    first = await answered(fake, await fake.invoke_slash("search", {"query": "learning"}))
    (message,) = messages_of(first)
    assert "Results 1–8, more available" in text_of(message)
    (button,) = buttons(message)
    assert button["label"] == "More"
    assert button["custom_id"] == "dlw:more:2:/search learning"

    press = await answered(fake, await fake.press_component(message, button["custom_id"]), count=2)
    assert [e.kind for e in press.events] == ["callback", "followup"]
    assert press.response_type == 7  # the button is taken off the first page...
    assert message.components == []
    (page,) = press.followups  # ...and the next page is posted below it
    assert_within_limits(page)
    assert "Results 9–" in text_of(page)
    assert not page.ephemeral
    assert text_of(page).split("Results 9–")[1][:20] != text_of(message)[:20]


async def test_long_commands_page_through_the_store(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    command = "/search " + " ".join(["learning"] * 12)  # > 100 characters with the prefix
    reply = Reply(title="Search", blocks=(Paragraph("page one"),), more=Continuation(command, 2))
    (message_id,) = await bot.send(Target("discord", str(GENERAL_ID)), reply)
    (message,) = fake.channel_messages(GENERAL_ID)
    assert str(message.id) == message_id
    (button,) = buttons(message)
    assert len(button["custom_id"]) <= 100
    key = button["custom_id"].removeprefix("dlw:more:key:")
    assert await app.store.load_continuation(key) == (command, 2)

    press = await answered(
        fake, await fake.press_component(message, button["custom_id"], user_id=ALICE_ID), count=2
    )
    (page,) = press.followups
    assert "Results 9–" in text_of(page)


async def test_a_stale_command_gets_an_apology(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    # Discord still lists a command this bot no longer has (e.g. a sync that has not landed).
    stale = dict(fake.commands[GUILD_ID][0], name="retired", id="1234567890123456789")
    fake.commands[GUILD_ID].append(stale)
    record = await answered(fake, await fake.invoke_slash("retired"))
    assert record.original is not None and record.original.ephemeral
    assert "This command has just changed" in text_of(record.original)


# ------------------------------------------------------------------------------- answering late


async def test_slow_commands_are_deferred(app: App, fake: FakeDiscord) -> None:
    release = asyncio.Event()

    async def slow(ctx: Context) -> Reply:
        await release.wait()
        return Reply.text("finally public")

    async def slow_secret(ctx: Context) -> Reply:
        await release.wait()
        return Reply.text("finally private", ephemeral=True)

    app.registry.add(Command("slow", "Takes its time", "Slow.", slow))
    app.registry.add(Command("slowsecret", "Takes its time, privately", "Slow.", slow_secret))
    async with serving(app, fake, answer_budget=0.05):
        public = await fake.invoke_slash("slow")
        private = await fake.invoke_slash("slowsecret")
        await fake.wait_for(lambda: public.response_type == 5 and private.response_type == 5)
        assert public.acknowledged  # within Discord's 3 s window, or the fake refuses it
        release.set()
        await answered(fake, public, count=2)
        await answered(fake, private, count=3)

    assert [e.kind for e in public.events] == ["callback", "edit_original"]
    assert public.original is not None and not public.original.ephemeral
    assert "finally public" in text_of(public.original)
    assert public.original.allowed_mentions == NO_PINGS

    # Deferred publicly, answered privately: the placeholder goes, the answer is ephemeral.
    assert [e.kind for e in private.events] == ["callback", "delete_original", "followup"]
    (answer,) = private.followups
    assert answer.ephemeral
    assert "finally private" in text_of(answer)
    assert private.original is not None and private.original.deleted


async def test_a_failed_reply_is_logged_without_the_token(
    fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    fake.fail_next(
        "POST",
        r"/interactions/\d+/[^/]+/callback",
        status=400,
        code=50035,
        message="Invalid Form Body",
    )
    with watching_logs(r"could not answer /help") as logs:
        record = await fake.invoke_slash("help")
        await asyncio.wait_for(logs.seen.wait(), timeout=5)
    assert [r.status for r in fake.requests_to("POST", r"/interactions/.+/callback")] == [400]
    (failure,) = [r for r in logs.records if "could not answer /help" in r.getMessage()]
    assert failure.levelno == logging.WARNING
    assert "50035" in failure.getMessage()
    assert all(record.token not in r.getMessage() for r in logs.records)
    assert all(fake.token not in r.getMessage() for r in logs.records)


# ------------------------------------------------------------------------------- send()


async def test_send_to_a_channel_a_thread_and_a_dm(
    app: App, fake: FakeDiscord, bot: DiscordAdapter
) -> None:
    latest = app.archive.archive.latest()
    assert latest is not None
    ids = await bot.send(
        Target("discord", str(WEEKLY_ID)), issue_reply(latest, footer=ISSUE_FOOTER)
    )
    posted = fake.channel_messages(WEEKLY_ID)
    assert [str(m.id) for m in posted] == ids
    for message in posted:
        assert_within_limits(message)
    assert embed_titles(posted[0])[0] == "Deep Learning Weekly: Issue #206"

    (thread_id,) = await bot.send(Target("discord", str(THREAD_ID)), Reply.text("In the thread"))
    assert [str(m.id) for m in fake.channel_messages(THREAD_ID)] == [thread_id]

    story = next(iter(app.archive.archive.stories_for_topic("pytorch")))
    digest = digest_reply(latest, [(story, "pytorch")])
    dm_ids = await bot.send(Target.user("discord", str(ALICE_ID)), digest)
    dms = fake.dm_messages(ALICE_ID)
    assert [str(m.id) for m in dms] == dm_ids
    assert_within_limits(dms[0])
    assert "your topics" in text_of(dms[0])
    # The channels' kinds came from the gateway's cache (GUILDS intent): nothing was fetched.
    assert not fake.requests_to("GET", r"/channels/\d+")


async def test_send_errors_mean_something(fake: FakeDiscord, bot: DiscordAdapter) -> None:
    hello = Reply.text("hello")
    with pytest.raises(TargetGone, match="DMs closed"):
        await bot.send(Target.user("discord", str(BOB_ID)), hello)

    fake.deny_bot(WEEKLY_ID, SEND_MESSAGES)
    with pytest.raises(TargetGone, match="missing permissions"):
        await bot.send(Target("discord", str(WEEKLY_ID)), hello)
    fake.deny_bot(WEEKLY_ID, VIEW_CHANNEL)
    with pytest.raises(TargetGone, match="missing access"):
        await bot.send(Target("discord", str(WEEKLY_ID)), hello)
    fake.remove_channel(WEEKLY_ID)
    with pytest.raises(TargetGone, match="unknown channel"):
        await bot.send(Target("discord", str(WEEKLY_ID)), hello)

    general = Target("discord", str(GENERAL_ID))
    fake.fail_next("POST", r"/channels/\d+/messages", status=503)
    with pytest.raises(TransientError, match="503"):
        await bot.send(general, hello)
    fake.fail_next(
        "POST", r"/channels/\d+/messages", status=400, code=50035, message="Invalid Form Body"
    )
    with pytest.raises(PermanentError, match="50035"):
        await bot.send(general, hello)
    fake.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=120)
    with pytest.raises(RateLimited) as limited:
        await bot.send(general, hello)
    assert limited.value.retry_after == 120
    fake.fail_next("POST", r"/channels/\d+/messages", status=429, via=False)  # Cloudflare
    with pytest.raises(RateLimited):
        await bot.send(general, hello)
    fake.fail_next(
        "POST",
        rf"/channels/{THREAD_ID}/messages",
        status=400,
        code=50083,
        message="Thread is archived",
    )
    with pytest.raises(TargetGone, match="thread archived"):
        await bot.send(Target("discord", str(THREAD_ID)), hello)
    with pytest.raises(PermanentError):
        await bot.send(Target("discord", "not-a-snowflake"), hello)
    assert await bot.send(general, hello)  # and the channel still works


def test_network_failures_are_transient() -> None:
    import aiohttp

    assert isinstance(delivery_error(aiohttp.ClientConnectionError("reset")), TransientError)
    assert isinstance(delivery_error(TimeoutError()), TransientError)
    assert isinstance(delivery_error(ConnectionResetError()), TransientError)
    assert delivery_error(KeyError("a bug")) is None  # bugs are re-raised, not hidden


def test_more_button_custom_ids() -> None:
    assert MoreButton.inline_custom_id(Continuation("/issues", 3)) == "dlw:more:3:/issues"
    assert MoreButton.inline_custom_id(Continuation("/search " + "x" * 100, 2)) is None
    pattern = MoreButton.__discord_ui_compiled_template__
    assert pattern.fullmatch("dlw:more:2:/search a b")
    assert pattern.fullmatch(MoreButton.key_custom_id("AbC_-9"))
    assert not pattern.fullmatch("dlw:more:x:/search")
