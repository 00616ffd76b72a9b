"""Everything the bot remembers: subscribers, their subscriptions, registered channels, and the
delivery outbox, in SQLite through aiosqlite.

The schema is versioned: :data:`MIGRATIONS` is an append-only list of plain-SQL steps applied at
open, each in its own transaction, and recorded in ``schema_migrations``. SQL stays portable
(no SQLite-only syntax outside pragmas and ``BEGIN IMMEDIATE``) so a PostgreSQL implementation
of :class:`Store` can follow. All shared state lives here, so several processes can share one
database file (WAL mode, busy timeout).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import aiosqlite

__all__ = [
    "MAX_SUBSCRIPTIONS",
    "MIGRATIONS",
    "Channel",
    "SQLiteStore",
    "Store",
    "SubscribeOutcome",
    "Subscription",
    "SubscriptionKind",
    "Target",
    "utcnow",
]

MAX_SUBSCRIPTIONS = 25

MIGRATIONS: tuple[str, ...] = (
    # 1: readers, their subscriptions, registered channels, publications and the outbox.
    """
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        inactive_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (platform, user_id)
    );
    CREATE TABLE subscriptions (
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('topic', 'keyword')),
        value TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (subscriber_id, kind, value)
    );
    CREATE TABLE channels (
        id INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        thread_id TEXT NOT NULL DEFAULT '',
        title TEXT,
        registered_by TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        inactive_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (platform, chat_id, thread_id)
    );
    CREATE TABLE publications (
        issue_number INTEGER PRIMARY KEY,
        trigger TEXT NOT NULL,
        planned INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        reported_at TEXT
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        issue_number INTEGER NOT NULL REFERENCES publications(issue_number),
        platform TEXT NOT NULL,
        target TEXT NOT NULL,
        thread_id TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL CHECK (kind IN ('channel', 'digest', 'report')),
        payload TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'claimed', 'sent', 'failed', 'gone')),
        attempts INTEGER NOT NULL DEFAULT 0,
        not_before TEXT NOT NULL,
        claimed_by TEXT,
        claimed_at TEXT,
        message_ids TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (issue_number, platform, target, thread_id, kind)
    );
    CREATE INDEX outbox_due ON outbox (platform, status, not_before);
    CREATE TABLE continuations (
        key TEXT PRIMARY KEY,
        command TEXT NOT NULL,
        page INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ts(moment: dt.datetime | None = None) -> str:
    """Timestamps are ISO-8601 UTC text with fixed width, so they sort and compare as strings."""
    return (moment or utcnow()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SubscriptionKind(StrEnum):
    TOPIC = "topic"
    KEYWORD = "keyword"


@dataclass(frozen=True)
class Subscription:
    kind: SubscriptionKind
    value: str


@dataclass(frozen=True)
class Target:
    """Where a message goes: a chat (and a thread/topic in it) on one platform.

    ``direct`` marks a reader's private conversation, addressed by their *user* id: Telegram uses
    the same number for both, Discord has to open a DM channel first.
    """

    platform: str
    chat_id: str
    thread_id: str = ""
    direct: bool = False

    @classmethod
    def user(cls, platform: str, user_id: str) -> Target:
        return cls(platform, user_id, direct=True)

    def __str__(self) -> str:
        where = f"{self.platform}:{'user ' if self.direct else ''}{self.chat_id}"
        return where + (f"/{self.thread_id}" if self.thread_id else "")


@dataclass(frozen=True)
class Channel:
    target: Target
    title: str | None
    registered_by: str | None
    active: bool
    inactive_reason: str | None


@dataclass(frozen=True)
class SubscribeOutcome:
    added: tuple[Subscription, ...]
    already: tuple[Subscription, ...]
    refused: tuple[Subscription, ...]  # over the limit
    total: int


class Store(Protocol):
    """What the bot needs from storage; :class:`SQLiteStore` is the default implementation."""

    async def close(self) -> None: ...
    async def subscribe(
        self, platform: str, user_id: str, wanted: Sequence[Subscription], *, limit: int = ...
    ) -> SubscribeOutcome: ...
    async def unsubscribe(
        self, platform: str, user_id: str, unwanted: Sequence[Subscription]
    ) -> list[Subscription]: ...
    async def unsubscribe_all(self, platform: str, user_id: str) -> int: ...
    async def subscriptions(self, platform: str, user_id: str) -> list[Subscription]: ...
    async def set_subscriber_active(
        self, platform: str, user_id: str, active: bool, reason: str | None = None
    ) -> bool: ...
    async def register_channel(
        self, target: Target, *, title: str | None, registered_by: str | None
    ) -> bool: ...
    async def unregister_channel(self, target: Target) -> bool: ...
    async def channels(
        self, platform: str | None = None, *, active_only: bool = True
    ) -> list[Channel]: ...
    async def set_channel_active(
        self, target: Target, active: bool, reason: str | None = None
    ) -> bool: ...
    async def migrate_chat(self, platform: str, old_chat_id: str, new_chat_id: str) -> int: ...
    async def save_continuation(self, command: str, page: int) -> str: ...
    async def load_continuation(self, key: str) -> tuple[str, int] | None: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


class SQLiteStore:
    """:class:`Store` on one SQLite file.

    One connection per process; an :class:`asyncio.Lock` keeps each transaction's statements
    together on it. Other processes coordinate through SQLite's own locking.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> SQLiteStore:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA busy_timeout=10000")
        await db.execute("PRAGMA foreign_keys=ON")
        await db.execute("PRAGMA synchronous=NORMAL")
        store = cls(db)
        try:
            await store._migrate()
        except BaseException:
            await db.close()  # a refused or failed migration must not leak the connection thread
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            else:
                await self._db.execute("COMMIT")

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._db

    async def _migrate(self) -> None:
        async with self.transaction() as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            row = await (await db.execute("SELECT MAX(version) FROM schema_migrations")).fetchone()
            current = (row[0] if row else None) or 0
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the database is at schema version {current}, newer than this dlw-bot ({len(MIGRATIONS)}); upgrade dlw-bot"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            async with self.transaction() as db:
                for statement in _statements(script):
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
            sid = await self._subscriber_id(db, platform, user_id, create=False)
            return [] if sid is None else await self._subscriptions(db, sid)

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

    # -- continuations ("more" buttons) and metadata -------------------------------------

    async def save_continuation(self, command: str, page: int) -> str:
        """Store a long command line behind a short key (button payloads are small)."""
        key = secrets.token_urlsafe(9)
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO continuations (key, command, page, created_at) VALUES (?, ?, ?, ?)",
                (key, command, page, _ts()),
            )
            cutoff = _ts(utcnow() - dt.timedelta(days=30))
            await db.execute("DELETE FROM continuations WHERE created_at < ?", (cutoff,))
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


def _statements(script: str) -> Iterable[str]:
    """Split a migration into statements (migrations contain no semicolons inside literals)."""
    return (s.strip() for s in script.split(";") if s.strip())
