"""The feed poller against a local newsletter site (127.0.0.1): conditional requests, the ways
a server goes wrong, review mode, one poller per database, and the running bot taking a new
issue from the feed to a Telegram channel at the next weekly slot."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from adapters.telegram import TelegramAdapter, TelegramSettings
from bot.app import App
from bot.commands import ChatKind, Context
from bot.config import Settings, bundled_content_dir
from bot.ingest.poller import FeedPoller, PollStatus
from bot.reply import Reply
from bot.schedule import Schedule
from bot.scheduler import LAST_SLOT_KEY, WeeklyPublisher
from bot.store import Target
from tests.conftest import REPO, sqlite
from tests.fakes.newsletter_issues import synthetic_issue
from tests.fakes.newsletter_site import NewsletterSite, rss_feed
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def feed_of(*numbers: int) -> str:
    return rss_feed([synthetic_issue(n).feed_item() for n in numbers])


class Operators:
    """Collects what the poller tells operators; waits for it without sleeping."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self._changed = asyncio.Condition()

    async def __call__(self, reply: Reply) -> None:
        async with self._changed:
            self.replies.append(reply)
            self._changed.notify_all()

    @property
    def texts(self) -> list[str]:
        return [r.plain_text() for r in self.replies]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.replies) >= count)
        return self.texts


@pytest.fixture
async def site() -> AsyncIterator[NewsletterSite]:
    async with NewsletterSite() as newsletter:
        yield newsletter


@pytest.fixture
def operators() -> Operators:
    return Operators()


Make = Callable[..., FeedPoller]


@pytest.fixture
def make_poller(app: App, site: NewsletterSite, operators: Operators) -> Make:
    def make(**options: object) -> FeedPoller:
        values: dict[str, object] = {
            "url": site.url("/feed"),
            "content_dir": app.settings.content_dir,
            "archive": app.archive,
            "store": app.store,
            "notify": operators,
            "interval": 60.0,
            "retry_base": 0.05,
            "time_limit": 1.0,
            "instance": "test-1",
        }
        values.update(options)
        return FeedPoller(**values)  # type: ignore[arg-type]

    return make


# -- what arrives ------------------------------------------------------------------------------


async def test_new_issues_are_written_and_operators_told_then_an_unchanged_feed_costs_nothing(
    app: App, site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    site.set_feed(feed_of(421, 420))
    poller = make_poller()
    issues = app.settings.content_dir / "issues"
    before = sorted(p.name for p in issues.iterdir())
    first = await poller.poll_once()
    assert first.status is PollStatus.FETCHED
    assert [a.number for a in first.arrivals] == [420, 421]
    assert sorted(p.name for p in issues.iterdir()) == [*before, "0420.yaml", "0421.yaml"]
    [told] = await operators.wait_for(1)
    assert told.startswith("New from the feed: #420, #421\nIssue #420 (5 sections, ")
    assert "it goes out at the next weekly slot" in told

    await app.archive.reload()
    latest = app.archive.archive.latest()
    assert latest is not None and latest.number == 421
    assert latest.source_url == synthetic_issue(421).url

    second = await poller.poll_once()
    assert second.status is PollStatus.NOT_MODIFIED and second.downloaded == 0
    [_, conditional] = site.requests_to("/feed")
    assert conditional.headers["If-None-Match"] == site.etag
    assert conditional.status == 304 and conditional.sent == 0
    assert len(operators.replies) == 1  # nothing new, nothing said


async def test_last_modified_is_used_when_the_server_has_no_etag(
    site: NewsletterSite, make_poller: Make
) -> None:
    site.etags = False
    site.set_feed(feed_of(420))
    poller = make_poller()
    assert (await poller.poll_once()).status is PollStatus.FETCHED
    assert (await poller.poll_once()).status is PollStatus.NOT_MODIFIED
    assert "If-Modified-Since" in site.requests_to("/feed")[1].headers


async def test_only_issues_newer_than_the_newest_are_taken(
    app: App, site: NewsletterSite, make_poller: Make
) -> None:
    site.set_feed(feed_of(421))
    poller = make_poller()
    await poller.poll_once()
    site.set_feed(feed_of(422, 419, 205))  # 419 and 205 are older than what the bot has
    outcome = await poller.poll_once()
    assert [a.number for a in outcome.arrivals] == [422]
    issues = app.settings.content_dir / "issues"
    assert not (issues / "0419.yaml").exists() and not (issues / "0205.yaml").exists()


async def test_an_edited_old_item_never_overwrites_the_archive(
    app: App, site: NewsletterSite, make_poller: Make
) -> None:
    site.set_feed(feed_of(420))
    poller = make_poller()
    await poller.poll_once()
    path = app.settings.content_dir / "issues" / "0420.yaml"
    before = path.read_bytes()
    site.set_feed(feed_of(420).replace("Until next week!", "Until next week, friends!"))
    outcome = await poller.poll_once()
    assert outcome.status is PollStatus.FETCHED and outcome.arrivals == ()
    assert path.read_bytes() == before


# -- what goes wrong -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("500", "HTTP 500 Internal Server Error"),
        ("slow", "timed out"),
        ("loop", "too many redirects (more than 5)"),
        ("huge", "too large: more than 5 MB"),
        ("endless", "too large: more than 5 MB"),
    ],
)
async def test_a_failing_feed_is_survived_reported_once_and_retried_with_backoff(
    site: NewsletterSite, operators: Operators, make_poller: Make, behaviour: str, error: str
) -> None:
    site.set_feed(feed_of(420))
    site.feed_behaviour = behaviour
    # a feed that never answers costs the whole time limit on each of the four polls
    time_limit = 0.25 if behaviour == "slow" else 1.0
    poller = make_poller(interval=1.0, retry_base=0.1, time_limit=time_limit)
    loop = asyncio.get_running_loop()
    delays = []
    for _ in range(4):
        started = loop.time()
        outcome = await poller.poll_once()
        assert loop.time() - started < 3  # within the time bound
        assert outcome.status is PollStatus.FAILED
        assert outcome.error is not None and outcome.error.startswith(error)
        delays.append(poller.next_delay())
    assert delays == [0.1, 0.2, 0.4, 0.8]  # doubling...
    assert make_poller(interval=1.0, retry_base=0.1, failures=9).next_delay() == 1.0  # ...bounded
    [told] = await operators.wait_for(1)
    assert told.startswith("Feed problem\nThe feed ") and error in told

    site.feed_behaviour = "ok"
    back = await poller.poll_once()
    assert back.status is PollStatus.FETCHED and poller.failures == 0
    texts = await operators.wait_for(2)
    assert texts[1].startswith("New from the feed: #420")
    assert len(texts) == 2  # one problem report for the whole streak, then the news


