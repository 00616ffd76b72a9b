"""The fake Bot API delivers updates to the webhook by itself, as Telegram does
(``FakeTelegram(push_webhook=True)``): oldest first, with the secret header, the same update
again after any non-2xx answer or none, the error shown in getWebhookInfo; and getUpdates is
refused with 409 while a webhook is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram.error import Conflict

from tests.fakes.telegram import FakeTelegram
from tests.test_fake_telegram_api import make_bot
from tests.test_telegram_bot import free_port

ALICE = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(push_webhook=True, webhook_retry=0.01) as telegram:
        telegram.add_private_chat(ALICE, first_name="Alice")
        yield telegram


async def test_updates_are_pushed_in_order_and_retried_until_answered(fake: FakeTelegram) -> None:
    answers = [500, 503]  # then 200 for good
    received: list[tuple[int, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (
                int((await request.json())["update_id"]),
                request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
            )
        )
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with make_bot(fake) as bot:
            first = fake.send_text(ALICE, "/start")["update_id"]
            second = fake.send_text(ALICE, "/help")["update_id"]
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            await fake.wait_for(lambda: len(received) == 4, what="two retries, then both updates")
            assert received == [(first, "s3cret")] * 3 + [(second, "s3cret")]
            assert [d.status for d in fake.webhook_deliveries] == [500, 503, 200, 200]
            info = await bot.get_webhook_info()
            assert info.pending_update_count == 0
            assert (
                info.last_error_message
                == "Wrong response from the webhook: 503 Service Unavailable"
            )
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
    finally:
        await runner.cleanup()


async def test_an_unreachable_webhook_keeps_the_update_pending(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        fake.send_text(ALICE, "/start")
        await bot.set_webhook(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
        await fake.wait_for(
            lambda: len(fake.webhook_deliveries) >= 2, what="retries of a refused connection"
        )
        assert {d.status for d in fake.webhook_deliveries} == {0}  # no answer at all
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert (info.last_error_message or "").startswith("Connection failed")
        assert await bot.delete_webhook()
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["/start"]
