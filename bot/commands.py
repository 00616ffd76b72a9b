"""The one command set, declared once and served on every platform.

Each command is a :class:`Command`: a name, a short description (menus, slash commands), a
longer help text, typed :class:`Param` declarations and an async handler returning a
:class:`~bot.reply.Reply`. Adapters derive everything else from this table: Telegram's command
menu, Discord's slash commands and autocomplete, the console's completion. Adding a command
here never touches an adapter.

:meth:`CommandRegistry.dispatch_text` parses a typed line (``/issue 206``, ``/latest@dlw_bot``);
:meth:`CommandRegistry.invoke` takes already-typed arguments (Discord options). Both validate the
same way and never raise: a bad argument, an unknown command or a failing handler all become a
friendly reply.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from bot.archive import MAX_QUERY_CHARS, ArchiveHolder, QueryError
from bot.config import Settings
from bot.content.models import Issue
from bot.publishing import Publisher, channel_reply
from bot.reply import Block, Continuation, Entry, Paragraph, Reply, Tone, shorten
from bot.scheduler import publishing_status
from bot.store import MAX_SUBSCRIPTIONS, Store, Subscription, SubscriptionKind, Target
from bot.topics import normalize
from bot.views import issue_reply, search_reply, section_reply

__all__ = [
    "ChatKind",
    "Command",
    "CommandRegistry",
    "Context",
    "Param",
    "ParamType",
    "Permission",
    "Services",
    "Suggest",
    "UsageError",
    "build_registry",
]

log = logging.getLogger(__name__)

MAX_SUGGEST_INPUT = 100  # characters of a partial value autocomplete looks at

MAX_LINE_CHARS = 16_384  # far above any real command; caps parsing work
MAX_KEYWORD_CHARS = 40
_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?=\s|$)")


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


class Permission(StrEnum):
    EVERYONE = "everyone"
    CHAT_ADMIN = "chat_admin"  # administrators of the group/channel it is used in
    OPERATOR = "operator"  # people listed in DLW_ADMINS


class ParamType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"


class Suggest(StrEnum):
    """Where autocomplete suggestions for a parameter come from."""

    SECTION = "section"
    TOPIC = "topic"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: ParamType = ParamType.TEXT
    required: bool = True
    rest: bool = False  # a text parameter that takes the rest of the line
    choices: tuple[str, ...] = ()
    suggest: Suggest | None = None
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None


class Services(Protocol):
    """What handlers use; :class:`bot.app.App` provides it."""

    @property
    def archive(self) -> ArchiveHolder: ...
    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def publisher(self) -> Publisher: ...


@dataclass(frozen=True)
class Context:
    """Who asked, where. Adapters fill it in from the platform's event."""

    services: Services
    platform: str
    user_id: str
    chat_id: str
    chat_kind: ChatKind = ChatKind.PRIVATE
    thread_id: str = ""
    chat_title: str | None = None
    bot_username: str | None = None
    # Whether the asker administers the chat; adapters ask the platform only when a command needs it.
    chat_admin: Callable[[], Awaitable[bool]] | None = None
    operator: bool | None = None  # None: decided by DLW_ADMINS
    page: int = 1

    @property
    def is_operator(self) -> bool:
        if self.operator is not None:
            return self.operator
        return self.services.settings.is_admin(self.platform, self.user_id)

    @property
    def target(self) -> Target:
        return Target(self.platform, self.chat_id, self.thread_id)


