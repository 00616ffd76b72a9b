"""Following topics and keywords, and registering chats for the weekly post."""

from __future__ import annotations

import re

from bot.chat_prefs import Previews, chat_previews, forget_previews, set_chat_previews
from bot.commands.params import Param, Suggest
from bot.commands.registry import ChatKind, Command, Context, Permission, command
from bot.content.topics import normalize
from bot.model import MAX_SUBSCRIPTIONS, Subscription, SubscriptionKind
from bot.reply import Block, Entry, Paragraph, Reply, Tone, plural

__all__ = ["COMMANDS", "where_digests_go"]

MAX_KEYWORD_CHARS = 40


def _subscription_label(ctx: Context, sub: Subscription) -> str:
    if sub.kind is SubscriptionKind.TOPIC:
        topic = ctx.services.archive.archive.taxonomy.get(sub.value)
        return f"{topic.label} ({sub.value})" if topic else sub.value
    return f"“{sub.value}” (keyword)"


def _matches(ctx: Context, sub: Subscription) -> int:
    archive = ctx.services.archive.archive
    if sub.kind is SubscriptionKind.TOPIC:
        return len(archive.stories_for_topic(sub.value))
    return archive.count_matches(sub.value)


def _as_subscription(ctx: Context, text: str) -> Subscription | str:
    """A topic if ``text`` names one, else a keyword; a string is a reason to refuse."""
    topic = ctx.services.archive.archive.taxonomy.resolve(text)
    if topic is not None:
        return Subscription(SubscriptionKind.TOPIC, topic.id)
    keyword = " ".join(re.findall(r"\w+(?:[-+.#]\w+)*\+*", text.casefold()))
    if not keyword:
        return f"“{text[:40]}” has no letters or digits to match"
    if len(keyword) > MAX_KEYWORD_CHARS:
        return (
            f"“{text[:40]}…” is too long for a keyword (at most {MAX_KEYWORD_CHARS:,} characters)"
        )
    if len(keyword) < 2:
        return f"“{keyword}” is too short to be a useful keyword"
    return Subscription(SubscriptionKind.KEYWORD, keyword)


@command(
    "topics",
    "Topics you can follow",
    "Lists the topics you can follow with /subscribe, with how many items of the archive each matches.",
)
async def topics(ctx: Context) -> Reply:
    archive = ctx.services.archive.archive
    mine = {s.value for s in await ctx.services.store.subscriptions(ctx.platform, ctx.user_id)}
    # One line per topic, so the whole taxonomy fits a screen; a paragraph per 20 lines so a
    # long taxonomy splits between lines, not inside one.
    lines = [
        ("✓ " if t.id in mine else "")
        + f"{t.label}: /subscribe {t.id} · {plural(len(archive.stories_for_topic(t.id)), 'item')}"
        for t in archive.taxonomy
    ]
    runs = [Paragraph("\n".join(lines[i : i + 20])) for i in range(0, len(lines), 20)]
    return Reply(
        title=plural(len(lines), "topic"),
        blocks=(
            *runs,
            Paragraph("Not listed? /subscribe any keyword, e.g. /subscribe diffusion", muted=True),
        ),
    )


