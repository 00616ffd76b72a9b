"""Request bodies checked against Discord's OpenAPI document (the tables in ``spec.py``).

Discord answers a value of the wrong type, out of range or badly formatted (an embed ``url``
that is no URL, a ``timestamp`` that is no ISO 8601, a ``color`` over 0xFFFFFF, an
``allowed_mentions.parse`` entry other than users/roles/everyone) with 400/50035 and the
nested ``errors`` tree; those land in the same :class:`_FormErrors` as the fake's hand-written
rules. A field Discord does not know is ignored by Discord, so a misspelling would pass
silently: it is returned as a protocol violation instead, which fails the test when the fake
stops (see ``FakeDiscord.__aexit__``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from tests.fakes.discord.errors import _FormErrors
from tests.fakes.discord.spec import SCHEMAS, SPEC_VERSION, F

#: Fields the OpenAPI document leaves out that Discord accepts and discord.py 2.7 always sends,
#: so no bot can avoid them: not the bot's mistakes.
_UNDOCUMENTED_IN_SPEC: Final[dict[str, frozenset[str]]] = {
    # Documented for application commands (age-restricted); sent on every command.
    "ApplicationCommandUpdateRequest": frozenset({"nsfw"}),
    # Embed.to_dict() copies every slot, including the embed flags (0) of received embeds.
    "RichEmbed": frozenset({"flags"}),
    # edit_message() / edit_original_response() build their bodies like new messages ("tts").
    "IncomingWebhookUpdateForInteractionCallbackRequestPartial": frozenset({"tts"}),
    "IncomingWebhookUpdateRequestPartial": frozenset({"tts"}),
    # ForumChannel.create_thread() sends the thread type (11, documented for threads in text
    # channels) and builds the starter message like any new one ("tts").
    "CreateForumThreadRequest": frozenset({"type"}),
    "BaseCreateMessageCreateRequest": frozenset({"tts"}),
}
_URL_SCHEMES: Final = frozenset({"http", "https", "attachment"})

Path = Sequence[str | int]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__


def _is_numeric(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lstrip("-").isdigit()
    return False


_TYPE_ERRORS: Final[dict[str, tuple[str, str]]] = {
    "string": ("STRING_TYPE_CONVERT", "Could not interpret {value!r} as string."),
    "integer": ("NUMBER_TYPE_COERCE", 'Value "{value}" is not int.'),
    "number": ("NUMBER_TYPE_COERCE", 'Value "{value}" is not a number.'),
    "boolean": ("BOOLEAN_TYPE_CONVERT", "Must be either true or false."),
    "array": ("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType."),
    "object": ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"),
}


class _Walker:
    def __init__(self, errors: _FormErrors, where: str) -> None:
        self.errors = errors
        self.where = where
        self.violations: list[str] = []

    def object(self, body: dict[str, Any], schema: str, path: Path) -> None:
        fields = SCHEMAS[schema]
        extra = _UNDOCUMENTED_IN_SPEC.get(schema, frozenset())
        for name, value in body.items():
            spec = fields.get(name)
            if spec is None:
                if name not in extra:
                    shown = ".".join(str(p) for p in path) or "body"
                    self.violations.append(
                        f"{self.where}: {shown} has field {name!r} that {schema} does not have in "
                        f"{SPEC_VERSION} (Discord ignores it silently; fields: {', '.join(fields)})"
                    )
                continue
            self.value(value, spec, [*path, name])
        for name, spec in fields.items():
            if spec.required and name not in body:
                self.errors.add([*path, name], "BASE_TYPE_REQUIRED", "This field is required")

    def value(self, value: Any, spec: F, path: Path) -> None:
        allowed = spec.types.split("|")
        kind = _json_type(value)
        if kind == "null":
            if "null" not in allowed:
                self.errors.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return
        if kind == "integer" and "number" in allowed:
            kind = "number"
        if spec.format == "snowflake" and (kind == "integer" or _is_numeric(value)):
            return  # Discord takes snowflakes as numbers or digit strings
        if kind not in allowed:
            if "integer" in allowed and _is_numeric(value):
                value, kind = int(value), "integer"  # numeric strings are coerced
            else:
                wanted = next(t for t in allowed if t != "null")
                code, message = _TYPE_ERRORS.get(wanted, ("BASE_TYPE_BAD_TYPE", "Bad type."))
                self.errors.add(path, code, message.format(value=value))
                return
        if spec.enum is not None and value not in spec.enum:
            choices = ", ".join(repr(choice) for choice in spec.enum)
            self.errors.add(path, "BASE_TYPE_CHOICES", f"Value must be one of ({choices}).")
            return
        if kind == "string":
            self._string(value, spec, path)
        elif kind in ("integer", "number"):
            self._number(value, spec, path)
        elif kind == "array":
            self._array(value, spec, path)
        elif kind == "object":
            schema = self._schema_for(value, spec.refs)
            if schema is not None:
                self.object(value, schema, path)

    def _fits(self, value: dict[str, Any], schema: str, path: Path) -> bool:
        """Whether ``value`` passes ``schema`` (for unions the spec does not discriminate)."""
        trial = _Walker(_FormErrors(), self.where)
        trial.object(value, schema, path)
        return not trial.errors.tree and not trial.violations

    def _string(self, value: str, spec: F, path: Path) -> None:
        if spec.max_length is not None and len(value) > spec.max_length:
            self.errors.add(
                path, "BASE_TYPE_MAX_LENGTH", f"Must be {spec.max_length} or fewer in length."
            )
        if spec.min_length is not None and len(value) < spec.min_length:
            self.errors.add(
                path, "BASE_TYPE_MIN_LENGTH", f"Must be {spec.min_length} or more in length."
            )
        if spec.format == "uri":
            parts = urlsplit(value)
            if (
                parts.scheme not in _URL_SCHEMES
                or not parts.netloc
                or any(c.isspace() for c in value)
            ):
                self.errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        elif spec.format == "date-time":
            try:
                datetime.datetime.fromisoformat(value)
            except ValueError:
                self.errors.add(
                    path, "DATE_TIME_TYPE_PARSE", f"Could not parse {value}. Should be ISO8601."
                )
        elif spec.format == "snowflake":
            self.errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')

    def _number(self, value: float, spec: F, path: Path) -> None:
        if spec.maximum is not None and value > spec.maximum:
            self.errors.add(
                path,
                "NUMBER_TYPE_MAX",
                f"int value should be less than or equal to {int(spec.maximum)}.",
            )
        if spec.minimum is not None and value < spec.minimum:
            self.errors.add(
                path,
                "NUMBER_TYPE_MIN",
                f"int value should be greater than or equal to {int(spec.minimum)}.",
            )

    def _array(self, value: list[Any], spec: F, path: Path) -> None:
        if spec.max_items is not None and len(value) > spec.max_items:
            self.errors.add(
                path, "BASE_TYPE_MAX_LENGTH", f"Must be {spec.max_items} or fewer in length."
            )
        if spec.min_items is not None and len(value) < spec.min_items:
            self.errors.add(
                path, "BASE_TYPE_MIN_LENGTH", f"Must be {spec.min_items} or more in length."
            )
        if spec.items is not None:
            for index, item in enumerate(value):
                self.value(item, spec.items, [*path, index])

    def _schema_for(self, value: dict[str, Any], refs: tuple[str, ...]) -> str | None:
        """The modelled schema an object is: told apart by its ``type`` enum, else the first
        alternative it fits (else the first); None when it is of a type not modelled."""
        plain: list[str] = []
        for ref in refs:
            discriminator = SCHEMAS[ref].get("type")
            if discriminator is None or discriminator.enum is None:
                plain.append(ref)
            elif value.get("type") in discriminator.enum:
                return ref
        if len(plain) > 1:
            return next((ref for ref in plain if self._fits(value, ref, ())), plain[0])
        return plain[0] if plain else None


def conform(
    body: Any, schema: str, errors: _FormErrors, *, where: str, path: Path = ()
) -> list[str]:
    """Check ``body`` against ``schema``; type/bound errors go to ``errors``, unknown fields
    are returned as protocol violations (``where`` names the request in the report)."""
    walker = _Walker(errors, where)
    if isinstance(body, dict):
        walker.object(body, schema, path)
    elif body is not None:
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return walker.violations