Handler = Callable[..., Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # one line, at most 100 characters (Discord's limit)
    help: str
    handler: Handler
    params: tuple[Param, ...] = ()
    permission: Permission = Permission.EVERYONE
    chats: frozenset[ChatKind] = frozenset(ChatKind)
    examples: tuple[str, ...] = ()

    @property
    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for p in self.params:
            label = "|".join(p.choices) if p.choices else p.name.upper()
            parts.append(label if p.required else f"[{label}]")
        return " ".join(parts)


class UsageError(Exception):
    """An argument problem, phrased for the reader."""


@dataclass
class CommandRegistry:
    commands: dict[str, Command] = field(default_factory=dict)

    def add(self, command: Command) -> None:
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command.name):
            raise ValueError(f"bad command name {command.name!r}")
        if not 1 <= len(command.description) <= 100:
            raise ValueError(f"/{command.name}: description must be 1-100 characters")
        if command.name in self.commands:
            raise ValueError(f"/{command.name} is declared twice")
        self.commands[command.name] = command

    def command(
        self,
        name: str,
        description: str,
        help: str,
        *params: Param,
        permission: Permission = Permission.EVERYONE,
        chats: Sequence[ChatKind] = tuple(ChatKind),
        examples: Sequence[str] = (),
    ) -> Callable[[Handler], Handler]:
        """Declare a command; the decorated coroutine receives ``(ctx, **params)``."""

        def decorate(handler: Handler) -> Handler:
            self.add(
                Command(
                    name,
                    description,
                    help,
                    handler,
                    params,
                    permission,
                    frozenset(chats),
                    tuple(examples),
                )
            )
            return handler

        return decorate

    def __iter__(self) -> Any:
        return iter(self.commands.values())

    def public(self) -> list[Command]:
        """Commands every reader may use: what goes into public menus."""
        return [c for c in self.commands.values() if c.permission is not Permission.OPERATOR]

    # -- entry points --------------------------------------------------------------------

    async def dispatch_text(self, ctx: Context, text: str) -> Reply | None:
        """Handle a typed line. ``None`` means "not for me" (a group message, another bot's command)."""
        line = text.strip()
        if len(line) > MAX_LINE_CHARS:
            return Reply.error(
                f"That message is {len(line):,} characters long; commands are much shorter."
            )
        match = _COMMAND.match(line)
        if match is None:
            if line.startswith("/") and ctx.chat_kind is ChatKind.PRIVATE:
                return self._unknown(line.split()[0][1:] if line.split() else "")
            if ctx.chat_kind is ChatKind.PRIVATE and line:
                return await self.invoke(ctx, "search", {"query": line})
            return None
        addressed = match.group("bot")
        private = ctx.chat_kind is ChatKind.PRIVATE
        if (
            addressed
            and ctx.bot_username
            and addressed.casefold() != ctx.bot_username.casefold()
            and not private
        ):
            return None  # "/latest@other_bot" in a group is for another bot
        name = match.group("name").casefold()
        command = self.commands.get(name)
        if command is None:
            return self._unknown(name) if private or addressed else None
        try:
            args = _parse_line(command, line[match.end() :].strip())
        except UsageError as exc:
            return _usage_error(command, str(exc))
        return await self._run(ctx, command, args)

    async def invoke(self, ctx: Context, name: str, args: Mapping[str, object]) -> Reply:
        """Run a command with arguments already split by the platform (e.g. slash-command options)."""
        command = self.commands.get(name)
        if command is None:
            return self._unknown(name)
        try:
            parsed = {p.name: _convert(p, args.get(p.name)) for p in command.params}
            for p in command.params:
                if p.required and parsed[p.name] is None:
                    raise UsageError(f"{p.name} is missing: {p.description.rstrip('.').lower()}")
            unknown = set(args) - {p.name for p in command.params}
            if unknown:
                raise UsageError(f"unexpected argument {sorted(unknown)[0]!r}")
        except UsageError as exc:
            return _usage_error(command, str(exc))
        return await self._run(ctx, command, parsed)

    async def continue_(self, ctx: Context, command_line: str, page: int) -> Reply:
        """Fetch a later page of a long reply (a "more" button)."""
        reply = await self.dispatch_text(replace(ctx, page=max(1, page)), command_line)
        return reply or Reply.error("That button has expired; run the command again.")

    async def _run(self, ctx: Context, command: Command, args: dict[str, Any]) -> Reply:
        if ctx.chat_kind not in command.chats:
            kinds = " or ".join(sorted(k.value for k in command.chats))
            return Reply.error(f"/{command.name} works in a {kinds} chat, not here.")
        refusal = await _check_permission(ctx, command)
        if refusal is not None:
            return refusal
        try:
            return await command.handler(ctx, **args)
        except Exception:  # a bug must not take the bot down; the reader gets an apology
            log.exception("/%s failed for %s:%s", command.name, ctx.platform, ctx.user_id)
            return Reply.error(
                "Sorry, something went wrong on my side. The problem has been logged."
            )

    def _unknown(self, name: str) -> Reply:
        shown = name if len(name) <= 32 else name[:32] + "…"
        close = difflib.get_close_matches(name.casefold(), list(self.commands), n=1, cutoff=0.6)
        hint = f"Did you mean /{close[0]}? " if close else ""
        return Reply.error(
            f"I don't know the command /{shown}.", hint=f"{hint}Send /help for the list."
        )

    # -- autocomplete --------------------------------------------------------------------

    async def suggestions(
        self, ctx: Context, source: Suggest, typed: str, limit: int = 25
    ) -> list[tuple[str, str]]:
        """``(label, value)`` pairs for a parameter's autocomplete, best first."""
        archive = ctx.services.archive.archive
        # Labels are short; what was typed beyond that can't match and would only cost time.
        key = normalize(typed[:MAX_SUGGEST_INPUT])
        pairs: list[tuple[str, str]] = []
        if source is Suggest.SECTION:
            latest = archive.latest()
            if latest:
                pairs = [
                    (s.name, short)
                    for s, short in zip(
                        latest.sections, archive.section_choices(latest), strict=True
                    )
                ]
        elif source is Suggest.TOPIC:
            pairs = [(f"{t.label} ({t.id})", t.id) for t in archive.taxonomy]
        else:
            subs = await ctx.services.store.subscriptions(ctx.platform, ctx.user_id)
            pairs = [(s.value, s.value) for s in subs] + [("all (every subscription)", "all")]
        if key:
            pairs = [p for p in pairs if key in normalize(p[0])] or [
                p
                for p in pairs
                if difflib.SequenceMatcher(None, key, normalize(p[0])).ratio() > 0.5
            ]
        return pairs[:limit]


