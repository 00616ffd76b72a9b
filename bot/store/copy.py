"""``dlw-bot db copy``: every table of one store into another, e.g. a SQLite file into PostgreSQL.

Both stores are opened (so migrated) to the same schema version first. The source is read in one
consistent snapshot; the target is written in ONE transaction that also checks each table's row
count against the source's before committing: a failed or interrupted copy leaves the target as
it was, never half-copied. A target that already holds data is refused unless ``force`` (then its
rows are replaced, in that same transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

from bot.store.postgres import PostgresStore
from bot.store.protocols import Store, StoreError
from bot.store.sqlite import SQLiteStore

__all__ = ["TABLES", "CopyRefused", "TableCount", "copy_store"]

Kind = Literal["int", "text", "bool", "ts", "real"]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, Kind], ...]
    order: str  # the column that keeps rows in their original order (SQLite: rowid)
    identity: str | None = None  # PostgreSQL identity column to move past the copied ids

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]


def _cols(spec: str) -> tuple[tuple[str, Kind], ...]:
    out: list[tuple[str, Kind]] = []
    for part in spec.split():
        name, _, kind = part.partition(":")
        out.append((name, kind or "text"))  # type: ignore[arg-type]
    return tuple(out)


#: Every table the bot keeps, parents before children (foreign keys), with its column types.
TABLES: tuple[Table, ...] = (
    Table(
        "subscribers",
        _cols("id:int platform user_id active:bool inactive_reason created_at:ts updated_at:ts"),
        "id",
        identity="id",
    ),
    Table("subscriptions", _cols("subscriber_id:int kind value created_at:ts"), "rowid"),
    Table(
        "channels",
        _cols(
            "id:int platform chat_id thread_id title registered_by active:bool inactive_reason"
            " created_at:ts updated_at:ts"
        ),
        "id",
        identity="id",
    ),
    Table(
        "publications",
        _cols("issue_number:int trigger planned:int created_at:ts reported_at:ts"),
        "issue_number",
    ),
    Table(
        "outbox",
        _cols(
            "id:int issue_number:int platform target thread_id kind payload status attempts:int"
            " not_before:ts claimed_by claimed_at:ts message_ids error created_at:ts"
            " updated_at:ts claim_token claimed_process"
        ),
        "id",
        identity="id",
    ),
    # PostgreSQL numbers continuations (seq) in insertion order, as SQLite's rowid does.
    Table("continuations", _cols("key command page:int created_at:ts"), "rowid"),
    Table("meta", _cols("key value"), "key"),
    Table("workers", _cols("process worker seen_at:ts roles started_at:ts"), "process"),
    Table("leases", _cols("name holder until:ts"), "name"),
    Table("updates", _cols("platform update_id:int seen_at:ts"), "rowid"),
    Table("rate_buckets", _cols("bucket tokens:real refilled_at:real"), "bucket"),
)

Backend = SQLiteStore | PostgresStore


class CopyRefused(StoreError):
    """The copy was not started (or was undone): the message says why."""


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int


def _sqlite_ts(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _to_sqlite(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "ts":
        moment: dt.datetime = value
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == "bool":
        return int(bool(value))
    return value


def _from_sqlite(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind == "ts":
        return _sqlite_ts(str(value))
    if kind == "bool":
        return bool(value)
    if kind == "real":
        return float(value)
    return value


@asynccontextmanager
async def _snapshot(store: Backend) -> AsyncIterator[Any]:
    """The source as of one moment (SQLite: its write lock held; PostgreSQL: a repeatable-read,
    read-only transaction), so a bot still running there cannot tear the copy."""
    if isinstance(store, SQLiteStore):
        async with store.transaction() as db:
            yield db
    else:
        async with (
            store.reading() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield conn


async def _read(store: Backend, conn: Any, table: Table) -> list[tuple[Any, ...]]:
    columns = ", ".join(table.names)
    if isinstance(store, SQLiteStore):
        rows = await (
            await conn.execute(f"SELECT {columns} FROM {table.name} ORDER BY {table.order}")
        ).fetchall()
        return [
            tuple(_from_sqlite(v, k) for v, (_, k) in zip(r, table.columns, strict=True))
            for r in rows
        ]
    order = "seq" if table.order == "rowid" and table.name == "continuations" else table.order
    if order == "rowid":
        order = ", ".join(table.names)  # no insertion order kept: any stable order will do
    records = await conn.fetch(f"SELECT {columns} FROM {table.name} ORDER BY {order}")
    return [tuple(r) for r in records]


async def _count(store: Backend, conn: Any, table: Table) -> int:
    if isinstance(store, SQLiteStore):
        row = await (await conn.execute(f"SELECT COUNT(*) FROM {table.name}")).fetchone()
        return int(row[0])
    return int(await conn.fetchval(f"SELECT COUNT(*) FROM {table.name}"))


async def _write(store: Backend, conn: Any, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if isinstance(store, SQLiteStore):
        marks = ", ".join("?" for _ in table.columns)
        await conn.executemany(
            f"INSERT INTO {table.name} ({', '.join(table.names)}) VALUES ({marks})",
            [
                tuple(_to_sqlite(v, k) for v, (_, k) in zip(r, table.columns, strict=True))
                for r in rows
            ],
        )
        return
    await conn.copy_records_to_table(table.name, records=rows, columns=table.names)


async def _clear(store: Backend, conn: Any) -> None:
    for table in reversed(TABLES):
        await conn.execute(f"DELETE FROM {table.name}")


async def _after_ids(store: Backend, conn: Any) -> None:
    """PostgreSQL hands out new ids past the copied ones (its identities do not look at rows
    inserted with explicit ids)."""
    if not isinstance(store, PostgresStore):
        return
    for table in TABLES:
        if table.identity:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{table.identity}'),"
                f" COALESCE((SELECT MAX({table.identity}) FROM {table.name}), 0) + 1, false)"
            )


async def copy_store(source: Store, target: Store, *, force: bool = False) -> list[TableCount]:
    """Copy every table of ``source`` into ``target`` (see the module's docstring); returns the
    row count of each table on both sides, equal by construction (else nothing is committed)."""
    if not isinstance(source, SQLiteStore | PostgresStore) or not isinstance(
        target, SQLiteStore | PostgresStore
    ):
        raise CopyRefused("only SQLite and PostgreSQL stores can be copied")
    version = await source.schema_version(), await target.schema_version()
    if version[0] != version[1]:
        raise CopyRefused(f"schema versions differ (source {version[0]}, target {version[1]})")
    counts: list[TableCount] = []
    async with _snapshot(source) as read, target.transaction() as write:
        held = [t.name for t in TABLES if await _count(target, write, t)]
        if held and not force:
            raise CopyRefused(
                f"the target already holds data ({', '.join(held)}); nothing was copied."
                " Use --force to replace it"
            )
        if held:
            await _clear(target, write)
        for table in TABLES:
            rows = await _read(source, read, table)
            await _write(target, write, table, rows)
            counts.append(TableCount(table.name, len(rows), await _count(target, write, table)))
        wrong = [c for c in counts if c.source != c.target]
        if wrong:
            raise CopyRefused(
                "row counts differ after copying, nothing was committed: "
                + ", ".join(f"{c.table} {c.source} → {c.target}" for c in wrong)
            )
        await _after_ids(target, write)
    return counts
