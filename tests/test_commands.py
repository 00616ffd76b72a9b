"""Every command as a reader uses it, including the bad input readers send."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.commands import ChatKind, CommandRegistry, Context, Permission, build_registry
from bot.reply import Entry, Heading, Reply, Tone


@pytest.fixture
def registry() -> CommandRegistry:
    return build_registry()


async def say(registry: CommandRegistry, ctx: Context, line: str) -> Reply:
    reply = await registry.dispatch_text(ctx, line)
    assert reply is not None, line
    return reply


def test_every_command_is_declared_once_with_help(registry: CommandRegistry) -> None:
    names = set(registry.commands)
    assert {
        "start",
        "help",
        "latest",
        "issue",
        "issues",
        "section",
        "search",
        "topics",
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "weekly",
    } <= names
    for command in registry:
        assert 1 <= len(command.description) <= 100
        assert command.help


async def test_latest_shows_every_section_of_the_newest_issue(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "/latest")
    assert reply.title == "Deep Learning Weekly: Issue #206"
    assert [b.text for b in reply.blocks if isinstance(b, Heading)] == [
        "Industry",
        "Mobile & Edge",
        "Learning",
        "Libraries & Code",
        "Papers & Publications",
    ]
    assert len(reply.entries) == 20
    assert all(len(e.summary) <= 280 for e in reply.entries)  # abstracts trimmed in the overview


async def test_section_papers_lists_the_papers_in_full(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "/section papers")
    assert reply.title == "Papers & Publications — Issue #206"
    assert [e.title for e in reply.entries] == [
        "Descending through a Crowded Valley -- Benchmarking Deep Learning Optimizers",
        "Reward is enough",
        "Thinking Like Transformers",
    ]
    assert reply.entries[1].summary.startswith("In this article we hypothesise")
    assert reply.entries[1].summary.endswith("artificial general intelligence.")


@pytest.mark.parametrize(
    "line", ["/section mobile 202", "/section 202 mobile", "/section Mobile & Edge #202"]
)
async def test_section_of_an_older_issue(
    registry: CommandRegistry, ctx: Callable[..., Context], line: str
) -> None:
    reply = await say(registry, ctx(), line)
    assert reply.title == "Mobile & Edge — Issue #202"
    assert reply.entries[0].title == "Introduction to Embedded Machine Learning"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/issue abc", "“abc” is not a valid number"),
        ("/issue 99999", "There's no issue #99,999"),
        ("/issue", "Number is missing"),
        ("/issue 206 207", "Too many arguments"),
        ("/section", "Name is missing"),
        ("/section foo", "Issue #206 has no section “foo”"),
        ("/section papers 999", "There's no issue #999"),
        ("/search", "Query is missing"),
        ("/search " + "x" * 10_000, "Query is 10,000 characters long; the limit is 200"),
        ("/search 🤗🤗🤗", "no words to search for"),
        ("/frobnicate", "I don't know the command /frobnicate"),
        ("/lates", "Did you mean /latest?"),
        ("/help frobnicate", "I don't know the command /frobnicate"),
        ("/subscribe", "Topic is missing"),
        ("/subscribe !!!", "has no letters or digits"),
        ("/unsubscribe pytorch", "You don't follow “pytorch”"),
        ("/weekly on", "/weekly works in a channel or group chat"),
    ],
)
async def test_bad_input_gets_a_specific_reply(
    registry: CommandRegistry, ctx: Callable[..., Context], line: str, fragment: str
) -> None:
    reply = await say(registry, ctx(), line)
    assert reply.tone is Tone.ERROR
    assert fragment in reply.plain_text()


async def test_search_finds_and_highlights(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), '/search "reinforcement learning"')
    titles = [e.title for e in reply.entries]
    assert "DeepMind says reinforcement learning is ‘enough’ to reach general AI" in titles
    assert all(e.meta and e.meta.startswith("Issue #") for e in reply.entries)
    assert any(e.marks for e in reply.entries)


async def test_search_with_html_and_markdown_is_plain_text(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "/search <b>pytorch</b> **mobile** [x](javascript:alert(1))")
    assert (
        reply.title == "Search: <b>pytorch</b> **mobile** [x](javascript:alert(1))"
    )  # adapters escape it
    assert any("PyTorch Mobile" in e.title for e in reply.entries)


async def test_long_results_offer_more_pages(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "/search learning")
    assert reply.more is not None and reply.more.page == 2
    second = await registry.continue_(ctx(), reply.more.command, reply.more.page)
    assert (
        second is not None
        and second.entries
        and {e.title for e in second.entries}.isdisjoint({e.title for e in reply.entries})
    )


async def test_plain_text_in_private_chat_searches(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "wavenet")
    assert reply.entries[0].title == "DeepMind introduces the latest iteration of WaveNet"


async def test_groups_ignore_chatter_and_other_bots(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    group = ctx(chat_kind=ChatKind.GROUP, chat_id="-100", bot_username="dlw_bot")
    assert await registry.dispatch_text(group, "hello everyone") is None
    assert await registry.dispatch_text(group, "/latest@other_bot") is None
    assert await registry.dispatch_text(group, "/frobnicate") is None  # maybe another bot's command
    reply = await registry.dispatch_text(group, "/latest@DLW_bot")
    assert reply is not None and reply.title == "Deep Learning Weekly: Issue #206"


async def test_subscribe_topic_keyword_and_idempotence(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    me = ctx(user_id="42")
    reply = await say(registry, me, "/subscribe PyTorch")
    assert "Following the topic PyTorch (pytorch): 7 items" in reply.plain_text()
    assert reply.ephemeral and reply.tone is Tone.SUCCESS
    reply = await say(registry, me, "/subscribe Wave-Net magic")
    assert "isn't one of the /topics, so I'm following it as a keyword" in reply.plain_text()
    again = await say(registry, me, "/subscribe pytorch")
    assert "You already follow PyTorch (pytorch)." in again.plain_text()
    listing = await say(registry, me, "/subscriptions")
    assert [e.title for e in listing.entries] == ["PyTorch (pytorch)", "“wave-net magic” (keyword)"]
    assert listing.entries[0].meta == "7 items in the archive"


async def test_subscribe_aliases_and_many_at_once(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    me = ctx(user_id="7")
    reply = await say(registry, me, "/subscribe nlp, self driving, tinyml")
    text = reply.plain_text()
    assert "Language models & NLP (language-models)" in text
    assert "Autonomous vehicles (autonomous-vehicles)" in text
    assert "Edge & TinyML (edge-ml)" in text


async def test_subscription_limit(registry: CommandRegistry, ctx: Callable[..., Context]) -> None:
    me = ctx(user_id="9")
    words = ", ".join(f"keyword{i}" for i in range(30))
    reply = await say(registry, me, f"/subscribe {words}")
    assert "the limit is 25" in reply.plain_text()
    assert len((await say(registry, me, "/subscriptions")).entries) == 25
    reply = await say(registry, me, "/subscribe pytorch")
    assert reply.tone is Tone.ERROR and "Not added: pytorch" in reply.plain_text()


async def test_unsubscribe_one_and_all(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    me = ctx(user_id="5")
    await say(registry, me, "/subscribe jax, pytorch, diffusion models")
    reply = await say(registry, me, "/unsubscribe JAX")
    assert reply.plain_text() == "Stopped following JAX (jax)."
    reply = await say(registry, me, "/unsubscribe diffusion models")
    assert "“diffusion models” (keyword)" in reply.plain_text()
    reply = await say(registry, me, "/unsubscribe all")
    assert reply.plain_text() == "Done: stopped your only subscription."
    assert "don't follow any topics" in (await say(registry, me, "/subscriptions")).plain_text()


async def test_topics_lists_taxonomy_with_counts_and_marks_mine(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    me = ctx(user_id="3")
    await say(registry, me, "/subscribe jax")
    reply = await say(registry, me, "/topics")
    lines = reply.plain_text().splitlines()
    assert lines[0] == "22 topics"
    topics = [line for line in lines if ": /subscribe " in line]
    assert len(topics) == 22  # one line each, with its match count
    assert "✓ JAX: /subscribe jax · 2 items" in topics
    assert all(line.endswith((" item", " items")) for line in topics)


async def test_weekly_needs_chat_admin_and_registers_threads(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    async def yes() -> bool:
        return True

    async def no() -> bool:
        return False

    group: dict[str, object] = {
        "chat_kind": ChatKind.GROUP,
        "chat_id": "-1001",
        "chat_title": "ML group",
    }
    refused = await say(registry, ctx(chat_admin=no, **group), "/weekly on")
    assert refused.plain_text() == "Only administrators of this chat can use /weekly."
    reply = await say(registry, ctx(chat_admin=yes, **group), "/weekly on")
    assert reply.tone is Tone.SUCCESS and "posted in this chat" in reply.plain_text()
    again = await say(registry, ctx(chat_admin=yes, **group), "/weekly on")
    assert "already gets the weekly post" in again.plain_text()
    topic = await say(registry, ctx(chat_admin=yes, thread_id="77", **group), "/weekly on")
    assert "posted in this topic" in topic.plain_text()
    app = ctx().services
    assert [str(c.target) for c in await app.store.channels()] == ["test:-1001", "test:-1001/77"]
    await say(registry, ctx(chat_admin=yes, **group), "/weekly off")
    assert [str(c.target) for c in await app.store.channels()] == ["test:-1001/77"]
    bad = await say(registry, ctx(chat_admin=yes, **group), "/weekly maybe")
    assert "Setting must be one of: on, off." in bad.plain_text()


async def test_invoke_with_typed_arguments(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await registry.invoke(ctx(), "issue", {"number": 202})
    assert reply is not None and reply.title == "Deep Learning Weekly: Issue #202"
    reply = await registry.invoke(ctx(), "section", {"name": "libs", "number": None})
    assert reply is not None and reply.title == "Libraries & Code — Issue #206"
    reply = await registry.invoke(ctx(), "issue", {})
    assert (
        reply is not None and reply.tone is Tone.ERROR and "Number is missing" in reply.plain_text()
    )
    reply = await registry.invoke(ctx(), "issue", {"number": True})
    assert reply is not None and reply.tone is Tone.ERROR


async def test_handler_crash_becomes_an_apology(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    async def boom(ctx: Context) -> Reply:
        raise RuntimeError("bug")

    registry.command("boom", "Crashes", "Crashes on purpose.")(boom)
    reply = await say(registry, ctx(), "/boom")
    assert reply.tone is Tone.ERROR and "something went wrong on my side" in reply.plain_text()


async def test_operator_commands_are_hidden_and_refused(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    async def secret(ctx: Context) -> Reply:
        return Reply.text("ok")

    registry.command("secret", "Operators only", "Operators only.", permission=Permission.OPERATOR)(
        secret
    )
    assert "secret" not in {c.name for c in registry.public()}
    refused = await say(registry, ctx(), "/secret")
    assert refused.plain_text() == "/secret is for the bot's operators."
    allowed = await say(registry, ctx(operator=True), "/secret")
    assert allowed.plain_text() == "ok"
    help_text = (await say(registry, ctx(), "/help")).plain_text()
    assert "/secret" not in help_text


async def test_autocomplete_suggestions(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    from bot.commands import Suggest

    sections = await registry.suggestions(ctx(), Suggest.SECTION, "pap")
    assert sections == [("Papers & Publications", "papers")]
    topics = await registry.suggestions(ctx(), Suggest.TOPIC, "torch")
    assert ("PyTorch (pytorch)", "pytorch") in topics
    await say(registry, ctx(), "/subscribe jax")
    mine = await registry.suggestions(ctx(), Suggest.SUBSCRIPTION, "")
    assert mine == [("jax", "jax"), ("all (every subscription)", "all")]


async def test_start_and_help(registry: CommandRegistry, ctx: Callable[..., Context]) -> None:
    start = await say(registry, ctx(), "/start")
    assert "Latest: Issue #206" in start.plain_text()
    help_reply = await say(registry, ctx(), "/help")
    assert any(e.title == "/search QUERY" for e in help_reply.entries)
    detail = await say(registry, ctx(), "/help /section")
    assert detail.title == "/section" and "Usage: /section NAME [NUMBER]" in detail.plain_text()


async def test_issues_lists_newest_first(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    reply = await say(registry, ctx(), "/issues")
    assert [e.title for e in reply.entries] == ["Issue #206", "Issue #202"]
    assert not isinstance(reply.blocks[0], Entry) or reply.blocks[0].title == "Issue #206"


async def test_an_older_issue_hints_at_its_own_sections(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    """/issue 202's hint opens #202's papers; following it shows #202, not the latest."""
    older = await say(registry, ctx(), "/issue 202")
    assert older.footer is not None and "/section papers 202;" in older.footer
    followed = await say(registry, ctx(), "/section papers 202")
    assert followed.title == "Papers & Publications — Issue #202"
    latest = await say(registry, ctx(), "/latest")
    assert latest.footer is not None and "/section papers;" in latest.footer


