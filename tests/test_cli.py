"""The dlw-bot command line, as a user runs it (a real subprocess where it matters)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main
from tests.helpers import run_cli


def test_python_m_bot_shell_c(tmp_path: Path) -> None:
    result = run_cli("shell", "-c", "/section papers", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Reward is enough" in result.stdout
    assert (tmp_path / "dlw-bot.sqlite3").exists()  # the default database, in the working directory


def test_no_token_starts_the_shell_after_explaining(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path, stdin="/latest\n")
    assert result.returncode == 0, result.stderr
    assert "DLW_TELEGRAM_TOKEN" in result.stderr and "DLW_DISCORD_TOKEN" in result.stderr
    assert "Deep Learning Weekly: Issue #206" in result.stdout


def test_broken_content_at_start_is_reported(tmp_path: Path, content_dir: Path) -> None:
    (content_dir / "issues" / "0206.yaml").write_text("number: 206\n", encoding="utf-8")
    result = run_cli(
        "shell", "-c", "/latest", cwd=tmp_path, env={"DLW_CONTENT_DIR": str(content_dir)}
    )
    assert result.returncode == 1
    assert "issues/0206.yaml: title: required field is missing" in result.stderr


def test_bad_configuration_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DLW_ADMINS", "nobody")
    assert main(["validate"]) == 2
    assert "DLW_ADMINS" in capsys.readouterr().err


def test_tokens_are_secret_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.telegram import TelegramSettings

    monkeypatch.setenv("DLW_TELEGRAM_TOKEN", "123:SECRET-TOKEN")
    settings = TelegramSettings()
    assert "SECRET-TOKEN" not in repr(settings) and "SECRET-TOKEN" not in str(settings)


def test_publish_dry_run_then_publish_then_status(tmp_path: Path) -> None:
    env = {"DLW_DATABASE": str(tmp_path / "db.sqlite3"), "COLUMNS": "100"}
    assert run_cli("shell", "-c", "/subscribe pytorch", cwd=tmp_path, env=env).returncode == 0
    dry = run_cli("publish", "--dry-run", cwd=tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "Dry run: issue #206 would go out as 0 channel posts and 0 digests" in dry.stdout
    assert "A channel post would look like this" in dry.stdout and "Thinking Like" in dry.stdout
    assert "Nothing was written." in dry.stdout
    assert "No issue has been published yet." in run_cli("status", cwd=tmp_path, env=env).stdout

    first = run_cli("publish", "206", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Publishing issue #206: 0 channel posts and 0 digests")
    second = run_cli("publish", cwd=tmp_path, env=env)
    assert second.returncode == 0
    assert "Nothing new to publish: the newest issue is #206" in second.stdout
    assert "Name an issue" not in second.stdout  # naming #206 is refused: don't suggest it
    again = run_cli("publish", "206", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "already published" in again.stdout
    missing = run_cli("publish", "999", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "There is no issue #999 in the archive (have: #202, #206)." in missing.stdout
    status = run_cli("status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert "Issue #206" in status.stdout and "cli, " in status.stdout
    assert "Schedule: Wednesdays at 16:00 (UTC)" in status.stdout


def test_bad_schedule_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path, env={"DLW_PUBLISH_SCHEDULE": "wed at noon"})
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: DLW_PUBLISH_SCHEDULE / DLW_TIMEZONE: ")
    assert "expected DAYS HH:MM" in result.stderr


def test_ctrl_c_quits_the_shell_at_once_and_leaves_the_terminal_sane(tmp_path: Path) -> None:
    """A reader at the prompt presses Ctrl-C: the shell ends now (not at the next Enter), with
    the conventional status 130, and the terminal echoes and edits lines again."""
    import fcntl
    import select
    import signal
    import subprocess
    import sys
    import termios
    import time

    from tests.helpers import cli_environment

    master, terminal = os.openpty()

    def controlling_terminal() -> None:  # the pty is the child's terminal, so ^C is SIGINT
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        signal.signal(
            signal.SIGINT, signal.SIG_DFL
        )  # as in a terminal, even if we run in the background

    shell = subprocess.Popen(
        [sys.executable, "-m", "bot", "shell"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=tmp_path,
        env=cli_environment({}),
        preexec_fn=controlling_terminal,
    )
    try:
        seen = b""
        deadline = time.monotonic() + 30
        while b"dlw> " not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 4096)
        assert b"dlw> " in seen, seen.decode(errors="replace")
        os.write(master, b"\x03")
        assert shell.wait(timeout=10) == 130
        local_modes = termios.tcgetattr(terminal)[3]
        assert local_modes & termios.ECHO and local_modes & termios.ICANON
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait()
        os.close(master)
        os.close(terminal)
