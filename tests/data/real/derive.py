"""Derive the other published forms of the real issues from their Markdown export.

    python tests/data/real/derive.py      # rewrites issue-NNN.txt, issue-NNN.html, feed.xml

The Markdown files are the newsletter's own posts, kept verbatim. From them this script writes
what the same issue looks like as the post's web page (markdown-it's HTML inside a page
shaped like the publisher's), as the plain-text e-mail (web-version line, title, date,
``Title [url]`` links) and as the publication's RSS feed (both issues, ``content:encoded``).
It renders text and HTML itself, never through dlw-bot's readers, so the tests that read
these files check the readers against an independent rendering.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import re
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

HERE = Path(__file__).resolve().parent
NUMBERS = (416, 417)
_md = MarkdownIt("commonmark")


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def _inline_text(children: list[Token], *, links: bool) -> str:
    out: list[str] = []
    href: str | None = None
    for child in children:
        if child.type == "link_open":
            href = str(child.attrs["href"])
        elif child.type == "link_close":
            if links and href:
                out.append(f" [{href}]")
            href = None
        elif child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return "".join(out)


def as_text(front: dict[str, str], body: str) -> str:
    published = dt.datetime.fromisoformat(front["published_at"].replace("Z", "+00:00"))
    lines = [
        f"View this post on the web at {front['source_url']}",
        "",
        front["title"],
        "",
        published.strftime("%b %d, %Y"),
        "",
    ]
    tokens = _md.parse(body)
    for index, token in enumerate(tokens):
        if token.type != "inline":
            continue
        children = token.children or []
        is_title = (
            tokens[index - 1].type == "paragraph_open"
            and any(c.type == "link_open" for c in children)
            and children
            and all(
                c.type != "text" or not c.content.strip() or _inside_link(children, c)
                for c in children
            )
        )
        lines += [_inline_text(children, links=is_title).strip(), ""]
    return "\n".join(lines)


def _inside_link(children: list[Token], target: Token) -> bool:
    depth = 0
    for child in children:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        elif child is target:
            return depth > 0
    return False


def as_html(front: dict[str, str], body: str) -> str:
    published = front["published_at"]
    title = html.escape(front["title"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title} - by Various</title>"
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:url" content="{html.escape(front["source_url"])}">'
        f'<meta property="article:published_time" content="{published}">'
        f'<link rel="canonical" href="{html.escape(front["source_url"])}">'
        "<script>window._preloads = {};</script><style>.post{max-width:40em}</style>"
        '</head><body><div class="main"><article class="post">'
        f'<div class="post-header"><h1 class="post-title">{title}</h1>'
        f'<div class="post-meta"><time datetime="{published}">'
        f"{published[:10]}</time> · Various</div></div>"
        f'<div class="available-content"><div class="body markup">\n{_md.render(body)}</div></div>'
        '<div class="subscribe-footer"><form><input type="email"><button>Subscribe</button></form></div>'
        "</article></div></body></html>\n"
    )


def as_feed(posts: list[tuple[dict[str, str], str]]) -> str:
    items = []
    for front, body in sorted(posts, key=lambda p: p[0]["published_at"], reverse=True):
        published = dt.datetime.fromisoformat(front["published_at"].replace("Z", "+00:00"))
        first = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", body.strip().split("\n\n", 1)[0])
        items.append(
            "<item>"
            f"<title><![CDATA[{front['title']}]]></title>"
            f"<description><![CDATA[{first}]]></description>"
            f"<link>{html.escape(front['source_url'])}</link>"
            f'<guid isPermaLink="false">{front["source_url"].rsplit("-", 1)[-1]}</guid>'
            "<dc:creator><![CDATA[Various]]></dc:creator>"
            f"<pubDate>{email.utils.format_datetime(published, usegmt=True)}</pubDate>"
            f"<content:encoded><![CDATA[{_md.render(body)}]]></content:encoded>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:atom="http://www.w3.org/2005/Atom" version="2.0"><channel>'
        "<title><![CDATA[Deep Learning Weekly]]></title>"
        "<description><![CDATA[Bringing you everything new and exciting in the world of deep learning]]></description>"
        "<link>https://www.deeplearningweekly.com</link>"
        "<generator>Substack</generator>"
        "<lastBuildDate>Wed, 13 Aug 2025 15:05:00 GMT</lastBuildDate>"
        '<atom:link href="https://www.deeplearningweekly.com/feed" rel="self" type="application/rss+xml"/>'
        + "".join(items)
        + "</channel></rss>\n"
    )


def main() -> None:
    posts = []
    for number in NUMBERS:
        front, body = _front_matter((HERE / f"issue-{number}.md").read_text(encoding="utf-8"))
        posts.append((front, body))
        (HERE / f"issue-{number}.txt").write_text(as_text(front, body), encoding="utf-8")
        (HERE / f"issue-{number}.html").write_text(as_html(front, body), encoding="utf-8")
    (HERE / "feed.xml").write_text(as_feed(posts), encoding="utf-8")


if __name__ == "__main__":
    main()
