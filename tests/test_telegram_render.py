"""Reply → Telegram HTML: escaping, highlights, and splitting within Telegram's 4096 limit.

Every rendered message is checked with the fake Bot API's port of TDLib's HTML parser, so
"valid" here means what Telegram would accept, and lengths are counted in UTF-16 units after
parsing, as Telegram counts them.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.telegram import MAX_MESSAGE_UTF16, RenderedMessage, render_html, utf16_len
from bot.reply import Block, Continuation, Entry, Heading, Paragraph, Quote, Reply
from tests.fakes.telegram import ParsedText, parse_html
from tests.fakes.telegram import utf16_len as telegram_len

HOSTILE = '<b>x</b> & "q" <script>alert(1)</script> &amp; &lt;'
BRAIN = "\U0001f9e0"  # two UTF-16 units


def parsed(message: RenderedMessage) -> ParsedText:
    """What Telegram makes of the message; raises if Telegram would refuse the HTML."""
    result = parse_html(message.text)
    assert telegram_len(result.text) <= MAX_MESSAGE_UTF16
    assert utf16_len(message.text) <= MAX_MESSAGE_UTF16  # the raw HTML too, to be safe
    return result


def entity_texts(result: ParsedText, kind: str) -> list[str]:
    raw = result.text.encode("utf-16-le")
    return [
        raw[e["offset"] * 2 : (e["offset"] + e["length"]) * 2].decode("utf-16-le")
        for e in result.entities
        if e["type"] == kind
    ]


def test_everything_from_content_or_users_is_escaped() -> None:
    reply = Reply(
        title=HOSTILE,
        blocks=(
            Heading(HOSTILE),
            Paragraph(HOSTILE),
            Paragraph(HOSTILE, muted=True),
            Entry(
                title=HOSTILE,
                url='https://example.com/a?b=1&c="2"',
                summary=HOSTILE,
                meta=HOSTILE,
            ),
        ),
        footer=HOSTILE,
    )

    [message] = render_html(reply)
    result = parsed(message)

    assert result.text.count(HOSTILE) == 8  # every block shows the text literally
    assert "<script>" not in message.text
    links = [e["url"] for e in result.entities if e["type"] == "text_link"]
    assert links == ['https://example.com/a?b=1&c="2"']


def test_entry_layout_bold_linked_title_summary_and_italic_meta() -> None:
    reply = Reply(
        title="Papers — Issue #206",
        blocks=(Entry("Reward is enough", "Intelligence from reward.", "https://x.org/r", "206"),),
    )

    [message] = render_html(reply)

    assert message.text == (
        "<b>Papers — Issue #206</b>\n\n"
        '<b><a href="https://x.org/r">Reward is enough</a></b>\n'
        "Intelligence from reward.\n<i>206</i>"
    )
    result = parsed(message)
    assert entity_texts(result, "bold") == ["Papers — Issue #206", "Reward is enough"]
    assert entity_texts(result, "italic") == ["206"]


def test_title_with_url_is_a_link_and_headings_are_bold() -> None:
    reply = Reply(title="Issue #206", url="https://dlw.example/206", blocks=(Heading("Papers"),))

    [message] = render_html(reply)

    assert message.text.startswith('<b><a href="https://dlw.example/206">Issue #206</a></b>')
    assert entity_texts(parsed(message), "bold") == ["Issue #206", "Papers"]


def test_search_marks_are_bold_even_unsorted_overlapping_or_out_of_range() -> None:
    summary = "federated learning on phones & edge <devices>"
    entry = Entry("t", summary, marks=((30, 34), (0, 9), (4, 12), (40, 999), (50, 60)))

    [message] = render_html(Reply(blocks=(entry,)))

    bold = entity_texts(parsed(message), "bold")
    assert bold == ["t", "federated le", " edg", "ices>"]


def test_muted_text_is_italic() -> None:
    [message] = render_html(Reply(blocks=(Paragraph("main"), Paragraph("hint", muted=True))))

    assert message.text == "main\n\n<i>hint</i>"


def test_long_reply_is_split_between_items_and_every_item_survives_once() -> None:
    entries = [
        Entry(f"Story {n} <{n}>", f"Summary {n} & " + "word " * 60, f"https://x.org/{n}")
        for n in range(120)
    ]
    reply = Reply(title="Everything", blocks=(Heading("Section"), *entries), footer="The end")

    messages = render_html(reply)

    assert len(messages) > 3
    texts = [parsed(m).text for m in messages]
    joined = "\n\n".join(texts)
    for n in range(120):
        assert joined.count(f"Story {n} <{n}>\n") == 1
    assert texts[0].startswith("Everything\n\nSection\n\nStory 0")
    assert texts[-1].endswith("The end")
    # A cut never falls inside an item: each message starts with a whole title.
    assert all(t.startswith(("Everything", "Story ")) for t in texts)


def test_heading_is_kept_with_the_item_that_follows_it() -> None:
    filler = Entry("filler", "x" * 3900)
    reply = Reply(blocks=(filler, Heading("Papers"), Entry("Reward is enough", "y" * 300)))

    messages = render_html(reply)

    assert [parsed(m).text.split("\n")[0] for m in messages] == ["filler", "Papers"]


def test_oversized_item_has_its_summary_shortened_and_marks_clipped() -> None:
    summary = ("deep learning " * 800).strip()  # ~11,000 characters
    entry = Entry("Huge", summary, "https://x.org/h", "Issue #1", marks=((0, 4), (10000, 10004)))

    [message] = render_html(Reply(blocks=(entry,)))

    result = parsed(message)
    assert result.text.startswith("Huge\ndeep learning deep")
    assert "…\nIssue #1" in result.text
    assert entity_texts(result, "bold") == ["Huge", "deep"]
    assert utf16_len(message.text) > MAX_MESSAGE_UTF16 - 200  # it still uses the room it has


def test_length_is_counted_in_utf16_units_so_emoji_count_double() -> None:
    emoji_entries = [Entry(f"{BRAIN} {n}", BRAIN * 700) for n in range(6)]  # 1,400 units each

    messages = render_html(Reply(blocks=tuple(emoji_entries)))

    assert len(messages) == 3  # two per message: 2 × 1,400 fits, 3 × 1,400 does not
    for message in messages:
        assert telegram_len(parsed(message).text) <= MAX_MESSAGE_UTF16


def test_escaping_cannot_push_a_message_over_the_limit() -> None:
    ampersands = [Entry("&" * 50, "&" * 700) for _ in range(10)]  # each & becomes &amp;

    messages = render_html(Reply(blocks=tuple(ampersands)))

    assert len(messages) == 10  # 3,750 units of HTML each, for 750 characters Telegram counts
    assert all(parsed(m).text == "&" * 50 + "\n" + "&" * 700 for m in messages)


def test_a_giant_title_or_url_still_yields_a_valid_message() -> None:
    entry = Entry("T" * 5000, "", "https://x.org/" + "p" * 5000, "m" * 5000)
    reply = Reply(title="H" * 5000, blocks=(entry, Paragraph("P" * 9000)))

    messages = render_html(reply)

    assert len(messages) == 3
    for message in messages:
        parsed(message)


def test_link_previews_only_for_a_single_item_reply_that_wants_them() -> None:
    one = Entry("Only", "story", "https://x.org/1")
    two = Entry("Second", "story", "https://x.org/2")

    assert render_html(Reply(blocks=(one,), link_previews=True))[0].link_preview
    assert not render_html(Reply(blocks=(one,)))[0].link_preview
    assert not render_html(Reply(blocks=(one, two), link_previews=True))[0].link_preview


def test_blank_blocks_are_dropped_and_an_empty_reply_sends_nothing() -> None:
    assert render_html(Reply(blocks=(Paragraph("  "), Heading("")))) == []
    [message] = render_html(Reply(title=" ", blocks=(Paragraph(""), Paragraph("ok"))))
    assert message.text == "ok"


def test_more_does_not_change_the_text() -> None:
    reply = Reply(blocks=(Paragraph("page one"),), more=Continuation("/search x", 2))

    assert [m.text for m in render_html(reply)] == ["page one"]


_text = st.text(alphabet=st.sampled_from([*"ab <>&\"'é\n", BRAIN, "\u200d", "—"]), max_size=400)
_blocks = st.lists(
    st.one_of(
        st.builds(Heading, _text),
        st.builds(Paragraph, _text, st.booleans()),
        st.builds(Quote, _text | st.text(alphabet="ab <&\n", min_size=4000), st.booleans()),
        st.builds(
            Entry,
            _text,
            _text,
            st.sampled_from([None, "https://x.org/a?b=1&c=<2>"]),
            st.one_of(st.none(), _text),
            st.lists(st.tuples(st.integers(-5, 420), st.integers(-5, 420)), max_size=3).map(tuple),
        ),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(blocks=_blocks, limit=st.integers(min_value=300, max_value=MAX_MESSAGE_UTF16))
def test_any_reply_renders_to_valid_messages_within_the_limit(
    blocks: list[Block], limit: int
) -> None:
    for message in render_html(Reply(blocks=tuple(blocks)), limit=limit):
        result = parse_html(message.text)
        assert utf16_len(message.text) <= limit
        assert result.text.strip()


@pytest.mark.parametrize("limit", [MAX_MESSAGE_UTF16, 500])
def test_ordinary_replies_fit_whole(limit: int) -> None:
    reply = Reply(title="t", blocks=tuple(Entry(f"e{n}", "s" * 40) for n in range(5)))

    assert len(render_html(reply, limit=limit)) == 1


def test_follow_up_replies_become_messages_of_their_own() -> None:
    reply = Reply(
        title="Issue",
        blocks=(Paragraph("body"),),
        then=(Reply.text("would send 2 posts", title="Preview"),),
    )
    messages = render_html(reply)
    assert len(messages) == 2
    assert "body" in messages[0].text and "would send" not in messages[0].text
    assert messages[1].text == "<b>Preview</b>\n\nwould send 2 posts"
