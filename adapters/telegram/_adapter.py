"""Telegram: python-telegram-bot's ``Application`` serving the one command registry.

The adapter translates and nothing else. An update becomes a :class:`~bot.commands.Context`
(who, which chat, which forum topic, how to check admin rights) and a call to
:meth:`~bot.commands.CommandRegistry.dispatch_text` or :meth:`~bot.commands.CommandRegistry.continue_`;
the :class:`~bot.reply.Reply` that comes back becomes HTML messages
(:mod:`adapters.telegram._render`, sent by :mod:`adapters.telegram._send`). Handlers, the command
menu and the "more" buttons are all derived from the registry (:mod:`adapters.telegram._updates`),
so a command added to :mod:`bot.commands` works here unchanged.

Talking to Telegram goes through python-telegram-bot end to end: long polling by default, its
own webhook server (secret token checked) when ``DLW_TELEGRAM_WEBHOOK_URL`` is set, and its
:class:`~telegram.ext.AIORateLimiter` for flood limits, which also waits out a 429's
``retry_after`` and tries again. :class:`RetryingRateLimiter` adds a short, bounded backoff for
network failures and 5xx answers at the same extension point, so no handler carries retry code.

Several processes on one bot token (docs/deployment.md): Telegram allows one ``getUpdates``
consumer, so in polling mode the processes compete for the ``telegram:poll`` lease
(:mod:`bot.leadership`) and only its holder polls; the others send only, and one of them takes
over when the holder dies. In webhook mode every instance serves the webhook behind the load
balancer and every one calls setWebhook at start with the same URL, secret and update types
(idempotent: Telegram answers "Webhook is already set"), so no instance depends on another; the
secret, unless configured, is derived from the token, so all instances agree on it. Every
update is offered to the store first (:meth:`~bot.platform.AdapterServices.first_seen`): one
that Telegram retries after a non-2xx answer, or that a takeover fetches again, is handled once.
A process without the ``bot`` role (``receive=False``) never polls nor serves the webhook.

Errors keep their meaning (ARCHITECTURE.md, "platform errors mean something"): they are translated
into :mod:`bot.delivery` errors, and a reply that fails because the reader blocked the bot, the bot
was removed or a group became a supergroup updates the store through
:func:`bot.delivery.note_unreachable`, as the dispatcher does for the weekly post.

The bot token is secret: httpx's request log (which prints URLs, token included) is kept at
WARNING, and every log record of python-telegram-bot, httpx and this module passes a filter that
blanks the token out, tracebacks included.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import re
from math import ceil
from typing import Final
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
)
from telegram.error import InvalidToken, TelegramError
from telegram.ext import ApplicationBuilder
from telegram.request import HTTPXRequest

from adapters.telegram._errors import RetryingRateLimiter, describe
from adapters.telegram._request import JSONRequest
from adapters.telegram._send import deliver, more_callback_data
from adapters.telegram._tokens import protect_token
from adapters.telegram._updates import PLATFORM, PtbApplication, Updates
from adapters.telegram.settings import TelegramSettings, api_urls
from bot.commands import ChatKind
from bot.delivery import Limits, TransientError
from bot.leadership import Leadership
from bot.model import Target
from bot.pacing import SharedBucket, window_pace
from bot.platform import AdapterServices
from bot.reply import Reply

__all__ = ["ALLOWED_UPDATES", "PLATFORM", "TelegramAdapter", "more_callback_data"]

log = logging.getLogger("adapters.telegram")

# What the bot needs to hear about; everything else Telegram would send is dropped at the source.
ALLOWED_UPDATES: Final = (
    "message",
    "channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
)
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
#: The lease whose holder is the one long-polling consumer among processes sharing the store.
POLL_LEASE: Final = "telegram:poll"


class TelegramAdapter:
    """The bot on Telegram: private chats, groups, channels, forum topics and inline mode.

    ``TelegramAdapter(services, TelegramSettings())`` is all the entry point needs. The keyword
    arguments are for tests and benchmarks: HTTP ``timeout`` (seconds, each of connect, read,
    write and pool), the long-poll ``poll_timeout``, how many updates are handled at once,
    how often a 429 is waited out before :class:`~bot.delivery.RateLimited` surfaces
    (``flood_retries``), and the bounded backoff for network failures.
    """

    platform: str = PLATFORM

    def __init__(
        self,
        services: AdapterServices,
        settings: TelegramSettings,
        *,
        timeout: float = 10.0,
        poll_timeout: float = 25.0,
        concurrency: int = 64,
        flood_retries: int = 3,
        network_retries: int = 2,
        backoff: float = 0.5,
        receive: bool = True,
    ) -> None:
        if settings.token is None:
            raise ValueError("DLW_TELEGRAM_TOKEN is not set")
        self._services = services
        self._settings = settings
        self._timeout = timeout
        self._poll_timeout = poll_timeout
        self._concurrency = concurrency
        self._flood_retries = flood_retries
        self._network_retries = network_retries
        self._backoff = backoff
        # The pace itself is RetryingRateLimiter's (its FairPacer fed from the budget shared by
        # every process on this token, a little under the cap); the dispatcher starts no more
        # than the cap a second and keeps enough rows under way to hold that pace.
        self.limits = Limits(
            messages_per_second=settings.cap, max_concurrency=max(8, ceil(settings.cap / 8))
        )
        self._application: PtbApplication | None = None
        self._limiter: RetryingRateLimiter | None = None
        self._bot_username: str | None = None
        self.receive = receive
        self._polling: Leadership | None = None
        self._polling_task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._application is not None

    @property
    def ready(self) -> bool:
        """Started (and, when it receives, polling or serving the webhook, or standing by as
        a send-only process for the lease): what ``/readyz`` asks."""
        task = self._polling_task
        return self._application is not None and (task is None or not task.done())

    @property
    def polling(self) -> bool:
        """Whether this process is the one long-polling ``getUpdates`` consumer now."""
        return self._polling is not None and self._polling.held

    @property
    def bot_username(self) -> str | None:
        """The bot's @username, known once started (from getMe)."""
        return self._bot_username

    async def start(self) -> None:
        """Connect (getMe), publish the command menu, then poll or serve the webhook.

        Returns once updates are flowing. A rejected token raises :class:`RuntimeError` without
        repeating the token.
        """
        if self._application is not None:
            return
        settings = self._settings
        assert settings.token is not None  # checked in __init__
        token = settings.token.get_secret_value()
        protect_token(token)
        secret = self._webhook_secret()
        application = self._build(token)
        try:
            await application.initialize()
        except InvalidToken:
            raise RuntimeError(
                "Telegram rejected the bot token (DLW_TELEGRAM_TOKEN); get a valid one from @BotFather"
            ) from None
        try:
            self._bot_username = application.bot.username
            updates = Updates(self._services, self._bot_username)
            updates.add_to(application)
            await self._publish_commands(application)
            await application.start()
            updater = application.updater
            assert updater is not None
            if not self.receive:
                log.info("Telegram: @%s sending only (no bot role)", self._bot_username)
            elif settings.webhook_url:
                await updater.start_webhook(
                    listen=settings.webhook_listen,
                    port=settings.webhook_port,
                    url_path=urlsplit(settings.webhook_url).path.strip("/"),
                    webhook_url=settings.webhook_url,
                    secret_token=secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                log.info("Telegram: @%s receiving updates by webhook", self._bot_username)
            else:
                await self._compete_for_polling(application, updates)
        except BaseException:
            await self._stop_polling_lease()
            await _shut_down(application)
            raise
        self._application = application

    async def _compete_for_polling(self, application: PtbApplication, updates: Updates) -> None:
        """Poll while this process holds :data:`POLL_LEASE`; send only while another does.
        Returns once the first attempt is decided (polling started, or standing by)."""
        updater = application.updater
        assert updater is not None

        async def elected() -> None:
            await updater.start_polling(
                poll_interval=0,
                timeout=dt.timedelta(seconds=self._poll_timeout),
                allowed_updates=list(ALLOWED_UPDATES),
                error_callback=updates.on_polling_error,
            )
            log.info("Telegram: @%s long polling", self._bot_username)

        async def deposed() -> None:
            if updater.running:
                await updater.stop()
            log.info("Telegram: @%s no longer polling; sending only", self._bot_username)

        self._polling = self._services.leadership(
            POLL_LEASE, on_elected=elected, on_deposed=deposed
        )
        self._polling_task = asyncio.create_task(self._polling.run(), name="telegram-poll-lease")
        decided = asyncio.ensure_future(self._polling.decided.wait())
        await asyncio.wait({decided, self._polling_task}, return_when=asyncio.FIRST_COMPLETED)
        decided.cancel()
        if self._polling_task.done():
            self._polling_task.result()  # what stopped it (a bad token on getUpdates...)
        if not self._polling.held:
            log.info(
                "Telegram: @%s sending only; another process polls (lease %s)",
                self._bot_username,
                POLL_LEASE,
            )

    async def _stop_polling_lease(self) -> None:
        task, self._polling_task = self._polling_task, None
        self._polling = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop(self) -> None:
        """Stop receiving updates, let handlers in flight finish, close connections. Idempotent."""
        application, self._application = self._application, None
        limiter, self._limiter = self._limiter, None
        if limiter is not None:  # first, so handlers waiting for a turn finish at once
            refused = limiter.close()
            if refused:
                log.warning(
                    "Telegram: stopping; %d queued messages not sent (command replies dropped, "
                    "outbox deliveries stay pending for the next start)",
                    refused,
                )
        await self._stop_polling_lease()  # stops polling, hands the lease on
        if application is not None:
            await _shut_down(application)

    def _webhook_secret(self) -> str | None:
        """The secret Telegram must echo on every webhook call: the configured one, or one
        derived from the token, so every instance behind a load balancer registers the same
        (a random one per start would lock the others out after the last setWebhook)."""
        settings = self._settings
        if not settings.webhook_url:
            return None
        if settings.webhook_secret is None:
            assert settings.token is not None
            token = settings.token.get_secret_value().encode()
            digest = hmac.new(token, b"dlw-bot webhook secret", hashlib.sha256).digest()
            return base64.urlsafe_b64encode(digest).decode().rstrip("=")
        secret = settings.webhook_secret.get_secret_value()
        if _WEBHOOK_SECRET.fullmatch(secret) is None:
            raise ValueError(
                "DLW_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return secret

    def _build(self, token: str) -> PtbApplication:
        settings = self._settings
        rate, burst = window_pace(settings.cap)
        bot_id = token.partition(":")[0]  # the public part: the cap is per bot token
        self._limiter = RetryingRateLimiter(
            overall_max_rate=settings.cap,
            max_retries=self._flood_retries,
            network_retries=self._network_retries,
            backoff=self._backoff,
            source=SharedBucket(
                self._services.budget,
                f"telegram:{bot_id}",
                rate,
                burst,
                cap=settings.cap,
                census=self._services.senders,
            ),
        )
        builder = (
            ApplicationBuilder()
            .token(token)
            .rate_limiter(self._limiter)
            .concurrent_updates(self._concurrency)
            .job_queue(None)
            .request(self._request(JSONRequest, pool=256))  # PTB's default pool size
            # Long polling keeps PTB's own request on one connection (PTB adds the long-poll
            # timeout to its read timeout).
            .get_updates_request(self._request(HTTPXRequest, pool=1))
        )
        if settings.api_url:
            base_url, base_file_url = api_urls(settings.api_url)
            builder = builder.base_url(base_url)
            if base_file_url is not None:
                builder = builder.base_file_url(base_file_url)
        application: PtbApplication = builder.build()
        return application

    def _request(
        self, kind: type[JSONRequest] | type[HTTPXRequest], *, pool: int
    ) -> JSONRequest | HTTPXRequest:
        timeout = self._timeout
        return kind(
            connection_pool_size=pool,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )

    async def _publish_commands(self, application: PtbApplication) -> None:
        """setMyCommands from the registry: everything public by default, and per chat type
        only what works there (no /weekly in private chats)."""
        public = self._services.registry.public()

        def menu(kind: ChatKind | None) -> list[BotCommand]:
            return [
                BotCommand(c.name, c.description) for c in public if kind is None or kind in c.chats
            ]

        bot = application.bot
        try:
            await bot.set_my_commands(menu(None), scope=BotCommandScopeDefault())
            await bot.set_my_commands(
                menu(ChatKind.PRIVATE), scope=BotCommandScopeAllPrivateChats()
            )
            await bot.set_my_commands(menu(ChatKind.GROUP), scope=BotCommandScopeAllGroupChats())
        except TelegramError as exc:  # the bot works without a menu; say so and carry on
            log.warning("Telegram: could not publish the command menu: %s", describe(exc))

    # -- sending ----------------------------------------------------------------------------

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        """Deliver ``reply`` to ``target`` (a chat, a forum topic, or a reader's private chat):
        the outbox's path (channel posts, digests, reports) and operators' notices. With
        ``DLW_TELEGRAM_PAID_BROADCAST=on`` these go as paid broadcasts.

        Raises :mod:`bot.delivery` errors; the store is left to the caller.
        """
        application = self._application
        if application is None:
            raise TransientError("the Telegram adapter is not running")
        return await deliver(
            application.bot,
            self._services.paging,
            target,
            reply,
            skip=skip,
            meta=self._services.meta,
            paid_broadcast=self._settings.paid_broadcast,
        )


async def _shut_down(application: PtbApplication) -> None:
    try:
        updater = application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
    finally:
        await application.shutdown()
