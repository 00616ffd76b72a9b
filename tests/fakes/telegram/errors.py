"""Error responses of the Bot API, shaped the way Telegram sends them."""

from __future__ import annotations

from aiohttp import web

from tests.fakes.telegram.constants import JSONDict


class BotAPIError(Exception):
    """An error response of the Bot API: HTTP status == ``error_code``, as Telegram does.

    PTB maps the *HTTP status* (not the JSON) to its exception classes, and looks at
    ``parameters.retry_after`` / ``parameters.migrate_to_chat_id`` first, so both must be right.
    """

    def __init__(
        self,
        error_code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        raw_body: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id
        self.raw_body = raw_body

    def body(self) -> JSONDict:
        """The JSON body Telegram would send for this error."""
        result: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        parameters: JSONDict = {}
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            result["parameters"] = parameters
        return result

    def response(self) -> web.Response:
        """Render as an aiohttp response (a raw body, e.g. an nginx HTML page, if given)."""
        if self.raw_body is not None:
            return web.Response(
                text=self.raw_body, status=self.error_code, content_type="text/html"
            )
        return web.json_response(self.body(), status=self.error_code)


def _bad_request(message: str) -> BotAPIError:
    return BotAPIError(400, f"Bad Request: {message}")


class EntityParseError(ValueError):
    """HTML could not be parsed; the message is TDLib's, without the Bot API prefix."""


def _default_description(error_code: int, retry_after: int | None, migrate: int | None) -> str:
    if error_code == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if error_code == 400 and migrate is not None:
        return "Bad Request: group chat was upgraded to a supergroup chat"
    return {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
        "instance is running",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(error_code, "Unknown error")
