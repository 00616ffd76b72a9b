"""New issues arrive by themselves: the running bot polls the newsletter's feed.

With ``DLW_FEED_URL`` set, :class:`FeedPoller` fetches the feed every ``DLW_FEED_INTERVAL``
with a conditional GET (the ETag and Last-Modified of the last good fetch are kept in the
store's key-value table, so an unchanged feed costs one request and no body), within the
size and time bounds of :mod:`bot.ingest.sources`. Every issue newer than the newest the bot
has (served, on disk, or waiting as a draft) is written atomically into ``issues/`` (the
archive's watcher reloads it; the weekly slot publishes the newest) or, with
``DLW_FEED_REVIEW=on``, into ``drafts/`` until an operator approves it. Operators hear by
direct message what arrived, with the importer's guesses, and about a new issue in the feed that
could not be read. An issue is taken once: the newest number taken is kept in the store, so a
draft deleted to reject it does not come back.

Errors (HTTP status, network, timeout, oversized or unparseable feed) are logged and reported
once per streak, never raised: the next attempt comes after 1, 2, 4, … ``retry_base``
seconds, never later than the interval.

Several processes sharing one database: before each poll the poller takes the store lease
``feed-poller`` (held for twice the interval, renewed by each poll). Only the holder polls; if
it stops, another process takes over once the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bot.ingest.batch import read_safely
from bot.ingest.detect import MAX_DOCUMENT_BYTES
from bot.ingest.feed import FeedItemFailure
from bot.ingest.sources import FETCH_TIMEOUT, SourceError, fetch_url, http_client
from bot.ingest.types import Guess, IngestError, Parsed
from bot.ingest.write import (
    DRAFTS_DIR,
    ISSUES_DIR,
    ContentNotWritable,
    SaveOutcome,
    SaveStatus,
    check_writable,
    issue_file_name,
    save_issue,
)
from bot.reply import Reply, Tone, plural

if TYPE_CHECKING:
    from bot.archive import ArchiveHolder
    from bot.config import Settings
    from bot.store import Store

__all__ = [
    "LEASE",
    "TAKEN_KEY",
    "VALIDATORS_KEY",
    "Arrival",
    "FeedPoller",
    "PollOutcome",
    "PollStatus",
    "arrivals_reply",
    "feed_poller",
]

log = logging.getLogger(__name__)

VALIDATORS_KEY = "feed.validators"  # {"url", "etag", "last_modified"} of the last good fetch
TAKEN_KEY = "feed.taken"  # the newest issue number the poller has written
_ISSUE_NUMBER = re.compile(r"\bIssue\s*#?\s*(\d{1,5})\b", re.IGNORECASE)
LEASE = "feed-poller"
MAX_GUESSES_SHOWN = 8  # per issue, in the operators' message


class PollStatus(StrEnum):
    """How one feed poll ended, for the log and the tests."""

    NOT_MODIFIED = "not-modified"  # 304: nothing downloaded
    FETCHED = "fetched"  # read and parsed (``arrivals`` may be empty)
    FAILED = "failed"
    SKIPPED = "skipped"  # another process holds the lease


@dataclass(frozen=True)
class Arrival:
    """One new issue the poll wrote."""

    outcome: SaveOutcome
    guesses: tuple[Guess, ...]
    draft: bool

    @property
    def number(self) -> int:
        return self.outcome.issue.number


@dataclass(frozen=True)
class PollOutcome:
    """One feed poll: how it ended, the issues it wrote and what it could not read."""

    status: PollStatus
    arrivals: tuple[Arrival, ...] = ()
    error: str | None = None
    downloaded: int = 0  # body bytes
    failures: tuple[str, ...] = ()  # new issues in the feed that could not be read


Notify = Callable[[Reply], Awaitable[None]]


@dataclass
class FeedPoller:
    """Polls ``url`` and saves new issues into ``content_dir`` (see the module docstring).

    :meth:`run` is the loop :meth:`bot.app.App.poll_feed` starts; :meth:`poll_once` is one
    poll, for tests and the benchmark. ``failures`` counts consecutive failed polls (the
    backoff); ``last`` is the latest outcome.
    """

    url: str
    content_dir: Path
    archive: ArchiveHolder
    store: Store
    notify: Notify
    interval: float = 1800.0
    review: bool = False
    instance: str = "dlw-bot"
    explicit_content_dir: bool = True
    retry_base: float = 60.0
    limit: int = MAX_DOCUMENT_BYTES
    time_limit: float = FETCH_TIMEOUT
    max_redirects: int = 5
    failures: int = 0  # consecutive
    last: PollOutcome | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _reported: set[str] = field(default_factory=set)

    # -- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` (or cancellation); never raises for a poll that went wrong."""
        stop = stop or asyncio.Event()
        try:
            check_writable(self.content_dir, explicit=self.explicit_content_dir)
        except ContentNotWritable as exc:
            log.error("DLW_FEED_URL is set but new issues cannot be saved: %s", exc)
            await self._tell(
                Reply.text(
                    f"The feed {self.url} is not polled: {exc}",
                    title="Feed not polled",
                    tone=Tone.ERROR,
                )
            )
            return
        log.info(
            "polling %s every %s%s",
            self.url,
            _duration(self.interval),
            " (new issues wait for /approve)" if self.review else "",
        )
        async with http_client(timeout=self.time_limit, max_redirects=self.max_redirects) as client:
            while not stop.is_set():
                await self.poll_once(client)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.next_delay()):
                        waiter = asyncio.ensure_future(stop.wait())
                        woken = asyncio.ensure_future(self._wake.wait())
                        try:
                            await asyncio.wait({waiter, woken}, return_when=asyncio.FIRST_COMPLETED)
                        finally:
                            waiter.cancel()
                            woken.cancel()
                self._wake.clear()

    def wake(self) -> None:
        """Poll now rather than at the end of the current wait."""
        self._wake.set()

    def next_delay(self) -> float:
        """The interval; after ``n`` failures in a row, ``retry_base * 2**(n-1)``, at most that."""
        if self.failures == 0:
            return self.interval
        return min(self.interval, math.ldexp(self.retry_base, min(self.failures, 40) - 1))

    # -- one poll ------------------------------------------------------------------------

    async def poll_once(self, client: httpx.AsyncClient | None = None) -> PollOutcome:
        """Fetch, parse and save what is new; report to operators. Never raises (but for
        cancellation)."""
        try:
            if not await self.store.take_lease(LEASE, self.instance, 2 * self.interval + 60):
                outcome = PollOutcome(PollStatus.SKIPPED)
            elif client is None:
                async with http_client(
                    timeout=self.time_limit, max_redirects=self.max_redirects
                ) as own:
                    outcome = await self._poll(own)
            else:
                outcome = await self._poll(client)
        except Exception as exc:  # a bug or the store: logged and reported, the loop goes on
            log.exception("polling %s failed", self.url)
            outcome = PollOutcome(PollStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        await self._settle(outcome)
        return outcome

    async def _poll(self, client: httpx.AsyncClient) -> PollOutcome:
        validators = await self._validators()
        try:
            fetched = await fetch_url(
                client,
                self.url,
                limit=self.limit,
                time_limit=self.time_limit,
                etag=validators.get("etag"),
                last_modified=validators.get("last_modified"),
            )
        except SourceError as exc:
            return PollOutcome(PollStatus.FAILED, error=str(exc))
        document = fetched.document
        if document is None:
            return PollOutcome(PollStatus.NOT_MODIFIED)
        try:
            read = await asyncio.to_thread(read_safely, document)
            if not read.issues and not read.failures:
                raise IngestError("the feed has no issues")
        except IngestError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            return PollOutcome(
                PollStatus.FAILED, error=f"{exc.message}{where}", downloaded=len(document.data)
            )
        taken = await self._taken()
        newest = max(await asyncio.to_thread(self.newest_known), taken)
        arrivals = await asyncio.to_thread(self._save_new, read.issues, newest)
        if arrivals:
            await self.store.set_meta(TAKEN_KEY, str(max(taken, *(a.number for a in arrivals))))
        failures = self._new_failures(read.failures, newest)
        await self.store.set_meta(
            VALIDATORS_KEY,
            json.dumps(
                {"url": self.url, "etag": fetched.etag, "last_modified": fetched.last_modified}
            ),
        )
        return PollOutcome(
            PollStatus.FETCHED, tuple(arrivals), downloaded=len(document.data), failures=failures
        )

    async def _taken(self) -> int:
        raw = await self.store.get_meta(TAKEN_KEY)
        return int(raw) if raw and raw.isdigit() else 0

    def _new_failures(self, failures: Sequence[FeedItemFailure], newest: int) -> tuple[str, ...]:
        """Items of new issues that could not be read, each reported once per process."""
        found: list[str] = []
        for failure in failures:
            match = _ISSUE_NUMBER.search(failure.title)
            if match is None or int(match.group(1)) <= newest:
                continue
            text = f"{failure.title}: {failure.reason}"
            if text not in self._reported:
                self._reported.add(text)
                log.error("feed %s: %s", self.url, text)
                found.append(text)
        return tuple(found)

    async def _validators(self) -> dict[str, str]:
        raw = await self.store.get_meta(VALIDATORS_KEY)
        if raw is None:
            return {}
        with contextlib.suppress(ValueError):
            data = json.loads(raw)
            if isinstance(data, dict) and data.get("url") == self.url:
                return {k: v for k, v in data.items() if isinstance(v, str) and k != "url"}
        return {}

    def newest_known(self) -> int:
        """The newest issue the bot has: served, in ``issues/`` (not reloaded yet) or a draft.
        (The poller also never takes an issue again once it has, see ``TAKEN_KEY``: a draft an
        operator deleted to reject it stays rejected.)"""
        numbers = list(self.archive.archive.numbers)
        for sub in (ISSUES_DIR, DRAFTS_DIR):
            directory = self.content_dir / sub
            if directory.is_dir():
                numbers.extend(int(p.stem) for p in directory.glob("*.yaml") if p.stem.isdigit())
        return max(numbers, default=0)

    def _save_new(self, found: Sequence[Parsed], newest: int) -> list[Arrival]:
        fresh: dict[int, Parsed] = {}
        for parsed in found:
            if parsed.issue.number > newest:
                fresh.setdefault(parsed.issue.number, parsed)
        arrivals: list[Arrival] = []
        for number in sorted(fresh):
            parsed = fresh[number]
            published = self.content_dir / ISSUES_DIR / issue_file_name(number)
            path = self.content_dir / (DRAFTS_DIR if self.review else ISSUES_DIR) / published.name
            try:
                outcome = save_issue(
                    parsed,
                    path,
                    source=self.url,
                    also_existing=(published,) if self.review else (),
                )
            except OSError as exc:
                log.error("cannot save issue #%d from the feed to %s: %s", number, path, exc)
                continue
            if outcome.status is SaveStatus.WRITTEN:
                log.info("issue #%d arrived from the feed: %s", number, path)
                arrivals.append(Arrival(outcome, parsed.guesses, self.review))
        return arrivals

    # -- telling operators -----------------------------------------------------------------

    async def _settle(self, outcome: PollOutcome) -> None:
        self.last = outcome
        if outcome.status is PollStatus.FAILED:
            self.failures += 1
            if self.failures == 1:
                log.error("feed %s: %s", self.url, outcome.error)
                await self._tell(
                    Reply.text(
                        f"The feed {self.url} could not be read: {outcome.error}. Retrying in "
                        f"{_duration(self.next_delay())}, then less often; you will hear when "
                        "it works again.",
                        title="Feed problem",
                        tone=Tone.ERROR,
                    )
                )
            else:
                log.warning(
                    "feed %s: %s (failure %d in a row; next try in %s)",
                    self.url,
                    outcome.error,
                    self.failures,
                    _duration(self.next_delay()),
                )
            return
        if outcome.status is PollStatus.SKIPPED:
            log.debug("feed %s: another process holds the poller lease", self.url)
            return
        recovered = self.failures > 0
        self.failures = 0
        if recovered:
            log.info("feed %s readable again", self.url)
        if outcome.arrivals or outcome.failures:
            await self._tell(arrivals_reply(outcome.arrivals, outcome.failures))
        elif recovered:
            await self._tell(
                Reply.text(f"The feed {self.url} can be read again.", title="Feed back")
            )

    async def _tell(self, reply: Reply) -> None:
        try:
            await self.notify(reply)
        except Exception:  # telling is a courtesy; the log has it
            log.exception("could not tell operators about the feed")


def arrivals_reply(arrivals: Sequence[Arrival], failures: Sequence[str] = ()) -> Reply:
    """What operators are told about new issues from the feed (and new ones it could not read)."""
    parts: list[str] = []
    for arrival in arrivals:
        issue = arrival.outcome.issue
        sections, items = len(issue.sections), len(issue.items)
        shape = f"{plural(sections, 'section')}, {plural(items, 'item')}"
        if arrival.draft:
            what = (
                f"Issue #{issue.number} ({shape}) is waiting as a draft: "
                f"{arrival.outcome.path}. Check it, then /approve {issue.number}."
            )
        else:
            what = (
                f"Issue #{issue.number} ({shape}) is in the archive; it goes out at the next "
                "weekly slot (or /publish)."
            )
        lines = [what]
        if arrival.guesses:
            lines.append(f"The importer guessed ({len(arrival.guesses)}):")
            for guess in arrival.guesses[:MAX_GUESSES_SHOWN]:
                where = f"line {guess.line}: " if guess.line else ""
                lines.append(f"• {where}{guess.message}")
            if len(arrival.guesses) > MAX_GUESSES_SHOWN:
                lines.append(f"• …and {len(arrival.guesses) - MAX_GUESSES_SHOWN} more in the file")
        parts.append("\n".join(lines))
    for failure in failures:
        parts.append(
            f"Not imported: {failure}. Fix it in the newsletter or import it by hand "
            "(dlw-bot import FILE or URL)."
        )
    numbers = ", ".join(f"#{a.number}" for a in arrivals)
    if not arrivals:
        title, tone = "New issue in the feed could not be imported", Tone.ERROR
    else:
        title, tone = f"New from the feed: {numbers}", Tone.SUCCESS if not failures else Tone.ERROR
    return Reply.text("\n\n".join(parts), title=title, tone=tone)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def feed_poller(
    settings: Settings, archive: ArchiveHolder, store: Store, notify: Notify
) -> FeedPoller | None:
    """The poller ``settings`` ask for (``DLW_FEED_URL``), or ``None``."""
    if settings.feed_url is None:
        return None
    return FeedPoller(
        url=settings.feed_url,
        content_dir=settings.content_dir,
        archive=archive,
        store=store,
        notify=notify,
        interval=settings.feed_interval,
        review=settings.feed_review,
        instance=settings.instance,
        explicit_content_dir="content_dir" in settings.model_fields_set,
        retry_base=min(60.0, settings.feed_interval),
    )
