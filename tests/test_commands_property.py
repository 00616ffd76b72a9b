"""Generated command lines: every one gets a non-empty reply or is deliberately ignored; none raises."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import ChatKind, Context, build_registry

REGISTRY = build_registry()
# The generic apology the registry answers with when a handler raises (bot/commands.py): a
# reply, but a bug's reply, so it must never come back for any line.
APOLOGY = "something went wrong on my side"
NAMES = [*REGISTRY.commands, "unknown", "lates", "SEARCH", "issue@dlw_bot", "issue@other"]
ARGUMENT = st.one_of(
    st.text(max_size=60),
    st.integers(min_value=-10, max_value=10**12).map(str),
    st.sampled_from(
        [
            "papers",
            "libs",
            "#206",
            "all",
            "on",
            "off",
            '"',
            "AND",
            "NEAR(",
            "*",
            "<b>",
            "&amp;",
            "🤗",
            "\x00",
            "\u202e",
        ]
    ),
    st.text(min_size=200, max_size=5000),
)
LINE = st.one_of(
    st.builds(
        lambda n, args: f"/{n} " + " ".join(args),
        st.sampled_from(NAMES),
        st.lists(ARGUMENT, max_size=4),
    ),
    st.text(max_size=300),
)


@settings(
    max_examples=1200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(line=LINE, kind=st.sampled_from(list(ChatKind)))
async def test_any_line_gets_a_reply_and_nothing_raises(
    ctx: Callable[..., Context], line: str, kind: ChatKind
) -> None:
    async def is_admin() -> bool:
        return len(line) % 2 == 0

    context = ctx(
        chat_kind=kind,
        chat_id="c1" if kind is not ChatKind.PRIVATE else "u1",
        bot_username="dlw_bot",
        chat_admin=is_admin,
    )
    reply = await REGISTRY.dispatch_text(context, line)
    if reply is None:
        # Only group/channel chatter, another bot's command, or an empty line are ignored.
        assert kind is not ChatKind.PRIVATE or not line.strip()
        return
    assert reply.plain_text().strip()
    assert APOLOGY not in reply.plain_text(), f"a handler raised for {line!r} in a {kind} chat"
