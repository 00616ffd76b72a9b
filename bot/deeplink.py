"""Start links: a command a button wants run in the reader's private chat, as a short payload.

A channel post can't run ``/subscribe pytorch`` for whoever taps it: the tap has to open a
private conversation with the bot first. Telegram does that with a deep link,
``https://t.me/<bot>?start=<payload>``, and delivers ``/start <payload>`` when the reader
presses Start. The payload is all that travels, and Telegram allows only 1-64 characters of
``A-Z a-z 0-9 _ -``, so this module maps the few commands a button may start privately to such
payloads and back, and refuses everything else with a sentence a reader can act on.

=============================  ===========================  ===========================
command                        payload                      what ``/start <payload>`` does
=============================  ===========================  ===========================
``/subscribe pytorch``         ``follow-pytorch``           asks to confirm, then follows
``/topics``                    ``follow``                   lists the topics to follow
``/subscriptions``             ``manage``                   lists what the reader follows
=============================  ===========================  ===========================
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bot.errors import DlwError

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "PAYLOAD",
    "Follow",
    "Manage",
    "PayloadError",
    "StartPayload",
    "command_for",
    "parse_payload",
    "payload_for",
]

MAX_PAYLOAD_CHARS: Final = 64
#: What Telegram accepts as a ``start`` parameter.
PAYLOAD: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_PAYLOAD_CHARS}}}")
_TOPIC: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a topic id, as content files spell it
_FOLLOW: Final = "follow"
_MANAGE: Final = "manage"


class PayloadError(DlwError):
    """A start payload that is malformed, too long or names nothing we know; the message is
    for the reader."""


@dataclass(frozen=True)
class Follow:
    """Follow ``topic`` (after the reader confirms), or pick from the topics when ``None``."""

    topic: str | None = None


@dataclass(frozen=True)
class Manage:
    """Show what the reader follows, with the way to stop each."""


StartPayload = Follow | Manage


def payload_for(command: str) -> str | None:
    """The start payload that stands for ``command``, or ``None`` if none can (then a button
    must not promise it through a deep link)."""
    words = command.split()
    if not words:
        return None
    name, args = words[0].casefold(), words[1:]
    if name == "/topics" and not args:
        return _FOLLOW
    if name == "/subscriptions" and not args:
        return _MANAGE
    if name == "/subscribe" and len(args) == 1 and _TOPIC.fullmatch(args[0]):
        payload = f"{_FOLLOW}-{args[0]}"
        return payload if PAYLOAD.fullmatch(payload) else None
    return None


def parse_payload(payload: str) -> StartPayload:
    """What ``/start <payload>`` asks for; raises :class:`PayloadError` saying what is wrong.

    Only the shape is checked here; whether a topic exists is the archive's to say.
    """
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise PayloadError(
            f"That start link is {len(payload):,} characters long; "
            f"links from the bot's buttons are at most {MAX_PAYLOAD_CHARS}."
        )
    if not PAYLOAD.fullmatch(payload):
        raise PayloadError(
            "That start link is damaged: it may only contain letters, digits, “_” and “-”."
        )
    if payload == _FOLLOW:
        return Follow()
    if payload == _MANAGE:
        return Manage()
    head, _, topic = payload.partition("-")
    if head == _FOLLOW and _TOPIC.fullmatch(topic):
        return Follow(topic)
    raise PayloadError("That start link isn't one of the bot's: it names nothing I can do.")


def command_for(start: StartPayload) -> str:
    """The command a parsed payload stands for (the inverse of :func:`payload_for`)."""
    if isinstance(start, Manage):
        return "/subscriptions"
    return f"/subscribe {start.topic}" if start.topic else "/topics"
