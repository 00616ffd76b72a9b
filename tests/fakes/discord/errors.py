"""Error responses shaped the way Discord sends them, including the nested 50035 ``errors`` tree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.discord.protocol import JSON


class DiscordHTTPError(Exception):
    """An error response exactly as Discord shapes it: ``{"message", "code", "errors"?}``.

    Raised inside route handlers and turned into the HTTP response by the dispatcher, so
    handlers read like the API documentation ("if X: Unknown Channel").
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSON | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers: dict[str, str] = dict(headers or {})
        self.retry_after = retry_after

    def body(self) -> JSON:
        if self.status == 429:  # rate limits have their own shape and no "code"
            return {
                "message": self.message,
                "retry_after": round(self.retry_after or 0.0, 3),
                "global": self.headers.get("X-RateLimit-Global") == "true",
            }
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _unknown(code: int, what: str) -> DiscordHTTPError:
    return DiscordHTTPError(404, code, f"Unknown {what}")


class _FormErrors:
    """Collects validation failures into Discord's nested ``errors`` tree (50035)."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for key in path:
            node = node.setdefault(str(key), {})
        found = node.setdefault("_errors", [])
        if all(error["code"] != code for error in found):  # a spec rule and a hand rule agree
            found.append({"code": code, "message": message})

    def max_len(self, path: Sequence[str | int], value: Any, maximum: int) -> int:
        """Check an optional string; return its length for the embed total."""
        if value is None:
            return 0
        text = str(value)
        if len(text) > maximum:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")
        return len(text)

    def required_len(self, path: Sequence[str | int], value: Any, maximum: int) -> int:
        if value is None or str(value) == "":
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return 0
        return self.max_len(path, value, maximum)

    def between(self, path: Sequence[str | int], value: Any, low: int, high: int) -> int:
        text = "" if value is None else str(value)
        if not low <= len(text) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")
        return len(text)

    def merge(self, other: _FormErrors) -> None:
        """Add ``other``'s errors at paths that have none yet (the hand-written rule, worded
        as Discord words it, wins over the generic spec-derived one at the same field)."""

        def walk(source: JSON, target: JSON) -> None:
            for key, child in source.items():
                if key == "_errors":
                    target.setdefault("_errors", list(child))
                else:
                    walk(child, target.setdefault(key, {}))

        walk(other.tree, self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise DiscordHTTPError(400, 50035, "Invalid Form Body", errors=self.tree)