async def _check_permission(ctx: Context, command: Command) -> Reply | None:
    if command.permission is Permission.OPERATOR and not ctx.is_operator:
        return Reply.error(f"/{command.name} is for the bot's operators.")
    if (
        command.permission is Permission.CHAT_ADMIN
        and not ctx.is_operator
        and ctx.chat_admin is not None
    ):
        try:
            allowed = await ctx.chat_admin()
        except Exception:
            log.warning("could not check chat admin rights for /%s", command.name, exc_info=True)
            return Reply.error(
                "I couldn't check your admin rights in this chat; please try again in a moment."
            )
        if not allowed:
            return Reply.error(f"Only administrators of this chat can use /{command.name}.")
    return None


def _usage_error(command: Command, problem: str) -> Reply:
    example = f" For example: {command.examples[0]}" if command.examples else ""
    return Reply.error(
        f"{problem[:1].upper()}{problem[1:]}.", hint=f"Usage: {command.usage}.{example}"
    )


def _parse_line(command: Command, rest: str) -> dict[str, Any]:
    """Split the text after ``/name`` into the command's parameters."""
    tokens = rest.split()
    params = list(command.params)
    values: dict[str, Any] = {p.name: None for p in params}
    # A trailing optional integer after a rest-of-line text ("/section papers 202").
    if (
        len(params) >= 2
        and params[-2].rest
        and params[-1].type is ParamType.INTEGER
        and len(tokens) >= 2
    ):
        if re.fullmatch(r"#?\d+", tokens[-1]):
            values[params[-1].name] = _convert(params[-1], tokens.pop())
        elif re.fullmatch(r"#?\d+", tokens[0]):  # "/section 202 papers"
            values[params[-1].name] = _convert(params[-1], tokens.pop(0))
        params = params[:-1]
    for index, param in enumerate(params):
        if not tokens:
            break
        if param.rest:
            values[param.name] = _convert(param, " ".join(tokens))
            tokens = []
            break
        values[param.name] = _convert(param, tokens.pop(0))
        if index == len(params) - 1 and tokens:
            raise UsageError(f"too many arguments after {param.name} ({' '.join(tokens)[:40]!r})")
    if tokens and not params:
        raise UsageError(f"/{command.name} takes no arguments")
    for param in command.params:
        if param.required and values[param.name] is None:
            raise UsageError(f"{param.name} is missing: {param.description.rstrip('.').lower()}")
    return values


def _convert(param: Param, raw: object) -> Any:
    if raw is None or raw == "":
        return None
    if param.type is ParamType.INTEGER:
        if isinstance(raw, bool):
            raise UsageError(f"{param.name} must be a number")
        if isinstance(raw, int):
            number = raw
        else:
            text = str(raw).strip().lstrip("#")
            if not re.fullmatch(r"\d{1,9}", text):
                shown = str(raw) if len(str(raw)) <= 20 else str(raw)[:20] + "…"
                raise UsageError(f"“{shown}” is not a valid {param.name}: use digits, like 206")
            number = int(text)
        if param.min_value is not None and number < param.min_value:
            raise UsageError(f"{param.name} must be at least {param.min_value}")
        if param.max_value is not None and number > param.max_value:
            raise UsageError(f"{param.name} must be at most {param.max_value}")
        return number
    text = " ".join(str(raw).split())
    if param.choices:
        folded = text.casefold()
        if folded not in param.choices:
            raise UsageError(f"{param.name} must be one of: {', '.join(param.choices)}")
        return folded
    if param.max_length is not None and len(text) > param.max_length:
        raise UsageError(
            f"{param.name} is {len(text):,} characters long; the limit is {param.max_length}"
        )
    return text


