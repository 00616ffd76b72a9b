"""Lookup, forgiving section names, full-text search, topic matching and live reload."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.app import App
from bot.archive import Archive, ArchiveHolder, QueryError, fts_query
from bot.commands import ChatKind, Context
from bot.content.loader import LoadedContent
from bot.content.models import Issue
from tests.conftest import BUNDLED_CONTENT


@pytest.fixture(scope="module")
def archive() -> Archive:
    return Archive.load(BUNDLED_CONTENT)


def test_latest_issue_and_lookup(archive: Archive) -> None:
    latest = archive.latest()
    assert latest is not None and latest.number == 206
    assert archive.issue(202) is not None
    assert archive.issue(999) is None
    assert archive.numbers == [202, 206]
    assert archive.item_count == 38


@pytest.mark.parametrize(
    ("typed", "section"),
    [
        ("papers", "Papers & Publications"),
        ("Papers", "Papers & Publications"),
        ("papers & publications", "Papers & Publications"),
        ("PAPERS AND PUBLICATIONS", "Papers & Publications"),
        ("paprs", "Papers & Publications"),
        ("pub", "Papers & Publications"),
        ("libs", "Libraries & Code"),
        ("code", "Libraries & Code"),
        ("mobile", "Mobile & Edge"),
        ("edge", "Mobile & Edge"),
        ("Mobile and Edge", "Mobile & Edge"),
        ("industry", "Industry"),
        ("learning", "Learning"),
    ],
)
def test_section_names_are_forgiving(archive: Archive, typed: str, section: str) -> None:
    latest = archive.latest()
    assert latest is not None
    found = archive.section(latest, typed)
    assert found is not None and found.name == section


@pytest.mark.parametrize("typed", ["", "foo", "🤗", "p"])
def test_unknown_section_is_none(archive: Archive, typed: str) -> None:
    latest = archive.latest()
    assert latest is not None
    assert archive.section(latest, typed) is None
    assert archive.section_choices(latest) == [
        "industry",
        "mobile",
        "learning",
        "libraries",
        "papers",
    ]


def test_search_ranks_title_matches_first_with_highlights(archive: Archive) -> None:
    page = archive.search("federated learning")
    titles = [h.story.item.title for h in page.hits]
    assert titles[:2] == [
        "Improving federated learning with dynamic regularization",
        "FedBN Example: PyTorch - From Centralized To Federated",
    ]
    hit = page.hits[0]
    assert hit.story.where == "Issue #202 · Mobile & Edge"
    assert [hit.snippet[a:b].casefold() for a, b in hit.marks] == ["federated", "learning"]


def test_search_phrase_and_prefix(archive: Archive) -> None:
    assert [h.story.item.title for h in archive.search('"reward is enough"').hits] == [
        "Reward is enough"
    ]
    assert any(
        "PyTorch" in h.story.item.title for h in archive.search("pytor", as_you_type=True).hits
    )
    assert not archive.search("pytor").hits  # full searches match whole words only


def test_search_falls_back_to_any_word(archive: Archive) -> None:
    page = archive.search("quantum zebra")
    assert [h.story.item.title for h in page.hits] == ["Unveiling our new Quantum AI campus"]


def test_search_pages(archive: Archive) -> None:
    first = archive.search("learning", per_page=3)
    second = archive.search("learning", page=2, per_page=3)
    assert first.has_more and len(first.hits) == 3
    assert not {h.story.key for h in first.hits} & {h.story.key for h in second.hits}
    assert second.first == 4


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "AND",
        "OR NOT",
        "NEAR(a b)",
        "title:pytorch",
        "*",
        "^x",
        "(",
        "a\x00b",
        "'; DROP TABLE items; --",
        "🤗🤗",
    ],
)
def test_fts_syntax_in_queries_never_breaks_search(archive: Archive, query: str) -> None:
    refusal = None
    try:
        archive.search(query)
    except QueryError as exc:
        refusal = str(exc)
    assert refusal is None or refusal  # results, or a readable refusal; never an sqlite error


def test_search_refuses_empty_and_oversized(archive: Archive) -> None:
    with pytest.raises(QueryError, match="what to look for"):
        archive.search("   ")
    with pytest.raises(QueryError, match="10,000 characters"):
        archive.search("x" * 10_000)
    with pytest.raises(QueryError, match="no words"):
        archive.search("!!! ???")


def test_fts_query_quotes_every_term() -> None:
    assert fts_query('foo "bar baz" NEAR') == '"foo" "bar baz" "NEAR" *'
    assert fts_query("a OR b", any_term=True) == '"a" OR "OR" OR "b"'
    assert fts_query("...") is None


def test_topics_match_items_by_keyword_and_explicit_ids(archive: Archive) -> None:
    pytorch = {s.item.title for s in archive.stories_for_topic("pytorch")}
    assert "Overview of PyTorch Autograd Engine" in pytorch
    assert "PyTorch 1.9 Release, including torch.linalg and Mobile Interpreter" in pytorch
    assert "Mesh Transformer JAX" not in pytorch
    rl = {s.item.title for s in archive.stories_for_topic("reinforcement-learning")}
    assert "Reward is enough" in rl
    # Unstemmed matching: "generative" must not match "general".
    generative = {s.item.title for s in archive.stories_for_topic("generative-models")}
    assert "Towards General Purpose Vision Systems" not in generative
    story = next(s for s in archive.stories_for_topic("quantum"))
    assert [t.id for t in archive.topics_of(story)][:1] == ["quantum"]


def test_keyword_matching_includes_plurals(archive: Archive) -> None:
    titles = {s.item.title for s in archive.keyword_matches("transformer")}
    assert "Thinking Like Transformers" in titles
    assert archive.keyword_matches("transformer", issue=202) == []
    assert archive.count_matches("") == 0


async def test_holder_reloads_and_keeps_last_good_archive(content_dir: Path) -> None:
    holder = await ArchiveHolder.open(content_dir)
    (content_dir / "issues" / "0207.yaml").write_text(
        (content_dir / "issues" / "0206.yaml")
        .read_text(encoding="utf-8")
        .replace("number: 206", "number: 207"),
        encoding="utf-8",
    )
    outcome = await holder.reload()
    assert outcome.changed and outcome.added == (207,)
    assert holder.archive.latest() is not None and holder.archive.latest().number == 207  # type: ignore[union-attr]

    (content_dir / "issues" / "0208.yaml").write_text(
        "number: 208\ntitle: [broken\n", encoding="utf-8"
    )
    outcome = await holder.reload()
    assert not outcome.changed and outcome.errors
    assert holder.archive.numbers == [202, 206, 207]  # still serving the last good archive


async def test_watch_picks_up_a_new_file(content_dir: Path) -> None:
    holder = await ArchiveHolder.open(content_dir)
    stop = asyncio.Event()
    seen = asyncio.Event()
    outcomes = []

    async def watch() -> None:
        async for outcome in holder.watch(stop=stop, debounce_ms=50):
            outcomes.append(outcome)
            seen.set()
            stop.set()

    task = asyncio.create_task(watch())
    new_file = content_dir / "issues" / "0207.yaml"
    text = (
        (content_dir / "issues" / "0206.yaml")
        .read_text(encoding="utf-8")
        .replace("number: 206", "number: 207")
    )
    # The watcher arms asynchronously and has no "ready" signal: write until it reports.
    for _ in range(40):
        new_file.write_text(text, encoding="utf-8")
        try:
            await asyncio.wait_for(seen.wait(), timeout=0.5)
            break
        except TimeoutError:
            continue
    await asyncio.wait_for(task, timeout=10)
    assert outcomes[0].added == (207,)


async def test_a_slow_search_does_not_hold_up_other_readers(app: App) -> None:
    """Ranking long summaries takes tens of milliseconds; it runs beside the event loop, so a
    reader's /latest sent after a heavy search is answered before the search is."""
    words = ("neural network pytorch model training data learning " * 400)[:19_990]
    heavy = Issue.model_validate(
        {
            "number": 900,
            "title": "Deep Learning Weekly: Issue 900",
            "intro": "Hi.",
            "sections": [
                {
                    "name": f"S{s}",
                    "items": [{"title": f"t{s}-{i}", "summary": words} for i in range(100)],
                }
                for s in range(3)
            ],
        }
    )
    current = app.archive.archive
    app.archive.archive = Archive(
        LoadedContent(issues=(*current.issues, heavy), taxonomy=current.taxonomy)
    )
    finished: list[str] = []

    async def run(name: str, line: str) -> None:
        ctx = Context(
            services=app, platform="test", user_id=name, chat_id=name, chat_kind=ChatKind.PRIVATE
        )
        assert await app.registry.dispatch_text(ctx, line) is not None
        finished.append(name)

    slow = asyncio.create_task(run("searcher", "/search training data model neural"))
    await asyncio.sleep(0)  # the search is under way in its thread
    await run("reader", "/latest")
    await slow
    assert finished == ["reader", "searcher"]
