"""The fake Discord in tests/fakes/discord/ drives the *real* discord.py client.

Every test here runs an unmodified ``discord.Client`` + ``app_commands.CommandTree``
against the fake over loopback HTTP and websocket, so a passing test means discord.py
itself accepted the fake's wire format (gateway frames, REST JSON, headers, errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands

from tests.fakes.discord import (
    INTENT_MESSAGE_CONTENT,
    MESSAGE_FLAG_EPHEMERAL,
    PRIVILEGED_INTENTS,
    FakeDiscord,
    InteractionRecord,
)

GUILD_ID = 81384788765712384
GENERAL_ID = 81384788765712385
WEEKLY_ID = 81384788765712386
THREAD_ID = 81384788765712387
ALICE_ID = 80351110224678912
BOB_ID = 80351110224678913  # keeps his DMs closed
LATE_DELAY = 0.3


@contextlib.contextmanager
def point_discord_at(fake: FakeDiscord) -> Iterator[None]:
    """Aim discord.py's REST base and gateway at the fake, restoring both afterwards.

    This is exactly how production code is pointed elsewhere: both class attributes
    are read at request/connect time, so no client internals are patched.
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.root + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def default_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = False
    return intents


class Counter(discord.ui.View):
    """A one-button view: each press edits the message (callback type 7)."""

    def __init__(self) -> None:
        super().__init__(timeout=60)
        self.count = 0

    @discord.ui.button(label="+1", custom_id="counter:inc", style=discord.ButtonStyle.primary)
    async def increment(
        self, interaction: discord.Interaction, button: discord.ui.Button[Counter]
    ) -> None:
        self.count += 1
        await interaction.response.edit_message(content=f"count={self.count}", view=self)


