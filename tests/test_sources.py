"""Reading sources within bounds: files, FIFOs, devices, stdin and URLs on a local site.

Every hostile source must fail with one clear line, quickly, having read no more than the
limit allows; nothing here may block or load a huge body into memory.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ingest import MAX_DOCUMENT_BYTES
from bot.ingest.batch import Destination, import_sources
from bot.ingest.sources import (
    SourceError,
    expand_sources,
    fetch_url,
    http_client,
    read_file,
    read_stream,
)
from tests.fakes.newsletter_issues import synthetic_issue
from tests.fakes.newsletter_site import NewsletterSite


@pytest.fixture
async def site() -> AsyncIterator[NewsletterSite]:
    async with NewsletterSite() as newsletter:
        yield newsletter


# -- files -------------------------------------------------------------------------------


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "issue.md"
    path.write_text(synthetic_issue(420).markdown(), encoding="utf-8")
    assert read_file(path) == path.read_bytes()


def test_a_file_of_exactly_the_limit_is_read_and_one_more_byte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * 1000)
    assert len(read_file(path, limit=1000)) == 1000
    path.write_bytes(b"a" * 1001)
    with pytest.raises(SourceError, match="too large"):
        read_file(path, limit=1000)


def test_a_50_mb_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:  # sparse: 50 MB that cost nothing to make
        handle.truncate(50 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"too large: more than 5 MB"):
        read_file(path)
    assert time.perf_counter() - started < 0.5


def test_a_file_growing_past_the_limit_while_read_is_cut_at_the_limit() -> None:
    # A stream that claims nothing about its size: read_stream reads limit + 1 bytes, no more.
    class Endless(io.RawIOBase):
        handed = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            buffer[:] = b"x" * len(buffer)
            self.handed += len(buffer)
            return len(buffer)

    endless = Endless()
    with pytest.raises(SourceError, match="too large"):
        read_stream(io.BufferedReader(endless), limit=100_000)
    assert endless.handed <= 100_001 + 65536  # one buffer beyond the limit at most


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    [ref] = expand_sources([str(fifo)])
    assert ref.error == "is a FIFO (named pipe), not a regular file; refused"
    started = time.perf_counter()
    with pytest.raises(SourceError, match="FIFO"):
        read_file(fifo)  # even when asked directly: opened non-blocking, then refused
    assert time.perf_counter() - started < 0.5


def test_a_device_is_refused() -> None:
    [ref] = expand_sources(["/dev/zero"])
    assert ref.error is not None and "a device" in ref.error
    with pytest.raises(SourceError, match="a device"):
        read_file(Path("/dev/zero"))


def test_a_directory_stands_for_its_regular_files(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text("b", encoding="utf-8")
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    (tmp_path / ".hidden").write_text("h", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "c.pipe")
    refs = expand_sources([str(tmp_path), str(tmp_path / "missing.md")])
    assert [(Path(r.name).name, r.error) for r in refs] == [
        ("a.txt", None),
        ("b.md", None),
        ("c.pipe", "is a FIFO (named pipe), not a regular file; refused"),
        ("missing.md", "no such file or directory"),
    ]


# -- http ----------------------------------------------------------------------------------


async def test_a_page_is_fetched(site: NewsletterSite) -> None:
    page = synthetic_issue(420).page_html()
    url = site.add_page("issue-420", page)
    async with http_client() as client:
        fetched = await fetch_url(client, url)
    assert fetched.document is not None
    assert fetched.document.data == page.encode("utf-8")
    assert fetched.document.content_type == "text/html"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status/500", "HTTP 500 Internal Server Error"),
        ("/status/404", "HTTP 404 Not Found"),
        ("/loop/0", "too many redirects (more than 5)"),
        ("/huge", "too large: more than 5 MB"),
        ("/endless", "too large: more than 5 MB"),
    ],
)
async def test_http_failures_are_one_clear_line(
    site: NewsletterSite, path: str, message: str
) -> None:
    started = time.perf_counter()
    async with http_client() as client:
        with pytest.raises(SourceError) as failure:
            await fetch_url(client, site.url(path))
    assert str(failure.value) == message
    assert time.perf_counter() - started < 5
    # the body bounds held: nothing near the 50 MB the server was ready to send was taken
    if path in ("/huge", "/endless"):
        await site.wait_for_requests(path, 1)
        assert site.requests_to(path)[0].sent < MAX_DOCUMENT_BYTES + 16 * 1024 * 1024


async def test_a_server_that_never_answers_times_out(site: NewsletterSite) -> None:
    started = time.perf_counter()
    async with http_client(timeout=0.5) as client:
        with pytest.raises(SourceError, match=r"timed out"):
            await fetch_url(client, site.url("/slow"), time_limit=0.5)
    assert time.perf_counter() - started < 3


async def test_a_whole_download_is_bounded_in_time_even_when_bytes_keep_coming(
    site: NewsletterSite,
) -> None:
    # Each read returns promptly, so only the total deadline stops this one.
    started = time.perf_counter()
    async with http_client() as client:
        with pytest.raises(SourceError, match=r"timed out after 0.2 s|too large"):
            await fetch_url(client, site.url("/endless"), time_limit=0.2, limit=10**12)
    assert time.perf_counter() - started < 3


async def test_an_unreachable_host_names_the_network_error() -> None:
    async with http_client(timeout=2) as client:
        with pytest.raises(SourceError, match=r"^cannot reach: "):
            await fetch_url(client, "http://127.0.0.1:9/feed")  # discard port: refused


async def test_a_conditional_request_gets_not_modified(site: NewsletterSite) -> None:
    site.set_feed("<rss/>")
    async with http_client() as client:
        first = await fetch_url(client, site.url("/feed"))
        assert first.etag == site.etag and first.document is not None
        second = await fetch_url(client, site.url("/feed"), etag=first.etag)
    assert second.not_modified
    assert [r.status for r in site.requests_to("/feed")] == [200, 304]


# -- through import_sources: bad input becomes records, never exceptions -----------------------


async def test_hostile_sources_fail_cleanly_within_bounds(
    tmp_path: Path, site: NewsletterSite
) -> None:
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    big = tmp_path / "big.md"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    out.mkdir()
    refs = expand_sources(
        [str(binary), str(big), str(empty), str(fifo), site.url("/endless"), site.url("/slow")]
    )
    started = time.perf_counter()
    summary = await asyncio.wait_for(
        import_sources(refs, Destination(out), time_limit=1.0), timeout=20
    )
    assert time.perf_counter() - started < 10
    assert [r.failed for r in summary.records] == [True] * 6
    lines = [r.error_line for r in summary.records]
    assert all("\n" not in line for line in lines)
    assert lines[1] == f"{big}: error: too large: more than 5 MB"
    assert lines[3].startswith(f"{fifo}: error: is a FIFO")
    assert "too large" in lines[4] and "timed out" in lines[5]
    assert list(out.iterdir()) == []  # nothing written, not even a temporary file


# -- anything at all -------------------------------------------------------------------------

_TEXTISH = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), max_size=2000
) | st.sampled_from(
    [
        "Deep Learning Weekly: Issue 5\n\nIntro.\n\n---\n\nIndustry\n\nA title\n\nA summary.\n",
        "<rss><channel><item><title>Deep Learning Weekly: Issue 9</title></item></channel></rss>",
        "---\ntitle: x\n---\n\n## **Industry**\n\n**[t](https://e.com)**\n\ns.\n",
        "<!DOCTYPE html><h1>Deep Learning Weekly: Issue 3</h1><h2>Papers</h2><p><b>x</b></p>",
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=3000) | _TEXTISH.map(lambda t: t.encode("utf-8")))
def test_any_bytes_end_as_one_line_or_an_issue_never_a_crash(tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "input"
    source.write_bytes(data)
    out = tmp_path / "out"
    summary = asyncio.run(import_sources(expand_sources([str(source)]), Destination(out)))
    for record in summary.records:
        if record.failed:
            assert record.error and "\n" not in record.error_line
            assert "could not be parsed (" not in record.error, record.error  # a parser bug
    for path in out.glob("*") if out.exists() else []:
        assert not path.name.startswith(".")  # no temporary left behind
