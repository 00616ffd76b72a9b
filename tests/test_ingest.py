"""Reading the newsletter as it is published: plain text of both eras, Markdown, HTML, feeds.

The 2021 seeds are plain text that lost links and headings; issues 416 and 417 are real recent
posts in the newsletter's own Markdown export, kept verbatim in tests/data/real/ together with
their page, e-mail text and feed forms (derived by tests/data/real/derive.py).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content.loader import load_content
from bot.content.models import Issue
from bot.ingest import (
    MAX_DOCUMENT_BYTES,
    IngestError,
    Parsed,
    derive_title,
    detect_format,
    parse_document,
    read_document,
)
from bot.ingest.blocks import clean_heading, clean_url
from tests.conftest import BUNDLED_CONTENT, SEED_202, SEED_206

REAL = Path(__file__).resolve().parent / "data" / "real"
FORMS = ("md", "txt", "html")


def _one(data: bytes | str, name: str = "input") -> Parsed:
    parsed = parse_document(data, name=name)
    assert len(parsed) == 1
    return parsed[0]


def _titles(issue: Issue) -> dict[str, list[str]]:
    return {s.name: [i.title for i in s.items] for s in issue.sections}


# -- the real recent issues ------------------------------------------------------------------

EXPECTED_417 = {
    "Industry": [
        ("Introducing GPT-5 | OpenAI", "https://openai.com/index/introducing-gpt-5/"),
        ("GLM-4.5: Reasoning, Coding, and Agentic Abililties", "https://z.ai/blog/glm-4.5"),
        (
            "Claude Sonnet 4 now supports 1M tokens of context \\ Anthropic",
            "https://www.anthropic.com/news/1m-context",
        ),
        (
            "Squint gets $40M in funding to accelerate human-to-machine collaboration in manufacturing",
            "https://siliconangle.com/2025/08/12/squint-gets-40m-funding-accelerate-human-machine-collaboration-manufacturing/",
        ),
    ],
    "MLOps & LLMOps": [
        (
            "AI Agent Design Patterns: How to Build Reliable AI Agent Architecture for Production",
            "https://www.comet.com/site/blog/ai-agent-design/",
        ),
        (
            "Four places where you can put LLM monitoring",
            "https://redwoodresearch.substack.com/p/four-places-where-you-can-put-llm",
        ),
        (
            "Elysia: Building an end-to-end agentic RAG app",
            "https://weaviate.io/blog/elysia-agentic-rag",
        ),
    ],
    "Learning": [
        (
            "From GPT-2 to gpt-oss: Analyzing the Architectural Advances",
            "https://magazine.sebastianraschka.com/p/from-gpt-2-to-gpt-oss-analyzing-the",
        ),
        (
            "How Much Power will Frontier AI Training Demand in 2030?",
            "https://epoch.ai/blog/power-demands-of-frontier-ai-training",
        ),
        (
            "GPT-5 and the arc of progress - by Nathan Lambert",
            "https://www.interconnects.ai/p/gpt-5-and-bending-the-arc-of-progress",
        ),
        (
            "7 Drop-In Replacements to Instantly Speed Up Your Python Data Science Workflows",
            "https://developer.nvidia.com/blog/7-drop-in-replacements-to-instantly-speed-up-your-python-data-science-workflows/",
        ),
        (
            "FourCastNet 3 Enables Fast and Accurate Large Ensemble Weather Forecasting with Scalable Geometric ML",
            "https://developer.nvidia.com/blog/fourcastnet-3-enables-fast-and-accurate-large-ensemble-weather-forecasting-with-scalable-geometric-ml/",
        ),
    ],
    "Libraries & Code": [
        ("comet-ml/opik", "https://github.com/comet-ml/opik"),
        ("unslothai/unsloth", "https://github.com/unslothai/unsloth"),
    ],
    "Papers & Publications": [
        ("TextQuests", "https://www.textquests.ai/"),
        (
            "OpenCUA: Open Foundations for Computer-Use Agents",
            "https://arxiv.org/abs/2508.09123",
        ),
        (
            "Simulating Generative Social Agents via Theory-Informed Workflow Design",
            "https://arxiv.org/abs/2508.08726",
        ),
    ],
}

SECTIONS_416 = {
    "Industry": 4,
    "MLOps & LLMOps": 3,
    "Learning": 4,
    "Libraries & Code": 2,
    "Papers & Publications": 3,
}


@pytest.mark.parametrize("form", FORMS)
def test_issue_417_in_every_form_has_every_section_item_link_and_date(form: str) -> None:
    parsed = _one((REAL / f"issue-417.{form}").read_bytes(), f"issue-417.{form}")
    issue = parsed.issue
    assert parsed.format == {"md": "markdown", "txt": "text", "html": "html"}[form]
    assert issue.number == 417
    assert issue.title == "Deep Learning Weekly: Issue 417"
    assert issue.date == dt.date(2025, 8, 13)
    assert issue.source_url == "https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-417"
    assert issue.subtitle is None
    got = {s.name: [(i.title, i.url) for i in s.items] for s in issue.sections}
    assert got == EXPECTED_417


@pytest.mark.parametrize("form", FORMS)
def test_issue_416_in_every_form(form: str) -> None:
    issue = _one((REAL / f"issue-416.{form}").read_bytes(), f"issue-416.{form}").issue
    assert issue.number == 416
    assert issue.date == dt.date(2025, 8, 6)
    assert {s.name: len(s.items) for s in issue.sections} == SECTIONS_416
    assert all(item.url and item.url.startswith("https://") for item in issue.items)
    assert issue.items[1].title == "Claude Opus 4.1 \\ Anthropic"  # a Markdown escape undone
    assert issue.items[1].url == "https://www.anthropic.com/news/claude-opus-4-1"


@pytest.mark.parametrize("number", [416, 417])
def test_all_forms_and_the_feed_read_the_same_issue(number: int) -> None:
    reference = _one((REAL / f"issue-{number}.md").read_bytes()).issue
    for form in ("txt", "html"):
        assert _one((REAL / f"issue-{number}.{form}").read_bytes()).issue == reference, form
    from_feed = {p.issue.number: p.issue for p in parse_document((REAL / "feed.xml").read_bytes())}
    assert from_feed[number] == reference


def test_markdown_summaries_are_the_posts_paragraphs_verbatim() -> None:
    source = (REAL / "issue-417.md").read_text(encoding="utf-8")
    issue = _one(source).issue
    paragraphs = {p.strip() for p in source.split("\n\n")}
    for item in issue.items:
        assert item.summary in paragraphs, item.title
        assert "Abstract" not in item.summary[:20]  # the label paragraph is not the summary
    papers = issue.sections[-1].items
    assert papers[0].summary.startswith("Evaluating AI agents within complex")


def test_intro_is_the_posts_opening_without_the_rule_or_link_syntax() -> None:
    issue = _one((REAL / "issue-416.md").read_bytes()).issue
    paragraphs = issue.intro.split("\n\n")
    assert paragraphs[0].startswith("This week in deep learning, we bring you OpenAI's gpt-oss,")
    assert paragraphs[-1] == "Until next week!"
    assert "](" not in issue.intro and "---" not in issue.intro
    assert "@dl_weekly" in issue.intro  # the backslash escape is undone
    # No subtitle: the headline shown to readers is the intro's lead.
    assert issue.headline == paragraphs[0]


def test_tracking_parameters_are_removed_from_links() -> None:
    issue = _one((REAL / "issue-416.md").read_bytes()).issue
    urls = [item.url or "" for item in issue.items]
    assert not any("utm_" in url for url in urls)
    assert "https://www.comet.com/site/blog/pretraining/" in urls
    assert (
        clean_url("https://x.org/a?id=3&utm_source=mail&fbclid=9#top") == "https://x.org/a?id=3#top"
    )
    assert clean_url("https://x.org/a?q=utm") == "https://x.org/a?q=utm"


def test_plain_text_heading_that_is_not_a_standard_name_is_a_reported_guess() -> None:
    parsed = _one((REAL / "issue-417.txt").read_bytes())
    assert [(g.line, g.message) for g in parsed.guesses] == [
        (35, 'took "MLOps & LLMOps" for a section heading (a short line before a story)')
    ]
    # Markup says what a heading is: nothing to guess.
    assert _one((REAL / "issue-417.md").read_bytes()).guesses == ()
    assert _one((REAL / "issue-417.html").read_bytes()).guesses == ()


def test_a_feed_reads_every_issue_and_lists_items_that_are_not_issues() -> None:
    feed = (REAL / "feed.xml").read_text(encoding="utf-8")
    extra = (
        "<item><title>Announcing our podcast</title><link>https://example.org/podcast</link>"
        "<description>Listen now.</description></item>"
        "<item><title>Deep Learning Weekly: Issue 418</title><link>https://example.org/418</link>"
        "<content:encoded><![CDATA[<p>Only an intro, no stories.</p>]]></content:encoded></item>"
    )
    document = read_document(feed.replace("</channel>", extra + "</channel>"))
    assert document.format == "feed"
    assert [p.issue.number for p in document.issues] == [417, 416]
    assert document.skipped == ["Announcing our podcast"]
    assert [f.title for f in document.failures] == ["Deep Learning Weekly: Issue 418"]
    assert "no stories found" in document.failures[0].reason


def test_an_atom_feed_is_read_too() -> None:
    body = (REAL / "issue-417.html").read_text(encoding="utf-8")
    inner = body[body.index('<div class="body markup">') : body.index("</article>")]
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Deep Learning Weekly</title><id>urn:dlw</id><updated>2025-08-13T15:02:28Z</updated>"
        "<entry><title>Deep Learning Weekly: Issue 417</title><id>urn:417</id>"
        '<link href="https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-417"/>'
        "<published>2025-08-13T15:02:28Z</published><updated>2025-08-13T15:02:28Z</updated>"
        f'<content type="html"><![CDATA[{inner}]]></content></entry></feed>'
    )
    (parsed,) = parse_document(atom.encode())
    assert parsed.issue == _one((REAL / "issue-417.md").read_bytes()).issue


# -- the 2021 plain text, exactly as before -------------------------------------------------

SEED = {202: SEED_202, 206: SEED_206}


@pytest.mark.parametrize("number", [202, 206])
def test_seed_still_imports_to_the_shipped_issue(number: int) -> None:
    shipped = {i.number: i for i in load_content(BUNDLED_CONTENT).issues}[number]
    assert _one(SEED[number].read_bytes()).issue == shipped


def test_seed_repairs_are_still_reported_as_guesses_with_their_lines() -> None:
    guesses = _one(SEED_206.read_bytes()).guesses
    assert [(g.line, g.message) for g in guesses] == [
        (16, 'the first block of stories has no heading; assumed section "Industry"'),
        (
            33,
            'this story has no title line; derived the title "DeepMind introduces the latest iteration of WaveNet"',
        ),
        (58, 'two blank lines and no heading before this story; assumed section "Learning"'),
    ]


def test_derive_title_uses_the_first_clause_or_words() -> None:
    assert (
        derive_title("Alpha beta gamma delta epsilon, and the rest of it.")
        == "Alpha beta gamma delta epsilon"
    )
    long = "word " * 40
    assert derive_title(long).endswith("…")
    assert len(derive_title(long)) <= 91


# -- shapes the newsletter has taken ---------------------------------------------------------

HEAD = "Deep Learning Weekly: Issue 300\n\nThis week in deep learning, we bring you things.\n\n"


def test_title_without_hash_no_subtitle_and_a_rule_before_the_stories() -> None:
    text = HEAD + "---\n\nIndustry\n\nA title\n\nIts summary.\n"
    issue = _one(text).issue
    assert (issue.number, issue.subtitle) == (300, None)
    assert issue.intro == "This week in deep learning, we bring you things."
    assert _titles(issue) == {"Industry": ["A title"]}


def test_the_old_subtitle_line_is_still_read() -> None:
    text = "Deep Learning Weekly: Issue #300\n\nTopics, more topics, and more\n\nHey folks,\n\n"
    issue = _one(text + "Industry\n\nA title\n\nIts summary.\n").issue
    assert issue.subtitle == "Topics, more topics, and more"
    assert issue.intro == "Hey folks,"


@pytest.mark.parametrize(
    "heading",
    ["## **Papers & Publications:**", "## — Industry —", "### 🔥 MLOps & LLMOps", "**Industry**"],
)
def test_markdown_headings_lose_stray_punctuation(heading: str) -> None:
    text = f"# Deep Learning Weekly: Issue 300\n\nIntro text.\n\n{heading}\n\n**[T](https://a.org/x)**\n\nS.\n"
    (section,) = _one(text).issue.sections
    assert section.name == clean_heading(heading.replace("*", ""))
    assert section.name in ("Papers & Publications", "Industry", "MLOps & LLMOps")


def test_any_section_name_is_kept_and_items_without_links_are_fine() -> None:
    text = (
        "# Deep Learning Weekly: Issue 300\n\nIntro.\n\n## Robotics corner\n\n"
        "**A bold title**\n\nIts summary.\n\nSecond paragraph of it.\n\n"
        "## **Tools**\n\n**[linked](https://a.org/t)**\n\nS.\n"
    )
    issue = _one(text).issue
    assert _titles(issue) == {"Robotics corner": ["A bold title"], "Tools": ["linked"]}
    assert issue.items[0].summary == "Its summary.\n\nSecond paragraph of it."
    assert issue.items[0].url is None


def test_links_a_reader_cannot_open_are_dropped_and_reported() -> None:
    text = "# Deep Learning Weekly: Issue 300\n\nIntro.\n\n## Industry\n\n**[T](mailto:editor@example.org)**\n\nS.\n"
    parsed = _one(text)
    assert parsed.issue.items[0].url is None
    assert any("not a web address" in g.message for g in parsed.guesses)


def test_relative_links_in_a_page_resolve_against_its_address() -> None:
    page = (
        '<html><head><link rel="canonical" href="https://www.deeplearningweekly.com/p/x">'
        "</head><body><h1>Deep Learning Weekly: Issue 300</h1><p>Intro.</p><h2>Industry</h2>"
        '<p><strong><a href="/p/story">A story</a></strong></p><p>Summary.</p></body></html>'
    )
    issue = _one(page).issue
    assert issue.items[0].url == "https://www.deeplearningweekly.com/p/story"
    assert issue.source_url == "https://www.deeplearningweekly.com/p/x"


def test_format_is_detected_from_content_not_the_name() -> None:
    md = (REAL / "issue-417.md").read_bytes()
    page = (REAL / "issue-417.html").read_bytes()
    assert detect_format(md, name="issue.txt") == "markdown"
    assert detect_format(page, name="issue.md") == "html"
    assert detect_format((REAL / "feed.xml").read_bytes(), name="feed.html") == "feed"
    assert detect_format(SEED_206.read_bytes(), name="issue.html") == "text"
    assert _one(md, "issue.txt").issue.number == 417


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"  \n\n \t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"Deep Learning Weekly: Issue 3\n\n\xff\xfe broken", "not UTF-8"),
        (b"Hello there\n\nsome text\n", "expected the title line"),
        (b"Deep Learning Weekly: Issue 300\n", "no stories"),
        (HEAD.encode(), "where the introduction ends"),
        (
            b"# A post\n\nSome text.\n\n## Industry\n\n**[T](https://a.org)**\n\nS.\n",
            "no issue number",
        ),
        (b"# Deep Learning Weekly: Issue 300\n\nIntro only, no stories.\n", "no stories"),
        (b"---\na: &x [1]\nb: *x\n---\n# Deep Learning Weekly: Issue 3\n", "aliases"),
        (b"---\ntitle: [unclosed\n---\nbody\n", "front matter is not valid YAML"),
        (
            b"<?xml version='1.0'?><rss><channel><item><title>x",
            "no issues of the newsletter (1 other item)",
        ),
        (
            b"<?xml version='1.0'?><rss version='2.0'><channel><title>DLW</title></channel></rss>",
            "no items",
        ),
    ],
)
def test_bad_documents_get_one_clear_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(IngestError) as failure:
        parse_document(data)
    assert fragment in failure.value.message
    assert "\n" not in str(failure.value)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (HEAD + "Industry\n\nA title\n\nIts summary.\n\nAn orphan title\n", 11, "has no summary"),
        (
            HEAD + "Industry\n\nA title\n\nAnother title\n\nThird title\n\nA summary.\n",
            7,
            "looks like another title",
        ),
        (HEAD + "Industry\n\nA title\n\nMobile & Edge\n\nX\n\nY.\n", 7, "before the heading"),
        ("Deep Learning Weekly: Issue 3\n\n\n\nIndustry\n", 5, "found two blank lines"),
    ],
)
def test_unparseable_text_names_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(IngestError) as failure:
        parse_document(text)
    assert failure.value.line == line
    assert fragment in failure.value.message


def test_a_short_line_before_a_story_in_plain_text_opens_a_section_as_a_guess() -> None:
    parsed = _one(HEAD + "Industry\n\nA\n\nB.\n\nRobotics\n\nA title\n\nA summary.\n")
    assert _titles(parsed.issue) == {"Industry": ["A"], "Robotics": ["A title"]}
    assert [g.line for g in parsed.guesses] == [11]


def test_a_heading_without_stories_is_left_out_and_said() -> None:
    parsed = _one(
        HEAD + "Industry\n\nA title\n\nIts summary.\n\nLearning\n\nMobile & Edge\n\nB\n\nC.\n"
    )
    assert _titles(parsed.issue) == {"Industry": ["A title"], "Mobile & Edge": ["B"]}
    assert [g.message for g in parsed.guesses] == [
        'the section "Learning" has no stories; left out'
    ]
    with pytest.raises(IngestError, match="no stories found after the introduction"):
        parse_document(HEAD + "---\n\nIndustry\n")


def test_title_and_summary_on_adjacent_lines_is_a_reported_guess() -> None:
    parsed = _one(HEAD + "Industry\n\nA title\nIts summary on the next line.\n")
    assert [(i.title, i.summary) for i in parsed.issue.items] == [
        ("A title", "Its summary on the next line.")
    ]
    assert any("no blank line between title and summary" in g.message for g in parsed.guesses)


def test_oversized_documents_are_refused_before_parsing() -> None:
    with pytest.raises(IngestError, match="too large"):
        parse_document(b"x" * (MAX_DOCUMENT_BYTES + 1))


def test_an_entity_expansion_feed_is_refused_without_expanding() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
        )
        + b']><rss version="2.0"><channel><item><title>Deep Learning Weekly: Issue 1 &i;</title>'
        b"</item></channel></rss>"
    )
    with pytest.raises(IngestError, match="entities"):
        parse_document(bomb)


def test_malformed_xml_is_read_leniently_and_a_truncated_feed_says_what_failed() -> None:
    whole = (REAL / "feed.xml").read_bytes()
    document = read_document(whole.replace(b"</channel>", b"<item><title>oops</channel>"))
    assert [p.issue.number for p in document.issues] == [417, 416]
    assert document.skipped == ["(untitled item)"]
    truncated = whole[:9000]  # cut inside issue 417's content
    with pytest.raises(IngestError) as failure:
        parse_document(truncated)
    assert failure.value.message == (
        "no item of the feed could be imported; "
        "Deep Learning Weekly: Issue 417: the document is empty"
    )


def test_long_lines_do_not_make_parsing_slow() -> None:
    # Regexes stay linear: a 1 MB line without spaces is just a (failing) title line.
    with pytest.raises(IngestError, match="expected the title line"):
        parse_document(("a" * 1_000_000 + "\n").encode())
    # 20,000 stories are parsed (linearly) and then refused by the content limits.
    text = HEAD + "Industry\n\n" + "".join(f"Story {i}\n\nSummary {i}.\n\n" for i in range(20_000))
    with pytest.raises(IngestError) as failure:
        parse_document(text)
    assert failure.value.message == (
        "the parsed issue is not valid: sections.0.items: "
        "Tuple should have at most 100 items after validation, not 20000"
    )


_ALPHABET = st.sampled_from(
    [
        *"abc XYZ.,:#*[]()<>!-_\\/&;\"'\n\n\n",
        "Issue 12",
        "https://a.org/x",
        "---",
        "<p>",
        "</p>",
        "**",
        "## ",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=120).map("".join))
def test_random_documents_are_read_or_refused_never_a_traceback(text: str) -> None:
    for head in (
        "",
        "Deep Learning Weekly: Issue 5\n\n",
        "---\ntitle: Issue 5\n---\n",
        "<html><h1>Issue 5</h1>",
    ):
        try:
            parsed = parse_document(head + text)
        except IngestError as exc:
            assert exc.message and "\n" not in exc.message  # noqa: PT017 (either outcome is fine)
        else:
            for p in parsed:
                assert isinstance(p.issue, Issue)
                assert all(re.match(r"https?://", i.url) for i in p.issue.items if i.url)
