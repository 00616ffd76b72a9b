"""Shared test helpers: waiting on conditions (instead of sleeps that guess how long) and
running the real command line in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

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


def run_cli(
    *args: str,
    cwd: Path,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` as an operator runs it: in ``cwd``, with no ``DLW_*`` settings
    but ``env``'s, this checkout importable from anywhere."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DLW_")}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (a real full disk or read-only file system for the
    storage-fault tests); skips the test when this machine does not let us mount one."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'mount failed'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, options: str) -> None:
    """Change a :func:`tmpfs` mount's options, e.g. ``ro`` or ``rw``."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)
