"""Weekly fan-out: one issue's topic digests to many Telegram readers through a rate-capped Bot API.

    python bench/fanout.py [--subscribers 10000] [--cap 300] [--bot-rate 270] [--runs 1]
    python bench/fanout.py --quick            # smoke test: 500 readers, a few seconds

The fake Bot API (tests/fakes/telegram/) runs in this process on 127.0.0.1 and enforces a
flood limit on sendMessage: at most ``--cap`` accepted messages in any sliding 1-second window,
429 with Telegram's integer ``retry_after`` beyond that. The bot runs unmodified in a child
process (``python -m bot run`` with ``DLW_*`` settings), so it has a core of its own and its
whole delivery path is measured: the outbox dispatcher claiming rows in batches, the pacer
keeping it under ``DLW_TELEGRAM_MAX_RATE`` (``--bot-rate``) from the token bucket in the
database, JSON over HTTP, and the SQLite transactions that claim and settle rows in batches.

Each run uses a fresh database with ``--subscribers`` readers following the ``pytorch`` topic
(seeded in one transaction with the rows ``Store.subscribe`` writes), each of them a private
chat in the fake. Once the bot is polling, issue #206 is published through the real
:class:`~bot.publishing.Publisher` (as ``dlw-bot publish 206`` does from another process):
exactly one digest message per reader. The run ends when every reader has a message (an event
from the fake, not a sleep), or the bot exits, or ``--timeout`` passes; the bot is then stopped
with SIGTERM, so anything it still sends is counted too, and the outbox it leaves is read back.

Printed per run:

* throughput: accepted messages per second from the first sendMessage to the last accepted
  one, and that as a share of the cap (targets: 97 % with no 429 up to a 300/s cap, 600 msg/s
  at a 1,000/s cap);
* 429s the fake answered; messages lost (readers with no message) and duplicated (readers with
  more than one), both of which must be 0, as must outbox rows left in any state but ``sent``;
* when the first and the last message arrived after the publication (``1st s``, ``last s``:
  the dispatcher notices a publication made by another process at its next outbox poll, at
  most 2 s later);
* the bot's peak resident memory (VmHWM) and the CPU the bot and the fake used while messages
  were going out (1.0 = one core busy all along);
* accepted messages per full second, the busiest 1 s window, and the outbox counts;
* the fake's garbage collections during the run: its collector is off while a run is
  measured, since its pauses would stop the fake answering (see :class:`HarnessPauses`).

``--bot-rate`` defaults to the cap: the setting names the platform's cap and the bot paces just
under it (98.5 % of it, plus a burst of 1 %; see bot/pacing.py), counting each of its requests
until a second after the answer, so that no sliding second at the fake exceeds the cap. Every
429 costs a whole second or more (Telegram's ``retry_after`` is an integer), so the targets for a
100/s and a 300/s cap are 97 % with no 429 at all, and 600 msg/s at a 1,000/s cap.

``--cap 0`` lifts the fake's limit, which measures the bot's own ceiling (give a high
``--bot-rate`` too). ``--profile FILE`` runs the bot under cProfile and writes its stats there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import App  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store import DeliveryKind, DeliveryStatus, SQLiteStore, SubscriptionKind  # noqa: E402
from bot.views import format_counts  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

ISSUE = 206
TOPIC = "pytorch"  # three items of #206, sent as one digest message
FIRST_USER_ID = 100_000_001
SMALL_CAP = 300  # up to this cap: TARGET_SHARE and no 429 at all (issue 14)
TARGET_SHARE = 0.97
LARGE_CAP_TARGET = 600  # msg/s at a larger cap (one process on this 2-core machine)


def target_share(cap: int) -> float:
    """The share of ``cap`` a run must reach."""
    return TARGET_SHARE if cap <= SMALL_CAP else min(TARGET_SHARE, LARGE_CAP_TARGET / cap)


QUICK_SUBSCRIBERS = 500


@dataclass(frozen=True)
class RunResult:
    """What one fan-out run measured. Times are seconds on this process's event loop clock."""

    subscribers: int
    delivered: int  # readers with at least one message
    duplicated: int  # readers with more than one
    accepted: int  # sendMessage calls answered 200
    too_many_requests: int  # sendMessage calls answered 429
    other_errors: int  # sendMessage calls answered anything else
    first_send: float | None  # first sendMessage, relative to the publication
    last_accepted: float | None  # last accepted sendMessage, relative to the publication
    busiest_second: int  # most accepted messages in any sliding 1 s window
    per_second: list[int]  # accepted messages in each full second after the first send
    peak_rss: int  # bytes, the bot's VmHWM (or its RSS at the end where /proc is missing)
    idle_rss: int  # bytes, the bot's RSS once started, before the publication
    bot_cores: float  # the bot's CPU time over the fan-out / its duration (1.0: one core)
    fake_cores: float  # the same for this process, i.e. the fake Bot API
    wall: float  # seconds from the publication to the end of the fan-out
    outbox: str  # the outbox counts the bot left
    unsettled: int  # outbox rows not 'sent' after the bot stopped (claimed, pending, failed...)
    outcome: str  # "complete", or why the run ended early
    fake_collections: int = 0  # garbage collections in the fake while it was measured

    @property
    def lost(self) -> int:
        return self.subscribers - self.delivered

    @property
    def window(self) -> float:
        if self.first_send is None or self.last_accepted is None:
            return 0.0
        return self.last_accepted - self.first_send

    @property
    def throughput(self) -> float:
        """Messages per second between the first send and the last accepted one (N messages
        span N - 1 intervals)."""
        return (self.accepted - 1) / self.window if self.window > 0 else 0.0


