"""The terminal shell: the same commands, store and replies as on Telegram or Discord, no token.

``dlw-bot shell`` is for trying the bot, writing content and scripting (``-c "/latest"``). The
reader is user ``console`` in a private chat; they are the operator of their own local bot.
Replies are rendered with rich: titles bold, links clickable where the terminal allows,
search matches highlighted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.text import Text

from bot.commands import ChatKind, Context
from bot.delivery import Limits
from bot.model import Target
from bot.platform import AdapterServices
from bot.reply import Continuation, Entry, Heading, Paragraph, Reply, Tone

__all__ = ["ConsoleAdapter", "render"]

PLATFORM = "console"
USER = "console"
_BORDER = {Tone.INFO: "cyan", Tone.SUCCESS: "green", Tone.ERROR: "red"}
# C0 controls but tab and newline, DEL, C1: what could move the cursor, retitle or clear the
# terminal (ESC starts every ANSI sequence; what follows it is left as harmless text).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` without control characters (newline and tab kept): safe to print."""
    return _CONTROL.sub("", text)


def _clean_marked(
    text: str, marks: tuple[tuple[int, int], ...]
) -> tuple[str, list[tuple[int, int]]]:
    """:func:`clean` for a text with highlighted spans, the spans moved with the text."""
    if _CONTROL.search(text) is None:
        return text, list(marks)
    kept = [i for i, char in enumerate(text) if not _CONTROL.match(char)]
    position = {old: new for new, old in enumerate(kept)}
    position[len(text)] = len(kept)

    def moved(index: int) -> int:
        while index not in position:
            index += 1
        return position[index]

    return "".join(text[i] for i in kept), [(moved(a), moved(b)) for a, b in marks]


def render(reply: Reply) -> RenderableType:
    """A rich renderable for ``reply``."""
    parts: list[RenderableType] = []
    for block in reply.blocks:
        if isinstance(block, Heading):
            parts.append(Text(f"\n{clean(block.text)}", style="bold underline"))
        elif isinstance(block, Paragraph):
            parts.append(Text(clean(block.text), style="dim" if block.muted else ""))
        else:
            parts.append(_entry(block))
    if reply.more:
        parts.append(Text("\n(type 'more' for the next page)", style="dim italic"))
    if reply.footer:
        parts.append(Text(f"\n{clean(reply.footer)}", style="dim"))
    title = Text(clean(reply.title), style="bold") if reply.title else None
    if reply.title and reply.url:
        title = Text(clean(reply.title), style=f"bold link {clean(reply.url)}")
    panel = Panel(
        Group(*parts),
        title=title,
        title_align="left",
        border_style=_BORDER[reply.tone],
        expand=True,
    )
    if not reply.then:
        return panel
    return Group(panel, *(render(follow) for follow in reply.then))


def _entry(entry: Entry) -> RenderableType:
    url = clean(entry.url) if entry.url else ""
    title = Text("• ") + Text(clean(entry.title), style=f"bold link {url}" if url else "bold")
    if url:
        title.append(f"  {url}", style="dim blue")
    lines: list[RenderableType] = [title]
    if entry.summary:
        text, marks = _clean_marked(entry.summary, entry.marks)
        summary = Text(text)
        for start, end in marks:
            summary.stylize("bold yellow", start, end)
        lines.append(Padding(summary, (0, 0, 0, 2)))
    if entry.meta:
        lines.append(Padding(Text(clean(entry.meta), style="dim italic"), (0, 0, 0, 2)))
    return Group(*lines)


@dataclass
class ConsoleAdapter:
    """An interactive terminal session and a place weekly posts can be "sent" to."""

    services: AdapterServices
    console: Console = field(default_factory=Console)
    platform: str = PLATFORM
    limits: Limits = field(default_factory=lambda: Limits(messages_per_second=1000))
    _more: Continuation | None = None

    def context(self) -> Context:
        return self.services.context(PLATFORM, USER, USER, ChatKind.PRIVATE, operator=True)

    async def handle(self, line: str) -> Reply | None:
        """Run one line as the console user and return the reply (or None for nothing to say).
        Control characters typed (or pasted) are dropped first: they would come back in replies."""
        text = clean(line).strip()
        if text.casefold() in {"more", "/more"}:
            if self._more is None:
                return Reply.text("Nothing more to show.")
            reply: Reply | None = await self.services.registry.continue_(
                self.context(), self._more.command, self._more.page
            )
        else:
            reply = await self.services.registry.dispatch_text(self.context(), text)
        self._more = reply.more if reply else None
        return reply

    async def run_once(self, line: str) -> int:
        """``dlw-bot shell -c LINE``: print the reply; exit status 1 if it was an error."""
        reply = await self.handle(line)
        if reply is not None:
            self.console.print(render(reply))
        return 1 if reply is not None and reply.tone is Tone.ERROR else 0

    async def interact(self) -> None:
        """The read-eval-print loop. Ends on EOF (Ctrl-D), Ctrl-C, 'quit' or 'exit'."""
        commands = self.services.registry.commands
        _enable_completion([f"/{name}" for name in commands] + ["more", "quit"])
        self.console.print(
            Text("dlw-bot shell — type /help for commands, 'quit' to leave.", style="bold cyan")
        )
        while True:
            try:
                line = await asyncio.to_thread(input, "dlw> ")
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            if line.strip().casefold() in {"quit", "exit", "/quit", "/exit"}:
                return
            if not line.strip():
                continue
            reply = await self.handle(line)
            if reply is not None:
                self.console.print(render(reply))

    # -- Adapter protocol: weekly posts delivered to the terminal --------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        self.console.print(Text(clean(f"→ {target}"), style="dim"))
        self.console.print(render(reply))
        return [f"console-{id(reply)}"]


def _enable_completion(words: list[str]) -> None:
    with contextlib.suppress(ImportError):
        import readline

        def complete(text: str, state: int) -> str | None:
            options = [w for w in words if w.startswith(text)]
            return options[state] if state < len(options) else None

        readline.set_completer_delims(" ")
        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")
