"""A bulk import into the directory a running bot watches: a few hundred new files, one reload.

The import writes for about two seconds, files a few milliseconds apart: far longer than the
watcher's 300 ms quiet step, so a watcher reloading per file or per step would reload many times."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from bot.archive import ArchiveHolder, ReloadOutcome
from tests.conftest import REPO
from tests.fakes.newsletter_issues import synthetic_issue

BULK = 200


async def test_a_bulk_import_of_new_files_is_one_reload(content_dir: Path, tmp_path: Path) -> None:
    batch = tmp_path / "back-catalogue"
    batch.mkdir()
    for number in range(1000, 1000 + BULK):
        (batch / f"issue-{number}.md").write_text(synthetic_issue(number).markdown())

    holder = await ArchiveHolder.open(content_dir)
    present = len(holder.archive.issues)
    outcomes: list[ReloadOutcome] = []
    changed = asyncio.Condition()
    stop = asyncio.Event()

    async def watch() -> None:
        async for outcome in holder.watch(stop=stop):
            async with changed:
                outcomes.append(outcome)
                changed.notify_all()

    task = asyncio.create_task(watch())
    try:
        # The watcher arms asynchronously with no "ready" signal: touch topics.yaml until the
        # first reload comes back; only then start the import.
        topics = content_dir / "topics.yaml"
        text = topics.read_text(encoding="utf-8")
        for _ in range(40):
            topics.write_text(text, encoding="utf-8")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5), changed:
                    await changed.wait_for(lambda: bool(outcomes))
                break
        assert outcomes, "the watcher never armed"
        armed = len(outcomes)

        environment = {k: v for k, v in os.environ.items() if not k.startswith("DLW_")}
        environment |= {"DLW_CONTENT_DIR": str(content_dir), "PYTHONPATH": str(REPO)}
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "import", str(batch)],
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"{BULK} imported, 0 unchanged, 0 failed" in result.stderr

        async with asyncio.timeout(30), changed:
            await changed.wait_for(lambda: len(holder.archive.issues) == present + BULK)
        after = outcomes[armed:]
        assert len(after) == 1, [len(o.added) for o in after]  # one reload, not one per file
        assert after[0].added == tuple(range(1000, 1000 + BULK))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        holder.archive.close()
