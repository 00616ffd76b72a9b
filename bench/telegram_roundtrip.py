"""Telegram round trip: how long from an update being served to the reply arriving, next to a bare
python-telegram-bot echo bot on the same fake Bot API server.

    python bench/telegram_roundtrip.py [--runs 300] [--warmup 30]

The fake Bot API (tests/fakes/telegram/) runs in this process on 127.0.0.1; each bot runs
in a child process of its own, as it would in production, so the fake's work (parsing every
message's HTML like Telegram) does not share the bot's event loop. Commands are sent one after
another by one reader, so this is latency, not throughput: each update is queued while the bot's
long poll is waiting, so the fake serves it at once, and the fake stamps each request of the bot
as it arrives. For a reply of several messages the first and the last arrival are reported.

The echo bot answers every text with one ``reply_text`` of the same text: python-telegram-bot's
own floor for "update in, message out". dlw-bot answers with its real adapter: context, command
registry, archive, HTML rendering, the AIORateLimiter-based limiter (its overall rate raised with
``DLW_TELEGRAM_MAX_RATE``, as one would against a test server: 30 messages/s would make this a
benchmark of the limiter) and concurrent update handling. Target: median within 1.5x of the echo
bot for the first message of each reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters  # noqa: E402

from adapters.telegram import TelegramAdapter, TelegramSettings, render_html  # noqa: E402
from bot.app import App  # noqa: E402
from bot.commands import Context  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.fakes.telegram import FakeTelegram, RecordedCall  # noqa: E402

READER = 4242
COMMANDS = ("/latest", "/search pytorch")
TARGET = 1.5


# ----------------------------------------------------------------------------- the bots


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None and update.effective_message.text:
        await update.effective_message.reply_text(update.effective_message.text)


async def serve_echo(api_url: str, token: str, stop: asyncio.Event) -> None:
    application = ApplicationBuilder().token(token).base_url(api_url).job_queue(None).build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=10)
        await stop.wait()
        await application.updater.stop()
        await application.stop()


async def serve_dlw(api_url: str, token: str, stop: asyncio.Event) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dlw-bench-"))
    try:
        async with App.create(bench_settings(workdir)) as app:
            telegram = TelegramSettings(token=SecretStr(token), api_url=api_url, max_rate=100_000)
            adapter = TelegramAdapter(app.adapter_services, telegram, poll_timeout=10)
            await adapter.start()
            await stop.wait()
            await adapter.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def bench_settings(workdir: Path) -> Settings:
    return Settings(
        content_dir=ROOT / "content",
        database=workdir / "bench.sqlite3",
        # One reader sends every command back to back: the per-reader budget (DLW_COMMAND_RATE)
        # would make this a benchmark of the throttle, as the raised max_rate does for the limiter.
        command_rate=0,
    )


async def serve(kind: str, api_url: str, token: str) -> None:
    """Child process: run one bot until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await (serve_echo if kind == "echo" else serve_dlw)(api_url, token, stop)


# ----------------------------------------------------------------------------- measuring


async def round_trip(fake: FakeTelegram, line: str, per_reply: int) -> tuple[float, float]:
    """Milliseconds from serving one update to the arrival of the first and of the last of the
    ``per_reply`` messages of its reply (the fake stamps every request as it arrives)."""
    await fake.wait_for(lambda: fake.active_long_polls == 1, what="the bot's long poll")
    seen = len(fake.calls)
    served = asyncio.get_running_loop().time()  # the long poll is waiting: queuing serves it
    fake.send_text(READER, line)

    def arrived() -> list[RecordedCall]:
        sent = [c for c in fake.calls[seen:] if c.method == "sendMessage" and c.ok]
        return sent if len(sent) >= per_reply else []

    sends = await fake.wait_for(arrived)
    return (sends[0].at - served) * 1000, (sends[per_reply - 1].at - served) * 1000


@contextlib.asynccontextmanager
async def running(kind: str) -> AsyncIterator[FakeTelegram]:
    """A fake Bot API with one reader, and ``kind``'s bot polling it from a child process."""
    async with FakeTelegram() as fake:
        fake.add_private_chat(READER, "Reader")
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--api-url",
            fake.base_url,
            "--token",
            fake.token,
        )
        try:
            await fake.wait_for(lambda: fake.active_long_polls == 1, timeout=30, what=kind)
            yield fake
        finally:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
            await child.wait()


async def reply_sizes() -> dict[str, int]:
    """How many messages dlw-bot's reply to each command has (rendered exactly as it sends)."""
    workdir = Path(tempfile.mkdtemp(prefix="dlw-bench-"))
    try:
        async with App.create(bench_settings(workdir)) as app:
            ctx = Context(services=app, platform="telegram", user_id="1", chat_id="1")
            sizes = {}
            for line in COMMANDS:
                reply = await app.registry.dispatch_text(ctx, line)
                assert reply is not None
                sizes[line] = len(render_html(reply))
            return sizes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


async def main(runs: int, warmup: int) -> int:
    sizes = await reply_sizes()
    echo_ms: dict[str, list[float]] = {line: [] for line in COMMANDS}
    dlw_ms: dict[str, list[tuple[float, float]]] = {line: [] for line in COMMANDS}
    async with running("echo") as echo_fake, running("dlw") as dlw_fake:
        # Alternate the two bots command by command, so drift (CPU frequency, other load)
        # affects both alike.
        for index in range(warmup + runs):
            for line in COMMANDS:
                echo_first, _ = await round_trip(echo_fake, line, 1)
                dlw = await round_trip(dlw_fake, line, sizes[line])
                if index >= warmup:
                    echo_ms[line].append(echo_first)
                    dlw_ms[line].append(dlw)

    print(
        f"Telegram round trip, fake Bot API on 127.0.0.1: {runs} commands each (+{warmup} warm-up)"
    )
    print(f"{'reply (dlw-bot)':<36}{'median ms':>10}{'p90 ms':>9}{'echo median':>13}{'ratio':>8}")
    worst = 0.0
    for line in COMMANDS:
        echo_median = statistics.median(echo_ms[line])
        rows = [(f"{line}: first message", [first for first, _ in dlw_ms[line]])]
        if sizes[line] > 1:
            rows.append((f"{line}: all {sizes[line]} messages", [last for _, last in dlw_ms[line]]))
        for label, values in rows:
            ratio = statistics.median(values) / echo_median
            if label.endswith("first message"):
                worst = max(worst, ratio)
            print(
                f"{label:<36}{statistics.median(values):>10.2f}{p90(values):>9.2f}"
                f"{echo_median:>13.2f}{ratio:>7.2f}x"
            )
    verdict = "within" if worst <= TARGET else "NOT within"
    print(f"median ratio to the echo bot: {worst:.2f}x, {verdict} the {TARGET}x target")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="commands per measured case")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured commands first")
    parser.add_argument("--serve", choices=("echo", "dlw"), help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args: Any = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.api_url, args.token))
        sys.exit(0)
    sys.exit(asyncio.run(main(args.runs, args.warmup)))
