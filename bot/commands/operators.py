"""Operators' commands (``DLW_ADMINS``): preview, publish, approve a draft, the publishing status."""

from __future__ import annotations

from bot.commands.params import Param, ParamType
from bot.commands.reading import no_issue
from bot.commands.registry import Command, Context, Permission, command
from bot.publishing import publishing_status
from bot.reply import Reply, Tone
from bot.views import headline_topics, preview_reply

__all__ = ["COMMANDS"]


@command(
    "preview",
    "Preview an issue as channels will get it (operators)",
    "Shows the issue exactly as registered channels will receive it (the newest, or the one "
    "given), then how many channel posts and digests publishing it would send.",
    Param(
        "issue",
        "The issue number (default: the newest).",
        ParamType.INTEGER,
        required=False,
        min_value=1,
    ),
    permission=Permission.OPERATOR,
    examples=("/preview", "/preview 206"),
)
async def preview(ctx: Context, issue: int | None) -> Reply:
    archive = ctx.services.archive.archive
    found = archive.issue(issue) if issue is not None else archive.latest()
    if found is None:
        return no_issue(ctx, issue) if issue is not None else Reply.error("The archive is empty.")
    preview = await ctx.services.publisher.preview(found)
    topics = headline_topics(archive, found)
    return preview_reply(found, preview.plan.describe(), preview.published, topics)


@command(
    "publish",
    "Publish an issue now (operators)",
    "Publishes the newest issue not yet published, or the one given: a post to every "
    "registered channel and a digest to every reader with matching topics. Publishing an "
    "issue twice sends nothing the second time.",
    Param(
        "issue",
        "The issue number (default: the newest unpublished).",
        ParamType.INTEGER,
        required=False,
        min_value=1,
    ),
    permission=Permission.OPERATOR,
    examples=("/publish", "/publish 206"),
)
async def publish(ctx: Context, issue: int | None) -> Reply:
    result = await ctx.services.publisher.publish(
        issue, trigger=f"operator {ctx.platform}:{ctx.user_id}"
    )
    return Reply.text(
        result.message, tone=Tone.SUCCESS if result.created else Tone.INFO, ephemeral=True
    )


@command(
    "status",
    "Publishing status and delivery counts (operators)",
    "Shows the schedule, the audience, recent publications and how many deliveries are "
    "pending, sent, failed or gone on each platform.",
    permission=Permission.OPERATOR,
)
async def status(ctx: Context) -> Reply:
    return await publishing_status(
        ctx.services.store,
        ctx.services.settings,
        local_platforms=ctx.services.publisher.local_platforms,
    )


@command(
    "approve",
    "Approve a draft from the feed (operators)",
    "With DLW_FEED_REVIEW=on new issues from the feed wait as drafts, never served or "
    "published. /approve N moves draft N into the archive (the weekly slot then publishes "
    "it); /approve alone lists the drafts.",
    Param(
        "issue",
        "The draft's issue number (default: list the drafts).",
        ParamType.INTEGER,
        required=False,
        min_value=1,
    ),
    permission=Permission.OPERATOR,
    examples=("/approve", "/approve 418"),
)
async def approve(ctx: Context, issue: int | None) -> Reply:
    from bot.ingest.review import approve_reply

    return await approve_reply(ctx.services.settings, ctx.services.archive, issue)


COMMANDS: tuple[Command, ...] = (preview, publish, approve, status)
