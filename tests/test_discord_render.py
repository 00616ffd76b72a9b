"""Reply → Discord embeds: layout, escaping and Discord's limits, without any network."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord import (
    COLOURS,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FOOTER_LIMIT,
    MESSAGE_EMBED_CHARS,
    TITLE_LIMIT,
    DiscordMessage,
    escape,
    escape_title,
    render_block,
    render_embeds,
)
from bot.reply import Block, Continuation, Entry, Heading, Paragraph, Quote, Reply, Tone


def assert_within_limits(messages: list[DiscordMessage]) -> None:
    assert messages
    for message in messages:
        assert 1 <= len(message.embeds) <= EMBEDS_PER_MESSAGE
        assert message.size <= MESSAGE_EMBED_CHARS
        for embed in message.embeds:
            assert len(embed.title or "") <= TITLE_LIMIT
            assert len(embed.description or "") <= DESCRIPTION_LIMIT
            assert len(embed.footer.text or "") <= FOOTER_LIMIT
            assert embed.title or embed.description  # Discord refuses empty embeds
        payload = [e.to_dict() for e in message.embeds]
        assert all("fields" not in e for e in payload)


def descriptions(messages: list[DiscordMessage]) -> str:
    return "\n\n".join(e.description or "" for m in messages for e in m.embeds)


def test_escape_defuses_mentions_markdown_and_links() -> None:
    text = escape("@everyone <@123> **bold** _it_ ~~s~~ ||spoiler|| `code` [a](http://x) \\")
    assert "@everyone" not in text and "@\u200beveryone" in text
    assert r"\<@123>" in text  # shown literally, never a mention
    assert "**" not in text.replace(r"\*", "")
    assert r"\[a\](http://x)" in text
    assert text.endswith("\\\\")
    assert (
        escape("- item\n# header\n> quote\n1. first")
        == "\\- item\n\\# header\n\\> quote\n1\\. first"
    )
    assert escape("C# and 3.5-inch state-of-the-art") == "C# and 3.5-inch state-of-the-art"


def test_titles_escape_only_what_renders_there() -> None:
    assert escape_title("Issue #206 — *new* <tags>") == r"Issue #206 — \*new\* <tags>"


def test_entry_is_a_linked_bold_title_with_summary_marks_and_meta() -> None:
    entry = Entry(
        title="Reward is [enough]",
        url="https://example.org/a_(b) c",
        summary="agents that learn through trial and error",
        meta="Issue #206 · Papers",
        marks=((12, 17), (18, 25)),
    )
    assert render_block(entry) == (
        r"**[Reward is \[enough\]](https://example.org/a_%28b%29%20c)**"
        "\n"
        "agents that **learn** **through** trial and error"
        "\n"
        "*Issue #206 · Papers*"
    )
    assert render_block(Entry(title="No link", url="javascript:alert(1)")) == "**No link**"
    assert render_block(Paragraph("hint", muted=True)) == "*hint*"


def test_headings_start_embeds_and_the_footer_ends_the_reply() -> None:
    reply = Reply(
        title="Deep Learning Weekly: Issue #206",
        blocks=(
            Paragraph("General AI and more"),
            Heading("Industry"),
            Entry("Story one", "Summary one."),
            Heading("Papers & Publications"),
            Entry("Story two", "Summary two."),
        ),
        footer="Read a section with /section papers.",
        tone=Tone.SUCCESS,
    )
    (message,) = render_embeds(reply)
    assert [e.title for e in message.embeds] == [
        "Deep Learning Weekly: Issue #206",
        "Industry",
        "Papers & Publications",
    ]
    assert [e.description for e in message.embeds] == [
        "General AI and more",
        "**Story one**\nSummary one.",
        "**Story two**\nSummary two.",
    ]
    assert all(e.colour and e.colour.value == COLOURS[Tone.SUCCESS] for e in message.embeds)
    assert [e.footer.text for e in message.embeds] == [None, None, reply.footer]
    assert message.more is None


def test_a_long_reply_is_split_between_entries() -> None:
    entries = [
        Entry(f"Story {i}", "word " * 150, url=f"https://example.org/{i}") for i in range(60)
    ]
    reply = Reply(
        title="Search: word",
        blocks=(Heading("First"), *entries[:30], Heading("Second"), *entries[30:]),
        footer="footer",
        more=Continuation("/search word", 2),
    )
    messages = render_embeds(reply)
    assert len(messages) > 4
    assert_within_limits(messages)
    text = descriptions(messages)
    assert [int(n) for n in re.findall(r"\*\*\[Story (\d+)\]", text)] == list(range(60))
    assert messages[0].embeds[0].title == "Search: word"
    assert all(m.more is None for m in messages[:-1])
    assert messages[-1].more == Continuation("/search word", 2)
    assert messages[-1].embeds[-1].footer.text == "footer"
    titled = [e.title for m in messages for e in m.embeds if e.title]
    assert titled == ["Search: word", "First", "Second"]  # continued sections stay untitled


def test_oversized_blocks_are_shortened_to_fit() -> None:
    huge = Entry(
        "A" * 500, "*" * 9000, url="https://example.org/x", meta="meta", marks=((0, 8000),)
    )
    reply = Reply(title="T" * 400, blocks=(Paragraph("_" * 10_000), huge), footer="f" * 3000)
    messages = render_embeds(reply)
    assert_within_limits(messages)
    assert messages[0].embeds[0].title is not None
    assert messages[0].embeds[0].title.endswith("…")
    assert "**[AAAA" in descriptions(messages)
    assert messages[-1].embeds[-1].footer.text is not None
    assert len(messages[-1].embeds[-1].footer.text) == FOOTER_LIMIT


def test_a_long_intro_is_cut_to_fit_escaping_each_line_about_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cutting a quote to the 4,096 of a description searches for the longest start that fits.
    Each step of the search escaped every line again, and the block was rendered again each
    time it was measured: a 2,000-line intro cost over 9,000 escapes (three regex passes each)."""
    from adapters.discord import _render

    escaped: list[str] = []

    def counting(text: str) -> str:
        escaped.append(text)
        return real(text)

    real = _render.escape
    monkeypatch.setattr(_render, "escape", counting)
    lines = [f"Line {n}: *stars* and <@{n}> > not a quote" for n in range(2000)]

    (message,) = render_embeds(Reply(blocks=(Quote("\n".join(lines)),)))

    assert_within_limits([message])
    description = message.embeds[0].description
    assert description is not None and description.endswith("…")
    assert description.startswith("> Line 0: \\*stars\\* and \\<@0> > not a quote\n> Line 1:")
    assert len(escaped) <= 2.5 * len(lines)


