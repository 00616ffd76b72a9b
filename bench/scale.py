"""Several dispatcher processes, one outbox, one cap: a weekly fan-out shared between processes.

    python bench/scale.py [--subscribers 30000] [--cap 1000] [--processes 1,2,4] [--runs 3]
                          [--database postgres|sqlite] [--postgres URL] [--no-kill]
    python bench/scale.py --quick          # smoke test: 2,000 readers, 1 and 2 processes

The fake Bot API (tests/fakes/telegram/) runs in this process on 127.0.0.1 and enforces one
global cap on sendMessage for the bot token: at most ``--cap`` accepted messages in any sliding
one-second window, 429 with an integer ``retry_after`` beyond. ``--subscribers`` readers follow
the ``pytorch`` topic (seeded in one statement), so publishing issue #206 plans exactly one
digest each. Then 1, 2 and 4 unmodified bots (``python -m bot run``, ``--roles dispatch`` for
all but the first where the entry point has roles) share the outbox and the send budget: the
database is a PostgreSQL 16 (``--postgres URL``, else a throwaway one from the ``pgserver``
wheel) or a SQLite file all processes open (``--database sqlite``). Every process is given the
cap as ``DLW_TELEGRAM_MAX_RATE``: they pace from one token bucket in the database.

Printed per configuration (medians of ``--runs`` where there are several):

* messages/s from the first sendMessage to the last accepted one, and that as a share of the
  cap; 429s answered (requests over the cap, each costing its process a second's pause); the
  busiest one-second window of accepted messages as the fake's limit counted them;
* lost (readers without their digest) and duplicated (readers with two), both must be 0;
* CPU of the bots (all processes together), of the fake (this process) and of PostgreSQL (its
  server processes; with SQLite the database works inside the bots), in cores (1.0 = one core
  busy all along);

then the same fan-out with two processes of which one is SIGKILLed once a third of the readers
have their digest, and started again as a supervisor would (its claims are taken back at once:
the pid is gone): lost must be 0, duplicates at most the rows it had claimed.

Last, two processes' throughput against one's, and the two ceilings any number of processes
meets on this machine: the cap over what one process reached, and the machine's cores over
one process's CPU per message (its bots, the fake and the database together), in messages a
second and as a multiple of one process. Where one process is near either, more processes
cannot go much faster here, however well they share the work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fanout  # noqa: E402
from bot.model import DeliveryStatus  # noqa: E402
from bot.store import open_store  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

ISSUE = fanout.ISSUE
QUICK_SUBSCRIBERS = 2000


@dataclass(frozen=True)
class Run:
    processes: int
    subscribers: int
    accepted: int
    too_many_requests: int
    window: float  # seconds from the first sendMessage to the last accepted one
    busiest_second: int
    lost: int
    duplicated: int
    unsettled: int  # outbox rows not 'sent' at the end
    bot_cores: float
    fake_cores: float
    db_cores: float | None
    killed: bool = False
    claimed_at_kill: int = 0
    outcome: str = "complete"

    @property
    def throughput(self) -> float:
        return (self.accepted - 1) / self.window if self.window > 0 else 0.0


# ----------------------------------------------------------------------------- the database


class Database:
    """Where each run's store lives: fresh for every run."""

    def __init__(self, kind: str, workdir: Path, url: str | None) -> None:
        self.kind = kind
        self.workdir = workdir
        self._server: Any = None
        self._url = url
        self._runs = 0

    def start(self) -> None:
        if self.kind == "postgres" and self._url is None:
            from pgserver.postgres_server import get_server

            self._server = get_server(Path(tempfile.mkdtemp(prefix="dlwpg-")), cleanup_mode="stop")
            self._url = self._server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()

    async def fresh(self) -> str:
        """A new empty, migrated database; its location for DLW_DATABASE."""
        self._runs += 1
        if self.kind == "sqlite":
            location = str(self.workdir / f"scale{self._runs}.sqlite3")
        else:
            from tests.conftest import create_database

            assert self._url is not None
            location = await create_database(self._url, f"dlw_scale_{os.getpid()}_{self._runs}")
        store = await open_store(location)  # migrates
        await store.close()
        return location

    async def seed(self, location: str, count: int) -> None:
        """``count`` Telegram readers following the topic, in one transaction."""
        if self.kind == "sqlite":
            await fanout.seed(Path(location), count)
            return
        import asyncpg

        connection = await asyncpg.connect(location)
        try:
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO subscribers (platform, user_id, active, created_at, updated_at)"
                    " SELECT 'telegram', ($1 + g)::text, TRUE, now(), now()"
                    " FROM generate_series(0, $2 - 1) AS g",
                    fanout.FIRST_USER_ID,
                    count,
                )
                await connection.execute(
                    "INSERT INTO subscriptions (subscriber_id, kind, value, created_at)"
                    " SELECT id, 'topic', $1, now() FROM subscribers WHERE platform = 'telegram'",
                    fanout.TOPIC,
                )
        finally:
            await connection.close()

    def server_processes(self) -> list[psutil.Process]:
        """PostgreSQL's processes (the postmaster and its backends), for their CPU."""
        if self._server is None:
            return []
        with contextlib.suppress(psutil.Error):
            postmaster = psutil.Process(self._server.get_pid())
            return [postmaster, *postmaster.children(recursive=True)]
        return []


