"""Bot API requests as JSON bodies: the bulk path's sends without form-encoding.

python-telegram-bot 22's :class:`~telegram.request.HTTPXRequest` hands every request to httpx as
form data (``data=request_data.json_parameters``): each non-string value is JSON-encoded on its
own, then the whole form is percent-encoded, which for a 4 KB HTML message costs ~165 µs of CPU
per send. The Bot API reads ``application/json`` bodies just as well ("The Bot API supports
GET and POST HTTP methods. … Use either URL query string, application/x-www-form-urlencoded,
application/json or multipart/form-data for passing parameters"), so :class:`JSONRequest` sends
``RequestData.parameters`` (the native values PTB already built) as one ``json.dumps``. Requests
carrying files still go as ``multipart/form-data`` through PTB's own code.
"""

from __future__ import annotations

import json
from typing import Final

import httpx
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

__all__ = ["JSON_CONTENT_TYPE", "JSONRequest"]

JSON_CONTENT_TYPE: Final = "application/json"


def json_body(request_data: RequestData) -> bytes:
    """The request's parameters as one compact UTF-8 JSON object."""
    return json.dumps(request_data.parameters, ensure_ascii=False, separators=(",", ":")).encode()


class JSONRequest(HTTPXRequest):
    """:class:`~telegram.request.HTTPXRequest` sending ``application/json`` for every request
    without files (the same timeouts, pool and error translation as PTB's own)."""

    __slots__ = ()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if request_data is None or request_data.contains_files:
            return await super().do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        client = self._client
        if client.is_closed:
            raise RuntimeError("This HTTPXRequest is not initialized!")
        defaults = client.timeout
        timeout = httpx.Timeout(
            connect=_given(connect_timeout, defaults.connect),
            read=_given(read_timeout, defaults.read),
            write=_given(write_timeout, defaults.write),
            pool=_given(pool_timeout, defaults.pool),
        )
        headers = {"User-Agent": self.USER_AGENT, "Content-Type": JSON_CONTENT_TYPE}
        try:  # the same translation as HTTPXRequest.do_request
            response = await client.request(
                method=method,
                url=url,
                headers=headers,
                timeout=timeout,
                content=json_body(request_data),
            )
        except httpx.TimeoutException as err:
            if isinstance(err, httpx.PoolTimeout):
                raise TimedOut(
                    message=(
                        "Pool timeout: All connections in the connection pool are occupied. "
                        "Request was *not* sent to Telegram."
                    )
                ) from err
            raise TimedOut from err
        except httpx.HTTPError as err:
            raise NetworkError(f"httpx.{err.__class__.__name__}: {err}") from err
        return response.status_code, response.content


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value
