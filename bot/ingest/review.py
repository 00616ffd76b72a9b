"""``/approve [N]`` in chat: list the drafts, or move one into the archive and serve it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.ingest.drafts import DraftError, approve_draft, list_drafts
from bot.ingest.write import ContentNotWritable, check_writable
from bot.reply import Entry, Reply, Tone

if TYPE_CHECKING:
    from bot.archive import ArchiveHolder
    from bot.config import Settings

__all__ = ["approve_reply"]


async def approve_reply(settings: Settings, archive: ArchiveHolder, number: int | None) -> Reply:
    content = settings.content_dir
    if number is None:
        drafts = await asyncio.to_thread(list_drafts, content)
        if not drafts:
            return Reply.text("No drafts are waiting for approval.", ephemeral=True)
        entries = tuple(
            Entry(
                title=f"Issue #{d.number}",
                summary=(
                    f"{d.issue.title}: {len(d.issue.sections)} sections, {len(d.issue.items)} items"
                    if d.issue
                    else "not a valid issue file: fix or delete it"
                ),
            )
            for d in drafts
        )
        return Reply(
            blocks=entries,
            title=f"Drafts waiting for approval ({len(drafts)})",
            ephemeral=True,
            footer="/approve N moves one into the archive.",
        )
    try:
        check_writable(content, explicit="content_dir" in settings.model_fields_set)
        await asyncio.to_thread(approve_draft, content, number)
    except (ContentNotWritable, DraftError) as exc:
        return Reply.error(str(exc))
    outcome = await archive.reload()  # serve it now rather than when the watcher notices
    if outcome.errors:
        return Reply.error(
            f"Issue #{number} was moved into the archive, but the archive did not reload: "
            + "; ".join(str(e) for e in outcome.errors[:3])
        )
    return Reply.text(
        f"Approved: issue #{number} is in the archive now and goes out at the next weekly "
        "slot (or /publish).",
        tone=Tone.SUCCESS,
        ephemeral=True,
    )
