"""The App's lifecycle: ``async with App.create(...)`` opens everything and closes it again."""

from __future__ import annotations

from bot.app import App
from bot.config import Settings


async def test_async_with_stops_background_work_on_the_way_out(settings: Settings) -> None:
    async with App.create(settings) as app:
        assert await app.store.latest_published() is None
        app.watch_content()
        (watcher,) = app._tasks
        assert not watcher.done()
    assert watcher.done()
    assert app._tasks == []


async def test_running_starts_and_stops_the_adapters_in_order(settings: Settings) -> None:
    from adapters.console import ConsoleAdapter

    events: list[str] = []

    class Recording(ConsoleAdapter):
        async def start(self) -> None:
            events.append("start")

        async def stop(self) -> None:
            events.append("stop")

    async with App.create(settings.model_copy(update={"publish_schedule": "off"})) as app:
        adapter = Recording(app.adapter_services)
        async with app.running([adapter]):
            assert app.adapters == [adapter] and len(app.dispatchers) == 1
        assert app.adapters == [] and app.dispatchers == []
    assert events == ["start", "stop"]
