"""A per-user command budget: a burst, then a steady rate; one polite notice, then silence.

One reader sending hundreds of commands must not use up the platform's message budget (or the
handlers' time) that everybody else shares. :class:`Throttle` keeps a token bucket per
``(platform, user)``: ``burst`` commands at once, refilled at ``rate`` a second. The first command
over the budget gets :data:`SLOW_DOWN`; the ones after it get nothing at all (a reply per dropped
command would spend the very budget being protected), until the reader has been quiet long enough
for the bucket to fill again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["SLOW_DOWN", "Throttle", "Verdict"]

#: What a reader over their budget is told, once.
SLOW_DOWN = "You're sending commands faster than I can answer; please wait a few seconds."

_MAX_BUCKETS = 10_000  # beyond this, buckets that are full again (idle readers) are forgotten


class Verdict(Enum):
    """What to do with one command."""

    RUN = "run"
    NOTIFY = "notify"  # over budget: say so, once
    DROP = "drop"  # over budget and already told: stay silent


@dataclass
class _Bucket:
    tokens: float
    stamp: float
    told: bool = False


@dataclass
class Throttle:
    """Token buckets per ``(platform, user)``; ``rate <= 0`` turns throttling off."""

    burst: int = 10
    rate: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict, init=False)

    def admit(self, platform: str, user_id: str) -> Verdict:
        """Take one command from the reader's budget."""
        if self.rate <= 0:
            return Verdict.RUN
        now = self.clock()
        key = (platform, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= self.burst:
                bucket.told = False  # quiet long enough: a later flood is told again
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.RUN
        if bucket.told:
            return Verdict.DROP
        bucket.told = True
        return Verdict.NOTIFY

    def _forget_idle(self, now: float) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
