"""Discord's settings: ``DLW_DISCORD_*`` environment variables (or ``.env``), read here.

The core's :class:`~bot.config.Settings` knows no platform; each adapter owns its settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DiscordSettings", "Shards", "parse_shards"]

_SHARDS = re.compile(r"(?P<first>\d+)(?:-(?P<last>\d+))?/(?P<count>\d+)")


@dataclass(frozen=True)
class Shards:
    """Which gateway shards this process runs: ``ids`` of ``count`` (``count`` ``None``:
    Discord's recommended count, every shard here)."""

    ids: tuple[int, ...] | None
    count: int | None

    @property
    def syncs_commands(self) -> bool:
        """Slash commands are global, not per shard: only the process with shard 0 syncs them,
        so N processes starting together make one sync, not N."""
        return self.ids is None or 0 in self.ids

    def describe(self) -> str:
        if self.ids is None or self.count is None:
            return "shards: automatic"
        if len(self.ids) == 1:
            return f"shard {self.ids[0]} of {self.count}"
        return f"shards {self.ids[0]}-{self.ids[-1]} of {self.count}"


def parse_shards(value: object) -> Shards | None:
    """``0-1/4`` (shards 0 and 1 of 4), ``2/4`` (shard 2 of 4), ``auto`` (every shard, Discord's
    count); empty: ``None``, one unsharded connection (enough below 2,500 servers)."""
    if value is None or isinstance(value, Shards):
        return value
    if not isinstance(value, str):
        raise ValueError("should look like 0-1/4, 2/4 or auto")
    text = value.strip().lower().replace(" ", "")
    if not text:
        return None
    if text == "auto":
        return Shards(None, None)
    match = _SHARDS.fullmatch(text)
    if match is None:
        raise ValueError(
            f"can't read {value!r}: use FIRST-LAST/COUNT (0-1/4), ID/COUNT (2/4) or auto"
        )
    first, count = int(match["first"]), int(match["count"])
    last = int(match["last"]) if match["last"] is not None else first
    if count < 1:
        raise ValueError(f"{value!r}: the shard count must be at least 1")
    if last < first:
        raise ValueError(f"{value!r}: the range {first}-{last} runs backwards")
    if last >= count:
        raise ValueError(f"{value!r}: shard ids run from 0 to {count - 1} when there are {count}")
    return Shards(tuple(range(first, last + 1)), count)


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
    shards: Annotated[Shards | None, NoDecode, BeforeValidator(parse_shards)] = Field(
        default=None,
        description="Gateway shards this process runs: 0-1/4 (ids 0 and 1 of 4), 2/4, or auto "
        "(all, Discord's count); unset: one unsharded connection.",
    )

    @property
    def configured(self) -> bool:
        return self.token is not None