class Feedback(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback:text"
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


@dataclass
class Bot:
    client: discord.Client
    tree: app_commands.CommandTree[discord.Client]
    task: asyncio.Task[None] | None = None
    synced: list[app_commands.AppCommand] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    errored: asyncio.Event = field(default_factory=asyncio.Event)
    seen_messages: list[discord.Message] = field(default_factory=list)
    message_seen: asyncio.Event = field(default_factory=asyncio.Event)


def build_bot(intents: discord.Intents) -> Bot:
    client = discord.Client(intents=intents)
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    bot = Bot(client, tree)

    @tree.command(name="ping", description="Check that the bot is alive")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    async def complete_text(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        words = ("hello", "help", "world")
        return [app_commands.Choice(name=w, value=w) for w in words if w.startswith(current)]

    @tree.command(name="echo", description="Repeat text back")
    @app_commands.describe(text="What to repeat", private="Only you can see the answer")
    @app_commands.autocomplete(text=complete_text)
    async def echo(interaction: discord.Interaction, text: str, private: bool = False) -> None:
        await interaction.response.send_message(
            text, ephemeral=private, allowed_mentions=discord.AllowedMentions.none()
        )

    @tree.command(name="slow", description="Defer, then follow up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("first")
        await interaction.followup.send("second")

    @tree.command(name="counter", description="A message with a button")
    async def counter(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("count=0", view=Counter())

    @tree.command(name="greet", description="Greets a member in a channel")
    async def greet(
        interaction: discord.Interaction, who: discord.Member, where: discord.TextChannel
    ) -> None:
        await interaction.response.defer(ephemeral=True)
        await where.send(f"Welcome {who.mention}!")
        await interaction.edit_original_response(content=f"greeted {who.display_name}")

    @tree.command(name="feedback", description="Opens a modal")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback())

    @client.event
    async def on_message(message: discord.Message) -> None:
        bot.seen_messages.append(message)
        bot.message_seen.set()

    @tree.command(name="late", description="Answers after the 3-second window")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(LATE_DELAY)
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            bot.errors.append(exc)
            bot.errored.set()

    return bot


async def start_bot(fake: FakeDiscord, bot: Bot) -> None:
    await bot.client.login(fake.token)
    # connect() rather than start()/run(): no signal handlers, the test owns the loop.
    bot.task = asyncio.create_task(bot.client.connect())
    await fake.wait_until_identified()


async def stop_bot(bot: Bot) -> None:
    await bot.client.close()
    if bot.task is not None:
        await asyncio.wait_for(bot.task, timeout=5)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_user(ALICE_ID, "alice")
        server.add_user(BOB_ID, "bob", dms_open=False)
        server.add_guild(
            GUILD_ID,
            "Deep Learning Weekly",
            channels=[(GENERAL_ID, "general"), (WEEKLY_ID, "weekly")],
            threads=[(THREAD_ID, GENERAL_ID)],
            members=[ALICE_ID, BOB_ID],
        )
        with point_discord_at(server):
            yield server


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    """A logged-in, connected client whose commands are synced to the test guild."""
    loop = asyncio.get_running_loop()
    loop_errors: list[str] = []  # e.g. aiohttp's "Unclosed client session"
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(str(context)))
    running = build_bot(default_intents())
    await start_bot(fake, running)
    # The usual development setup: global commands copied to one guild and synced there.
    running.tree.copy_global_to(guild=discord.Object(GUILD_ID))
    running.synced = await running.tree.sync(guild=discord.Object(GUILD_ID))
    try:
        yield running
    finally:
        await stop_bot(running)
        gc.collect()
        loop.set_exception_handler(previous_handler)
        assert not loop_errors, loop_errors


async def answered(
    fake: FakeDiscord, record: InteractionRecord, count: int = 1
) -> InteractionRecord:
    """Wait until the bot did ``count`` things about ``record`` (callback, followups...)."""
    return await fake.wait_for_response(record, count)


# ------------------------------------------------------------------------ gateway


@pytest.mark.asyncio
async def test_client_identifies_without_privileged_intents(fake: FakeDiscord, bot: Bot) -> None:
    session = fake.sessions[0]
    assert session.intents == default_intents().value
    assert not session.intents & INTENT_MESSAGE_CONTENT
    assert not session.intents & PRIVILEGED_INTENTS
    assert session.identify["token"] == fake.token
    assert session.identify["properties"]["browser"] == "discord.py"
    connection = fake.gateway_connections[0]
    assert connection.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert connection.heartbeats >= 1  # discord.py beats right after HELLO
    assert [f["t"] for f in session.events[:2]] == ["READY", "GUILD_CREATE"]
    assert [f["s"] for f in session.events[:2]] == [1, 2]
    # on_ready waits guild_ready_timeout (2 s); the fake does not make tests wait for it.
    assert not bot.client.is_ready()


@pytest.mark.asyncio
async def test_privileged_intents_not_enabled_are_refused(fake: FakeDiscord) -> None:
    intents = default_intents()
    intents.message_content = True
    client = discord.Client(intents=intents)
    await client.login(fake.token)
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.connect(), timeout=5)
    finally:
        await client.close()
    assert fake.gateway_connections[0].close_code == 4014
    assert not fake.sessions


@pytest.mark.asyncio
async def test_bad_token_is_a_login_failure(fake: FakeDiscord) -> None:
    client = discord.Client(intents=default_intents())
    try:
        with pytest.raises(discord.LoginFailure):
            await client.login("not-the-token")
    finally:
        await client.close()
    assert fake.requests[-1].path == "/users/@me"
    assert fake.requests[-1].status == 401


@pytest.mark.asyncio
async def test_auto_sharded_client_asks_gateway_bot(fake: FakeDiscord) -> None:
    client = discord.AutoShardedClient(intents=default_intents())
    await client.login(fake.token)
    task = asyncio.create_task(client.connect())
    try:
        session = await fake.wait_until_identified()
        assert session.shard == (0, 1)
        assert session.events[0]["d"]["shard"] == [0, 1]
        assert [r.status for r in fake.requests_to("GET", "/gateway/bot")] == [200]
    finally:
        await client.close()
        await asyncio.wait_for(task, timeout=5)


@pytest.mark.asyncio
async def test_message_content_is_gated_like_discord(fake: FakeDiscord, bot: Bot) -> None:
    await fake.post_user_message(GENERAL_ID, ALICE_ID, "hello everyone")
    await asyncio.wait_for(bot.message_seen.wait(), timeout=2)
    (message,) = [m for m in bot.seen_messages if m.author.id == ALICE_ID]
    assert message.content == ""  # no MESSAGE_CONTENT intent, bot not mentioned

    bot.message_seen.clear()
    await fake.post_user_message(GENERAL_ID, ALICE_ID, f"<@{fake.application_id}> hi")
    await asyncio.wait_for(bot.message_seen.wait(), timeout=2)
    assert bot.seen_messages[-1].content == f"<@{fake.application_id}> hi"


@pytest.mark.asyncio
async def test_reconnect_resumes_the_session(fake: FakeDiscord, bot: Bot) -> None:
    session = fake.sessions[0]
    await fake.request_reconnect()
    await fake.wait_for(lambda: session.resumes == 1 and session.connected)
    assert fake.gateway_connections[-1].path == "/resume"  # READY's resume_gateway_url
    resume = next(p for p in fake.gateway_connections[-1].received if p["op"] == 6)
    assert resume["d"]["session_id"] == session.session_id
    assert len(fake.sessions) == 1  # resumed, not re-identified
    record = await answered(fake, await fake.invoke_slash("ping"))
    assert record.response_type == 4


@pytest.mark.asyncio
async def test_events_missed_while_disconnected_are_replayed(fake: FakeDiscord, bot: Bot) -> None:
    session = fake.sessions[0]
    await fake.drop_connection(4000)  # abnormal close: discord.py RESUMEs
    record = await fake.invoke_slash("ping")  # dispatched while nobody is connected
    await fake.wait_for_response(record)
    assert session.resumes == 1
    assert record.response_type == 4
    assert fake.gateway_connections[0].close_code == 4000


@pytest.mark.asyncio
async def test_invalid_session_forces_a_new_identify(fake: FakeDiscord, bot: Bot) -> None:
    first = fake.sessions[0]

    async def identify_now(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py's default waits 5 s before every re-IDENTIFY (concurrency limit)."""

    bot.client.before_identify_hook = identify_now  # type: ignore[method-assign]
    await fake.invalidate_session(resumable=False)  # op 9 false: identify again
    second = await fake.wait_until_identified(count=2)
    assert first.invalidated
    assert second.session_id != first.session_id
    assert (await answered(fake, await fake.invoke_slash("ping"))).response_type == 4


# ------------------------------------------------------------------------ commands


@pytest.mark.asyncio
async def test_tree_sync_is_one_recorded_bulk_overwrite(fake: FakeDiscord, bot: Bot) -> None:
    assert fake.sync_count(GUILD_ID) == 1
    assert fake.sync_count(None) == 0
    (sync,) = fake.command_syncs
    assert sorted(c["name"] for c in sync.payload) == [
        "counter",
        "echo",
        "feedback",
        "greet",
        "late",
        "ping",
        "slow",
    ]
    echo = next(c for c in sync.payload if c["name"] == "echo")
    assert [(o["name"], o["type"], o["required"]) for o in echo["options"]] == [
        ("text", 3, True),
        ("private", 5, False),
    ]
    assert echo["options"][0]["autocomplete"] is True
    registered = {c["name"]: int(c["id"]) for c in fake.registered_commands(GUILD_ID)}
    assert {c.name: c.id for c in bot.synced} == registered
    assert all(c.guild_id == GUILD_ID for c in bot.synced)
    fetched = await bot.tree.fetch_commands(guild=discord.Object(GUILD_ID))
    assert {c.name: c.id for c in fetched} == registered
    resynced = await bot.tree.sync(guild=discord.Object(GUILD_ID))
    assert {c.name: c.id for c in resynced} == registered  # ids survive a re-sync
    assert fake.sync_count(GUILD_ID) == 2


@pytest.mark.asyncio
async def test_invalid_commands_are_refused_like_discord(fake: FakeDiscord, bot: Bot) -> None:
    # discord.py validates names locally, so go through its HTTP layer directly.
    payload = [
        {"name": "Bad", "description": "x", "type": 1},
        {"name": "ok", "description": "d" * 101, "type": 1},
    ]
    with pytest.raises(discord.HTTPException) as info:
        await bot.client.http.bulk_upsert_guild_commands(fake.application_id, GUILD_ID, payload)
    assert info.value.code == 50035
    assert "In 0.name: Command name is invalid" in info.value.text
    assert "In 1.description: Must be between 1 and 100 in length." in info.value.text
    assert fake.sync_count(GUILD_ID) == 1  # the failed PUT did not replace anything
    assert len(fake.registered_commands(GUILD_ID)) == 7


@pytest.mark.asyncio
async def test_ping_is_answered_with_a_type_4_callback(fake: FakeDiscord, bot: Bot) -> None:
    record = await answered(fake, await fake.invoke_slash("ping", user_id=ALICE_ID))
    response = record.response
    assert response is not None
    assert response.type == 4
    assert response.data == {"tts": False, "content": "pong"}
    assert record.acknowledged  # within the 3 s window: the fake refuses later callbacks
    assert record.original is not None
    assert record.original.content == "pong"
    assert [m.content for m in fake.channel_messages(GENERAL_ID)] == ["pong"]
    callback = fake.requests_to("POST", r"/interactions/\d+/[^/]+/callback")[0]
    assert callback.query == {"with_response": "1"}
    assert callback.status == 200
    # Interactions are handled before on_ready; the client cached the guild meanwhile.
    assert not bot.client.is_ready()
    guild = bot.client.get_guild(GUILD_ID)
    assert guild is not None
    assert {c.name for c in guild.text_channels} == {"general", "weekly"}
    assert guild.me is not None


@pytest.mark.asyncio
async def test_deferred_response_then_followups(fake: FakeDiscord, bot: Bot) -> None:
    record = await answered(fake, await fake.invoke_slash("slow"), count=3)
    assert [e.kind for e in record.events] == ["callback", "followup", "followup"]
    assert record.response_type == 5
    original = record.original
    assert original is not None
    # Discord: the first followup after a defer edits the loading message.
    assert record.followups[0] is original
    assert original.content == "first"
    assert not original.loading
    assert record.followups[1].content == "second"
    assert record.followups[1].source == "followup"


@pytest.mark.asyncio
async def test_member_and_channel_options_are_resolved(fake: FakeDiscord, bot: Bot) -> None:
    record = await answered(
        fake,
        await fake.invoke_slash("greet", {"who": ALICE_ID, "where": WEEKLY_ID}),
        count=2,
    )
    assert [e.kind for e in record.events] == ["callback", "edit_original"]
    assert [e["content"] for e in record.original_edits] == ["greeted alice"]
    assert record.original is not None
    assert record.original.ephemeral
    (welcome,) = fake.channel_messages(WEEKLY_ID)
    assert welcome.content == f"Welcome <@{ALICE_ID}>!"
    assert welcome.mentioned_user_ids == [ALICE_ID]  # no allowed_mentions: Discord pings


@pytest.mark.asyncio
async def test_slash_command_in_a_dm(fake: FakeDiscord, bot: Bot) -> None:
    await bot.tree.sync()  # global commands are the ones usable in DMs
    assert fake.sync_count(None) == 1
    record = await answered(fake, await fake.invoke_slash("ping", in_dm=True, user_id=ALICE_ID))
    assert record.guild_id is None
    assert record.payload["user"]["id"] == str(ALICE_ID)
    assert "member" not in record.payload
    assert [m.content for m in fake.dm_messages(ALICE_ID)] == ["pong"]


@pytest.mark.asyncio
async def test_ephemeral_flag_and_allowed_mentions_are_recorded(
    fake: FakeDiscord, bot: Bot
) -> None:
    text = f"<@{ALICE_ID}> hello"
    record = await answered(fake, await fake.invoke_slash("echo", {"text": text, "private": True}))
    response = record.response
    assert response is not None
    assert response.data is not None
    assert response.data["flags"] == MESSAGE_FLAG_EPHEMERAL
    assert response.data["allowed_mentions"] == {"parse": []}
    assert record.original is not None
    assert record.original.ephemeral
    assert record.original.mentioned_user_ids == []  # nobody is pinged


@pytest.mark.asyncio
async def test_autocomplete_round_trip(fake: FakeDiscord, bot: Bot) -> None:
    record = await answered(
        fake, await fake.invoke_autocomplete("echo", {"text": "hel"}, focused="text")
    )
    response = record.response
    assert response is not None
    assert response.data is not None
    assert response.type == 8
    assert [c["name"] for c in response.data["choices"]] == ["hello", "help"]


@pytest.mark.asyncio
async def test_button_press_edits_the_message(fake: FakeDiscord, bot: Bot) -> None:
    command = await answered(fake, await fake.invoke_slash("counter"))
    message = command.original
    assert message is not None
    first = await answered(fake, await fake.press_component(message, "counter:inc"))
    assert first.response_type == 7
    assert message.content == "count=1"
    second = await answered(fake, await fake.press_component(message, "counter:inc"))
    assert second.response_type == 7
    assert message.content == "count=2"
    assert first.payload["data"] == {"custom_id": "counter:inc", "component_type": 2}


@pytest.mark.asyncio
async def test_modal_round_trip(fake: FakeDiscord, bot: Bot) -> None:
    opened = await answered(fake, await fake.invoke_slash("feedback"))
    assert opened.response_type == 9
    submitted = await answered(
        fake, await fake.submit_modal(opened, {"feedback:text": "more papers please"})
    )
    assert submitted.type == 5  # MODAL_SUBMIT
    assert submitted.original is not None
    assert submitted.original.content == "thanks: more papers please"
    assert submitted.original.ephemeral


@pytest.mark.asyncio
async def test_second_callback_is_already_acknowledged(fake: FakeDiscord, bot: Bot) -> None:
    record = await answered(fake, await fake.invoke_slash("ping"))
    url = f"{fake.root}/api/v10/interactions/{record.id}/{record.token}/callback"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": 4, "data": {"content": "again"}}) as response,
    ):
        assert response.status == 400
        assert response.headers["Content-Type"] == "application/json"
        assert await response.json() == {
            "message": "Interaction has already been acknowledged.",
            "code": 40060,
        }
    assert [c.status for c in record.callbacks] == [200, 400]


@pytest.mark.asyncio
async def test_callback_after_the_deadline_is_an_unknown_interaction(
    fake: FakeDiscord, bot: Bot
) -> None:
    fake.interaction_ack_timeout = LATE_DELAY / 2  # Discord's 3 s, scaled down
    record = await fake.invoke_slash("late")
    await fake.wait_for(lambda: record.callbacks)
    assert record.callbacks[0].status == 404
    assert record.callbacks[0].error_code == 10062
    assert not record.acknowledged
    # The bot's own view of the failure (client state, so wait on the bot, not the fake).
    await asyncio.wait_for(bot.errored.wait(), timeout=2)
    (error,) = bot.errors
    assert isinstance(error, discord.NotFound)
    assert error.code == 10062


# ------------------------------------------------------------------------ REST


@pytest.mark.asyncio
async def test_embed_over_6000_characters_is_refused(fake: FakeDiscord, bot: Bot) -> None:
    channel = await bot.client.fetch_channel(WEEKLY_ID)
    assert isinstance(channel, discord.TextChannel)

    def embed(footer: int) -> discord.Embed:
        e = discord.Embed(title="t" * 256, description="d" * 4096)
        e.add_field(name="n" * 256, value="v" * 1024)
        return e.set_footer(text="f" * footer)

    with pytest.raises(discord.HTTPException) as info:
        await channel.send(embed=embed(369))  # 6001 characters in total
    assert info.value.status == 400
    assert info.value.code == 50035
    assert "Embed size exceeds maximum size of 6000" in info.value.text
    assert fake.channel_messages(WEEKLY_ID) == []

    sent = await channel.send(embed=embed(368))  # exactly 6000 is fine
    assert [m.id for m in fake.channel_messages(WEEKLY_ID)] == [sent.id]

    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    assert "Must be 2000 or fewer in length." in too_long.value.text


@pytest.mark.asyncio
async def test_dm_to_user_with_closed_dms_is_forbidden(fake: FakeDiscord, bot: Bot) -> None:
    bob = await bot.client.fetch_user(BOB_ID)
    with pytest.raises(discord.Forbidden) as info:
        await bob.send("your weekly digest")
    assert info.value.code == 50007
    assert info.value.text == "Cannot send messages to this user"
    assert fake.dm_messages(BOB_ID) == []

    alice = await bot.client.fetch_user(ALICE_ID)
    await alice.send("your weekly digest")
    assert [m.content for m in fake.dm_messages(ALICE_ID)] == ["your weekly digest"]


@pytest.mark.asyncio
async def test_429_with_via_header_is_retried_transparently(fake: FakeDiscord, bot: Bot) -> None:
    channel = await bot.client.fetch_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"/channels/\d+/messages", status=429, retry_after=0.05)
    message = await channel.send("weekly digest")
    attempts = fake.requests_to("POST", rf"/channels/{GENERAL_ID}/messages")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.05  # discord.py honoured retry_after
    assert [m.id for m in fake.channel_messages(GENERAL_ID)] == [message.id]


