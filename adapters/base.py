"""The contract between the core and a platform, for adapter authors.

:class:`Adapter` is defined by the core (:mod:`bot.platform`), which types on it without ever
importing an adapter; an adapter package implements it and the entry point (:mod:`bot.cli`)
hands it to the app.
"""

from __future__ import annotations

from bot.platform import Adapter

__all__ = ["Adapter"]
