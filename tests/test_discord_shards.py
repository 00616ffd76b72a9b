"""Discord shards (issue 14): ``DLW_DISCORD_SHARDS`` is parsed or refused with a clear line,
each process IDENTIFYs with its ``[shard_id, shard_count]`` and gets the servers of its shards,
commands are synced once across the processes, and DMs go over REST from any of them. The real
discord.py ``AutoShardedClient`` runs against the fake gateway in ``tests/fakes/discord/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.discord import DiscordAdapter
from adapters.discord.settings import DiscordSettings, Shards, parse_shards
from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.config import Settings
from bot.reply import Reply
from bot.store import Target
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_reading import no_loop_errors, text_of
from tests.helpers import run_cli
from tests.test_discord_bot import ALICE_ID, GENERAL_ID, GUILD_ID, answered, messages_of

OTHER_GUILD_ID = 81384788769906689  # (id >> 22) % 2 == 1: shard 1 of 2; GUILD_ID is shard 0
OTHER_CHANNEL_ID = 81384788769906690


@pytest.mark.parametrize(
    ("text", "shards"),
    [
        ("0-1/4", Shards((0, 1), 4)),
        ("2/4", Shards((2,), 4)),
        (" 0 - 3 / 4 ", Shards((0, 1, 2, 3), 4)),
        ("auto", Shards(None, None)),
        ("", None),
    ],
)
def test_shards_are_parsed(text: str, shards: Shards | None) -> None:
    assert parse_shards(text) == shards
    assert DiscordSettings(shards=text).shards == shards


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("4/4", "shard ids run from 0 to 3 when there are 4"),
        ("3-1/4", "the range 3-1 runs backwards"),
        ("1/0", "the shard count must be at least 1"),
        ("two", "use FIRST-LAST/COUNT (0-1/4), ID/COUNT (2/4) or auto"),
    ],
)
def test_bad_shards_are_a_configuration_error(tmp_path: Path, text: str, reason: str) -> None:
    result = run_cli(
        "run", cwd=tmp_path, env={"DLW_DISCORD_TOKEN": "x.y.z", "DLW_DISCORD_SHARDS": text}
    )
    assert result.returncode == 2
    assert f"configuration error: DLW_DISCORD_SHARDS: {text!r}"[:40] in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


def test_only_the_process_with_shard_zero_syncs_commands() -> None:
    assert Shards((0, 1), 4).syncs_commands and Shards(None, None).syncs_commands
    assert not Shards((2, 3), 4).syncs_commands


@pytest.fixture
async def fake(discord_urls: None) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        server.add_user(ALICE_ID, "alice")
        server.add_guild(GUILD_ID, "Shard zero", channels=[(GENERAL_ID, "general")])
        server.add_guild(OTHER_GUILD_ID, "Shard one", channels=[(OTHER_CHANNEL_ID, "general")])
        yield server


@contextlib.asynccontextmanager
async def process(
    settings: Settings, fake: FakeDiscord, shards: str
) -> AsyncIterator[DiscordAdapter]:
    """One process of the deployment: its own App on the shared database, its shards."""
    own = settings.model_copy(update={"instance": f"shards-{shards}"})
    discord_settings = DiscordSettings(token=fake.token, api_url=fake.root, shards=shards)
    async with App.create(own, local_platforms=LOCAL_PLATFORMS) as app:
        adapter = DiscordAdapter(app.adapter_services, discord_settings)
        try:
            await adapter.start()
            yield adapter
        finally:
            await adapter.stop()


async def test_two_processes_split_the_shards_and_sync_once(
    settings: Settings, fake: FakeDiscord
) -> None:
    with no_loop_errors():
        async with (
            process(settings, fake, "0/2") as first,
            process(settings, fake, "1/2") as second,
        ):
            identified = {
                session.shard: [g["id"] for g in session.events[0]["d"]["guilds"]]
                for session in fake.sessions
            }
            assert identified == {(0, 2): [str(GUILD_ID)], (1, 2): [str(OTHER_GUILD_ID)]}
            assert fake.sync_count() == 1  # the process with shard 0 synced, the other didn't
            assert first.ready and second.ready

            # A command in the second server reaches the process holding shard 1.
            record = await answered(
                fake,
                await fake.invoke_slash(
                    "help", guild_id=OTHER_GUILD_ID, channel_id=OTHER_CHANNEL_ID
                ),
            )
            assert "/latest" in text_of(*messages_of(record))

            # A DM (a digest) goes over REST from either process, whatever the shard.
            await second.send(Target("discord", str(ALICE_ID), direct=True), Reply.text("digest"))
            [dm] = fake.dm_messages(ALICE_ID)
            assert text_of(dm).strip() == "digest"


async def test_a_process_without_the_bot_role_sends_over_rest_only(
    settings: Settings, fake: FakeDiscord
) -> None:
    discord_settings = DiscordSettings(token=fake.token, api_url=fake.root, shards="1/2")
    with no_loop_errors():
        async with App.create(settings, local_platforms=LOCAL_PLATFORMS) as app:
            adapter = DiscordAdapter(app.adapter_services, discord_settings, receive=False)
            await adapter.start()
            try:
                assert adapter.ready
                await adapter.send(Target("discord", str(ALICE_ID), direct=True), Reply.text("hi"))
            finally:
                await adapter.stop()
    assert not fake.gateway_connections and fake.sync_count() == 0
    [dm] = fake.dm_messages(ALICE_ID)
    assert text_of(dm).strip() == "hi"
