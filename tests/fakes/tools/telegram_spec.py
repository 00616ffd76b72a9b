"""Write ``tests/fakes/telegram/spec.py`` from the Telegram Bot API spec JSON.

Usage (the spec stays outside the repository)::

    python -m tests.fakes.tools.telegram_spec path/to/api.json "160fd99" > tests/fakes/telegram/spec.py
    ruff format tests/fakes/telegram/spec.py

``api.json`` is the file of github.com/PaulSonOfLars/telegram-bot-api-spec; the second argument
names the commit it came from, for the generated docstring.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

#: The methods the fake serves (keep in step with ``methods._Methods._method_table``).
METHODS = (
    "getMe",
    "deleteWebhook",
    "setWebhook",
    "getWebhookInfo",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "deleteMessage",
    "answerCallbackQuery",
    "answerInlineQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getChatMember",
    "getChat",
    "getChatAdministrators",
    "sendChatAction",
)
#: The objects a bot sends that the fake checks field by field (abstract ones by subtype).
OBJECTS = (
    "MessageEntity",
    "InlineKeyboardMarkup",
    "InlineKeyboardButton",
    "ReplyKeyboardMarkup",
    "KeyboardButton",
    "ReplyKeyboardRemove",
    "ForceReply",
    "LinkPreviewOptions",
    "ReplyParameters",
    "BotCommand",
    "BotCommandScope",
    "InlineQueryResult",
    "InlineQueryResultArticle",
    "InputMessageContent",
    "InputTextMessageContent",
    "InlineQueryResultsButton",
    "WebAppInfo",
    "LoginUrl",
    "SwitchInlineQueryChosenChat",
    "CopyTextButton",
    "CallbackGame",
)


def _fields(fields: list[dict[str, Any]]) -> list[str]:
    return [f'        "{f["name"]}": ({tuple(f["types"])!r}, {f["required"]}),' for f in fields]


def render(spec: dict[str, Any], commit: str) -> str:
    """The module text (unformatted; ruff format makes it tidy)."""
    types = spec["types"]
    objects = [*OBJECTS, *types["BotCommandScope"]["subtypes"]]
    out = [
        '"""Parameters of the Bot API methods the fake serves and fields of the objects it checks.',
        "",
        "Derived by ``tests/fakes/tools/telegram_spec.py`` (not at test time) from the Telegram",
        "Bot API spec JSON: github.com/PaulSonOfLars/telegram-bot-api-spec, ``api.json`` at",
        f'{commit}, "{spec["version"]}", released {spec["release_date"]}.',
        "",
        "Each entry maps a name to (types as the spec spells them, required). Abstract types",
        "(``InlineQueryResult``, ``BotCommandScope``, ``InputMessageContent``) map to their subtypes,",
        "and a subtype's ``type`` discriminator to the constant the spec says it must be.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        "Param = tuple[tuple[str, ...], bool]",
        "",
        "#: The spec's scalar types; anything else is an object (or array) sent as JSON.",
        'SCALARS: Final = frozenset({"Integer", "String", "Boolean", "True", "Float", "InputFile"})',
        "",
        f'SPEC_VERSION: Final = "{spec["version"]} ({spec["release_date"]})"',
        "",
        "METHODS: Final[dict[str, dict[str, Param]]] = {",
    ]
    for method in METHODS:
        out += [
            f'    "{method}": {{',
            *_fields(spec["methods"][method].get("fields", [])),
            "    },",
        ]
    out += ["}", "", "OBJECTS: Final[dict[str, dict[str, Param]]] = {"]
    subtypes: dict[str, list[str]] = {}
    discriminators: dict[str, tuple[str, str]] = {}
    for name in objects:
        kind = types[name]
        if kind.get("subtypes"):
            subtypes[name] = kind["subtypes"]
            continue
        out += [f'    "{name}": {{', *_fields(kind.get("fields", [])), "    },"]
        for field in kind.get("fields", []):
            must = re.search(r"must be (\w+)", field["description"])
            if field["name"] == "type" and kind.get("subtype_of") and must:
                discriminators[name] = (field["name"], must.group(1))
    out += ["}", "", "#: Abstract types and the subtypes they stand for."]
    out += ["SUBTYPES: Final[dict[str, tuple[str, ...]]] = {"]
    out += [f'    "{name}": {tuple(subs)!r},' for name, subs in subtypes.items()]
    out += ["}", "", "#: Subtype -> (discriminating field, the value the spec says it must have)."]
    out += ["DISCRIMINATORS: Final[dict[str, tuple[str, str]]] = {"]
    out += [f'    "{name}": ("{k}", "{v}"),' for name, (k, v) in discriminators.items()]
    out += ["}"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]))
