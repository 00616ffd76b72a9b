"""What adapters get of the core: a word to the operators never fails the adapter."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.platform import AdapterServices
from bot.reply import Reply


async def test_report_to_operators_goes_to_the_apps_operators(app: App) -> None:
    told: list[Reply] = []

    async def tell(reply: Reply) -> None:
        told.append(reply)

    services = AdapterServices(app.registry, app, app.store, tell_operators=tell)
    notice = Reply.text("Grant the bot Manage Messages in #news.")
    await services.report_to_operators(notice)
    assert told == [notice]


async def test_a_report_that_cannot_be_delivered_is_logged_not_raised(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(reply: Reply) -> None:
        raise ConnectionError("the platform is down")

    await AdapterServices(app.registry, app, app.store, tell_operators=broken).report_to_operators(
        Reply.text("first")
    )
    await AdapterServices(app.registry, app, app.store).report_to_operators(Reply.text("second"))
    assert "could not tell the operators: first" in caplog.text
    assert "no way to reach the operators; not told: second" in caplog.text


async def test_senders_are_the_live_processes_in_the_dispatch_role(app: App) -> None:
    services = AdapterServices(app.registry, app, app.store)
    assert await services.senders() == 1  # nobody has beaten yet: this process, at least
    await app.store.heartbeat("host:1:a", "a", roles=("bot", "dispatch", "schedule"))
    await app.store.heartbeat("host:2:b", "b", roles=("dispatch",))
    await app.store.heartbeat("host:3:c", "c", roles=("bot",))  # replies only: no fan-out
    assert await services.senders() == 2
