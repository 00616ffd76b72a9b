"""Read a content directory into validated issues and topics, or say exactly what is wrong.

Layout::

    content/
      topics.yaml          the taxonomy (bot.content.topics.TopicFile)
      issues/0206.yaml     one file per issue (bot.content.models.Issue)

Every problem is a :class:`ContentError` naming the file, the field path and the reason, so
``dlw-bot validate`` can print them all at once and the running bot can log them and keep
serving its last good archive.
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from bot.content.models import Issue
from bot.content.topics import Taxonomy, TopicFile
from bot.errors import DlwError
from bot.files import UnreadableFile, read_regular

__all__ = [
    "AliasRefused",
    "ContentError",
    "ContentErrors",
    "LoadedContent",
    "check_content",
    "load_content",
    "load_yaml",
]

M = TypeVar("M", bound=BaseModel)

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ISSUE_GLOB = ("*.yaml", "*.yml")
MAX_FILE_BYTES = 1024 * 1024  # a real issue file is about 20 KB


@dataclass(frozen=True)
class ContentError:
    """One problem in one content file."""

    file: str
    path: str
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.path}: {self.reason}"
            if self.path
            else f"{self.file}: {self.reason}"
        )


class ContentErrors(DlwError):
    """The content directory has problems; ``errors`` lists every one of them."""

    def __init__(self, errors: list[ContentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True)
class LoadedContent:
    """What a valid content directory holds, and the files in it that were not read."""

    issues: tuple[Issue, ...]  # ascending by number
    taxonomy: Taxonomy
    skipped: tuple[ContentError, ...] = ()  # FIFOs, devices, directories named like issues


def load_content(directory: Path) -> LoadedContent:
    """Load and validate ``directory``; raise :class:`ContentErrors` listing every problem."""
    content, errors = check_content(directory)
    if errors or content is None:
        raise ContentErrors(errors)
    return content


def check_content(directory: Path) -> tuple[LoadedContent | None, list[ContentError]]:
    """Validate ``directory`` and return what loaded plus every problem found."""
    with _no_gc():
        return _check_content(directory)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Loading builds hundreds of thousands of objects and frees almost none, so the cyclic
    collector would only walk them again and again (10-20 % of a 500-issue load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_content(directory: Path) -> tuple[LoadedContent | None, list[ContentError]]:
    errors: list[ContentError] = []
    if not directory.is_dir():
        return None, [ContentError(str(directory), "", "not a directory")]

    taxonomy = _load_topics(directory / "topics.yaml", errors)
    issues_dir = directory / "issues"
    if not issues_dir.is_dir():
        errors.append(
            ContentError(
                _rel(issues_dir, directory), "", "missing: put one YAML file per issue here"
            )
        )
        return None, errors

    by_number: dict[int, tuple[str, Issue]] = {}
    skipped: list[ContentError] = []
    files = sorted(p for pattern in ISSUE_GLOB for p in issues_dir.glob(pattern))
    for file in files:
        name = _rel(file, directory)
        issue = _load_model(file, Issue, name, errors, skipped)
        if issue is None:
            continue
        if re.fullmatch(r"\d+", file.stem) and int(file.stem) != issue.number:
            errors.append(
                ContentError(
                    name,
                    "number",
                    f"file name says issue {int(file.stem)} but the file says {issue.number}",
                )
            )
            continue
        if issue.number in by_number:
            other = by_number[issue.number][0]
            errors.append(
                ContentError(name, "number", f"issue {issue.number} is also defined in {other}")
            )
            continue
        by_number[issue.number] = (name, issue)
        if taxonomy is not None:
            _check_topics(issue, taxonomy, name, errors)

    if not files:
        errors.append(
            ContentError(_rel(issues_dir, directory), "", "no issue files (*.yaml) found")
        )
    if taxonomy is None:
        return None, errors
    issues = tuple(issue for _, (_, issue) in sorted(by_number.items()))
    return LoadedContent(issues=issues, taxonomy=taxonomy, skipped=tuple(skipped)), errors


def _load_topics(file: Path, errors: list[ContentError]) -> Taxonomy | None:
    topic_file = _load_model(file, TopicFile, file.name, errors)
    return Taxonomy(topic_file.topics) if topic_file else None


def _check_topics(issue: Issue, taxonomy: Taxonomy, name: str, errors: list[ContentError]) -> None:
    for s, section in enumerate(issue.sections):
        for i, item in enumerate(section.items):
            for t, topic_id in enumerate(item.topics):
                if taxonomy.get(topic_id) is None:
                    errors.append(
                        ContentError(
                            name,
                            f"sections.{s}.items.{i}.topics.{t}",
                            f"unknown topic id {topic_id!r} (see topics.yaml)",
                        )
                    )


def _load_model(
    file: Path,
    model: type[M],
    name: str,
    errors: list[ContentError],
    skipped: list[ContentError] | None = None,
) -> M | None:
    """``file`` validated as ``model``; problems go to ``errors``, and files that are not
    regular files at all to ``skipped`` when given (a stray FIFO must not block the rest)."""
    try:
        raw = read_regular(file, limit=MAX_FILE_BYTES).decode("utf-8")
    except UnreadableFile as exc:
        (skipped if exc.special and skipped is not None else errors).append(
            ContentError(name, "", exc.message)
        )
        return None
    except UnicodeDecodeError as exc:
        errors.append(ContentError(name, "", f"cannot be read: not UTF-8 text ({exc.reason})"))
        return None
    try:
        data: Any = load_yaml(raw)
    except AliasRefused:
        errors.append(
            ContentError(name, "", "uses YAML anchors or aliases (&name, *name): not allowed here")
        )
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(ContentError(name, "", f"not valid YAML: {where}{problem}"))
        return None
    if not isinstance(data, dict):
        errors.append(ContentError(name, "", "must be a mapping of fields (number, title, ...)"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in _root_causes(exc.errors(include_url=False)):
            path = ".".join(str(part) for part in err["loc"])
            errors.append(ContentError(name, path, _reason(err["msg"], err["type"])))
        return None


class AliasRefused(yaml.YAMLError):
    """The document uses anchors or aliases, which content files may not."""


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"}


def load_yaml(text: str) -> Any:
    """Parse one YAML document the way content files need it, about twice as fast as
    ``yaml.load``: libyaml composes the node tree, and mappings, sequences and strings are
    built here directly (other scalars by PyYAML's safe constructor).

    Anchors and aliases are refused (:class:`AliasRefused`, a :class:`yaml.YAMLError`):
    content has no use for them, and a few kilobytes of nested aliases expand to gigabytes.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(node, loader, set())
    finally:
        loader.dispose()


def _build(node: yaml.Node, loader: yaml.SafeLoader, seen: set[int]) -> Any:
    tag = node.tag
    if tag not in _PLAIN_TAGS:
        return loader.construct_object(node, deep=True)
    if tag == "tag:yaml.org,2002:str":
        return node.value
    if id(node) in seen:  # the composer hands an alias back as the very node it names
        raise AliasRefused
    seen.add(id(node))
    if tag == "tag:yaml.org,2002:seq":
        return [_build(item, loader, seen) for item in node.value]
    return {_build(k, loader, seen): _build(v, loader, seen) for k, v in node.value}


def _root_causes(errors: list[Any]) -> list[Any]:
    """Pydantic's errors without the echoes: a list whose only item failed also reports
    "at least 1 item, not 0" at every level above it, which is no news to an editor."""
    locs = [tuple(err["loc"]) for err in errors]
    return [
        err
        for err, loc in zip(errors, locs, strict=True)
        if err["type"] != "too_short"
        or not any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)
    ]


def _reason(message: str, kind: str) -> str:
    message = message.removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return "unknown field (check its spelling)"
    if kind == "missing":
        return "required field is missing"
    return message


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
