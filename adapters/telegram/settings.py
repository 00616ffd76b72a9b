"""Telegram's settings: ``DLW_TELEGRAM_*`` environment variables (or ``.env``), read here.

The core's :class:`~bot.config.Settings` knows no platform; each adapter owns its settings.
The token is a :class:`~pydantic.SecretStr`, so it never appears in logs or reprs.
"""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PAID_BROADCAST_RATE", "TelegramSettings", "api_urls"]

#: Messages per second Telegram allows a bot with paid broadcasts (``allow_paid_broadcast``).
PAID_BROADCAST_RATE: Final = 1000


class TelegramSettings(BaseSettings):
    """How to reach Telegram; with no ``token`` the bot does not serve Telegram."""

    model_config = SettingsConfigDict(env_prefix="DLW_TELEGRAM_", env_file=".env", extra="ignore")

    token: SecretStr | None = Field(default=None, description="Telegram bot token from @BotFather.")
    api_url: str | None = Field(
        default=None, description="Bot API base URL (default: Telegram's own)."
    )
    webhook_url: str | None = Field(default=None, description="Public HTTPS URL for webhook mode.")
    webhook_listen: str = Field(
        default="127.0.0.1", description="Address the webhook server binds."
    )
    webhook_port: int = Field(default=8443, description="Port the webhook server binds.")
    webhook_secret: SecretStr | None = Field(default=None, description="Webhook secret token.")
    max_rate: float = Field(
        default=30.0,
        gt=0,
        description="The Bot API's cap in messages per second for this bot token, shared by "
        "every process on it (Telegram allows about 30; 1,000 with paid broadcasts); the bot "
        "paces a little below it. Raise it only for paid broadcasts or a local Bot API server.",
    )
    paid_broadcast: bool = Field(
        default=False,
        description="on: channel posts and digests are sent with allow_paid_broadcast (0.1 "
        "Telegram Stars per message above the free 30 a second) and the cap becomes 1,000 "
        "messages per second unless DLW_TELEGRAM_MAX_RATE says less.",
    )

    @model_validator(mode="after")
    def _paid_cap(self) -> Self:
        if self.paid_broadcast and self.max_rate > PAID_BROADCAST_RATE:
            raise ValueError(
                f"DLW_TELEGRAM_MAX_RATE={self.max_rate:g} is over {PAID_BROADCAST_RATE}, the most "
                "Telegram allows with DLW_TELEGRAM_PAID_BROADCAST=on"
            )
        return self

    @property
    def configured(self) -> bool:
        return self.token is not None

    @property
    def cap(self) -> float:
        """Messages per second the Bot API takes from this bot (all processes together)."""
        if self.paid_broadcast and "max_rate" not in self.model_fields_set:
            return PAID_BROADCAST_RATE
        return self.max_rate


def api_urls(url: str) -> tuple[str, str | None]:
    """python-telegram-bot's ``base_url`` and ``base_file_url`` for ``DLW_TELEGRAM_API_URL``.

    Accepts a Bot API server's root (``http://127.0.0.1:8081``) as well as PTB's own form
    (``…/bot``, to which the token is appended); a URL with a ``{token}`` placeholder is PTB's
    business and passes through unchanged.
    """
    base = url.strip().rstrip("/")
    if "{" in base:
        return base, None
    if not base.endswith("/bot"):
        base += "/bot"
    return base, base.removesuffix("/bot") + "/file/bot"
