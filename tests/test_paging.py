""" "More" buttons: one paging module for every adapter, inline when the line fits, stored else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.paging import EXPIRED, Paging, PayloadFormat, expired_reply, inline_payload
from bot.reply import Continuation
from bot.store import SQLiteStore

TELEGRAM = PayloadFormat(inline="more:", stored="more#", limit=64, size=lambda s: len(s.encode()))
DISCORD = PayloadFormat(inline="dlw:more:", stored="dlw:more:key:", limit=100)


async def test_short_lines_travel_inline_and_long_ones_through_the_store(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    try:
        paging = Paging(store)
        short = Continuation("/search pytorch", 2)
        assert await paging.encode(short, TELEGRAM) == "more:2:/search pytorch"
        assert await paging.decode("more:2:/search pytorch", TELEGRAM) == ("/search pytorch", 2)

        long = Continuation("/search " + "é" * 28, 3)  # 64+ bytes, though under 64 characters
        payload = await paging.encode(long, TELEGRAM)
        assert payload is not None and payload.startswith("more#") and len(payload.encode()) <= 64
        assert await paging.decode(payload, TELEGRAM) == (long.command, 3)
        assert await paging.encode(long, DISCORD) == f"dlw:more:3:{long.command}"  # characters

        stored = await paging.encode(Continuation("/search " + "x" * 100, 2), DISCORD)
        assert stored is not None and stored.startswith("dlw:more:key:")
        assert await paging.decode(stored, DISCORD) == ("/search " + "x" * 100, 2)
    finally:
        await store.close()


async def test_unknown_and_malformed_payloads_decode_to_nothing(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3")
    try:
        paging = Paging(store)
        assert await paging.decode("more#no-such-key", TELEGRAM) is None
        assert await paging.decode("more:x:/latest", TELEGRAM) is None
        # digits beyond ASCII ("²" is a digit to str.isdigit, not to int) from a modified client
        assert await paging.decode("more:²:/help", TELEGRAM) is None
        assert await paging.decode("other", TELEGRAM) is None
        assert inline_payload(Continuation("not a command", 2), TELEGRAM) is None
        assert expired_reply().plain_text() == EXPIRED
    finally:
        await store.close()


async def test_a_continuation_the_store_cannot_save_gives_no_button_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await SQLiteStore.open(tmp_path / "db.sqlite3", busy_timeout=0.05)
    writer = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None, timeout=0)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        paging = Paging(store)
        assert await paging.encode(Continuation("/search " + "x" * 100, 2), DISCORD) is None
        assert await paging.encode(Continuation("/search x", 2), DISCORD) == "dlw:more:2:/search x"
        assert "without its More button" in caplog.text
    finally:
        writer.close()
        await store.close()