@pytest.mark.asyncio
async def test_global_429_is_retried(fake: FakeDiscord, bot: Bot) -> None:
    fake.fail_next("GET", r"/users/\d+", status=429, retry_after=0.05, scope="global")
    user = await bot.client.fetch_user(ALICE_ID)
    assert user.name == "alice"
    assert [r.status for r in fake.requests_to("GET", r"/users/\d+")] == [429, 200]


@pytest.mark.asyncio
async def test_fetch_member_and_unknown_member(fake: FakeDiscord, bot: Bot) -> None:
    guild = await bot.client.fetch_guild(GUILD_ID)
    member = await guild.fetch_member(ALICE_ID)
    assert member.name == "alice"
    with pytest.raises(discord.NotFound) as info:
        await guild.fetch_member(1234567890123456789)
    assert info.value.code == 10007


@pytest.mark.asyncio
async def test_429_without_via_header_looks_like_a_cloudflare_ban(
    fake: FakeDiscord, bot: Bot
) -> None:
    channel = await bot.client.fetch_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"/channels/\d+/messages", status=429, via=False)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send("weekly digest")
    assert info.value.status == 429
    assert len(fake.requests_to("POST", r"/channels/\d+/messages")) == 1


@pytest.mark.asyncio
async def test_server_errors_are_retried_by_discord_py(fake: FakeDiscord, bot: Bot) -> None:
    channel = await bot.client.fetch_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"/channels/\d+/messages", status=502)  # Cloudflare HTML page
    await channel.send("weekly digest")  # discord.py sleeps 1 s, then retries
    attempts = fake.requests_to("POST", r"/channels/\d+/messages")
    assert [a.status for a in attempts] == [502, 200]


