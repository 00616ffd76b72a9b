"""Keeping the cyclic garbage collector off the long-lived heap of a running bot.

A running bot holds a large graph of objects that live as long as it does: the archive (every
issue, section and item of 400+ issues), the search index, the imported libraries. CPython's
cyclic collector walks all of them at every full (generation 2) collection — about 65 ms each,
every few seconds while a fan-out allocates — and the event loop stands still meanwhile: no
turn is handed out, tokens of the send budget go unused, and a one-process fan-out paced near
the platform's cap lost about 2 % of it to those pauses (bench/fanout.py).

:func:`freeze` moves everything alive at that moment into the collector's permanent generation
(:func:`gc.freeze`), so later collections walk only what was allocated since. It runs once the
bot is serving, and again after the archive is reloaded (:func:`refreeze`: the old archive is
unfrozen first, so its cycles are collected rather than kept forever; that one full collection
stalls the loop once per reload). Reference counting still frees frozen objects that are not
part of a cycle.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["after_reload", "freeze", "refreeze"]

log = logging.getLogger("bot.heap")


def freeze() -> int:
    """Collect what is garbage now, then exempt everything left from later collections;
    returns how many objects were frozen."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug(
        "froze %d long-lived objects in %.0f ms", frozen, (time.perf_counter() - started) * 1000
    )
    return frozen


def refreeze() -> int:
    """:func:`freeze` again after the long-lived heap changed (a reloaded archive): what was
    frozen before goes back to the collector first, so the parts now unreachable are freed."""
    gc.unfreeze()
    return freeze()


def after_reload(_archive: object, _outcome: object) -> None:
    """An :class:`~bot.archive.ArchiveHolder` listener: :func:`refreeze` once a reloaded archive
    is served — soon after, not from inside the reload, which still holds the old archive."""
    asyncio.get_running_loop().call_soon(refreeze)
