"""Leadership through a lease in the shared store: one leader at a time among processes, and
another takes over when the leader dies (here: its database connection is gone)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.leadership import Leadership
from bot.store import SQLiteStore
from tests.helpers import wait_for


async def test_one_leader_and_a_takeover_when_it_dies(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    first_store = await SQLiteStore.open(database)
    second_store = await SQLiteStore.open(database)
    events: list[str] = []

    async def noted(what: str) -> None:
        events.append(what)

    first = Leadership(
        first_store,
        "job",
        "one",
        seconds=0.6,
        on_elected=lambda: noted("one elected"),
        on_deposed=lambda: noted("one deposed"),
    )
    second = Leadership(
        second_store,
        "job",
        "two",
        seconds=0.6,
        on_elected=lambda: noted("two elected"),
        on_deposed=lambda: noted("two deposed"),
    )
    runs = [asyncio.create_task(first.run())]
    await first.decided.wait()
    runs.append(asyncio.create_task(second.run()))
    await second.decided.wait()
    try:
        assert (first.held, second.held) == (True, False)
        await first_store.close()  # the leader's process is gone: it can't renew any more
        await wait_for(lambda: second.held, "the second process taking over", timeout=5)
        assert not first.held  # it stepped down on its own, before its lease ran out
        assert events == ["one elected", "one deposed", "two elected"]
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await second_store.close()
    assert events[-1] == "two deposed"


async def test_a_leader_that_cannot_start_lets_go_and_tries_again(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "bot.sqlite3")
    attempts: list[str] = []

    async def flaky() -> None:
        attempts.append("start")
        if len(attempts) == 1:
            raise ConnectionError("the platform is unreachable")

    leadership = Leadership(store, "job", "one", seconds=0.3, on_elected=flaky)
    run = asyncio.create_task(leadership.run())
    try:
        await leadership.decided.wait()
        assert not leadership.held and await store.leases() == []  # handed back at once
        await wait_for(lambda: leadership.held, "the second attempt", timeout=5)
        assert attempts == ["start", "start"]
        assert [lease.holder for lease in await store.leases()] == ["one"]
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await store.close()
