"""Bot API calls as JSON bodies (adapters/telegram/_request.py), against the fake Bot API.

The fake reads ``application/json`` the way the Bot API does (native values, objects nested) and
refuses a body that is not one JSON object; PTB's own form-encoding keeps working beside it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest

from adapters.telegram._request import JSON_CONTENT_TYPE, JSONRequest
from tests.fakes.telegram import FakeTelegram

ALICE = 42
GROUP = -1001234567890


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_private_chat(ALICE, "Alice")
        server.add_group(GROUP, "Readers", forum=True, topics=(7,))
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, request=JSONRequest()) as client:
        yield client


async def test_a_message_with_markup_and_options_goes_as_one_json_object(
    fake: FakeTelegram, bot: Bot
) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:2:latest")]])
    sent = await bot.send_message(
        GROUP,
        "<b>Issue #206</b> — “quotes” &amp; ünïcode",
        parse_mode=ParseMode.HTML,
        message_thread_id=7,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
        reply_markup=markup,
        allow_paid_broadcast=True,
    )

    [call] = fake.calls_to("sendMessage")
    assert call.content_type == JSON_CONTENT_TYPE
    # Native JSON values, not strings holding JSON: what a form would have carried.
    assert call.params["chat_id"] == GROUP and call.params["message_thread_id"] == 7
    assert call.params["allow_paid_broadcast"] is True
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "More", "callback_data": "more:2:latest"}]]
    }
    [message] = fake.messages_in(GROUP, 7)
    assert message.text == "Issue #206 — “quotes” & ünïcode"
    assert message.link_preview_options == {"is_disabled": True}
    assert sent.message_id == message.message_id
    assert sent.reply_markup == markup


async def test_errors_come_back_as_ptb_errors(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "nobody")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(ALICE, "<b>unclosed", parse_mode=ParseMode.HTML)
    assert {call.content_type for call in fake.calls_to("sendMessage")} == {JSON_CONTENT_TYPE}


async def test_requests_without_parameters_still_work(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot
    assert fake.calls_to("getMe")


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (b'{"chat_id": 42, "text": "cut off', "Bad Request: can't parse JSON object"),
        (b'["chat_id", 42]', "Bad Request: JSON object expected"),
    ],
)
async def test_the_fake_refuses_a_body_that_is_not_a_json_object(
    fake: FakeTelegram, body: bytes, description: str
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}{fake.token}/sendMessage",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400
        answer = await response.json()
    assert answer == {"ok": False, "error_code": 400, "description": description}
    assert fake.messages_in(ALICE) == []


async def test_a_request_with_a_file_goes_as_multipart_form_data(
    fake: FakeTelegram, bot: Bot
) -> None:
    certificate = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert await bot.set_webhook(
        "https://127.0.0.1:8443/hook", certificate=certificate, max_connections=5
    )

    [call] = fake.calls_to("setWebhook")
    assert call.content_type == "multipart/form-data"
    assert call.params["certificate"]["size"] == len(certificate)
    assert call.params["max_connections"] == 5
    info = await bot.get_webhook_info()
    assert info.url == "https://127.0.0.1:8443/hook" and info.has_custom_certificate
    assert info.max_connections == 5
