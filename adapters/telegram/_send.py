"""Sending a reply: HTML messages, its buttons, its link card, errors in the core's terms.

Buttons come from the reply: "More" and command actions are callback buttons whose
``callback_data`` carries the command line (``more:PAGE:LINE``, ``run:1:LINE``) or, past
Telegram's 64 bytes, a short key of the store (:class:`~bot.paging.Paging`); a ``private``
action is a URL button to ``https://t.me/<bot>?start=<payload>`` (:mod:`bot.deeplink`), which
opens the presser's own chat with the bot; a url action opens its page.

Every message says what its link card is (``link_preview_options``): a reply that chose a
page (:attr:`~bot.reply.Reply.preview`, a post's issue page) shows that page on its first
message, sized and placed as chosen, unless the chat turned cards off (``/weekly on
nopreview``, :mod:`bot.chat_prefs`); every other message shows none, except the single story
of a reply that asked for previews.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ExtBot

from adapters.telegram._errors import Turn, delivery_error
from adapters.telegram._render import RenderedMessage, render_html
from bot.chat_prefs import KeyValue, Previews, chat_previews
from bot.deeplink import payload_for
from bot.model import Target
from bot.pacing import Lane
from bot.paging import Paging, PayloadFormat, inline_payload
from bot.reply import Action, Continuation, LinkPreview, Reply

__all__ = ["ACTION", "MORE", "chat_ref", "deep_link", "deliver", "keyboard", "more_callback_data"]

log = logging.getLogger("adapters.telegram")

#: sendMessage by a name PTB has no method for (Bot API method names are case-insensitive), so
#: ``do_api_request`` returns the raw result: parsing each sent Message into PTB's objects cost
#: ~0.7 ms of CPU per message on the bulk path, for the one field kept (its id).
SEND_MESSAGE: Final = "sendmessage"

#: "More" button payloads: ``more:PAGE:COMMAND`` within Telegram's 64 bytes, else ``more#KEY``.
MORE: Final = PayloadFormat(
    inline="more:", stored="more#", limit=64, size=lambda s: len(s.encode())
)
#: Command buttons (run as the presser): ``run:1:COMMAND`` or ``run#KEY``, like "More".
ACTION: Final = PayloadFormat(
    inline="run:", stored="run#", limit=64, size=lambda s: len(s.encode())
)


async def _previews(meta: KeyValue, target: Target) -> Previews:
    """The chat's link-card choice; the default when the store can't say right now (busy,
    restarting), so a post or a reply is never held up or lost over its card."""
    try:
        return await chat_previews(meta, target)
    except Exception as error:
        log.warning(
            "link-card choice of %s unknown (%s); the reply's own card stands", target, error
        )
        return Previews.ON


async def deliver(
    bot: ExtBot[Any],
    paging: Paging,
    target: Target,
    reply: Reply,
    *,
    quote: int | None = None,
    skip: int = 0,
    lane: Lane = Lane.BULK,
    meta: KeyValue | None = None,
    paid_broadcast: bool = False,
) -> list[str]:
    """Send ``reply`` to ``target`` as HTML messages (its "More" button on the last one);
    the message ids. Raises :mod:`bot.delivery` errors carrying the ids already sent.

    ``quote``: the message the first one answers; ``skip``: messages an earlier attempt sent;
    ``lane``: its place in the fair pacer (:class:`~bot.pacing.FairPacer`), its chat the key;
    ``meta``: where the chat's link-card choice is kept (none: the reply's choice stands).
    ``paid_broadcast``: send with ``allow_paid_broadcast`` (beyond 30 a second, for Stars).
    """
    turn: Turn = (lane, target.chat_id)
    rendered = render_html(reply)
    card = reply.preview
    if card is not None and meta is not None and await _previews(meta, target) is Previews.OFF:
        card = None
    options = [
        _card(card) if index == 0 and card is not None else preview(message)
        for index, message in enumerate(rendered)
    ][skip:]
    messages = rendered[skip:]
    markup = await keyboard(bot.username, paging, reply, str(target)) if messages else None
    sent: list[str] = []
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        params: dict[str, Any] = {
            "chat_id": chat_ref(target.chat_id),
            "text": message.text,
            "parse_mode": ParseMode.HTML,
            "message_thread_id": int(target.thread_id) if target.thread_id else None,
            "link_preview_options": options[index],
            "reply_parameters": (
                ReplyParameters(quote, allow_sending_without_reply=True)
                if quote is not None and index == 0
                else None
            ),
            "reply_markup": markup if last else None,
            "allow_paid_broadcast": True if paid_broadcast else None,
        }
        try:
            result = await bot.do_api_request(
                SEND_MESSAGE,
                api_kwargs={key: value for key, value in params.items() if value is not None},
                rate_limit_args=turn,
            )
        except TelegramError as exc:
            error = delivery_error(exc)
            error.sent = tuple(sent)
            raise error from None
        sent.append(str(result["message_id"]))
    return sent


async def keyboard(
    bot_username: str | None, paging: Paging, reply: Reply, owner: str
) -> InlineKeyboardMarkup | None:
    """The buttons under ``reply``'s last message, one a row ("More" first), or ``None``.

    A button whose payload could not be saved, or a private action no start link can carry
    (or before the bot's username is known), is left out with a log line: the message still
    goes out, and a button that would act in the wrong chat is worse than none.
    """
    rows: list[list[InlineKeyboardButton]] = []
    if reply.more is not None:
        data = await paging.encode(reply.more, MORE, owner=owner)
        if data is not None:  # not saved (logged): the page goes out without its button
            rows.append([InlineKeyboardButton(reply.more.label, callback_data=data)])
    for action in reply.actions:
        button = await _button(bot_username, paging, action, owner)
        if button is not None:
            rows.append([button])
    return InlineKeyboardMarkup(rows) if rows else None


async def _button(
    bot_username: str | None, paging: Paging, action: Action, owner: str
) -> InlineKeyboardButton | None:
    if action.url is not None:
        return InlineKeyboardButton(action.label, url=action.url)
    assert action.command is not None  # an Action has exactly one of them
    if action.private:
        link = deep_link(bot_username, action.command)
        if link is None:
            log.warning(
                "Telegram: no start link can carry %r (bot @%s); button %r left out",
                action.command[:80],
                bot_username,
                action.label,
            )
            return None
        return InlineKeyboardButton(action.label, url=link)
    data = await paging.encode(Continuation(action.command, 1), ACTION, owner=owner)
    return None if data is None else InlineKeyboardButton(action.label, callback_data=data)


def deep_link(bot_username: str | None, command: str) -> str | None:
    """``https://t.me/<bot>?start=<payload>`` for ``command``, if a start payload can carry it."""
    payload = payload_for(command)
    if not bot_username or payload is None:
        return None
    return f"https://t.me/{bot_username}?start={payload}"


def _card(card: LinkPreview) -> LinkPreviewOptions:
    """The chosen page's card; the size is stated either way, so Telegram never guesses."""
    return LinkPreviewOptions(
        url=card.url,
        prefer_large_media=card.large,
        prefer_small_media=not card.large,
        show_above_text=card.above,
    )


def more_callback_data(more: Continuation, key: str | None = None) -> str | None:
    """The button payload for ``more``: the command line itself if it fits in Telegram's
    64 bytes, else (``None`` here) a short store key the caller saves it under."""
    return MORE.stored + key if key is not None else inline_payload(more, MORE)


def chat_ref(chat_id: str) -> int | str:
    """Telegram chat ids are integers; ``@channelname`` also works for public channels."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def preview(message: RenderedMessage) -> LinkPreviewOptions:
    return LinkPreviewOptions(is_disabled=not message.link_preview)