# =======================================================================================
# The commands
# =======================================================================================


def build_registry() -> CommandRegistry:
    """The registry every adapter serves."""
    registry = CommandRegistry()
    _declare(registry)
    return registry


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _no_issue(ctx: Context, number: int) -> Reply:
    numbers = ctx.services.archive.archive.numbers
    if not numbers:
        return Reply.error("The archive is empty: no issues have been loaded yet.")
    span = f"#{numbers[0]}–#{numbers[-1]}" if len(numbers) > 1 else f"#{numbers[0]}"
    return Reply.error(
        f"There's no issue #{number:,} in the archive ({_plural(len(numbers), 'issue')}: {span}).",
        hint="See /issues for the list, or /latest for the newest.",
    )


def _latest_or_error(ctx: Context) -> Issue | Reply:
    issue = ctx.services.archive.archive.latest()
    return (
        issue
        if issue is not None
        else Reply.error("The archive is empty: no issues have been loaded yet.")
    )


ISSUE_FOOTER = "Read a section in full with /section papers; search everything with /search."


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
        return f"“{text[:40]}…” is too long for a keyword (at most {MAX_KEYWORD_CHARS} characters)"
    if len(keyword) < 2:
        return f"“{keyword}” is too short to be a useful keyword"
    return Subscription(SubscriptionKind.KEYWORD, keyword)


