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
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_environment(env or {}),
    )


def cli_environment(env: dict[str, str]) -> dict[str, str]:
    """The environment of ``run_cli``: no ``DLW_*`` settings but ``env``'s, this checkout
    importable from anywhere."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DLW_")}
    environment["PYTHONPATH"] = str(REPO)
    environment.update(env)
    return environment


class TerminalShell:
    """``python -m bot shell`` on a pseudo-terminal of its own, as a reader runs it: the
    terminal is its controlling terminal, so Ctrl-C typed there is SIGINT."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd, self.env = cwd, env or {}

    def __enter__(self) -> TerminalShell:
        import fcntl
        import signal
        import termios

        self.master, self.terminal = os.openpty()
        self.output = b""

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # even when the tests run in background

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "shell"],
            stdin=self.terminal,
            stdout=self.terminal,
            stderr=self.terminal,
            cwd=self.cwd,
            env=cli_environment(self.env),
            preexec_fn=controlling_terminal,
        )
        return self

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def read_until(self, wanted: bytes, *, since: int = 0, timeout: float = 30.0) -> bytes:
        """All the shell has written, once ``wanted`` is in it past offset ``since`` (an
        AssertionError after ``timeout``)."""
        import select
        import time

        deadline = time.monotonic() + timeout
        while wanted not in self.output[since:] and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.5)[0]:
                self.output += os.read(self.master, 4096)
        assert wanted in self.output[since:], self.output.decode(errors="replace")
        return self.output

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)
        os.close(self.terminal)


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
