"""The outbox's own cost per message, on each backend: claiming and settling in batches against
row by row (issue 14: ~4.9 store calls per message used to cost more than the SQL itself).

    python bench/store_batches.py [--rows 5000] [--batch 100] [--postgres URL]

Without ``--postgres`` (or ``DLW_TEST_POSTGRES_URL``) a throwaway PostgreSQL 16 is started from
the ``pgserver`` wheel (the test extra). Each run gets a fresh database with one publication of
``--rows`` digests, then drains it the way a dispatcher does: ``claim_deliveries(batch)`` and
either one ``settle_many`` per batch or one ``mark_sent`` per row. Printed per backend and mode:
messages per second through the store alone (no platform), and store calls per message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.model import DeliveryKind, PlannedDelivery, Settlement, Target
from bot.store import Store, open_store


async def drain(store: Store, batch: int, *, batched: bool) -> tuple[int, int]:
    """Claim and settle everything due; returns (messages, store calls)."""
    messages = calls = 0
    while rows := await store.claim_deliveries("tg", "bench", batch, process="bench"):
        calls += 1
        if batched:
            await store.settle_many([Settlement(d, "sent", message_ids=("m",)) for d in rows])
            calls += 1
        else:
            for d in rows:
                await store.mark_sent(d, ["m"])
            calls += len(rows)
        messages += len(rows)
    return messages, calls + 1  # the last, empty claim


async def run(location: str | Path, rows: int, batch: int, *, batched: bool) -> tuple[float, float]:
    store = await open_store(location)
    try:
        planned = [
            PlannedDelivery(Target.user("tg", f"r{i}"), DeliveryKind.DIGEST) for i in range(rows)
        ]
        await store.create_publication(206, "bench", planned)
        start = time.perf_counter()
        messages, calls = await drain(store, batch, batched=batched)
        elapsed = time.perf_counter() - start
    finally:
        await store.close()
    assert messages == rows
    return messages / elapsed, calls / messages


async def fresh_postgres(server: str, name: str) -> str:
    from tests.conftest import create_database

    return await create_database(server, name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--postgres", default=os.environ.get("DLW_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dlwbench-"))
    server = None
    try:
        url = args.postgres
        if url is None:
            from pgserver.postgres_server import get_server

            server = get_server(work / "pg", cleanup_mode="stop")
            url = server.get_uri()
        print(f"{args.rows} digests, claimed {args.batch} at a time; store only, no platform")
        print(f"{'backend':<10} {'settles':<12} {'msg/s':>9} {'calls/msg':>10}")
        n = 0
        for backend in ("sqlite", "postgres"):
            for batched in (True, False):
                n += 1
                if backend == "sqlite":
                    location: str | Path = work / f"bench{n}.sqlite3"
                else:
                    location = await fresh_postgres(url, f"dlw_bench_{n}")
                rate, calls = await run(location, args.rows, args.batch, batched=batched)
                mode = "settle_many" if batched else "per row"
                print(f"{backend:<10} {mode:<12} {rate:>9.0f} {calls:>10.2f}")
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
