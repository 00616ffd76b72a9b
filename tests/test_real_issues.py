"""A real recent issue, imported, as readers get it: every section (whatever its name), linked
titles on every platform, the date and the way to the issue on the web."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.console import render
from adapters.discord import render_embeds
from adapters.telegram import render_html
from bot.app import App
from bot.commands import ChatKind, Context
from bot.config import Settings
from bot.ingest import parse_document
from bot.ingest.write import issue_to_yaml
from bot.reply import Entry, Heading, Quote, Reply, Tone
from bot.store import DeliveryKind

REAL = Path(__file__).resolve().parent / "data" / "real"
WEB = "https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-417"


@pytest.fixture
def with_417(settings: Settings) -> Settings:
    (parsed,) = parse_document((REAL / "issue-417.md").read_bytes())
    target = settings.content_dir / "issues" / "0417.yaml"
    target.write_text(issue_to_yaml(parsed.issue, source="issue-417.md"), encoding="utf-8")
    return settings


@pytest.fixture
async def app417(with_417: Settings) -> AsyncIterator[App]:
    app = await App.create(with_417)
    try:
        yield app
    finally:
        await app.close()


def _ctx(app: App) -> Context:
    return Context(
        services=app, platform="test", user_id="u1", chat_id="u1", chat_kind=ChatKind.PRIVATE
    )


async def _say(app: App, line: str) -> Reply:
    reply = await app.registry.dispatch_text(_ctx(app), line)
    assert reply is not None
    return reply


async def test_latest_is_the_real_issue_with_its_web_link_and_every_section(app417: App) -> None:
    reply = await _say(app417, "/latest")
    assert reply.title == "Deep Learning Weekly: Issue 417"
    assert reply.url == WEB
    assert [b.text for b in reply.blocks if isinstance(b, Heading)] == [
        "Industry",
        "MLOps & LLMOps",
        "Learning",
        "Libraries & Code",
        "Papers & Publications",
    ]
    web = [e for e in reply.entries if e.title == "Read on the web"]
    assert [e.url for e in web] == [WEB]
    stories = [e for e in reply.entries if e not in web]
    assert len(stories) == 17 and all(e.url and e.url.startswith("https://") for e in stories)
    # No subtitle: the lead of the intro says what is in the issue, and the date is shown.
    assert any(
        "This week in deep learning, we bring you" in getattr(b, "text", "") for b in reply.blocks
    )
    assert any(getattr(b, "text", "") == "13 August 2025" for b in reply.blocks)


@pytest.mark.parametrize("name", ["mlops", "llmops", "MLOps & LLMOps", "ml ops", "llm"])
async def test_a_new_section_is_reachable_by_its_own_words(app417: App, name: str) -> None:
    reply = await _say(app417, f"/section {name}")
    assert reply.title == "MLOps & LLMOps — Issue #417"
    assert reply.entries[0].title.startswith("AI Agent Design Patterns")


async def test_an_unknown_section_lists_this_issues_names(app417: App) -> None:
    reply = await _say(app417, "/section mobile")
    assert reply.tone is Tone.ERROR
    assert "mlops" in reply.plain_text()
    older = await _say(app417, "/section mobile 206")  # the 2021 issue still has it
    assert older.title == "Mobile & Edge — Issue #206"


async def test_the_channel_post_links_the_issue_on_the_web(app417: App) -> None:
    post = app417.publisher.render_planned(417, DeliveryKind.CHANNEL, {})
    assert post.url == WEB
    assert any(isinstance(b, Entry) and b.url == WEB for b in post.blocks)


async def test_linked_titles_on_telegram_discord_and_the_console(app417: App) -> None:
    reply = await _say(app417, "/section industry")
    html = "".join(m.text for m in render_html(reply))
    assert (
        '<a href="https://openai.com/index/introducing-gpt-5/">Introducing GPT-5 | OpenAI</a>'
        in html
    )
    embeds = [e for m in render_embeds(reply) for e in m.embeds]
    described = "".join(e.description or "" for e in embeds)
    # "|" is escaped on Discord, where "||" marks a spoiler.
    assert (
        "**[Introducing GPT-5 \\| OpenAI](https://openai.com/index/introducing-gpt-5/)**"
        in described
    )
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None)
    console.print(render(reply))
    assert "https://openai.com/index/introducing-gpt-5/" in console.export_text()


async def test_the_latest_issue_page_on_telegram_carries_the_web_link(app417: App) -> None:
    reply = await _say(app417, "/issue 417")
    first = render_html(reply)[0].text
    assert f'<a href="{WEB}">' in first


async def test_readers_see_the_intro_s_substance_not_its_greetings(app417: App) -> None:
    """/latest, /issue N and the channel post open with what is in the issue, collapsed where
    the platform can, then the date and the web link; not "Until next week!"."""
    post = app417.publisher.render_planned(417, DeliveryKind.CHANNEL, {})
    for reply in (await _say(app417, "/latest"), await _say(app417, "/issue 417"), post):
        [intro] = [b for b in reply.blocks if isinstance(b, Quote)]
        assert intro.collapsed
        assert intro.text.startswith("This week in deep learning, we bring you How to Build")
        assert "\n\nYou may also enjoy GLM-4.5" in intro.text
        said = reply.plain_text()
        assert "As always" not in said and "Until next week" not in said
        assert said.index("You may also enjoy") < said.index("13 August 2025")
        assert [e.url for e in reply.entries if e.title == "Read on the web"] == [WEB]

        html = render_html(reply)[0].text
        assert "<blockquote expandable>This week in deep learning" in html
        first_embed = render_embeds(reply)[0].embeds[0]
        assert "> This week in deep learning" in (first_embed.description or "")
