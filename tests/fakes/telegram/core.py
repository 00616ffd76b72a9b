"""The base of the fake Bot API: state, lifecycle, HTTP plumbing, recording, waiting, failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.telegram.conformance import check_request
from tests.fakes.telegram.constants import _T, DEFAULT_TOKEN, LOOPBACK, JSONDict
from tests.fakes.telegram.errors import BotAPIError, _bad_request, _default_description
from tests.fakes.telegram.params import Handler, _chat_key, _decode_for_record, _Params
from tests.fakes.telegram.records import (
    CallbackAnswer,
    ChatActionRecord,
    FakeChat,
    FakeUser,
    InlineAnswer,
    MessageEdit,
    RecordedCall,
    SentMessage,
    WebhookConfig,
    WebhookDelivery,
    _Described,
    _InjectedFailure,
    _IssuedQuery,
    _Poller,
    _StoredMessage,
)
from tests.fakes.violations import ProtocolViolations


class _Core(ProtocolViolations):
    """State, lifecycle, HTTP plumbing, recording, waiting and failure injection.

    The bottom of the chain ``_Core`` <- ``_MessageRules`` <- ``_World`` <- ``_Methods`` <-
    :class:`FakeTelegram`: each layer uses only what lies below it, so the whole is checked
    by a type checker like one class.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "dlw_test_bot",
        bot_first_name: str = "DLW Test Bot",
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = False,
        supports_inline_queries: bool = True,
        port: int = 0,
        push_webhook: bool = False,
        webhook_retry: float = 0.05,
    ) -> None:
        bot_id_text, _, secret = token.partition(":")
        if not bot_id_text.isdigit() or not secret:
            raise ValueError("token must look like '<bot id>:<secret>'")
        self.token: Final[str] = token
        self.bot: Final[FakeUser] = FakeUser(
            id=int(bot_id_text), first_name=bot_first_name, username=bot_username, is_bot=True
        )
        self.can_join_groups = can_join_groups
        self.can_read_all_group_messages = can_read_all_group_messages
        self.supports_inline_queries = supports_inline_queries
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._closing = False
        #: Deliver queued updates to the webhook by itself, as Telegram does (oldest first,
        #: the same update again after a non-2xx answer or no answer, waiting
        #: ``webhook_retry`` seconds, doubling up to 1 s); off, tests call deliver_via_webhook.
        self.push_webhook = push_webhook
        self.webhook_retry = webhook_retry
        self._pusher: asyncio.Task[None] | None = None

        self.users: dict[int, FakeUser] = {self.bot.id: self.bot}
        self.chats: dict[int, FakeChat] = {}

        self.calls: list[RecordedCall] = []
        self.messages: list[SentMessage] = []
        self.edits: list[MessageEdit] = []
        self.deleted_messages: list[tuple[int, int]] = []
        self.inline_answers: list[InlineAnswer] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[ChatActionRecord] = []
        self.webhook: WebhookConfig | None = None
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.filtered_updates: list[tuple[JSONDict, str]] = []
        self.warnings: list[str] = []
        #: Requests the real Bot API would accept but that cannot be what the bot meant (unknown
        #: parameters or object fields, checked against the spec); see ``__aexit__``.
        self.protocol_violations: list[str] = []
        self.too_many_requests_sent = 0

        self._history: dict[int, dict[int, _StoredMessage]] = {}
        self._by_chat: dict[tuple[int, int | None], list[SentMessage]] = {}
        self._deleted_in: dict[tuple[int, int | None], int] = {}
        self._updates: deque[JSONDict] = deque()
        self._next_update_id = 500_000_001
        self._allowed_updates: frozenset[str] | None = None
        self._pollers: set[_Poller] = set()
        self._waiters: set[asyncio.Future[None]] = set()
        self._injected: list[_InjectedFailure] = []
        self._rate_cap: int | None = None
        self._rate_window: deque[float] = deque()
        #: Loop times at which the flood limit counted an accepted sendMessage (while a
        #: ``rate_limit`` is set): the window it judges, for benchmarks to report.
        self.rate_counted: list[float] = []
        self._callback_queries: dict[str, _IssuedQuery] = {}
        self._inline_queries: dict[str, _IssuedQuery] = {}
        self._query_counter = 0
        self._commands: dict[str, list[JSONDict]] = {}
        self._handlers: dict[str, Handler] = self._method_table()

    def _method_table(self) -> dict[str, Handler]:
        """Bot API method (lower-case) -> handler; the methods layer fills it in."""
        return {}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port (or the one given) and start serving."""
        if self._runner is not None:
            raise RuntimeError("FakeTelegram is already running")
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/{tail:.*}", self._handle_other)
        # handler_cancellation: a long poll whose client went away must not linger.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def stop(self) -> None:
        """Answer pending long polls, close the webhook client and the server."""
        self._closing = True
        for poller in list(self._pollers):
            poller.event.set()
        if self._pusher is not None:
            pusher, self._pusher = self._pusher, None
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop; then fail the test if the bot sent anything the spec does not know.

        Telegram ignores unknown parameters and fields, so a misspelling would pass silently;
        here it fails the ``async with`` (unless the test is already failing for another reason).
        Tests that provoke violations on purpose read them with ``take_violations()``.
        """
        await self.stop()
        self._fail_on_violations(exc_type, "the Bot API")

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (only after ``start()``)."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends ``{token}/{method}``."""
        return f"http://{LOOPBACK}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)`` (file downloads answer 404)."""
        return f"http://{LOOPBACK}:{self.port}/file/bot"

    @property
    def bot_id(self) -> int:
        return self.bot.id

    @property
    def bot_username(self) -> str:
        return self.bot.username or ""

    def get_me(self) -> JSONDict:
        """The ``getMe`` result."""
        return {
            **self.bot.to_dict(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    # ---------------------------------------------------------------- recording helpers

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Calls of one method (case-insensitive, as Telegram treats method names)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def messages_in(
        self, chat_id: int, thread_id: int | None = None, *, include_deleted: bool = False
    ) -> list[SentMessage]:
        """Messages the bot sent to a chat, oldest first; ``thread_id`` narrows to one forum
        topic (``None``: the whole chat)."""
        key = (chat_id, thread_id)
        found = self._by_chat.get(key, [])
        if include_deleted or not self._deleted_in.get(key):
            return list(found)
        return [message for message in found if not message.deleted]

    def _count_in(self, chat_id: int, thread_id: int | None) -> int:
        key = (chat_id, thread_id)
        return len(self._by_chat.get(key, ())) - self._deleted_in.get(key, 0)

    # ---------------------------------------------------------------- waiting

    def _notify(self) -> None:
        """Wake every ``wait_for``; called whenever anything is recorded or queued."""
        if not self._waiters:
            return
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(
        self,
        predicate: Callable[[], _T],
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fixture's documented API
        *,
        what: str | None = None,
    ) -> _T:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-evaluated whenever the fake records a call or queues an update, so there is no
        polling interval to tune and no sleep. On timeout raises ``AssertionError`` with what
        the bot did recently, which is usually the clue to why the condition never held.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_report(what or repr(predicate), timeout))
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the fixture's documented API
        *,
        thread_id: int | None = None,
    ) -> list[SentMessage]:
        """Wait until the bot has at least ``count`` live messages in the chat; return them."""
        await self.wait_for(
            lambda: self._count_in(chat_id, thread_id) >= count,
            timeout,
            what=f"{count} bot message(s) in chat {chat_id}"
            + (f" thread {thread_id}" if thread_id is not None else ""),
        )
        return self.messages_in(chat_id, thread_id)

    def _timeout_report(self, what: str, timeout: float) -> str:
        interesting = [call for call in self.calls if call.method.lower() != "getupdates"]
        polls = len(self.calls) - len(interesting)
        lines = [f"Timed out after {timeout}s waiting for {what}."]
        lines.append(
            f"Bot made {len(self.calls)} call(s) ({polls} getUpdates); last "
            f"{min(15, len(interesting))} other call(s):"
        )
        lines.extend(f"  {call.summary()}" for call in interesting[-15:])
        per_chat = {chat_id: self._count_in(chat_id, None) for chat_id in self.chats}
        lines.append(f"Bot messages per chat: {per_chat}")
        lines.append(
            f"Queued updates: {len(self._updates)}; filtered: {len(self.filtered_updates)}; "
            f"active long polls: {len(self._pollers)}"
        )
        return "\n".join(lines)

    # ---------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
        raw_body: str | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (optionally only for ``chat_id``) fail.

        ``description`` defaults to Telegram's usual text for the code (429 →
        "Too Many Requests: retry after N" with ``retry_after`` defaulting to 1; 400 with
        ``migrate_to_chat_id`` → "group chat was upgraded…"; 500/502 → "Internal Server
        Error"/"Bad Gateway"). ``raw_body`` sends a non-JSON body instead (e.g. an nginx page).
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if error_code == 429 and retry_after is None:
            retry_after = 1
        error = BotAPIError(
            error_code,
            description or _default_description(error_code, retry_after, migrate_to_chat_id),
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
            raw_body=raw_body,
        )
        self._injected.append(_InjectedFailure(method.lower(), error, times, _chat_key(chat_id)))

    def _take_injected(self, method: str, raw: Mapping[str, Any]) -> BotAPIError | None:
        if not self._injected:
            return None
        wanted = method.lower()
        chat = _chat_key(raw.get("chat_id"))
        for injected in self._injected:
            if injected.method == wanted and (injected.chat_id is None or injected.chat_id == chat):
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._injected.remove(injected)
                return injected.error
        return None

    def rate_limit(self, messages_per_second: float | None) -> None:
        """Global flood control for sendMessage: at most ``max(1, int(n))`` accepted messages
        in any sliding 1-second window; the rest get 429 with an integer ``retry_after`` (≥ 1)
        telling when the window frees up. ``None`` switches it off."""
        self._rate_window.clear()
        self._rate_cap = None if messages_per_second is None else max(1, int(messages_per_second))

    def _check_rate_limit(self) -> None:
        if self._rate_cap is None:
            return
        now = asyncio.get_running_loop().time()
        window = self._rate_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self._rate_cap:
            retry_after = max(1, math.ceil(window[0] + 1.0 - now))
            raise BotAPIError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        window.append(now)
        self.rate_counted.append(now)

    # ---------------------------------------------------------------- webhook delivery

    async def deliver_via_webhook(
        self, update: JSONDict, *, secret_token: str | None = None
    ) -> int:
        """POST one update to the registered webhook, like Telegram; returns the HTTP status.

        Sends ``X-Telegram-Bot-Api-Secret-Token`` (the registered one, or ``secret_token`` to
        simulate a forged request). Only ``http(s)://127.0.0.1`` URLs are ever contacted.
        A 2xx answer removes the update from the pending queue.
        """
        if self.webhook is None:
            raise RuntimeError("no webhook is set (the bot has not called setWebhook)")
        url = self.webhook.url
        if urlsplit(url).hostname != LOOPBACK:
            raise ValueError(f"refusing to deliver to {url!r}: only {LOOPBACK} is allowed")
        headers = {"Content-Type": "application/json"}
        token = secret_token if secret_token is not None else self.webhook.secret_token
        if token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._client.post(
            url, data=json.dumps(update).encode(), headers=headers, allow_redirects=False
        ) as response:
            await response.read()
            status = response.status
            reason = response.reason or ""
        if 200 <= status < 300:
            update_id = update.get("update_id")
            self._updates = deque(u for u in self._updates if u.get("update_id") != update_id)
        elif self.webhook is not None:
            self.webhook.last_error_date = self._now()
            self.webhook.last_error_message = f"Wrong response from the webhook: {status} {reason}"
        self.webhook_deliveries.append(
            WebhookDelivery(int(update.get("update_id", 0)), url, status)
        )
        self._notify()
        return status

    def _webhook_changed(self) -> None:
        """setWebhook / deleteWebhook happened: start pushing updates if asked to."""
        if self.push_webhook and self.webhook is not None and self._pusher is None:
            self._pusher = asyncio.create_task(self._push_updates(), name="fake-telegram-webhook")

    async def _push_updates(self) -> None:
        """Telegram's side of webhook mode: POST each pending update until it is answered 2xx."""
        delay = self.webhook_retry
        while not self._closing:
            if self.webhook is None or not self._updates:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.add(waiter)
                await waiter
                continue
            update = self._updates[0]
            try:
                status = await self.deliver_via_webhook(update)
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = 0
                if self.webhook is not None:
                    self.webhook.last_error_date = self._now()
                    self.webhook.last_error_message = f"Connection failed: {exc}"
                    self.webhook_deliveries.append(
                        WebhookDelivery(int(update.get("update_id", 0)), self.webhook.url, 0)
                    )
                    self._notify()
            if 200 <= status < 300:
                delay = self.webhook_retry
                continue
            await asyncio.sleep(delay)  # Telegram's own back-off between retries, shortened
            delay = min(1.0, delay * 2)

    # ---------------------------------------------------------------- HTTP plumbing

    def _now(self) -> int:
        return int(time.time())

    async def _handle_other(self, request: web.Request) -> web.Response:
        return BotAPIError(404, "Not Found").response()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Query string plus body: JSON, urlencoded or multipart, as the Bot API accepts."""
        params: dict[str, Any] = dict(request.query.items())
        if not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    data = json.loads(body)
                except ValueError:
                    raise _bad_request("can't parse JSON object") from None
                if not isinstance(data, dict):
                    raise _bad_request("JSON object expected")
                params.update(data)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(value.file.read()),
                    }
                else:
                    params[key] = value
        return params

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if token != self.token:
            if re.fullmatch(r"\d+:[A-Za-z0-9_-]+", token) is None:
                return BotAPIError(404, "Not Found").response()
            return BotAPIError(401, "Unauthorized").response()
        content_type = request.content_type if request.can_read_body else None
        try:
            raw = await self._read_params(request)
        except BotAPIError as exc:
            return exc.response()
        call = RecordedCall(method, _decode_for_record(raw), asyncio.get_running_loop().time())
        call.content_type = content_type
        self.calls.append(call)
        self._notify()
        try:
            handler = self._handlers.get(method.lower())
            if handler is None:
                raise BotAPIError(404, "Not Found")
            self.protocol_violations.extend(check_request(method, raw))
            injected = self._take_injected(method, raw)
            if injected is not None:
                raise injected
            result = await handler(_Params(raw))
        except BotAPIError as exc:
            call.http_status = exc.error_code
            call.ok = False
            call.error_code = exc.error_code
            call.description = exc.description
            if exc.error_code == 429:
                self.too_many_requests_sent += 1
            self._notify()
            return exc.response()
        except asyncio.CancelledError:
            call.http_status = 499
            call.description = "client went away"
            self._notify()
            raise
        body: JSONDict = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.value
            body["description"] = result.description
            result = result.value
        else:
            body["result"] = result
        call.http_status = 200
        call.ok = True
        call.result = result
        self._notify()
        return web.json_response(body)