def test_many_small_sections_never_exceed_ten_embeds() -> None:
    blocks: list[Block] = []
    for i in range(40):
        blocks += [Heading(f"S{i}"), Entry(f"E{i}")]
    messages = render_embeds(Reply(blocks=tuple(blocks)))
    assert_within_limits(messages)
    assert sum(len(m.embeds) for m in messages) == 40


def test_an_empty_reply_is_still_a_valid_message() -> None:
    (message,) = render_embeds(Reply())
    assert message.embeds[0].description == "…"
    (titled,) = render_embeds(Reply(title="Only a title"))
    assert titled.embeds[0].title == "Only a title"


TOKENS = [*"ab *_~|`[]()<>#-@\\\n", "@everyone", "<@1>", "é", "🙂", "1. ", "**x**"]
hostile = st.lists(st.sampled_from(TOKENS), max_size=300).map("".join)


@st.composite
def replies(draw: st.DrawFn) -> Reply:
    blocks: list[Block] = []
    for index in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["heading", "paragraph", "quote", "entry"]))
        if kind == "heading":
            blocks.append(Heading(draw(hostile) or "h"))
        elif kind == "quote":  # an intro: as long as a message, or longer
            blocks.append(Quote(draw(hostile) + "\n\n> y" * draw(st.sampled_from([0, 50, 900]))))
        elif kind == "paragraph":
            blocks.append(Paragraph(draw(hostile), muted=draw(st.booleans())))
        else:
            summary = draw(hostile) + "x" * draw(st.sampled_from([0, 100, 3000, 7000]))
            start = draw(st.integers(0, len(summary)))
            end = draw(st.integers(start, len(summary)))
            blocks.append(
                Entry(
                    f"entry{index} " + draw(hostile),  # no "t" in the alphabet: a unique marker
                    summary,
                    url=draw(st.sampled_from([None, "https://example.org/a(b)", "ftp://x"])),
                    meta=draw(st.one_of(st.none(), hostile)),
                    marks=((start, end),),
                )
            )
    return Reply(
        blocks=tuple(blocks),
        title=draw(st.one_of(st.none(), hostile)),
        footer=draw(st.one_of(st.none(), hostile)),
        tone=draw(st.sampled_from(list(Tone))),
    )


@settings(max_examples=150, deadline=None)
@given(replies())
def test_any_reply_renders_within_discords_limits(reply: Reply) -> None:
    messages = render_embeds(reply)
    assert_within_limits(messages)
    text = descriptions(messages)
    assert "@everyone" not in text
    assert not re.search(r"(?<!\\)<@", text)
    # Every entry is rendered once, in order, its title line intact.
    shown = [int(n) for n in re.findall(r"^\*\*\[?entry(\d+)\b", text, flags=re.MULTILINE)]
    assert shown == [int(b.title[5:].split()[0]) for b in reply.blocks if isinstance(b, Entry)]


def test_follow_up_replies_become_messages_of_their_own() -> None:
    reply = Reply(
        title="Issue",
        blocks=(Paragraph("body"),),
        then=(Reply.text("would send 2 posts", title="Preview"),),
    )
    first, second = render_embeds(reply)
    assert first.embeds[0].title == "Issue"
    assert second.embeds[0].title == "Preview"
    assert second.embeds[0].description == "would send 2 posts"
