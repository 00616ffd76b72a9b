"""Where content lives, what may be written, the feed settings, and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bot
from bot.config import Settings, bundled_content_dir, parse_interval
from bot.ingest.workdir import init_content
from bot.ingest.write import ContentNotWritable, atomic_write, check_writable, content_change


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("DLW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_without_settings_the_bundled_copy_is_served(clean_env: Path) -> None:
    assert Settings().content_dir == bundled_content_dir()


def test_a_local_content_directory_is_preferred(clean_env: Path) -> None:
    (clean_env / "content").mkdir()
    assert Settings().content_dir == bundled_content_dir()  # empty: not content
    (clean_env / "content" / "topics.yaml").write_text("topics: []\n")
    assert Settings().content_dir == clean_env / "content"


def test_dlw_content_dir_wins(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_content(clean_env / "content")
    monkeypatch.setenv("DLW_CONTENT_DIR", str(clean_env / "elsewhere"))
    settings = Settings()
    assert settings.content_dir == clean_env / "elsewhere"
    assert "content_dir" in settings.model_fields_set


def test_the_installed_package_is_never_writable(tmp_path: Path) -> None:
    inside = Path(bot.__file__).resolve().parent / "_bundled_content"
    with pytest.raises(ContentNotWritable, match="bundled content that ships with dlw-bot"):
        check_writable(inside, explicit=True)


def test_the_checkout_content_is_writable_only_when_chosen() -> None:
    with pytest.raises(ContentNotWritable, match="dlw-bot init"):
        check_writable(bundled_content_dir(), explicit=False)
    check_writable(bundled_content_dir(), explicit=True)


def test_a_directory_without_topics_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(ContentNotWritable, match=r"has no topics.yaml.*dlw-bot init"):
        check_writable(tmp_path, explicit=True)
    check_writable(tmp_path, explicit=True, need_topics=False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1800", 1800),
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1d", 86400),
        (" 2 h ", 7200),
        ("0.5", 0.5),
    ],
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30 minutes", "m30", "1h-5m"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError, match="interval"):
        parse_interval(text)


def test_feed_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.feed_url, settings.feed_interval, settings.feed_review) == (None, 1800, False)
    monkeypatch.setenv("DLW_FEED_URL", "https://www.deeplearningweekly.com/feed")
    monkeypatch.setenv("DLW_FEED_INTERVAL", "15m")
    monkeypatch.setenv("DLW_FEED_REVIEW", "on")
    settings = Settings()
    assert settings.feed_url == "https://www.deeplearningweekly.com/feed"
    assert settings.feed_interval == 900 and settings.feed_review is True
    monkeypatch.setenv("DLW_FEED_INTERVAL", "0")
    with pytest.raises(ValueError, match="more than 0 seconds"):
        Settings()
    monkeypatch.setenv("DLW_FEED_INTERVAL", "1h")
    monkeypatch.setenv("DLW_FEED_URL", "ftp://example.com/feed")
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings()


def test_an_atomic_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "0420.yaml"
    atomic_write(target, "number: 420\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "half \ud800 written")  # cannot be encoded: fails mid-write
    assert target.read_text() == "number: 420\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0420.yaml"]


def test_an_atomic_write_makes_an_ordinary_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "0420.yaml"
    atomic_write(target, "number: 420\n")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_the_watcher_ignores_temporaries_and_drafts(tmp_path: Path) -> None:
    assert content_change(tmp_path, str(tmp_path / "issues" / "0420.yaml"))
    assert content_change(tmp_path, str(tmp_path / "topics.yaml"))
    assert not content_change(tmp_path, str(tmp_path / "issues" / ".0420.yaml.1a2b.tmp"))
    assert not content_change(tmp_path, str(tmp_path / "drafts" / "0421.yaml"))
