"""Settings, from ``DLW_*`` environment variables or a ``.env`` file, with safe embedded defaults.

With nothing configured the bot serves ``./content`` when it exists (``dlw-bot init`` makes
one), else the bundled, read-only ``content/``, keeps its state in ``./dlw-bot.sqlite3`` and
runs the console shell. These are the core's settings: each platform's (``DLW_TELEGRAM_*``,
``DLW_DISCORD_*``, tokens included) live with its adapter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.model import process_name
from bot.schedule import Schedule, ScheduleError
from bot.store.urls import parse_location

__all__ = ["Settings", "bundled_content_dir", "default_content_dir", "parse_interval"]


def bundled_content_dir() -> Path:
    """The content shipped with dlw-bot: inside the wheel, or the source checkout's ``content/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "_bundled_content"
    return packaged if packaged.is_dir() else here.parent / "content"


def default_content_dir() -> Path:
    """Where content lives when ``DLW_CONTENT_DIR`` is not set: ``./content`` if it holds content
    (``issues/`` or ``topics.yaml``), else the bundled, read-only copy."""
    local = Path("content")
    if (local / "issues").is_dir() or (local / "topics.yaml").is_file():
        return local.absolute()
    return bundled_content_dir()


_INTERVAL = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(text: str) -> float:
    """Seconds from ``1800``, ``90s``, ``30m``, ``1h30m`` or ``1d``; ``ValueError`` otherwise."""
    spec = text.strip().lower().replace(" ", "")
    if not spec:
        raise ValueError("empty interval")
    seconds, position = 0.0, 0
    for match in _INTERVAL.finditer(spec):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(spec):
        raise ValueError(f"can't read the interval {text!r}: use seconds or forms like 30m, 1h")
    return seconds


class Settings(BaseSettings):
    """The core's configuration: content, database, operators, the weekly schedule."""

    model_config = SettingsConfigDict(env_prefix="DLW_", env_file=".env", extra="ignore")

    content_dir: Path = Field(
        default_factory=default_content_dir,
        description="Content directory (issues/, topics.yaml); default ./content when it exists, "
        "else the bundled copy.",
    )
    database: Path | str = Field(
        default=Path("dlw-bot.sqlite3"),
        description="The store: a SQLite file (or sqlite:///file), or a PostgreSQL URL "
        "postgresql://user:password@host/database for several processes on one store.",
    )
    database_busy_timeout: float = Field(
        default=3.0,
        description="Seconds a database statement waits for another process's write lock.",
    )
    command_timeout: float = Field(
        default=5.0,
        description="Seconds a command may wait for the database before the reader is told it "
        "is busy.",
    )
    restart_backoff: float = Field(
        default=1.0,
        description="First wait before a crashed background task (dispatcher, scheduler, "
        "watchers) is restarted; doubles per failure in a row.",
    )
    restart_max_backoff: float = Field(
        default=60.0, description="Longest wait between restarts of a failing background task."
    )
    log_level: str = Field(default="INFO", description="Logging level.")
    admins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Operators, comma-separated platform:user_id (e.g. telegram:12345,discord:678).",
    )

    publish_schedule: str = Field(
        default="wed 16:00",
        description="When new issues are published: DAYS HH:MM (wed 16:00, mon,thu 09:30, "
        "daily 07:00), or off.",
    )
    timezone: str = Field(default="UTC", description="Time zone of the schedule (IANA name).")
    instance: str = Field(
        default_factory=process_name,
        description="This process's name in delivery claims (default host:pid:random, unique "
        "per process). Claims are fenced, so two processes given the same name never send a "
        "row twice.",
    )

    feed_url: str | None = Field(
        default=None, description="RSS/Atom feed polled for new issues (http or https URL)."
    )
    feed_interval: float = Field(
        default=1800.0,
        description="How often the feed is polled: seconds, or forms like 30m, 1h (default 30m).",
    )
    feed_review: bool = Field(
        default=False,
        description="on: issues from the feed wait as drafts until an operator approves them.",
    )

    command_burst: int = Field(
        default=10, ge=1, description="Commands a reader may send at once before the rate applies."
    )
    command_rate: float = Field(
        default=1.0,
        ge=0,
        description="Commands a second a reader may send once the burst is used (0: no limit).",
    )

    continuations_per_user: int = Field(
        default=20, ge=1, description='Saved "More" buttons kept per reader; older ones expire.'
    )

    shutdown_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a shutdown waits for sends under way before leaving them to the next "
        "start.",
    )

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("admins")
    @classmethod
    def _check_admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            platform, _, user = entry.partition(":")
            if not platform or not user:
                raise ValueError(f"{entry!r} should look like telegram:12345 or discord:678")
        return value

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: Path | str) -> Path | str:
        """A SQLite path, or a PostgreSQL URL kept as written; another URL is refused here, at
        start, rather than taken for a file name."""
        return parse_location(value)

    @field_validator("feed_url")
    @classmethod
    def _check_feed_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("feed_interval", mode="before")
    @classmethod
    def _parse_feed_interval(cls, value: object) -> object:
        seconds = parse_interval(value) if isinstance(value, str) else value
        if isinstance(seconds, int | float) and seconds <= 0:
            raise ValueError("must be more than 0 seconds")
        return seconds

    @model_validator(mode="after")
    def _check_schedule(self) -> Settings:
        try:
            self.schedule()
        except ScheduleError as exc:
            raise ValueError(f"DLW_PUBLISH_SCHEDULE / DLW_TIMEZONE: {exc}") from None
        return self

    @property
    def scheduled(self) -> bool:
        return self.publish_schedule.strip().lower() not in ("", "off")

    def schedule(self) -> Schedule | None:
        """The weekly slot asked for, or ``None`` when scheduled publishing is off."""
        if not self.scheduled:
            return None
        return Schedule.parse(self.publish_schedule, self.timezone)

    def is_admin(self, platform: str, user_id: str) -> bool:
        return f"{platform}:{user_id}" in self.admins
