"""What every backend computes the same way, so SQLite and PostgreSQL cannot drift apart: how a
settlement becomes a row update, how roles are kept, how a token bucket refills."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.model import Delivery, DeliveryStatus, Settlement

__all__ = [
    "UPDATES_KEPT",
    "RowSettles",
    "SettleRow",
    "check_bucket",
    "chunks",
    "join_roles",
    "refill",
    "settlement_rows",
    "split_roles",
    "take",
]

#: How long a webhook update id is remembered (Telegram gives up retrying well before).
UPDATES_KEPT = dt.timedelta(days=1)

#: Errors are kept to this many characters in the outbox.
ERROR_CHARS = 1000

_STATUS = {
    "sent": DeliveryStatus.SENT,
    "failed": DeliveryStatus.FAILED,
    "retry": DeliveryStatus.PENDING,
    "gone": DeliveryStatus.GONE,
}

T = TypeVar("T")


@dataclass(frozen=True)
class SettleRow:
    """The values one settlement writes into its outbox row (``None``: keep the column)."""

    id: int
    claimed_by: str
    claim_token: str | None
    status: str
    error: str | None
    message_ids: str | None  # JSON list
    attempts: int | None
    not_before: dt.datetime | None


def settlement_rows(settlements: Sequence[Settlement]) -> tuple[list[SettleRow], set[int]]:
    """The row updates for ``settlements`` and the positions that make them: a delivery given
    twice is settled by its first occurrence only (row by row, the second would find the row no
    longer claimed)."""
    rows: list[SettleRow] = []
    first: set[int] = set()
    seen: set[int] = set()
    for i, s in enumerate(settlements):
        d = s.delivery
        if d.id in seen:
            continue
        seen.add(d.id)
        first.add(i)
        ids: str | None = None
        if s.outcome == "sent" or (s.outcome == "retry" and s.message_ids):
            ids = json.dumps(list(s.message_ids))
        counted = s.outcome != "retry" or s.count_attempt
        rows.append(
            SettleRow(
                id=d.id,
                claimed_by=d.claimed_by,
                claim_token=d.claim_token,
                status=_STATUS[s.outcome].value,
                error=s.error[:ERROR_CHARS] if s.error and s.outcome != "sent" else None,
                message_ids=ids,
                attempts=d.attempts + 1 if counted else None,
                not_before=s.not_before if s.outcome == "retry" else None,
            )
        )
    return rows, first


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def join_roles(roles: Sequence[str]) -> str:
    """Roles as one column: comma-separated, each a plain name."""
    for role in roles:
        if not role or "," in role or role != role.strip():
            raise ValueError(f"a role is a plain name, not {role!r}")
    return ",".join(dict.fromkeys(roles))


def split_roles(column: str | None) -> tuple[str, ...]:
    return tuple(r for r in (column or "").split(",") if r)


def check_bucket(wanted: int, rate: float, burst: float, book: float = 0.0) -> None:
    """Refuse a bucket that could never grant anything (or grants backwards)."""
    if wanted < 0:
        raise ValueError(f"wanted must be 0 or more, not {wanted}")
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"a token bucket needs a positive rate, not {rate}")
    if not (burst >= 1 and math.isfinite(burst)):
        raise ValueError(f"a token bucket needs a burst of at least 1 token, not {burst}")
    if not (book >= 0 and math.isfinite(book)):
        raise ValueError(f"tokens booked ahead must be 0 or more, not {book}")


def refill(tokens: float, elapsed: float, rate: float, burst: float) -> float:
    """What the bucket holds ``elapsed`` seconds after it held ``tokens`` (a clock stepping
    back refills nothing; a smaller burst than before caps what is kept)."""
    return min(burst, tokens + max(0.0, elapsed) * rate)


#: Float refills land a hair below a whole token (0.9999999...); that is a whole token.
_EPSILON = 1e-9


def take(available: float, wanted: int, rate: float, book: float = 0.0) -> tuple[int, float, float]:
    """(granted, tokens left — below 0 by what was booked ahead —, seconds until the next whole
    token — 0.0 if one remains)."""
    granted = min(wanted, max(0, math.floor(available + book + _EPSILON)))
    left = available - granted
    return granted, left, next_token(left, rate)


def next_token(left: float, rate: float) -> float:
    """Seconds until a bucket holding ``left`` tokens (maybe fewer than none) holds one."""
    return 0.0 if left + _EPSILON >= 1 else (1 - left) / rate


class RowSettles:
    """The outbox's one-row outcomes, each a batch of one through the backend's ``settle_many``
    (same token checks and side effects), so every backend has them without a copy."""

    async def settle_many(self, settlements: Sequence[Settlement]) -> list[bool]:
        raise NotImplementedError  # each backend's one transaction

    async def _settle_one(self, settlement: Settlement) -> bool:
        (settled,) = await self.settle_many([settlement])
        return settled

    async def mark_sent(self, delivery: Delivery, message_ids: Sequence[str]) -> bool:
        """Record a delivered row. ``False`` if it was no longer ours (its claim expired)."""
        return await self._settle_one(Settlement(delivery, "sent", message_ids=tuple(message_ids)))

    async def mark_failed(self, delivery: Delivery, error: str) -> bool:
        """Record a row that will never be sent, and why."""
        return await self._settle_one(Settlement(delivery, "failed", error=error))

    async def retry_delivery(
        self,
        delivery: Delivery,
        not_before: dt.datetime,
        error: str,
        *,
        count_attempt: bool,
        sent: Sequence[str] = (),
    ) -> bool:
        """Back to pending until ``not_before``; a rate limit does not ``count_attempt``. ``sent``:
        the messages delivered so far, which the next attempt skips."""
        return await self._settle_one(
            Settlement(
                delivery,
                "retry",
                message_ids=tuple(sent),
                error=error,
                not_before=not_before,
                count_attempt=count_attempt,
            )
        )

    async def mark_gone(self, delivery: Delivery, reason: str, *, thread_only: bool) -> bool:
        """The destination is gone: settle the row and deactivate it, in one transaction."""
        return await self._settle_one(
            Settlement(delivery, "gone", error=reason, thread_only=thread_only)
        )
