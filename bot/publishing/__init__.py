"""Weekly publishing: plan an issue's deliveries into the outbox, then drain it per platform.

:mod:`.planner` decides *what* to send (one transaction per publication, digests matched to
subscriptions); :mod:`.dispatcher` decides *how* (claims, pacing, the one retry policy);
:mod:`.status` says where it stands. Replies are worded in :mod:`bot.views`.
"""

from bot.publishing.dispatcher import Dispatcher, Sender
from bot.publishing.planner import (
    Plan,
    Preview,
    Publisher,
    PublishResult,
    describe_counts,
    report_payload,
)
from bot.publishing.status import publishing_status

__all__ = [
    "Dispatcher",
    "Plan",
    "Preview",
    "PublishResult",
    "Publisher",
    "Sender",
    "describe_counts",
    "publishing_status",
    "report_payload",
]
