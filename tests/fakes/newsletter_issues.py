"""Synthetic modern issues of Deep Learning Weekly, in the shapes the newsletter is published
in (see tests/data/real/ for real ones): the Markdown export with front matter, the post page's
HTML, a feed item's HTML, and the plain text of the e-mail.

Deterministic for a given number, varied across numbers (section sets, item counts, a paper
with an ``Abstract:`` label), so bulk tests and the benchmark see realistic documents.
"""

from __future__ import annotations

import datetime as dt
import html
import random
from dataclasses import dataclass

__all__ = ["SyntheticIssue", "synthetic_issue"]

SECTIONS = ("Industry", "MLOps & LLMOps", "Learning", "Libraries & Code", "Papers & Publications")
WORDS = [
    "model",
    "agents",
    "reasoning",
    "transformer",
    "diffusion",
    "inference",
    "training",
    "benchmark",
    "open",
    "weights",
    "retrieval",
    "evaluation",
    "multimodal",
    "robotics",
    "quantization",
    "distillation",
    "alignment",
    "compute",
    "pytorch",
    "jax",
    "kernels",
    "latency",
    "serving",
    "context",
    "window",
    "memory",
    "vision",
    "speech",
    "tokens",
    "dataset",
]


@dataclass(frozen=True)
class Story:
    title: str
    url: str
    summary: str
    abstract_label: bool = False


@dataclass(frozen=True)
class SyntheticIssue:
    number: int
    date: dt.date
    intro: tuple[str, ...]
    sections: tuple[tuple[str, tuple[Story, ...]], ...]

    @property
    def title(self) -> str:
        return f"Deep Learning Weekly: Issue {self.number}"

    @property
    def url(self) -> str:
        return f"https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-{self.number}"

    @property
    def item_count(self) -> int:
        return sum(len(stories) for _, stories in self.sections)

    # -- forms ---------------------------------------------------------------------------

    def markdown(self) -> str:
        lines = [
            "---",
            f'title: "{self.title}"',
            f'published_at: "{self.date.isoformat()}T15:02:28.000Z"',
            f'source_url: "{self.url}"',
            "---",
            "",
        ]
        for paragraph in self.intro:
            lines += [paragraph, ""]
        lines += ["\\---", ""]
        for name, stories in self.sections:
            lines += [f"## **{name}**", ""]
            for story in stories:
                lines += [f"**[{story.title}]({story.url})**", ""]
                if story.abstract_label:
                    lines += ["**Abstract:**", ""]
                lines += [story.summary, ""]
        return "\n".join(lines)

    def body_html(self) -> str:
        """The post's body, as a feed item's ``content:encoded`` carries it."""
        parts = [f"<p>{html.escape(p)}</p>" for p in self.intro]
        parts.append("<p>---</p>")
        for name, stories in self.sections:
            parts.append(f"<h2><strong>{html.escape(name)}</strong></h2>")
            for story in stories:
                parts.append(
                    f'<p><strong><a href="{html.escape(story.url)}">{html.escape(story.title)}'
                    "</a></strong></p>"
                )
                if story.abstract_label:
                    parts.append("<p><strong>Abstract:</strong></p>")
                parts.append(f"<p>{html.escape(story.summary)}</p>")
        return "\n".join(parts)

    def page_html(self) -> str:
        """The post page on the web."""
        published = f"{self.date.isoformat()}T15:02:28.000Z"
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{self.title} - by Various</title>"
            f'<meta property="og:title" content="{self.title}">'
            f'<meta property="og:url" content="{self.url}">'
            f'<meta property="article:published_time" content="{published}">'
            f'<link rel="canonical" href="{self.url}"></head><body><div class="main">'
            f'<article class="post"><div class="post-header"><h1 class="post-title">{self.title}'
            f'</h1><div class="post-meta"><time datetime="{published}">{self.date.isoformat()}'
            '</time> · Various</div></div><div class="available-content"><div class="body markup">\n'
            + self.body_html()
            + "\n</div></div></article></div></body></html>\n"
        )

    def text(self) -> str:
        """The e-mail's plain text."""
        lines = [
            f"View this post on the web at {self.url}",
            "",
            self.title,
            "",
            self.date.strftime("%b %d, %Y").replace(" 0", " "),
            "",
        ]
        for paragraph in self.intro:
            lines += [paragraph, ""]
        lines += ["---", ""]
        for name, stories in self.sections:
            lines += [name, ""]
            for story in stories:
                lines += [f"{story.title} [{story.url}]", ""]
                if story.abstract_label:
                    lines += ["Abstract:", ""]
                lines += [story.summary, ""]
        return "\n".join(lines)

    def rfc822_date(self) -> str:
        moment = dt.datetime.combine(self.date, dt.time(15, 2, 28), tzinfo=dt.UTC)
        return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")

    def feed_item(self) -> dict[str, str]:
        return {
            "title": self.title,
            "link": self.url,
            "date": self.rfc822_date(),
            "html": self.body_html(),
        }


def _sentence(rng: random.Random, words: int) -> str:
    chosen = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(chosen).capitalize() + "."


def synthetic_issue(number: int) -> SyntheticIssue:
    rng = random.Random(number)
    date = dt.date(2017, 1, 4) + dt.timedelta(weeks=number - 1)
    intro = (
        "This week in deep learning, we bring you "
        + ", ".join(_sentence(rng, 5)[:-1] for _ in range(3))
        + ", and more!",
        "As always, happy reading and hacking. If you have something you think should be in "
        "next week's issue, find us on Twitter: @dl_weekly.",
        "Until next week!",
    )
    names = [s for s in SECTIONS if s != "MLOps & LLMOps" or number >= 300]
    sections = []
    for s, name in enumerate(names):
        stories = []
        for i in range(rng.randint(3, 5)):
            title = f"{_sentence(rng, rng.randint(4, 9))[:-1]} ({number}.{s}.{i})"
            slug = "-".join(title.lower().split()[:4]).strip("().")
            url = f"https://example.com/{number}/{s}/{i}/{slug}?utm_source=dlw&ref=x"
            summary = " ".join(_sentence(rng, rng.randint(8, 20)) for _ in range(rng.randint(1, 4)))
            stories.append(Story(title, url, summary, name.startswith("Papers") and i == 0))
        sections.append((name, tuple(stories)))
    return SyntheticIssue(number, date, intro, tuple(sections))