@pytest.mark.asyncio
async def test_rate_limit_bucket_headers_make_discord_py_wait(fake: FakeDiscord, bot: Bot) -> None:
    channel = await bot.client.fetch_channel(GENERAL_ID)
    assert isinstance(channel, discord.TextChannel)
    fake.rate_limit(r"/channels/\d+/messages", 2, window=0.3, method="POST")
    started = time.monotonic()
    await asyncio.gather(*(channel.send(f"post {i}") for i in range(3)))
    attempts = fake.requests_to("POST", r"/channels/\d+/messages")
    assert [a.status for a in attempts] == [200, 200, 200]  # never needed a 429
    assert time.monotonic() - started >= 0.2  # the third waited for the bucket reset
    assert sorted(m.content for m in fake.channel_messages(GENERAL_ID)) == [
        "post 0",
        "post 1",
        "post 2",
    ]


@pytest.mark.asyncio
async def test_missing_access_and_unknown_channel(fake: FakeDiscord, bot: Bot) -> None:
    weekly = await bot.client.fetch_channel(WEEKLY_ID)
    assert isinstance(weekly, discord.TextChannel)
    fake.deny_bot(WEEKLY_ID, discord.Permissions(view_channel=True).value)
    with pytest.raises(discord.Forbidden) as denied:
        await weekly.send("hi")
    assert (denied.value.code, denied.value.text) == (50001, "Missing Access")
    fake.remove_channel(WEEKLY_ID)
    with pytest.raises(discord.NotFound) as gone:
        await weekly.send("hi")
    assert (gone.value.code, gone.value.text) == (10003, "Unknown Channel")


