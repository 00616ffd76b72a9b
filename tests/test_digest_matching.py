"""Digest planning matches readers against one issue's index (bot/publishing/matching.py):
exactly what the archive-wide queries it replaces match, for every topic and many keywords."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.archive import Archive, Story
from bot.content.models import Issue
from bot.model import Subscription, SubscriptionKind
from bot.publishing.matching import IssueIndex
from tests.helpers import REPO

#: Keywords beyond every word of the issues: phrases, plurals, case, diacritics, punctuation,
#: a near miss of a stem and things that match nothing.
EXTRA_KEYWORDS = [
    "language model",
    "Language Models",
    "transformer",
    "transformers",
    "library",
    "libraries",
    "naïve",
    "naive",
    "generative",
    "general",
    "GPU",
    "gpus",
    "pytorch-lightning",
    "c++",
    "state of the art",
    "!!!",
    "",
    "zzzz not there",
]


def archive_wide(archive: Archive, issue: Issue, subscription: Subscription) -> list[Story]:
    """How planning matched before: the archive's queries, kept to this issue."""
    if subscription.kind is SubscriptionKind.TOPIC:
        return [s for s in archive.stories_for_topic(subscription.value) if s.issue == issue.number]
    return archive.keyword_matches(subscription.value, issue=issue.number)


def keywords(archive: Archive, issue: Issue) -> Iterator[str]:
    seen: set[str] = set()
    for story in archive.stories(issue):
        text = f"{story.item.title} {story.item.summary}"
        words = re.findall(r"\w+", text)
        pairs = [f"{a} {b}" for a, b in itertools.pairwise(words)][:20]
        for word in [*words, *pairs, *EXTRA_KEYWORDS]:
            if word.casefold() not in seen:
                seen.add(word.casefold())
                yield word


@pytest.fixture(scope="module")
def archive() -> Iterator[Archive]:
    loaded = Archive.load(REPO / "content")
    try:
        yield loaded
    finally:
        loaded.close()


def test_every_topic_and_keyword_matches_what_the_archive_matches(archive: Archive) -> None:
    checked = matched = 0
    for issue in archive.issues:
        with IssueIndex(archive, issue) as index:
            subscriptions = [Subscription(SubscriptionKind.TOPIC, t.id) for t in archive.taxonomy]
            subscriptions += [
                Subscription(SubscriptionKind.KEYWORD, word) for word in keywords(archive, issue)
            ]
            for subscription in subscriptions:
                expected = archive_wide(archive, issue, subscription)
                assert index.stories_for(subscription) == expected, (issue.number, subscription)
                checked += 1
                matched += bool(expected)
    assert checked > 500 and matched > 200  # the comparison covered real matches, not just misses


def test_an_issue_in_a_larger_archive_matches_only_its_own_stories(
    archive: Archive, tmp_path: Path
) -> None:
    # Copies of the same issue under other numbers: the archive-wide queries find the item in
    # every copy, the index only in the issue it was built for.
    (tmp_path / "issues").mkdir()
    (tmp_path / "topics.yaml").write_bytes((REPO / "content" / "topics.yaml").read_bytes())
    source = yaml.safe_load((REPO / "content" / "issues" / "0206.yaml").read_text())
    for number in (206, 300, 301):
        source["number"] = number
        (tmp_path / "issues" / f"{number:04d}.yaml").write_text(yaml.safe_dump(source))
    bigger = Archive.load(tmp_path)
    try:
        issue = bigger.issue(300)
        assert issue is not None
        pytorch = Subscription(SubscriptionKind.TOPIC, "pytorch")
        everywhere = bigger.stories_for_topic("pytorch")
        with IssueIndex(bigger, issue) as index:
            found = index.stories_for(pytorch)
            assert found and {s.issue for s in found} == {300}
            assert found == archive_wide(bigger, issue, pytorch)
            assert len(everywhere) == 3 * len(found)
            match = index.match([pytorch, Subscription(SubscriptionKind.KEYWORD, "pytorch")])
        assert [item["title"] for item in match] == [s.item.title for s in found]
        assert {item["reason"] for item in match} == {"topic PyTorch"}
    finally:
        bigger.close()
