"""Waiting on conditions in tests: the one helper, instead of sleeps that guess how long."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

POLL = 0.005  # how often a condition nothing can signal is looked at again


async def wait_for(condition: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    """Wait until ``condition()`` (sync or async) is truthy and return its value.

    For state nothing can signal (the database, a log file, a store read): re-checked every
    few milliseconds. ``timeout`` bounds a failing run only; a passing one never waits it out.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(POLL)
