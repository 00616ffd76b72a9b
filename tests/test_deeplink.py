"""Start links: the commands a button may start in a private chat, as Telegram-sized payloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import App
from bot.archive import Archive
from bot.chat_prefs import Previews, chat_previews, forget_previews, set_chat_previews
from bot.deeplink import (
    PAYLOAD,
    Follow,
    Manage,
    PayloadError,
    command_for,
    parse_payload,
    payload_for,
)
from bot.model import Target
from tests.conftest import REPO


def test_every_topic_of_the_taxonomy_has_a_start_link_that_comes_back() -> None:
    archive = Archive.load(REPO / "content")
    for topic in archive.taxonomy:
        command = f"/subscribe {topic.id}"
        payload = payload_for(command)
        assert payload is not None and PAYLOAD.fullmatch(payload), topic.id
        assert parse_payload(payload) == Follow(topic.id)
        assert command_for(parse_payload(payload)) == command


@pytest.mark.parametrize(
    ("command", "payload", "parsed"),
    [
        ("/topics", "follow", Follow()),
        ("/subscriptions", "manage", Manage()),
        ("/subscribe language-models", "follow-language-models", Follow("language-models")),
    ],
)
def test_the_commands_a_start_link_can_carry(command: str, payload: str, parsed: object) -> None:
    assert payload_for(command) == payload
    assert parse_payload(payload) == parsed
    assert command_for(parse_payload(payload)) == command


@pytest.mark.parametrize(
    "command",
    ["/search jax", "/subscribe jax, nlp", "/subscribe Deep Learning", "/unsubscribe all", ""],
)
def test_other_commands_have_no_start_link(command: str) -> None:
    assert payload_for(command) is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("x" * 65, "65 characters long"),
        ("", "damaged"),
        ("follow pytorch", "damaged"),
        ("follow-PyTorch", "isn't one of the bot's"),
        ("follow--x", "isn't one of the bot's"),
        ("unfollow-pytorch", "isn't one of the bot's"),
    ],
)
def test_a_bad_payload_is_refused_with_its_reason(payload: str, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_payload(payload)


@given(st.text(max_size=200))
def test_any_payload_parses_or_is_refused_never_crashes(payload: str) -> None:
    try:
        parsed = parse_payload(payload)
    except PayloadError as exc:
        refusal = str(exc)
    else:  # one of ours: it comes back as it went
        assert payload_for(command_for(parsed)) == payload
        return
    assert refusal.startswith("That start link")


async def test_a_chat_preview_choice_is_kept_and_forgotten(app: App) -> None:
    store = app.store
    channel, other = Target("telegram", "-100"), Target("telegram", "-100", "7")
    assert await chat_previews(store, channel) is Previews.ON  # the default

    await set_chat_previews(store, channel, Previews.OFF)
    assert await chat_previews(store, channel) is Previews.OFF
    assert await chat_previews(store, other) is Previews.ON  # a forum topic is its own chat

    await forget_previews(store, channel)
    assert await chat_previews(store, channel) is Previews.ON
    await store.set_meta(f"chat-preview:{channel}", "sideways")  # not a choice we wrote
    assert await chat_previews(store, channel) is Previews.ON