async def test_a_feed_that_is_not_a_feed_is_reported(
    site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    site.set_feed("<rss version='2.0'><channel><title>x</title><item><title>oops")
    outcome = await make_poller().poll_once()
    assert outcome.status is PollStatus.FAILED and outcome.error
    [told] = await operators.wait_for(1)
    assert told.startswith("Feed problem\n")


async def test_the_loop_keeps_going_through_errors_and_picks_up_the_issue(
    app: App, site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    site.feed_behaviour = "500"
    site.set_feed(feed_of(420))
    poller = make_poller(interval=0.2, retry_base=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await site.wait_for_requests("/feed", 3)  # three failures, the task still alive
        assert not task.done()
        site.feed_behaviour = "ok"
        texts = await operators.wait_for(2)
        assert texts[0].startswith("Feed problem") and texts[1].startswith("New from the feed")
        assert (app.settings.content_dir / "issues" / "0420.yaml").is_file()
    finally:
        stop.set()
        poller.wake()
        await asyncio.wait_for(task, 5)


async def test_the_bundled_content_is_never_written_by_the_poller(
    app: App, site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    site.set_feed(feed_of(420))
    poller = make_poller(content_dir=bundled_content_dir(), explicit_content_dir=False)
    await asyncio.wait_for(poller.run(), 5)  # returns at once: nothing to poll into
    [told] = await operators.wait_for(1)
    assert told.startswith("Feed not polled\n") and "dlw-bot init" in told
    assert site.requests == []


# -- several processes, one poller ----------------------------------------------------------


async def test_only_the_lease_holder_polls(
    app: App, site: NewsletterSite, make_poller: Make
) -> None:
    site.set_feed(feed_of(420))
    one = make_poller(instance="one", interval=0.2)
    two = make_poller(instance="two", interval=0.2)
    assert (await one.poll_once()).status is PollStatus.FETCHED
    assert (await two.poll_once()).status is PollStatus.SKIPPED
    assert len(site.requests_to("/feed")) == 1
    # "one" stops; once its lease (2 x interval + 60 s) has passed, "two" takes over
    async with sqlite(app.store).transaction() as db:
        await db.execute("UPDATE leases SET until = '2000-01-01T00:00:00.000000Z'")
    assert (await two.poll_once()).status is PollStatus.NOT_MODIFIED
    assert (await one.poll_once()).status is PollStatus.SKIPPED


# -- review mode --------------------------------------------------------------------------------


def operator_ctx(app: App, user: str = "77") -> Context:
    return Context(
        services=app,
        platform="telegram",
        user_id=user,
        chat_id=user,
        chat_kind=ChatKind.PRIVATE,
        operator=user == "77",
    )


async def test_review_mode_holds_a_draft_until_approved_in_chat(
    app: App, site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    site.set_feed(feed_of(420))
    poller = make_poller(review=True)
    outcome = await poller.poll_once()
    assert [a.number for a in outcome.arrivals] == [420]
    draft = app.settings.content_dir / "drafts" / "0420.yaml"
    assert draft.is_file()
    [told] = await operators.wait_for(1)
    assert "waiting as a draft" in told and "/approve 420" in told

    await app.archive.reload()
    assert 420 not in app.archive.archive.numbers  # never served...
    result = await app.publisher.publish(trigger="test")
    assert result.issue_number != 420  # ...nor published
    # polling again does not import it a second time
    site.set_feed(feed_of(420).replace("Until next week!", "Until soon!"))
    assert (await poller.poll_once()).arrivals == ()

    registry = app.registry
    refused = await registry.dispatch_text(operator_ctx(app, "5"), "/approve 420")
    assert refused is not None and "for the bot's operators" in refused.plain_text()
    listed = await registry.dispatch_text(operator_ctx(app), "/approve")
    assert listed is not None and "Issue #420" in listed.plain_text()
    approved = await registry.dispatch_text(operator_ctx(app), "/approve 420")
    assert approved is not None and approved.plain_text().startswith("Approved: issue #420")
    assert not draft.exists()
    assert 420 in app.archive.archive.numbers
    shown = await registry.dispatch_text(operator_ctx(app, "5"), "/issue 420")
    assert shown is not None and "Deep Learning Weekly: Issue 420" in shown.plain_text()
    again = await registry.dispatch_text(operator_ctx(app), "/approve 420")
    assert again is not None and "There is no draft of issue #420" in again.plain_text()


# -- the running bot: feed → archive → channel at the next slot ---------------------------------

FORUM, OPERATOR = -1001234567890, 77


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_username="dlw_test_bot") as telegram:
        telegram.add_private_chat(OPERATOR, "Op")
        telegram.add_group(FORUM, "DLW readers", admins=[OPERATOR], forum=True, topics=[7])
        yield telegram


@pytest.fixture
async def feed_app(
    settings: Settings, fake: FakeTelegram, site: NewsletterSite
) -> AsyncIterator[App]:
    configured = settings.model_copy(
        update={
            "admins": (f"telegram:{OPERATOR}",),
            "publish_schedule": "off",
            "instance": "test-1",
            "feed_url": site.url("/feed"),
            "feed_interval": 0.3,
        }
    )
    application = await App.create(configured)
    try:
        yield application
    finally:
        await application.close()


async def until(condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


async def test_the_running_bot_takes_a_new_feed_item_to_the_channel_at_the_next_slot(
    feed_app: App, fake: FakeTelegram, site: NewsletterSite
) -> None:
    app = feed_app
    await app.store.register_channel(
        Target("telegram", str(FORUM), "7"), title="F", registered_by=str(OPERATOR)
    )
    site.set_feed(feed_of(206))  # the feed has nothing newer than the archive yet
    async with contextlib.AsyncExitStack() as stack:
        telegram = TelegramSettings(token=SecretStr(fake.token), api_url=fake.base_url)
        adapter = TelegramAdapter(
            app.adapter_services, telegram, timeout=3.0, poll_timeout=5.0, backoff=0.01
        )
        await adapter.start()
        stack.push_async_callback(adapter.stop)
        app.adapters.append(adapter)
        app.dispatch(adapter, idle_poll=0.05, backoff=0.01)
        stack.push_async_callback(app.stop_publishing)
        app.watch_content()
        await app.publisher.ensure_baseline()  # 206, as at any start
        poller = app.poll_feed()
        assert poller is not None
        await site.wait_for_requests("/feed", 2)  # polled, then polled again: 304
        assert site.requests_to("/feed")[1].status == 304

        site.set_feed(feed_of(421, 206))  # the newsletter publishes issue 421
        [told] = await fake.wait_for_messages(OPERATOR, 1, timeout=10)
        assert told.text.startswith("New from the feed: #421")
        await until(lambda: 421 in app.archive.archive.numbers, "the watcher to reload 421")

        # The next Wednesday 16:00 is 0.3 s away on the scheduler's clock.
        slot = dt.datetime(2026, 11, 25, 16, tzinfo=dt.UTC)
        offset = (slot - dt.timedelta(seconds=0.3)) - dt.datetime.now(dt.UTC)
        await app.store.set_meta(LAST_SLOT_KEY, (slot - dt.timedelta(days=7)).isoformat())
        weekly = WeeklyPublisher(
            Schedule.parse("wed 16:00"),
            app.publisher,
            app.store,
            clock=lambda: dt.datetime.now(dt.UTC) + offset,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(weekly.run(stop))
        stack.push_async_callback(lambda: _stop(stop, task))
        post = await fake.wait_for_messages(FORUM, 1, timeout=15, thread_id=7)
        assert post[0].text.startswith("Deep Learning Weekly: Issue 421")
        publication = await app.store.publication(421)
        assert publication is not None and publication.trigger == "schedule"


async def _stop(stop: asyncio.Event, task: Awaitable[None]) -> None:
    stop.set()
    await task


async def test_dlw_bot_run_polls_the_feed_and_holds_a_draft_until_approved_in_chat(
    settings: Settings, fake: FakeTelegram, site: NewsletterSite, tmp_path: Path
) -> None:
    """As operators run it: ``python -m bot run`` with DLW_FEED_URL and DLW_FEED_REVIEW=on."""
    site.set_feed(feed_of(421))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLW_")}
    env |= {
        "DLW_TELEGRAM_TOKEN": fake.token,
        "DLW_TELEGRAM_API_URL": fake.base_url,
        "DLW_DATABASE": str(settings.database),
        "DLW_CONTENT_DIR": str(settings.content_dir),
        "DLW_PUBLISH_SCHEDULE": "off",
        "DLW_ADMINS": f"telegram:{OPERATOR}",
        "DLW_FEED_URL": site.url("/feed"),
        "DLW_FEED_INTERVAL": "1h",
        "DLW_FEED_REVIEW": "on",
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        [told] = await fake.wait_for_messages(OPERATOR, 1, timeout=20)
        assert told.text.startswith("New from the feed: #421")
        assert "waiting as a draft" in told.text and "/approve 421" in told.text
        assert (settings.content_dir / "drafts" / "0421.yaml").is_file()

        fake.send_text(OPERATOR, "/issue 421")
        not_yet = (await fake.wait_for_messages(OPERATOR, 2, timeout=10))[1]
        assert "no issue #421" in not_yet.text.lower()

        fake.send_text(OPERATOR, "/approve 421")
        approved = (await fake.wait_for_messages(OPERATOR, 3, timeout=10))[2]
        assert approved.text.startswith("Approved: issue #421 is in the archive now")
        fake.send_text(OPERATOR, "/issue 421")
        shown = (await fake.wait_for_messages(OPERATOR, 4, timeout=10))[3]
        assert shown.text.startswith("Deep Learning Weekly: Issue 421")
        assert "polling " + site.url("/feed") in log.read_text()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await process.wait()
        print(log.read_text(errors="replace")[-4000:])
    assert code == 0


async def test_a_new_issue_that_cannot_be_read_is_reported_once(
    app: App, site: NewsletterSite, operators: Operators, make_poller: Make
) -> None:
    broken = {
        "title": "Deep Learning Weekly: Issue 430",
        "link": "https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-430",
        "date": "",
        "html": "<p>Only an introduction, no stories.</p>",
    }
    old_broken = broken | {"title": "Deep Learning Weekly: Issue 100"}  # old: not news
    site.set_feed(rss_feed([broken, old_broken, synthetic_issue(421).feed_item()]))
    poller = make_poller()
    outcome = await poller.poll_once()
    assert [a.number for a in outcome.arrivals] == [421]
    assert len(outcome.failures) == 1 and outcome.failures[0].startswith(
        "Deep Learning Weekly: Issue 430: no stories"
    )
    [told] = await operators.wait_for(1)
    assert "Issue #421" in told and "Not imported: Deep Learning Weekly: Issue 430" in told
    site.set_feed(rss_feed([broken]) + "\n")  # changed, still broken: not said again
    assert (await poller.poll_once()).failures == ()
    assert len(operators.replies) == 1


async def test_a_rejected_draft_does_not_come_back(
    app: App, site: NewsletterSite, make_poller: Make
) -> None:
    site.set_feed(feed_of(420))
    poller = make_poller(review=True)
    await poller.poll_once()
    draft = app.settings.content_dir / "drafts" / "0420.yaml"
    draft.unlink()  # the operator rejects it
    site.set_feed(feed_of(420).replace("Until next week!", "Until soon!"))  # the feed changes
    outcome = await poller.poll_once()
    assert outcome.status is PollStatus.FETCHED and outcome.arrivals == ()
    assert not draft.exists()