@pytest.mark.asyncio
async def test_unknown_route_is_discords_404(fake: FakeDiscord) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{fake.root}/api/v10/definitely/not/a/route") as response,
    ):
        assert response.status == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Via"] == "1.1 google"
        assert await response.json() == {"message": "404: Not Found", "code": 0}


# ------------------------------------------------------------------------ checked against the OpenAPI document


async def post_raw(fake: FakeDiscord, path: str, body: Any) -> tuple[int, Any]:
    """One authorised JSON request, as any HTTP client could send it (no discord.py checks)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fake.root}/api/v10{path}", json=body, headers={"Authorization": f"Bot {fake.token}"}
        ) as response,
    ):
        return response.status, await response.json() if response.content_length else None


def form_errors(body: Any) -> dict[str, list[str]]:
    """Discord's nested 50035 ``errors`` tree flattened to ``{"embeds.0.url": [codes]}``."""
    found: dict[str, list[str]] = {}

    def walk(node: dict[str, Any], path: list[str]) -> None:
        for key, child in node.items():
            if key == "_errors":
                found[".".join(path)] = [error["code"] for error in child]
            else:
                walk(child, [*path, key])

    walk(body.get("errors") or {}, [])
    return found


@pytest.mark.asyncio
async def test_unknown_fields_are_protocol_violations(fake: FakeDiscord) -> None:
    # Discord ignores both silently, so the message goes out: the fake records the mistake.
    status, _ = await post_raw(
        fake, f"/channels/{GENERAL_ID}/messages", {"content": "hi", "embed": {"title": "x"}}
    )
    assert status == 200
    status, _ = await post_raw(
        fake, f"/channels/{GENERAL_ID}/messages", {"embeds": [{"title": "t", "colour": 5}]}
    )
    assert status == 200

    first, second = fake.take_violations()
    assert "body has field 'embed' that MessageCreateRequest does not have" in first
    assert "embeds.0 has field 'colour' that RichEmbed does not have" in second
    assert "color" in second  # the report lists what the spec has


