"""A database that can't be opened stops every entry point at once with one clear line (issue
11): no traceback, no process kept alive by aiosqlite's thread. Real files, real subprocesses;
the subprocess timeout is the bound a hanging start fails on."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from bot.store import SQLiteStore
from tests.helpers import remount, run_cli, tmpfs

# (subcommand, stdin): every entry point that opens the database. ``run`` without a token is the
# shell; it opens the App the way ``run`` with tokens does.
ENTRY_POINTS = [("run", "/latest\n"), ("shell", "/latest\n"), ("publish", ""), ("status", "")]
BOUND = 20.0  # seconds: a start that hangs fails here instead of never ending


def good_database(path: Path) -> Path:
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE filler (x TEXT)")
        db.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    db.close()
    return path


def corrupted_header(path: Path) -> None:
    good_database(path)
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))


def truncated(path: Path) -> None:
    good_database(path)
    path.write_bytes(path.read_bytes()[:5000])


def zeroed(path: Path) -> None:
    path.write_bytes(bytes(8192))


@pytest.mark.parametrize(("command", "stdin"), ENTRY_POINTS)
@pytest.mark.parametrize(
    ("damage", "meaning"),
    [
        (corrupted_header, "not a SQLite database (file is not a database)"),
        (truncated, "corrupted (database disk image is malformed"),
        (zeroed, "not a SQLite database (file is not a database)"),
    ],
    ids=["corrupted-header", "truncated", "zeroed"],
)
def test_a_damaged_database_file_ends_the_process_with_one_line(
    tmp_path: Path, command: str, stdin: str, damage: object, meaning: str
) -> None:
    database = tmp_path / "bot.sqlite3"
    damage(database)  # type: ignore[operator]
    result = run_cli(
        command, cwd=tmp_path, stdin=stdin, env={"DLW_DATABASE": str(database)}, timeout=BOUND
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"database error: {database}: {meaning}"), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("command", "stdin"), ENTRY_POINTS)
def test_a_directory_in_place_of_the_file_is_named(
    tmp_path: Path, command: str, stdin: str
) -> None:
    database = tmp_path / "bot.sqlite3"
    database.mkdir()
    result = run_cli(
        command, cwd=tmp_path, stdin=stdin, env={"DLW_DATABASE": str(database)}, timeout=BOUND
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"database error: {database}: is a directory, not a database file"
    )


def test_a_read_only_directory_is_named(tmp_path: Path) -> None:
    # chmod does not stop root, so the directory is a file system mounted read-only for real.
    with tmpfs(tmp_path / "ro") as mount:
        existing = good_database(mount / "old.sqlite3")
        remount(mount, "ro")
        for database, meaning in [
            (mount / "new.sqlite3", "cannot create the database (read-only file system)"),
            (existing, "read-only (the file or its directory cannot be written)"),
        ]:
            for command, stdin in ENTRY_POINTS:
                result = run_cli(
                    command,
                    cwd=tmp_path,
                    stdin=stdin,
                    env={"DLW_DATABASE": str(database)},
                    timeout=BOUND,
                )
                assert result.returncode == 1, (command, result.stderr)
                last = result.stderr.strip().splitlines()[-1]
                assert last.startswith(f"database error: {database}: {meaning}"), last
                assert "Traceback" not in result.stderr


async def test_database_files_are_private_to_their_owner(tmp_path: Path) -> None:
    database = tmp_path / "bot.sqlite3"
    store = await SQLiteStore.open(database)
    try:
        await store.set_meta("k", "v")  # a write, so the -wal and -shm files exist
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        await store.close()
    assert modes == {f.name: 0o600 for f in files}


@pytest.mark.parametrize(("command", "stdin"), ENTRY_POINTS)
def test_a_database_from_a_newer_dlw_bot_is_named(tmp_path: Path, command: str, stdin: str) -> None:
    database = good_database(tmp_path / "bot.sqlite3")
    db = sqlite3.connect(database)
    with db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        db.execute("INSERT INTO schema_migrations VALUES (99, 'later')")
    db.close()
    result = run_cli(
        command, cwd=tmp_path, stdin=stdin, env={"DLW_DATABASE": str(database)}, timeout=BOUND
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"database error: {database}: the database is at schema version 99, newer than this"
        )
    )
