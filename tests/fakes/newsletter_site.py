"""A local stand-in for the newsletter's web site (aiohttp, 127.0.0.1 only): a feed with
ETag / Last-Modified, posts, and the ways real servers go wrong.

Routes::

    /feed              the feed (set_feed); honours If-None-Match and If-Modified-Since
    /p/<slug>          pages (add_page)
    /status/<code>     that HTTP status, e.g. /status/500
    /slow              never answers (until the client gives up)
    /loop/<n>          redirects to /loop/<n+1>, forever
    /redirect?to=PATH  one redirect
    /huge              a body larger than any limit, with an honest Content-Length
    /endless           a chunked body that never ends (no Content-Length)

``site.feed_behaviour`` makes /feed itself misbehave ("500", "slow", "loop", "huge",
"endless"), so a poller aimed at one URL meets each failure. Every request is recorded in
``site.requests`` with the status sent and the body bytes written.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import time
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

__all__ = ["NewsletterSite", "Request", "rss_feed"]

CHUNK = b"x" * 65536


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0  # body bytes written


@dataclass
class NewsletterSite:
    feed: bytes = b""
    feed_type: str = "application/rss+xml; charset=utf-8"
    feed_behaviour: str = "ok"
    etags: bool = True
    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    huge_bytes: int = 50 * 1024 * 1024
    _modified: float = field(default_factory=time.time)
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    port: int = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> NewsletterSite:
        app = web.Application()
        app.router.add_get("/feed", self._feed)
        app.router.add_get("/p/{slug}", self._page)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/loop/{n}", self._loop)
        app.router.add_get("/redirect", self._redirect)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/endless", self._endless)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- content -------------------------------------------------------------------------

    def set_feed(self, body: str | bytes) -> None:
        self.feed = body.encode("utf-8") if isinstance(body, str) else body
        self._modified = time.time()

    def add_page(self, slug: str, body: str | bytes, content_type: str = "text/html") -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.pages[slug] = (data, content_type)
        return self.url(f"/p/{slug}")

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.feed).hexdigest()[:16] + '"'

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    async def wait_for_requests(
        self,
        path: str,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[Request]:
        """Wait until ``count`` requests to ``path`` have been answered."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(
                lambda: len([r for r in self.requests_to(path) if r.status]) >= count
            )
        return self.requests_to(path)

    # -- handlers --------------------------------------------------------------------------

    def _record(self, request: web.Request) -> Request:
        entry = Request(request.path, dict(request.headers))
        self.requests.append(entry)
        return entry

    async def _done(self, entry: Request, status: int, sent: int = 0) -> None:
        entry.status, entry.sent = status, sent
        async with self._arrived:
            self._arrived.notify_all()

    async def _feed(self, request: web.Request) -> web.StreamResponse:
        behaviour = self.feed_behaviour
        if behaviour == "500":
            return await self._status_response(request, 500)
        if behaviour == "slow":
            return await self._slow(request)
        if behaviour == "loop":
            return await self._loop(request)
        if behaviour == "huge":
            return await self._huge(request)
        if behaviour == "endless":
            return await self._endless(request)
        entry = self._record(request)
        modified = email.utils.formatdate(self._modified, usegmt=True)
        headers = {"Last-Modified": modified}
        if self.etags:
            headers["ETag"] = self.etag
            if request.headers.get("If-None-Match") == self.etag:
                await self._done(entry, 304)
                return web.Response(status=304, headers=headers)
        elif request.headers.get("If-Modified-Since") == modified:
            await self._done(entry, 304)
            return web.Response(status=304, headers=headers)
        response = web.Response(body=self.feed, headers=headers, content_type=None)
        response.headers["Content-Type"] = self.feed_type
        await self._done(entry, 200, len(self.feed))
        return response

    async def _page(self, request: web.Request) -> web.Response:
        entry = self._record(request)
        found = self.pages.get(request.match_info["slug"])
        if found is None:
            await self._done(entry, 404)
            return web.Response(status=404, text="not found")
        body, content_type = found
        await self._done(entry, 200, len(body))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _status_response(self, request: web.Request, code: int) -> web.Response:
        entry = self._record(request)
        await self._done(entry, code)
        return web.Response(status=code, text=f"status {code}")

    async def _status(self, request: web.Request) -> web.Response:
        return await self._status_response(request, int(request.match_info["code"]))

    async def _slow(self, request: web.Request) -> web.Response:
        entry = self._record(request)
        try:
            await asyncio.Event().wait()  # until the client hangs up and aiohttp cancels us
        finally:
            await asyncio.shield(self._done(entry, 599))
        raise AssertionError("unreachable")

    async def _loop(self, request: web.Request) -> web.Response:
        entry = self._record(request)
        n = int(request.match_info.get("n", "0"))
        await self._done(entry, 302)
        raise web.HTTPFound(f"/loop/{n + 1}")

    async def _redirect(self, request: web.Request) -> web.Response:
        entry = self._record(request)
        await self._done(entry, 302)
        raise web.HTTPFound(request.query["to"])

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        entry = self._record(request)
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.content_length = self.huge_bytes
        return await self._stream(request, response, entry, self.huge_bytes)

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        entry = self._record(request)
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        return await self._stream(request, response, entry, None)

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, entry: Request, total: int | None
    ) -> web.StreamResponse:
        sent = 0
        try:
            await response.prepare(request)
            while total is None or sent < total:
                await response.write(CHUNK)
                sent += len(CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client stopped reading: what a bounded client does
        finally:
            await asyncio.shield(self._done(entry, 200, sent))
        return response


def rss_feed(items: list[dict[str, str]], *, title: str = "Deep Learning Weekly") -> str:
    """An RSS 2.0 feed; each item: title, link, date (RFC 822), html (content:encoded)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        "<channel>",
        f"<title>{title}</title>",
        "<link>https://www.deeplearningweekly.com</link>",
        "<description>Bringing you everything new and exciting in the world of deep learning</description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title><![CDATA[{item['title']}]]></title>")
        parts.append(f"<link>{item['link']}</link>")
        parts.append(f'<guid isPermaLink="false">{item["link"]}</guid>')
        if item.get("date"):
            parts.append(f"<pubDate>{item['date']}</pubDate>")
        body = item["html"].replace("]]>", "]]]]><![CDATA[>")
        parts.append(f"<content:encoded><![CDATA[{body}]]></content:encoded>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts) + "\n"
