"""Hints and context lines a reader can act on: each names a command that works, or a link."""

from __future__ import annotations

from pathlib import Path

from adapters.discord import render_embeds
from adapters.telegram import render_html
from bot.archive import Archive
from bot.content.loader import check_content
from bot.views import channel_reply, search_reply
from tests.fakes.telegram import parse_html

WEB = "https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-202"


def _archive_with_web_page(content_dir: Path) -> Archive:
    path = content_dir / "issues" / "0202.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nintro: ", f"\nsource_url: {WEB}\nintro: ", 1), encoding="utf-8")
    content, errors = check_content(content_dir)
    assert content is not None and not errors, errors
    return Archive(content)


def test_a_search_hit_links_the_issue_it_appeared_in(content_dir: Path) -> None:
    archive = _archive_with_web_page(content_dir)
    try:
        reply = search_reply(archive.search("embedded"), archive, command="/search embedded")
    finally:
        archive.close()
    from_202 = [e for e in reply.entries if e.meta and e.meta.startswith("Issue #202 ")]
    assert from_202 and all(e.meta_url == WEB for e in from_202)
    assert all(e.meta_url is None for e in reply.entries if e not in from_202)  # #206 has none

    links = [
        entity["url"]
        for message in render_html(reply)
        for entity in parse_html(message.text).entities  # as Telegram parses it
        if entity["type"] == "text_link"
    ]
    assert links.count(WEB) == len(from_202)
    descriptions = "".join(e.description or "" for m in render_embeds(reply) for e in m.embeds)
    assert descriptions.count(f"· [web]({WEB})") == len(from_202)


def test_a_channel_post_s_hint_opens_that_issue_even_after_newer_ones(content_dir: Path) -> None:
    archive = _archive_with_web_page(content_dir)
    try:
        older = archive.issue(202)
        assert older is not None and archive.latest() is not older
        footer = channel_reply(older).footer
    finally:
        archive.close()
    assert footer is not None and "/section papers 202 for one section" in footer
