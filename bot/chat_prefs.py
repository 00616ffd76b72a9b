"""Per-chat choices kept in the store's key-value meta, without a schema of their own.

A registered chat may turn the link card of its weekly post off (``/weekly on nopreview``).
The choice lives under a namespaced key (``chat-preview:<target>``) of
:class:`~bot.store.protocols.KeyValue`, so no table changes while backends move. The value
belongs to the registration: :func:`forget_previews` resets it when a chat unregisters, and a
fresh registration starts from the default, so a stale choice never outlives its chat, and
:func:`move_chat_prefs` carries it to a chat's new id (a Telegram group become a supergroup).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Protocol

from bot.model import Target

__all__ = [
    "PREVIEW_KEY",
    "KeyValue",
    "Previews",
    "chat_previews",
    "forget_previews",
    "move_chat_prefs",
    "set_chat_previews",
]


class KeyValue(Protocol):
    """The part of the store this module needs (:class:`bot.store.protocols.KeyValue`), named
    here so adapters can take it without reaching into the store."""

    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str) -> None: ...


PREVIEW_KEY: Final = "chat-preview:"


class Previews(StrEnum):
    """Whether a chat's posts show the link card their reply chose (``preview``)."""

    ON = "preview"
    OFF = "nopreview"


DEFAULT: Final = Previews.ON


def _key(target: Target) -> str:
    return f"{PREVIEW_KEY}{target}"


async def chat_previews(meta: KeyValue, target: Target) -> Previews:
    """The chat's choice; the default for a chat that made none (or an unknown value)."""
    stored = await meta.get_meta(_key(target))
    try:
        return Previews(stored) if stored else DEFAULT
    except ValueError:
        return DEFAULT


async def set_chat_previews(meta: KeyValue, target: Target, choice: Previews) -> None:
    await meta.set_meta(_key(target), choice.value)


async def forget_previews(meta: KeyValue, target: Target) -> None:
    """Back to the default (the store has no delete; an empty value reads as no choice)."""
    await meta.set_meta(_key(target), "")


async def move_chat_prefs(
    meta: KeyValue, platform: str, old_chat_id: str, new_chat_id: str
) -> None:
    """A chat got a new id (its registrations moved with it): its choices follow. A group that
    becomes a supergroup has no topics yet, so only the chat's own choice is there to move."""
    old, new = Target(platform, old_chat_id), Target(platform, new_chat_id)
    stored = await meta.get_meta(_key(old))
    if stored:
        await meta.set_meta(_key(new), stored)
        await meta.set_meta(_key(old), "")
