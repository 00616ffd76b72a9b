"""Reading the newsletter: the tour, help, issues, sections, search, and inline stories."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.archive import MAX_QUERY_CHARS, QueryError
from bot.commands import subscriptions
from bot.commands.params import Param, ParamType, Suggest
from bot.commands.registry import ChatKind, Command, Context, Permission, command
from bot.content.models import Issue
from bot.deeplink import (
    MAX_PAYLOAD_CHARS,
    Follow,
    Manage,
    PayloadError,
    command_for,
    parse_payload,
)
from bot.reply import Action, Block, Continuation, Entry, Paragraph, Reply, Tone, plural, shorten
from bot.views import (
    EntryPage,
    follow_actions,
    headline_topics,
    inline_entries,
    issue_preview,
    issue_reply,
    search_reply,
    section_reply,
)

__all__ = ["COMMANDS", "ISSUE_FOOTER", "inline_stories", "latest_or_error", "no_issue"]

ISSUE_FOOTER = "Read a section in full with /section papers; search everything with /search."


def issue_footer(ctx: Context, issue: Issue) -> str:
    """The footer under an issue: a /section hint that opens *this* issue's section (an older
    issue's number is part of the command, else /section would show the latest's)."""
    archive = ctx.services.archive.archive
    latest = archive.latest()
    if latest is not None and latest.number == issue.number:
        return ISSUE_FOOTER
    choices = archive.section_choices(issue)
    name = "papers" if archive.section(issue, "papers") else (choices[0] if choices else None)
    if name is None:
        return "Search everything with /search."
    return (
        f"Read a section in full with /section {name} {issue.number}; "
        "search everything with /search."
    )


def no_issue(ctx: Context, number: int) -> Reply:
    """The reply to an issue number the archive does not have."""
    numbers = ctx.services.archive.archive.numbers
    if not numbers:
        return Reply.error("The archive is empty: no issues have been loaded yet.")
    span = f"#{numbers[0]}–#{numbers[-1]}" if len(numbers) > 1 else f"#{numbers[0]}"
    return Reply.error(
        f"There's no issue #{number:,} in the archive ({plural(len(numbers), 'issue')}: {span}).",
        hint="See /issues for the list, or /latest for the newest.",
    )


def latest_or_error(ctx: Context) -> Issue | Reply:
    """The newest issue, or the reply saying the archive is empty."""
    issue = ctx.services.archive.archive.latest()
    return (
        issue
        if issue is not None
        else Reply.error("The archive is empty: no issues have been loaded yet.")
    )


@command(
    "start",
    "Welcome and a quick tour",
    "Says hello and shows what the bot can do. The bot's buttons in channels open this chat "
    "with a start link (/start follow-pytorch) that asks you to confirm before following.",
    Param(
        "link",
        "What a start link asks for, e.g. follow-pytorch (buttons fill it in).",
        required=False,
        # Longer than Telegram allows, so an oversized link is told so rather than cut.
        max_length=4 * MAX_PAYLOAD_CHARS,
    ),
)
async def start(ctx: Context, link: str | None) -> Reply:
    if link:
        return await _start_link(ctx, link)
    archive = ctx.services.archive.archive
    latest = archive.latest()
    blocks: list[Block] = [
        Paragraph(
            "Deep Learning Weekly, right here: read the latest issue, search the archive, and get the stories on topics you follow."
        ),
    ]
    if latest:
        blocks.append(
            Paragraph(f"Latest: Issue #{latest.number} — {shorten(latest.headline, 200)}")
        )
    blocks.append(
        Paragraph(
            "Try /latest, /section papers, /search pytorch or /subscribe pytorch. /help lists everything.",
            muted=True,
        )
    )
    return Reply(title="Welcome to Deep Learning Weekly", blocks=tuple(blocks), tone=Tone.SUCCESS)


async def _start_link(ctx: Context, link: str) -> Reply:
    """``/start <payload>`` from a button's deep link: following a topic waits for the reader's
    confirmation (a tap on a channel post is no promise to get direct messages); the topic
    list and the reader's subscriptions are shown at once."""
    try:
        wanted = parse_payload(link.strip())
    except PayloadError as exc:
        return Reply.error(str(exc), hint="Send /topics to see what you can follow.")
    if isinstance(wanted, Follow) and wanted.topic is not None:
        topic = ctx.services.archive.archive.taxonomy.get(wanted.topic)
        if topic is None:
            return Reply.error(
                f"That start link names the topic “{wanted.topic}”, which the bot doesn't "
                "have (any more).",
                hint="Send /topics to see the topics you can follow.",
            )
        mine = await ctx.services.store.subscriptions(ctx.platform, ctx.user_id)
        if any(s.value == topic.id for s in mine):
            return Reply.text(
                f"You already follow {topic.label}. /subscriptions lists what you follow.",
                ephemeral=True,
            )
        count = plural(len(ctx.services.archive.archive.stories_for_topic(topic.id)), "item")
        return Reply(
            title=f"Follow {topic.label}?",
            blocks=(
                *(
                    (  # the shell is never published to: say so rather than promise
                        Paragraph(f"The archive has {count} on {topic.label} so far."),
                        subscriptions.where_digests_go(ctx),
                    )
                    if ctx.platform in ctx.services.publisher.local_platforms
                    else (
                        Paragraph(
                            f"When a new issue has stories on {topic.label}, I'll send them to "
                            f"you here. The archive has {count} on it so far."
                        ),
                    )
                ),
                Paragraph(
                    "Stop any time with /unsubscribe or the button under a digest.", muted=True
                ),
            ),
            actions=(Action(f"Follow {topic.label}", command=command_for(wanted)),),
            ephemeral=True,
        )
    shown = subscriptions.subscriptions if isinstance(wanted, Manage) else subscriptions.topics
    return await shown.handler(ctx)


