"""Ingest benchmark: bulk imports through the CLI's code path, the archive they make, and the
cost of polling an unchanged feed.

    python bench/ingest.py [--issues 500] [--runs 3] [--polls 20]

Generates ``--issues`` synthetic modern issues (tests/fakes/newsletter_issues.py: the shapes of
the real 416/417 in tests/data/real/) as plain text, Markdown and HTML pages, and imports each
set with ``dlw-bot import DIR`` in-process (bot.ingest.command.run_import: reading, parsing,
rendering, atomic writes) into a fresh content directory, ``--runs`` times. Then loads the
archive of those issues as the bot does at start (Archive.load: YAML, validation, the search
index and topic matching), and polls a feed of 20 issues on a local site until it is unchanged:
one conditional request answered 304, nothing downloaded.

Prints median seconds per format, peak memory (RSS high-water mark of this process after each
step, and the Python allocations' peak of one import under tracemalloc), archive load times and
the poll's cost. Targets: each format < 10 s for 500 issues; Archive.load < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import resource
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.archive import Archive, ArchiveHolder  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ingest.command import run_import  # noqa: E402
from bot.ingest.poller import FeedPoller, PollStatus  # noqa: E402
from bot.ingest.sources import http_client  # noqa: E402
from bot.ingest.workdir import init_content  # noqa: E402
from bot.reply import Reply  # noqa: E402
from bot.store import SQLiteStore  # noqa: E402
from tests.fakes.newsletter_issues import synthetic_issue  # noqa: E402
from tests.fakes.newsletter_site import NewsletterSite, rss_feed  # noqa: E402

FORMATS = {
    "text": (".txt", "text"),
    "markdown": (".md", "markdown"),
    "html": (".html", "page_html"),
}
FIRST = 1000


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate(target: Path, issues: int) -> dict[str, Path]:
    sets: dict[str, Path] = {}
    made = [synthetic_issue(n) for n in range(FIRST, FIRST + issues)]
    for name, (suffix, form) in FORMATS.items():
        directory = target / "sources" / name
        directory.mkdir(parents=True)
        for issue in made:
            (directory / f"issue-{issue.number}{suffix}").write_text(getattr(issue, form)())
        sets[name] = directory
    return sets


def import_once(sources: Path, content: Path) -> float:
    if content.exists():
        shutil.rmtree(content)
    init_content(content)
    settings = Settings(content_dir=content)
    sink = io.StringIO()
    started = time.perf_counter()
    code = run_import(settings, [str(sources)], stdout=sink, stderr=sink)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"import of {sources} failed:\n{sink.getvalue()[-3000:]}")
    return elapsed


def traced_peak(sources: Path, content: Path) -> float:
    tracemalloc.start()
    try:
        import_once(sources, content)
        return tracemalloc.get_traced_memory()[1] / 1024 / 1024
    finally:
        tracemalloc.stop()


def load_times(content: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        archive = Archive.load(content)
        times.append(time.perf_counter() - started)
        archive.close()
    return times


async def poll_cost(work: Path, polls: int) -> tuple[float, float, int, int]:
    """(first poll s, median unchanged poll s, bytes of the first, bytes of unchanged polls)."""
    content = work / "poll-content"
    init_content(content)
    async with NewsletterSite() as site:
        site.set_feed(
            rss_feed([synthetic_issue(n).feed_item() for n in range(FIRST + 19, FIRST - 1, -1)])
        )
        holder = await ArchiveHolder.open(content)
        store = await SQLiteStore.open(work / "poll.sqlite3")

        async def notify(reply: Reply) -> None:
            return None

        poller = FeedPoller(
            url=site.url("/feed"),
            content_dir=content,
            archive=holder,
            store=store,
            notify=notify,
        )
        client = http_client()  # one client for the poller's life, as FeedPoller.run keeps
        try:
            started = time.perf_counter()
            first = await poller.poll_once(client)
            first_s = time.perf_counter() - started
            assert first.status is PollStatus.FETCHED and len(first.arrivals) == 20, first
            times, sizes = [], []
            for _ in range(polls):
                started = time.perf_counter()
                outcome = await poller.poll_once(client)
                times.append(time.perf_counter() - started)
                assert outcome.status is PollStatus.NOT_MODIFIED, outcome
                sizes.append(outcome.downloaded)
            requests = len(site.requests_to("/feed"))
            assert requests == polls + 1, requests  # one request per poll
            return first_s, statistics.median(times), first.downloaded, max(sizes)
        finally:
            await client.aclose()
            await store.close()
            holder.archive.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--polls", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dlw-bench-ingest-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        sets = generate(work, args.issues)
        print(
            f"generated {args.issues} issues x {len(sets)} formats in "
            f"{time.perf_counter() - started:.1f} s\n"
        )
        rows = []
        content = work / "content"
        for name, sources in sets.items():
            times = [import_once(sources, content) for _ in range(args.runs)]
            peak = traced_peak(sources, content)
            rows.append((name, statistics.median(times), min(times), max(times), peak, rss_mb()))
        print(
            f"{'import ' + str(args.issues) + ' issues':<22}{'median s':>10}{'min s':>8}{'max s':>8}"
            f"{'per issue ms':>14}{'py peak MB':>12}{'RSS MB':>9}   target < 10 s"
        )
        for name, median, low, high, peak, rss in rows:
            verdict = "ok" if median < 10 else "SLOW"
            print(
                f"{name:<22}{median:>10.2f}{low:>8.2f}{high:>8.2f}"
                f"{median / args.issues * 1000:>14.1f}{peak:>12.1f}{rss:>9.0f}   {verdict}"
            )

        # The archive the last import left: 500 issues plus the two bundled ones.
        archive = Archive.load(content)
        issues, items = len(archive.issues), archive.item_count
        archive.close()
        times = load_times(content, max(args.runs, 5))
        verdict = "ok" if statistics.median(times) < 1 else "SLOW"
        print(
            f"\nArchive.load ({issues} issues, {items} items): median {statistics.median(times):.3f} s, "
            f"min {min(times):.3f}, max {max(times):.3f}   target < 1 s: {verdict}"
        )

        first_s, unchanged_s, first_bytes, unchanged_bytes = asyncio.run(
            poll_cost(work, args.polls)
        )
        print(
            f"\nfeed poll (20 items): first {first_s * 1000:.0f} ms ({first_bytes / 1024:.0f} KB, "
            f"20 issues written); unchanged: median {unchanged_s * 1000:.1f} ms over {args.polls} "
            f"polls, one conditional request each, 304, {unchanged_bytes} bytes downloaded"
        )
        print(f"peak RSS of the whole run: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
