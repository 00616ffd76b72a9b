"""Chunking replies at block boundaries, and shortening text at word boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.reply import Block, Entry, Heading, Paragraph, Reply, Tone, chunk, shorten


def size(block: Block) -> int:
    if isinstance(block, Entry):
        return len(block.title) + len(block.summary)
    return len(block.text)


def test_chunks_stay_within_budget_and_keep_order() -> None:
    blocks: list[Block] = [Entry("t" * 10, "s" * 30) for _ in range(10)]
    runs = chunk(blocks, 100, size)
    assert all(sum(size(b) for b in run) <= 100 for run in runs)
    assert [b for run in runs for b in run] == blocks


def test_heading_is_never_left_at_the_end_of_a_chunk() -> None:
    blocks: list[Block] = [Entry("a", "x" * 80), Heading("Papers"), Entry("b", "y" * 80)]
    runs = chunk(blocks, 100, size)
    assert runs == [[blocks[0]], [blocks[1], blocks[2]]]


def test_oversized_block_goes_through_fit() -> None:
    big = Entry("t", "s" * 500)

    def fit(block: Block, budget: int) -> Block:
        assert isinstance(block, Entry)
        return Entry(block.title, shorten(block.summary, budget - len(block.title)))

    runs = chunk([big], 100, size, fit=fit)
    assert size(runs[0][0]) <= 100
    with pytest.raises(ValueError, match="does not fit"):
        chunk([big], 100, size)


@given(
    st.lists(
        st.one_of(
            st.builds(Heading, st.text(max_size=30)), st.builds(Paragraph, st.text(max_size=90))
        ),
        max_size=40,
    ),
    st.integers(min_value=100, max_value=400),
    st.integers(min_value=0, max_value=5),
)
def test_chunk_property(blocks: list[Block], budget: int, separator: int) -> None:
    runs = chunk(blocks, budget, size, separator=separator)
    assert [b for run in runs for b in run] == blocks
    for run in runs:
        assert sum(size(b) for b in run) + separator * (len(run) - 1) <= budget


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("the quick brown fox jumps", 15, "the quick…"),
        ("abcdefghijklmnop", 8, "abcdefg…"),
    ],
)
def test_shorten(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected
    assert len(shorten(text, limit)) <= limit


def test_plain_text_and_error_reply() -> None:
    reply = Reply.error("Nope.", hint="Try /help.")
    assert reply.tone is Tone.ERROR and reply.ephemeral
    assert reply.plain_text() == "Nope.\nTry /help."


def test_follow_ups_and_more_pages_do_not_mix() -> None:
    from bot.reply import Continuation

    follow = Reply.text("then this")
    assert (
        Reply.text("first").plain_text() + "\n\nthen this"
        == Reply(blocks=(Paragraph("first"),), then=(follow,)).plain_text()
    )
    with pytest.raises(ValueError, match="can't also offer more pages"):
        Reply(then=(follow,), more=Continuation("/search x", 2))
