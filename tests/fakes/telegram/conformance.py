"""Requests checked against the Bot API spec: unknown names are protocol violations, bad types 400s.

The real Bot API silently ignores a parameter or object field it does not know, so a misspelt
``link_preview_option`` would pass against Telegram and do nothing. The fake records such names
in ``FakeTelegram.protocol_violations`` instead, and the fake refuses to stop cleanly while any
are recorded (see ``FakeTelegram.__aexit__``), so the test that caused one fails. Values of the
wrong JSON type get the 400 Telegram sends (``can't parse ...: Field "x" must be of type T``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from tests.fakes.telegram.errors import _bad_request
from tests.fakes.telegram.spec import (
    DISCRIMINATORS,
    METHODS,
    OBJECTS,
    SCALARS,
    SPEC_VERSION,
    SUBTYPES,
)

#: Parameters the spec no longer lists but the Bot API still accepts (deprecated, not misspelt).
_DEPRECATED: Final[dict[str, frozenset[str]]] = {
    "sendMessage": frozenset(
        {"disable_web_page_preview", "reply_to_message_id", "allow_sending_without_reply"}
    ),
    "editMessageText": frozenset({"disable_web_page_preview"}),
}
_BY_LOWER: Final = {name.lower(): name for name in METHODS}


def _human(type_name: str) -> str:
    """``LinkPreviewOptions`` -> ``link preview options``, as Telegram words its errors."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


def _scalar_ok(type_name: str, value: Any) -> bool:
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    if type_name in ("Boolean", "True"):
        return isinstance(value, bool)
    return True  # InputFile: uploads are not modelled


class _Checker:
    """Walks one request's JSON values, collecting violations and raising the first bad type."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.violations: list[str] = []

    def value(self, value: Any, types: tuple[str, ...], path: str, owner: str) -> None:
        """Check ``value`` (at ``path``, a field of ``owner``) against alternative spec types."""
        field_name = path.rsplit(".", 1)[-1].split("[", 1)[0]
        objects = [t for t in types if t not in SCALARS and not t.startswith("Array of ")]
        if isinstance(value, dict) and len(objects) > 1:
            types = (self._best(objects, value),)
        for type_name in types:
            if self._matches(value, type_name, path):
                return
        raise _bad_request(
            f'can\'t parse {_human(owner)}: Field "{field_name}" must be of type '
            + " or ".join(types)
        )

    def _matches(self, value: Any, type_name: str, path: str) -> bool:
        if type_name.startswith("Array of "):
            if not isinstance(value, list):
                return False
            inner = type_name.removeprefix("Array of ")
            for index, item in enumerate(value):
                if not self._matches(item, inner, f"{path}[{index}]"):
                    owner = inner.removeprefix("Array of ")
                    self.value(item, (inner,), f"{path}[{index}]", owner)
            return True
        if type_name in SCALARS:
            return _scalar_ok(type_name, value)
        if not isinstance(value, dict):
            return False
        self.object(value, self._concrete(type_name, value), path)
        return True

    @staticmethod
    def _best(candidates: list[str], value: Mapping[str, Any]) -> str:
        """Of alternative object types, the one this value fits (required fields, fewest extras)."""

        def fit(type_name: str) -> tuple[bool, int]:
            fields = OBJECTS.get(type_name, {})
            has_required = all(name in value for name, (_, required) in fields.items() if required)
            return has_required, -sum(1 for name in value if name not in fields)

        return max(candidates, key=fit)

    def _concrete(self, type_name: str, value: Mapping[str, Any]) -> str:
        """The subtype an abstract type's value stands for (by discriminator, else by fields)."""
        subtypes = SUBTYPES.get(type_name)
        if subtypes is None:
            return type_name
        for subtype in subtypes:
            discriminator = DISCRIMINATORS.get(subtype)
            if discriminator is not None and value.get(discriminator[0]) == discriminator[1]:
                return subtype
        for subtype in subtypes:
            fields = OBJECTS.get(subtype)
            if fields and all(name in value for name, (_, required) in fields.items() if required):
                return subtype
        raise _bad_request(f"can't parse {_human(type_name)}: unsupported type")

    def object(self, value: Mapping[str, Any], type_name: str, path: str) -> None:
        fields = OBJECTS.get(type_name)
        if fields is None:
            return  # a type the fake does not model field by field
        for name, item in value.items():
            spec = fields.get(name)
            if spec is None:
                self.violations.append(
                    f"{self.method}: {path} has field {name!r} that {type_name} does not have "
                    f"in {SPEC_VERSION} (fields: {', '.join(fields)})"
                )
            elif item is not None:
                self.value(item, spec[0], f"{path}.{name}", type_name)
        for name, (_, required) in fields.items():
            if required and value.get(name) is None:
                raise _bad_request(f"can't parse {_human(type_name)}: Can't find field \"{name}\"")


def _reads_as_boolean(value: Any) -> bool:
    """A JSON boolean, or the form spellings the Bot API reads as one."""
    if value is None or isinstance(value, bool):
        return True
    return isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0")


def check_request(method: str, raw: Mapping[str, Any]) -> list[str]:
    """Check one Bot API call against the spec; return protocol violations (unknown names).

    Raises ``BotAPIError`` (400) for an object field of the wrong type or a missing
    required object field. Methods the spec tables do not list are left to their handlers.
    """
    name = _BY_LOWER.get(method.lower())
    if name is None:
        return []
    params = METHODS[name]
    checker = _Checker(name)
    for key, value in raw.items():
        spec = params.get(key)
        if spec is None:
            if key not in _DEPRECATED.get(name, ()):
                checker.violations.append(
                    f"{name}: unknown parameter {key!r} (the real Bot API ignores it silently; "
                    f"{SPEC_VERSION} has: {', '.join(params) or 'none'})"
                )
            continue
        types = spec[0]
        if types == ("Boolean",) and not _reads_as_boolean(value):
            checker.violations.append(
                f"{name}: {key}={value!r} is not a Boolean (the Bot API reads anything but "
                "true/false/1/0 as false, silently)"
            )
            continue
        if all(type_name in SCALARS for type_name in types) or value is None or value == "":
            continue  # scalars are read leniently by the handlers, as the Bot API reads forms
        decoded = value
        if isinstance(value, str):
            try:
                decoded = json.loads(value)
            except ValueError:
                continue  # the handler answers with its own "can't parse ... JSON object"
        owner = types[0].removeprefix("Array of ").removeprefix("Array of ")
        checker.value(decoded, types, key, owner)
    return checker.violations
