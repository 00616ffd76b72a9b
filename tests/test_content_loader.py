"""Content validation: every problem reported as ``file: field.path: reason``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.content.loader import check_content, load_content
from bot.content.schema import SCHEMA_FILE, issue_schema_json
from tests.conftest import BUNDLED_CONTENT

MINIMAL = """\
number: {number}
title: "Deep Learning Weekly: Issue #{number}"
subtitle: Things
intro: Hello.
sections:
  - name: Industry
    items:
      - title: A story
        url: https://example.com/a
        summary: What happened.
"""


def _errors(directory: Path) -> list[str]:
    return [str(e) for e in check_content(directory)[1]]


def test_bundled_content_is_valid() -> None:
    content = load_content(BUNDLED_CONTENT)
    assert [i.number for i in content.issues] == [202, 206]
    assert 15 <= len(content.taxonomy) <= 25


def test_schema_file_matches_the_models() -> None:
    """Fails when the models change without `dlw-bot schema` being run."""
    assert (BUNDLED_CONTENT / SCHEMA_FILE).read_text(encoding="utf-8") == issue_schema_json()


def test_problems_name_file_field_and_reason(content_dir: Path) -> None:
    issues = content_dir / "issues"
    (issues / "0300.yaml").write_text(
        MINIMAL.format(number=300).replace("https://example.com/a", "ftp://example.com/a"),
        encoding="utf-8",
    )
    (issues / "0301.yaml").write_text(
        MINIMAL.format(number=301).replace(
            "      - title: A story\n", "      - title: A story\n        topics: [no-such-topic]\n"
        ),
        encoding="utf-8",
    )
    (issues / "0302.yaml").write_text(
        MINIMAL.format(number=206), encoding="utf-8"
    )  # name/number mismatch
    (issues / "0303.yaml").write_text(
        MINIMAL.format(number=303).replace(
            "    items:\n      - title: A story\n        url: https://example.com/a\n        summary: What happened.\n",
            "    items: []\n",
        ),
        encoding="utf-8",
    )
    (issues / "0304.yaml").write_text(
        MINIMAL.format(number=304).replace("number: 304", 'number: "304"'), encoding="utf-8"
    )
    (issues / "0305.yaml").write_text("number: [unclosed\n", encoding="utf-8")
    (issues / "0306.yaml").write_text(
        MINIMAL.format(number=306) + "colour: blue\n", encoding="utf-8"
    )
    errors = _errors(content_dir)
    assert "issues/0300.yaml: sections.0.items.0.url: must be an http:// or https:// URL" in errors
    assert (
        "issues/0301.yaml: sections.0.items.0.topics.0: unknown topic id 'no-such-topic' (see topics.yaml)"
        in errors
    )
    assert "issues/0302.yaml: number: file name says issue 302 but the file says 206" in errors
    assert any(
        e.startswith("issues/0303.yaml: sections.0.items: ") and "at least 1" in e for e in errors
    )
    assert "issues/0304.yaml: number: Input should be a valid integer" in errors
    assert any(e.startswith("issues/0305.yaml: not valid YAML: line 2") for e in errors)
    assert "issues/0306.yaml: colour: unknown field (check its spelling)" in errors


def test_duplicate_issue_numbers_are_reported(content_dir: Path) -> None:
    (content_dir / "issues" / "extra.yaml").write_text(MINIMAL.format(number=206), encoding="utf-8")
    assert "issues/extra.yaml: number: issue 206 is also defined in issues/0206.yaml" in _errors(
        content_dir
    )


def test_broken_topics_file(content_dir: Path) -> None:
    (content_dir / "topics.yaml").write_text(
        "topics:\n  - id: Bad Id\n    label: X\n    keywords: [x]\n", encoding="utf-8"
    )
    errors = _errors(content_dir)
    assert any(
        e.startswith("topics.yaml: topics.0.id: String should match pattern") for e in errors
    )


def test_validate_cli_exit_codes(content_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(content_dir)]) == 0
    assert "OK — 2 issues, 38 items" in capsys.readouterr().out
    (content_dir / "issues" / "0300.yaml").write_text("number: 300\n", encoding="utf-8")
    assert main(["validate", str(content_dir)]) == 1
    err = capsys.readouterr().err
    assert "issues/0300.yaml: title: required field is missing" in err
    assert "problems found" in err


def test_schema_cli_check(content_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLW_CONTENT_DIR", str(content_dir))
    assert main(["schema", "--check"]) == 0
    (content_dir / SCHEMA_FILE).write_text("{}", encoding="utf-8")
    assert main(["schema", "--check"]) == 1
    assert main(["schema"]) == 0
    assert main(["schema", "--check"]) == 0


def test_an_alias_bomb_is_refused_before_it_expands(content_dir: Path) -> None:
    # 9 levels of 10 aliases each would be a billion items once expanded.
    lines = ["number: 999", 'title: "Deep Learning Weekly: Issue 999"', "l0: &l0 [x, x, x, x, x]"]
    for level in range(1, 10):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{refs}]")
    (content_dir / "issues" / "0999.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _errors(content_dir) == [
        "issues/0999.yaml: uses YAML anchors or aliases (&name, *name): not allowed here"
    ]


def test_content_files_read_exactly_as_yaml_says(content_dir: Path) -> None:
    import yaml

    from bot.content.loader import load_yaml

    for file in [*sorted((content_dir / "issues").glob("*.yaml")), content_dir / "topics.yaml"]:
        text = file.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), file.name
    tricky = "a: 1\nb: 2025-08-13\nc: yes\nd: ~\ne: '3'\nf: [1.5, -2]\ng: {h: 'x'}\n"
    assert load_yaml(tricky) == yaml.safe_load(tricky)


def test_special_files_are_reported_and_skipped_never_read(
    content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    issues = content_dir / "issues"
    os.mkfifo(issues / "0300.yaml")  # opening it for a blocking read would hang forever
    (issues / "0301.yaml").symlink_to("/dev/zero")  # endless
    (issues / "0302.yaml").mkdir()
    content, errors = check_content(content_dir)
    assert errors == []
    assert content is not None and [i.number for i in content.issues] == [202, 206]
    assert sorted(str(s) for s in content.skipped) == [
        "issues/0300.yaml: is a FIFO (named pipe), not a regular file; refused",
        "issues/0301.yaml: is a device, not a regular file; refused",
        "issues/0302.yaml: is a directory, not a regular file; refused",
    ]
    assert main(["validate", str(content_dir)]) == 0
    err = capsys.readouterr().err
    assert "issues/0300.yaml: is a FIFO (named pipe), not a regular file; refused (skipped)" in err


def test_an_oversized_file_is_an_error_without_being_parsed(content_dir: Path) -> None:
    huge = content_dir / "issues" / "0300.yaml"
    with huge.open("w", encoding="utf-8") as out:
        out.write('number: 300\ntitle: "Issue 300"\nintro: x\nsections:\n- name: A\n  items:\n')
        out.write("  - title: t\n    summary: " + "y" * (50 * 1024 * 1024) + "\n")
    assert _errors(content_dir) == ["issues/0300.yaml: too large: more than 1 MB"]


def _issue(sections: list[dict[str, object]]) -> str:
    import yaml

    return yaml.safe_dump(
        {
            "number": 300,
            "title": "Deep Learning Weekly: Issue 300",
            "intro": "Hi.",
            "sections": sections,
        }
    )


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            [{"name": "A", "items": [{"title": "t", "summary": "s"} for _ in range(101)]}],
            "issues/0300.yaml: sections.0.items: Tuple should have at most 100 items after validation, not 101",
        ),
        (
            [
                {"name": f"S{n}", "items": [{"title": "t", "summary": "s"} for _ in range(100)]}
                for n in range(4)
            ],
            "issues/0300.yaml: 400 items in all; an issue may have at most 300",
        ),
        (
            [{"name": "A", "items": [{"title": "t", "summary": "s" * 20_001}]}],
            "issues/0300.yaml: sections.0.items.0.summary: String should have at most 20000 characters",
        ),
    ],
)
def test_content_is_bounded_with_the_field_that_is_too_large(
    content_dir: Path, sections: list[dict[str, object]], expected: str
) -> None:
    (content_dir / "issues" / "0300.yaml").write_text(_issue(sections), encoding="utf-8")
    assert _errors(content_dir) == [expected]


def test_the_intro_s_substance_leaves_out_greeting_and_sign_off() -> None:
    from bot.content.loader import check_content
    from tests.helpers import REPO

    content, errors = check_content(REPO / "content")
    assert content is not None and not errors
    issue = next(i for i in content.issues if i.number == 202)
    assert [p.split(",")[0] for p in issue.intro_substance] == [
        "This week in deep learning",
        "You may also enjoy Google’s Quantum AI campus",
    ]
