"""``dlw-bot import``, ``init`` and ``approve`` as an operator runs them: real subprocesses,
real files, a local web site for URLs; what the operator reads and the exit code."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.content.loader import load_content
from bot.content.models import Issue
from tests.conftest import BUNDLED_CONTENT, REPO, SEED_206
from tests.fakes.newsletter_issues import synthetic_issue
from tests.fakes.newsletter_site import NewsletterSite, rss_feed
from tests.helpers import run_cli

ISSUE = synthetic_issue(420)


async def arun_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """run_cli off the event loop, so a local web site in this process can answer it."""
    return await asyncio.to_thread(run_cli, *args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """./content as `dlw-bot init` makes it, made once (a real run, ~0.6 s) for the module."""
    directory = tmp_path_factory.mktemp("initialised")
    result = run_cli("init", cwd=directory)
    assert result.returncode == 0, result.stderr
    return directory / "content"


@pytest.fixture
def work(tmp_path: Path, initialised: Path) -> Path:
    """An operator's working directory with ./content made by `dlw-bot init` (a copy of
    ``initialised``; init itself is tested above, from an empty directory)."""
    shutil.copytree(initialised, tmp_path / "content", symlinks=True)
    return tmp_path


@pytest.fixture
async def site() -> AsyncIterator[NewsletterSite]:
    async with NewsletterSite() as newsletter:
        yield newsletter


def issue_file(work: Path, number: int) -> Path:
    return work / "content" / "issues" / f"{number:04d}.yaml"


def load_issue(path: Path) -> Issue:
    return Issue.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# -- init and where content lives ---------------------------------------------------------


def test_init_creates_a_working_copy_that_the_bot_serves_from_its_directory(
    tmp_path: Path,
) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    content = tmp_path / "content"
    bundled = len(list((BUNDLED_CONTENT / "issues").glob("*.yaml")))
    assert (
        f"Created {content}: {bundled} issues in issues/, topics.yaml, schema/issue.json"
        in result.stdout
    )
    assert "./content is used when it exists" in result.stdout
    assert (content / "topics.yaml").read_bytes() == (BUNDLED_CONTENT / "topics.yaml").read_bytes()
    assert (content / "schema" / "issue.json").is_file()
    assert len(load_content(content).issues) == bundled

    # served without DLW_CONTENT_DIR: a new file there shows up in the bot
    write = run_cli("import", "-", cwd=tmp_path, stdin=ISSUE.markdown())
    assert write.returncode == 0, write.stderr
    assert f"Wrote {issue_file(tmp_path, 420)}" in write.stdout
    shown = run_cli("shell", "-c", "/issue 420", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "Deep Learning Weekly: Issue 420" in shown.stdout


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me", encoding="utf-8")
    result = run_cli("init", str(target), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {target} already exists and is not empty; nothing was written. Choose a new "
        "or empty directory (`dlw-bot init DIR`).\n"
    )
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_init_elsewhere_says_how_to_point_the_bot_at_it(tmp_path: Path) -> None:
    result = run_cli("init", "srv/content", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"DLW_CONTENT_DIR={tmp_path / 'srv' / 'content'}" in result.stdout


def test_import_refuses_to_write_into_the_bundled_content(tmp_path: Path) -> None:
    # No ./content here and no DLW_CONTENT_DIR: the bot serves the bundled copy, read-only.
    before = sorted(p.name for p in (BUNDLED_CONTENT / "issues").iterdir())
    result = run_cli("import", str(SEED_206), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {BUNDLED_CONTENT} is the bundled content")
    assert "dlw-bot init" in result.stderr and "Nothing was written." in result.stderr
    assert sorted(p.name for p in (BUNDLED_CONTENT / "issues").iterdir()) == before


def test_in_a_checkout_the_repo_content_is_bundled_unless_chosen_explicitly(
    tmp_path: Path,
) -> None:
    implicit = run_cli("import", "--dry-run", str(SEED_206), cwd=REPO)
    assert implicit.returncode == 1 and "is the bundled content" in implicit.stderr
    chosen = run_cli(
        "import", "--dry-run", str(SEED_206), cwd=REPO, env={"DLW_CONTENT_DIR": "content"}
    )
    assert chosen.returncode == 0, chosen.stderr  # an explicit choice: editing the project's own
    assert "issue #206" in chosen.stdout


def test_schema_check_still_works_in_the_checkout() -> None:
    result = run_cli("schema", "--check", cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_importing_into_a_directory_without_topics_explains_where_to_get_them(
    tmp_path: Path,
) -> None:
    bare = tmp_path / "bare"
    (bare / "issues").mkdir(parents=True)
    result = run_cli("import", str(SEED_206), cwd=tmp_path, env={"DLW_CONTENT_DIR": str(bare)})
    assert result.returncode == 1
    assert f"{bare} has no topics.yaml, so the bot would refuse to start on it" in result.stderr
    assert f"dlw-bot init {bare}" in result.stderr
    assert list((bare / "issues").iterdir()) == []


# -- import: formats and sources -----------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "form"), [(".md", "markdown"), (".html", "page_html"), (".txt", "text")]
)
def test_import_a_file_of_each_form(work: Path, suffix: str, form: str) -> None:
    source = work / f"issue-420{suffix}"
    source.write_text(getattr(ISSUE, form)(), encoding="utf-8")
    result = run_cli("import", str(source), cwd=work)
    assert result.returncode == 0, result.stderr
    written = issue_file(work, 420)
    assert result.stdout.startswith(f"Wrote {written}: issue #420, 5 sections, ")
    issue = load_issue(written)
    assert [s.name for s in issue.sections] == [name for name, _ in ISSUE.sections]
    assert len(issue.items) == ISSUE.item_count
    assert all(item.url and "utm_" not in item.url for item in issue.items)
    assert issue.date == ISSUE.date
    for line in result.stderr.splitlines():  # guesses only, each with its place
        assert line.startswith(f"{source}:") and ": guessed: " in line


def test_import_from_stdin(work: Path) -> None:
    result = run_cli("import", "-", cwd=work, stdin=ISSUE.markdown())
    assert result.returncode == 0, result.stderr
    assert load_issue(issue_file(work, 420)).number == 420


def test_a_plain_text_guess_is_printed_with_its_line(work: Path) -> None:
    result = run_cli("import", str(SEED_206), "-o", str(work / "out"), cwd=work)
    assert result.returncode == 0, result.stderr
    assert f"{SEED_206}:33: guessed: this story has no title line" in result.stderr
    note = (work / "out" / "0206.yaml").read_text(encoding="utf-8")
    assert "issue-206.txt line 33: this story has no title line" in note


async def test_import_a_url_of_a_page_and_of_a_feed(work: Path, site: NewsletterSite) -> None:
    page = site.add_page("deep-learning-weekly-issue-420", ISSUE.page_html())
    result = await arun_cli("import", page, cwd=work)
    assert result.returncode == 0, result.stderr
    assert load_issue(issue_file(work, 420)).items[0].title == ISSUE.sections[0][1][0].title

    site.set_feed(rss_feed([synthetic_issue(n).feed_item() for n in (423, 422, 421, 420)]))
    result = await arun_cli("import", site.url("/feed"), cwd=work)
    assert result.returncode == 0, result.stderr
    assert "3 imported, 1 unchanged, 0 failed (from 1 document)." in result.stderr
    for number in (421, 422, 423):
        assert load_issue(issue_file(work, number)).date == synthetic_issue(number).date


async def test_unreachable_urls_fail_with_the_status_or_the_network_error(
    work: Path, site: NewsletterSite
) -> None:
    result = await arun_cli(
        "import", site.url("/status/500"), site.url("/loop/0"), "http://127.0.0.1:9/x", cwd=work
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert f"{site.url('/status/500')}: error: HTTP 500 Internal Server Error" in lines
    assert f"{site.url('/loop/0')}: error: too many redirects (more than 5)" in lines
    assert any(line.startswith("http://127.0.0.1:9/x: error: cannot reach: ") for line in lines)
    assert "Nothing was written." in lines


async def test_a_feed_with_no_issues_is_an_error(work: Path, site: NewsletterSite) -> None:
    site.set_feed(rss_feed([]))
    result = await arun_cli("import", site.url("/feed"), cwd=work)
    assert result.returncode == 1
    [line, *_] = result.stderr.splitlines()
    assert line.startswith(f"{site.url('/feed')}: error: ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "binary"),
        (b"Just a note to self.\n\nNothing here.\n", "issue"),
        (b"Deep Learning Weekly: Issue 421\n\nHey folks,\n\n---\n\n", "no stories"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(work: Path, content: bytes, reason: str) -> None:
    source = work / "bad.txt"
    source.write_bytes(content)
    result = run_cli("import", str(source), cwd=work)
    assert result.returncode == 1
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"{source}") and ": error: " in first
    assert reason in first.lower()
    assert rest == ["Nothing was written."]
    assert "Traceback" not in result.stderr
    assert not issue_file(work, 421).exists()


def test_a_file_over_the_limit_is_refused(work: Path) -> None:
    big = work / "big.md"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    result = run_cli("import", str(big), cwd=work)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"{big}: error: too large: more than 5 MB"


def test_a_fifo_is_refused_not_waited_on(work: Path) -> None:
    fifo = work / "pipe"
    os.mkfifo(fifo)
    result = run_cli("import", str(fifo), cwd=work)  # run_cli's timeout would catch a hang
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{fifo}: error: is a FIFO (named pipe), not a regular file; refused"
    )


# -- safe writes -------------------------------------------------------------------------------


def test_reimport_is_unchanged_a_different_one_shows_a_diff_and_replace_writes(
    work: Path,
) -> None:
    source = work / "issue-420.md"
    source.write_text(ISSUE.markdown(), encoding="utf-8")
    assert run_cli("import", str(source), cwd=work).returncode == 0
    target = issue_file(work, 420)
    original = target.read_bytes()

    again = run_cli("import", str(source), cwd=work)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{target}: issue #420 unchanged.\n"
    assert again.stderr == ""  # the guesses were reviewed the first time

    first_title = ISSUE.sections[0][1][0].title
    source.write_text(ISSUE.markdown().replace(first_title, "A corrected title"), encoding="utf-8")
    differs = run_cli("import", str(source), cwd=work)
    assert differs.returncode == 1
    assert f"-  - title: {first_title}" in differs.stdout
    assert "+  - title: A corrected title" in differs.stdout
    assert len(differs.stdout.splitlines()) <= 41  # a short diff
    assert f"error: issue #420 differs from {target}; nothing written" in differs.stderr
    assert target.read_bytes() == original

    dry = run_cli("import", str(source), "--replace", "--dry-run", cwd=work)
    assert dry.returncode == 0 and target.read_bytes() == original

    replaced = run_cli("import", str(source), "--replace", cwd=work)
    assert replaced.returncode == 0, replaced.stderr
    assert f"Replaced {target}" in replaced.stdout
    assert load_issue(target).items[0].title == "A corrected title"


def test_dry_run_prints_the_yaml_and_guesses_and_writes_nothing(work: Path) -> None:
    result = run_cli("import", "--dry-run", str(SEED_206), "-o", str(work / "elsewhere"), cwd=work)
    assert result.returncode == 0, result.stderr
    assert Issue.model_validate(yaml.safe_load(result.stdout)).number == 206
    assert f"{SEED_206}:33: guessed: " in result.stderr
    assert result.stderr.rstrip().endswith("Nothing was written.")
    assert not (work / "elsewhere").exists()


def test_output_dir_writes_elsewhere(work: Path) -> None:
    out = work / "review"
    result = run_cli("import", "-", "-o", str(out), cwd=work, stdin=ISSUE.markdown())
    assert result.returncode == 0, result.stderr
    assert load_issue(out / "0420.yaml").number == 420
    assert not issue_file(work, 420).exists()


def test_writes_leave_no_temporary_files(work: Path) -> None:
    source = work / "issue-420.md"
    source.write_text(ISSUE.markdown(), encoding="utf-8")
    issues = work / "content" / "issues"
    before = sorted(p.name for p in issues.iterdir())
    assert run_cli("import", str(source), cwd=work).returncode == 0
    assert sorted(p.name for p in issues.iterdir()) == sorted([*before, "0420.yaml"])


# -- bulk --------------------------------------------------------------------------------------


def test_a_directory_of_issues_is_one_command_with_a_summary(work: Path) -> None:
    batch = work / "batch"
    batch.mkdir()
    for number in range(300, 340):
        form = ("markdown", "page_html", "text")[number % 3]
        suffix = (".md", ".html", ".txt")[number % 3]
        (batch / f"{number}{suffix}").write_text(getattr(synthetic_issue(number), form)())
    (batch / "notes.txt").write_text("not an issue\n")
    (batch / "0301.yaml").write_bytes(b"\x00\x01binary")
    before = len(load_content(work / "content").issues)
    result = run_cli("import", str(batch), cwd=work)
    assert result.returncode == 1  # two failed
    assert "40 imported, 0 unchanged, 2 failed (from 42 documents)." in result.stderr
    assert f"  {batch / 'notes.txt'}:1: error: " in result.stderr  # the reasons, listed again
    assert len(load_content(work / "content").issues) == before + 40

    again = run_cli("import", str(batch), cwd=work)
    assert "0 imported, 40 unchanged, 2 failed (from 42 documents)." in again.stderr


def test_approve_moves_a_draft_into_the_archive(work: Path) -> None:
    drafts = work / "content" / "drafts"
    result = run_cli("import", "-", "-o", str(drafts), cwd=work, stdin=ISSUE.markdown())
    assert result.returncode == 0, result.stderr
    assert run_cli("shell", "-c", "/issue 420", cwd=work).stdout.count("no issue #420") == 1

    listed = run_cli("approve", cwd=work)
    assert listed.returncode == 0 and "#420  Deep Learning Weekly: Issue 420" in listed.stdout

    approved = run_cli("approve", "420", cwd=work)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"Approved issue #420: {issue_file(work, 420)}.")
    assert not (drafts / "0420.yaml").exists()
    assert (
        "Deep Learning Weekly: Issue 420" in run_cli("shell", "-c", "/issue 420", cwd=work).stdout
    )

    missing = run_cli("approve", "420", cwd=work)
    assert missing.returncode == 1
    assert missing.stderr == "error: There is no draft of issue #420 (drafts: none).\n"


async def test_a_feed_reports_its_failed_and_skipped_items_and_imports_the_rest(
    work: Path, site: NewsletterSite
) -> None:
    podcast = {
        "title": "Announcing our podcast",
        "link": "https://www.deeplearningweekly.com/p/podcast",
        "date": "",
        "html": "<p>Listen now.</p>",
    }
    broken = {
        "title": "Deep Learning Weekly: Issue 430",
        "link": "https://www.deeplearningweekly.com/p/deep-learning-weekly-issue-430",
        "date": "",
        "html": "<p>Only an introduction, no stories.</p>",
    }
    site.set_feed(rss_feed([broken, podcast, synthetic_issue(421).feed_item()]))
    feed = site.url("/feed")
    result = await arun_cli("import", feed, cwd=work)
    assert result.returncode == 1  # one issue failed
    lines = result.stderr.splitlines()
    assert f"{feed}: skipped 'Announcing our podcast': not an issue" in lines
    assert any(
        line.startswith(f"{feed}: error: Deep Learning Weekly: Issue 430: no stories")
        for line in lines
    )
    assert (
        "1 imported, 0 unchanged, 1 failed, 1 feed item skipped (not issues) (from 1 document)."
        in lines
    )
    assert load_issue(issue_file(work, 421)).number == 421
    assert not issue_file(work, 430).exists()


def test_an_installed_package_is_never_written_into(tmp_path: Path) -> None:
    """The issue's report: after `pip install .`, `dlw-bot import` wrote into site-packages.
    Here the wheel's layout (bot/ with the content as bot/_bundled_content) stands in for it."""
    site = tmp_path / "site-packages"
    ignore = shutil.ignore_patterns("__pycache__", "_bundled_content")
    shutil.copytree(REPO / "bot", site / "bot", ignore=ignore)
    shutil.copytree(REPO / "adapters", site / "adapters", ignore=ignore)
    shutil.copytree(BUNDLED_CONTENT, site / "bot" / "_bundled_content")
    installed = site / "bot" / "_bundled_content"
    operator = tmp_path / "operator"
    operator.mkdir()
    env = {"PYTHONPATH": str(site)}

    for extra, output in (  # by default, and not even when named explicitly
        ({}, ()),
        ({"DLW_CONTENT_DIR": str(installed)}, ()),
        ({}, ("-o", str(installed / "issues"))),
    ):
        refused = run_cli("import", str(SEED_206), *output, cwd=operator, env=env | extra)
        assert refused.returncode == 1
        assert f"error: {installed}" in refused.stderr and "read-only" in refused.stderr
    assert sorted(p.name for p in (installed / "issues").iterdir()) == sorted(
        p.name for p in (BUNDLED_CONTENT / "issues").iterdir()
    )

    assert run_cli("init", cwd=operator, env=env).returncode == 0
    imported = run_cli("import", "-", cwd=operator, env=env, stdin=ISSUE.markdown())
    assert imported.returncode == 0, imported.stderr
    assert f"Wrote {operator / 'content' / 'issues' / '0420.yaml'}" in imported.stdout
