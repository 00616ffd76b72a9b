"""Shared fixtures: a private copy of the bundled content, a fresh database, a wired App."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.commands import ChatKind, Context
from bot.config import Settings
from bot.store import SQLiteStore, Store, open_store
from bot.store.postgres import PostgresStore

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONTENT = REPO / "content"
# Copies of ../shared/seeds (the two real issues as received), so tests run anywhere.
SEEDS = Path(__file__).resolve().parent / "data" / "seeds"
SEED_202 = SEEDS / "issue-202.txt"
SEED_206 = SEEDS / "issue-206.txt"


def pytest_configure(config: pytest.Config) -> None:
    """The ``python -m bot`` processes the tests start cache bytecode as an operator's Python
    does, even where this environment says not to (``PYTHONDONTWRITEBYTECODE``): otherwise each
    of the few hundred of them compiles the project from source again (~0.1 s each). The
    caches are the ``__pycache__`` directories git ignores; this process is unaffected."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def sqlite(store: Store) -> SQLiteStore:
    """The app's store as the SQLite backend it is in tests, for the checks that read its rows."""
    assert isinstance(store, SQLiteStore)
    return store


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled content."""
    target = tmp_path / "content"
    shutil.copytree(BUNDLED_CONTENT, target)
    return target


@pytest.fixture
def settings(content_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in (
        "DLW_TELEGRAM_TOKEN",
        "DLW_DISCORD_TOKEN",
        "DLW_ADMINS",
        "DLW_DATABASE",
        "DLW_CONTENT_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or database in the checkout
    return Settings(content_dir=content_dir, database=tmp_path / "bot.sqlite3")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    async with App.create(settings, local_platforms=LOCAL_PLATFORMS) as application:
        yield application


@pytest.fixture
def ctx(app: App) -> Callable[..., Context]:
    """Build a command context for a reader: ``ctx(user_id="42", chat_kind=ChatKind.GROUP)``."""

    def make(**overrides: Any) -> Context:
        values: dict[str, Any] = {
            "services": app,
            "platform": "test",
            "user_id": "u1",
            "chat_id": "u1",
            "chat_kind": ChatKind.PRIVATE,
        }
        values.update(overrides)
        return Context(**values)

    return make


@pytest.fixture
def discord_urls() -> Iterator[None]:
    """The Discord adapter aims discord.py at a fake (process-wide); put Discord's URLs back."""
    import discord

    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    try:
        yield
    finally:
        discord.http.Route.BASE = base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


# -- the store's two backends -------------------------------------------------------------------

#: Every backend the store tests run on.
BACKENDS = ("sqlite", "postgres")

#: A store the tests can also reach into (transaction(): the backend's own connection).
Backend = SQLiteStore | PostgresStore


def database_url(server: str, name: str) -> str:
    """``server``'s URL with the database ``name`` in it (the path part; host, user, socket
    and other parameters kept)."""
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def create_database(server: str, name: str) -> str:
    """A new, empty database ``name`` on ``server`` (one of that name is dropped first); its
    URL."""
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(server, name)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the whole run of this process (each pytest-xdist worker has
    its own): ``DLW_TEST_POSTGRES_URL`` (an existing server, whose user may create databases;
    the workers' databases have names of their own) or else a throwaway PostgreSQL 16 from
    the ``pgserver`` wheel on a unix socket of its own (about a second to start), stopped at
    the end."""
    given = os.environ.get("DLW_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from pgserver.postgres_server import get_server

    # A short directory: the server's unix socket path must stay under ~100 characters.
    home = Path(tempfile.mkdtemp(prefix="dlwpg-"))
    server = get_server(home, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A migrated database new test databases are copied from (CREATE DATABASE ... TEMPLATE
    takes milliseconds; running the migrations for each test would not)."""
    name = f"dlw_template_{os.getpid()}"

    async def make() -> None:
        store = await PostgresStore.open(await create_database(postgres_server, name))
        await store.close()

    asyncio.run(make())
    return name


@pytest.fixture
async def postgres_url(postgres_server: str, postgres_template: str) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database of its own for one test, dropped afterwards."""
    name = f"dlw_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    finally:
        await admin.close()
    try:
        yield database_url(postgres_server, name)
    finally:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend a store test runs on, once each."""
    return str(request.param)


@pytest.fixture
def store_location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a fresh store of ``backend`` lives: a SQLite file or a PostgreSQL URL."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return tmp_path / "db.sqlite3"


@pytest.fixture
async def store(store_location: Path | str) -> AsyncIterator[Backend]:
    """A fresh, migrated store on each backend."""
    opened = await open_store(store_location)
    assert isinstance(opened, SQLiteStore | PostgresStore)
    try:
        yield opened
    finally:
        await opened.close()
