"""Command parameters: how each is declared, and how typed text becomes its value.

A :class:`Param` is the single declaration a command's argument has: adapters derive Discord
options, Telegram usage lines and autocomplete from it, and :func:`parse_line` /
:func:`convert` turn a typed line or a platform's option value into the handler's argument.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.errors import DlwError

__all__ = ["Param", "ParamType", "Suggest", "UsageError", "convert", "parse_line"]


class ParamType(StrEnum):
    """What a parameter's value is: text, or a whole number."""

    TEXT = "text"
    INTEGER = "integer"


class Suggest(StrEnum):
    """Where autocomplete suggestions for a parameter come from."""

    SECTION = "section"
    TOPIC = "topic"
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class Param:
    """One argument of a command, declared once; the handler takes a keyword of this name."""

    name: str
    description: str
    type: ParamType = ParamType.TEXT
    required: bool = True
    rest: bool = False  # a text parameter that takes the rest of the line
    choices: tuple[str, ...] = ()
    suggest: Suggest | None = None
    min_value: int | None = None
    max_value: int | None = None
    max_length: int | None = None


class UsageError(DlwError):
    """An argument problem, phrased for the reader."""


def parse_line(name: str, declared: Sequence[Param], rest: str) -> dict[str, Any]:
    """Split the text after ``/name`` into the command's parameters."""
    tokens = rest.split()
    params = list(declared)
    values: dict[str, Any] = {p.name: None for p in params}
    # A trailing optional integer after a rest-of-line text ("/section papers 202").
    if (
        len(params) >= 2
        and params[-2].rest
        and params[-1].type is ParamType.INTEGER
        and len(tokens) >= 2
    ):
        if re.fullmatch(r"#?\d+", tokens[-1]):
            values[params[-1].name] = convert(params[-1], tokens.pop())
        elif re.fullmatch(r"#?\d+", tokens[0]):  # "/section 202 papers"
            values[params[-1].name] = convert(params[-1], tokens.pop(0))
        params = params[:-1]
    for index, param in enumerate(params):
        if not tokens:
            break
        if param.rest:
            values[param.name] = convert(param, " ".join(tokens))
            tokens = []
            break
        values[param.name] = convert(param, tokens.pop(0))
        if index == len(params) - 1 and tokens:
            raise UsageError(f"too many arguments after {param.name} ({' '.join(tokens)[:40]!r})")
    if tokens and not params:
        raise UsageError(f"/{name} takes no arguments")
    for param in declared:
        if param.required and values[param.name] is None:
            raise UsageError(f"{param.name} is missing: {param.description.rstrip('.').lower()}")
    return values


def convert(param: Param, raw: object) -> Any:
    if raw is None or raw == "":
        return None
    if param.type is ParamType.INTEGER:
        if isinstance(raw, bool):
            raise UsageError(f"{param.name} must be a number")
        if isinstance(raw, int):
            number = raw
        else:
            text = str(raw).strip().lstrip("#")
            if not re.fullmatch(r"\d{1,9}", text):
                shown = str(raw) if len(str(raw)) <= 20 else str(raw)[:20] + "…"
                raise UsageError(f"“{shown}” is not a valid {param.name}: use digits, like 206")
            number = int(text)
        if param.min_value is not None and number < param.min_value:
            raise UsageError(f"{param.name} must be at least {param.min_value}")
        if param.max_value is not None and number > param.max_value:
            raise UsageError(f"{param.name} must be at most {param.max_value}")
        return number
    text = " ".join(str(raw).split())
    if param.choices:
        folded = text.casefold()
        if folded not in param.choices:
            raise UsageError(f"{param.name} must be one of: {', '.join(param.choices)}")
        return folded
    if param.max_length is not None and len(text) > param.max_length:
        raise UsageError(
            f"{param.name} is {len(text):,} characters long; the limit is {param.max_length:,}"
        )
    return text
