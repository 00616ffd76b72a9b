"""Commands declared once, checked at declaration, run the same way on every platform.

Each command is a :class:`Command`: a name, a short description (menus, slash commands), a
longer help text, typed :class:`~bot.commands.params.Param` declarations and an async handler
returning a :class:`~bot.reply.Reply`. Adapters derive everything else from the registry:
Telegram's command menu, Discord's slash commands and autocomplete, the console's completion.
Adding a command never touches an adapter.

As in discord.py's ``app_commands``, the declaration is checked against the handler's signature
when it is registered: a ``Param`` the handler does not take, a handler argument no ``Param``
declares, or an annotation that contradicts the declared type raises :class:`TypeError` at once,
not "Sorry, something went wrong" at the first use.

:meth:`CommandRegistry.dispatch_text` parses a typed line (``/issue 206``, ``/latest@dlw_bot``);
:meth:`CommandRegistry.invoke` takes already-typed arguments (Discord options). Both validate the
same way and never raise: a bad argument, an unknown command or a failing handler all become a
friendly reply.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import logging
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from bot.archive import ArchiveHolder
from bot.commands.params import Param, ParamType, Suggest, UsageError, convert, parse_line
from bot.commands.throttle import SLOW_DOWN, Throttle, Verdict
from bot.config import Settings
from bot.content.topics import normalize
from bot.metrics import command_timer
from bot.model import Target
from bot.paging import expired_reply
from bot.publishing import Publisher
from bot.reply import Reply
from bot.store import Store, StoreBusy
from bot.views import EntryPage

__all__ = [
    "BUSY",
    "ChatKind",
    "Command",
    "CommandRegistry",
    "Context",
    "Handler",
    "InlineHandler",
    "Permission",
    "Services",
    "check_signature",
    "command",
]

log = logging.getLogger("bot.commands")

MAX_SUGGEST_INPUT = 100  # characters of a partial value autocomplete looks at
MAX_LINE_CHARS = 16_384  # far above any real command; caps parsing work
#: The reply when the database stays locked (by another process) past ``DLW_COMMAND_TIMEOUT``.
BUSY = "The bot's database is busy; please try again in a moment."
MAX_PAGE = 10_000  # far beyond any real "More" chain; a larger page in a payload is forged
_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?(?=\s|$)")


class ChatKind(StrEnum):
    """Where a command is used: a private chat with the bot, a group (or thread), a channel."""

    PRIVATE = "private"
    GROUP = "group"
    CHANNEL = "channel"


class Permission(StrEnum):
    """Who may use a command."""

    EVERYONE = "everyone"
    CHAT_ADMIN = "chat_admin"  # administrators of the group/channel it is used in
    OPERATOR = "operator"  # people listed in DLW_ADMINS


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
    @property
    def registry(self) -> CommandRegistry: ...


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
    """One command as declared: everything adapters show and the registry checks comes from it."""

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


InlineHandler = Callable[["Context", str], Awaitable[EntryPage]]


def command(
    name: str,
    description: str,
    help: str,
    *params: Param,
    permission: Permission = Permission.EVERYONE,
    chats: Sequence[ChatKind] = tuple(ChatKind),
    examples: Sequence[str] = (),
) -> Callable[[Handler], Command]:
    """Declare a command at module level: the decorated coroutine becomes a :class:`Command`
    (its handler, called as ``handler(ctx, **params)``), for :func:`bot.commands.build_registry`
    to register."""

    def decorate(handler: Handler) -> Command:
        return Command(
            name,
            description,
            help,
            handler,
            params,
            permission,
            frozenset(chats),
            tuple(examples),
        )

    return decorate


_EXPECTED: dict[ParamType, type] = {ParamType.TEXT: str, ParamType.INTEGER: int}


def check_signature(command: Command) -> None:
    """Raise :class:`TypeError` unless ``command.handler`` takes ``(ctx, **params)`` as declared.

    Every declared parameter must be a keyword the handler accepts, every handler argument
    without a default must be declared, and an annotation must admit the declared type (and
    ``None`` for an optional parameter, which the handler receives when it is left out). A
    handler taking ``**kwargs`` accepts any parameter.
    """
    handler = command.handler
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return
    where = f"/{command.name}: handler {getattr(handler, '__qualname__', handler)!r}"
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"{where} must take the Context as its first argument")
    rest = parameters[1:]
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
    named = {
        p.name: p
        for p in rest
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    declared = [p.name for p in command.params]
    for name in declared:
        if name not in named and not any_keyword:
            takes = ", ".join(named) or "nothing but the context"
            raise TypeError(
                f"{where} takes no argument {name!r}, but Param({name!r}) is declared "
                f"(the handler takes: {takes})"
            )
    for name, parameter in named.items():
        if name not in declared and parameter.default is inspect.Parameter.empty:
            raise TypeError(f"{where} takes {name!r}, but no Param({name!r}) is declared")
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # an annotation that can't be resolved here: the names were checked
        return
    for param in command.params:
        hint = hints.get(param.name)
        if hint is None or hint is Any:
            continue
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        admitted = typing.get_args(hint) if union else (hint,)
        if _EXPECTED[param.type] not in admitted:
            raise TypeError(
                f"{where}: Param({param.name!r}) is {param.type.value}, "
                f"but the handler annotates it {hint!r}"
            )
        if not param.required and type(None) not in admitted:
            raise TypeError(
                f"{where}: Param({param.name!r}) is optional, so the handler gets None when it "
                f"is left out, but annotates it {hint!r}"
            )


@dataclass
class CommandRegistry:
    """The commands every adapter serves, in declaration order, and the one way to run them."""

    commands: dict[str, Command] = field(default_factory=dict)
    inline_handler: InlineHandler | None = None
    throttle: Throttle | None = None  # each reader's command budget; operators are exempt

    def add(self, command: Command) -> None:
        """Register ``command``; a bad name or description is a ValueError, a handler whose
        signature does not match the declared parameters a TypeError, both at once."""
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command.name):
            raise ValueError(f"bad command name {command.name!r}")
        if not 1 <= len(command.description) <= 100:
            raise ValueError(f"/{command.name}: description must be 1-100 characters")
        if command.name in self.commands:
            raise ValueError(f"/{command.name} is declared twice")
        check_signature(command)
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
        """Declare and register a command at once; the decorated coroutine receives
        ``(ctx, **params)``."""

        def decorate(handler: Handler) -> Handler:
            declare = command(
                name,
                description,
                help,
                *params,
                permission=permission,
                chats=chats,
                examples=examples,
            )
            self.add(declare(handler))
            return handler

        return decorate

    def __iter__(self) -> Any:
        return iter(self.commands.values())

    def public(self) -> list[Command]:
        """Commands every reader may use: what goes into public menus."""
        return [c for c in self.commands.values() if c.permission is not Permission.OPERATOR]

    # -- entry points --------------------------------------------------------------------

    async def dispatch_text(self, ctx: Context, text: str) -> Reply | None:
        """Handle a typed line. ``None`` means nothing to send: not for me (a group message,
        another bot's command), or a reader over their command budget who was already told."""
        line = text.strip()
        if not self._for_me(ctx, line):
            return None
        verdict = self._budget(ctx)
        if verdict is not Verdict.RUN:
            return _slow_down(verdict)
        return await self._dispatch_line(ctx, line)

    def _for_me(self, ctx: Context, line: str) -> bool:
        """Whether :meth:`_dispatch_line` would answer ``line`` at all (cheap: no handler runs)."""
        private = ctx.chat_kind is ChatKind.PRIVATE
        if len(line) > MAX_LINE_CHARS:
            return True
        match = _COMMAND.match(line)
        if match is None:
            return private and bool(line)
        addressed = match.group("bot")
        if (
            addressed
            and ctx.bot_username
            and not private
            and addressed.casefold() != ctx.bot_username.casefold()
        ):
            return False
        return private or bool(addressed) or match.group("name").casefold() in self.commands

    def _budget(self, ctx: Context) -> Verdict:
        """Take one command from the reader's budget (operators have no limit)."""
        if self.throttle is None or ctx.is_operator:
            return Verdict.RUN
        verdict = self.throttle.admit(ctx.platform, ctx.user_id)
        if verdict is Verdict.NOTIFY:
            log.info("%s:%s is over the command budget; ignoring them", ctx.platform, ctx.user_id)
        return verdict

    async def _dispatch_line(self, ctx: Context, line: str) -> Reply | None:
        if len(line) > MAX_LINE_CHARS:
            return Reply.error(
                f"That message is {len(line):,} characters long; commands are much shorter."
            )
        match = _COMMAND.match(line)
        if match is None:
            if line.startswith("/") and ctx.chat_kind is ChatKind.PRIVATE:
                return self.unknown(line.split()[0][1:] if line.split() else "")
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
            return self.unknown(name) if private or addressed else None
        try:
            args = parse_line(command.name, command.params, line[match.end() :].strip())
        except UsageError as exc:
            return _usage_error(command, str(exc))
        return await self._run(ctx, command, args)

    async def invoke(self, ctx: Context, name: str, args: Mapping[str, object]) -> Reply | None:
        """Run a command with arguments already split by the platform (e.g. slash-command
        options); ``None``: say nothing (a reader over their budget who was already told)."""
        verdict = self._budget(ctx)
        if verdict is not Verdict.RUN:
            return _slow_down(verdict)
        command = self.commands.get(name)
        if command is None:
            return self.unknown(name)
        try:
            parsed = {p.name: convert(p, args.get(p.name)) for p in command.params}
            for p in command.params:
                if p.required and parsed[p.name] is None:
                    raise UsageError(f"{p.name} is missing: {p.description.rstrip('.').lower()}")
            unknown = set(args) - {p.name for p in command.params}
            if unknown:
                raise UsageError(f"unexpected argument {sorted(unknown)[0]!r}")
        except UsageError as exc:
            return _usage_error(command, str(exc))
        return await self._run(ctx, command, parsed)

    async def continue_(self, ctx: Context, command_line: str, page: int) -> Reply | None:
        """Fetch a later page of a long reply (a "more" button); ``None``: say nothing (a reader
        over their command budget who was already told)."""
        if not 1 <= page <= MAX_PAGE:  # payloads come from clients: a forged page is no bug
            return Reply.error("That page is out of range; run the command again.")
        verdict = self._budget(ctx)
        if verdict is not Verdict.RUN:
            return _slow_down(verdict)
        reply = await self._dispatch_line(replace(ctx, page=page), command_line.strip())
        return reply or expired_reply()

    async def inline(self, ctx: Context, query: str) -> EntryPage:
        """Stories to offer for ``query`` typed in a platform's picker (Telegram's inline mode),
        page ``ctx.page``; nothing when no inline handler is declared."""
        if self.inline_handler is None:
            return EntryPage((), ctx.page, False)
        return await self.inline_handler(ctx, query)

    async def _run(self, ctx: Context, command: Command, args: dict[str, Any]) -> Reply:
        if ctx.chat_kind not in command.chats:
            kinds = " or ".join(sorted(k.value for k in command.chats))
            return Reply.error(f"/{command.name} works in a {kinds} chat, not here.")
        refusal = await _check_permission(ctx, command)
        if refusal is not None:
            return refusal
        try:
            # One bound for the whole command: a store call waiting on a busy database gives
            # up (its transaction rolled back, nothing half-written) instead of stalling.
            async with asyncio.timeout(ctx.services.settings.command_timeout):
                with command_timer(command.name):
                    return await command.handler(ctx, **args)
        except (StoreBusy, TimeoutError):
            log.warning("/%s: the database is busy; the reader was asked to retry", command.name)
            return Reply.error(BUSY)
        except Exception:  # a bug must not take the bot down; the reader gets an apology
            log.exception("/%s failed for %s:%s", command.name, ctx.platform, ctx.user_id)
            return Reply.error(
                "Sorry, something went wrong on my side. The problem has been logged."
            )

    def unknown(self, name: str) -> Reply:
        """The reply to a command nobody declared, with the closest name if there is one."""
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


def _slow_down(verdict: Verdict) -> Reply | None:
    """Over budget: the polite notice the first time, then silence until the reader slows down."""
    return Reply.error(SLOW_DOWN) if verdict is Verdict.NOTIFY else None


def _usage_error(command: Command, problem: str) -> Reply:
    example = f" For example: {command.examples[0]}" if command.examples else ""
    return Reply.error(
        f"{problem[:1].upper()}{problem[1:]}.", hint=f"Usage: {command.usage}.{example}"
    )
