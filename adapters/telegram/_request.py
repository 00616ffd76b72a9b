"""Bot API requests as JSON bodies over aiohttp: the bulk path's HTTP, cheap per message.

python-telegram-bot 22's default :class:`~telegram.request.HTTPXRequest` costs the bulk path
twice over. It form-encodes every request (``data=request_data.json_parameters``: each value
JSON-encoded on its own, then the whole form percent-encoded, ~165 µs of CPU for a 4 KB
message), and httpx's connection pool re-examines every connection and every queued request
each time a request starts or ends, with a syscall or two per connection: measured against
the fake Bot API on this machine, 1.2-2.4 ms of CPU per request with 4-16 under way, against
0.25-0.36 ms for aiohttp. :class:`JSONRequest` is PTB's extension point for the transport
(a :class:`~telegram.request.BaseRequest`) on aiohttp, sending ``RequestData.parameters`` (the
native values PTB already built) as one ``application/json`` body, which the Bot API reads
like a form ("Use either URL query string, application/x-www-form-urlencoded,
application/json or multipart/form-data for passing parameters"). Requests carrying files go
as ``multipart/form-data``. Timeouts and errors mean what they mean with PTB's own request.
"""

from __future__ import annotations

import json
from typing import Final

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["JSON_CONTENT_TYPE", "JSONRequest", "json_body"]

JSON_CONTENT_TYPE: Final = "application/json"


def json_body(request_data: RequestData) -> bytes:
    """The request's parameters as one compact UTF-8 JSON object."""
    return json.dumps(request_data.parameters, ensure_ascii=False, separators=(",", ":")).encode()


def _form(request_data: RequestData) -> aiohttp.FormData:
    """A request with files, as ``multipart/form-data`` (what PTB's own request sends)."""
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


class JSONRequest(BaseRequest):
    """PTB's transport on an aiohttp session: at most ``connection_pool_size`` connections; each
    timeout in seconds (``None``: wait forever), as :class:`~telegram.request.HTTPXRequest`
    takes them. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``), as httpx
    reads them."""

    __slots__ = ("_connect", "_pool", "_pool_size", "_read", "_session")

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,  # aiohttp has none of its own: part of the read wait
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = max(1, connection_pool_size)
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        del write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                trust_env=True,
                skip_auto_headers=("User-Agent",),
            )

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

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
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This JSONRequest is not initialized!")
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=_given(read_timeout, self._read),
        )
        headers = {"User-Agent": self.USER_AGENT}
        body: bytes | aiohttp.FormData | None = None
        if request_data is not None and request_data.contains_files:
            body = _form(request_data)
        elif request_data is not None:
            body = json_body(request_data)
            headers["Content-Type"] = JSON_CONTENT_TYPE
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as err:  # no connection: the request never left
            raise TimedOut(
                "Pool or connect timeout: the request was *not* sent to Telegram."
            ) from err
        except TimeoutError as err:  # aiohttp's read timeout is one
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _given(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value
