"""Several processes on one Telegram bot token, sharing one store (issue 14): webhook instances
behind a load balancer handle an update Telegram retries once; in polling mode exactly one
process consumes getUpdates and another takes over when it goes; a process without the bot
role only sends. Each "process" is an App with its own connection to the same database, its
adapter talking to the fake Bot API, which POSTs updates to the webhook as Telegram does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from bot.reply import Reply
from bot.store import Target
from tests import test_telegram_bot as adapter_tests
from tests.fakes.telegram import FakeTelegram
from tests.test_telegram_bot import ALICE, BOB, Launch, LogWatch, free_port

# The adapter's own fixtures: the fake with its readers, an App + adapter per launch, logs.
fake = adapter_tests.fake
tg_settings = adapter_tests.tg_settings
telegram_settings = adapter_tests.telegram_settings
launch = adapter_tests.launch
logs = adapter_tests.logs

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@dataclass
class LoadBalancer:
    """A reverse proxy in front of the webhook instances, round-robin. ``lose_answers``: how
    many of the first answers to drop on the way back (the backend handled the update, Telegram
    sees a 502 as after a timeout) so that Telegram retries."""

    backends: list[int]
    lose_answers: int = 0
    forwarded: list[tuple[int, int, str | None]] = field(default_factory=list)  # port, id, secret
    port: int = 0
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._session = aiohttp.ClientSession()
        self._turns = itertools.cycle(self.backends)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        backend = next(self._turns)
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.forwarded.append((backend, int((await request.json())["update_id"]), secret))
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        url = f"http://127.0.0.1:{backend}{request.path}"
        async with self._session.post(url, data=body, headers=headers) as answer:
            status = answer.status
        if self.lose_answers > 0 and 200 <= status < 300:
            self.lose_answers -= 1
            return web.Response(status=502, text="upstream timed out")
        return web.Response(status=status)


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The store the processes share: the test's SQLite file, or a real PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"database": request.getfixturevalue("postgres_url")}


@pytest.fixture
async def pushing(fake: FakeTelegram) -> FakeTelegram:
    fake.push_webhook = True  # Telegram's side: deliver by itself, retry on any non-2xx
    return fake


@pytest.fixture
async def balancer() -> AsyncIterator[LoadBalancer]:
    lb = LoadBalancer(backends=[free_port(), free_port()], lose_answers=1)
    await lb.start()
    yield lb
    await lb.stop()


async def test_an_update_telegram_retries_to_another_instance_is_handled_once(
    pushing: FakeTelegram,
    balancer: LoadBalancer,
    launch: Launch,
    logs: LogWatch,
    shared: dict[str, Any],
) -> None:
    fake = pushing
    url = f"http://127.0.0.1:{balancer.port}/telegram/hook"
    instances = [
        await launch(
            {
                **shared,
                "instance": f"web-{n}",
                "telegram_webhook_url": url,
                "telegram_webhook_listen": "127.0.0.1",
                "telegram_webhook_port": port,
            }
        )
        for n, port in enumerate(balancer.backends)
    ]
    assert fake.webhook is not None and fake.webhook.url == url
    assert len(fake.calls_to("setWebhook")) == 2  # each instance at its start, idempotently
    secret = fake.webhook.secret_token
    assert secret  # derived from the token when not configured: the same on every instance

    update = fake.send_text(ALICE, "/latest")
    await fake.wait_for(
        lambda: [d.status for d in fake.webhook_deliveries] == [502, 200],
        what="the answer lost once, then the retry answered",
    )
    update_id = update["update_id"]
    assert [(port, uid) for port, uid, _ in balancer.forwarded] == [
        (balancer.backends[0], update_id),
        (balancer.backends[1], update_id),  # the retry went to the other instance
    ]
    assert {s for _, _, s in balancer.forwarded} == {secret}
    await logs.wait_for(f"update {update_id} was handled already; dropped")

    # The next reader's command still goes through, and Alice had one answer, not two.
    fake.send_text(BOB, "/help")
    await fake.wait_for_messages(BOB, 1)
    answers = [m.text for m in fake.messages_in(ALICE)]
    assert answers and "Issue #206" in answers[0]
    assert len(set(answers)) == len(answers)  # one reply (of several messages), not two
    assert fake.calls_to("getUpdates") == []  # webhook instances never poll
    assert all(not adapter.polling for adapter in instances)


async def test_one_process_polls_the_others_send_and_one_takes_over(
    fake: FakeTelegram, launch: Launch, logs: LogWatch, shared: dict[str, Any]
) -> None:
    options = {**shared, "lease_seconds": 0.6}
    first = await launch({**options, "instance": "poll-a"})
    second = await launch({**options, "instance": "poll-b"})
    assert (first.polling, second.polling) == (True, False)
    await fake.wait_for(lambda: fake.active_long_polls == 1, what="one long poll")

    fake.send_text(ALICE, "/help")
    await fake.wait_for_messages(ALICE, 1)
    # The one who stands by still sends (the dispatcher's deliveries, operators' notices).
    await second.send(Target("telegram", str(BOB), direct=True), Reply.text("from b"))
    assert [m.text for m in fake.messages_in(BOB)] == ["from b"]

    await first.stop()  # a clean stop hands the lease on at once
    await fake.wait_for(lambda: second.polling, timeout=5, what="the second process polling")
    fake.send_text(ALICE, "/start")
    await fake.wait_for_messages(ALICE, 2)
    assert "Conflict" not in logs.text  # never two getUpdates consumers at once


async def test_a_process_without_the_bot_role_never_receives(
    fake: FakeTelegram, launch: Launch
) -> None:
    send_only = await launch({"instance": "dispatch-only"}, receive=False)
    assert not send_only.polling and send_only.ready
    fake.send_text(ALICE, "/help")
    await send_only.send(Target("telegram", str(BOB), direct=True), Reply.text("digest"))
    assert [m.text for m in fake.messages_in(BOB)] == ["digest"]
    assert fake.calls_to("getUpdates") == [] and fake.calls_to("setWebhook") == []
    assert fake.messages_in(ALICE) == []  # nobody answered: no process here has the bot role


async def test_a_429_the_client_waits_out_is_counted_in_the_metrics(
    fake: FakeTelegram, launch: Launch
) -> None:
    adapter = await launch()
    where = {"platform": "telegram", "handled_by": "client"}
    before = REGISTRY.get_sample_value("dlw_rate_limited_total", where) or 0.0
    waited = REGISTRY.get_sample_value("dlw_rate_limit_wait_seconds_sum", where) or 0.0
    fake.fail_next("sendMessage", error_code=429, retry_after=1)
    await adapter.send(Target("telegram", str(BOB), direct=True), Reply.text("after a wait"))
    assert [m.text for m in fake.messages_in(BOB)] == ["after a wait"]  # the client retried
    assert REGISTRY.get_sample_value("dlw_rate_limited_total", where) == before + 1
    assert REGISTRY.get_sample_value("dlw_rate_limit_wait_seconds_sum", where) == waited + 1
