"""Telegram: python-telegram-bot's ``Application`` serving the one command registry.

The adapter translates and nothing else. An update becomes a :class:`~bot.commands.Context`
(who, which chat, which forum topic, how to check admin rights) and a call to
:meth:`~bot.commands.CommandRegistry.dispatch_text` or :meth:`~bot.commands.CommandRegistry.continue_`;
the :class:`~bot.reply.Reply` that comes back becomes HTML messages
(:mod:`adapters.telegram._render`). Handlers, the command menu and the "more" buttons are all
derived from the registry, so a command added to :mod:`bot.commands` works here unchanged.

Talking to Telegram goes through python-telegram-bot end to end: long polling by default, its
own webhook server (secret token checked) when ``DLW_TELEGRAM_WEBHOOK_URL`` is set, and its
:class:`~telegram.ext.AIORateLimiter` for flood limits, which also waits out a 429's
``retry_after`` and tries again. :class:`RetryingRateLimiter` adds a short, bounded backoff for
network failures and 5xx answers at the same extension point, so no handler carries retry code.

Errors keep their meaning (ARCHITECTURE.md, "platform errors mean something"): they are translated
into :mod:`bot.delivery` errors, and a reply that fails because the reader blocked the bot, the bot
was removed or a group became a supergroup updates the store through
:func:`bot.delivery.note_unreachable`, as the dispatcher does for the weekly post.

The bot token is secret: httpx's request log (which prints URLs, token included) is kept at
WARNING, and every log record of python-telegram-bot, httpx and this module passes a filter that
blanks the token out, tracebacks included.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeDefault,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import (
    InvalidToken,
    TelegramError,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from adapters.telegram._render import RenderedMessage, render_html
from bot.commands import ChatKind, Context
from bot.delivery import (
    ChatMoved,
    DeliveryError,
    Limits,
    TargetGone,
    TransientError,
    note_unreachable,
)
from bot.model import Target
from bot.reply import Continuation, Entry, Reply, shorten
from bot.views import inline_entries

if TYPE_CHECKING:
    from bot.app import App

from adapters.telegram._errors import RetryingRateLimiter, delivery_error, describe
from adapters.telegram._tokens import protect_token
from adapters.telegram.settings import TelegramSettings, api_urls

__all__ = ["ALLOWED_UPDATES", "PLATFORM", "TelegramAdapter", "more_callback_data"]

log = logging.getLogger("adapters.telegram")

PLATFORM: Final = "telegram"
# What the bot needs to hear about; everything else Telegram would send is dropped at the source.
ALLOWED_UPDATES: Final = (
    "message",
    "channel_post",
    "callback_query",
    "inline_query",
    "my_chat_member",
)
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_CALLBACK_ANSWER_CHARS: Final = 200
_MORE_INLINE = "more:"  # more:PAGE:COMMAND LINE, when it fits in 64 bytes
_MORE_STORED = "more#"  # more#KEY, the command line kept in the store
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

PtbApplication: TypeAlias = Application[Any, Any, Any, Any, Any, Any]
PtbContext: TypeAlias = CallbackContext[Any, Any, Any, Any]


def _chat_ref(chat_id: str) -> int | str:
    """Telegram chat ids are integers; ``@channelname`` also works for public channels."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def more_callback_data(more: Continuation, key: str | None = None) -> str | None:
    """The button payload for ``more``: the command line itself if it fits in Telegram's
    64 bytes, else (``None`` here) a short store key the caller saves it under."""
    if key is not None:
        return f"{_MORE_STORED}{key}"
    data = f"{_MORE_INLINE}{more.page}:{more.command}"
    return data if len(data.encode()) <= MAX_CALLBACK_DATA_BYTES else None


# ----------------------------------------------------------------------------- the adapter


