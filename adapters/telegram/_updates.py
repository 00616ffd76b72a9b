"""Updates → the core: who asked where, which command, and the answer sent back.

Handlers, the command menu and the "more" buttons are derived from the registry. A reply that
fails because the reader blocked the bot, the bot was removed or a group became a supergroup is
reported through :meth:`~bot.platform.AdapterServices.note_unreachable`, as the dispatcher does
for the weekly post.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Final, TypeAlias

from telegram import (
    Bot,
    Chat,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
    User,
)
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ExtBot,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from adapters.telegram._errors import describe
from adapters.telegram._render import render_html
from adapters.telegram._send import ACTION, MORE, deliver, preview
from bot.commands import ChatKind, Context
from bot.delivery import ChatMoved, DeliveryError, TargetGone
from bot.model import Target
from bot.pacing import Lane
from bot.paging import EXPIRED, PayloadFormat, expired_reply
from bot.platform import AdapterServices
from bot.reply import Entry, Reply, shorten

__all__ = ["MAX_CALLBACK_ANSWER_CHARS", "PLATFORM", "Updates"]

log = logging.getLogger("adapters.telegram")

PLATFORM: Final = "telegram"
MAX_CALLBACK_ANSWER_CHARS: Final = 200

PtbApplication: TypeAlias = Application[Any, Any, Any, Any, Any, Any]
PtbContext: TypeAlias = CallbackContext[Any, Any, Any, Any]


class Updates:
    """The handlers of one running bot, all of them derived from the registry."""

    def __init__(self, services: AdapterServices, bot_username: str | None) -> None:
        self._services = services
        self._bot_username = bot_username

    def add_to(self, application: PtbApplication) -> None:
        """Routes derived from the registry, plus the few updates that are not commands.

        The registry's names become one :class:`~telegram.ext.CommandHandler` (which also drops
        ``/latest@another_bot``); behind it a catch-all for text lets the core answer what it
        wants to: a plain message in a private chat is a search, an unknown command addressed
        to us gets a hint.
        """
        updates = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        application.add_handler(TypeHandler(Update, self._once), group=-1)
        application.add_handler(
            MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migration), group=0
        )
        application.add_handler(
            CommandHandler(list(self._services.registry.commands), self._on_text, filters=updates)
        )
        application.add_handler(MessageHandler(filters.TEXT & updates, self._on_text))
        application.add_handler(CallbackQueryHandler(self._on_more, pattern=r"^more[:#]"))
        application.add_handler(CallbackQueryHandler(self._on_action, pattern=r"^run[:#]"))
        application.add_handler(CallbackQueryHandler(self._on_stale_button))
        application.add_handler(InlineQueryHandler(self._on_inline_query))
        application.add_handler(
            ChatMemberHandler(self._on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER)
        )
        application.add_error_handler(self._on_error)

    async def _answer(
        self, bot: ExtBot[Any], ctx: Context, reply: Reply, *, quote: int | None = None
    ) -> None:
        """Send a command's reply where it was asked; a failure is logged and, when it says the
        chat is gone or moved, recorded in the store (and a moved chat still gets its answer)."""
        target = Target(
            PLATFORM, ctx.chat_id, ctx.thread_id, direct=ctx.chat_kind is ChatKind.PRIVATE
        )
        try:
            await deliver(
                bot,
                self._services.paging,
                target,
                reply,
                quote=quote,
                lane=Lane.INTERACTIVE,
                meta=self._services.meta,
            )
        except ChatMoved as moved:
            await self._services.note_unreachable(target, moved)
            log.info("Telegram: %s became %s; registrations moved", target, moved.new_chat_id)
            try:
                moved_to = replace(target, chat_id=moved.new_chat_id)
                await deliver(
                    bot,
                    self._services.paging,
                    moved_to,
                    reply,
                    lane=Lane.INTERACTIVE,
                    meta=self._services.meta,
                )
            except DeliveryError as error:
                log.warning("Telegram: reply to %s failed: %s", moved.new_chat_id, error)
        except DeliveryError as error:
            log.warning("Telegram: reply to %s failed: %s", target, error)
            if await self._services.note_unreachable(target, error):
                log.info("Telegram: %s marked unreachable", target)

    def _context(
        self,
        bot: Bot,
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
            admin=_admin_check(bot, chat.id, sender.id),
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
        return self._services.context(
            PLATFORM,
            user_id,
            chat_id,
            kind,
            thread_id=thread_id,
            chat_title=title,
            bot_username=self._bot_username,
            chat_admin=admin,
        )

    async def _on_text(self, update: Update, context: PtbContext) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        ctx = self._context(
            context.bot,
            message.chat,
            thread_id=_topic(message),
            sender=message.from_user,
            sender_chat=message.sender_chat,
        )
        reply = await self._services.registry.dispatch_text(ctx, message.text)
        if reply is not None:
            quote = message.message_id if ctx.chat_kind is ChatKind.GROUP else None
            await self._answer(context.bot, ctx, reply, quote=quote)

    async def _on_more(self, update: Update, context: PtbContext) -> None:
        """A "more" button: answer the button, send the next page below in the same chat/topic."""
        await self._on_button(update, context, MORE)

    async def _on_action(self, update: Update, context: PtbContext) -> None:
        """A command button ("Stop PyTorch", "Follow PyTorch"): the command runs as whoever
        pressed it, on their own subscriptions, and its answer goes below."""
        await self._on_button(update, context, ACTION)

    async def _on_button(self, update: Update, context: PtbContext, form: PayloadFormat) -> None:
        """Answer the button, run its command line as the presser, send the reply below.

        The presser is the asker, never the chat the message was first sent to (a digest
        forwarded to someone else acts on theirs; a channel's subscribers can press buttons,
        so there the admin check asks Telegram rather than assuming the poster's rights).
        """
        query = update.callback_query
        if query is None:
            return
        if query.message is None:  # too old or out of the bot's reach: nowhere to answer
            await _answer_query(query.answer(shorten(EXPIRED, MAX_CALLBACK_ANSWER_CHARS)))
            return
        origin = query.message
        ctx = self._context(
            context.bot,
            origin.chat,
            thread_id=_topic(origin) if isinstance(origin, Message) else "",
            sender=query.from_user,
        )
        ctx = replace(ctx, user_id=str(query.from_user.id))
        found = await self._services.paging.decode(query.data or "", form)
        if found is None:
            text = shorten(expired_reply().plain_text(), MAX_CALLBACK_ANSWER_CHARS)
            await _answer_query(query.answer(text))
            return
        await _answer_query(query.answer())
        reply = await self._services.registry.continue_(ctx, found[0], found[1])
        if reply is not None:
            await self._answer(context.bot, ctx, reply)

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
        page = int(offset) if offset.isascii() and offset.isdigit() and len(offset) <= 6 else 1
        asker = str(query.from_user.id)
        ctx = self._services.context(
            PLATFORM, asker, asker, bot_username=self._bot_username, page=page
        )
        found = await self._services.registry.inline(ctx, query.query)
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
        if chat.type == ChatType.PRIVATE:
            if status == ChatMemberStatus.BANNED:
                target = Target.user(PLATFORM, str(chat.id))
                gone = TargetGone("the reader blocked the bot")
                await self._services.note_unreachable(target, gone)
            elif status == ChatMemberStatus.MEMBER:
                await self._services.note_reachable(PLATFORM, str(chat.id))
            else:
                return
        elif status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
            gone = TargetGone(f"the bot was removed from the {chat.type}")
            await self._services.note_unreachable(Target(PLATFORM, str(chat.id)), gone)
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
        await self._services.note_unreachable(Target(PLATFORM, str(old)), ChatMoved(str(new)))
        log.info("Telegram: group %s became supergroup %s; registrations moved", old, new)

    async def _once(self, update: Update, context: PtbContext) -> None:
        """Before any handler: drop an update some process sharing the store already had (a
        webhook call Telegram retried, another instance behind the load balancer, a poller
        taking over). A store that can't say is not a reason to drop a reader's command."""
        try:
            first = await self._services.first_seen(PLATFORM, update.update_id)
        except Exception as exc:
            log.warning("Telegram: could not check update %d was new: %s", update.update_id, exc)
            return
        if not first:
            log.info("Telegram: update %d was handled already; dropped", update.update_id)
            raise ApplicationHandlerStop

    async def _on_error(self, update: object, context: PtbContext) -> None:
        log.error(
            "Telegram: handling an update failed: %s",
            describe(context.error) if context.error else "unknown error",
            exc_info=context.error,
        )

    def on_polling_error(self, exc: TelegramError) -> None:
        log.warning("Telegram: polling failed, retrying: %s", describe(exc))


def _admin_check(bot: Bot, chat_id: int, user_id: int) -> Callable[[], Awaitable[bool]]:
    """Asked only when a command needs it (getChatMember)."""

    async def is_admin() -> bool:
        member = await bot.get_chat_member(chat_id, user_id)
        return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)

    return is_admin


async def _always_admin() -> bool:
    return True


def _topic(message: Message) -> str:
    """The forum topic a message belongs to (``""`` outside forum topics: a reply thread in an
    ordinary group also carries a ``message_thread_id``, but replies there need none)."""
    if message.is_topic_message and message.message_thread_id is not None:
        return str(message.message_thread_id)
    return ""


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
            message.text, parse_mode=ParseMode.HTML, link_preview_options=preview(message)
        ),
    )


async def _answer_query(answer: Awaitable[bool]) -> None:
    """Answering a button is a courtesy (it stops the spinner); a stale query is no error."""
    try:
        await answer
    except TelegramError as exc:
        log.debug("Telegram: answering a callback query failed: %s", describe(exc))
