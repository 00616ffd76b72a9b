"""Several processes on one PostgreSQL store (issue 14), each simulated by a store of its own:
its own pool, so its own server connections, and the server interleaves them for real. No row
is claimed twice, a dead claimant's rows are taken back, the shared token bucket never grants
more than the rate allows, an update is handled once, the weekly slot fires once, a lease has
one holder at a time, and migrations run once when processes start together."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.config import Settings
from bot.publishing import PublishResult
from bot.schedule import Schedule
from bot.scheduler import LAST_SLOT_KEY, WeeklyPublisher
from bot.store import (
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    Settlement,
    StoreUnavailable,
    Target,
    utcnow,
)
from bot.store.postgres import PostgresStore
from bot.store.postgres_migrations import MIGRATIONS
from tests.conftest import BUNDLED_CONTENT, create_database
from tests.helpers import wait_for
from tests.test_scheduler import add_issue, at


@pytest.fixture
async def stores(postgres_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three 'processes' on one database."""
    async with AsyncExitStack() as stack:
        opened = []
        for _ in range(3):
            store = await PostgresStore.open(postgres_url)
            stack.push_async_callback(store.close)
            opened.append(store)
        yield opened


def readers(n: int) -> list[PlannedDelivery]:
    return [PlannedDelivery(Target.user("tg", f"r{i}"), DeliveryKind.DIGEST) for i in range(n)]


async def test_three_dispatchers_never_claim_the_same_row(stores: list[PostgresStore]) -> None:
    rows = 600
    await stores[0].create_publication(206, "manual", readers(rows))

    async def dispatcher(store: PostgresStore, name: str) -> list[int]:
        mine: list[int] = []
        while batch := await store.claim_deliveries("tg", name, 25, process=name):
            mine += [d.id for d in batch]
            settled = await store.settle_many(
                [Settlement(d, "sent", message_ids=(f"m{d.id}",)) for d in batch]
            )
            assert all(settled)
        return mine

    claimed = await asyncio.gather(*(dispatcher(s, f"p{n}") for n, s in enumerate(stores)))
    every = [i for ids in claimed for i in ids]
    assert len(every) == rows and len(set(every)) == rows  # each row exactly once
    assert all(claimed), [len(c) for c in claimed]  # all three took part
    assert (await stores[0].outbox_counts())["tg"] == {DeliveryStatus.SENT: rows}


async def test_a_dead_dispatchers_claims_are_taken_back_and_its_late_settle_refused(
    stores: list[PostgresStore],
) -> None:
    dead, alive, _ = stores
    await dead.create_publication(206, "manual", readers(10))
    await dead.heartbeat("host:1:dead", "w-dead")
    await alive.heartbeat("host:2:alive", "w-alive")
    lost = await dead.claim_deliveries("tg", "w-dead", 10, process="host:1:dead")
    assert len(lost) == 10
    # the live process sees the dead one's heartbeat go stale and takes its rows back
    stale = utcnow()
    await wait_for(lambda: utcnow() > stale, "the clock to move on")
    await alive.heartbeat("host:2:alive", "w-alive")
    assert await alive.release_claims("tg", silent_since=stale) == 10
    resumed = await alive.claim_deliveries("tg", "w-alive", 10, process="host:2:alive")
    assert sorted(d.id for d in resumed) == sorted(d.id for d in lost)
    # the dead one wakes up: its claims are void, nothing it records counts
    assert (
        await dead.settle_many([Settlement(d, "sent", message_ids=("late",)) for d in lost])
        == [False] * 10
    )
    assert all(
        await alive.settle_many([Settlement(d, "sent", message_ids=("m",)) for d in resumed])
    )
    # a claim older than the lease is taken back too, whoever made it
    await alive.create_publication(207, "manual", readers(3))
    old = await alive.claim_deliveries("tg", "w-alive", 3, process="host:2:alive")
    assert await dead.release_claims("tg", older_than=utcnow() + dt.timedelta(seconds=1)) == 3
    assert not await alive.mark_sent(old[0], ["m"])


async def test_the_shared_bucket_never_grants_more_than_the_rate_allows(
    stores: list[PostgresStore],
) -> None:
    rate, burst = 300.0, 30.0
    loop = asyncio.get_running_loop()
    grants: list[list[int]] = [[], [], []]

    async def client(n: int, store: PostgresStore, until: float) -> None:
        while loop.time() < until:
            got, wait = await store.take_tokens("telegram", 8, rate=rate, burst=burst)
            grants[n].append(got)
            if not got:
                await asyncio.sleep(min(wait, 0.01))  # the bucket says when; not a test wait

    start = loop.time()
    await asyncio.gather(*(client(n, s, start + 1.0) for n, s in enumerate(stores)))
    elapsed = loop.time() - start
    total = sum(map(sum, grants))
    assert total <= rate * elapsed + burst, (total, elapsed)
    assert total >= burst + 1  # it refilled and granted again
    assert all(sum(g) for g in grants)  # shared among all three


