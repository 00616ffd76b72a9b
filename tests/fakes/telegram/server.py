"""The fake Bot API server, assembled from its layers (see the package docstring)."""

from __future__ import annotations

from tests.fakes.telegram.methods import _Methods


class FakeTelegram(_Methods):
    """The fake Bot API server plus the simulated Telegram world around the bot.

    Everything runs on the test's event loop; the test-facing mutators (``send_text`` ...) are
    synchronous because they only change in-memory state and wake waiters.
    """
