"""The newsletter as HTML: the post's web page, or a feed item's content (HTML5, via selectolax).

From a page: the title (``<h1>``, ``og:title`` or ``<title>``), the date
(``article:published_time``, ``<time datetime>``), the web address (canonical link,
``og:url``) and the post's body (the first of ``.body.markup``, ``article``, ``main``,
``body``). The body is read as blocks in document order: headings, paragraphs, list items
and rules; scripts, styles and forms are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.ingest.assemble import assemble
from bot.ingest.blocks import Block, Meta, parse_date
from bot.ingest.types import Parsed

__all__ = ["parse_html"]

_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_LEAVES = _HEADINGS | {"p", "li", "pre", "blockquote", "figcaption", "dt", "dd", "td", "th"}
_CONTAINERS = {
    "html", "body", "div", "section", "article", "main", "ul", "ol", "dl", "table", "tbody",
    "thead", "tr", "figure", "center", "header", "footer", "aside", "details",
}  # fmt: skip
_IGNORED = {"script", "style", "noscript", "template", "form", "button", "svg", "iframe", "head"}
_BODY_SELECTORS = ("div.body.markup", "div.available-content", "article", "main", "body")
_MAX_DEPTH = 64


def parse_html(html: str, *, meta: Meta | None = None, base_url: str | None = None) -> Parsed:
    """The issue in an HTML document; ``meta`` (from a feed item) wins over the page's own."""
    tree = LexborHTMLParser(html)
    page = _page_meta(tree)
    meta = meta or Meta()
    meta = Meta(
        title=meta.title or page.title,
        subtitle=meta.subtitle or page.subtitle,
        date=meta.date or page.date,
        source_url=meta.source_url or page.source_url,
    )
    base = base_url or meta.source_url
    root = next((n for s in _BODY_SELECTORS if (n := tree.css_first(s)) is not None), tree.root)
    blocks = list(_blocks(root, base, 0)) if root is not None else []
    return assemble(blocks, meta, fmt="html")


def _page_meta(tree: LexborHTMLParser) -> Meta:
    def attr(selector: str, name: str) -> str | None:
        node = tree.css_first(selector)
        value = node.attributes.get(name) if node is not None else None
        return value.strip() if value and value.strip() else None

    def text(selector: str) -> str | None:
        node = tree.css_first(selector)
        value = " ".join(node.text(deep=True).split()) if node is not None else ""
        return value or None

    published = (
        attr('meta[property="article:published_time"]', "content")
        or attr("time[datetime]", "datetime")
        or attr('meta[name="date"]', "content")
    )
    return Meta(
        title=text("h1.post-title")
        or attr('meta[property="og:title"]', "content")
        or text("title"),
        subtitle=text("h3.subtitle"),
        date=parse_date(published),
        source_url=attr('link[rel="canonical"]', "href")
        or attr('meta[property="og:url"]', "content"),
    )


def _blocks(node: LexborNode, base: str | None, depth: int) -> Iterator[Block]:
    child = node.child
    while child is not None:
        tag = child.tag or ""
        if tag == "hr":
            yield Block(0, ("---",), rule=True)
        elif tag in _IGNORED or tag.startswith("-") or depth > _MAX_DEPTH:
            pass
        elif tag in _LEAVES and not _has_block_inside(child):
            block = _leaf(child, base)
            if block is not None:
                yield block
        elif tag in _CONTAINERS or tag in _LEAVES:
            yield from _blocks(child, base, depth + 1)
        elif tag == "-text":
            pass
        elif child.is_element_node:
            # Inline content directly in a container (a div holding text): one block.
            block = _leaf(child, base)
            if block is not None and child.tag not in ("a", "span", "strong", "b", "em", "i"):
                yield block
        child = child.next


def _has_block_inside(node: LexborNode) -> bool:
    return any(
        (d.tag in _LEAVES or d.tag in _CONTAINERS or d.tag == "hr") and d is not node
        for d in node.traverse(include_text=False)
        if d.mem_id != node.mem_id
    )


def _leaf(node: LexborNode, base: str | None) -> Block | None:
    text = " ".join(node.text(deep=True, separator="").split())
    if not text:
        return None
    links = list(node.css("a[href]"))
    link: str | None = None
    if len(links) == 1:
        inside = " ".join(links[0].text(deep=True, separator="").split())
        if inside == text:
            href = (links[0].attributes.get("href") or "").strip()
            link = urljoin(base, href) if base else href
    bold = [" ".join(b.text(deep=True, separator="").split()) for b in node.css("strong, b")]
    strong = bool(bold) and "".join(bold).replace(" ", "") == text.replace(" ", "")
    return Block(0, (text,), heading=node.tag in _HEADINGS, link=link or None, strong=strong)
