"""Write ``tests/fakes/discord/spec.py`` from Discord's OpenAPI document.

Usage (the document stays outside the repository)::

    python -m tests.fakes.tools.discord_spec path/to/openapi.json "74fda0f 2026-07-18" \
        > tests/fakes/discord/spec.py
    ruff format tests/fakes/discord/spec.py

``openapi.json`` is ``specs/openapi.json`` of github.com/discord/discord-api-spec; the second
argument names the commit it came from, for the generated docstring.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: The object schemas the fake checks field by field; a reference to any other is an object
#: left unchecked.
MODELLED = (
    "MessageCreateRequest",
    "IncomingWebhookRequestPartial",
    "IncomingWebhookUpdateRequestPartial",
    "IncomingWebhookInteractionRequest",
    "IncomingWebhookUpdateForInteractionCallbackRequestPartial",
    "RichEmbed",
    "RichEmbedAuthor",
    "RichEmbedFooter",
    "RichEmbedField",
    "RichEmbedImage",
    "RichEmbedThumbnail",
    "RichEmbedProvider",
    "RichEmbedVideo",
    "MessageAllowedMentionsRequest",
    "MessageAttachmentRequest",
    "MessageReferenceRequest",
    "ActionRowComponentForMessageRequest",
    "ButtonComponentForMessageRequest",
    "StringSelectComponentForMessageRequest",
    "StringSelectOptionForRequest",
    "ComponentEmojiForRequest",
    "ActionRowComponentForModalRequest",
    "TextInputComponentForModalRequest",
    "LabelComponentForModalRequest",
    "StringSelectComponentForModalRequest",
    "TextDisplayComponentForModalRequest",
    "PongInteractionCallbackRequest",
    "CreateMessageInteractionCallbackRequest",
    "UpdateMessageInteractionCallbackRequest",
    "ApplicationCommandAutocompleteCallbackRequest",
    "InteractionApplicationCommandAutocompleteCallbackIntegerData",
    "InteractionApplicationCommandAutocompleteCallbackNumberData",
    "InteractionApplicationCommandAutocompleteCallbackStringData",
    "ModalInteractionCallbackRequest",
    "ModalInteractionCallbackRequestData",
    "ApplicationCommandUpdateRequest",
    "ApplicationCommandAttachmentOption",
    "ApplicationCommandBooleanOption",
    "ApplicationCommandChannelOption",
    "ApplicationCommandIntegerOption",
    "ApplicationCommandMentionableOption",
    "ApplicationCommandNumberOption",
    "ApplicationCommandRoleOption",
    "ApplicationCommandStringOption",
    "ApplicationCommandSubcommandGroupOption",
    "ApplicationCommandSubcommandOption",
    "ApplicationCommandUserOption",
    "ApplicationCommandOptionIntegerChoice",
    "ApplicationCommandOptionNumberChoice",
    "ApplicationCommandOptionStringChoice",
    "CreatePrivateChannelRequest",
    "CreateForumThreadRequest",
    "BaseCreateMessageCreateRequest",
)
_BOUNDS = (
    ("minLength", "min_length"),
    ("maxLength", "max_length"),
    ("minItems", "min_items"),
    ("maxItems", "max_items"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("format", "format"),
)
_NOT_FORMATS = frozenset({"int32", "int64", "double", "nonce"})  # numeric widths, not checks


class _Field:
    """One property, flattened: JSON types, schemas it may be, items, enum, bounds."""

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.refs: list[str] = []
        self.items: _Field | None = None
        self.enum: tuple[Any, ...] | None = None
        self.bounds: dict[str, Any] = {}

    def render(self, required: bool = False) -> str:
        parts = [repr("|".join(sorted(self.types)) or "any")]
        if required:
            parts.append("required=True")
        if self.refs:
            parts.append(f"refs={tuple(self.refs)!r}")
        if self.items is not None:
            parts.append(f"items={self.items.render()}")
        if self.enum is not None:
            parts.append(f"enum={self.enum!r}")
        parts += [f"{name}={self.bounds[name]!r}" for _, name in _BOUNDS if name in self.bounds]
        return f"F({', '.join(parts)})"


def _flatten(node: dict[str, Any], schemas: dict[str, Any]) -> _Field:
    field = _Field()

    def merge(part: dict[str, Any]) -> None:
        if "$ref" in part:
            name = part["$ref"].rsplit("/", 1)[-1]
            target = schemas[name]
            if target.get("type") == "object" or "properties" in target:
                field.types.add("object")
                if name in MODELLED:
                    field.refs.append(name)
            else:
                merge(target)  # an enum or a scalar type (snowflakes, Int53...)
            return
        for key in ("oneOf", "anyOf"):
            alternatives = part.get(key, [])
            if alternatives and all("const" in alt for alt in alternatives):
                field.enum = tuple(alt["const"] for alt in alternatives)
            else:
                for alt in alternatives:
                    merge(alt)
        if "enum" not in part:
            for alt in part.get("allOf", []):
                merge(alt)
        kind = part.get("type")
        field.types.update([kind] if isinstance(kind, str) else kind or [])
        if "enum" in part:
            field.enum = tuple(part["enum"])
        if "items" in part:
            field.items = _flatten(part["items"], schemas)
        for key, name in _BOUNDS:
            if key in part and name not in field.bounds:
                field.bounds[name] = part[key]

    merge(node)
    if field.bounds.get("format") in _NOT_FORMATS:
        del field.bounds["format"]
    return field


def render(document: dict[str, Any], commit: str) -> str:
    """The module text (unformatted; ruff format makes it tidy)."""
    schemas = document["components"]["schemas"]
    version = document["info"]["version"]
    out = [
        '"""Request bodies of the Discord endpoints the fake serves, as Discord\'s OpenAPI document says.',
        "",
        "Derived by ``tests/fakes/tools/discord_spec.py`` (not at test time) from",
        f"github.com/discord/discord-api-spec ``specs/openapi.json``: API v{version}, commit {commit}.",
        "Only the object schemas the fake models are listed; a field referring to any other schema",
        "is an object left unchecked. Each field: its JSON types, whether required, the schemas an",
        "object value may be (told apart by their ``type`` enum), array items, enum values and the",
        "documented bounds and formats.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "from typing import Any, Final",
        "",
        f'SPEC_VERSION: Final = "discord-api-spec openapi.json v{version} ({commit})"',
        "",
        "",
        "@dataclass(frozen=True, slots=True)",
        "class F:",
        '    """One field or array item of a request schema."""',
        "",
        '    types: str  # JSON types joined by "|": string, integer, number, boolean, array, object, null',
        "    required: bool = False",
        "    refs: tuple[str, ...] = ()",
        "    items: F | None = None",
        "    enum: tuple[Any, ...] | None = None",
        "    min_length: int | None = None",
        "    max_length: int | None = None",
        "    min_items: int | None = None",
        "    max_items: int | None = None",
        "    minimum: float | None = None",
        "    maximum: float | None = None",
        "    format: str | None = None  # uri, date-time, snowflake",
        "",
        "",
        "SCHEMAS: Final[dict[str, dict[str, F]]] = {",
    ]
    for name in MODELLED:
        schema = schemas[name]
        required = set(schema.get("required", []))
        out.append(f'    "{name}": {{')
        for prop, node in schema.get("properties", {}).items():
            out.append(f'        "{prop}": {_flatten(node, schemas).render(prop in required)},')
        out.append("    },")
    out.append("}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]))
