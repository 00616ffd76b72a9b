"""The terminal shell: the same commands, store and replies as on Telegram or Discord, no token.

``dlw-bot shell`` is for trying the bot, writing content and scripting (``-c "/latest"``). The
reader is user ``console`` in a private chat; they are the operator of their own local bot.
Replies are rendered with rich: titles bold, links clickable where the terminal allows,
search matches highlighted. When the output is not a terminal (``-c … > file``, a pipe) or with
``--plain`` they are plain text instead: no box drawing, no colour, no wrapping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.commands import ChatKind, Context
from bot.delivery import Limits
from bot.model import Target
from bot.platform import AdapterServices
from bot.reply import Continuation, Entry, Heading, Paragraph, Quote, Reply, Tone

__all__ = ["ConsoleAdapter", "render", "show"]

PLATFORM = "console"
PROMPT = "dlw> "
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


MORE_HINT = "(type 'more' for the next page)"
#: ``dlw-bot shell -c``: no line can follow, so the hint says where paging works.
MORE_ELSEWHERE = "(more results: page on with 'more' in the interactive shell, dlw-bot shell)"


def action_lines(reply: Reply) -> list[str]:
    """A reply's buttons as what they do, so a shell reader can type it: the command each
    runs (a private one too: the shell is already the reader's own chat), or the page it
    opens."""
    return [f"[{clean(a.label)}] {clean(a.command or a.url or '')}" for a in reply.actions]


def render(reply: Reply, *, interactive: bool = True) -> RenderableType:
    """A rich renderable for ``reply``; ``interactive``: a 'more' line can follow."""
    parts: list[RenderableType] = []
    for block in reply.blocks:
        if isinstance(block, Heading):
            parts.append(Text(f"\n{clean(block.text)}", style="bold underline"))
        elif isinstance(block, Paragraph):
            parts.append(Text(clean(block.text), style="dim" if block.muted else ""))
        elif isinstance(block, Quote):
            parts.append(Padding(Text(clean(block.text), style="italic"), (0, 0, 0, 2)))
        else:
            parts.append(_entry(block))
    if reply.more:
        hint = MORE_HINT if interactive else MORE_ELSEWHERE
        parts.append(Text(f"\n{hint}", style="dim italic"))
    if reply.footer:
        parts.append(Text(f"\n{clean(reply.footer)}", style="dim"))
    if reply.actions:
        parts.append(Text("\n" + "\n".join(action_lines(reply)), style="cyan"))
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
    return Group(panel, *(render(follow, interactive=interactive) for follow in reply.then))


def show(console: Console, reply: Reply, *, plain: bool = False, interactive: bool = True) -> None:
    """Print ``reply``: rendered with rich, or as plain text for scripts and files;
    ``interactive``: a 'more' line can follow (not after ``dlw-bot shell -c``)."""
    if not plain:
        console.print(render(reply, interactive=interactive), soft_wrap=False)
        return
    text = clean(reply.plain_text())
    if reply.more:
        text += "\n" + (MORE_HINT if interactive else MORE_ELSEWHERE)
    if reply.actions:
        text += "\n" + "\n".join(action_lines(reply))
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _entry(entry: Entry) -> RenderableType:
    """A bullet, and beside it (so that wrapped lines keep the indent) the title, summary and
    context line."""
    url = clean(entry.url) if entry.url else ""
    title = Text(clean(entry.title), style=f"bold link {url}" if url else "bold")
    if url:
        title.append(f"  {url}", style="dim blue")
    lines: list[RenderableType] = [title]
    if entry.summary:
        text, marks = _clean_marked(entry.summary, entry.marks)
        summary = Text(text)
        for start, end in marks:
            summary.stylize("bold yellow", start, end)
        lines.append(summary)
    if entry.meta:
        meta = Text(clean(entry.meta), style="dim italic")
        if entry.meta_url:
            meta_url = clean(entry.meta_url)
            meta.append(f"  {meta_url}", style=f"dim blue link {meta_url}")
        lines.append(meta)
    grid = Table.grid()
    grid.add_column(width=2, no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(Text("•"), Group(*lines))
    return grid


@dataclass
class ConsoleAdapter:
    """An interactive terminal session and a place weekly posts can be "sent" to."""

    services: AdapterServices
    console: Console = field(default_factory=Console)
    platform: str = PLATFORM
    limits: Limits = field(default_factory=lambda: Limits(messages_per_second=1000))
    plain: bool = False  # plain text rather than rich panels (output to a file or a pipe)
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
            show(self.console, reply, plain=self.plain, interactive=False)
        return 1 if reply is not None and reply.tone is Tone.ERROR else 0

    async def interact(self) -> None:
        """The read-eval-print loop. Ends on EOF (Ctrl-D), Ctrl-C, 'quit' or 'exit'."""
        commands = self.services.registry.commands
        _enable_completion([f"/{name}" for name in commands] + ["more", "quit"])
        self.console.print(
            Text("dlw-bot shell — type /help for commands, 'quit' to leave.", style="bold cyan")
        )
        # Commands piped in (a script) get the replies alone, without a prompt before each.
        prompt = PROMPT if sys.stdin.isatty() else ""
        with _terminal_restored(), _logs_beside_the_prompt(prompt):
            await self._loop(prompt)

    async def _loop(self, prompt: str) -> None:
        while True:
            try:
                line = await _read_line(prompt)
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us, then exits 130
                self.console.print()
                raise
            if line.strip().casefold() in {"quit", "exit", "/quit", "/exit"}:
                return
            if not line.strip():
                continue
            reply = await self.handle(line)
            if reply is not None:
                show(self.console, reply, plain=self.plain)

    # -- Adapter protocol: weekly posts delivered to the terminal --------------------------

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, target: Target, reply: Reply, *, skip: int = 0) -> list[str]:
        self.console.print(Text(clean(f"→ {target}"), style="dim"))
        show(self.console, reply, plain=self.plain)
        return [f"console-{id(reply)}"]


_reading = threading.Event()  # set while the prompt waits for a line


class _PromptSafeHandler(logging.Handler):
    """Writes a log record on a line of its own while the prompt is shown: the prompt line is
    cleared, the record written, and the prompt redrawn with what the reader had typed."""

    def __init__(self, inner: logging.StreamHandler[TextIO], prompt: str) -> None:
        super().__init__(inner.level)
        self.inner, self.prompt = inner, prompt
        self.setFormatter(inner.formatter)
        for log_filter in inner.filters:
            self.addFilter(log_filter)

    def emit(self, record: logging.LogRecord) -> None:
        if not _reading.is_set():
            self.inner.emit(record)
            return
        try:
            message = self.format(record)
            typed = ""
            with contextlib.suppress(ImportError):
                import readline

                typed = readline.get_line_buffer()
            stream = self.inner.stream
            stream.write(f"\r\x1b[K{message}\n{self.prompt}{typed}")
            stream.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _logs_beside_the_prompt(prompt: str) -> Iterator[None]:
    """While the shell runs on a terminal, log records (a rejected content reload, say) go on
    their own lines instead of after the prompt and the reader's half-typed command."""
    root = logging.getLogger()
    swapped = [
        (handler, _PromptSafeHandler(handler, prompt))
        for handler in root.handlers
        if type(handler) is logging.StreamHandler and handler.stream.isatty()
    ]
    for inner, safe in swapped:
        root.removeHandler(inner)
        root.addHandler(safe)
    try:
        yield
    finally:
        for inner, safe in swapped:
            root.removeHandler(safe)
            root.addHandler(inner)


async def _read_line(prompt: str) -> str:
    """``input(prompt)`` without holding up the loop *or* the exit.

    The line is read in a daemon thread rather than the loop's executor: on Ctrl-C asyncio
    cancels the shell, and ``asyncio.run`` would otherwise wait for that executor thread, which
    stays blocked in ``input`` until Enter.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(line or "")

    def read() -> None:
        _reading.set()
        try:
            line, error = input(prompt), None
        except BaseException as exc:  # EOFError, KeyboardInterrupt: the caller decides
            line, error = None, exc
        finally:
            _reading.clear()
        with contextlib.suppress(RuntimeError):  # the loop closed while we waited
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await future


@contextlib.contextmanager
def _terminal_restored() -> Iterator[None]:
    """Put the terminal back as we found it when the shell ends, however it ends: line editing
    leaves it without echo while a read is pending, and Ctrl-C ends the shell mid-read."""
    try:
        import termios
    except ImportError:  # not POSIX: the shell leaves the terminal alone
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, termios.error):  # not a terminal: a pipe, a file
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _enable_completion(words: list[str]) -> None:
    with contextlib.suppress(ImportError):
        import readline

        def complete(text: str, state: int) -> str | None:
            options = [w for w in words if w.startswith(text)]
            return options[state] if state < len(options) else None

        readline.set_completer_delims(" ")
        readline.set_completer(complete)
        readline.parse_and_bind("tab: complete")
