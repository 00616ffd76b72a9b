"""Telegram's settings: ``DLW_TELEGRAM_*`` environment variables (or ``.env``), read here.

The core's :class:`~bot.config.Settings` knows no platform; each adapter owns its settings.
The token is a :class:`~pydantic.SecretStr`, so it never appears in logs or reprs.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TelegramSettings", "api_urls"]


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
        description="Messages per second to the Bot API overall (Telegram allows about 30); "
        "raise it only against a local or test Bot API server.",
    )

    @property
    def configured(self) -> bool:
        return self.token is not None


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