@command(
    "help",
    "List the commands, or explain one",
    "Without an argument lists every command; /help search explains /search.",
    Param("command", "The command to explain, e.g. search.", required=False),
    examples=("/help search",),
)
async def help_(ctx: Context, command: str | None) -> Reply:
    visible = [
        c
        for c in ctx.services.registry.commands.values()
        if c.permission is not Permission.OPERATOR or ctx.is_operator
    ]
    if command:
        name = command.lstrip("/").casefold()
        found = ctx.services.registry.commands.get(name)
        if found is None or found not in visible:
            return ctx.services.registry.unknown(name)
        blocks: list[Block] = [
            Paragraph(found.help),
            Paragraph(f"Usage: {found.usage}", muted=True),
        ]
        for p in found.params:
            blocks.append(Paragraph(f"{p.name}: {p.description}", muted=True))
        if found.examples:
            blocks.append(Paragraph("Examples: " + ", ".join(found.examples), muted=True))
        return Reply(title=f"/{found.name}", blocks=tuple(blocks))
    entries = [Entry(title=c.usage, summary=c.description) for c in visible]
    return Reply(
        title="Commands",
        blocks=(*entries, Paragraph("Details: /help COMMAND, e.g. /help search", muted=True)),
    )


@command(
    "latest",
    "The newest issue",
    "Shows the newest issue: its headline topics and every section's items.",
)
async def latest(ctx: Context) -> Reply:
    issue = latest_or_error(ctx)
    if isinstance(issue, Reply):
        return issue
    # Follow buttons as under the channel post: run in place in a private chat, else in the
    # presser's own chat with the bot.
    topics = headline_topics(ctx.services.archive.archive, issue)
    return replace(
        issue_reply(issue, footer=ISSUE_FOOTER),
        actions=follow_actions(topics, private=ctx.chat_kind is not ChatKind.PRIVATE),
        preview=issue_preview(issue),
    )


