"""Shared fixtures: a private copy of the bundled content, a fresh database, a wired App."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.cli import LOCAL_PLATFORMS
from bot.commands import ChatKind, Context
from bot.config import Settings
from bot.store import SQLiteStore, Store

REPO = Path(__file__).resolve().parent.parent
BUNDLED_CONTENT = REPO / "content"
# Copies of ../shared/seeds (the two real issues as received), so tests run anywhere.
SEEDS = Path(__file__).resolve().parent / "data" / "seeds"
SEED_202 = SEEDS / "issue-202.txt"
SEED_206 = SEEDS / "issue-206.txt"


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
