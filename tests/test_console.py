"""The console shell: same commands and store, readable output, paging with 'more'."""

from __future__ import annotations

import io

from rich.console import Console

from adapters.console import ConsoleAdapter, render, show
from bot.app import App
from bot.reply import Entry, Paragraph, Reply
from bot.store import Target


def shell(app: App) -> tuple[ConsoleAdapter, io.StringIO]:
    out = io.StringIO()
    return ConsoleAdapter(app.adapter_services, console=Console(file=out, width=100)), out


async def test_run_once_prints_the_reply(app: App) -> None:
    console, out = shell(app)
    assert await console.run_once("/section papers") == 0
    text = out.getvalue()
    for title in (
        "Descending through a Crowded Valley",
        "Reward is enough",
        "Thinking Like Transformers",
    ):
        assert title in text


async def test_errors_exit_1(app: App) -> None:
    console, out = shell(app)
    assert await console.run_once("/issue abc") == 1
    assert "is not a valid number" in out.getvalue()


async def test_more_pages_through_results(app: App) -> None:
    console, _ = shell(app)
    first = await console.handle("/search learning")
    assert first is not None and first.more is not None
    second = await console.handle("more")
    assert second is not None and second.entries
    assert {e.title for e in first.entries}.isdisjoint({e.title for e in second.entries})
    none_left = await console.handle("more") if second.more is None else None
    assert none_left is None or "Nothing more" in none_left.plain_text()


async def test_console_user_is_the_operator_and_subscriptions_persist(app: App) -> None:
    console, _ = shell(app)
    await console.handle("/subscribe pytorch")
    assert [s.value for s in await app.store.subscriptions("console", "console")] == ["pytorch"]
    assert console.context().is_operator


async def test_send_renders_to_the_terminal(app: App) -> None:
    console, out = shell(app)
    ids = await console.send(
        Target("console", "console"), Reply(title="Hello", blocks=(Entry("A [b] <c>", "s"),))
    )
    assert ids and "A [b] <c>" in out.getvalue()  # rich markup in content is shown literally


def test_render_highlights_marks_without_interpreting_markup() -> None:
    out = io.StringIO()
    Console(file=out, width=80).print(
        render(Reply(blocks=(Entry("[bold]x[/bold]", "find me here", marks=((0, 4),)),)))
    )
    assert "[bold]x[/bold]" in out.getvalue()


async def test_subscribing_in_the_shell_promises_no_direct_messages(app: App) -> None:
    """The shell is never published to, so /subscribe there says where digests really go."""
    console, _ = shell(app)
    reply = await console.handle("/subscribe pytorch")
    assert reply is not None
    said = " ".join(reply.plain_text().split())
    assert "will come to you" not in said
    assert "This shell gets no digests" in said
    assert "Digests of new issues go to Telegram and Discord readers" in said


async def test_plain_forces_plain_text_even_on_a_terminal(app: App) -> None:
    out = io.StringIO()
    terminal = Console(file=out, width=100, force_terminal=True)
    console = ConsoleAdapter(app.adapter_services, console=terminal, plain=True)
    assert await console.run_once("/section papers") == 0
    text = out.getvalue()
    assert "Reward is enough" in text and not set(text) & set("╭╮╰╯│─\x1b")


def test_wrapped_titles_keep_their_indent() -> None:
    out = io.StringIO()
    title = "A very long title that has to wrap over more than one line of a small terminal"
    Console(file=out, width=40).print(render(Reply(blocks=(Entry(title, "short"),))))
    lines = [line.strip("│ ") for line in out.getvalue().splitlines()[1:-1]]
    first, *rest = out.getvalue().splitlines()[1:-1]
    assert first.startswith("│ • A very long")
    assert all(line.startswith("│   ") for line in rest), out.getvalue()  # under the title
    assert " ".join(lines).startswith("• " + title)


HOSTILE = "\x1b[2J\x1b]0;pwned\x07\x9b31m\x08\x7f"  # clear screen, set title, C1 CSI, BS, DEL


def test_render_strips_control_characters_from_content() -> None:
    out = io.StringIO()
    summary = f"ab{HOSTILE}cd find\tme\nhere"
    find = summary.index("find")
    reply = Reply(
        title=f"T{HOSTILE}",
        blocks=(
            Entry(f"A{HOSTILE}B", summary, meta=f"m{HOSTILE}", marks=((find, find + 4),)),
            Paragraph(f"p{HOSTILE}q"),
        ),
        footer=f"f{HOSTILE}",
    )
    Console(file=out, width=100, force_terminal=True, color_system=None).print(render(reply))
    text = out.getvalue()
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert "\x08" not in text and "\x7f" not in text
    printable = "[2J]0;pwned31m"  # what is left of the sequences is harmless text
    for shown in (f"A{printable}B", f"p{printable}q", f"ab{printable}cd find", "me", "here"):
        assert shown in text


async def test_typed_control_characters_never_reach_the_terminal(app: App) -> None:
    console, out = shell(app)
    reply = await console.handle(f"/search {HOSTILE}learning")
    assert reply is not None
    console.console.print(render(reply))
    assert "\x1b" not in reply.plain_text() and "\x9b" not in reply.plain_text()
    assert "\x1b" not in out.getvalue() and "\x9b" not in out.getvalue()


async def test_a_one_shot_command_does_not_offer_a_more_it_cannot_read(app: App) -> None:
    console, out = shell(app)
    assert await console.run_once("/search learning") == 0
    text = " ".join(out.getvalue().split())
    assert "type 'more'" not in text
    assert "page on with 'more' in the interactive shell" in text

    interactive, shown = shell(app)
    reply = await interactive.handle("/search learning")
    assert reply is not None and reply.more is not None
    show(interactive.console, reply, plain=True)
    assert "(type 'more' for the next page)" in shown.getvalue()


async def test_buttons_show_as_the_commands_they_run(app: App) -> None:
    console, out = shell(app)
    assert await console.run_once("/latest") == 0
    lines = [line.strip("│ ") for line in out.getvalue().splitlines()]
    assert "[Follow topics] /topics" in lines
    [follow] = [line for line in lines if line.startswith("[Follow Language models & NLP] ")]

    # Typing what the button shows does what the button does.
    assert await console.run_once(follow.partition("] ")[2]) == 0
    assert [s.value for s in await app.store.subscriptions("console", "console")] == [
        "language-models"
    ]


async def test_the_shell_is_never_promised_direct_messages(app: App) -> None:
    console, _ = shell(app)
    help_reply = await console.handle("/help subscribe")
    assert help_reply is not None
    said = " ".join(help_reply.plain_text().split())
    assert "the terminal shell gets none" in said

    confirm = await console.handle("/start follow-pytorch")
    assert confirm is not None
    said = " ".join(confirm.plain_text().split())
    assert "This shell gets no digests" in said and "send them to you here" not in said
    assert [(a.label, a.command) for a in confirm.actions] == [
        ("Follow PyTorch", "/subscribe pytorch")
    ]