@command(
    "subscribe",
    "Follow a topic or keyword",
    "Follow a topic (see /topics) or any keyword: when a new issue has matching items, Telegram "
    "and Discord readers get them by direct message (the terminal shell gets none). Separate "
    f"several with commas. Up to {MAX_SUBSCRIPTIONS:,} in all.",
    Param(
        "topic",
        "A topic (pytorch, nlp, …) or any keyword.",
        rest=True,
        suggest=Suggest.TOPIC,
        max_length=1000,
    ),
    examples=("/subscribe pytorch", "/subscribe jax, diffusion"),
)
async def subscribe(ctx: Context, topic: str) -> Reply:
    wanted: list[Subscription] = []
    problems: list[str] = []
    for part in [p.strip() for p in topic.split(",") if p.strip()]:
        choice = _as_subscription(ctx, part)
        (problems if isinstance(choice, str) else wanted).append(choice)  # type: ignore[arg-type]
    if not wanted:
        return Reply.error(
            (problems[0] if problems else "Nothing to follow") + ".",
            hint="For example: /subscribe pytorch",
        )
    outcome = await ctx.services.store.subscribe(ctx.platform, ctx.user_id, wanted)
    taxonomy = ctx.services.archive.archive.taxonomy
    lines: list[Block] = []
    for sub in outcome.added:
        count = plural(_matches(ctx, sub), "item")
        if sub.kind is SubscriptionKind.TOPIC:
            lines.append(
                Paragraph(
                    f"Following the topic {_subscription_label(ctx, sub)}: {count} in the archive so far."
                )
            )
        else:
            text = f"“{sub.value}” isn't one of the /topics, so I'm following it as a keyword: items mentioning it ({count} so far)."
            close = taxonomy.suggest(sub.value)
            if close:
                text += f" Did you mean the topic {close[0].label} (/subscribe {close[0].id})?"
            lines.append(Paragraph(text))
    lines.extend(
        Paragraph(f"You already follow {_subscription_label(ctx, s)}.") for s in outcome.already
    )
    if outcome.refused:
        lines.append(
            Paragraph(
                f"Not added: {', '.join(s.value for s in outcome.refused)} — you follow {outcome.total:,}, "
                f"the limit is {MAX_SUBSCRIPTIONS:,}. /unsubscribe something first.",
            )
        )
    lines.extend(Paragraph(f"Skipped: {p}.", muted=True) for p in problems)
    if outcome.added:
        lines.append(where_digests_go(ctx))
    tone = Tone.SUCCESS if outcome.added else (Tone.ERROR if outcome.refused else Tone.INFO)
    return Reply(blocks=tuple(lines), tone=tone, ephemeral=True)


def where_digests_go(ctx: Context) -> Paragraph:
    """The promise a subscription makes, kept: a platform that only lives in this process (the
    terminal shell) is never published to, so it must not be promised direct messages."""
    if ctx.platform in ctx.services.publisher.local_platforms:
        return Paragraph(
            "This shell gets no digests: nothing is published to it. Digests of new issues go to "
            "Telegram and Discord readers, by direct message. /preview shows what publishing "
            "the latest issue would send.",
            muted=True,
        )
    return Paragraph("New issues' matching items will come to you by direct message.", muted=True)


@command(
    "unsubscribe",
    "Stop following a topic or keyword (or all)",
    "Stop following a topic or keyword; /unsubscribe all stops every subscription.",
    Param(
        "topic",
        "A topic or keyword you follow, or all.",
        rest=True,
        suggest=Suggest.SUBSCRIPTION,
        max_length=1000,
    ),
    examples=("/unsubscribe pytorch", "/unsubscribe all"),
)
async def unsubscribe(ctx: Context, topic: str) -> Reply:
    store = ctx.services.store
    if topic.casefold() == "all":
        removed = await store.unsubscribe_all(ctx.platform, ctx.user_id)
        if not removed:
            return Reply.text("You weren't following anything.", ephemeral=True)
        return Reply.text(
            "Done: stopped your only subscription."
            if removed == 1
            else f"Done: stopped all {plural(removed, 'subscription')}.",
            tone=Tone.SUCCESS,
            ephemeral=True,
        )
    current = await store.subscriptions(ctx.platform, ctx.user_id)
    unwanted: list[Subscription] = []
    for part in [p.strip() for p in topic.split(",") if p.strip()]:
        choice = _as_subscription(ctx, part)
        if isinstance(choice, Subscription):
            # A keyword that happens to equal a followed keyword, or the topic it names.
            unwanted.extend(
                s
                for s in current
                if s == choice
                or (s.kind is SubscriptionKind.KEYWORD and s.value == normalize(part))
            )
    removed_subs = await store.unsubscribe(ctx.platform, ctx.user_id, unwanted)
    if not removed_subs:
        following = ", ".join(s.value for s in current) or "nothing yet"
        return Reply.error(f"You don't follow “{topic[:60]}”.", hint=f"You follow: {following}.")
    names = ", ".join(_subscription_label(ctx, s) for s in removed_subs)
    return Reply.text(f"Stopped following {names}.", tone=Tone.SUCCESS, ephemeral=True)


