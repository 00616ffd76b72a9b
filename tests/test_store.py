"""The store: migrations, idempotent writes, atomic transactions, chat migration."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from bot.pacing import due_offsets
from bot.store import (
    BASELINE,
    MIGRATIONS,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    Settlement,
    SQLiteStore,
    StoreError,
    StoreUnavailable,
    Subscription,
    SubscriptionKind,
    Target,
    utcnow,
)
from bot.store.migrations import statements
from tests.conftest import Backend
from tests.helpers import wait_for

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
JAX = Subscription(SubscriptionKind.TOPIC, "jax")
DIFFUSION = Subscription(SubscriptionKind.KEYWORD, "diffusion")


async def test_migrations_apply_once_and_record_version(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = await SQLiteStore.open(path)
    assert await first.schema_version() == len(MIGRATIONS)
    await first.close()
    again = await SQLiteStore.open(path)  # reopening applies nothing twice
    assert await again.schema_version() == len(MIGRATIONS)
    await again.close()
    async with aiosqlite.connect(path) as db:
        mode = await (await db.execute("PRAGMA journal_mode")).fetchone()
        assert mode is not None and mode[0] == "wal"


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    await (await SQLiteStore.open(path)).close()
    async with aiosqlite.connect(path) as db:
        await db.execute("INSERT INTO schema_migrations VALUES (999, 'future')")
        await db.commit()
    with pytest.raises(StoreUnavailable, match="newer than this dlw-bot"):
        await SQLiteStore.open(path)


async def test_subscribe_is_idempotent_and_limited(store: Backend) -> None:
    outcome = await store.subscribe("telegram", "1", [PYTORCH, JAX, PYTORCH])
    assert outcome.added == (PYTORCH, JAX) and outcome.total == 2
    outcome = await store.subscribe("telegram", "1", [PYTORCH, DIFFUSION], limit=3)
    assert outcome.already == (PYTORCH,) and outcome.added == (DIFFUSION,)
    outcome = await store.subscribe(
        "telegram", "1", [Subscription(SubscriptionKind.KEYWORD, "x")], limit=3
    )
    assert outcome.refused and outcome.total == 3
    assert await store.subscriptions("telegram", "1") == [PYTORCH, JAX, DIFFUSION]
    assert await store.subscriptions("discord", "1") == []  # platforms are separate


async def test_unsubscribe(store: Backend) -> None:
    await store.subscribe("telegram", "1", [PYTORCH, JAX])
    assert await store.unsubscribe("telegram", "1", [JAX, DIFFUSION]) == [JAX]
    assert await store.unsubscribe_all("telegram", "1") == 1
    assert await store.unsubscribe_all("telegram", "nobody") == 0


async def test_inactive_subscribers_get_no_digests_until_they_return(store: Backend) -> None:
    await store.subscribe("telegram", "1", [PYTORCH])
    await store.subscribe("telegram", "2", [JAX])
    assert await store.set_subscriber_active("telegram", "1", False, "bot was blocked by the user")
    assert list(await store.subscribers_with_subscriptions()) == [("telegram", "2")]
    await store.subscribe("telegram", "1", [PYTORCH])  # using the bot again reactivates
    assert set(await store.subscribers_with_subscriptions("telegram")) == {
        ("telegram", "1"),
        ("telegram", "2"),
    }


async def test_channels_register_reactivate_and_threads(store: Backend) -> None:
    chat = Target("telegram", "-100")
    topic = Target("telegram", "-100", "5")
    assert await store.register_channel(chat, title="Group", registered_by="1")
    assert not await store.register_channel(chat, title="Group", registered_by="1")
    assert await store.register_channel(topic, title=None, registered_by="1")
    await store.set_channel_active(chat, False, "bot was kicked")
    assert await store.channels() == []
    inactive = await store.channels(active_only=False)
    assert {c.inactive_reason for c in inactive} == {"bot was kicked"}
    assert await store.register_channel(
        chat, title=None, registered_by="2"
    )  # re-added counts as new
    assert [c.title for c in await store.channels()] == ["Group"]


async def test_migrate_chat_moves_registrations(store: Backend) -> None:
    await store.register_channel(Target("telegram", "-1"), title="Old", registered_by="1")
    await store.register_channel(Target("telegram", "-1", "9"), title="Old", registered_by="1")
    await store.register_channel(Target("telegram", "-1009"), title="New", registered_by="1")
    await store.migrate_chat("telegram", "-1", "-1009")
    assert sorted(str(c.target) for c in await store.channels()) == [
        "telegram:-1009",
        "telegram:-1009/9",
    ]


async def test_failed_transaction_leaves_nothing(store: Backend) -> None:
    async def half_write() -> None:
        async with store.transaction() as db:
            await db.execute("INSERT INTO meta (key, value) VALUES ('half', 'written')")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        await half_write()
    assert await store.get_meta("half") is None


async def test_concurrent_writers_do_not_interleave(store: Backend) -> None:
    await asyncio.gather(
        *(
            store.subscribe(
                "telegram", str(i % 5), [Subscription(SubscriptionKind.KEYWORD, f"k{i}")]
            )
            for i in range(50)
        )
    )
    totals = [len(await store.subscriptions("telegram", str(u))) for u in range(5)]
    assert totals == [10] * 5


async def test_continuations_and_meta(store: Backend) -> None:
    key = await store.save_continuation("/search " + "long query " * 20, 2)
    assert len(key.encode()) <= 16
    assert await store.load_continuation(key) == ("/search " + "long query " * 20, 2)
    assert await store.load_continuation("nope") is None
    await store.set_meta("k", "v1")
    await store.set_meta("k", "v2")
    assert await store.get_meta("k") == "v2"


def test_migrations_are_portable_sql() -> None:
    """SQLite-only syntax would block the PostgreSQL backend."""
    import re

    text = " ".join(MIGRATIONS).upper()
    for construct in (
        "AUTOINCREMENT",
        "OR IGNORE",
        "OR REPLACE",
        "WITHOUT ROWID",
        "PRAGMA",
        "STRICT",
    ):
        assert not re.search(rf"\b{construct}\b", text), construct


# -- publications and the outbox --------------------------------------------------------------


def _planned(*chat_ids: str) -> list[PlannedDelivery]:
    return [PlannedDelivery(Target("tg", c), DeliveryKind.CHANNEL) for c in chat_ids]


async def test_a_publication_is_written_whole_or_not_at_all(store: Backend) -> None:
    # the same destination twice violates the outbox's unique key: nothing may remain
    with pytest.raises((sqlite3.IntegrityError, StoreError)):
        await store.create_publication(206, "manual", _planned("-1", "-2", "-1"))
    assert await store.publication(206) is None
    assert await store.outbox_counts() == {}
    assert await store.create_publication(206, "manual", _planned("-1", "-2"))
    assert not await store.create_publication(206, "manual", _planned("-3"))
    publication = await store.publication(206)
    assert publication is not None and publication.planned == 2
    assert publication.counts == {"tg": {DeliveryStatus.PENDING: 2}}


async def test_claims_are_exclusive_and_settling_needs_the_claim(store: Backend) -> None:
    await store.create_publication(206, "manual", _planned(*(str(n) for n in range(10))))
    first = await store.claim_deliveries("tg", "a", 6)
    second = await store.claim_deliveries("tg", "b", 6)
    assert len(first) == 6 and len(second) == 4
    assert not {d.id for d in first} & {d.id for d in second}
    assert await store.claim_deliveries("tg", "c", 6) == []
    assert await store.release_claims("tg", worker="b") == 4
    stale = second[0]
    assert not await store.mark_sent(stale, ["1"])  # released: no longer b's to settle
    again = await store.claim_deliveries("tg", "c", 10)
    assert len(again) == 4
    assert await store.mark_sent(again[0], ["m1", "m2"])
    counts = (await store.publication(206)).counts["tg"]  # type: ignore[union-attr]
    assert counts == {DeliveryStatus.CLAIMED: 9, DeliveryStatus.SENT: 1}


async def test_rows_are_claimed_only_when_due(store: Backend) -> None:
    await store.create_publication(206, "manual", _planned("-1"))
    (row,) = await store.claim_deliveries("tg", "a", 5)
    later = utcnow() + dt.timedelta(seconds=60)
    assert await store.retry_delivery(row, later, "429", count_attempt=False)
    assert await store.claim_deliveries("tg", "a", 5) == []
    assert await store.next_due("tg") == later
    (again,) = await store.claim_deliveries("tg", "a", 5, now=later)
    assert again.attempts == 0  # a rate limit is not an attempt


async def test_a_gone_destination_is_settled_and_deactivated_together(store: Backend) -> None:
    await store.subscribe("tg", "7", [PYTORCH])
    reader = Target.user("tg", "7")
    await store.create_publication(
        206, "manual", [PlannedDelivery(reader, DeliveryKind.DIGEST, {"items": []})]
    )
    await store.create_publication(207, "manual", [PlannedDelivery(reader, DeliveryKind.DIGEST)])
    (row,) = await store.claim_deliveries("tg", "a", 1)
    assert await store.mark_gone(row, "Forbidden: bot was blocked by the user", thread_only=False)
    assert await store.subscribers_with_subscriptions("tg") == {}
    # the reader's other pending row is settled too: nothing waits on a gone destination
    assert (await store.publication(207)).counts == {"tg": {DeliveryStatus.GONE: 1}}  # type: ignore[union-attr]
    outcome = await store.publication_outcome(206)
    assert outcome is not None
    (unreachable,) = outcome.unreachable
    assert unreachable.target == reader and "blocked" in unreachable.error


async def test_a_report_is_recorded_once_and_only_when_finished(store: Backend) -> None:
    await store.create_publication(206, "manual", _planned("-1"))
    report = [PlannedDelivery(Target.user("tg", "op"), DeliveryKind.REPORT, {"summary": "x"})]
    assert await store.unreported_publications() == []
    assert not await store.record_report(206, report)  # still pending
    (row,) = await store.claim_deliveries("tg", "a", 1)
    await store.mark_failed(row, "Bad Request")
    assert await store.unreported_publications() == [206]
    assert await store.record_report(206, report)
    assert not await store.record_report(206, report)
    assert await store.unreported_publications() == []
    assert (await store.outbox_counts())["tg"] == {
        DeliveryStatus.FAILED: 1,
        DeliveryStatus.PENDING: 1,
    }


async def test_baseline_is_reported_at_once_and_replaced_only_on_request(
    store: Backend,
) -> None:
    assert await store.create_publication(206, BASELINE, ())
    assert await store.unreported_publications() == []
    assert not await store.create_publication(206, "schedule", _planned("-1"))
    assert await store.create_publication(206, "cli", _planned("-1"), replace_baseline=True)
    publication = await store.publication(206)
    assert publication is not None and publication.trigger == "cli" and publication.planned == 1
    assert await store.latest_published() == 206


async def test_a_transaction_cancelled_while_beginning_leaves_the_connection_usable(
    store: Backend,
) -> None:
    task = asyncio.create_task(store.set_meta("a", "1"))
    await asyncio.sleep(0)  # the task holds the lock and waits for BEGIN IMMEDIATE
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await store.set_meta("b", "2")  # "cannot start a transaction within a transaction" before
    assert await store.get_meta("b") == "2"


# -- batches: claims and settlements ----------------------------------------------------------


async def test_a_batch_is_claimed_oldest_first(store: Backend) -> None:
    await store.create_publication(206, "manual", _planned(*(str(n) for n in range(5))))
    first = await store.claim_deliveries("tg", "a", 5)
    soon, later = utcnow() + dt.timedelta(seconds=5), utcnow() + dt.timedelta(seconds=9)
    assert await store.retry_delivery(first[0], later, "429", count_attempt=False)
    assert await store.retry_delivery(first[1], soon, "429", count_attempt=False)
    for row in first[2:]:
        assert await store.retry_delivery(row, soon, "429", count_attempt=False)
    again = await store.claim_deliveries("tg", "b", 10, now=later)
    # due at the same moment: in outbox order; the later one last
    assert [d.target.chat_id for d in again] == ["1", "2", "3", "4", "0"]
    assert {d.claim_token for d in again} == {again[0].claim_token}


async def test_settle_many_records_every_outcome_at_once(store: Backend) -> None:
    await store.subscribe("tg", "gone-reader", [PYTORCH])
    reader = Target.user("tg", "gone-reader")
    await store.create_publication(
        206,
        "manual",
        [
            *_planned("sent", "failed", "retry", "stale"),
            PlannedDelivery(reader, DeliveryKind.DIGEST),
        ],
    )
    await store.create_publication(207, "manual", [PlannedDelivery(reader, DeliveryKind.DIGEST)])
    rows = {d.target.chat_id: d for d in await store.claim_deliveries("tg", "a", 5)}
    assert await store.release_claims("tg", worker="a", processes=()) == 5
    retaken = {d.target.chat_id: d for d in await store.claim_deliveries("tg", "a", 5)}
    stale = rows["stale"]  # the claim before the release: its token is void
    due = utcnow() + dt.timedelta(seconds=30)
    results = await store.settle_many(
        [
            Settlement(retaken["sent"], "sent", message_ids=("m1", "m2")),
            Settlement(retaken["failed"], "failed", error="Bad Request: chat not found"),
            Settlement(
                retaken["retry"],
                "retry",
                message_ids=("part1",),
                error="Timed out",
                not_before=due,
            ),
            Settlement(stale, "sent", message_ids=("late",)),
            Settlement(retaken["gone-reader"], "gone", error="Forbidden: bot was blocked"),
            Settlement(retaken["sent"], "failed", error="twice"),  # settled already above
        ]
    )
    assert results == [True, True, True, False, True, False]
    counts = (await store.publication(206)).counts["tg"]  # type: ignore[union-attr]
    assert counts == {
        DeliveryStatus.SENT: 1,
        DeliveryStatus.FAILED: 1,
        DeliveryStatus.PENDING: 1,
        DeliveryStatus.CLAIMED: 1,  # the stale settle changed nothing: still the new claim's
        DeliveryStatus.GONE: 1,
    }
    # the gone reader is deactivated and its other pending row settled with it
    assert await store.subscribers_with_subscriptions("tg") == {}
    assert (await store.publication(207)).counts == {"tg": {DeliveryStatus.GONE: 1}}  # type: ignore[union-attr]
    outcome = await store.publication_outcome(206)
    assert outcome is not None
    assert sorted(u.error for u in outcome.unreachable) == [
        "Bad Request: chat not found",
        "Forbidden: bot was blocked",
    ]
    # the retried row comes back when due, knowing which part was delivered, one attempt on
    (retried,) = await store.claim_deliveries("tg", "b", 5, now=due)
    assert retried.target.chat_id == "retry"
    assert retried.sent == ("part1",) and retried.attempts == 1
    assert await store.settle_many([]) == []


def test_a_retry_settlement_needs_a_due_time() -> None:
    row = Delivery(1, 206, Target("tg", "1"), DeliveryKind.CHANNEL, {}, 0, "a")
    with pytest.raises(ValueError, match="not_before"):
        Settlement(row, "retry", error="Timed out")


# -- instances, leases, webhook updates, shared rate budgets ----------------------------------


async def test_instances_keep_their_roles_and_start(store: Backend) -> None:
    await store.heartbeat("h:1:a", "bot-1", roles=("bot", "dispatch"))
    await store.heartbeat("h:2:b", "bot-2", roles=("dispatch",))
    (first, _) = await store.instances()
    await wait_for(lambda: utcnow() > first.last_seen, "the clock to move on")
    await store.heartbeat("h:1:a", "bot-1")  # a dispatcher's beat names no roles: kept
    one, two = await store.instances()
    assert (one.process, one.worker, one.roles) == ("h:1:a", "bot-1", ("bot", "dispatch"))
    assert one.started_at == first.started_at < one.last_seen
    assert (two.process, two.roles) == ("h:2:b", ("dispatch",))
    assert "h:1:a" in await store.processes()
    await wait_for(lambda: utcnow() > one.last_seen, "the clock to move on")
    assert await store.instances(seen_within=0.0) == []  # nobody beat since
    with pytest.raises(ValueError, match="plain name"):
        await store.heartbeat("h:1:a", "bot-1", roles=("bot,dispatch",))


async def test_leases_are_held_renewed_released_and_expire(store: Backend) -> None:
    assert await store.take_lease("feed-poller", "one", 60)
    assert not await store.take_lease("feed-poller", "two", 60)
    assert await store.take_lease("feed-poller", "one", 120)  # renewed by its holder
    (lease,) = await store.leases()
    assert (lease.name, lease.holder) == ("feed-poller", "one")
    assert lease.until > utcnow() + dt.timedelta(seconds=100)
    assert not await store.release_lease("feed-poller", "two")  # not two's to give up
    assert await store.release_lease("feed-poller", "one")
    assert await store.leases() == []
    assert await store.take_lease("feed-poller", "two", 0)  # held until now: expired at once
    taken = utcnow()
    await wait_for(lambda: utcnow() > taken, "the clock to move on")
    assert await store.leases() == []
    assert await store.take_lease("feed-poller", "one", 60)  # an expired lease is free


async def test_an_update_is_first_seen_once(store: Backend) -> None:
    assert await store.first_seen("telegram", 1001)
    assert not await store.first_seen("telegram", 1001)  # Telegram retried it
    assert await store.first_seen("discord", 1001)  # another platform's ids are separate
    assert await store.first_seen("telegram", 1002)


async def test_tokens_are_granted_up_to_the_burst_then_at_the_rate(store: Backend) -> None:
    assert await store.take_tokens("telegram", 3, rate=2.0, burst=5) == (3, 0.0)
    granted, wait = await store.take_tokens("telegram", 5, rate=2.0, burst=5)
    assert granted == 2 and 0 < wait <= 0.5  # one token takes 1/rate seconds
    assert (await store.take_tokens("other", 1, rate=2.0, burst=5))[0] == 1  # its own bucket
    nothing, still = await store.take_tokens("telegram", 0, rate=2.0, burst=5)
    assert nothing == 0 and 0 < still <= wait  # asking for none takes none
    for bad, message in (
        ({"wanted": -1, "rate": 1.0, "burst": 1.0}, "wanted"),
        ({"wanted": 1, "rate": 0.0, "burst": 1.0}, "positive rate"),
        ({"wanted": 1, "rate": 1.0, "burst": 0.5}, "burst"),
    ):
        with pytest.raises(ValueError, match=message):
            await store.take_tokens("telegram", **bad)  # type: ignore[arg-type]


async def test_tokens_booked_ahead_fall_due_at_the_rate_and_are_not_granted_twice(
    store: Backend,
) -> None:
    rate, burst = 1.0, 2.0
    # A full bucket (2) and 3 booked ahead: 5 granted, the bucket 3 below zero, so the next
    # token accrues (1 - -3) / 1 = 4 s from now and the booked ones fall due a second apart.
    granted, wait = await store.take_tokens("tg", 9, rate=rate, burst=burst, book=3)
    assert granted == 5 and 3.5 < wait <= 4.0
    dues = due_offsets(granted, wait, rate)
    assert dues[:2] == [0.0, 0.0] and dues[2:] == pytest.approx([wait - 3, wait - 2, wait - 1])
    # Another taker (another process) finds the bucket booked: nothing until it refills.
    nothing, later = await store.take_tokens("tg", 9, rate=rate, burst=burst, book=3)
    assert nothing == 0 and 3.0 < later <= wait
    # Without booking ahead the same bucket refuses too, and says when the next token accrues.
    assert (await store.take_tokens("tg", 1, rate=rate, burst=burst))[0] == 0
    with pytest.raises(ValueError, match="booked ahead"):
        await store.take_tokens("tg", 1, rate=rate, burst=burst, book=-1)


async def test_tokens_never_exceed_rate_times_time_plus_burst(store: Backend) -> None:
    loop = asyncio.get_running_loop()
    rate, burst = 200.0, 10.0
    start = loop.time()
    granted = calls = 0
    while loop.time() - start < 0.3 or calls < 5:  # however slow the machine, a few refills
        got, wait = await store.take_tokens("tg", 7, rate=rate, burst=burst)
        granted, calls = granted + got, calls + 1
        assert got == 7 or wait > 0
    elapsed = loop.time() - start
    assert burst < granted <= rate * elapsed + burst


async def test_leases_held_in_meta_move_to_their_table(tmp_path: Path) -> None:
    """A database at schema 2 kept leases as JSON in meta; migration 3 moves them."""
    path = tmp_path / "db.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for version, script in enumerate(MIGRATIONS[:2], start=1):
            for statement in statements(script):
                await db.execute(statement)
            await db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (version,))
        until = (utcnow() + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await db.execute(
            "INSERT INTO meta VALUES ('lease:feed-poller', ?)",
            (f'{{"holder": "old-process", "until": "{until}"}}',),
        )
        await db.commit()
    store = await SQLiteStore.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert [(x.name, x.holder) for x in await store.leases()] == [
            ("feed-poller", "old-process")
        ]
        assert not await store.take_lease("feed-poller", "new-process", 60)  # still held
        assert await store.get_meta("lease:feed-poller") is None
    finally:
        await store.close()


async def test_replace_meta_is_a_compare_and_set(store: Backend) -> None:
    assert await store.replace_meta("slot", "a", expected=None)  # absent: set
    assert not await store.replace_meta("slot", "b", expected=None)  # not absent any more
    assert not await store.replace_meta("slot", "b", expected="x")
    assert await store.replace_meta("slot", "b", expected="a")
    assert await store.get_meta("slot") == "b"
    assert await store.replace_meta("slot", None, expected="b")  # removed
    assert await store.get_meta("slot") is None
    assert await store.replace_meta("slot", None, expected=None)  # already absent
    results = await asyncio.gather(
        *(store.replace_meta("k", str(n), expected=None) for n in range(5))
    )
    assert sorted(results) == [False] * 4 + [True]


# -- SQLite: reads on a connection of their own ------------------------------------------------


async def test_reads_do_not_queue_behind_a_write_waiting_for_another_process(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite3"
    store = await SQLiteStore.open(path, busy_timeout=3.0)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        await store.set_meta("k", "before")
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
        write = asyncio.create_task(store.set_meta("k", "after"))
        await wait_for(store._lock.locked, "the write waiting for the lock")
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with asyncio.timeout(2):  # the bound a queued read fails on (it used to wait 3 s)
            assert await store.get_meta("k") == "before"
            assert await store.subscriptions("tg", "nobody") == []
        assert loop.time() - started < 1.0 and not write.done()
        other.execute("ROLLBACK")
        await write
        assert await store.get_meta("k") == "after"
    finally:
        other.close()
        await store.close()


async def test_every_read_sees_what_another_process_committed_since(tmp_path: Path) -> None:
    """A read that left its cursor open would keep its WAL snapshot: every later read on the
    reader connection would miss newer commits (a second process's claims, say)."""
    path = tmp_path / "db.sqlite3"
    mine, theirs = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        for n in range(3):
            # each kind of read: fetchone, fetchall, async for, two queries in one read
            assert await mine.get_meta("k") == (str(n - 1) if n else None)
            assert len(await mine.channels()) == n
            assert len(await mine.subscribers_with_subscriptions()) == n
            assert sum((await mine.outbox_counts()).get("tg", {}).values()) == n
            assert len(await mine.publications()) == n
            await theirs.set_meta("k", str(n))
            await theirs.register_channel(Target("tg", f"-{n}"), title=None, registered_by=None)
            await theirs.subscribe("tg", f"r{n}", [PYTORCH])
            await theirs.create_publication(300 + n, "manual", _planned(f"-{n}"))
        assert await mine.get_meta("k") == "2" and len(await mine.channels()) == 3
    finally:
        await mine.close()
        await theirs.close()


async def test_saved_continuations_stay_bounded_per_owner_under_a_linguistic_collation(
    postgres_server: str,
) -> None:
    """PostgreSQL images default to en_US-like collations, where "~" sorts before letters: the
    per-owner bound must not depend on the database's collation (it once kept every key)."""
    import secrets

    import asyncpg

    from bot.store.postgres import PostgresStore
    from tests.conftest import database_url

    name = f"dlw_icu_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server)
    try:
        try:
            await admin.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
                " ICU_LOCALE 'en' LOCALE 'C'"
            )
        except asyncpg.FeatureNotSupportedError:  # pgserver's wheel is built without ICU
            pytest.skip("this PostgreSQL has no ICU collations (DLW_TEST_POSTGRES_URL may)")
    finally:
        await admin.close()
    try:
        store = await PostgresStore.open(database_url(postgres_server, name))
        try:
            for n in range(12):
                await store.save_continuation(f"/search q{n}", 2, owner="tg:42", keep=5)
            await store.save_continuation("/search other", 2, owner="tg:7", keep=5)
            async with store.transaction() as conn:
                kept = await conn.fetchval("SELECT count(*) FROM continuations")
            assert kept == 5 + 1
        finally:
            await store.close()
    finally:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
