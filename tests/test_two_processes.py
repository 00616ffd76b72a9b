"""Two processes sharing one database never send a row twice (issue 11): the default
DLW_INSTANCE was the host name, so two processes on one host shared it, the second took the
first one's in-flight claims back at start and 8 digests went out twice. Each "process" here is
an App with its own connection to the same database: a SQLite file, and PostgreSQL (issue 14)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.config import Settings
from bot.model import machine
from bot.publishing.dispatcher import ended_here
from bot.reply import Reply
from bot.store import Store, Subscription, SubscriptionKind, Target
from tests.helpers import wait_for
from tests.test_publishing import ScriptedPlatform

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
READERS = 20
IN_FLIGHT = 3


@dataclass
class GatedPlatform(ScriptedPlatform):
    """A slow process's platform: every send waits for ``gate``."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        self.waiting += 1
        await self.gate.wait()
        return await super().send(target, reply, skip=skip)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@dataclass
class OpenPlatform(ScriptedPlatform):
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def process_settings(content_dir: Path, database: Path | str, instance: str | None) -> Settings:
    if instance is None:
        return Settings(content_dir=content_dir, database=database)
    return Settings(content_dir=content_dir, database=database, instance=instance)


@pytest.fixture
async def processes(
    settings: Settings, store_location: Path | str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[App, App]]:
    """Two apps on one database (each backend), as two processes would be; ``instance`` from
    the test's mark (``None``: each its default)."""
    instance = request.param
    first = process_settings(settings.content_dir, store_location, instance)
    second = process_settings(settings.content_dir, store_location, instance)
    async with (
        App.create(first, local_platforms=LOCAL_PLATFORMS) as a,
        App.create(second, local_platforms=LOCAL_PLATFORMS) as b,
    ):
        yield a, b
        await a.stop_publishing()
        await b.stop_publishing()


async def counts(store: Store) -> dict[str, int]:
    return {str(k): v for k, v in (await store.outbox_counts()).get("tg", {}).items()}


@pytest.mark.parametrize("processes", ["bot", None], indirect=True, ids=["same-name", "defaults"])
async def test_a_second_process_never_resends_the_first_ones_rows(
    processes: tuple[App, App],
) -> None:
    a, b = processes
    for n in range(READERS):
        await a.store.subscribe("tg", f"r{n}", [PYTORCH])
    await a.publisher.publish(206)

    slow = GatedPlatform(platform="tg")
    a.dispatch(slow, idle_poll=0.02, concurrency=IN_FLIGHT)
    await wait_for(lambda: slow.waiting == IN_FLIGHT, "the first process mid-send")

    fast = OpenPlatform(platform="tg")
    b.dispatch(fast, idle_poll=0.02)
    await wait_for(
        lambda: len(fast.sent) >= READERS - IN_FLIGHT, "the second process sending the rest"
    )
    # the last send's outcome may still be on its way to the store: wait for it, then no more
    rest = {"sent": READERS - IN_FLIGHT, "claimed": IN_FLIGHT}
    await wait_for(lambda: _counts_are(b.store, rest), "the rest recorded as sent")

    slow.gate.set()
    await wait_for(lambda: _all_sent(b.store), "every digest recorded as sent", timeout=15)
    sends = Counter(t.chat_id for t, _ in [*slow.sent, *fast.sent])
    assert sends == Counter({f"r{n}": 1 for n in range(READERS)})  # each exactly once


async def _counts_are(store: Store, wanted: dict[str, int]) -> bool:
    return await counts(store) == wanted


async def _all_sent(store: Store) -> bool:
    return await counts(store) == {"sent": READERS}


def test_the_default_instance_is_unique_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DLW_INSTANCE", raising=False)
    first, second = Settings().instance, Settings().instance
    assert first != second
    assert first.startswith(f"{machine()}:{os.getpid()}:")
    assert machine().startswith(socket.gethostname())


@pytest.fixture
async def app_on(settings: Settings, store_location: Path | str) -> AsyncIterator[App]:
    """The app on each backend."""
    on = settings.model_copy(update={"database": store_location})
    async with App.create(on, local_platforms=LOCAL_PLATFORMS) as application:
        yield application


async def test_claims_of_a_process_that_stopped_are_taken_back_without_waiting_the_lease(
    app_on: App,
) -> None:
    app = app_on
    for n in range(4):
        await app.store.subscribe("tg", f"r{n}", [PYTORCH])
    await app.publisher.publish(206)
    await app.store.heartbeat("host:1:dead", "old-name")
    dead = await app.store.claim_deliveries("tg", "old-name", 2, process="host:1:dead")
    assert len(dead) == 2  # and then that process died: its heartbeat goes stale

    platform = OpenPlatform(platform="tg")
    app.dispatch(platform, idle_poll=0.02, heartbeat=0.05)  # the lease stays 10 minutes
    await wait_for(lambda: len(platform.sent) == 4, "all four digests, the dead ones' too")
    assert sorted(t.chat_id for t, _ in platform.sent) == [f"r{n}" for n in range(4)]
    assert not await app.store.mark_sent(dead[0], ["late"])  # fenced: the old claim is void
    await app.stop_publishing()


def test_a_restart_on_the_same_host_knows_which_processes_ended() -> None:
    with subprocess.Popen(["true"]) as finished:  # a pid that no longer runs
        finished.wait()
    host = machine()
    gone = f"{host}:{finished.pid}:aa"
    # Another container on this host name (host networking): its pids are not ours to judge.
    container = f"{socket.gethostname()}~1234abcd:{finished.pid}:dd"
    names = [gone, f"{host}:{os.getpid()}:bb", f"elsewhere:{finished.pid}:cc", container, "bot"]
    assert ended_here(names) == [
        gone
    ]  # not this process, another host's or container's, a bare name
