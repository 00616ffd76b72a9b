"""The dlw-bot command line, as a user runs it (a real subprocess where it matters)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest

from bot.cli import main
from tests.helpers import TerminalShell, run_cli


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
    assert "dlw> " not in result.stdout  # commands piped in: no prompt in the output


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
    import termios

    with TerminalShell(tmp_path) as shell:
        shell.read_until(b"dlw> ")
        shell.type(b"\x03")
        assert shell.process.wait(timeout=10) == 130
        local_modes = termios.tcgetattr(shell.terminal)[3]
        assert local_modes & termios.ECHO and local_modes & termios.ICANON


def test_log_lines_never_land_on_the_prompt_line(tmp_path: Path, content_dir: Path) -> None:
    """A content reload is rejected while the reader is typing: the log lines go on lines of
    their own, and the prompt comes back with what they had typed."""
    with TerminalShell(tmp_path, {"DLW_CONTENT_DIR": str(content_dir)}) as shell:
        shell.read_until(b"dlw> ")
        shell.type(b"/lat")
        shell.read_until(b"/lat")
        broken = content_dir / "issues" / "0206.yaml"
        for attempt in range(30):  # until the watcher, started beside the prompt, sees a change
            broken.write_text(f"number: 206  # {attempt}\n", encoding="utf-8")
            with contextlib.suppress(AssertionError):
                seen = shell.read_until(b"content change rejected", timeout=2)
                break
        seen = shell.read_until(b"content change rejected", timeout=1)
        seen = shell.read_until(b"dlw> /lat", since=seen.index(b"content change rejected"))
        text = seen.decode()
        assert re.search(r"dlw> [^\r\n]*(ERROR|rejected|not reloaded)", text) is None, text
        assert text.rstrip().endswith("dlw> /lat")  # the prompt is redrawn, typing kept


def test_output_to_a_file_is_plain_text_one_line_per_topic(tmp_path: Path) -> None:
    """``-c … > file``: no box drawing or escape codes, /topics one line a topic, and no
    message of the command line ends in spaces (rich's wrapping leaves them)."""
    topics = run_cli("shell", "-c", "/topics", cwd=tmp_path)
    assert topics.returncode == 0, topics.stderr
    lines = topics.stdout.splitlines()
    assert lines[0] == "22 topics" and len(lines) == 24, topics.stdout
    assert "PyTorch: /subscribe pytorch · 7 items" in lines
    search = run_cli("shell", "-c", "/search embedded", cwd=tmp_path)
    published = run_cli("publish", cwd=tmp_path)
    for output in (topics.stdout, search.stdout, published.stdout):
        assert not set(output) & set("╭╮╰╯│─\x1b"), output
        assert [line for line in output.splitlines() if line != line.rstrip()] == []
    assert "• Introduction to Embedded Machine Learning" in search.stdout


def test_python_m_bot_without_the_virtual_environment_says_what_to_run(tmp_path: Path) -> None:
    """A Python without the bot's dependencies (-S: no site-packages) gets a sentence, not a
    traceback; --help says the same."""
    import subprocess
    import sys

    from tests.helpers import cli_environment

    bare = subprocess.run(
        [sys.executable, "-S", "-m", "bot", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_environment({}),
    )
    assert bare.returncode == 1 and "Traceback" not in bare.stderr
    assert "is not installed for" in bare.stderr and "virtual environment" in bare.stderr
    assert "virtual environment" in " ".join(run_cli("--help", cwd=tmp_path).stdout.split())
