"""The REST dispatcher: routing, auth, rate-limit buckets and injected failures."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from tests.fakes.discord.errors import DiscordHTTPError
from tests.fakes.discord.interactions import _Interactions
from tests.fakes.discord.protocol import (
    _CLOUDFLARE_HTML,
    _DEFAULT_ERRORS,
    _MAJOR_PARAMS,
    _SNOWFLAKE_PARAMS,
    API_VERSIONS,
    JSON,
    _is_snowflake,
    _json_bytes,
)
from tests.fakes.discord.records import (
    AttachmentRecord,
    RequestRecord,
    _Bucket,
    _Ctx,
    _Failure,
    _Route,
)


class _Rest(_Interactions):
    """Turns HTTP requests into handler calls."""

    # ----------------------------------------------------------------- REST: dispatcher

    def _build_routes(self) -> list[_Route]:
        r = _Route
        webhook_message = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        return [
            r("GET", "/gateway/bot", self._get_gateway_bot),
            r("GET", "/users/@me", self._get_me),
            r("POST", "/users/@me/channels", self._create_dm),
            r("GET", "/users/{user_id}", self._get_user),
            r("GET", "/oauth2/applications/@me", self._get_app),
            r("GET", "/applications/@me", self._get_app),
            r("GET", "/applications/{application_id}/commands", self._get_commands),
            r("PUT", "/applications/{application_id}/commands", self._put_commands),
            r(
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._get_commands,
            ),
            r(
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._put_commands,
            ),
            r("GET", "/channels/{channel_id}", self._get_channel),
            r("POST", "/channels/{channel_id}/messages", self._post_channel_message),
            r(
                "POST",
                "/channels/{channel_id}/messages/{message_id}/crosspost",
                self._crosspost_message,
            ),
            r("POST", "/channels/{channel_id}/threads", self._create_thread),
            r("GET", "/guilds/{guild_id}", self._get_guild),
            r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            r(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self._interaction_callback,
                auth=False,
                global_limit=False,
            ),
            r(
                "POST",
                "/webhooks/{webhook_id}/{webhook_token}",
                self._execute_webhook,
                auth=False,
                global_limit=False,
            ),
            r("PATCH", webhook_message, self._edit_webhook_message, auth=False, global_limit=False),
            r(
                "DELETE",
                webhook_message,
                self._delete_webhook_message,
                auth=False,
                global_limit=False,
            ),
        ]

    def _match_route(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        path_matched = False
        for route in self._routes:
            match = route.regex.fullmatch(path)
            if match is None:
                continue
            params = match.groupdict()
            if any(
                key == "user_id" and value == "@me" for key, value in params.items()
            ):  # "/users/@me" is its own route
                continue
            path_matched = True
            if route.method == method:
                return route, params
        if path_matched:
            raise DiscordHTTPError(405, 0, "405: Method Not Allowed")
        raise DiscordHTTPError(404, 0, "404: Not Found")

    async def _read_body(self, request: web.Request) -> tuple[Any, list[AttachmentRecord]]:
        if not request.body_exists:
            return None, []
        if request.content_type == "multipart/form-data":
            form = await request.post()
            payload: Any = None
            files: list[AttachmentRecord] = []
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    match = re.fullmatch(r"files\[(\d+)\]", key)
                    files.append(
                        AttachmentRecord(
                            id=self._ids.next(),
                            filename=value.filename,
                            content_type=value.content_type,
                            data=value.file.read(),
                            upload_index=int(match.group(1)) if match else len(files),
                        )
                    )
                elif key == "payload_json":
                    try:
                        payload = json.loads(str(value))
                    except ValueError:
                        raise DiscordHTTPError(
                            400, 50109, "The request body contains invalid JSON."
                        ) from None
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from None

    def _bucket(self, route: _Route, method: str, path: str, params: dict[str, str]) -> _Bucket:
        rule = next(
            (
                rr
                for rr in self._rate_rules
                if (rr.method is None or rr.method == method) and rr.pattern.fullmatch(path)
            ),
            None,
        )
        if rule is not None:
            seed, limit, window = f"rule:{rule.pattern.pattern}", rule.limit, rule.window
        else:
            seed = f"{route.method} {route.template}"
            limit, window = self.default_rate_limit
        bucket_hash = hashlib.sha1(seed.encode()).hexdigest()[:32]
        major = "+".join(
            params[p] for p in (*_MAJOR_PARAMS, "webhook_token", "interaction_token") if p in params
        )
        key = f"{bucket_hash}:{major}"
        bucket = self._buckets.get(key)
        if bucket is None or (bucket.limit, bucket.window) != (limit, window):
            bucket = _Bucket(bucket_hash, limit, window)
            self._buckets[key] = bucket
        return bucket

    @staticmethod
    def _bucket_headers(bucket: _Bucket, now: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": f"{bucket.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(bucket.reset_at - now, 0.0):.3f}",
            "X-RateLimit-Bucket": bucket.bucket_hash,
        }

    def _rate_limited(
        self, retry_after: float, *, scope: str, bucket: _Bucket | None, now: float
    ) -> DiscordHTTPError:
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": scope,
        }
        if scope == "global":
            headers["X-RateLimit-Global"] = "true"
        elif bucket is not None:
            headers.update(self._bucket_headers(bucket, now))
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset-After"] = f"{retry_after:.3f}"
            headers["X-RateLimit-Reset"] = f"{now + retry_after:.3f}"
        return DiscordHTTPError(
            429, 0, "You are being rate limited.", headers=headers, retry_after=retry_after
        )

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if (failure.method is None or failure.method == method) and failure.pattern.fullmatch(
                path
            ):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _failure_response(
        self, failure: _Failure, bucket: _Bucket | None, now: float
    ) -> web.Response:
        status = failure.status
        headers: dict[str, str] = {}
        if status == 429:
            retry_after = 0.05 if failure.retry_after is None else failure.retry_after
            error = self._rate_limited(retry_after, scope=failure.scope, bucket=bucket, now=now)
            headers.update(error.headers)
            body = error.body()
            if failure.message:
                body["message"] = failure.message
            if failure.code:
                body["code"] = failure.code
            if failure.via:
                headers["Via"] = "1.1 google"
            return self._response(429, body, headers)
        headers["Via"] = "1.1 google"
        if status in (502, 504) and failure.code is None and failure.message is None:
            reason = "Bad Gateway" if status == 502 else "Gateway Time-out"
            html = _CLOUDFLARE_HTML.format(status=status, reason=reason)
            return web.Response(
                status=status,
                body=html.encode(),
                headers={"Content-Type": "text/html", **headers},
            )
        default_code, default_message = _DEFAULT_ERRORS.get(status, (0, f"{status}: Error"))
        error_body: JSON = {
            "message": failure.message if failure.message is not None else default_message,
            "code": failure.code if failure.code is not None else default_code,
        }
        if failure.errors:
            error_body["errors"] = failure.errors
        if failure.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(failure.retry_after))
        return self._response(status, error_body, headers)

    @staticmethod
    def _response(status: int, body: Any, headers: Mapping[str, str]) -> web.Response:
        out = dict(headers)
        if body is None:
            return web.Response(status=status, headers=out)
        out["Content-Type"] = "application/json"  # exactly; discord.py compares verbatim
        return web.Response(status=status, body=_json_bytes(body), headers=out)

    async def _handle_rest(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        method = request.method.upper()
        version_match = re.fullmatch(r"v(\d+)(/.*)?", tail)
        path = (version_match.group(2) or "/") if version_match else "/" + tail
        record = RequestRecord(
            method=method,
            path=path,
            query=dict(request.query),
            json=None,
            files=[],
            authorized=request.headers.get("Authorization") == f"Bot {self.token}",
            at=time.monotonic(),
        )
        self.requests.append(record)
        # Waiters are woken only once the response bytes are on the socket, so a test
        # that saw "callback recorded" never races ahead of the client receiving it.
        self._requests_in_flight += 1
        try:
            response = await self._process(request, record, version_match)
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
        finally:
            self._requests_in_flight -= 1
            await self._notify()
        return response

    async def _process(
        self, request: web.Request, record: RequestRecord, version: re.Match[str] | None
    ) -> web.Response:
        method, path = record.method, record.path
        now = time.time()
        bucket: _Bucket | None = None
        try:
            if version is None:
                raise DiscordHTTPError(404, 0, "404: Not Found")
            if int(version.group(1)) not in API_VERSIONS:
                raise DiscordHTTPError(400, 50041, "Invalid API version provided.")
            record.json, record.files = await self._read_body(request)
            route, params = self._match_route(method, path)
            for key, value in params.items():
                if key in _SNOWFLAKE_PARAMS and not _is_snowflake(value) and value != "@original":
                    raise DiscordHTTPError(
                        400,
                        50035,
                        "Invalid Form Body",
                        errors={
                            key: {
                                "_errors": [
                                    {
                                        "code": "NUMBER_TYPE_COERCE",
                                        "message": f'Value "{value}" is not snowflake.',
                                    }
                                ]
                            }
                        },
                    )
            if route.auth and not record.authorized:
                raise DiscordHTTPError(401, 0, "401: Unauthorized")
            bucket = self._bucket(route, method, path, params)
            failure = self._take_failure(method, path)
            if failure is not None:
                record.injected = True
                record.status = failure.status
                record.error_code = failure.code or _DEFAULT_ERRORS.get(failure.status, (0, ""))[0]
                return self._failure_response(failure, bucket, now)
            if route.global_limit and self.global_rate_limit is not None:
                start, count = self._global_window
                if now - start >= 1.0:
                    start, count = now, 0
                if count >= self.global_rate_limit:
                    raise self._rate_limited(
                        start + 1.0 - now, scope="global", bucket=None, now=now
                    )
                self._global_window = (start, count + 1)
            if now >= bucket.reset_at:
                bucket.remaining = bucket.limit
                bucket.reset_at = now + bucket.window
            if bucket.remaining <= 0:
                raise self._rate_limited(
                    bucket.reset_at - now, scope="user", bucket=bucket, now=now
                )
            bucket.remaining -= 1
            reply = await route.handler(
                _Ctx(request, method, path, params, record.json, record.files, record)
            )
            headers = {"Via": "1.1 google", **self._bucket_headers(bucket, now), **reply.headers}
            record.status = reply.status
            return self._response(reply.status, reply.body, headers)
        except DiscordHTTPError as error:
            record.status = error.status
            record.error_code = error.code
            headers = {"Via": "1.1 google", **error.headers}
            if bucket is not None and error.status != 429:
                headers.update(self._bucket_headers(bucket, now))
            return self._response(error.status, error.body(), headers)