def _declare(r: CommandRegistry) -> None:
    @r.command(
        "start",
        "Welcome and a quick tour",
        "Says hello and shows what the bot can do.",
    )
    async def start(ctx: Context) -> Reply:
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
        return Reply(
            title="Welcome to Deep Learning Weekly", blocks=tuple(blocks), tone=Tone.SUCCESS
        )

    @r.command(
        "help",
        "List the commands, or explain one",
        "Without an argument lists every command; /help search explains /search.",
        Param("command", "The command to explain, e.g. search.", required=False),
        examples=("/help search",),
    )
    async def help_(ctx: Context, command: str | None) -> Reply:
        visible = [
            c
            for c in r.commands.values()
            if c.permission is not Permission.OPERATOR or ctx.is_operator
        ]
        if command:
            name = command.lstrip("/").casefold()
            found = r.commands.get(name)
            if found is None or found not in visible:
                return r._unknown(name)
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

    @r.command(
        "latest",
        "The newest issue",
        "Shows the newest issue: its headline topics and every section's items.",
    )
    async def latest(ctx: Context) -> Reply:
        issue = _latest_or_error(ctx)
        return issue if isinstance(issue, Reply) else issue_reply(issue, footer=ISSUE_FOOTER)

    @r.command(
        "issue",
        "One issue by its number",
        "Shows one issue of the archive by its number.",
        Param(
            "number", "Issue number, e.g. 206.", ParamType.INTEGER, min_value=1, max_value=99_999
        ),
        examples=("/issue 206",),
    )
    async def issue(ctx: Context, number: int) -> Reply:
        found = ctx.services.archive.archive.issue(number)
        return issue_reply(found, footer=ISSUE_FOOTER) if found else _no_issue(ctx, number)

    @r.command(
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
            title=f"The archive: {_plural(len(all_issues), 'issue')}",
            blocks=(*entries, Paragraph("Open one with /issue NUMBER.", muted=True)),
            more=more,
        )

    @r.command(
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
                return _no_issue(ctx, number)
            target: Issue = found
        else:
            latest_issue = _latest_or_error(ctx)
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

    @r.command(
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
            page = archive.search(query, page=ctx.page)
        except QueryError as exc:
            return Reply.error(str(exc))
        return search_reply(page, archive, command=f"/search {query}")

    @r.command(
        "topics",
        "Topics you can follow",
        "Lists the topics you can follow with /subscribe, with how many items of the archive each matches.",
    )
    async def topics(ctx: Context) -> Reply:
        archive = ctx.services.archive.archive
        mine = {s.value for s in await ctx.services.store.subscriptions(ctx.platform, ctx.user_id)}
        entries = [
            Entry(
                title=("✓ " if t.id in mine else "") + t.label,
                summary=f"/subscribe {t.id}",
                meta=_plural(len(archive.stories_for_topic(t.id)), "item"),
            )
            for t in archive.taxonomy
        ]
        return Reply(
            title=f"{len(entries)} topics",
            blocks=(
                *entries,
                Paragraph(
                    "Not listed? /subscribe any keyword, e.g. /subscribe diffusion", muted=True
                ),
            ),
        )

    @r.command(
        "subscribe",
        "Follow a topic or keyword",
        "Follow a topic (see /topics) or any keyword: when a new issue has matching items, you get "
        f"them by direct message. Separate several with commas. Up to {MAX_SUBSCRIPTIONS} in all.",
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
            count = _plural(_matches(ctx, sub), "item")
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
                    f"Not added: {', '.join(s.value for s in outcome.refused)} — you follow {outcome.total}, "
                    f"the limit is {MAX_SUBSCRIPTIONS}. /unsubscribe something first.",
                )
            )
        lines.extend(Paragraph(f"Skipped: {p}.", muted=True) for p in problems)
        if outcome.added:
            lines.append(
                Paragraph(
                    "New issues' matching items will come to you by direct message.", muted=True
                )
            )
        tone = Tone.SUCCESS if outcome.added else (Tone.ERROR if outcome.refused else Tone.INFO)
        return Reply(blocks=tuple(lines), tone=tone, ephemeral=True)

    @r.command(
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
                f"Done: stopped all {_plural(removed, 'subscription')}.",
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
            return Reply.error(
                f"You don't follow “{topic[:60]}”.", hint=f"You follow: {following}."
            )
        names = ", ".join(_subscription_label(ctx, s) for s in removed_subs)
        return Reply.text(f"Stopped following {names}.", tone=Tone.SUCCESS, ephemeral=True)

    @r.command(
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
                meta=_plural(_matches(ctx, s), "item") + " in the archive",
            )
            for s in subs
        ]
        return Reply(
            title=f"You follow {_plural(len(subs), 'topic')} ({MAX_SUBSCRIPTIONS} at most)",
            blocks=(
                *entries,
                Paragraph("Stop one with /unsubscribe NAME, or /unsubscribe all.", muted=True),
            ),
            ephemeral=True,
        )

    @r.command(
        "weekly",
        "Post each new issue here automatically (admins)",
        "Registers this group or channel (or this forum topic/thread) for the automatic weekly post "
        "of every new issue, or removes it. Only chat administrators can do this.",
        Param("setting", "on or off.", choices=("on", "off")),
        permission=Permission.CHAT_ADMIN,
        chats=(ChatKind.GROUP, ChatKind.CHANNEL),
        examples=("/weekly on",),
    )
    async def weekly(ctx: Context, setting: str) -> Reply:
        store = ctx.services.store
        where = "this topic" if ctx.thread_id else "this chat"
        if setting == "on":
            new = await store.register_channel(
                ctx.target, title=ctx.chat_title, registered_by=ctx.user_id
            )
            if not new:
                return Reply.text(f"{where.capitalize()} already gets the weekly post.")
            return Reply.text(
                f"Done: every new issue of Deep Learning Weekly will be posted in {where}. Turn it off with /weekly off.",
                tone=Tone.SUCCESS,
            )
        removed = await store.unregister_channel(ctx.target)
        if not removed:
            return Reply.text(f"{where.capitalize()} wasn't getting the weekly post.")
        return Reply.text(f"Done: {where} will no longer get the weekly post.", tone=Tone.SUCCESS)

    # -- operators (DLW_ADMINS) ------------------------------------------------------------

    @r.command(
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
            return (
                _no_issue(ctx, issue) if issue is not None else Reply.error("The archive is empty.")
            )
        publisher = ctx.services.publisher
        plan = await publisher.plan(found)
        published = await ctx.services.store.publication(found.number)
        if published is None or published.baseline:
            verdict = f"Publishing issue #{found.number} would send {plan.describe()}."
        else:
            verdict = (
                f"Issue #{found.number} is already published ({published.trigger}); publishing it "
                f"again sends nothing. Today it would have gone out as {plan.describe()}."
            )
        summary = Reply.text(verdict, title=f"Preview of issue #{found.number}", ephemeral=True)
        return replace(channel_reply(found), ephemeral=True, then=(summary,))

    @r.command(
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

    @r.command(
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

    @r.command(
        "status",
        "Publishing status and delivery counts (operators)",
        "Shows the schedule, the audience, recent publications and how many deliveries are "
        "pending, sent, failed or gone on each platform.",
        permission=Permission.OPERATOR,
    )
    async def status(ctx: Context) -> Reply:
        return await publishing_status(ctx.services.store, ctx.services.settings)
