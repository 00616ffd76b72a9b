"""The default :class:`~bot.store.Store`: SQLite through aiosqlite.

All shared state lives here, so several processes can share one database file (WAL mode, busy
timeout); the schema comes from :mod:`bot.store.migrations`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

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
    chunks,
    join_roles,
    refill,
    settlement_rows,
    split_roles,
    take,
)
from bot.store.migrations import MIGRATIONS, statements
from bot.store.protocols import StoreBusy, StoreUnavailable

__all__ = ["Reader", "Rows", "SQLiteStore"]


def owner_prefix(owner: str) -> str:
    """The first characters of every continuation key ``owner`` saves: 8 URL-safe characters."""
    digest = hashlib.blake2b(owner.encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _ts(moment: dt.datetime | None = None) -> str:
    """Timestamps are ISO-8601 UTC text with fixed width, so they sort and compare as strings."""
    return (moment or utcnow()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


#: Rows per settle statement: 8 parameters each, well under SQLite's 32766 variables.
_SETTLE_CHUNK = 500


def _create_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600) when it does not exist yet;
    SQLite gives its -wal and -shm files the same mode. A directory in the way is refused."""
    if path.is_dir():
        raise StoreUnavailable(f"{path}: is a directory, not a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StoreUnavailable(f"{path}: cannot create the database ({reason.lower()})") from None
    os.close(fd)


#: SQLite's messages → what they mean for an operator looking at the file.
_MEANINGS = (
    ("file is not a database", "not a SQLite database"),
    ("malformed", "corrupted"),
    ("readonly", "read-only (the file or its directory cannot be written)"),
    ("unable to open", "cannot be opened (missing directory or no permission)"),
    ("disk i/o", "input/output error"),
    ("full", "the disk is full"),
    ("locked", "locked by another process"),
)


def _unavailable(path: Path | str, exc: sqlite3.Error) -> StoreUnavailable:
    message = str(exc)
    meaning = next((m for key, m in _MEANINGS if key in message.lower()), "cannot be used")
    return StoreUnavailable(f"{path}: {meaning} ({message})")


def _busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "database is locked" in message or "database is busy" in message


class Rows:
    """A read's result, fetched whole before it is handed over (see :class:`Reader`): awaited or
    used as ``async with``, then read with ``fetchone``, ``fetchall`` or ``async for``."""

    def __init__(self, db: aiosqlite.Connection, sql: str, parameters: Iterable[Any]) -> None:
        self._db, self._sql, self._parameters = db, sql, parameters
        self._rows: list[sqlite3.Row] = []
        self._next = 0

    async def _load(self) -> Rows:
        self._rows = list(await self._db.execute_fetchall(self._sql, self._parameters))
        return self

    def __await__(self) -> Generator[Any, None, Rows]:
        return self._load().__await__()

    async def __aenter__(self) -> Rows:
        return await self._load()

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def fetchone(self) -> sqlite3.Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[sqlite3.Row]:
        rest, self._next = self._rows[self._next :], len(self._rows)
        return rest

    def __aiter__(self) -> AsyncIterator[sqlite3.Row]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[sqlite3.Row]:
        while (row := await self.fetchone()) is not None:
            yield row


class Reader:
    """The read-only connection as :meth:`SQLiteStore.reading` hands it out. Every statement
    runs to its end and its cursor is closed before the rows come back: a cursor left open
    would hold a read transaction, and with it a WAL snapshot older than later commits (of this
    process's writer and of other processes) for every read after it on this connection."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Rows:
        return Rows(self._db, sql, parameters)


class SQLiteStore(RowSettles):
    """:class:`Store` on one SQLite file.

    Two connections per process: the writer, on which an :class:`asyncio.Lock` keeps each
    transaction's statements together, and a ``query_only`` reader, so reads never queue behind
    a write that waits for another process's lock (WAL readers need no lock). Other processes
    coordinate through SQLite's own locking.
    """

    def __init__(
        self, db: aiosqlite.Connection, reader: aiosqlite.Connection | None = None
    ) -> None:
        self._db = db
        self._reader = reader  # None: reads go through the writer (an in-memory database)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, *, busy_timeout: float = 3.0) -> SQLiteStore:
        """Open (creating it 0600 if need be) and migrate the database at ``path``.

        Raises :class:`StoreUnavailable` naming the file and what is wrong (not a database,
        corrupted, read-only, a directory...) with the connection closed again, so a failed start
        ends the process instead of leaving aiosqlite's thread running. ``busy_timeout``: how long
        a statement waits for another process's write lock before :class:`StoreBusy`.
        """
        memory = str(path) == ":memory:"
        if not memory:
            _create_private(Path(path))
        try:
            db = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise _unavailable(path, exc) from None
        reader: aiosqlite.Connection | None = None
        try:
            db.row_factory = aiosqlite.Row
            await db.execute(f"PRAGMA busy_timeout={max(0, int(busy_timeout * 1000))}")
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA synchronous=NORMAL")
            await cls(db)._migrate()
            if not memory:  # a second connection to :memory: would be another database
                reader = await aiosqlite.connect(str(path), isolation_level=None)
                reader.row_factory = aiosqlite.Row
                await reader.execute(f"PRAGMA busy_timeout={max(0, int(busy_timeout * 1000))}")
                await reader.execute("PRAGMA query_only=ON")
            store = cls(db, reader)
            if not memory:
                await store._check_readable()
        except BaseException as exc:
            # a refused or failed open must not leak a connection thread
            if reader is not None:
                await reader.close()
            await db.close()
            if isinstance(exc, sqlite3.Error):
                raise _unavailable(path, exc) from None
            if isinstance(exc, StoreBusy | StoreUnavailable) and not str(exc).startswith(
                f"{path}:"
            ):
                raise StoreUnavailable(f"{path}: {exc}") from None
            raise
        return store

    async def _check_readable(self) -> None:
        """Read every page's structure once: a truncated or damaged file fails here, at start,
        rather than at the first command that touches the broken part."""
        async with self.reading() as db:
            row = await (await db.execute("PRAGMA quick_check(1)")).fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(
                f"database disk image is malformed ({row[0] if row else '?'})"
            )

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic unit of work: everything inside commits together or not at all (also when
        the caller is cancelled, e.g. by a command's timeout: the ROLLBACK is queued behind
        whatever statement was running). Another writer holding the database past the busy
        timeout raises :class:`StoreBusy`."""
        async with self._lock:
            try:
                # BEGIN belongs inside: a task cancelled while it waits for BEGIN does not stop
                # aiosqlite's thread from running it, and only the ROLLBACK queued behind it
                # keeps the connection from staying in a transaction no later BEGIN can start.
                await self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                await self._db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):  # BEGIN itself failed: nothing to undo
                    await self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                    raise StoreBusy(
                        "the database is busy (another process holds its lock)"
                    ) from exc
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Reader]:
        """Reads, on the reader connection: each statement sees everything committed before it
        (by this process or another), and none waits for the writer's lock."""
        if self._reader is None:
            async with self._lock:
                yield Reader(self._db)
            return
        try:
            yield Reader(self._reader)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StoreBusy("the database is busy (another process holds its lock)") from exc
            raise

    async def _migrate(self) -> None:
        async with self.transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            row = await (await db.execute("SELECT MAX(version) FROM schema_migrations")).fetchone()
            current = (row[0] if row else None) or 0
        if current > len(MIGRATIONS):
            raise StoreUnavailable(
                f"the database is at schema version {current}, newer than this dlw-bot ({len(MIGRATIONS)}); upgrade dlw-bot"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            async with self.transaction() as db:
                for statement in statements(script):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, _ts()),
                )

    async def schema_version(self) -> int:
        async with self.reading() as db:
            row = await (await db.execute("SELECT MAX(version) FROM schema_migrations")).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- subscribers and subscriptions ---------------------------------------------------

    async def _subscriber_id(
        self, db: aiosqlite.Connection, platform: str, user_id: str, *, create: bool
    ) -> int | None:
        row = await (
            await db.execute(
                "SELECT id FROM subscribers WHERE platform = ? AND user_id = ?", (platform, user_id)
            )
        ).fetchone()
        if row is not None:
            return int(row[0])
        if not create:
            return None
        now = _ts()
        cursor = await db.execute(
            "INSERT INTO subscribers (platform, user_id, active, created_at, updated_at) VALUES (?, ?, 1, ?, ?)",
            (platform, user_id, now, now),
        )
        return int(cursor.lastrowid or 0)

    async def subscribe(
        self,
        platform: str,
        user_id: str,
        wanted: Sequence[Subscription],
        *,
        limit: int = MAX_SUBSCRIPTIONS,
    ) -> SubscribeOutcome:
        """Add subscriptions, idempotently, never beyond ``limit`` in all. Reactivates the reader."""
        added: list[Subscription] = []
        already: list[Subscription] = []
        refused: list[Subscription] = []
        async with self.transaction() as db:
            sid = await self._subscriber_id(db, platform, user_id, create=True)
            existing = set(await self._subscriptions(db, sid))
            for sub in dict.fromkeys(wanted):
                if sub in existing:
                    already.append(sub)
                elif len(existing) >= limit:
                    refused.append(sub)
                else:
                    await db.execute(
                        "INSERT INTO subscriptions (subscriber_id, kind, value, created_at) VALUES (?, ?, ?, ?)",
                        (sid, sub.kind.value, sub.value, _ts()),
                    )
                    existing.add(sub)
                    added.append(sub)
            await db.execute(
                "UPDATE subscribers SET active = 1, inactive_reason = NULL, updated_at = ? WHERE id = ?",
                (_ts(), sid),
            )
        return SubscribeOutcome(tuple(added), tuple(already), tuple(refused), len(existing))

    async def unsubscribe(
        self, platform: str, user_id: str, unwanted: Sequence[Subscription]
    ) -> list[Subscription]:
        removed: list[Subscription] = []
        async with self.transaction() as db:
            sid = await self._subscriber_id(db, platform, user_id, create=False)
            if sid is None:
                return []
            for sub in dict.fromkeys(unwanted):
                cursor = await db.execute(
                    "DELETE FROM subscriptions WHERE subscriber_id = ? AND kind = ? AND value = ?",
                    (sid, sub.kind.value, sub.value),
                )
                if cursor.rowcount:
                    removed.append(sub)
        return removed

    async def unsubscribe_all(self, platform: str, user_id: str) -> int:
        async with self.transaction() as db:
            sid = await self._subscriber_id(db, platform, user_id, create=False)
            if sid is None:
                return 0
            cursor = await db.execute("DELETE FROM subscriptions WHERE subscriber_id = ?", (sid,))
            return max(cursor.rowcount, 0)

    async def subscriptions(self, platform: str, user_id: str) -> list[Subscription]:
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT x.kind, x.value FROM subscribers s"
                    " JOIN subscriptions x ON x.subscriber_id = s.id"
                    " WHERE s.platform = ? AND s.user_id = ? ORDER BY x.created_at, x.kind, x.value",
                    (platform, user_id),
                )
            ).fetchall()
        return [Subscription(SubscriptionKind(r["kind"]), r["value"]) for r in rows]

    async def _subscriptions(self, db: aiosqlite.Connection, sid: int | None) -> list[Subscription]:
        rows = await (
            await db.execute(
                "SELECT kind, value FROM subscriptions WHERE subscriber_id = ? ORDER BY created_at, kind, value",
                (sid,),
            )
        ).fetchall()
        return [Subscription(SubscriptionKind(r["kind"]), r["value"]) for r in rows]

    async def subscribers_with_subscriptions(
        self, platform: str | None = None
    ) -> dict[tuple[str, str], list[Subscription]]:
        """Every active reader with at least one subscription: what digests are planned from."""
        sql = (
            "SELECT s.platform, s.user_id, x.kind, x.value FROM subscribers s "
            "JOIN subscriptions x ON x.subscriber_id = s.id WHERE s.active = 1"
            + (" AND s.platform = ?" if platform else "")
            + " ORDER BY s.id, x.created_at"
        )
        out: dict[tuple[str, str], list[Subscription]] = {}
        async with self.reading() as db, db.execute(sql, (platform,) if platform else ()) as cursor:
            async for r in cursor:
                out.setdefault((r[0], r[1]), []).append(Subscription(SubscriptionKind(r[2]), r[3]))
        return out

    async def set_subscriber_active(
        self, platform: str, user_id: str, active: bool, reason: str | None = None
    ) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE subscribers SET active = ?, inactive_reason = ?, updated_at = ? WHERE platform = ? AND user_id = ?",
                (int(active), None if active else reason, _ts(), platform, user_id),
            )
            return cursor.rowcount > 0

    # -- channels ------------------------------------------------------------------------

    async def register_channel(
        self, target: Target, *, title: str | None, registered_by: str | None
    ) -> bool:
        """Register (or reactivate) a channel for weekly posts; ``False`` if it already was active."""
        async with self.transaction() as db:
            row = await (
                await db.execute(
                    "SELECT active FROM channels WHERE platform = ? AND chat_id = ? AND thread_id = ?",
                    (target.platform, target.chat_id, target.thread_id),
                )
            ).fetchone()
            now = _ts()
            if row is None:
                await db.execute(
                    "INSERT INTO channels (platform, chat_id, thread_id, title, registered_by, active, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                    (
                        target.platform,
                        target.chat_id,
                        target.thread_id,
                        title,
                        registered_by,
                        now,
                        now,
                    ),
                )
                return True
            await db.execute(
                "UPDATE channels SET active = 1, inactive_reason = NULL, title = COALESCE(?, title), registered_by = ?,"
                " updated_at = ? WHERE platform = ? AND chat_id = ? AND thread_id = ?",
                (title, registered_by, now, target.platform, target.chat_id, target.thread_id),
            )
            return not row[0]

    async def unregister_channel(self, target: Target) -> bool:
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM channels WHERE platform = ? AND chat_id = ? AND thread_id = ?",
                (target.platform, target.chat_id, target.thread_id),
            )
            return cursor.rowcount > 0

    async def channels(
        self, platform: str | None = None, *, active_only: bool = True
    ) -> list[Channel]:
        clauses, params = [], []
        if platform:
            clauses.append("platform = ?")
            params.append(platform)
        if active_only:
            clauses.append("active = 1")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        async with self.reading() as db:
            rows = await (
                await db.execute(f"SELECT * FROM channels{where} ORDER BY id", params)
            ).fetchall()
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
        """Mark a chat (every registered thread in it) active or not; threads share a chat's fate."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE channels SET active = ?, inactive_reason = ?, updated_at = ? WHERE platform = ? AND chat_id = ?",
                (int(active), None if active else reason, _ts(), target.platform, target.chat_id),
            )
            return cursor.rowcount > 0

    async def migrate_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> int:
        """A group became a supergroup with a new id: move its registrations and pending posts."""
        now = _ts()
        async with self.transaction() as db:
            # Where the new chat already has the same registration or row, the old one goes.
            await db.execute(
                "DELETE FROM channels WHERE platform = ? AND chat_id = ? AND thread_id IN"
                " (SELECT thread_id FROM channels WHERE platform = ? AND chat_id = ?)",
                (platform, old_chat_id, platform, new_chat_id),
            )
            cursor = await db.execute(
                "UPDATE channels SET chat_id = ?, updated_at = ? WHERE platform = ? AND chat_id = ?",
                (new_chat_id, now, platform, old_chat_id),
            )
            moved = max(cursor.rowcount, 0)
            await db.execute(
                "DELETE FROM outbox WHERE platform = ? AND target = ? AND status IN ('pending', 'claimed') AND EXISTS"
                " (SELECT 1 FROM outbox o WHERE o.platform = outbox.platform AND o.target = ?"
                " AND o.issue_number = outbox.issue_number AND o.thread_id = outbox.thread_id AND o.kind = outbox.kind)",
                (platform, old_chat_id, new_chat_id),
            )
            await db.execute(
                "UPDATE outbox SET target = ?, updated_at = ? WHERE platform = ? AND target = ?"
                " AND status IN ('pending', 'claimed')",
                (new_chat_id, now, platform, old_chat_id),
            )
            return moved

    async def mark_unreachable(
        self, target: Target, reason: str, *, thread_only: bool = False
    ) -> None:
        """A destination is gone: see :meth:`_deactivate`."""
        async with self.transaction() as db:
            await self._deactivate(db, target, reason, thread_only=thread_only)

    async def _deactivate(
        self, db: aiosqlite.Connection, target: Target, reason: str, *, thread_only: bool
    ) -> None:
        """Stop sending to a gone destination: a reader or a chat (all its threads) is marked
        inactive with ``reason``; a gone thread loses only its own registration. Whatever else
        the outbox still holds for it is settled as gone too, so nothing waits on it."""
        now, reason = _ts(), reason[:500]
        # What else in the outbox goes to the same destination.
        same: tuple[str, list[str]]
        if target.direct:
            await db.execute(
                "UPDATE subscribers SET active = 0, inactive_reason = ?, updated_at = ? WHERE platform = ? AND user_id = ?",
                (reason, now, target.platform, target.chat_id),
            )
            same = "kind <> 'channel'", []
        elif thread_only and target.thread_id:
            await db.execute(
                "DELETE FROM channels WHERE platform = ? AND chat_id = ? AND thread_id = ?",
                (target.platform, target.chat_id, target.thread_id),
            )
            same = "kind = 'channel' AND thread_id = ?", [target.thread_id]
        else:
            await db.execute(
                "UPDATE channels SET active = 0, inactive_reason = ?, updated_at = ? WHERE platform = ? AND chat_id = ?",
                (reason, now, target.platform, target.chat_id),
            )
            same = "kind = 'channel'", []
        await db.execute(
            "UPDATE outbox SET status = 'gone', error = ?, updated_at = ?"
            f" WHERE platform = ? AND target = ? AND status = 'pending' AND {same[0]}",
            (reason, now, target.platform, target.chat_id, *same[1]),
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
        """Record a publication and its outbox rows in one transaction; ``False`` (and nothing
        written) if the issue was already published. A :data:`BASELINE` record is only replaced
        when ``replace_baseline`` (an operator naming the issue explicitly)."""
        now = _ts()
        async with self.transaction() as db:
            row = await (
                await db.execute(
                    "SELECT trigger FROM publications WHERE issue_number = ?", (issue_number,)
                )
            ).fetchone()
            reported = now if trigger == BASELINE else None
            if row is not None:
                if not (replace_baseline and row[0] == BASELINE and trigger != BASELINE):
                    return False
                await db.execute(
                    "UPDATE publications SET trigger = ?, planned = ?, created_at = ?, reported_at = NULL"
                    " WHERE issue_number = ?",
                    (trigger, len(deliveries), now, issue_number),
                )
            else:
                await db.execute(
                    "INSERT INTO publications (issue_number, trigger, planned, created_at, reported_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (issue_number, trigger, len(deliveries), now, reported),
                )
            await self._insert_deliveries(db, issue_number, deliveries, now)
        return True

    async def _insert_deliveries(
        self,
        db: aiosqlite.Connection,
        issue_number: int,
        deliveries: Sequence[PlannedDelivery],
        now: str,
    ) -> None:
        await db.executemany(
            "INSERT INTO outbox (issue_number, platform, target, thread_id, kind, payload, status,"
            " attempts, not_before, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            [
                (
                    issue_number,
                    d.target.platform,
                    d.target.chat_id,
                    d.target.thread_id,
                    d.kind.value,
                    json.dumps(dict(d.payload), ensure_ascii=False, separators=(",", ":")),
                    now,
                    now,
                    now,
                )
                for d in deliveries
            ],
        )

    async def latest_published(self) -> int | None:
        """The highest issue number published (or taken as the baseline)."""
        async with self.reading() as db:
            row = await (await db.execute("SELECT MAX(issue_number) FROM publications")).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    async def publication(self, issue_number: int) -> Publication | None:
        found = await self._publications(" WHERE issue_number = ?", (issue_number,))
        return found[0] if found else None

    async def publications(self, limit: int = 10) -> list[Publication]:
        """The newest ``limit`` publications, newest first."""
        return await self._publications(" ORDER BY issue_number DESC LIMIT ?", (limit,))

    async def _publications(self, clause: str, params: Sequence[Any]) -> list[Publication]:
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT issue_number, trigger, planned, created_at, reported_at FROM publications"
                    + clause,
                    params,
                )
            ).fetchall()
            numbers = [int(r[0]) for r in rows]
            counts: dict[int, dict[str, dict[DeliveryStatus, int]]] = {n: {} for n in numbers}
            if numbers:
                marks = ", ".join("?" for _ in numbers)
                async with db.execute(
                    "SELECT issue_number, platform, status, COUNT(*) FROM outbox"
                    f" WHERE kind <> 'report' AND issue_number IN ({marks})"
                    " GROUP BY issue_number, platform, status",
                    numbers,
                ) as cursor:
                    async for n, platform, status, count in cursor:
                        counts[n].setdefault(platform, {})[DeliveryStatus(status)] = int(count)
        return [
            Publication(
                issue_number=int(r[0]),
                trigger=str(r[1]),
                planned=int(r[2]),
                created_at=str(r[3]),
                reported_at=r[4],
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
        """Take up to ``limit`` due rows of ``platform`` for ``worker``, oldest first. Atomic,
        so several dispatchers (processes) never claim the same row. Each claim gets a fresh
        token, which its settle must present; ``process``: the claiming process, whose
        heartbeat (:meth:`heartbeat`) keeps its claims from being taken back."""
        now_ts = _ts(now)
        token = secrets.token_urlsafe(12)
        async with self.transaction() as db:
            # One statement for the whole batch: the due rows are found by the outbox_due index
            # and claimed as they are returned (RETURNING comes back unordered: sorted below).
            rows = await (
                await db.execute(
                    "UPDATE outbox SET status = 'claimed', claimed_by = ?, claimed_at = ?,"
                    " updated_at = ?, claim_token = ?, claimed_process = ?"
                    " WHERE id IN (SELECT id FROM outbox"
                    " WHERE platform = ? AND status = 'pending' AND not_before <= ?"
                    " ORDER BY not_before, id LIMIT ?)"
                    " RETURNING id, issue_number, target, thread_id, kind, payload, attempts,"
                    " message_ids, not_before",
                    (worker, now_ts, now_ts, token, process, platform, now_ts, limit),
                )
            ).fetchall()
        rows = sorted(rows, key=lambda r: (r[8], r[0]))
        return [
            Delivery(
                id=int(r[0]),
                issue_number=int(r[1]),
                target=Target(platform, str(r[2]), str(r[3]), direct=DeliveryKind(r[4]).direct),
                kind=DeliveryKind(r[4]),
                payload=json.loads(r[5]),
                attempts=int(r[6]),
                claimed_by=worker,
                sent=tuple(json.loads(r[7])) if r[7] else (),
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
        """Put claimed rows back to pending: ``worker``'s own (it restarted, so whatever it had
        in flight is unfinished), anyone's claimed before ``older_than`` (a dead process),
        those of processes not heard from (:meth:`heartbeat`) since ``silent_since``, or those
        of ``processes`` (known to have ended).

        With ``silent_since``, ``worker``'s claims are released only when no live process made
        them: a second process running under the same name keeps its claims."""
        if worker is None and older_than is None and silent_since is None and not processes:
            raise ValueError("release whose claims? give worker, older_than or silent_since")
        clauses: list[str] = []
        params: list[Any] = [_ts(), platform]
        if processes:
            clauses.append(f"claimed_process IN ({', '.join('?' for _ in processes)})")
            params += list(processes)
        alive = "claimed_process IN (SELECT process FROM workers WHERE seen_at >= ?)"
        if worker is not None:
            if silent_since is not None:
                clauses.append(f"(claimed_by = ? AND NOT ({alive} IS TRUE))")
                params += [worker, _ts(silent_since)]
            else:
                clauses.append("claimed_by = ?")
                params.append(worker)
        elif silent_since is not None:
            clauses.append(f"(claimed_process IS NOT NULL AND NOT ({alive}))")
            params.append(_ts(silent_since))
        if older_than is not None:
            clauses.append("claimed_at < ?")
            params.append(_ts(older_than))
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE outbox SET status = 'pending', claimed_by = NULL, claimed_at = NULL,"
                " claim_token = NULL, claimed_process = NULL, updated_at = ?"
                f" WHERE platform = ? AND status = 'claimed' AND ({' OR '.join(clauses)})",
                params,
            )
            return max(cursor.rowcount, 0)

    async def processes(self) -> list[str]:
        """The processes that have heartbeat in the last day."""
        async with self.reading() as db:
            rows = await (
                await db.execute("SELECT process FROM workers ORDER BY process")
            ).fetchall()
        return [str(r[0]) for r in rows]

    async def heartbeat(self, process: str, worker: str, *, roles: Sequence[str] = ()) -> None:
        """``process`` (running as ``worker``) is alive now: its claims stay its own. The first
        beat records when it started; ``roles`` replace those recorded, none keeps them."""
        now = _ts()
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO workers (process, worker, seen_at, roles, started_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (process) DO UPDATE SET"
                " worker = excluded.worker, seen_at = excluded.seen_at,"
                " roles = CASE WHEN excluded.roles = '' THEN workers.roles ELSE excluded.roles END",
                (process, worker, now, join_roles(roles), now),
            )
            cutoff = _ts(utcnow() - dt.timedelta(days=1))
            await db.execute("DELETE FROM workers WHERE seen_at < ?", (cutoff,))

    async def instances(self, *, seen_within: float = 60.0) -> list[Instance]:
        """The processes heard from in the last ``seen_within`` seconds, by name."""
        cutoff = _ts(utcnow() - dt.timedelta(seconds=seen_within))
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT process, worker, roles, COALESCE(started_at, seen_at), seen_at"
                    " FROM workers WHERE seen_at >= ? ORDER BY process",
                    (cutoff,),
                )
            ).fetchall()
        return [
            Instance(
                process=str(r[0]),
                worker=str(r[1]),
                roles=split_roles(r[2]),
                started_at=_parse_ts(r[3]),
                last_seen=_parse_ts(r[4]),
            )
            for r in rows
        ]

    async def next_due(self, platform: str) -> dt.datetime | None:
        """When the earliest pending row of ``platform`` becomes due (``None``: nothing pending)."""
        async with self.reading() as db:
            row = await (
                await db.execute(
                    "SELECT MIN(not_before) FROM outbox WHERE platform = ? AND status = 'pending'",
                    (platform,),
                )
            ).fetchone()
        if not row or row[0] is None:
            return None
        return _parse_ts(row[0])

    async def settle_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Record many outcomes in one transaction: one UPDATE for all the rows (each still
        fenced by its claim token), then the gone destinations deactivated. ``result[i]`` is
        ``False`` where the row was no longer ours; a delivery given twice is settled once."""
        if not settlements:
            return []
        rows, first = settlement_rows(settlements)
        now = _ts()
        settled: set[int] = set()
        async with self.transaction() as db:
            for chunk in chunks(rows, _SETTLE_CHUNK):
                values = ", ".join("(?, ?, ?, ?, ?, ?, ?, ?)" for _ in chunk)
                params: list[Any] = []
                for r in chunk:
                    params += [
                        r.id,
                        r.claimed_by,
                        r.claim_token,
                        r.status,
                        r.error,
                        r.message_ids,
                        r.attempts,
                        _ts(r.not_before) if r.not_before else None,
                    ]
                returned = await (
                    await db.execute(
                        "WITH v (id, claimed_by, claim_token, status, error, message_ids, attempts,"
                        f" not_before) AS (VALUES {values})"
                        " UPDATE outbox SET status = v.status, error = v.error,"
                        " message_ids = COALESCE(v.message_ids, outbox.message_ids),"
                        " attempts = COALESCE(v.attempts, outbox.attempts),"
                        " not_before = COALESCE(v.not_before, outbox.not_before),"
                        " claimed_by = NULL, claimed_at = NULL, claim_token = NULL,"
                        " claimed_process = NULL, updated_at = ?"
                        " FROM v WHERE outbox.id = v.id AND outbox.status = 'claimed'"
                        " AND outbox.claimed_by = v.claimed_by"
                        " AND outbox.claim_token IS v.claim_token"
                        " RETURNING outbox.id",
                        [*params, now],
                    )
                ).fetchall()
                settled.update(int(r[0]) for r in returned)
            for settlement in settlements:
                if settlement.outcome == "gone":
                    await self._deactivate(
                        db,
                        settlement.delivery.target,
                        settlement.error or "gone",
                        thread_only=settlement.thread_only,
                    )
        return [
            i in first and settlements[i].delivery.id in settled for i in range(len(settlements))
        ]

    async def outbox_counts(self) -> dict[str, dict[DeliveryStatus, int]]:
        """platform → status → rows, over the whole outbox (reports included)."""
        counts: dict[str, dict[DeliveryStatus, int]] = {}
        async with (
            self.reading() as db,
            db.execute(
                "SELECT platform, status, COUNT(*) FROM outbox GROUP BY platform, status"
            ) as cursor,
        ):
            async for platform, status, n in cursor:
                counts.setdefault(platform, {})[DeliveryStatus(status)] = int(n)
        return counts

    async def unreported_publications(self) -> list[int]:
        """Publications with nothing left to send whose report has not been written yet."""
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT issue_number FROM publications p WHERE reported_at IS NULL AND NOT EXISTS"
                    " (SELECT 1 FROM outbox o WHERE o.issue_number = p.issue_number AND o.kind <> 'report'"
                    " AND o.status IN ('pending', 'claimed')) ORDER BY issue_number"
                )
            ).fetchall()
        return [int(r[0]) for r in rows]

    async def publication_outcome(self, issue_number: int) -> PublicationOutcome | None:
        publication = await self.publication(issue_number)
        if publication is None:
            return None
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT platform, target, thread_id, kind, status, error FROM outbox"
                    " WHERE issue_number = ? AND kind <> 'report' AND status IN ('failed', 'gone') ORDER BY id",
                    (issue_number,),
                )
            ).fetchall()
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
        """Queue a finished publication's report rows and mark it reported, once: ``False`` if it
        was reported already (by another process) or is not finished."""
        now = _ts()
        async with self.transaction() as db:
            cursor = await db.execute(
                "UPDATE publications SET reported_at = ? WHERE issue_number = ? AND reported_at IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.issue_number = ? AND o.kind <> 'report'"
                " AND o.status IN ('pending', 'claimed'))",
                (now, issue_number, issue_number),
            )
            if cursor.rowcount <= 0:
                return False
            await self._insert_deliveries(db, issue_number, deliveries, now)
        return True

    # -- continuations ("more" buttons) and metadata -------------------------------------

    async def save_continuation(
        self, command: str, page: int, *, owner: str = "", keep: int | None = None
    ) -> str:
        """Store a long command line behind a short key (button payloads are small); with
        ``keep``, only ``owner``'s newest ``keep`` are kept (their keys share a prefix, so the
        primary key's index finds them without a column of their own)."""
        prefix = owner_prefix(owner) if owner else ""
        key = prefix + secrets.token_urlsafe(9)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO continuations (key, command, page, created_at) VALUES (?, ?, ?, ?)",
                (key, command, page, _ts()),
            )
            cutoff = _ts(utcnow() - dt.timedelta(days=30))
            await db.execute("DELETE FROM continuations WHERE created_at < ?", (cutoff,))
            if prefix and keep is not None:
                # Key characters are [A-Za-z0-9_-], all below "~": the range is the prefix.
                mine = "key > ? AND key < ?"
                await db.execute(
                    f"DELETE FROM continuations WHERE {mine} AND rowid NOT IN"
                    f" (SELECT rowid FROM continuations WHERE {mine} ORDER BY rowid DESC LIMIT ?)",
                    (prefix, prefix + "~", prefix, prefix + "~", keep),
                )
        return key

    async def load_continuation(self, key: str) -> tuple[str, int] | None:
        async with self.reading() as db:
            row = await (
                await db.execute("SELECT command, page FROM continuations WHERE key = ?", (key,))
            ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    async def get_meta(self, key: str) -> str | None:
        async with self.reading() as db:
            row = await (
                await db.execute("SELECT value FROM meta WHERE key = ?", (key,))
            ).fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM meta WHERE key = ?", (key,))
            await db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    async def replace_meta(self, key: str, value: str | None, *, expected: str | None) -> bool:
        """Compare and set, in one write transaction (so across processes, one at a time)."""
        async with self.transaction() as db:
            row = await (
                await db.execute("SELECT value FROM meta WHERE key = ?", (key,))
            ).fetchone()
            if (None if row is None else str(row[0])) != expected:
                return False
            await db.execute("DELETE FROM meta WHERE key = ?", (key,))
            if value is not None:
                await db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return True

    async def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold the lease ``name`` for ``seconds`` if it is free, expired or already ``holder``'s;
        ``False`` if another process holds it. One statement, so across processes sharing the
        database at most one holds a lease at a time (the feed poller polls only while it does)."""
        now = utcnow()
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"
                " WHERE leases.holder = excluded.holder OR leases.until <= ?",
                (name, holder, _ts(now + dt.timedelta(seconds=seconds)), _ts(now)),
            )
            return cursor.rowcount > 0

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up at once (a clean stop), so another process need not wait it out."""
        async with self.transaction() as db:
            cursor = await db.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
            )
            return cursor.rowcount > 0

    async def leases(self) -> list[Lease]:
        """The leases held now (unexpired), by name."""
        async with self.reading() as db:
            rows = await (
                await db.execute(
                    "SELECT name, holder, until FROM leases WHERE until > ? ORDER BY name",
                    (_ts(),),
                )
            ).fetchall()
        return [Lease(str(r[0]), str(r[1]), _parse_ts(r[2])) for r in rows]

    # -- several instances: webhook updates seen, shared rate budgets ----------------------

    async def first_seen(self, platform: str, update_id: int) -> bool:
        """``True`` the first time (platform, update_id) is offered by any process sharing the
        database; rows older than a day are pruned (Telegram keeps retrying for less)."""
        now = utcnow()
        async with self.transaction() as db:
            cursor = await db.execute(
                "INSERT INTO updates (platform, update_id, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (platform, update_id) DO NOTHING",
                (platform, update_id, _ts(now)),
            )
            first = cursor.rowcount > 0
            await db.execute("DELETE FROM updates WHERE seen_at < ?", (_ts(now - UPDATES_KEPT),))
        return first

    async def take_tokens(
        self, bucket: str, wanted: int, *, rate: float, burst: float, book: float = 0.0
    ) -> tuple[int, float]:
        """Take up to ``wanted`` whole tokens from the shared bucket ``bucket`` (refilling at
        ``rate`` per second up to ``burst``; a new bucket starts full), up to ``book`` of them
        before they accrue (the bucket then below zero; see :class:`RateBudget`). Returns
        (granted, seconds until the next token — ``0.0`` if some remain). One write transaction, so processes
        sharing the file never take the same token twice."""
        check_bucket(wanted, rate, burst, book)
        async with self.transaction() as db:
            row = await (
                await db.execute(
                    "SELECT tokens, refilled_at FROM rate_buckets WHERE bucket = ?", (bucket,)
                )
            ).fetchone()
            now = time.time()
            if row is None:
                available = burst
            else:
                available = refill(float(row[0]), now - float(row[1]), rate, burst)
            granted, left, wait = take(available, wanted, rate, book)
            await db.execute(
                "INSERT INTO rate_buckets (bucket, tokens, refilled_at) VALUES (?, ?, ?)"
                " ON CONFLICT (bucket) DO UPDATE SET tokens = excluded.tokens,"
                " refilled_at = excluded.refilled_at",
                (bucket, left, max(now, float(row[1])) if row is not None else now),
            )
        return granted, wait
