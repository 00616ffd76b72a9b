"""Protocol violations: what a real service would silently accept but the bot cannot have meant.

Telegram and Discord both ignore parameters and fields they do not know, so a misspelling
passes in production and does nothing. Both fakes record such requests instead, and fail the
test that made them when the fake stops: one mechanism for both platforms.
"""

from __future__ import annotations


class ProtocolViolations:
    """Mixin of both fakes: ``protocol_violations``, ``take_violations()`` and the exit check."""

    protocol_violations: list[str]

    def take_violations(self) -> list[str]:
        """The violations recorded so far, forgetting them (for tests that expect some)."""
        found, self.protocol_violations = self.protocol_violations, []
        return found

    def _fail_on_violations(self, exc_type: type[BaseException] | None, service: str) -> None:
        """Raise if any were recorded, unless the test is already failing for another reason."""
        if exc_type is None and self.protocol_violations:
            raise AssertionError(
                f"the bot sent what {service} does not know (it would ignore it silently):\n  "
                + "\n  ".join(self.protocol_violations)
            )
