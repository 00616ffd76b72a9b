"""Request parameters as the Bot API reads them: form strings or JSON values, both accepted."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from tests.fakes.telegram.constants import JSONDict
from tests.fakes.telegram.errors import _bad_request
from tests.fakes.telegram.spec import METHODS, SCALARS


def _names(kind: Callable[[tuple[str, ...]], bool]) -> frozenset[str]:
    return frozenset(
        name for params in METHODS.values() for name, (types, _) in params.items() if kind(types)
    )


# Which form-encoded values are JSON, integers or booleans: from the spec's parameter types,
# plus deprecated names Telegram still reads. Only used to make RecordedCall.params convenient
# to assert on; the method handlers parse their own parameters.
_JSON_PARAMS: Final = _names(lambda types: any(t not in SCALARS for t in types))
_INT_PARAMS: Final = _names(
    lambda types: "Integer" in types and all(t in SCALARS for t in types)
) | {"reply_to_message_id"}
_BOOL_PARAMS: Final = _names(lambda types: types == ("Boolean",)) | {
    "disable_web_page_preview",
    "allow_sending_without_reply",
}


Handler = Callable[["_Params"], Awaitable[Any]]


class _Params:
    """Typed access to request parameters, lenient about form strings vs. JSON values.

    PTB form-encodes: strings raw, everything else JSON-encoded (``"123"``, ``"true"``,
    ``'{"inline_keyboard": ...}'``). JSON bodies carry native values. Telegram accepts both.
    """

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def present(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is not None and value != ""

    def str_(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def int_(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise _bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be of type Integer')

    def float_(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _bad_request(f'field "{name}" must be of type Number')

    def bool_(self, name: str) -> bool:
        value = self.raw.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json_(self, name: str, what: str) -> Any:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {what} JSON object") from None
        return value


def _chat_key(value: Any) -> int | str | None:
    """Normalise a chat_id parameter for matching (ints for numeric ids, else the string)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _decode_for_record(raw: Mapping[str, Any]) -> JSONDict:
    """Best-effort typed view of the parameters for RecordedCall.params."""
    decoded: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in _JSON_PARAMS:
                try:
                    decoded[key] = json.loads(value)
                except ValueError:
                    decoded[key] = value
                continue
            if key in _INT_PARAMS:
                try:
                    decoded[key] = int(value)
                except ValueError:
                    decoded[key] = value
                continue
            if key in _BOOL_PARAMS and value.lower() in ("true", "false"):
                decoded[key] = value.lower() == "true"
                continue
        decoded[key] = value
    return decoded
