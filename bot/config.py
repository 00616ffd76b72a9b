"""Settings, from ``DLW_*`` environment variables or a ``.env`` file, with safe embedded defaults.

With nothing configured the bot serves the bundled ``content/``, keeps its state in
``./dlw-bot.sqlite3`` and runs the console shell. These are the core's settings: each platform's
(``DLW_TELEGRAM_*``, ``DLW_DISCORD_*``, tokens included) live with its adapter.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.schedule import Schedule, ScheduleError

__all__ = ["Settings", "bundled_content_dir"]


def bundled_content_dir() -> Path:
    """The content shipped with dlw-bot: inside the wheel, or the source checkout's ``content/``."""
    here = Path(__file__).resolve().parent
    packaged = here / "_bundled_content"
    return packaged if packaged.is_dir() else here.parent / "content"


class Settings(BaseSettings):
    """The core's configuration: content, database, operators, the weekly schedule."""

    model_config = SettingsConfigDict(env_prefix="DLW_", env_file=".env", extra="ignore")

    content_dir: Path = Field(
        default_factory=bundled_content_dir, description="Content directory (issues/, topics.yaml)."
    )
    database: Path = Field(default=Path("dlw-bot.sqlite3"), description="SQLite database file.")
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
        default_factory=socket.gethostname,
        description="This process's name in delivery claims: unique per process sharing a "
        "database, stable across restarts.",
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
