"""The websocket gateway: HELLO, IDENTIFY/READY, RESUME, heartbeats, dispatches."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Sequence

from aiohttp import WSMsgType, web

from tests.fakes.discord.payloads import _Payloads
from tests.fakes.discord.protocol import (
    _TRACE,
    GATEWAY_VERSIONS,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    JSON,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_PRESENCE_UPDATE,
    OP_RECONNECT,
    OP_REQUEST_GUILD_MEMBERS,
    OP_REQUEST_SOUNDBOARD_SOUNDS,
    OP_RESUME,
    OP_VOICE_STATE_UPDATE,
    PRIVILEGED_INTENTS,
    VALID_INTENTS,
)
from tests.fakes.discord.records import (
    GatewayConnection,
    GatewaySession,
    GuildRecord,
    MessageRecord,
)


class _Gateway(_Payloads):
    """The gateway server and its test controls."""

    # ----------------------------------------------------------------- gateway: server

    async def _send_frame(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        """Send one TEXT frame (discord.py only inflates BINARY frames)."""
        if not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(frame, separators=(",", ":")))

    async def _close_ws(
        self, conn: GatewayConnection, ws: web.WebSocketResponse, code: int, reason: str
    ) -> None:
        conn.closed_by_server = True
        conn.close_code = code
        await ws.close(code=code, message=reason.encode())

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, timeout=2.0)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Bad Request")
        await ws.prepare(request)
        conn = GatewayConnection(
            path=request.path, query=dict(request.query), opened_at=time.monotonic(), ws=ws
        )
        self.gateway_connections.append(conn)
        self._sockets.add(ws)
        try:
            if request.query.get("v", "10") not in GATEWAY_VERSIONS:
                await self._close_ws(conn, ws, 4012, "Invalid API version")
                return ws
            if request.query.get("encoding", "json") != "json":
                await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
                return ws
            hello = {
                "t": None,
                "s": None,
                "op": OP_HELLO,
                "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000), "_trace": _TRACE},
            }
            await self._send_frame(ws, hello)
            await self._notify()
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(conn, ws, str(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
                else:
                    break
        finally:
            self._sockets.discard(ws)
            if not conn.closed_by_server:
                conn.close_code = ws.close_code
            session = conn.session
            if session is not None and session.ws is ws:
                session.ws = None
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    # A clean close ends the session on Discord's side too.
                    session.invalidated = True
            await self._notify()
        return ws

    async def _on_gateway_frame(
        self, conn: GatewayConnection, ws: web.WebSocketResponse, text: str
    ) -> None:
        try:
            payload = json.loads(text)
            op = payload["op"]
        except (ValueError, KeyError, TypeError):
            await self._close_ws(conn, ws, 4002, "Error while decoding payload.")
            return
        conn.received.append(payload)
        if op == OP_HEARTBEAT:
            conn.heartbeats += 1
            await self._send_frame(ws, {"t": None, "s": None, "op": OP_HEARTBEAT_ACK, "d": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, ws, payload.get("d") or {})
        elif op == OP_RESUME:
            await self._resume(conn, ws, payload.get("d") or {})
        elif conn.session is None:
            await self._close_ws(conn, ws, 4003, "Not authenticated.")
        elif op == OP_PRESENCE_UPDATE:
            conn.session.presence = payload.get("d")
        elif op in (OP_REQUEST_GUILD_MEMBERS, OP_VOICE_STATE_UPDATE, OP_REQUEST_SOUNDBOARD_SOUNDS):
            pass  # recorded in conn.received; member chunking, voice, soundboard not modelled
        else:
            await self._close_ws(conn, ws, 4001, "Unknown opcode.")
        await self._notify()

    def _guilds_for_shard(self, shard: tuple[int, int] | None) -> list[GuildRecord]:
        if shard is None:
            return list(self.guilds.values())
        shard_id, count = shard
        return [g for g in self.guilds.values() if (g.id >> 22) % count == shard_id]

    async def _identify(self, conn: GatewayConnection, ws: web.WebSocketResponse, d: JSON) -> None:
        if conn.session is not None:
            await self._close_ws(conn, ws, 4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            await self._close_ws(conn, ws, 4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents & ~VALID_INTENTS:
            await self._close_ws(conn, ws, 4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await self._close_ws(conn, ws, 4014, "Disallowed intent(s).")
            return
        shard: tuple[int, int] | None = None
        if d.get("shard") is not None:
            raw = d["shard"]
            if (
                not isinstance(raw, list)
                or len(raw) != 2
                or not all(isinstance(x, int) for x in raw)
                or not 0 <= raw[0] < raw[1]
            ):
                await self._close_ws(conn, ws, 4010, "Invalid shard.")
                return
            shard = (raw[0], raw[1])
        session = GatewaySession(
            session_id=secrets.token_hex(16), identify=d, intents=intents, shard=shard, ws=ws
        )
        conn.session = session
        guilds = self._guilds_for_shard(shard)
        ready: JSON = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "_trace": _TRACE,
        }
        if shard is not None:
            ready["shard"] = [shard[0], shard[1]]
        await self._dispatch(session, "READY", ready)
        if intents & INTENT_GUILDS:
            for guild in guilds:
                await self._dispatch(
                    session, "GUILD_CREATE", self._guild_create_payload(guild, intents)
                )
        # Only now is the session visible to tests: READY + GUILD_CREATEs are on the wire.
        self.sessions.append(session)

    async def _resume(self, conn: GatewayConnection, ws: web.WebSocketResponse, d: JSON) -> None:
        if d.get("token") != self.token:
            await self._close_ws(conn, ws, 4004, "Authentication failed.")
            return
        session = next((s for s in self.sessions if s.session_id == d.get("session_id")), None)
        if session is None or session.invalidated:
            await self._send_frame(ws, {"t": None, "s": None, "op": OP_INVALID_SESSION, "d": False})
            return
        old = session.ws
        session.ws = ws
        conn.session = session
        session.resumes += 1
        if old is not None and old is not ws and not old.closed:
            with contextlib.suppress(Exception):
                await old.close(code=4000)
        last_seq = int(d.get("seq") or 0)
        async with session.lock:
            for frame in session.events:
                if frame["s"] > last_seq:
                    await self._send_frame(ws, frame)
        await self._dispatch(session, "RESUMED", {"_trace": _TRACE})

    async def _dispatch(self, session: GatewaySession, event: str, data: JSON) -> int:
        """Send a DISPATCH with the next sequence number; kept for replay on RESUME."""
        async with session.lock:
            session.seq += 1
            frame: JSON = {"t": event, "s": session.seq, "op": OP_DISPATCH, "d": data}
            session.events.append(frame)
            if session.ws is not None:
                await self._send_frame(session.ws, frame)
            seq = session.seq
        await self._notify()
        return seq

    def _session_for(self, guild_id: int | None) -> GatewaySession | None:
        live = [s for s in self.sessions if not s.invalidated]
        for session in reversed(live):
            if session.shard is None:
                return session
            shard_id, count = session.shard
            if (0 if guild_id is None else (guild_id >> 22) % count) == shard_id:
                return session
        return None

    async def _require_session(self, guild_id: int | None) -> GatewaySession:
        return await self.wait_for(lambda: self._session_for(guild_id), timeout=5.0)

    # ----------------------------------------------------------------- gateway: test API

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: discord.py reconnects to resume_gateway_url and RESUMEs."""
        for session in self.sessions:
            if session.ws is not None and not session.invalidated:
                await self._send_frame(
                    session.ws, {"t": None, "s": None, "op": OP_RECONNECT, "d": None}
                )

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (``resumable=False`` forces a fresh IDENTIFY)."""
        for session in self.sessions:
            if session.ws is not None and not session.invalidated:
                if not resumable:
                    session.invalidated = True
                await self._send_frame(
                    session.ws, {"t": None, "s": None, "op": OP_INVALID_SESSION, "d": resumable}
                )

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the live gateway socket(s) with ``code`` (4000 = resumable)."""
        for conn in self.gateway_connections:
            ws, session = conn.ws, conn.session
            if ws is None or ws.closed or session is None or session.invalidated:
                continue
            if session.ws is ws:
                await self._close_ws(conn, ws, code, "Dropped by test")

    async def post_user_message(
        self, channel_id: int, user_id: int, content: str, *, embeds: Sequence[JSON] = ()
    ) -> MessageRecord:
        """A human posts a message: MESSAGE_CREATE reaches the bot, gated like Discord.

        Without the MESSAGE_CONTENT intent, content/embeds/attachments/components are
        blanked unless it is a DM or the bot is mentioned.
        """
        channel = self._channel(channel_id)
        author = self._user(user_id)
        body: JSON = {"content": content, "embeds": list(embeds)}
        record = self._store_message(
            channel, author, body, [], flags=0, message_type=0, source="user"
        )
        await self._gateway_message_event("MESSAGE_CREATE", record)
        return record

    async def _gateway_message_event(self, event: str, record: MessageRecord) -> None:
        if record.ephemeral:
            return  # ephemeral messages are never sent over the gateway
        channel = self.channels.get(record.channel_id)
        guild_id = record.guild_id
        session = self._session_for(guild_id)
        if session is None or channel is None:
            return
        needed = INTENT_DIRECT_MESSAGES if guild_id is None else INTENT_GUILD_MESSAGES
        if not session.intents & needed:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": str(record.id), "channel_id": str(record.channel_id)}
            if guild_id is not None:
                data["guild_id"] = str(guild_id)
            await self._dispatch(session, event, data)
            return
        data = json.loads(json.dumps(record.data))
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            if record.author_id in self.users and (
                record.author_id == self.bot.id
                or record.author_id in self.guilds[guild_id].member_ids
            ):
                data["member"] = self._member_payload(
                    self.guilds[guild_id], record.author_id, with_user=False
                )
        privileged_view = (
            session.intents & INTENT_MESSAGE_CONTENT
            or record.author_id == self.bot.id
            or guild_id is None
            or self.bot.id in record.mentioned_user_ids
        )
        if not privileged_view:
            data.update(content="", embeds=[], attachments=[], components=[])
        await self._dispatch(session, event, data)

    async def sync_with_client(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Round-trip a gateway heartbeat request (op 1) through the client.

        Discord may ask for an immediate heartbeat; discord.py answers from its gateway
        loop.  Once the answer arrives, the client has read everything sent before and
        had several event-loop turns to finish handling earlier HTTP responses (for
        example storing a view after its callback).  Used before simulated clicks, since
        a human cannot click a button in the same microsecond it was created.
        """
        for conn in self.gateway_connections:
            ws = conn.ws
            if ws is None or ws.closed or conn.session is None or conn.session.ws is not ws:
                continue
            before = conn.heartbeats

            def answered(conn: GatewayConnection = conn, before: int = before) -> bool:
                return conn.heartbeats > before

            await self._send_frame(ws, {"t": None, "s": None, "op": OP_HEARTBEAT, "d": None})
            await self.wait_for(answered, timeout=timeout)
