"""Discord's settings: ``DLW_DISCORD_*`` environment variables (or ``.env``), read here.

The core's :class:`~bot.config.Settings` knows no platform; each adapter owns its settings.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DiscordSettings"]


class DiscordSettings(BaseSettings):
    """How to reach Discord; with no ``token`` the bot does not serve Discord."""

    model_config = SettingsConfigDict(env_prefix="DLW_DISCORD_", env_file=".env", extra="ignore")

    token: SecretStr | None = Field(default=None, description="Discord bot token.")
    api_url: str | None = Field(
        default=None, description="Discord API root (default: Discord's own)."
    )
    guild_id: int | None = Field(
        default=None, description="Sync commands to this guild only (instant)."
    )

    @property
    def configured(self) -> bool:
        return self.token is not None