async def test_search_results_say_how_to_open_their_section(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    """Every hit's context line ends with the command that opens its section of its issue,
    and that command shows the hit."""
    reply = await say(registry, ctx(), "/search embedded machine learning")
    assert reply.entries
    for entry in reply.entries:
        assert entry.meta is not None and " · /section " in entry.meta, entry.meta
        command = entry.meta.rsplit(" · ", 1)[1]
        opened = await say(registry, ctx(), command)
        assert opened.tone is not Tone.ERROR, command
        pages = [opened]
        while (more := pages[-1].more) is not None:
            page = await registry.continue_(ctx(), more.command, more.page)
            assert page is not None
            pages.append(page)
        assert any(entry.title in [e.title for e in p.entries] for p in pages), command
    assert any(e.meta == "Issue #202 · Mobile & Edge · /section mobile 202" for e in reply.entries)


async def test_counts_read_naturally_and_are_formatted_one_way(
    registry: CommandRegistry, ctx: Callable[..., Context]
) -> None:
    """ "Result 1", not "Results 1–1"; thousands separators on every number a reader sees."""
    one = await say(registry, ctx(), "/search Mythic")
    assert len(one.entries) == 1 and one.plain_text().splitlines()[1] == "Result 1"
    long = await say(registry, ctx(), "/subscribe " + "x" * 5000)
    assert "is 5,000 characters long; the limit is 1,000" in long.plain_text()
    me = ctx(user_id="7")
    await say(registry, me, "/subscribe jax, pytorch")
    several = await say(registry, me, "/unsubscribe all")
    assert several.plain_text() == "Done: stopped all 2 subscriptions."
