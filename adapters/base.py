"""The contract between the core and a platform, for adapter authors.

:class:`Adapter` and :class:`AdapterServices` are defined by the core (:mod:`bot.platform`),
which types on them without ever importing an adapter: an adapter package implements
``Adapter``, is given ``AdapterServices`` (never the App), and the entry point (:mod:`bot.cli`)
hands it to the app.
"""

from __future__ import annotations

from bot.platform import Adapter, AdapterServices

__all__ = ["Adapter", "AdapterServices"]