async def test_an_update_is_first_seen_once_across_instances(
    stores: list[PostgresStore],
) -> None:
    a, b, _ = stores
    ids = list(range(5000, 5100))
    # behind a load balancer, Telegram's retries land on either instance, at the same time
    seen = await asyncio.gather(
        *(store.first_seen("telegram", i) for i in ids for store in (a, b, a))
    )
    by_id = [seen[3 * k : 3 * k + 3] for k in range(len(ids))]
    assert all(sum(triple) == 1 for triple in by_id)


async def test_one_lease_holder_at_a_time_and_takeover_when_it_stops_renewing(
    stores: list[PostgresStore],
) -> None:
    first = await asyncio.gather(
        *(s.take_lease("feed-poller", f"p{n}", 0.3) for n, s in enumerate(stores))
    )
    assert sorted(first) == [False, False, True]
    leader = first.index(True)
    others = [n for n in range(3) if n != leader]
    (lease,) = await stores[others[0]].leases()
    assert lease.holder == f"p{leader}"
    # the leader stops renewing: once its lease runs out another takes over, and only one
    new = await wait_for(
        lambda: _take_any(stores, others, 10.0), "another process to take the lease"
    )
    assert new in [f"p{n}" for n in others]
    assert not await stores[leader].take_lease("feed-poller", f"p{leader}", 10.0)
    (lease,) = await stores[leader].leases()
    assert lease.holder == new


async def _take_any(stores: list[PostgresStore], candidates: list[int], seconds: float) -> str:
    """The holder name of whichever candidate took the lease now ("": none could)."""
    won = await asyncio.gather(
        *(stores[n].take_lease("feed-poller", f"p{n}", seconds) for n in candidates)
    )
    assert sum(won) <= 1
    return next((f"p{n}" for n, w in zip(candidates, won, strict=True) if w), "")


async def test_migrations_run_once_when_processes_start_together(postgres_server: str) -> None:
    url = await create_database(postgres_server, "dlw_fresh_start")
    opened = await asyncio.gather(*(PostgresStore.open(url) for _ in range(4)))
    try:
        assert [await s.schema_version() for s in opened] == [len(MIGRATIONS)] * 4
        async with opened[0].reading() as conn:
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert sorted(versions) == list(range(1, len(MIGRATIONS) + 1))
        async with opened[0].transaction() as conn:
            await conn.execute("INSERT INTO schema_migrations VALUES (99, now())")
    finally:
        for store in opened:
            await store.close()
    with pytest.raises(StoreUnavailable, match="schema version 99, newer than this dlw-bot"):
        await PostgresStore.open(url)


# -- the weekly slot ------------------------------------------------------------------------


@pytest.fixture
def shared_content(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(BUNDLED_CONTENT, target)
    return target


async def test_three_schedulers_at_one_slot_publish_once(
    postgres_url: str, shared_content: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(content_dir=shared_content, database=postgres_url)
    slot = at("2026-11-25 16:00")
    async with AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(App.create(settings, local_platforms=LOCAL_PLATFORMS))
            for _ in range(3)
        ]
        await apps[0].publisher.ensure_baseline()  # 206
        await apps[0].store.set_meta(LAST_SLOT_KEY, at("2026-11-18 16:00").isoformat())
        add_issue(shared_content, 207)
        for app in apps:
            await app.archive.reload()
        weekly = [WeeklyPublisher(Schedule.parse("wed 16:00"), a.publisher, a.store) for a in apps]
        results = await asyncio.gather(*(w.publish_slot(slot) for w in weekly))
        published = [r for r in results if isinstance(r, PublishResult)]
        assert len(published) == 1 and published[0].created  # one process published...
        assert published[0].issue_number == 207
        assert [p.issue_number for p in await apps[1].store.publications()] == [207, 206]
        # ...and a new issue arriving just after is not published at the same slot
        add_issue(shared_content, 208)
        await apps[2].archive.reload()
        assert await weekly[2].publish_slot(slot) is None
        assert await apps[2].store.publication(208) is None
        assert await apps[2].store.get_meta(LAST_SLOT_KEY) == slot.isoformat()
