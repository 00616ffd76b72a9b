"""Discord-native delivery: action buttons, announcement channels, forum channels, user install.

As in ``test_discord_bot.py``, the real discord.py client inside :class:`DiscordAdapter` runs
against the loopback fake in ``tests/fakes/discord/``; the fake refuses what Discord refuses
(component layout, crosspost permissions and its hourly limit, forum tags, command contexts),
and the assertions look at what readers and operators would see.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from adapters.discord import DiscordAdapter, DiscordSettings
from bot.app import App
from bot.config import Settings
from bot.delivery import TargetGone
from bot.reply import Action, Paragraph, Reply
from bot.store import Subscription, SubscriptionKind, Target
from tests.fakes.discord import FakeDiscord, InteractionRecord, MessageRecord
from tests.fakes.discord_reading import no_loop_errors, text_of

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
async def serving(app: App, fake: FakeDiscord, **settings: Any) -> AsyncIterator[DiscordAdapter]:
    """A started adapter, known to the app as running (so it can reach the operators)."""
    values: dict[str, Any] = {"token": SecretStr(fake.token), "api_url": fake.root}
    with no_loop_errors():
        adapter = DiscordAdapter(
            app.adapter_services, DiscordSettings(**(values | {"guild_id": GUILD_ID} | settings))
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
