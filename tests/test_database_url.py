"""DLW_DATABASE names a SQLite file or a PostgreSQL server; whatever the bot cannot use is refused
with one line naming the setting (exit 2), never guessed at (issue 14: a postgresql:// URL used
to be taken as a file name, creating a directory tree named after it). And ``dlw-bot db``:
migrate, and copy a SQLite deployment into PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.cli import main
from bot.store import (
    DeliveryKind,
    DeliveryStatus,
    PlannedDelivery,
    SQLiteStore,
    StoreUnreachable,
    Subscription,
    SubscriptionKind,
    Target,
    open_store,
)
from bot.store.postgres import PostgresStore
from bot.store.urls import parse_location, redact
from tests.conftest import database_url
from tests.helpers import run_cli

ENTRY_POINTS = [("run", "/latest\n"), ("shell", "/latest\n"), ("publish", ""), ("status", "")]
BOUND = 30.0
PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- what a location means ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "meant"),
    [
        ("bot.sqlite3", Path("bot.sqlite3")),
        ("/srv/dlw/bot.sqlite3", Path("/srv/dlw/bot.sqlite3")),
        ("sqlite:///bot.sqlite3", Path("bot.sqlite3")),
        ("sqlite:////srv/dlw/bot.sqlite3", Path("/srv/dlw/bot.sqlite3")),
        ("postgresql://dlw:pw@db.internal:5432/dlw", "postgresql://dlw:pw@db.internal:5432/dlw"),
        ("postgres://dlw@db/dlw", "postgres://dlw@db/dlw"),
        (
            "postgresql://postgres:@/postgres?host=/run/pg",
            "postgresql://postgres:@/postgres?host=/run/pg",
        ),
    ],
)
def test_a_location_is_a_sqlite_file_or_a_postgres_url(value: str, meant: Path | str) -> None:
    assert parse_location(value) == meant


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("mysql://u:secret@h/db", "mysql:// is not a database dlw-bot can use"),
        ("http://example.com/db", "http:// is not a database dlw-bot can use"),
        ("postgresql+asyncpg://u@h/db", "without a driver name"),
        ("postgresql:///dlw", "no server in the URL"),
        ("sqlite://bot.sqlite3", "sqlite:///relative/file"),
        ("  ", "empty"),
    ],
)
def test_a_location_no_backend_takes_is_refused(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        parse_location(value)
    assert "secret" not in str(caught.value)


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://dlw:s3cr%40t@db:5432/dlw") == "postgresql://dlw:***@db:5432/dlw"
    assert redact("postgresql://db/dlw?user=dlw&password=s3cret") == (
        "postgresql://db/dlw?user=dlw&password=***"
    )
    assert redact("postgresql://dlw@db/dlw") == "postgresql://dlw@db/dlw"


# -- the command line refuses, in one line, exit 2 ----------------------------------------------


@pytest.mark.parametrize(("command", "stdin"), ENTRY_POINTS)
def test_an_unreachable_server_is_one_line_and_no_directory(
    tmp_path: Path, command: str, stdin: str
) -> None:
    url = f"postgresql://dlw:s3cret@127.0.0.1:{closed_port()}/dlw"
    result = run_cli(command, cwd=tmp_path, stdin=stdin, env={"DLW_DATABASE": url}, timeout=BOUND)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(
        f"configuration error: DLW_DATABASE: postgresql://dlw:***@{url.split('@')[1]}:"
        " cannot reach the server"
    ), result.stderr
    assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    # the old bug: the URL taken as a SQLite path made ./postgresql:/dlw:s3cret@127.0.0.1:.../
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_another_scheme_is_a_configuration_error(tmp_path: Path) -> None:
    result = run_cli(
        "status", cwd=tmp_path, env={"DLW_DATABASE": "mysql://dlw:s3cret@db/dlw"}, timeout=BOUND
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "configuration error: DLW_DATABASE: mysql://dlw:***@db/dlw: mysql:// is not a database"
        " dlw-bot can use; give a SQLite file (or sqlite:///file) or a postgresql:// URL"
    )
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_database_and_an_unknown_user_are_named(postgres_server: str) -> None:
    missing = database_url(postgres_server, "no_such_database")
    with pytest.raises(StoreUnreachable, match="no such database on the server") as caught:
        await open_store(missing)
    assert "/no_such_database" in str(caught.value)
    parts = urlsplit(postgres_server)
    stranger = postgres_server.replace(f"//{parts.netloc}", "//nobody_here:pw@", 1)
    with pytest.raises(StoreUnreachable, match="refused the login") as caught:
        await open_store(stranger)
    assert "nobody_here:***@" in str(caught.value)


def _require_password(hba: Path, role: str) -> bool:
    """Make ``role`` log in with a password on the unix socket; ``True`` if that is new."""
    lines = hba.read_text().splitlines()
    rule = f"local all {role} scram-sha-256"
    if rule in lines:
        return False
    hba.write_text("\n".join([rule, *lines]) + "\n")
    return True


async def test_a_wrong_password_is_named_without_it(postgres_server: str) -> None:
    """A role that must log in with a password (scram), offered the wrong one."""
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute("DROP ROLE IF EXISTS dlw_pw")
        await admin.execute("CREATE ROLE dlw_pw LOGIN PASSWORD 'right-one'")
        hba = Path(await admin.fetchval("SHOW hba_file"))
        if not os.access(hba, os.W_OK):
            pytest.skip("needs a server whose pg_hba.conf this test may edit (pgserver's)")
        if await asyncio.to_thread(_require_password, hba, "dlw_pw"):
            await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()
    parts = urlsplit(postgres_server)
    wrong = postgres_server.replace(f"//{parts.netloc}", "//dlw_pw:wrong-one@", 1)
    with pytest.raises(StoreUnreachable, match="refused the password") as caught:
        await open_store(wrong)
    assert "wrong-one" not in str(caught.value) and "dlw_pw:***@" in str(caught.value)


# -- dlw-bot db migrate / db copy ---------------------------------------------------------------


async def _fill(location: Path | str) -> None:
    store = await open_store(location)
    try:
        for n in range(30):
            await store.subscribe("telegram", str(n), [PYTORCH])
        await store.register_channel(Target("telegram", "-100"), title="Group", registered_by="1")
        await store.create_publication(
            206,
            "manual",
            [
                PlannedDelivery(Target.user("telegram", str(n)), DeliveryKind.DIGEST)
                for n in range(30)
            ],
        )
        sent = await store.claim_deliveries("telegram", "w", 10)
        for row in sent:
            await store.mark_sent(row, ["m1"])
        await store.set_meta("weekly:last_slot", "2026-11-25T16:00:00+00:00")
        await store.save_continuation("/search pytorch", 2, owner="telegram:1")
        assert await store.first_seen("telegram", 99)
    finally:
        await store.close()


def test_db_migrate_prints_the_version(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", postgres_url]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("schema version 3, up to date")
    assert main(["db", "migrate", str(tmp_path / "new.sqlite3")]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"{tmp_path / 'new.sqlite3'}: schema version 3, up to date"
    )


def test_db_copy_moves_a_sqlite_deployment_to_postgres(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.sqlite3"
    asyncio.run(_fill(source))
    assert main(["db", "copy", str(source), postgres_url]) == 0
    out = capsys.readouterr().out
    assert re.search(r"subscribers +30 rows → +30\n", out)
    assert re.search(r"outbox +30 rows → +30\n", out)
    assert "every count verified" in out

    async def check() -> None:
        store = await open_store(postgres_url)
        assert isinstance(store, PostgresStore)
        try:
            assert len(await store.subscribers_with_subscriptions("telegram")) == 30
            publication = await store.publication(206)
            assert publication is not None
            assert publication.counts["telegram"] == {
                DeliveryStatus.SENT: 10,
                DeliveryStatus.PENDING: 20,
            }
            assert await store.get_meta("weekly:last_slot") == "2026-11-25T16:00:00+00:00"
            assert not await store.first_seen("telegram", 99)  # seen before the move
            # new rows get ids past the copied ones
            await store.subscribe("telegram", "new", [PYTORCH])
            await store.create_publication(
                207, "manual", [PlannedDelivery(Target("telegram", "-100"), DeliveryKind.CHANNEL)]
            )
            rows = await store.claim_deliveries("telegram", "w", 100)
            assert len(rows) == 21 and len({r.id for r in rows}) == 21
        finally:
            await store.close()

    asyncio.run(check())
    # a second copy would mix two deployments: refused, unless --force replaces the target
    assert main(["db", "copy", str(source), postgres_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("copy refused: the target already holds data (subscribers,")
    assert "Use --force" in err
    assert main(["db", "copy", str(source), postgres_url, "--force"]) == 0
    assert re.search(r"outbox +30 rows → +30\n", capsys.readouterr().out)


def test_db_copy_is_all_or_nothing(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PostgreSQL refuses a NUL character SQLite kept: the copy fails at the meta table, after
    the outbox was written, and the target keeps none of it."""
    source = tmp_path / "bot.sqlite3"
    asyncio.run(_fill(source))

    async def poison() -> None:
        store = await SQLiteStore.open(source)
        await store.set_meta("bad", "nul \x00 inside")
        await store.close()

    asyncio.run(poison())
    assert main(["db", "copy", str(source), postgres_url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("copy failed, nothing was written to DST:"), err

    async def empty() -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT (SELECT COUNT(*) FROM subscribers) + (SELECT COUNT(*) FROM outbox)"
                )
            )
        finally:
            await conn.close()

    assert asyncio.run(empty()) == 0


def test_db_copy_back_from_postgres_into_sqlite(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_fill(postgres_url))
    target = tmp_path / "back.sqlite3"
    assert main(["db", "copy", postgres_url, str(target)]) == 0
    assert re.search(r"subscriptions +30 rows → +30\n", capsys.readouterr().out)

    async def check() -> None:
        store = await SQLiteStore.open(target)
        try:
            assert len(await store.subscribers_with_subscriptions()) == 30
            assert (await store.publication(206)).counts["telegram"][DeliveryStatus.SENT] == 10  # type: ignore[union-attr]
        finally:
            await store.close()

    asyncio.run(check())


def test_db_copy_refuses_the_same_database_and_bad_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.sqlite3"
    assert main(["db", "copy", str(source), f"sqlite:///{source}"]) == 2
    assert "SRC and DST are the same database" in capsys.readouterr().err
    assert main(["db", "copy", str(source), "mysql://u:pw@h/db"]) == 2
    assert capsys.readouterr().err.startswith("configuration error: DST: mysql://u:***@h/db:")
