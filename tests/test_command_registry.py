"""Declared once, checked at declaration: a command whose handler does not take what it declares
is refused when it is registered, with a TypeError naming the mismatch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.commands import (
    Command,
    CommandRegistry,
    Context,
    Handler,
    Param,
    ParamType,
    build_registry,
    command,
)
from bot.reply import Reply


def declare(*params: Param) -> Callable[[Handler], Command]:
    return command("probe", "A probe", "Probes.", *params)


def test_every_shipped_command_matches_its_handler() -> None:
    registry = build_registry()
    assert list(registry.commands)[:3] == ["start", "help", "latest"]
    assert registry.inline_handler is not None


def test_a_misspelt_param_is_refused_at_registration() -> None:
    @declare(Param("numbr", "Issue number.", ParamType.INTEGER))
    async def handler(ctx: Context, number: int) -> Reply:
        return Reply.text(str(number))

    with pytest.raises(TypeError, match=r"takes no argument 'numbr'.*takes: number"):
        CommandRegistry().add(handler)


def test_a_handler_argument_nobody_declares_is_refused() -> None:
    @declare()
    async def handler(ctx: Context, number: int) -> Reply:
        return Reply.text(str(number))

    with pytest.raises(TypeError, match=r"takes 'number', but no Param\('number'\)"):
        CommandRegistry().add(handler)


def test_an_annotation_contradicting_the_declared_type_is_refused() -> None:
    @declare(Param("number", "Issue number.", ParamType.INTEGER))
    async def handler(ctx: Context, number: str) -> Reply:
        return Reply.text(number)

    with pytest.raises(TypeError, match=r"Param\('number'\) is integer"):
        CommandRegistry().add(handler)


def test_an_optional_param_must_admit_none() -> None:
    @declare(Param("number", "Issue number.", ParamType.INTEGER, required=False))
    async def handler(ctx: Context, number: int) -> Reply:
        return Reply.text(str(number))

    with pytest.raises(TypeError, match=r"is optional"):
        CommandRegistry().add(handler)


def test_the_decorator_on_a_registry_checks_too() -> None:
    registry = CommandRegistry()
    with pytest.raises(TypeError, match="Context as its first argument"):

        @registry.command("probe", "A probe", "Probes.")
        async def handler() -> Reply:
            return Reply.text("no context")

    assert "probe" not in registry.commands


def test_matching_declarations_register() -> None:
    async def handler(ctx: Context, name: str, number: int | None) -> Reply:
        return Reply.text(f"{name} {number}")

    async def anything(ctx: Context, **args: Any) -> Reply:
        return Reply.text(str(args))

    registry = CommandRegistry()
    registry.add(
        Command(
            "probe",
            "A probe",
            "Probes.",
            handler,
            (
                Param("name", "A name.", rest=True),
                Param("number", "A number.", ParamType.INTEGER, required=False),
            ),
        )
    )
    registry.add(Command("any", "Any", "Any.", anything, (Param("x", "Whatever."),)))
    assert set(registry.commands) == {"probe", "any"}
