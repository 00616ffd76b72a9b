"""The "More" button of a long reply, in one place for every adapter.

A :class:`~bot.reply.Continuation` (the command line and the next page) has to travel in a
button's payload, which platforms keep small (Telegram: 64 bytes of ``callback_data``, Discord:
100 characters of ``custom_id``). :class:`Paging` encodes it there when it fits, else saves it in
the store under a short key; it decodes either form back, and words the reply to a button whose
saved line is gone. Each adapter only says how its payloads look (:class:`PayloadFormat`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.reply import Continuation, Reply
from bot.store.protocols import Continuations

__all__ = ["EXPIRED", "Paging", "PayloadFormat", "expired_reply", "inline_payload"]

log = logging.getLogger(__name__)

#: What a reader is told when a button's command line is no longer known.
EXPIRED = "That button has expired; run the command again."


def expired_reply() -> Reply:
    """The reply to a "More" button that can't be continued."""
    return Reply.error(EXPIRED)


@dataclass(frozen=True)
class PayloadFormat:
    """How one platform's button payloads look: ``{inline}PAGE:COMMAND`` when that fits in
    ``limit`` (measured by ``size``), else ``{stored}KEY``."""

    inline: str
    stored: str
    limit: int
    size: Callable[[str], int] = len

    def fits(self, payload: str) -> bool:
        return self.size(payload) <= self.limit


def inline_payload(more: Continuation, form: PayloadFormat) -> str | None:
    """The payload carrying the command line itself, if it fits (no store involved)."""
    payload = f"{form.inline}{more.page}:{more.command}"
    plain = more.command.startswith("/") and "\n" not in more.command
    return payload if plain and form.fits(payload) else None


@dataclass(frozen=True)
class Paging:
    """Continuations in button payloads, backed by the store for the long ones."""

    store: Continuations
    #: Saved continuations kept per destination: a reader paging through hundreds of searches
    #: leaves this many rows, and their older buttons answer :data:`EXPIRED`.
    keep: int | None = 20

    async def encode(
        self, more: Continuation, form: PayloadFormat, *, owner: str = ""
    ) -> str | None:
        """The payload for ``more``: inline if it fits, else a key saved in the store, among
        the newest :attr:`keep` of ``owner`` (the destination, e.g. ``str(target)``).

        ``None`` when the store could not save it: the reply goes out without its button (the
        reader still gets this page; the failure is logged), rather than not at all."""
        payload = inline_payload(more, form)
        if payload is None:
            try:
                key = await self.store.save_continuation(
                    more.command, more.page, owner=owner, keep=self.keep if owner else None
                )
            except Exception:
                log.warning(
                    "could not save the continuation of %r; sending the reply without its "
                    "More button",
                    more.command[:80],
                    exc_info=True,
                )
                return None
            payload = form.stored + key
        return payload

    async def decode(self, payload: str, form: PayloadFormat) -> tuple[str, int] | None:
        """The command line and page a payload stands for (``None``: unknown or expired)."""
        if payload.startswith(form.stored):
            return await self.store.load_continuation(payload[len(form.stored) :])
        if not payload.startswith(form.inline):
            return None
        page, _, command = payload[len(form.inline) :].partition(":")
        return (command, int(page)) if page.isascii() and page.isdigit() and command else None