@command(
    "subscriptions",
    "What you follow",
    "Lists the topics and keywords you follow, with how many items of the archive each matched.",
)
async def subscriptions(ctx: Context) -> Reply:
    subs = await ctx.services.store.subscriptions(ctx.platform, ctx.user_id)
    if not subs:
        return Reply.text(
            "You don't follow any topics yet. See /topics, then e.g. /subscribe pytorch.",
            ephemeral=True,
        )
    entries = [
        Entry(
            title=_subscription_label(ctx, s),
            meta=plural(_matches(ctx, s), "item") + " in the archive",
        )
        for s in subs
    ]
    return Reply(
        title=f"You follow {plural(len(subs), 'topic')} ({MAX_SUBSCRIPTIONS:,} at most)",
        blocks=(
            *entries,
            Paragraph("Stop one with /unsubscribe NAME, or /unsubscribe all.", muted=True),
        ),
        ephemeral=True,
    )


@command(
    "weekly",
    "Post each new issue here automatically (admins)",
    "Registers this group or channel (or this forum topic/thread) for the automatic weekly post "
    "of every new issue, or removes it; /weekly alone says how it stands. Posts show a link "
    "card of the issue's web page; /weekly on nopreview leaves it out, /weekly on preview "
    "brings it back. Only chat administrators can do this.",
    Param(
        "setting",
        "on or off (leave out to see how it stands).",
        required=False,
        choices=("on", "off"),
    ),
    Param(
        "card",
        "preview or nopreview: whether posts show the issue's link card.",
        required=False,
        choices=tuple(p.value for p in Previews),
    ),
    permission=Permission.CHAT_ADMIN,
    chats=(ChatKind.GROUP, ChatKind.CHANNEL),
    examples=("/weekly on", "/weekly on nopreview", "/weekly"),
)
async def weekly(ctx: Context, setting: str | None, card: str | None) -> Reply:
    store = ctx.services.store
    where = "this topic" if ctx.thread_id else "this chat"
    target = ctx.target
    if setting is None:
        if card is not None:
            return Reply.error(
                f"Say /weekly on {card}: the link card goes with turning the weekly post on."
            )
        return await _weekly_status(ctx, where)
    if setting == "off":
        if card is not None:
            return Reply.error(
                f"/weekly off takes nothing after it; the {card} choice goes with /weekly on."
            )
        removed = await store.unregister_channel(target)
        await forget_previews(store, target)  # a later registration starts from the default
        if not removed:
            return Reply.text(f"{where.capitalize()} wasn't getting the weekly post.")
        return Reply.text(f"Done: {where} will no longer get the weekly post.", tone=Tone.SUCCESS)
    # A chat paused by the bot (it lost its rights) and turned on again keeps its choice;
    # /weekly off already reset it, so a new registration starts from the default.
    new = await store.register_channel(target, title=ctx.chat_title, registered_by=ctx.user_id)
    if card is not None:
        await set_chat_previews(store, target, Previews(card))
    choice = await chat_previews(store, target)
    if not new:
        if card is None:
            return Reply.text(
                f"{where.capitalize()} already gets the weekly post, {_card_text(choice)}."
            )
        return Reply.text(
            f"Done: {where} keeps the weekly post, now {_card_text(choice)}.", tone=Tone.SUCCESS
        )
    return Reply.text(
        f"Done: every new issue of Deep Learning Weekly will be posted in {where}, "
        f"{_card_text(choice)}. Turn it off with /weekly off.",
        tone=Tone.SUCCESS,
    )


def _card_text(choice: Previews) -> str:
    if choice is Previews.ON:
        return (
            "with a link card of the issue's web page where the platform shows link cards "
            "(/weekly on nopreview leaves it out)"
        )
    return "without a link card (/weekly on preview shows it)"


async def _weekly_status(ctx: Context, where: str) -> Reply:
    """``/weekly`` alone: whether this chat gets the post, and how."""
    target = ctx.target
    registered = next(
        (
            c
            for c in await ctx.services.store.channels(ctx.platform, active_only=False)
            if c.target == target
        ),
        None,
    )
    if registered is None:
        return Reply.text(
            f"{where.capitalize()} doesn't get the weekly post. /weekly on starts it "
            "(/weekly on nopreview: without the link card)."
        )
    choice = await chat_previews(ctx.services.store, target)
    if not registered.active:
        return Reply.text(
            f"{where.capitalize()} is registered for the weekly post, but posting here failed "
            f"({registered.inactive_reason or 'no reason recorded'}), so it is paused. "
            "/weekly on starts it again."
        )
    return Reply.text(f"{where.capitalize()} gets the weekly post, {_card_text(choice)}.")


COMMANDS: tuple[Command, ...] = (topics, subscribe, unsubscribe, subscriptions, weekly)
