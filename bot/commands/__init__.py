"""The one command set, declared once and served on every platform.

:mod:`.registry` declares and runs commands (checked against their handlers' signatures at
registration), :mod:`.params` their arguments; the commands themselves live at module level in
:mod:`.reading`, :mod:`.subscriptions` and :mod:`.operators`. :func:`build_registry` is what the
app serves; adding a command is a function in one of those modules and its name in ``COMMANDS``.
"""

from bot.commands import operators, reading, subscriptions
from bot.commands.params import Param, ParamType, Suggest, UsageError
from bot.commands.reading import ISSUE_FOOTER
from bot.commands.registry import (
    ChatKind,
    Command,
    CommandRegistry,
    Context,
    Handler,
    InlineHandler,
    Permission,
    Services,
    check_signature,
    command,
)
from bot.commands.throttle import SLOW_DOWN, Throttle, Verdict

__all__ = [
    "ISSUE_FOOTER",
    "SLOW_DOWN",
    "ChatKind",
    "Command",
    "CommandRegistry",
    "Context",
    "Handler",
    "InlineHandler",
    "Param",
    "ParamType",
    "Permission",
    "Services",
    "Suggest",
    "Throttle",
    "UsageError",
    "Verdict",
    "build_registry",
    "check_signature",
    "command",
]


def build_registry(throttle: Throttle | None = None) -> CommandRegistry:
    """The registry every adapter serves: every command, in the order menus list them;
    ``throttle``: each reader's command budget (none: unlimited)."""
    registry = CommandRegistry(inline_handler=reading.inline_stories, throttle=throttle)
    for module in (reading, subscriptions, operators):
        for declared in module.COMMANDS:
            registry.add(declared)
    return registry