# ----------------------------------------------------------------------------- setting up


async def seed(database: Path, count: int) -> None:
    """``count`` active Telegram readers following :data:`TOPIC`, in one transaction.

    Writes the rows ``SQLiteStore.subscribe`` would (it takes a transaction per reader, ~2 ms
    each here, i.e. 20 s for 10,000), then checks them through the store's own query.
    """
    store = await SQLiteStore.open(database)
    try:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        async with store.transaction() as db:
            await db.executemany(
                "INSERT INTO subscribers (platform, user_id, active, created_at, updated_at)"
                " VALUES ('telegram', ?, 1, ?, ?)",
                [(str(user_id), now, now) for user_id in user_ids(count)],
            )
            await db.execute(
                "INSERT INTO subscriptions (subscriber_id, kind, value, created_at)"
                " SELECT id, ?, ?, ? FROM subscribers WHERE platform = 'telegram'",
                (SubscriptionKind.TOPIC.value, TOPIC, now),
            )
        readers = await store.subscribers_with_subscriptions("telegram")
        assert len(readers) == count, f"seeded {len(readers)} readers, wanted {count}"
    finally:
        await store.close()


def user_ids(count: int) -> range:
    return range(FIRST_USER_ID, FIRST_USER_ID + count)


def bot_environment(fake: FakeTelegram, workdir: Path, bot_rate: float) -> dict[str, str]:
    """The child's environment: ours without any DLW_* of the caller's, plus the bot's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DLW_")}
    env.update(
        DLW_TELEGRAM_TOKEN=fake.token,
        DLW_TELEGRAM_API_URL=fake.base_url,
        DLW_DATABASE=str(workdir / "fanout.sqlite3"),
        DLW_CONTENT_DIR=str(ROOT / "content"),
        DLW_PUBLISH_SCHEDULE="off",
        DLW_TELEGRAM_MAX_RATE=f"{bot_rate:g}",
        DLW_LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        NO_PROXY="127.0.0.1",  # httpx honours proxy variables: loopback must stay direct
        no_proxy="127.0.0.1",
    )
    return env


async def publish(database: Path | str, count: int) -> None:
    """Publish :data:`ISSUE` to the store at ``database`` through the real Publisher, as
    ``dlw-bot publish`` does; ``count`` digests must be planned."""
    app = await App.create(
        Settings(
            _env_file=None,  # a .env in the working directory is not the bot's configuration
            content_dir=ROOT / "content",
            database=database,
            publish_schedule="off",
        )
    )
    try:
        result = await app.publisher.publish(ISSUE, trigger="bench")
    finally:
        await app.close()
    assert result.created and result.plan is not None, result.message
    planned = result.plan.counts().get("telegram", Counter())
    assert planned[DeliveryKind.DIGEST] == count, result.message


async def outbox_counts(database: Path) -> tuple[str, int]:
    """The outbox as ``dlw-bot status`` shows it, and how many rows are not ``sent``."""
    store = await SQLiteStore.open(database)
    try:
        counts = await store.outbox_counts()
    finally:
        await store.close()
    unsettled = sum(
        n
        for by_status in counts.values()
        for status, n in by_status.items()
        if status != DeliveryStatus.SENT
    )
    return format_counts(counts), unsettled


# ----------------------------------------------------------------------------- measuring


class HarnessPauses:
    """Keeps this process's cyclic garbage collector still while a run is measured.

    The fake answers in this process, and a full collection walks every object it keeps (the
    readers' chats, every call so far): 40-130 ms by the middle of a 4,500-reader run (freezing
    the setup out of the collector did not help, the calls pile up), and no request is answered
    meanwhile. The bot sees
    such a pause as a latency spike, and its per-second window rightly holds back while requests
    go unanswered: the harness's cost, not the bot's, and not one the real Bot API has. So the
    collector is off from the publication until the fan-out is measured (what the fake keeps
    meanwhile is a few megabytes, freed by reference counting or at the next collection), and
    ``collections`` counts any that ran anyway (0 expected)."""

    def __init__(self) -> None:
        self.collections = 0
        self._enabled = gc.isenabled()

    @classmethod
    def start(cls) -> HarnessPauses:
        pauses = cls()
        gc.collect()
        gc.disable()
        gc.callbacks.append(pauses._observe)
        return pauses

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._observe)
        if self._enabled:
            gc.enable()

    def _observe(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            self.collections += 1


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM) in bytes; its current RSS where /proc is missing."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def busiest_window(stamps: list[float]) -> int:
    """Most stamps in any half-open 1-second window (what the fake's limit counts)."""
    best, start = 0, 0
    for end, stamp in enumerate(stamps):
        while stamp - stamps[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


async def until(
    fake: FakeTelegram,
    child: asyncio.subprocess.Process,
    predicate: Callable[[], bool],
    patience: float,
    what: str,
) -> str | None:
    """Wait until ``predicate()`` holds (re-checked whenever the fake records a call, never on a
    timer); ``None`` then, else why not: the bot exited, or ``patience`` seconds passed."""
    held = asyncio.ensure_future(fake.wait_for(predicate, timeout=patience, what=what))
    exited = asyncio.ensure_future(child.wait())
    try:
        await asyncio.wait({held, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (held, exited):
            task.cancel()
    if held.done() and not held.cancelled():
        return None if held.exception() is None else f"timed out after {patience:g}s ({what})"
    return f"the bot exited with status {child.returncode}"


class Sending:
    """Whether the bot has called sendMessage yet (looking only at calls new since last time)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.seen = len(fake.calls)

    def __call__(self) -> bool:
        calls = self.fake.calls
        found = any(call.method.lower() == "sendmessage" for call in calls[self.seen :])
        self.seen = len(calls)
        return found


class Reached:
    """Which readers have a message so far; each call looks only at the messages new since the
    last one, so the check stays cheap when the fake re-evaluates it on every call."""

    def __init__(self, fake: FakeTelegram, count: int) -> None:
        self.fake = fake
        self.readers = frozenset(user_ids(count))
        self.reached: set[int] = set()
        self.seen = len(fake.messages)

    def __call__(self) -> bool:
        for message in self.fake.messages[self.seen :]:
            if message.chat_id in self.readers:
                self.reached.add(message.chat_id)
        self.seen = len(self.fake.messages)
        return len(self.reached) == len(self.readers)


async def stop_child(child: asyncio.subprocess.Process) -> None:
    """SIGTERM (the bot shuts down cleanly, recording sends under way), then SIGKILL at 30 s."""
    if child.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(child.wait(), 30)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()


async def run_once(
    count: int, cap: int, bot_rate: float, patience: float, profile: Path | None
) -> RunResult:
    workdir = Path(tempfile.mkdtemp(prefix="dlw-fanout-"))
    try:
        database = workdir / "fanout.sqlite3"
        await seed(database, count)
        async with FakeTelegram() as fake:
            for user_id in user_ids(count):
                fake.add_private_chat(user_id, f"Reader {user_id - FIRST_USER_ID}")
            fake.rate_limit(cap or None)
            command = [sys.executable]
            if profile is not None:
                command += ["-m", "cProfile", "-o", str(profile)]
            command += ["-m", "bot", "run"]
            with (workdir / "bot.log").open("wb") as log:
                child = await asyncio.create_subprocess_exec(
                    *command,
                    cwd=workdir,
                    env=bot_environment(fake, workdir, bot_rate),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            try:
                return await measure(fake, child, workdir, count, patience)
            except Exception:  # a failure, not an interruption: show why
                tail = (workdir / "bot.log").read_text(errors="replace").splitlines()[-20:]
                print("\n".join(["bot output (last lines):", *tail]), file=sys.stderr)
                raise
            finally:
                await stop_child(child)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def measure(
    fake: FakeTelegram,
    child: asyncio.subprocess.Process,
    workdir: Path,
    count: int,
    patience: float,
) -> RunResult:
    loop = asyncio.get_running_loop()
    process = psutil.Process(child.pid)
    failure = await until(fake, child, lambda: fake.active_long_polls >= 1, 60, "the bot polling")
    if failure is not None:
        raise RuntimeError(f"the bot did not start: {failure}")
    idle_rss = int(process.memory_info().rss)
    first_call = len(fake.calls)
    first_message = len(fake.messages)
    too_many_before = fake.too_many_requests_sent

    reached, sending = Reached(fake, count), Sending(fake)  # both look at what comes next
    pauses = HarnessPauses.start()  # no garbage collection in the fake from here on
    try:
        published = loop.time()
        await publish(workdir / "fanout.sqlite3", count)
        failure = await until(fake, child, sending, patience, "the first sendMessage")
        started, bot_cpu, fake_cpu = loop.time(), cpu_seconds(process), time.process_time()
        if failure is None:
            what = f"a message to each of {count} readers"
            failure = await until(fake, child, reached, patience, what)
        finished = loop.time()
    finally:
        pauses.stop()
    outcome = failure or "complete"
    if failure is not None:
        outcome += f", {len(reached.reached)} of {count} readers reached"
    alive = child.returncode is None
    bot_cpu = cpu_seconds(process) - bot_cpu if alive else 0.0
    fake_cpu = time.process_time() - fake_cpu
    peak = peak_rss(child.pid) if alive else 0

    await stop_child(child)  # whatever it sends while stopping is counted below
    if outcome == "complete" and child.returncode != 0:
        outcome = f"the bot exited with status {child.returncode} when stopped"

    sends = [call for call in fake.calls[first_call:] if call.method.lower() == "sendmessage"]
    accepted = sorted(call.at for call in sends if call.http_status == 200)
    per_chat = Counter(message.chat_id for message in fake.messages[first_message:])
    first = min((call.at for call in sends), default=None)
    outbox, unsettled = await outbox_counts(workdir / "fanout.sqlite3")
    per_second: list[int] = []
    if accepted and first is not None:
        buckets = Counter(int(stamp - first) for stamp in accepted)
        per_second = [buckets[second] for second in range(int(accepted[-1] - first))]
    return RunResult(
        subscribers=count,
        delivered=sum(1 for user_id in user_ids(count) if per_chat[user_id] > 0),
        duplicated=sum(1 for user_id in user_ids(count) if per_chat[user_id] > 1),
        accepted=len(accepted),
        too_many_requests=fake.too_many_requests_sent - too_many_before,
        other_errors=sum(1 for call in sends if call.http_status not in (200, 429)),
        first_send=None if first is None else first - published,
        last_accepted=accepted[-1] - published if accepted else None,
        busiest_second=busiest_window(accepted),
        per_second=per_second,
        peak_rss=peak,
        idle_rss=idle_rss,
        bot_cores=bot_cpu / max(finished - started, 1e-9),
        fake_cores=fake_cpu / max(finished - started, 1e-9),
        wall=finished - published,
        outbox=outbox,
        unsettled=unsettled,
        outcome=outcome,
        fake_collections=pauses.collections,
    )


# ----------------------------------------------------------------------------- reporting


def report(results: list[RunResult], cap: int, bot_rate: float, *, judge_speed: bool) -> bool:
    """Print the figures; ``True`` if every run delivered exactly once per reader and left a
    settled outbox, and (``judge_speed``, with a cap) reached the throughput target."""
    count = results[0].subscribers
    limit = f"capped at {cap} msg/s (sliding 1 s)" if cap else "without a rate cap"
    print(
        f"Fan-out of issue #{ISSUE} to {count:,} Telegram readers: fake Bot API {limit}, "
        f"bot paced at {bot_rate:g} msg/s (DLW_TELEGRAM_MAX_RATE)"
    )
    header = (
        f"{'run':>3}{'accepted':>10}{'window s':>10}{'msg/s':>8}{'of cap':>8}{'429s':>6}"
        f"{'lost':>6}{'dup':>5}{'1st s':>7}{'last s':>8}{'peak MB':>9}{'bot CPU':>9}{'fake CPU':>10}"
    )
    print(header)
    correct = fast = True
    for index, r in enumerate(results, start=1):
        share = r.throughput / cap if cap else 0.0
        correct &= r.outcome == "complete" and not (r.lost or r.duplicated or r.unsettled)
        fast &= share >= target_share(cap)
        fast &= cap > SMALL_CAP or r.too_many_requests == 0
        print(
            f"{index:>3}{r.accepted:>10,}{r.window:>10.2f}{r.throughput:>8.1f}"
            f"{(f'{share:.1%}' if cap else '-'):>8}{r.too_many_requests:>6}{r.lost:>6}"
            f"{r.duplicated:>5}{_seconds(r.first_send):>7}{_seconds(r.last_accepted):>8}"
            f"{r.peak_rss / 2**20:>9.1f}{r.bot_cores:>9.2f}{r.fake_cores:>10.2f}"
        )
        seconds = r.per_second
        spread = (
            f"min {min(seconds)}, median {statistics.median(seconds):g}, max {max(seconds)}"
            if seconds
            else "no full second"
        )
        print(
            f"    {r.outcome}; other errors {r.other_errors}; busiest 1 s window "
            f"{r.busiest_second}; accepted per full second: {spread}; bot RSS idle "
            f"{r.idle_rss / 2**20:.1f} MB; fan-out {r.window:.1f} s of {r.wall:.1f} s after "
            f"publishing; the fake's garbage collections {r.fake_collections}; outbox: "
            f"{r.outbox}" + (f" ({r.unsettled} rows NOT settled as sent)" if r.unsettled else "")
        )
    median = statistics.median(r.throughput for r in results)
    if cap:
        wanted = f">= {target_share(cap):.0%}" + (", no 429" if cap <= SMALL_CAP else "")
        speed = f"median throughput {median / cap:.1%} of the cap (target {wanted})"
    else:
        speed = f"median throughput {median:.1f} msg/s"
    if cap and judge_speed:
        verdict = "targets met" if correct and fast else "targets NOT met"
    else:
        verdict = "delivery correct" if correct else "delivery NOT correct"
        verdict += " (throughput not judged)" if cap else ""
    print(
        f"{speed}; lost {sum(r.lost for r in results)}, duplicated "
        f"{sum(r.duplicated for r in results)}, outbox rows left unsettled "
        f"{sum(r.unsettled for r in results)}: {verdict}"
    )
    return correct and (fast or not (cap and judge_speed))


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def cancel_on_signals() -> None:
    """SIGINT/SIGTERM cancel the benchmark, so that the ``finally`` blocks stop the bot (a second
    signal gets Python's default behaviour back)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals = (signal.SIGINT, signal.SIGTERM)

    def cancel() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)
        task.cancel()

    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(sig, cancel)


async def main(args: Any) -> int:
    cancel_on_signals()
    count = QUICK_SUBSCRIBERS if args.quick else args.subscribers
    bot_rate = args.bot_rate if args.bot_rate is not None else (args.cap or 10_000)
    timeout = args.timeout if args.timeout is not None else 60 + 4 * count / (args.cap or 300)
    results = []
    for _ in range(args.runs):
        results.append(await run_once(count, args.cap, bot_rate, timeout, args.profile))
    return 0 if report(results, args.cap, bot_rate, judge_speed=not args.quick) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000, help="readers to fan out to")
    parser.add_argument(
        "--cap", type=int, default=300, help="the fake's limit in msg/s (0: no limit)"
    )
    parser.add_argument(
        "--bot-rate",
        type=float,
        help="DLW_TELEGRAM_MAX_RATE, the cap the bot paces under (default: the fake's cap)",
    )
    parser.add_argument("--runs", type=int, default=1, help="fan-outs, each on a fresh database")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_SUBSCRIBERS} readers, throughput shown but not judged",
    )
    parser.add_argument("--timeout", type=float, help="seconds to wait for the fan-out to finish")
    parser.add_argument("--profile", type=Path, help="run the bot under cProfile, stats to FILE")
    try:
        sys.exit(asyncio.run(main(parser.parse_args())))
    except asyncio.CancelledError:
        sys.exit(130)