@pytest.mark.asyncio
async def test_a_violation_fails_the_fake_when_it_stops() -> None:
    async def misspell() -> None:
        async with FakeDiscord() as server:
            server.add_guild(GUILD_ID, "g", channels=[GENERAL_ID])
            await post_raw(server, f"/channels/{GENERAL_ID}/messages", {"contents": "hi"})

    with pytest.raises(AssertionError, match="field 'contents'"):
        await misspell()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("embed", "errors"),
    [
        ({"title": "ok", "url": "https://example.com/a", "color": 0x5865F2}, {}),
        ({"title": "t", "url": "example.com/a"}, {"embeds.0.url": ["URL_TYPE_INVALID_URL"]}),
        ({"title": "t", "url": "https://exa mple.com"}, {"embeds.0.url": ["URL_TYPE_INVALID_URL"]}),
        ({"title": "t", "color": 0x1000000}, {"embeds.0.color": ["NUMBER_TYPE_MAX"]}),
        ({"title": "t", "color": -1}, {"embeds.0.color": ["NUMBER_TYPE_MIN"]}),
        ({"title": "t", "color": "blurple"}, {"embeds.0.color": ["NUMBER_TYPE_COERCE"]}),
        ({"title": "t", "timestamp": "2026-12-01T18:00:00+00:00"}, {}),
        (
            {"title": "t", "timestamp": "last Tuesday"},
            {"embeds.0.timestamp": ["DATE_TIME_TYPE_PARSE"]},
        ),
        (
            {"title": "t", "footer": {"text": "f", "icon_url": "nope"}},
            {"embeds.0.footer.icon_url": ["URL_TYPE_INVALID_URL"]},
        ),
        ({"title": 7}, {"embeds.0.title": ["STRING_TYPE_CONVERT"]}),
        (
            {"title": "t", "fields": [{"name": "n"}]},
            {"embeds.0.fields.0.value": ["BASE_TYPE_REQUIRED"]},
        ),
    ],
)
async def test_embed_urls_colours_and_timestamps_are_checked(
    fake: FakeDiscord, embed: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    status, body = await post_raw(fake, f"/channels/{GENERAL_ID}/messages", {"embeds": [embed]})
    if not errors:
        assert status == 200
        assert len(fake.channel_messages(GENERAL_ID)) == 1
    else:
        assert (status, body["code"]) == (400, 50035)
        assert form_errors(body) == errors
        assert fake.channel_messages(GENERAL_ID) == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mentions", "errors"),
    [
        ({"parse": ["users", "roles", "everyone"]}, {}),
        ({"parse": []}, {}),
        ({"parse": ["user"]}, {"allowed_mentions.parse.0": ["BASE_TYPE_CHOICES"]}),
        ({"parse": ["here"]}, {"allowed_mentions.parse.0": ["BASE_TYPE_CHOICES"]}),
        ({"parse": "users"}, {"allowed_mentions.parse": ["LIST_TYPE_CONVERT"]}),
        (
            {"parse": ["users"], "users": [str(ALICE_ID)]},
            {"allowed_mentions": ["MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"]},
        ),
    ],
)
async def test_allowed_mentions_parse_values(
    fake: FakeDiscord, mentions: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    status, body = await post_raw(
        fake, f"/channels/{GENERAL_ID}/messages", {"content": "hi", "allowed_mentions": mentions}
    )
    assert status == (400 if errors else 200)
    assert (form_errors(body) if errors else {}) == errors


@pytest.mark.asyncio
async def test_only_settable_flags_are_kept(fake: FakeDiscord) -> None:
    suppress_notifications = 1 << 12
    path = f"/channels/{GENERAL_ID}/messages"
    status, body = await post_raw(fake, path, {"content": "quiet", "flags": suppress_notifications})
    assert (status, body["flags"]) == (200, suppress_notifications)
    assert fake.protocol_violations == []

    # Ephemeral is for interaction responses only: Discord drops it here, the fake reports it.
    status, body = await post_raw(
        fake, path, {"content": "secret?", "flags": MESSAGE_FLAG_EPHEMERAL}
    )
    assert (status, body["flags"]) == (200, 0)
    [violation] = fake.take_violations()
    assert "flags 64 include 64, which a bot cannot set here" in violation


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def button(**fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"type": 2, "style": 2, "label": "More", "custom_id": "more:1"}
    result.update(fields)
    return {key: value for key, value in result.items() if value is not None}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("components", "errors"),
    [
        ([row(button())], {}),
        ([row(button(style=5, custom_id=None, url="https://deeplearningweekly.com"))], {}),
        ([button()], {"components.0.type": ["UNION_TYPE_CHOICES"]}),
        ([row(row(button()))], {"components.0.components.0.type": ["UNION_TYPE_CHOICES"]}),
        (
            [row(*(button(custom_id=f"b{i}") for i in range(6)))],
            {"components.0.components": ["BASE_TYPE_BAD_LENGTH"]},
        ),
        (
            [row(button(custom_id=f"r{i}")) for i in range(6)],
            {"components": ["BASE_TYPE_MAX_LENGTH"]},
        ),
        ([row(button(style=7))], {"components.0.components.0.style": ["BASE_TYPE_CHOICES"]}),
        (
            [row(button(style=5, custom_id=None))],
            {"components.0.components.0.url": ["BASE_TYPE_REQUIRED"]},
        ),
        (
            [row(button(style=5, url="https://deeplearningweekly.com"))],
            {"components.0.components.0.custom_id": ["COMPONENT_CUSTOM_ID_NOT_ALLOWED"]},
        ),
        (
            [row(button(url="https://deeplearningweekly.com"))],
            {"components.0.components.0.url": ["COMPONENT_URL_NOT_ALLOWED"]},
        ),
        (
            [row(button(custom_id=None))],
            {"components.0.components.0.custom_id": ["COMPONENT_CUSTOM_ID_REQUIRED"]},
        ),
        (
            [row(button(custom_id="x" * 101))],
            {"components.0.components.0.custom_id": ["BASE_TYPE_BAD_LENGTH"]},
        ),
        (
            [row(button(label="x" * 81))],
            {"components.0.components.0.label": ["BASE_TYPE_MAX_LENGTH"]},
        ),
        (
            [row(button(label=None))],
            {"components.0.components.0.label": ["COMPONENT_LABEL_OR_EMOJI_REQUIRED"]},
        ),
        (
            [row(button(), button())],
            {"components.0.components.1.custom_id": ["COMPONENT_CUSTOM_ID_DUPLICATED"]},
        ),
    ],
)
async def test_component_rules(
    fake: FakeDiscord, components: list[dict[str, Any]], errors: dict[str, list[str]]
) -> None:
    status, body = await post_raw(
        fake, f"/channels/{GENERAL_ID}/messages", {"content": "x", "components": components}
    )
    assert status == (400 if errors else 200)
    assert (form_errors(body) if errors else {}) == errors


