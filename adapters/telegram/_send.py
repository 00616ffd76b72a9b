"""Sending a reply: HTML messages, the "More" button, errors in the core's terms."""

from __future__ import annotations

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
from bot.model import Target
from bot.pacing import Lane
from bot.paging import Paging, PayloadFormat, inline_payload
from bot.reply import Continuation, Reply

__all__ = ["MORE", "chat_ref", "deliver", "more_callback_data"]

#: sendMessage by a name PTB has no method for (Bot API method names are case-insensitive), so
#: ``do_api_request`` returns the raw result: parsing each sent Message into PTB's objects cost
#: ~0.7 ms of CPU per message on the bulk path, for the one field kept (its id).
SEND_MESSAGE: Final = "sendmessage"

#: "More" button payloads: ``more:PAGE:COMMAND`` within Telegram's 64 bytes, else ``more#KEY``.
MORE: Final = PayloadFormat(
    inline="more:", stored="more#", limit=64, size=lambda s: len(s.encode())
)


async def deliver(
    bot: ExtBot[Any],
    paging: Paging,
    target: Target,
    reply: Reply,
    *,
    quote: int | None = None,
    skip: int = 0,
    lane: Lane = Lane.BULK,
    paid_broadcast: bool = False,
) -> list[str]:
    """Send ``reply`` to ``target`` as HTML messages (its "More" button on the last one);
    the message ids. Raises :mod:`bot.delivery` errors carrying the ids already sent.

    ``quote``: the message the first one answers; ``skip``: messages an earlier attempt sent;
    ``lane``: its place in the fair pacer (:class:`~bot.pacing.FairPacer`), its chat the key;
    ``paid_broadcast``: send with ``allow_paid_broadcast`` (beyond 30 a second, for Stars).
    """
    turn: Turn = (lane, target.chat_id)
    messages = render_html(reply)[skip:]
    markup = (
        await _more_markup(paging, reply.more, str(target)) if reply.more and messages else None
    )
    sent: list[str] = []
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        params: dict[str, Any] = {
            "chat_id": chat_ref(target.chat_id),
            "text": message.text,
            "parse_mode": ParseMode.HTML,
            "message_thread_id": int(target.thread_id) if target.thread_id else None,
            "link_preview_options": preview(message),
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


async def _more_markup(
    paging: Paging, more: Continuation, owner: str
) -> InlineKeyboardMarkup | None:
    data = await paging.encode(more, MORE, owner=owner)
    if data is None:  # not saved (logged): the page goes out without its button
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(more.label, callback_data=data)]])


def more_callback_data(more: Continuation, key: str | None = None) -> str | None:
    """The button payload for ``more``: the command line itself if it fits in Telegram's
    64 bytes, else (``None`` here) a short store key the caller saves it under."""
    return MORE.stored + key if key is not None else inline_payload(more, MORE)


def chat_ref(chat_id: str) -> int | str:
    """Telegram chat ids are integers; ``@channelname`` also works for public channels."""
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def preview(message: RenderedMessage) -> LinkPreviewOptions:
    return LinkPreviewOptions(is_disabled=not message.link_preview)