class TelegramAdapter:
    """The bot on Telegram: private chats, groups, channels, forum topics and inline mode.

    ``TelegramAdapter(app, TelegramSettings())`` is all the entry point needs. The keyword
    arguments are for tests and benchmarks: HTTP ``timeout`` (seconds, each of connect, read,
    write and pool), the long-poll ``poll_timeout``, how many updates are handled at once,
    how often a 429 is waited out before :class:`~bot.delivery.RateLimited` surfaces
    (``flood_retries``), and the bounded backoff for network failures.
    """

    platform: str = PLATFORM

    def __init__(
        self,
        app: App,
        settings: TelegramSettings,
        *,
        timeout: float = 10.0,
        poll_timeout: float = 25.0,
        concurrency: int = 64,
        flood_retries: int = 3,
        network_retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        if settings.token is None:
            raise ValueError("DLW_TELEGRAM_TOKEN is not set")
        self._app = app
        self._settings = settings
        self._registry = app.registry
        self._timeout = timeout
        self._poll_timeout = poll_timeout
        self._concurrency = concurrency
        self._flood_retries = flood_retries
        self._network_retries = network_retries
        self._backoff = backoff
        self.limits = Limits(messages_per_second=settings.max_rate)
        self._application: PtbApplication | None = None
        self._bot_username: str | None = None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._application is not None

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
            self._add_handlers(application)
            await self._publish_commands(application)
            await application.start()
            updater = application.updater
            assert updater is not None
            if settings.webhook_url:
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
                await updater.start_polling(
                    poll_interval=0,
                    timeout=dt.timedelta(seconds=self._poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                    error_callback=self._on_polling_error,
                )
                log.info("Telegram: @%s long polling", self._bot_username)
        except BaseException:
            await _shut_down(application)
            raise
        self._application = application

    async def stop(self) -> None:
        """Stop receiving updates, let handlers in flight finish, close connections. Idempotent."""
        application, self._application = self._application, None
        if application is not None:
            await _shut_down(application)

    def _webhook_secret(self) -> str | None:
        """The secret Telegram must echo on every webhook call: the configured one, or a fresh
        random one per start (setWebhook registers it each time, so nothing needs to persist)."""
        settings = self._settings
        if not settings.webhook_url:
            return None
        if settings.webhook_secret is None:
            return secrets.token_urlsafe(32)
        secret = settings.webhook_secret.get_secret_value()
        if _WEBHOOK_SECRET.fullmatch(secret) is None:
            raise ValueError(
                "DLW_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            )
        return secret

    def _build(self, token: str) -> PtbApplication:
        settings = self._settings
        builder = (
            ApplicationBuilder()
            .token(token)
            .rate_limiter(
                RetryingRateLimiter(
                    overall_max_rate=settings.max_rate,
                    max_retries=self._flood_retries,
                    network_retries=self._network_retries,
                    backoff=self._backoff,
                )
            )
            .concurrent_updates(self._concurrency)
            .job_queue(None)
            .connect_timeout(self._timeout)
            .read_timeout(self._timeout)
            .write_timeout(self._timeout)
            .pool_timeout(self._timeout)
            .get_updates_connect_timeout(self._timeout)
            .get_updates_read_timeout(self._timeout)  # PTB adds the long-poll timeout to this
            .get_updates_write_timeout(self._timeout)
            .get_updates_pool_timeout(self._timeout)
        )
        if settings.api_url:
            base_url, base_file_url = api_urls(settings.api_url)
            builder = builder.base_url(base_url)
            if base_file_url is not None:
                builder = builder.base_file_url(base_file_url)
        application: PtbApplication = builder.build()
        return application

    def _add_handlers(self, application: PtbApplication) -> None:
        """Routes derived from the registry, plus the few updates that are not commands.

        The registry's names become one :class:`~telegram.ext.CommandHandler` (which also drops
        ``/latest@another_bot``); behind it a catch-all for text lets the core answer what it
        wants to: a plain message in a private chat is a search, an unknown command addressed
        to us gets a hint.
        """
        updates = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        application.add_handler(
            MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migration), group=0
        )
        application.add_handler(
            CommandHandler(list(self._registry.commands), self._on_text, filters=updates)
        )
        application.add_handler(MessageHandler(filters.TEXT & updates, self._on_text))
        application.add_handler(CallbackQueryHandler(self._on_more, pattern=r"^more[:#]"))
        application.add_handler(CallbackQueryHandler(self._on_stale_button))
        application.add_handler(InlineQueryHandler(self._on_inline_query))
        application.add_handler(
            ChatMemberHandler(self._on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        application.add_error_handler(self._on_error)

    async def _publish_commands(self, application: PtbApplication) -> None:
        """setMyCommands from the registry: everything public by default, and per chat type
        only what works there (no /weekly in private chats)."""
        public = self._registry.public()

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
        """Deliver ``reply`` to ``target`` (a chat, a forum topic, or a reader's private chat).

        Raises :mod:`bot.delivery` errors; the store is left to the caller.
        """
        return await self._deliver(target, reply, skip=skip)

    async def _deliver(
        self, target: Target, reply: Reply, *, quote: int | None = None, skip: int = 0
    ) -> list[str]:
        application = self._application
        if application is None:
            raise TransientError("the Telegram adapter is not running")
        messages = render_html(reply)[skip:]
        markup = await self._more_markup(reply.more) if reply.more and messages else None
        sent: list[str] = []
        for index, message in enumerate(messages):
            last = index == len(messages) - 1
            try:
                result = await application.bot.send_message(
                    chat_id=_chat_ref(target.chat_id),
                    text=message.text,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=int(target.thread_id) if target.thread_id else None,
                    link_preview_options=_preview(message),
                    reply_parameters=(
                        ReplyParameters(quote, allow_sending_without_reply=True)
                        if quote is not None and index == 0
                        else None
                    ),
                    reply_markup=markup if last else None,
                )
            except TelegramError as exc:
                error = delivery_error(exc)
                error.sent = tuple(sent)
                raise error from None
            sent.append(str(result.message_id))
        return sent

    async def _more_markup(self, more: Continuation) -> InlineKeyboardMarkup:
        data = more_callback_data(more)
        if data is None:
            key = await self._app.store.save_continuation(more.command, more.page)
            data = more_callback_data(more, key)
        return InlineKeyboardMarkup([[InlineKeyboardButton(more.label, callback_data=data)]])

    async def _answer(self, ctx: Context, reply: Reply, *, quote: int | None = None) -> None:
        """Send a command's reply where it was asked; a failure is logged and, when it says the
        chat is gone or moved, recorded in the store (and a moved chat still gets its answer)."""
        target = Target(
            PLATFORM, ctx.chat_id, ctx.thread_id, direct=ctx.chat_kind is ChatKind.PRIVATE
        )
        try:
            await self._deliver(target, reply, quote=quote)
        except ChatMoved as moved:
            await note_unreachable(self._app.store, target, moved)
            log.info("Telegram: %s became %s; registrations moved", target, moved.new_chat_id)
            try:
                await self._deliver(replace(target, chat_id=moved.new_chat_id), reply)
            except DeliveryError as error:
                log.warning("Telegram: reply to %s failed: %s", moved.new_chat_id, error)
        except DeliveryError as error:
            log.warning("Telegram: reply to %s failed: %s", target, error)
            if await note_unreachable(self._app.store, target, error):
                log.info("Telegram: %s marked unreachable", target)

    # -- updates → core ---------------------------------------------------------------------

    def _context(
        self,
        chat: Chat,
        *,
        thread_id: str = "",
        sender: User | None = None,
        sender_chat: Chat | None = None,
    ) -> Context:
        """Who asked where, in the core's terms.

        Channel posts have no sender; the channel itself is the asker and, since only its
        administrators can post, an administrator. An anonymous group admin writes as the group
        itself (``sender_chat`` is the chat), which only administrators can do.
        """
        chat_id = str(chat.id)
        if chat.type == ChatType.PRIVATE:
            return self._make_context(chat_id, chat_id, ChatKind.PRIVATE, thread_id, None)
        kind = ChatKind.CHANNEL if chat.type == ChatType.CHANNEL else ChatKind.GROUP
        if sender is None or (sender_chat is not None and sender_chat.id == chat.id):
            return self._make_context(
                chat_id, chat_id, kind, thread_id, chat.title, admin=_always_admin
            )
        return self._make_context(
            str(sender.id),
            chat_id,
            kind,
            thread_id,
            chat.title,
            admin=self._admin_check(chat.id, sender.id),
        )

    def _make_context(
        self,
        user_id: str,
        chat_id: str,
        kind: ChatKind,
        thread_id: str,
        title: str | None,
        *,
        admin: Callable[[], Awaitable[bool]] | None = None,
    ) -> Context:
        return Context(
            services=self._app,
            platform=PLATFORM,
            user_id=user_id,
            chat_id=chat_id,
            chat_kind=kind,
            thread_id=thread_id,
            chat_title=title,
            bot_username=self._bot_username,
            chat_admin=admin,
        )

    def _admin_check(self, chat_id: int, user_id: int) -> Callable[[], Awaitable[bool]]:
        """Asked only when a command needs it (getChatMember)."""

        async def is_admin() -> bool:
            application = self._application
            if application is None:
                return False
            member = await application.bot.get_chat_member(chat_id, user_id)
            return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

        return is_admin

    async def _on_text(self, update: Update, context: PtbContext) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        ctx = self._context(
            message.chat,
            thread_id=_topic(message),
            sender=message.from_user,
            sender_chat=message.sender_chat,
        )
        reply = await self._registry.dispatch_text(ctx, message.text)
        if reply is not None:
            quote = message.message_id if ctx.chat_kind is ChatKind.GROUP else None
            await self._answer(ctx, reply, quote=quote)

    async def _on_more(self, update: Update, context: PtbContext) -> None:
        """A "more" button: answer the button, send the next page below in the same chat/topic.

        The presser is the asker (a channel's subscribers can press buttons, so there the
        admin check asks Telegram rather than assuming the poster's rights).
        """
        query = update.callback_query
        if query is None or query.message is None:
            return
        origin = query.message
        ctx = self._context(
            origin.chat,
            thread_id=_topic(origin) if isinstance(origin, Message) else "",
            sender=query.from_user,
        )
        found = await self._decode_more(query.data or "")
        if found is None:  # the core words the expiry; an empty line is "nothing to continue"
            expired = await self._registry.continue_(ctx, "", 1)
            text = shorten(expired.plain_text(), MAX_CALLBACK_ANSWER_CHARS)
            await _answer_query(query.answer(text))
            return
        await _answer_query(query.answer())
        reply = await self._registry.continue_(ctx, found[0], found[1])
        await self._answer(ctx, reply)

    async def _decode_more(self, data: str) -> tuple[str, int] | None:
        if data.startswith(_MORE_STORED):
            return await self._app.store.load_continuation(data[len(_MORE_STORED) :])
        page, _, command = data[len(_MORE_INLINE) :].partition(":")
        return (command, int(page)) if page.isdigit() and command else None

    async def _on_stale_button(self, update: Update, context: PtbContext) -> None:
        """A button this version of the bot does not know: stop the client's spinner."""
        if update.callback_query is not None:
            await _answer_query(update.callback_query.answer())

    async def _on_inline_query(self, update: Update, context: PtbContext) -> None:
        """``@bot QUERY`` in any chat: the matching stories, each a shareable message."""
        query = update.inline_query
        if query is None:
            return
        offset = query.offset  # our own next_offset: a page number
        page = int(offset) if offset.isdigit() and len(offset) <= 6 else 1
        found = inline_entries(self._app.archive.archive, query.query, page=page)
        results = [
            _inline_result(f"{found.page}.{index}", entry)
            for index, entry in enumerate(found.entries)
        ]
        try:
            await query.answer(
                results,
                cache_time=60,
                is_personal=False,
                next_offset=str(found.page + 1) if found.has_more else "",
            )
        except TelegramError as exc:
            log.warning("Telegram: answering an inline query failed: %s", describe(exc))

    async def _on_my_membership(self, update: Update, context: PtbContext) -> None:
        """Telegram tells us when the bot is blocked, unblocked or removed: the store learns it
        now rather than at the next failed delivery."""
        change = update.my_chat_member
        if change is None:
            return
        chat, status = change.chat, change.new_chat_member.status
        store = self._app.store
        if chat.type == ChatType.PRIVATE:
            if status == ChatMemberStatus.BANNED:
                target = Target.user(PLATFORM, str(chat.id))
                await note_unreachable(store, target, TargetGone("the reader blocked the bot"))
            elif status == ChatMemberStatus.MEMBER:
                await store.set_subscriber_active(PLATFORM, str(chat.id), True)
            else:
                return
        elif status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
            gone = TargetGone(f"the bot was removed from the {chat.type}")
            await note_unreachable(store, Target(PLATFORM, str(chat.id)), gone)
        else:
            return
        log.info("Telegram: membership in %s is now %s", chat.id, status)

    async def _on_migration(self, update: Update, context: PtbContext) -> None:
        """A group became a supergroup: its registrations follow it to the new id."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await note_unreachable(self._app.store, Target(PLATFORM, str(old)), ChatMoved(str(new)))
        log.info("Telegram: group %s became supergroup %s; registrations moved", old, new)

    async def _on_error(self, update: object, context: PtbContext) -> None:
        log.error(
            "Telegram: handling an update failed: %s",
            describe(context.error) if context.error else "unknown error",
            exc_info=context.error,
        )

    def _on_polling_error(self, exc: TelegramError) -> None:
        log.warning("Telegram: polling failed, retrying: %s", describe(exc))


# ----------------------------------------------------------------------------- helpers


async def _always_admin() -> bool:
    return True


def _topic(message: Message) -> str:
    """The forum topic a message belongs to (``""`` outside forum topics: a reply thread in an
    ordinary group also carries a ``message_thread_id``, but replies there need none)."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return ""


def _preview(message: RenderedMessage) -> LinkPreviewOptions:
    return LinkPreviewOptions(is_disabled=not message.link_preview)


def _inline_result(result_id: str, entry: Entry) -> InlineQueryResultArticle:
    """An inline result: the story's title and summary in the picker; sharing it posts the same
    HTML a /search result would show, with the story's link preview."""
    [message] = render_html(Reply(blocks=(entry,), link_previews=True))
    return InlineQueryResultArticle(
        id=result_id,
        title=shorten(entry.title, 120),
        description=shorten(" ".join(entry.summary.split()), 160) or entry.meta,
        url=entry.url,
        input_message_content=InputTextMessageContent(
            message.text, parse_mode=ParseMode.HTML, link_preview_options=_preview(message)
        ),
    )


async def _answer_query(answer: Awaitable[bool]) -> None:
    """Answering a button is a courtesy (it stops the spinner); a stale query is no error."""
    try:
        await answer
    except TelegramError as exc:
        log.debug("Telegram: answering a callback query failed: %s", describe(exc))


async def _shut_down(application: PtbApplication) -> None:
    try:
        updater = application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if application.running:
            await application.stop()
    finally:
        await application.shutdown()
