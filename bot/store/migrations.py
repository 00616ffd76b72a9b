"""The store's schema as an append-only list of plain-SQL steps.

Each step is applied at open in its own transaction and recorded in ``schema_migrations``. These
are SQLite's steps; PostgreSQL has its own DDL with the same numbering
(:mod:`bot.store.postgres_migrations`), so a version means the same schema on both.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MIGRATIONS", "statements"]

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
    # 2: fenced claims. Each claim carries its own token (a settle must present it, so a claimant
    # whose row was taken back can't record over the new claim) and the process that made it;
    # processes heartbeat in workers, so claims of a live process are never taken back at start.
    """
    ALTER TABLE outbox ADD COLUMN claim_token TEXT;
    ALTER TABLE outbox ADD COLUMN claimed_process TEXT;
    CREATE TABLE workers (
        process TEXT PRIMARY KEY,
        worker TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    """,
    # 3: several processes on one store. Heartbeats say what each process runs and since when
    # (`dlw-bot status`); leases get a table of their own (they were JSON in meta); webhook
    # updates already handled (dedupe across instances); shared token buckets for one platform
    # cap across every process sending on the same token.
    """
    ALTER TABLE workers ADD COLUMN roles TEXT NOT NULL DEFAULT '';
    ALTER TABLE workers ADD COLUMN started_at TEXT;
    UPDATE workers SET started_at = seen_at;
    CREATE INDEX workers_seen ON workers (seen_at);
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until TEXT NOT NULL
    );
    INSERT INTO leases (name, holder, until)
        SELECT substr(key, 7), json_extract(value, '$.holder'), json_extract(value, '$.until')
        FROM meta WHERE key LIKE 'lease:%' AND json_valid(value)
        AND json_extract(value, '$.holder') IS NOT NULL AND json_extract(value, '$.until') IS NOT NULL;
    DELETE FROM meta WHERE key LIKE 'lease:%';
    CREATE TABLE updates (
        platform TEXT NOT NULL,
        update_id INTEGER NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (platform, update_id)
    );
    CREATE INDEX updates_seen ON updates (seen_at);
    CREATE TABLE rate_buckets (
        bucket TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        refilled_at REAL NOT NULL
    )
    """,
)


def statements(script: str) -> Iterable[str]:
    """Split a migration into statements (migrations contain no semicolons inside literals)."""
    return (s.strip() for s in script.split(";") if s.strip())
