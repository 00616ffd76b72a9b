""":class:`~bot.store.Store` on PostgreSQL through asyncpg, for several processes on one store.

It behaves as :class:`~bot.store.sqlite.SQLiteStore` does, method for method (the store tests
run on both); what differs is how processes coordinate: claims take rows with ``FOR UPDATE SKIP
LOCKED`` (two dispatchers never wait on, or take, each other's rows), the shared token bucket
and lease are single atomic statements, and migrations run under an advisory lock. The schema
comes from :mod:`bot.store.postgres_migrations`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg

from bot.model import (
    BASELINE,
    MAX_SUBSCRIPTIONS,
    Channel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Instance,
    Lease,
    PlannedDelivery,
    Publication,
    PublicationOutcome,
    Settlement,
    SubscribeOutcome,
    Subscription,
    SubscriptionKind,
    Target,
    Unreachable,
    utcnow,
)
from bot.store._common import (
    UPDATES_KEPT,
    RowSettles,
    check_bucket,
    join_roles,
    next_token,
    settlement_rows,
    split_roles,
)
from bot.store.postgres_migrations import MIGRATION_LOCK, MIGRATIONS
from bot.store.protocols import StoreBusy, StoreError, StoreUnavailable, StoreUnreachable
from bot.store.sqlite import owner_prefix
from bot.store.urls import redact

__all__ = ["PostgresStore"]

Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

#: SQLSTATE classes meaning "try again later": lock timeout, deadlock, serialization failure.
_BUSY = {"55P03", "40P01", "40001"}


def _text_ts(moment: dt.datetime | None) -> str | None:
    """Publications report their times as text, exactly as the SQLite store does."""
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def translate(exc: BaseException, where: str) -> StoreError | None:
    """asyncpg's errors → the store's: busy (retry later), unavailable (the server is gone or
    refuses us), anything else the database refused. ``None``: not a database error."""
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        if state in _BUSY:
            return StoreBusy(f"the database is busy ({exc})")
        if state.startswith(("08", "57P", "53")):  # connection, shutdown, insufficient resources
            return StoreUnavailable(f"{where}: {exc}")
        return StoreError(f"{where}: the database refused the change ({exc})")
    if isinstance(exc, asyncpg.InterfaceError | OSError | TimeoutError):
        return StoreUnavailable(f"{where}: the connection to the database failed ({exc})")
    return None


class PostgresStore(RowSettles):
    """:class:`Store` on one PostgreSQL database, through a pool of connections.

    Each transaction takes one connection of the pool for its duration, so (unlike the SQLite
    store's single connection) reads never queue behind another task's write.
    """

    def __init__(self, pool: Pool, where: str) -> None:
        self._pool = pool
        self._where = where  # the URL without its password, for messages

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        busy_timeout: float = 3.0,
        connect_timeout: float = 10.0,
        pool_size: int = 10,
    ) -> PostgresStore:
        """Connect to ``url`` (``postgresql://user:password@host/db``) and migrate it.

        Raises :class:`StoreUnavailable` naming the server (password redacted) and what is
        wrong: unreachable, wrong credentials, no such database, or a schema newer than this
        code. ``busy_timeout``: how long a statement waits for another process's row locks before
        :class:`StoreBusy`.
        """
        where = redact(url)
        try:
            pool: Pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                timeout=connect_timeout,
                server_settings={
                    "lock_timeout": str(max(1, int(busy_timeout * 1000))),
                    "timezone": "UTC",
                    "application_name": "dlw-bot",
                },
            )
        except asyncpg.InvalidPasswordError:
            raise StoreUnreachable(f"{where}: the server refused the password") from None
        except asyncpg.InvalidCatalogNameError:
            raise StoreUnreachable(f"{where}: no such database on the server") from None
        except asyncpg.InvalidAuthorizationSpecificationError as exc:
            raise StoreUnreachable(f"{where}: the server refused the login ({exc})") from None
        except (OSError, TimeoutError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StoreUnreachable(f"{where}: cannot reach the server ({reason})") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StoreUnreachable(f"{where}: cannot connect ({exc})") from None
        store = cls(pool, where)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except StoreError:
            raise
        except Exception as exc:
            error = translate(exc, self._where)
            if error is None:
                raise
            raise error from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """One atomic unit of work on one pooled connection (read committed: every statement
        sees what other processes committed before it; the claim and settle statements are
        written for that)."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    reading = _connection

    async def _migrate(self) -> None:
        async with self._connection() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                )
                current = await conn.fetchval("SELECT MAX(version) FROM schema_migrations") or 0
                if current > len(MIGRATIONS):
                    raise StoreUnavailable(
                        f"{self._where}: the database is at schema version {current}, newer than"
                        f" this dlw-bot ({len(MIGRATIONS)}); upgrade dlw-bot"
                    )
                for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                    async with conn.transaction():
                        await conn.execute(script)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                            version,
                        )
            finally:
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def schema_version(self) -> int:
        async with self.reading() as conn:
            return int(await conn.fetchval("SELECT MAX(version) FROM schema_migrations") or 0)

    # -- subscribers and subscriptions ---------------------------------------------------

    async def _subscriber_id(
        self, conn: Connection, platform: str, user_id: str, *, create: bool
    ) -> int | None:
        found = await conn.fetchval(
            "SELECT id FROM subscribers WHERE platform = $1 AND user_id = $2", platform, user_id
        )
        if found is not None or not create:
            return None if found is None else int(found)
        # Two processes may add the same reader at once: the loser takes the winner's row.
        return int(
            await conn.fetchval(
                "INSERT INTO subscribers (platform, user_id, active, created_at, updated_at)"
                " VALUES ($1, $2, TRUE, now(), now())"
                " ON CONFLICT (platform, user_id) DO UPDATE SET updated_at = excluded.updated_at"
                " RETURNING id",
                platform,
                user_id,
            )
        )

    async def subscribe(
        self,
        platform: str,
        user_id: str,
        wanted: Sequence[Subscription],
        *,
        limit: int = MAX_SUBSCRIPTIONS,
    ) -> SubscribeOutcome:
        added: list[Subscription] = []
        already: list[Subscription] = []
        refused: list[Subscription] = []
        async with self.transaction() as conn:
            sid = await self._subscriber_id(conn, platform, user_id, create=True)
            # The reader's row locked: concurrent subscribes of one reader count in turn.
            await conn.execute("SELECT 1 FROM subscribers WHERE id = $1 FOR UPDATE", sid)
            existing = set(await self._subscriptions(conn, sid))
            for sub in dict.fromkeys(wanted):
                if sub in existing:
                    already.append(sub)
                elif len(existing) >= limit:
                    refused.append(sub)
                else:
                    await conn.execute(
                        "INSERT INTO subscriptions (subscriber_id, kind, value, created_at)"
                        " VALUES ($1, $2, $3, clock_timestamp())",
                        sid,
                        sub.kind.value,
                        sub.value,
                    )
                    existing.add(sub)
                    added.append(sub)
            await conn.execute(
                "UPDATE subscribers SET active = TRUE, inactive_reason = NULL, updated_at = now()"
                " WHERE id = $1",
                sid,
            )
        return SubscribeOutcome(tuple(added), tuple(already), tuple(refused), len(existing))

    async def unsubscribe(
        self, platform: str, user_id: str, unwanted: Sequence[Subscription]
    ) -> list[Subscription]:
        removed: list[Subscription] = []
        async with self.transaction() as conn:
            sid = await self._subscriber_id(conn, platform, user_id, create=False)
            if sid is None:
                return []
            for sub in dict.fromkeys(unwanted):
                status = await conn.execute(
                    "DELETE FROM subscriptions WHERE subscriber_id = $1 AND kind = $2 AND value = $3",
                    sid,
                    sub.kind.value,
                    sub.value,
                )
                if _count(status):
                    removed.append(sub)
        return removed

    async def unsubscribe_all(self, platform: str, user_id: str) -> int:
        async with self.transaction() as conn:
            sid = await self._subscriber_id(conn, platform, user_id, create=False)
            if sid is None:
                return 0
            return _count(
                await conn.execute("DELETE FROM subscriptions WHERE subscriber_id = $1", sid)
            )

    async def subscriptions(self, platform: str, user_id: str) -> list[Subscription]:
        async with self.reading() as conn:
            sid = await self._subscriber_id(conn, platform, user_id, create=False)
            return [] if sid is None else await self._subscriptions(conn, sid)

    async def _subscriptions(self, conn: Connection, sid: int | None) -> list[Subscription]:
        rows = await conn.fetch(
            "SELECT kind, value FROM subscriptions WHERE subscriber_id = $1"
            " ORDER BY created_at, kind, value",
            sid,
        )
        return [Subscription(SubscriptionKind(r["kind"]), r["value"]) for r in rows]

    async def subscribers_with_subscriptions(
        self, platform: str | None = None
    ) -> dict[tuple[str, str], list[Subscription]]:
        sql = (
            "SELECT s.platform, s.user_id, x.kind, x.value FROM subscribers s"
            " JOIN subscriptions x ON x.subscriber_id = s.id WHERE s.active"
            + (" AND s.platform = $1" if platform else "")
            + " ORDER BY s.id, x.created_at"
        )
        out: dict[tuple[str, str], list[Subscription]] = {}
        async with self.reading() as conn:
            rows = await conn.fetch(sql, *((platform,) if platform else ()))
        for r in rows:
            out.setdefault((r[0], r[1]), []).append(Subscription(SubscriptionKind(r[2]), r[3]))
        return out

    async def set_subscriber_active(
        self, platform: str, user_id: str, active: bool, reason: str | None = None
    ) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE subscribers SET active = $1, inactive_reason = $2, updated_at = now()"
                " WHERE platform = $3 AND user_id = $4",
                active,
                None if active else reason,
                platform,
                user_id,
            )
            return _count(status) > 0

    # -- channels ------------------------------------------------------------------------

    async def register_channel(
        self, target: Target, *, title: str | None, registered_by: str | None
    ) -> bool:
        async with self.transaction() as conn:
            was = await conn.fetchval(
                "SELECT active FROM channels"
                " WHERE platform = $1 AND chat_id = $2 AND thread_id = $3 FOR UPDATE",
                target.platform,
                target.chat_id,
                target.thread_id,
            )
            # An upsert: another process registering the same chat this instant is no error.
            inserted = await conn.fetchval(
                "INSERT INTO channels (platform, chat_id, thread_id, title, registered_by, active,"
                " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, TRUE, now(), now())"
                " ON CONFLICT (platform, chat_id, thread_id) DO UPDATE SET active = TRUE,"
                " inactive_reason = NULL, title = COALESCE(excluded.title, channels.title),"
                " registered_by = excluded.registered_by, updated_at = now()"
                " RETURNING xmax = 0",
                target.platform,
                target.chat_id,
                target.thread_id,
                title,
                registered_by,
            )
            return bool(inserted) if was is None else not was

    async def unregister_channel(self, target: Target) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "DELETE FROM channels WHERE platform = $1 AND chat_id = $2 AND thread_id = $3",
                target.platform,
                target.chat_id,
                target.thread_id,
            )
            return _count(status) > 0

    async def channels(
        self, platform: str | None = None, *, active_only: bool = True
    ) -> list[Channel]:
        clauses: list[str] = []
        params: list[Any] = []
        if platform:
            params.append(platform)
            clauses.append(f"platform = ${len(params)}")
        if active_only:
            clauses.append("active")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self.reading() as conn:
            rows = await conn.fetch(f"SELECT * FROM channels{where} ORDER BY id", *params)
        return [
            Channel(
                target=Target(r["platform"], r["chat_id"], r["thread_id"]),
                title=r["title"],
                registered_by=r["registered_by"],
                active=bool(r["active"]),
                inactive_reason=r["inactive_reason"],
            )
            for r in rows
        ]

    async def set_channel_active(
        self, target: Target, active: bool, reason: str | None = None
    ) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE channels SET active = $1, inactive_reason = $2, updated_at = now()"
                " WHERE platform = $3 AND chat_id = $4",
                active,
                None if active else reason,
                target.platform,
                target.chat_id,
            )
            return _count(status) > 0

    async def migrate_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> int:
        async with self.transaction() as conn:
            await conn.execute(
                "DELETE FROM channels WHERE platform = $1 AND chat_id = $2 AND thread_id IN"
                " (SELECT thread_id FROM channels WHERE platform = $1 AND chat_id = $3)",
                platform,
                old_chat_id,
                new_chat_id,
            )
            moved = _count(
                await conn.execute(
                    "UPDATE channels SET chat_id = $1, updated_at = now()"
                    " WHERE platform = $2 AND chat_id = $3",
                    new_chat_id,
                    platform,
                    old_chat_id,
                )
            )
            await conn.execute(
                "DELETE FROM outbox WHERE platform = $1 AND target = $2"
                " AND status IN ('pending', 'claimed') AND EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.platform = outbox.platform AND o.target = $3"
                " AND o.issue_number = outbox.issue_number AND o.thread_id = outbox.thread_id"
                " AND o.kind = outbox.kind)",
                platform,
                old_chat_id,
                new_chat_id,
            )
            await conn.execute(
                "UPDATE outbox SET target = $1, updated_at = now() WHERE platform = $2"
                " AND target = $3 AND status IN ('pending', 'claimed')",
                new_chat_id,
                platform,
                old_chat_id,
            )
            return moved

    async def mark_unreachable(
        self, target: Target, reason: str, *, thread_only: bool = False
    ) -> None:
        async with self.transaction() as conn:
            await self._deactivate(conn, target, reason, thread_only=thread_only)

    async def _deactivate(
        self, conn: Connection, target: Target, reason: str, *, thread_only: bool
    ) -> None:
        """As :meth:`SQLiteStore._deactivate`: the reader, the chat or the one thread goes
        inactive, and what the outbox still holds pending for it is settled as gone."""
        reason = reason[:500]
        same: tuple[str, list[str]]
        if target.direct:
            await conn.execute(
                "UPDATE subscribers SET active = FALSE, inactive_reason = $1, updated_at = now()"
                " WHERE platform = $2 AND user_id = $3",
                reason,
                target.platform,
                target.chat_id,
            )
            same = "kind <> 'channel'", []
        elif thread_only and target.thread_id:
            await conn.execute(
                "DELETE FROM channels WHERE platform = $1 AND chat_id = $2 AND thread_id = $3",
                target.platform,
                target.chat_id,
                target.thread_id,
            )
            same = "kind = 'channel' AND thread_id = $4", [target.thread_id]
        else:
            await conn.execute(
                "UPDATE channels SET active = FALSE, inactive_reason = $1, updated_at = now()"
                " WHERE platform = $2 AND chat_id = $3",
                reason,
                target.platform,
                target.chat_id,
            )
            same = "kind = 'channel'", []
        await conn.execute(
            "UPDATE outbox SET status = 'gone', error = $1, updated_at = now()"
            f" WHERE platform = $2 AND target = $3 AND status = 'pending' AND {same[0]}",
            reason,
            target.platform,
            target.chat_id,
            *same[1],
        )

    # -- publications and the outbox -----------------------------------------------------

    async def create_publication(
        self,
        issue_number: int,
        trigger: str,
        deliveries: Sequence[PlannedDelivery],
        *,
        replace_baseline: bool = False,
    ) -> bool:
        async with self.transaction() as conn:
            # Inserted, or found (locked): two processes publishing at once write it once.
            inserted = await conn.fetchval(
                "INSERT INTO publications (issue_number, trigger, planned, created_at, reported_at)"
                " VALUES ($1, $2, $3, now(), CASE WHEN $2 = $4 THEN now() END)"
                " ON CONFLICT (issue_number) DO NOTHING RETURNING issue_number",
                issue_number,
                trigger,
                len(deliveries),
                BASELINE,
            )
            if inserted is None:
                existing = await conn.fetchval(
                    "SELECT trigger FROM publications WHERE issue_number = $1 FOR UPDATE",
                    issue_number,
                )
                if not (replace_baseline and existing == BASELINE and trigger != BASELINE):
                    return False
                await conn.execute(
                    "UPDATE publications SET trigger = $1, planned = $2, created_at = now(),"
                    " reported_at = NULL WHERE issue_number = $3",
                    trigger,
                    len(deliveries),
                    issue_number,
                )
            await self._insert_deliveries(conn, issue_number, deliveries)
        return True

    async def _insert_deliveries(
        self, conn: Connection, issue_number: int, deliveries: Sequence[PlannedDelivery]
    ) -> None:
        if not deliveries:
            return
        # One statement for the whole publication, however many readers.
        await conn.execute(
            "INSERT INTO outbox (issue_number, platform, target, thread_id, kind, payload, status,"
            " attempts, not_before, created_at, updated_at)"
            " SELECT $1, p, t, th, k, pl, 'pending', 0, now(), now(), now()"
            " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
            " WITH ORDINALITY AS d(p, t, th, k, pl, n) ORDER BY n",
            issue_number,
            [d.target.platform for d in deliveries],
            [d.target.chat_id for d in deliveries],
            [d.target.thread_id for d in deliveries],
            [d.kind.value for d in deliveries],
            [
                json.dumps(dict(d.payload), ensure_ascii=False, separators=(",", ":"))
                for d in deliveries
            ],
        )

    async def latest_published(self) -> int | None:
        async with self.reading() as conn:
            found = await conn.fetchval("SELECT MAX(issue_number) FROM publications")
        return None if found is None else int(found)

    async def publication(self, issue_number: int) -> Publication | None:
        found = await self._publications(" WHERE issue_number = $1", (issue_number,))
        return found[0] if found else None

    async def publications(self, limit: int = 10) -> list[Publication]:
        return await self._publications(" ORDER BY issue_number DESC LIMIT $1", (limit,))

    async def _publications(self, clause: str, params: Sequence[Any]) -> list[Publication]:
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT issue_number, trigger, planned, created_at, reported_at FROM publications"
                + clause,
                *params,
            )
            numbers = [int(r[0]) for r in rows]
            counts: dict[int, dict[str, dict[DeliveryStatus, int]]] = {n: {} for n in numbers}
            if numbers:
                for n, platform, status, count in await conn.fetch(
                    "SELECT issue_number, platform, status, COUNT(*) FROM outbox"
                    " WHERE kind <> 'report' AND issue_number = ANY($1::int[])"
                    " GROUP BY issue_number, platform, status",
                    numbers,
                ):
                    counts[n].setdefault(platform, {})[DeliveryStatus(status)] = int(count)
        return [
            Publication(
                issue_number=int(r[0]),
                trigger=str(r[1]),
                planned=int(r[2]),
                created_at=_text_ts(r[3]) or "",
                reported_at=_text_ts(r[4]),
                counts=counts[int(r[0])],
            )
            for r in rows
        ]

    async def claim_deliveries(
        self,
        platform: str,
        worker: str,
        limit: int,
        *,
        now: dt.datetime | None = None,
        process: str | None = None,
    ) -> list[Delivery]:
        """Take up to ``limit`` due rows, oldest first, in one statement: ``FOR UPDATE SKIP
        LOCKED`` passes over rows another dispatcher is claiming this instant, so concurrent
        claims neither wait on each other nor ever take the same row."""
        moment = now or utcnow()
        token = secrets.token_urlsafe(12)
        async with self.transaction() as conn:
            rows = await conn.fetch(
                "WITH due AS (SELECT id FROM outbox"
                " WHERE platform = $1 AND status = 'pending' AND not_before <= $2"
                " ORDER BY not_before, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox o SET status = 'claimed', claimed_by = $4, claimed_at = $2,"
                " updated_at = $2, claim_token = $5, claimed_process = $6"
                " FROM due WHERE o.id = due.id"
                " RETURNING o.id, o.issue_number, o.target, o.thread_id, o.kind, o.payload,"
                " o.attempts, o.message_ids, o.not_before",
                platform,
                moment,
                limit,
                worker,
                token,
                process,
            )
        rows = sorted(rows, key=lambda r: (r["not_before"], r["id"]))
        return [
            Delivery(
                id=int(r["id"]),
                issue_number=int(r["issue_number"]),
                target=Target(
                    platform, r["target"], r["thread_id"], direct=DeliveryKind(r["kind"]).direct
                ),
                kind=DeliveryKind(r["kind"]),
                payload=json.loads(r["payload"]),
                attempts=int(r["attempts"]),
                claimed_by=worker,
                sent=tuple(json.loads(r["message_ids"])) if r["message_ids"] else (),
                claim_token=token,
            )
            for r in rows
        ]

    async def release_claims(
        self,
        platform: str,
        *,
        worker: str | None = None,
        older_than: dt.datetime | None = None,
        silent_since: dt.datetime | None = None,
        processes: Sequence[str] = (),
    ) -> int:
        """As :meth:`SQLiteStore.release_claims`."""
        if worker is None and older_than is None and silent_since is None and not processes:
            raise ValueError("release whose claims? give worker, older_than or silent_since")
        clauses: list[str] = []
        params: list[Any] = [platform]

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if processes:
            clauses.append(f"claimed_process = ANY({param(list(processes))}::text[])")
        if silent_since is not None:
            alive = (
                "claimed_process IN (SELECT process FROM workers"
                f" WHERE seen_at >= {param(silent_since)})"
            )
        if worker is not None:
            if silent_since is not None:
                clauses.append(f"(claimed_by = {param(worker)} AND ({alive}) IS NOT TRUE)")
            else:
                clauses.append(f"claimed_by = {param(worker)}")
        elif silent_since is not None:
            clauses.append(f"(claimed_process IS NOT NULL AND NOT ({alive}))")
        if older_than is not None:
            clauses.append(f"claimed_at < {param(older_than)}")
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_at = NULL,"
                " claim_token = NULL, claimed_process = NULL, updated_at = now()"
                f" WHERE platform = $1 AND status = 'claimed' AND ({' OR '.join(clauses)})",
                *params,
            )
            return _count(status)

    async def processes(self) -> list[str]:
        async with self.reading() as conn:
            rows = await conn.fetch("SELECT process FROM workers ORDER BY process")
        return [str(r[0]) for r in rows]

    async def heartbeat(self, process: str, worker: str, *, roles: Sequence[str] = ()) -> None:
        now = utcnow()
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO workers (process, worker, seen_at, roles, started_at)"
                " VALUES ($1, $2, $3, $4, $3) ON CONFLICT (process) DO UPDATE SET"
                " worker = excluded.worker, seen_at = excluded.seen_at,"
                " roles = CASE WHEN excluded.roles = '' THEN workers.roles ELSE excluded.roles END",
                process,
                worker,
                now,
                join_roles(roles),
            )
            await conn.execute("DELETE FROM workers WHERE seen_at < $1", now - dt.timedelta(days=1))

    async def instances(self, *, seen_within: float = 60.0) -> list[Instance]:
        cutoff = utcnow() - dt.timedelta(seconds=seen_within)
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT process, worker, roles, COALESCE(started_at, seen_at) AS started,"
                " seen_at FROM workers WHERE seen_at >= $1 ORDER BY process",
                cutoff,
            )
        return [
            Instance(
                process=r["process"],
                worker=r["worker"],
                roles=split_roles(r["roles"]),
                started_at=r["started"],
                last_seen=r["seen_at"],
            )
            for r in rows
        ]

    async def next_due(self, platform: str) -> dt.datetime | None:
        async with self.reading() as conn:
            due: dt.datetime | None = await conn.fetchval(
                "SELECT MIN(not_before) FROM outbox WHERE platform = $1 AND status = 'pending'",
                platform,
            )
        return due

    async def settle_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """One UPDATE for the whole batch (each row fenced by its claim token), then the gone
        destinations deactivated, in one transaction."""
        if not settlements:
            return []
        rows, first = settlement_rows(settlements)
        async with self.transaction() as conn:
            returned = await conn.fetch(
                "UPDATE outbox o SET status = v.status, error = v.error,"
                " message_ids = COALESCE(v.message_ids, o.message_ids),"
                " attempts = COALESCE(v.attempts, o.attempts),"
                " not_before = COALESCE(v.not_before, o.not_before),"
                " claimed_by = NULL, claimed_at = NULL, claim_token = NULL,"
                " claimed_process = NULL, updated_at = now()"
                " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],"
                " $6::text[], $7::int[], $8::timestamptz[])"
                " AS v(id, claimed_by, claim_token, status, error, message_ids, attempts, not_before)"
                " WHERE o.id = v.id AND o.status = 'claimed' AND o.claimed_by = v.claimed_by"
                " AND o.claim_token IS NOT DISTINCT FROM v.claim_token"
                " RETURNING o.id",
                [r.id for r in rows],
                [r.claimed_by for r in rows],
                [r.claim_token for r in rows],
                [r.status for r in rows],
                [r.error for r in rows],
                [r.message_ids for r in rows],
                [r.attempts for r in rows],
                [r.not_before for r in rows],
            )
            settled = {int(r[0]) for r in returned}
            for settlement in settlements:
                if settlement.outcome == "gone":
                    await self._deactivate(
                        conn,
                        settlement.delivery.target,
                        settlement.error or "gone",
                        thread_only=settlement.thread_only,
                    )
        return [
            i in first and settlements[i].delivery.id in settled for i in range(len(settlements))
        ]

    async def outbox_counts(self) -> dict[str, dict[DeliveryStatus, int]]:
        counts: dict[str, dict[DeliveryStatus, int]] = {}
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT platform, status, COUNT(*) FROM outbox GROUP BY platform, status"
            )
        for platform, status, n in rows:
            counts.setdefault(platform, {})[DeliveryStatus(status)] = int(n)
        return counts

    async def unreported_publications(self) -> list[int]:
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT issue_number FROM publications p WHERE reported_at IS NULL AND NOT EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.issue_number = p.issue_number"
                " AND o.kind <> 'report' AND o.status IN ('pending', 'claimed'))"
                " ORDER BY issue_number"
            )
        return [int(r[0]) for r in rows]

    async def publication_outcome(self, issue_number: int) -> PublicationOutcome | None:
        publication = await self.publication(issue_number)
        if publication is None:
            return None
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT platform, target, thread_id, kind, status, error FROM outbox"
                " WHERE issue_number = $1 AND kind <> 'report' AND status IN ('failed', 'gone')"
                " ORDER BY id",
                issue_number,
            )
        return PublicationOutcome(
            publication,
            tuple(
                Unreachable(
                    Target(r[0], r[1], r[2], direct=DeliveryKind(r[3]).direct),
                    DeliveryKind(r[3]),
                    DeliveryStatus(r[4]),
                    r[5] or "",
                )
                for r in rows
            ),
        )

    async def record_report(self, issue_number: int, deliveries: Sequence[PlannedDelivery]) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "UPDATE publications SET reported_at = now() WHERE issue_number = $1"
                " AND reported_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o"
                " WHERE o.issue_number = $1 AND o.kind <> 'report'"
                " AND o.status IN ('pending', 'claimed'))",
                issue_number,
            )
            if not _count(status):
                return False
            await self._insert_deliveries(conn, issue_number, deliveries)
        return True

    # -- continuations ("more" buttons) and metadata -------------------------------------

    async def save_continuation(
        self, command: str, page: int, *, owner: str = "", keep: int | None = None
    ) -> str:
        prefix = owner_prefix(owner) if owner else ""
        key = prefix + secrets.token_urlsafe(9)
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO continuations (key, command, page, created_at)"
                " VALUES ($1, $2, $3, now())",
                key,
                command,
                page,
            )
            await conn.execute(
                "DELETE FROM continuations WHERE created_at < $1",
                utcnow() - dt.timedelta(days=30),
            )
            if prefix and keep is not None:
                # The prefix's range: key characters sort below "~" in byte order, so compare
                # bytewise (COLLATE "C") whatever the database's collation (en_US puts "~" first).
                mine = 'key COLLATE "C" > $1 AND key COLLATE "C" < $2'
                await conn.execute(
                    f"DELETE FROM continuations WHERE {mine} AND seq NOT IN"
                    f" (SELECT seq FROM continuations WHERE {mine} ORDER BY seq DESC LIMIT $3)",
                    prefix,
                    prefix + "~",
                    keep,
                )
        return key

    async def load_continuation(self, key: str) -> tuple[str, int] | None:
        async with self.reading() as conn:
            row = await conn.fetchrow("SELECT command, page FROM continuations WHERE key = $1", key)
        return (str(row[0]), int(row[1])) if row else None

    async def get_meta(self, key: str) -> str | None:
        async with self.reading() as conn:
            value = await conn.fetchval("SELECT value FROM meta WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )

    async def replace_meta(self, key: str, value: str | None, *, expected: str | None) -> bool:
        """Compare and set as one conditional statement: concurrent callers serialize on the
        row (or on the key's unique index when it is absent) and only one sees ``expected``."""
        async with self.transaction() as conn:
            if expected is None and value is None:
                return await conn.fetchval("SELECT 1 FROM meta WHERE key = $1", key) is None
            if expected is None:
                done = await conn.fetchval(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)"
                    " ON CONFLICT (key) DO NOTHING RETURNING TRUE",
                    key,
                    value,
                )
            elif value is None:
                done = await conn.fetchval(
                    "DELETE FROM meta WHERE key = $1 AND value = $2 RETURNING TRUE", key, expected
                )
            else:
                done = await conn.fetchval(
                    "UPDATE meta SET value = $2 WHERE key = $1 AND value = $3 RETURNING TRUE",
                    key,
                    value,
                    expected,
                )
        return bool(done)

    # -- leases, webhook updates, shared rate budgets ------------------------------------

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """One upsert: taken if free, expired or ``holder``'s own; concurrent takers serialize on
        the row, so at most one holds it at a time."""
        async with self.transaction() as conn:
            taken = await conn.fetchval(
                "INSERT INTO leases (name, holder, until)"
                " VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3))"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                " until = excluded.until"
                " WHERE leases.holder = excluded.holder OR leases.until <= clock_timestamp()"
                " RETURNING TRUE",
                name,
                holder,
                float(seconds),
            )
        return bool(taken)

    async def release_lease(self, name: str, holder: str) -> bool:
        async with self.transaction() as conn:
            status = await conn.execute(
                "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder
            )
        return _count(status) > 0

    async def leases(self) -> list[Lease]:
        async with self.reading() as conn:
            rows = await conn.fetch(
                "SELECT name, holder, until FROM leases WHERE until > clock_timestamp()"
                " ORDER BY name"
            )
        return [Lease(r["name"], r["holder"], r["until"]) for r in rows]

    async def first_seen(self, platform: str, update_id: int) -> bool:
        async with self.transaction() as conn:
            first = await conn.fetchval(
                "INSERT INTO updates (platform, update_id, seen_at) VALUES ($1, $2, now())"
                " ON CONFLICT (platform, update_id) DO NOTHING RETURNING TRUE",
                platform,
                update_id,
            )
            await conn.execute(
                "DELETE FROM updates WHERE seen_at < now() - $1::interval", UPDATES_KEPT
            )
        return bool(first)

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float, book: float = 0.0
    ) -> tuple[int, float]:
        """One atomic upsert on the bucket's row, on the server's clock: concurrent takers
        serialize on the row and each sees what the one before left."""
        check_bucket(wanted, rate, burst, book)
        now = "extract(epoch FROM statement_timestamp())::float8"
        available = f"LEAST($4, b.tokens + GREATEST(0, {now} - b.refilled_at) * $3)"
        granted = f"LEAST($2::int, GREATEST(0, floor({available} + $5::float8 + 1e-9)))::int"
        first = "LEAST($2::int, floor($4::float8 + $5::float8 + 1e-9))"
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                "INSERT INTO rate_buckets AS b (bucket, tokens, refilled_at, granted)"
                f" VALUES ($1, $4 - {first}, {now}, {first}::int)"
                f" ON CONFLICT (bucket) DO UPDATE SET granted = {granted},"
                f" tokens = {available} - {granted},"
                f" refilled_at = GREATEST({now}, b.refilled_at)"
                " RETURNING granted, tokens",
                bucket,
                wanted,
                float(rate),
                float(burst),
                float(book),
            )
        assert row is not None  # an upsert always returns its row
        return int(row["granted"]), next_token(float(row["tokens"]), rate)


def _count(status: str) -> int:
    """The row count of a command tag (``UPDATE 3``, ``DELETE 0``, ``INSERT 0 1``)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