@command(
    "issue",
    "One issue by its number",
    "Shows one issue of the archive by its number.",
    Param("number", "Issue number, e.g. 206.", ParamType.INTEGER, min_value=1, max_value=99_999),
    examples=("/issue 206",),
)
async def issue(ctx: Context, number: int) -> Reply:
    found = ctx.services.archive.archive.issue(number)
    return issue_reply(found, footer=issue_footer(ctx, found)) if found else no_issue(ctx, number)


@command(
    "issues",
    "Every issue in the archive",
    "Lists the issues in the archive, newest first.",
)
async def issues(ctx: Context) -> Reply:
    per_page = 10
    all_issues = list(reversed(ctx.services.archive.archive.issues))
    if not all_issues:
        return Reply.error("The archive is empty: no issues have been loaded yet.")
    start = (ctx.page - 1) * per_page
    shown = all_issues[start : start + per_page]
    if not shown:
        return Reply.text("No more issues.")
    entries = [
        Entry(
            title=f"Issue #{i.number}",
            summary=shorten(i.headline, 200),
            meta=i.date.isoformat() if i.date else None,
        )
        for i in shown
    ]
    more = Continuation("/issues", ctx.page + 1) if start + per_page < len(all_issues) else None
    return Reply(
        title=f"The archive: {plural(len(all_issues), 'issue')}",
        blocks=(*entries, Paragraph("Open one with /issue NUMBER.", muted=True)),
        more=more,
    )


@command(
    "section",
    "One section of the latest (or a given) issue",
    "Shows one section in full, e.g. /section papers. Names are forgiving: papers, libs, "
    "mobile, edge, industry, learning. Add an issue number for an older issue.",
    Param(
        "name",
        "Section name, e.g. papers, libs, mobile.",
        rest=True,
        suggest=Suggest.SECTION,
        max_length=80,
    ),
    Param(
        "number",
        "Issue number (default: the latest).",
        ParamType.INTEGER,
        required=False,
        min_value=1,
        max_value=99_999,
    ),
    examples=("/section papers", "/section mobile 202"),
)
async def section(ctx: Context, name: str, number: int | None) -> Reply:
    archive = ctx.services.archive.archive
    if number is not None:
        found = archive.issue(number)
        if found is None:
            return no_issue(ctx, number)
        target: Issue = found
    else:
        latest_issue = latest_or_error(ctx)
        if isinstance(latest_issue, Reply):
            return latest_issue
        target = latest_issue
    chosen = archive.section(target, name)
    if chosen is None:
        names = ", ".join(archive.section_choices(target))
        shown = name if len(name) <= 40 else name[:40] + "…"
        return Reply.error(
            f"Issue #{target.number} has no section “{shown}”.",
            hint=f"Its sections: {names}. For example: /section {archive.section_choices(target)[-1]}",
        )
    command = f"/section {name}" + (f" {number}" if number is not None else "")
    return section_reply(target, chosen, command=command, page=ctx.page)


@command(
    "search",
    "Search every issue",
    "Searches the titles and summaries of every issue, best matches first. Use quotes for a "
    'phrase: /search "language model".',
    Param("query", "What to look for.", rest=True, max_length=MAX_QUERY_CHARS),
    examples=("/search federated learning", '/search "reinforcement learning"'),
)
async def search(ctx: Context, query: str) -> Reply:
    archive = ctx.services.archive.archive
    try:
        page = await archive.search_async(query, page=ctx.page)
    except QueryError as exc:
        return Reply.error(str(exc))
    return search_reply(page, archive, command=f"/search {query}")


async def inline_stories(ctx: Context, query: str) -> EntryPage:
    """``@bot QUERY`` in any chat: the stories matching ``query``, page ``ctx.page``."""
    # Off the event loop like /search: inline queries arrive with every keystroke.
    return await asyncio.to_thread(
        inline_entries, ctx.services.archive.archive, query, page=ctx.page
    )


COMMANDS: tuple[Command, ...] = (start, help_, latest, issue, issues, section, search)