def command(**fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"name": "issue", "description": "Show an issue", "type": 1}
    result.update(fields)
    return result


def option(name: str = "number", **fields: Any) -> dict[str, Any]:
    return {"type": 4, "name": name, "description": "Issue number", **fields}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("payload", "path", "code"),
    [
        (command(name="Issue"), "0.name", "APPLICATION_COMMAND_INVALID_NAME"),
        (command(name="two words"), "0.name", "APPLICATION_COMMAND_INVALID_NAME"),
        (command(name="x" * 33), "0.name", "APPLICATION_COMMAND_INVALID_NAME"),
        (command(description=""), "0.description", "BASE_TYPE_BAD_LENGTH"),
        (command(description="d" * 101), "0.description", "BASE_TYPE_BAD_LENGTH"),
        (
            command(options=[option(f"o{i}") for i in range(26)]),
            "0.options",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            command(options=[option(choices=[{"name": f"c{i}", "value": i} for i in range(26)])]),
            "0.options.0.choices",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            command(options=[option("a"), option("b", required=True)]),
            "0.options",
            "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
        ),
        (
            command(options=[option("Number")]),
            "0.options.0.name",
            "APPLICATION_COMMAND_INVALID_NAME",
        ),
        (
            command(options=[option(description="")]),
            "0.options.0.description",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (command(options=[option(type=99)]), "0.options.0.type", "BASE_TYPE_CHOICES"),
    ],
)
async def test_command_option_limits(
    fake: FakeDiscord, payload: dict[str, Any], path: str, code: str
) -> None:
    status, body = await post_raw_put(fake, [payload])
    assert (status, body["code"]) == (400, 50035)
    assert code in form_errors(body)[path]
    assert fake.registered_commands(GUILD_ID) == []
    status, body = await post_raw_put(fake, [command(options=[option(required=True)])])
    assert status == 200


async def post_raw_put(fake: FakeDiscord, body: Any) -> tuple[int, Any]:
    path = f"/api/v10/applications/{fake.application_id}/guilds/{GUILD_ID}/commands"
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{fake.root}{path}", json=body, headers={"Authorization": f"Bot {fake.token}"}
        ) as response,
    ):
        return response.status, await response.json()


@pytest.mark.asyncio
async def test_a_bad_embed_url_through_discord_py_is_refused(fake: FakeDiscord, bot: Bot) -> None:
    channel = await bot.client.fetch_channel(WEEKLY_ID)
    assert isinstance(channel, discord.TextChannel)

    with pytest.raises(discord.HTTPException) as info:
        await channel.send(embed=discord.Embed(title="Issue 206", url="deeplearningweekly.com"))

    assert info.value.code == 50035
    assert "In embeds.0.url: Not a well formed URL." in info.value.text
    assert fake.channel_messages(WEEKLY_ID) == []