async def outbox_state(location: str) -> tuple[int, int]:
    """(rows not 'sent', rows 'claimed') in the outbox."""
    store = await open_store(location)
    try:
        counts = await store.outbox_counts()
    finally:
        await store.close()
    by_status: Counter[DeliveryStatus] = Counter()
    for statuses in counts.values():
        by_status.update(statuses)
    unsettled = sum(n for status, n in by_status.items() if status != DeliveryStatus.SENT)
    return unsettled, by_status[DeliveryStatus.CLAIMED]


# ----------------------------------------------------------------------------- the bots


def has_roles() -> bool:
    """Whether ``dlw-bot run`` takes ``--roles`` (the operations work adds it)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        check=False,
    )
    return "--roles" in done.stdout


class Bots:
    """The dispatcher processes of one run."""

    def __init__(self, fake: FakeTelegram, workdir: Path, location: str, cap: int) -> None:
        self.env = fanout.bot_environment(fake, workdir, cap) | {"DLW_DATABASE": location}
        self.workdir = workdir
        self.roles = has_roles()
        self.children: list[asyncio.subprocess.Process] = []
        self.cpu: dict[int, float] = {}  # pid -> CPU seconds at the start of the fan-out

    async def start(self, index: int) -> asyncio.subprocess.Process:
        command = [sys.executable, "-m", "bot", "run"]
        if self.roles and index > 0:
            command += ["--roles", "dispatch"]
        with (self.workdir / f"bot{index}.log").open("ab") as log:
            child = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self.children.append(child)
        return child

    def mark_cpu(self) -> None:
        for child in self.children:
            if child.returncode is None:
                with contextlib.suppress(psutil.Error):
                    self.cpu[child.pid] = fanout.cpu_seconds(psutil.Process(child.pid))

    def cpu_since_mark(self) -> float:
        total = 0.0
        for child in self.children:
            if child.returncode is None:
                with contextlib.suppress(psutil.Error):
                    used = fanout.cpu_seconds(psutil.Process(child.pid))
                    total += used - self.cpu.get(child.pid, 0.0)
        return total

    async def stop(self) -> None:
        await asyncio.gather(*(fanout.stop_child(child) for child in self.children))

    def tail(self) -> str:
        lines: list[str] = []
        for log in sorted(self.workdir.glob("bot*.log")):
            lines += [f"--- {log.name}", *log.read_text(errors="replace").splitlines()[-8:]]
        return "\n".join(lines)


def db_cpu(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            total += fanout.cpu_seconds(process)
    return total


# ----------------------------------------------------------------------------- one run


async def run_once(
    database: Database, count: int, cap: int, processes: int, patience: float, *, kill: bool
) -> Run:
    workdir = Path(tempfile.mkdtemp(prefix="dlw-scale-"))
    try:
        location = await database.fresh()
        await database.seed(location, count)
        async with FakeTelegram() as fake:
            for user_id in fanout.user_ids(count):
                fake.add_private_chat(user_id, "Reader")
            fake.rate_limit(cap)
            bots = Bots(fake, workdir, location, cap)
            pauses = fanout.HarnessPauses.start()  # no garbage collection in the fake
            try:
                return await measure(
                    fake, bots, database, location, count, cap, processes, patience, kill
                )
            except Exception:
                print(bots.tail(), file=sys.stderr)
                raise
            finally:
                pauses.stop()
                await bots.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def measure(
    fake: FakeTelegram,
    bots: Bots,
    database: Database,
    location: str,
    count: int,
    cap: int,
    processes: int,
    patience: float,
    kill: bool,
) -> Run:
    loop = asyncio.get_running_loop()
    for index in range(processes):
        await bots.start(index)
    # Every bot is up once each has asked for its commands menu (setMyCommands x3 each).
    await fake.wait_for(
        lambda: len(fake.calls_to("setMyCommands")) >= 3 * processes,
        timeout=90,
        what="every bot started",
    )
    first_call = len(fake.calls)
    first_message = len(fake.messages)
    first_counted = len(fake.rate_counted)
    reached = fanout.Reached(fake, count)
    await fanout.publish(location, count)
    bots.mark_cpu()
    fake_cpu = time.process_time()
    pg = database.server_processes()
    pg_cpu = db_cpu(pg)
    started = loop.time()
    claimed_at_kill = 0
    outcome = "complete"
    try:
        if kill:
            victim = bots.children[-1]
            await fake.wait_for(
                lambda: reached() or len(reached.reached) >= count // 3, timeout=patience
            )
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            _, claimed_at_kill = await outbox_state(location)
            bots.children.remove(victim)
            await bots.start(processes)  # a supervisor starts it again
        await fake.wait_for(reached, timeout=patience, what=f"a digest to each of {count} readers")
    except AssertionError as exc:
        outcome = f"incomplete: {str(exc).splitlines()[0]}"
    finished = loop.time()
    bot_cpu = bots.cpu_since_mark()
    fake_cpu = time.process_time() - fake_cpu
    db_cores = (db_cpu(pg) - pg_cpu) / (finished - started) if pg else None
    await bots.stop()

    sends = [c for c in fake.calls[first_call:] if c.method.lower() == "sendmessage"]
    accepted = sorted(c.at for c in sends if c.http_status == 200)
    first = min((c.at for c in sends), default=None)
    per_chat = Counter(m.chat_id for m in fake.messages[first_message:])
    unsettled, _ = await outbox_state(location)
    users = fanout.user_ids(count)
    return Run(
        processes=processes,
        subscribers=count,
        accepted=len(accepted),
        too_many_requests=sum(1 for c in sends if c.http_status == 429),
        window=(accepted[-1] - first) if accepted and first is not None else 0.0,
        busiest_second=fanout.busiest_window(fake.rate_counted[first_counted:]),
        lost=sum(1 for u in users if per_chat[u] == 0),
        duplicated=sum(1 for u in users if per_chat[u] > 1),
        unsettled=unsettled,
        bot_cores=bot_cpu / (finished - started),
        fake_cores=fake_cpu / (finished - started),
        db_cores=db_cores,
        killed=kill,
        claimed_at_kill=claimed_at_kill,
        outcome=outcome,
    )


# ----------------------------------------------------------------------------- reporting


def row(label: str, runs: list[Run], cap: int) -> str:
    def median(values: Sequence[float]) -> float:
        return statistics.median(values)

    tps = median([r.throughput for r in runs])
    db = [r.db_cores for r in runs if r.db_cores is not None]
    return (
        f"{label:<22}{tps:>8.0f}{tps / cap:>8.1%}{median([r.too_many_requests for r in runs]):>6.0f}"
        f"{max(r.busiest_second for r in runs):>9}{sum(r.lost for r in runs):>6}"
        f"{sum(r.duplicated for r in runs):>5}{median([r.bot_cores for r in runs]):>9.2f}"
        f"{median([r.fake_cores for r in runs]):>10.2f}"
        + (f"{median(db):>8.2f}" if db else f"{'-':>8}")
    )


def report(results: dict[str, list[Run]], cap: int, count: int, kind: str, runs: int) -> bool:
    print(
        f"Fan-out of issue #{ISSUE} to {count:,} Telegram readers; fake Bot API capped at {cap} "
        f"msg/s (sliding 1 s) for the token; {kind} outbox; medians of {runs} run(s)"
    )
    print(
        f"{'':<22}{'msg/s':>8}{'of cap':>8}{'429s':>6}{'busiest':>9}{'lost':>6}{'dup':>5}"
        f"{'bots CPU':>9}{'fake CPU':>10}{'DB CPU':>8}"
    )
    ok = True
    for label, group in results.items():
        print(row(label, group, cap))
        for r in group:
            ok &= r.outcome == "complete" and r.lost == 0 and r.busiest_second <= cap
            ok &= r.unsettled == 0
            if r.killed:
                ok &= r.duplicated <= r.claimed_at_kill
                print(
                    f"    killed mid-run: {r.claimed_at_kill} rows claimed at the kill, "
                    f"{r.duplicated} duplicated, {r.lost} lost; {r.outcome}"
                )
            else:
                ok &= r.duplicated == 0
                if r.outcome != "complete":
                    print(f"    {r.outcome}")
    single = results.get("1 process", [])
    two = [r.throughput for r in results.get("2 processes", [])]
    if single and two:
        one = statistics.median(r.throughput for r in single)
        print(f"2 processes / 1 process: {statistics.median(two) / one:.2f}x")
        # What any number of processes could reach here: the cap, and the cores the bots, the
        # fake and the database share (at one process's CPU cost per message).
        cores = psutil.cpu_count() or 1
        per_message = statistics.median(
            (r.bot_cores + r.fake_cores + (r.db_cores or 0.0)) / r.throughput
            for r in single
            if r.throughput > 0
        )
        print(
            f"ceilings on this machine: the cap is {cap / one:.2f}x one process; {cores} cores "
            f"at one process's {per_message * 1000:.2f} ms of CPU per message (bots + fake + "
            f"database) are {cores / per_message:.0f} msg/s, {cores / per_message / one:.2f}x"
        )
    print("delivery correct, never over the cap" if ok else "targets NOT met")
    return ok


async def main(args: argparse.Namespace) -> int:
    fanout.cancel_on_signals()
    count = QUICK_SUBSCRIBERS if args.quick else args.subscribers
    counts = [1, 2] if args.quick else [int(n) for n in args.processes.split(",")]
    runs = 1 if args.quick else args.runs
    patience = args.timeout or 120 + 6 * count / args.cap
    workdir = Path(tempfile.mkdtemp(prefix="dlw-scale-db-"))
    database = Database(args.database, workdir, args.postgres)
    database.start()
    results: dict[str, list[Run]] = {}
    try:
        for processes in counts:
            label = f"{processes} process" + ("es" if processes > 1 else "")
            results[label] = [
                await run_once(database, count, args.cap, processes, patience, kill=False)
                for _ in range(runs)
            ]
        if not args.no_kill:
            results["2, one SIGKILLed"] = [
                await run_once(database, count, args.cap, 2, patience, kill=True)
            ]
    finally:
        database.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report(results, args.cap, count, args.database, runs) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=30_000)
    parser.add_argument("--cap", type=int, default=1000, help="the fake's cap in msg/s")
    parser.add_argument("--processes", default="1,2,4", help="dispatcher processes per run")
    parser.add_argument("--runs", type=int, default=1, help="runs per configuration")
    parser.add_argument("--database", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--postgres", default=os.environ.get("DLW_TEST_POSTGRES_URL"))
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL run")
    parser.add_argument("--quick", action="store_true", help="2,000 readers, 1 and 2 processes")
    parser.add_argument("--timeout", type=float, help="seconds a fan-out may take")
    try:
        sys.exit(asyncio.run(main(parser.parse_args())))
    except asyncio.CancelledError:
        sys.exit(130)
