"""Publishing: planning into the outbox, digests, idempotence, baseline, reports, and the
dispatcher's handling of every delivery outcome (with a scripted in-process platform)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from bot.app import App
from bot.chat_prefs import Previews, chat_previews, set_chat_previews
from bot.commands import ChatKind, Context
from bot.delivery import (
    ChatMoved,
    DeliveryError,
    Limits,
    PermanentError,
    RateLimited,
    TargetGone,
    TransientError,
)
from bot.publishing import Dispatcher
from bot.reply import Reply
from bot.store import (
    DeliveryKind,
    Store,
    StoreBusy,
    StoreError,
    Subscription,
    SubscriptionKind,
    Target,
)
from tests.conftest import sqlite
from tests.helpers import wait_for as until

PYTORCH = Subscription(SubscriptionKind.TOPIC, "pytorch")
MOBILE = Subscription(SubscriptionKind.KEYWORD, "mobile")
NOTHING = Subscription(SubscriptionKind.KEYWORD, "zebrafish")


@dataclass
class ScriptedPlatform:
    """A platform for the dispatcher: records what it was given, fails as scripted per chat."""

    platform: str = "tg"
    limits: Limits = field(default_factory=lambda: Limits(messages_per_second=1000))
    sent: list[tuple[Target, Reply]] = field(default_factory=list)
    script: dict[str, list[DeliveryError | StoreError]] = field(default_factory=dict)
    calls: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    sent_at: list[dt.datetime] = field(default_factory=list)  # when each of ``sent`` went out

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        self.calls += 1
        self.changed.set()
        errors = self.script.get(target.chat_id)
        if errors:
            raise errors.pop(0)
        self.sent.append((target, reply))
        self.sent_at.append(dt.datetime.now(dt.UTC))
        return [str(len(self.sent))]

    def to(self, chat_id: str) -> list[Reply]:
        return [reply for target, reply in self.sent if target.chat_id == chat_id]


async def statuses(store: Store, issue: int) -> dict[str, str]:
    async with sqlite(store).reading() as db:
        rows = await (
            await db.execute(
                "SELECT target, kind, status FROM outbox WHERE issue_number = ? AND kind <> 'report'",
                (issue,),
            )
        ).fetchall()
    return {f"{r[0]}:{r[1]}": r[2] for r in rows}


@pytest.fixture
async def world(app: App) -> App:
    """Two channels, a forum topic, and four readers on platform "tg"."""
    store = app.store
    await store.register_channel(Target("tg", "-100"), title="Channel", registered_by="1")
    await store.register_channel(Target("tg", "-200", "7"), title="Forum", registered_by="1")
    await store.subscribe("tg", "alice", [PYTORCH])
    await store.subscribe("tg", "bob", [MOBILE, PYTORCH])
    await store.subscribe("tg", "carol", [NOTHING])
    await store.subscribe("dc", "dave", [PYTORCH])
    await store.subscribe("console", "console", [PYTORCH])  # the local shell: never published to
    return app


@pytest.fixture
async def run_dispatcher(app: App) -> AsyncIterator[Callable[..., Dispatcher]]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(platform: ScriptedPlatform, **options: object) -> Dispatcher:
        options = {"idle_poll": 0.05, "backoff": 0.01, "worker": "w1"} | options
        dispatcher = Dispatcher(platform, app.store, app.publisher, **options)  # type: ignore[arg-type]
        app.publisher.on_publish = dispatcher.wake
        tasks.append(asyncio.create_task(dispatcher.run(stop)))
        return dispatcher

    yield start
    stop.set()
    await asyncio.gather(*tasks)


# -- planning -------------------------------------------------------------------------------


async def test_publish_plans_channels_and_matching_digests_in_one_go(world: App) -> None:
    result = await world.publisher.publish(206)
    assert result.created and result.plan is not None
    assert "2 channel posts and 3 digests" in result.message
    rows = await statuses(world.store, 206)
    assert rows == {
        "-100:channel": "pending",
        "-200:channel": "pending",
        "alice:digest": "pending",
        "bob:digest": "pending",
        "dave:digest": "pending",
    }  # carol's keyword matches nothing in #206: no message at all; the console gets none


async def test_digest_lists_each_matching_item_once_with_the_first_reason(world: App) -> None:
    plan = await world.publisher.plan(world.archive.archive.issue(206))  # type: ignore[arg-type]
    digests = {
        d.target.chat_id: [(i["title"][:24], i["reason"]) for i in d.payload["items"]]
        for d in plan.deliveries
        if d.kind is DeliveryKind.DIGEST
    }
    assert digests["alice"] == [
        ("An Overview of the PyTor", "topic PyTorch"),
        ("FedBN Example: PyTorch -", "topic PyTorch"),
        ("PyTorch 1.9 Release, inc", "topic PyTorch"),
    ]
    # bob follows "mobile" first, then PyTorch: two items match both and appear once each,
    # credited to the keyword; items in issue order
    assert digests["bob"] == [
        ("An Overview of the PyTor", "keyword “mobile”"),
        ("FedBN Example: PyTorch -", "topic PyTorch"),
        ("PyTorch 1.9 Release, inc", "keyword “mobile”"),
    ]


async def test_rendered_digest_says_why_each_item_matched(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    platform = ScriptedPlatform()
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: platform.to("alice"), "alice's digest")
    digest = platform.to("alice")[0]
    assert digest.title == "Deep Learning Weekly: Issue #206 — your topics"
    assert [e.meta for e in digest.entries] == [
        "Mobile & Edge · matched topic PyTorch",
        "Learning · matched topic PyTorch",
        "Libraries & Code · matched topic PyTorch",
    ]
    channel = platform.to("-100")[0]
    assert channel.title == "Deep Learning Weekly: Issue #206"
    assert len(channel.entries) == 20


async def test_publishing_twice_is_a_noop(world: App) -> None:
    first = await world.publisher.publish(206)
    second = await world.publisher.publish(206)
    assert first.created and not second.created
    assert "already published" in second.message
    assert len(await statuses(world.store, 206)) == 5
    again = await world.publisher.publish()  # "the newest unpublished": there is none
    assert not again.created and "Nothing new" in again.message


async def test_newest_unpublished_is_chosen(world: App) -> None:
    await world.publisher.publish(202)
    result = await world.publisher.publish()
    assert result.issue_number == 206 and result.created


async def test_unknown_issue_is_refused_with_what_exists(world: App) -> None:
    result = await world.publisher.publish(999)
    assert not result.created
    assert result.message == "There is no issue #999 in the archive (have: #202, #206)."


async def test_fresh_database_takes_the_newest_issue_as_baseline(world: App) -> None:
    assert await world.publisher.ensure_baseline() == 206
    assert await world.publisher.ensure_baseline() is None  # only on a fresh database
    baseline = await world.store.publication(206)
    assert baseline is not None and baseline.baseline and baseline.planned == 0
    assert not baseline.counts  # nothing sent retroactively
    result = await world.publisher.publish()
    assert not result.created and "baseline" in result.message
    # naming the baseline issue explicitly publishes it for real, once
    assert (await world.publisher.publish(206)).created
    assert not (await world.publisher.publish(206)).created


async def test_new_issue_file_is_published_after_the_baseline(
    world: App, content_dir: Path
) -> None:
    await world.publisher.ensure_baseline()
    source = yaml.safe_load((content_dir / "issues" / "0206.yaml").read_text())
    source["number"], source["title"] = 207, "Deep Learning Weekly: Issue #207"
    (content_dir / "issues" / "0207.yaml").write_text(yaml.safe_dump(source, allow_unicode=True))
    outcome = await world.archive.reload()
    assert outcome.added == (207,)
    result = await world.publisher.publish(trigger="schedule")
    assert result.issue_number == 207 and result.created


# -- dispatching ------------------------------------------------------------------------------


async def test_everything_is_sent_once_and_reported_when_every_platform_is_done(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    world.settings.admins = ("tg:op",)
    tg = ScriptedPlatform()
    run_dispatcher(tg)
    await world.publisher.publish(206)
    await until(lambda: len(tg.sent) == 4, "the four tg deliveries")

    async def recorded() -> dict[str, str] | None:  # the outcome is written after the send
        rows = await statuses(world.store, 206)
        return rows if list(rows.values()).count("sent") == 4 else None

    rows = await until(recorded, "the four tg deliveries recorded as sent")
    assert rows["-100:channel"] == rows["alice:digest"] == "sent"
    assert rows["dave:digest"] == "pending"  # platform dc has no dispatcher yet
    assert await world.publisher.write_reports() == []  # so no report yet
    dc = ScriptedPlatform(platform="dc")
    run_dispatcher(dc, worker="w2")
    await until(lambda: tg.to("op"), "the operators' report, once dc is done too")
    assert [t.chat_id for t, _ in dc.sent] == ["dave"]
    assert "Sent 5 of 5 (dc: 1 sent; tg: 4 sent)." in tg.to("op")[0].plain_text()
    assert len(tg.sent) == 5 and len({t for t, _ in tg.sent}) == 5


async def test_report_lists_sent_failed_and_inactive_destinations(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    world.settings.admins = ("tg:op",)
    await world.store.unsubscribe_all("dc", "dave")  # only platform tg in this publication
    platform = ScriptedPlatform(
        script={
            "-100": [TargetGone("Forbidden: bot was kicked from the channel chat")],
            "bob": [PermanentError("Bad Request: message text is empty")],
        }
    )
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: platform.to("op"), "the operators' report")
    report = platform.to("op")[0]
    text = report.plain_text()
    assert report.title == "Issue #206 delivered"
    assert "Sent 2 of 4 (tg: 2 sent, 1 failed, 1 gone)." in text
    assert "tg:-100 (channel)" in text and "bot was kicked" in text and "went inactive" in text
    assert "tg:user bob (digest)" in text and "message text is empty" in text
    channels = {c.target.chat_id: c for c in await world.store.channels(active_only=False)}
    assert not channels["-100"].active and "kicked" in (channels["-100"].inactive_reason or "")
    publication = await world.store.publication(206)
    assert publication is not None and publication.reported_at is not None
    assert len(platform.to("op")) == 1


async def test_rate_limit_waits_retry_after_without_counting_a_failure(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    platform = ScriptedPlatform(script={"alice": [RateLimited(0.3), RateLimited(0.3)]})
    run_dispatcher(platform)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.publisher.publish(206)
    await until(lambda: platform.to("alice"), "alice's digest after two 429s")
    assert loop.time() - started >= 0.55  # waited both retry_after periods
    # one real attempt; 429s don't count (the outcome is recorded after the send returns)
    await until(lambda: _row_is(world, "alice", ("sent", 1)), "alice's digest recorded")


async def _row_is(world: App, target: str, wanted: tuple[str, int]) -> bool:
    async with sqlite(world.store).reading() as db:
        row = await (
            await db.execute("SELECT status, attempts FROM outbox WHERE target = ?", (target,))
        ).fetchone()
    return row is not None and tuple(row) == wanted


async def test_transient_errors_are_retried_with_backoff_then_given_up(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    platform = ScriptedPlatform(
        script={
            "alice": [TransientError("502 Bad Gateway")] * 2,
            "bob": [TransientError("connection reset")] * 10,
        }
    )
    run_dispatcher(platform, max_attempts=4)
    await world.publisher.publish(206)
    await until(lambda: platform.to("alice"), "alice's digest after two 502s")

    async def bob_failed() -> bool:
        return (await statuses(world.store, 206))["bob:digest"] == "failed"

    await until(bob_failed, "bob's digest to fail")
    outcome = await world.store.publication_outcome(206)
    assert outcome is not None
    [bob] = [u for u in outcome.unreachable if u.target.chat_id == "bob"]
    assert (bob.status, bob.error) == ("failed", "gave up after 4 attempts: connection reset")
    assert len(platform.script["bob"]) == 6  # exactly four tries, no loop


async def test_gone_reader_is_deactivated_and_gets_no_later_digest(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    platform = ScriptedPlatform(
        script={"alice": [TargetGone("Forbidden: bot was blocked by the user")]}
    )
    run_dispatcher(platform)
    await world.publisher.publish(202)
    await until(lambda: platform.to("bob"), "bob's digest")
    await until(lambda: not platform.script["alice"], "alice's attempt")
    # the outcome is recorded after the attempt returns: wait for it, not for a lucky order
    await until(lambda: _gone(world, "alice"), "alice deactivated")
    plan = await world.publisher.plan(world.archive.archive.issue(206))  # type: ignore[arg-type]
    assert "alice" not in {d.target.chat_id for d in plan.deliveries}


async def test_gone_topic_unregisters_only_that_topic(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    await world.store.register_channel(Target("tg", "-200", "8"), title="Forum", registered_by="1")
    platform = ScriptedPlatform(
        script={"-200": [TargetGone("Bad Request: message thread not found", thread_only=True)]}
    )
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: platform.to("-200"), "the surviving topic's post")
    await until(lambda: _registrations(world, "-200", 1), "the gone topic unregistered")


async def _gone(world: App, reader: str) -> bool:
    return ("tg", reader) not in await world.store.subscribers_with_subscriptions("tg")


async def _registrations(world: App, chat_id: str, wanted: int) -> bool:
    registered = [c for c in await world.store.channels("tg") if c.target.chat_id == chat_id]
    return len(registered) == wanted


async def test_moved_chat_gets_the_post_at_its_new_id(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    await set_chat_previews(world.store, Target("tg", "-100"), Previews.OFF)
    platform = ScriptedPlatform(script={"-100": [ChatMoved("-1009")]})
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: platform.to("-1009"), "the post at the new chat id")
    assert platform.to("-100") == []
    assert {c.target.chat_id for c in await world.store.channels("tg")} == {"-1009", "-200"}
    # The chat's choice of no link card moved with it, and its old id keeps none.
    assert await chat_previews(world.store, Target("tg", "-1009")) is Previews.OFF
    assert await world.store.get_meta("chat-preview:tg:-100") == ""


async def test_a_busy_store_inside_a_send_is_tried_again_not_failed(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    # The adapter looks something up as it sends (a chat's link-card choice) and the database is
    # busy: the post goes out on a later attempt instead of being recorded as a failure.
    platform = ScriptedPlatform(script={"-100": [StoreBusy("database is locked")]})
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: platform.to("-100"), "the post on a later attempt")
    outcome = await world.store.publication_outcome(206)
    assert outcome is not None and outcome.unreachable == ()


async def test_a_rendering_bug_fails_one_row_and_the_rest_go_out(
    world: App, run_dispatcher: Callable[..., Dispatcher], content_dir: Path
) -> None:
    await world.publisher.publish(202)
    (content_dir / "issues" / "0202.yaml").unlink()
    await world.archive.reload()
    platform = ScriptedPlatform()
    run_dispatcher(platform)
    await world.publisher.publish(206)
    await until(lambda: len(platform.sent) == 4, "issue 206's four tg messages")

    async def settled() -> bool:
        rows = await statuses(world.store, 202)
        return all(s == "failed" for k, s in rows.items() if k != "dave:digest")

    await until(settled, "issue 202's rows to settle")
    outcome = await world.store.publication_outcome(202)
    assert outcome is not None
    assert {u.error for u in outcome.unreachable if u.status == "failed"} == {
        "issue #202 is no longer in the archive"
    }


async def test_claims_of_a_crashed_run_are_resumed_at_start(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    await world.publisher.publish(206)
    claimed = await world.store.claim_deliveries("tg", "w1", 2)  # then "crash": never settled
    assert len(claimed) == 2
    platform = ScriptedPlatform()
    run_dispatcher(platform)  # same worker name: takes its unfinished rows back at once
    await until(lambda: len(platform.sent) == 4, "all four tg deliveries")
    assert {t.chat_id for t, _ in platform.sent} == {"-100", "-200", "alice", "bob"}


async def test_another_workers_stale_claims_are_taken_back_after_the_lease(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    await world.publisher.publish(206)
    lease = dt.timedelta(seconds=0.2)
    before_claim = dt.datetime.now(dt.UTC)
    [stale] = await world.store.claim_deliveries("tg", "dead-process", 1)
    platform = ScriptedPlatform()
    run_dispatcher(platform, lease=lease.total_seconds())

    async def all_sent() -> bool:
        return (await world.store.outbox_counts())["tg"] == {"sent": 4}

    await until(all_sent, "all four tg deliveries settled as sent, one after its lease")
    targets = [target for target, _ in platform.sent]
    assert sorted(t.chat_id for t in targets) == ["-100", "-200", "alice", "bob"]  # once each
    # The dead worker's row waited out its lease, while the others went out meanwhile.
    assert targets[-1] == stale.target
    assert platform.sent_at[-1] - before_claim >= lease


async def test_two_dispatchers_share_the_outbox_without_duplicates(
    world: App, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    for n in range(60):
        await world.store.subscribe("tg", f"reader{n}", [PYTORCH])
    platform = ScriptedPlatform()
    run_dispatcher(platform, worker="a", concurrency=3)
    run_dispatcher(platform, worker="b", concurrency=3)
    await world.publisher.publish(206)
    await until(lambda: len(platform.sent) == 64, "64 deliveries")
    targets = [t.chat_id for t, _ in platform.sent]
    assert len(targets) == len(set(targets))


# -- operator commands ---------------------------------------------------------------------


async def test_preview_shows_the_channel_post_and_what_publishing_would_send(
    world: App, ctx: Callable[..., Context]
) -> None:
    reply = await world.registry.dispatch_text(ctx(operator=True), "/preview")
    assert reply is not None and reply.title == "Deep Learning Weekly: Issue #206"
    assert len(reply.entries) == 20
    (summary,) = reply.then
    assert summary.plain_text().endswith(
        "Publishing issue #206 would send 2 channel posts and 3 digests "
        "(dc: 0 channels, 1 digest; tg: 2 channels, 2 digests)."
    )
    assert await world.store.publication(206) is None  # a preview changes nothing


async def test_operator_commands_are_refused_to_readers(
    world: App, ctx: Callable[..., Context]
) -> None:
    for line in ("/preview", "/publish 206", "/status"):
        reply = await world.registry.dispatch_text(ctx(), line)
        assert reply is not None and "for the bot's operators" in reply.plain_text()
    assert await world.store.publication(206) is None


async def test_publish_and_status_commands(world: App, ctx: Callable[..., Context]) -> None:
    operator = ctx(operator=True, chat_kind=ChatKind.PRIVATE)
    reply = await world.registry.dispatch_text(operator, "/publish 206")
    assert reply is not None and reply.plain_text().startswith(
        "Publishing issue #206: 2 channel posts"
    )
    again = await world.registry.dispatch_text(operator, "/publish 206")
    assert again is not None and "already published" in again.plain_text()
    status = await world.registry.dispatch_text(operator, "/status")
    assert status is not None
    text = status.plain_text()
    assert "Schedule: Wednesdays at 16:00 (UTC); next slot" in text
    assert "tg: 2 channels, 3 readers with subscriptions" in text
    assert "Issue #206" in text and "dc: 1 pending; tg: 4 pending" in text


async def test_store_timestamps_compare_as_text() -> None:
    # not_before is compared as text in SQL: fixed-width UTC timestamps must sort like times
    from bot.store.sqlite import _ts

    early = dt.datetime(2026, 1, 1, 9, 5, tzinfo=dt.UTC)
    assert (
        _ts(early) < _ts(early + dt.timedelta(microseconds=1)) < _ts(early + dt.timedelta(hours=20))
    )


async def test_a_rejected_content_change_is_reported_to_operators(
    world: App, content_dir: Path
) -> None:
    world.settings.admins = ("tg:op",)
    platform = ScriptedPlatform()
    world.adapters.append(platform)  # type: ignore[arg-type]
    world.watch_content()
    broken = content_dir / "issues" / "0207.yaml"
    written: list[float] = []

    def reported() -> bool:
        # The watcher gives no sign when it starts watching: (re)write the broken file until a
        # change is seen, at most every 0.25 s, so a write before it started is not lost.
        now = asyncio.get_running_loop().time()
        if not platform.to("op") and (not written or now - written[-1] >= 0.25):
            broken.write_text("number: 207\ntitle: [unclosed\n")
            written.append(now)
        return bool(platform.to("op"))

    await until(reported, "the operators' content report")
    text = platform.to("op")[0].plain_text()
    assert text.startswith("Content problem\nA content change was rejected")
    assert "0207.yaml" in text
    assert world.archive.archive.latest().number == 206  # type: ignore[union-attr]


async def test_nothing_new_after_a_baseline_names_the_way_to_send_it(app: App) -> None:
    """After the baseline, the reply suggests naming the issue, and naming it does send it."""
    baseline = await app.publisher.ensure_baseline()
    assert baseline is not None
    nothing = await app.publisher.publish()
    assert not nothing.created and f"publish {baseline}, to send it for real" in nothing.message
    named = await app.publisher.publish(baseline)
    assert named.created
    after = await app.publisher.publish()
    assert not after.created and "Name it" not in after.message
