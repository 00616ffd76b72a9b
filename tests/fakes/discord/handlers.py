"""REST handlers for users, applications, commands, channels, messages and guilds."""

from __future__ import annotations

import math
import time

from tests.fakes.discord.errors import DiscordHTTPError, _FormErrors, _unknown
from tests.fakes.discord.gateway import _Gateway
from tests.fakes.discord.protocol import (
    _SETTABLE_MESSAGE_FLAGS,
    ATTACH_FILES,
    CHANNEL_ANNOUNCEMENT_THREAD,
    CHANNEL_DM,
    CHANNEL_FLAG_REQUIRE_TAG,
    CHANNEL_GUILD_ANNOUNCEMENT,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    CHANNEL_GUILD_TEXT,
    CHANNEL_PUBLIC_THREAD,
    JSON,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    MESSAGE_FLAG_CROSSPOSTED,
    MESSAGE_FLAG_IS_COMPONENTS_V2,
    MESSAGE_FLAG_LOADING,
    MESSAGE_FLAG_SUPPRESS_EMBEDS,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    _is_snowflake,
    _now_iso,
)
from tests.fakes.discord.records import (
    AttachmentRecord,
    ChannelRecord,
    CommandSync,
    GuildRecord,
    MessageRecord,
    _Ctx,
    _Reply,
)
from tests.fakes.discord.validation import (
    _empty_message_error,
    _message_is_empty,
    _validate_commands,
    _validate_message_fields,
)


class _Handlers(_Gateway):
    """REST endpoints other than interactions."""

    # ----------------------------------------------------------------- REST: handlers

    async def _get_gateway_bot(self, ctx: _Ctx) -> _Reply:
        return _Reply(
            body={
                "url": self.gateway_url.rstrip("/"),
                "shards": self.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000 - len(self.sessions),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _get_me(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self.bot_user)

    async def _get_user(self, ctx: _Ctx) -> _Reply:
        user = self.users.get(int(ctx.params["user_id"]))
        if user is None:
            raise _unknown(10013, "User")
        return _Reply(body=user.public())

    async def _get_app(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self._app_info())

    async def _create_dm(self, ctx: _Ctx) -> _Reply:
        body = ctx.body if isinstance(ctx.body, dict) else {}
        spec_errors = _FormErrors()
        self._conform(ctx, body, "CreatePrivateChannelRequest", spec_errors)
        spec_errors.raise_if_any()
        recipient = str(body.get("recipient_id", ""))
        if not _is_snowflake(recipient):
            errors = _FormErrors()
            errors.add(["recipient_id"], "BASE_TYPE_REQUIRED", "This field is required")
            errors.raise_if_any()
        user_id = int(recipient)
        if user_id not in self.users or user_id == self.bot.id:
            raise _unknown(10013, "User")
        return _Reply(body=self._channel_payload(self._dm_channel(user_id)))

    def _command_scope(self, ctx: _Ctx) -> int | None:
        if int(ctx.params["application_id"]) != self.application_id:
            raise DiscordHTTPError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        if "guild_id" not in ctx.params:
            return None
        guild_id = int(ctx.params["guild_id"])
        if guild_id not in self.guilds:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return guild_id

    def _store_commands(self, scope: int | None, commands: list[JSON]) -> list[JSON]:
        """Give commands ids (stable per scope/type/name) and Discord's output shape."""
        stored: list[JSON] = []
        for command in commands:
            command_type = int(command.get("type") or 1)
            key = (scope, command_type, str(command["name"]))
            command_id = self._command_ids.get(key)
            if command_id is None:
                command_id = self._ids.next()
                self._command_ids[key] = command_id
            perms = command.get("default_member_permissions")
            out: JSON = {
                "id": str(command_id),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "default_member_permissions": None if perms is None else str(perms),
                "type": command_type,
                "name": command["name"],
                "name_localizations": command.get("name_localizations"),
                "description": command.get("description") or "",
                "description_localizations": command.get("description_localizations"),
                "nsfw": bool(command.get("nsfw")),
                "integration_types": command.get("integration_types") or [0],
            }
            if scope is None:
                out["dm_permission"] = command.get("dm_permission", True) is not False
                out["contexts"] = command.get("contexts")
            else:
                out["guild_id"] = str(scope)
                out["contexts"] = None
            if command.get("options"):
                out["options"] = command["options"]
            stored.append(out)
        return stored

    async def _get_commands(self, ctx: _Ctx) -> _Reply:
        return _Reply(body=self.registered_commands(self._command_scope(ctx)))

    async def _put_commands(self, ctx: _Ctx) -> _Reply:
        scope = self._command_scope(ctx)
        sync = CommandSync(
            guild_id=scope,
            payload=ctx.body if isinstance(ctx.body, list) else [],
            status=400,
            at=time.monotonic(),
        )
        self.command_syncs.append(sync)
        spec_errors = _FormErrors()
        for index, command in enumerate(ctx.body if isinstance(ctx.body, list) else []):
            self._conform(ctx, command, "ApplicationCommandUpdateRequest", spec_errors, [index])
        for index, command in enumerate(ctx.body if isinstance(ctx.body, list) else []):
            wanted = command.get("integration_types") if isinstance(command, dict) else None
            for kind in wanted if isinstance(wanted, list) else []:
                if kind not in self.install_types:
                    # The Developer Portal's Installation settings must offer the install type.
                    spec_errors.add(
                        [index, "integration_types"],
                        "APPLICATION_COMMAND_INTEGRATION_TYPE_NOT_SUPPORTED",
                        f"Application does not support integration type {kind}",
                    )
        commands = _validate_commands(ctx.body, spec_errors)
        stored = self._store_commands(scope, commands)
        self.commands[scope] = stored
        sync.status = 200
        return _Reply(body=stored)

    def _visible_channel(self, channel_id: int) -> ChannelRecord:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown(10003, "Channel")
        if channel.guild_id is not None and not self._bot_permissions(channel) & VIEW_CHANNEL:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        return channel

    async def _get_channel(self, ctx: _Ctx) -> _Reply:
        return _Reply(
            body=self._channel_payload(self._visible_channel(int(ctx.params["channel_id"])))
        )

    def _check_send_allowed(self, channel: ChannelRecord, files: list[AttachmentRecord]) -> None:
        if channel.recipient_ids:  # a DM between users or a group DM: the bot is no member
            raise DiscordHTTPError(403, 50001, "Missing Access")
        if channel.type == CHANNEL_DM:
            recipient = self.users.get(channel.recipient_id or 0)
            if recipient is None or not recipient.dms_open:
                raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
            return
        perms = self._bot_permissions(channel)
        if not perms & VIEW_CHANNEL:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        if channel.type in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA):
            # A forum takes posts (POST /channels/{id}/threads), never plain messages.
            raise DiscordHTTPError(400, 50008, "Cannot send messages in a non-text channel")
        threads = (CHANNEL_PUBLIC_THREAD, CHANNEL_ANNOUNCEMENT_THREAD)
        send = SEND_MESSAGES_IN_THREADS if channel.type in threads else SEND_MESSAGES
        if not perms & send or (files and not perms & ATTACH_FILES):
            raise DiscordHTTPError(403, 50013, "Missing Permissions")

    def _check_upload_size(self, files: list[AttachmentRecord]) -> None:
        if sum(f.size for f in files) > 10 * 1024 * 1024:
            raise DiscordHTTPError(413, 40005, "Request entity too large")

    async def _post_channel_message(self, ctx: _Ctx) -> _Reply:
        channel_id = int(ctx.params["channel_id"])
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown(10003, "Channel")
        self._check_send_allowed(channel, ctx.files)
        self._check_upload_size(ctx.files)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        spec_errors = _FormErrors()
        self._conform(ctx, body, "MessageCreateRequest", spec_errors)
        errors = _FormErrors()
        _validate_message_fields(errors, [], body)
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id"):
            target = self.messages.get(int(reference["message_id"]))
            if (target is None or target.deleted) and reference.get("fail_if_not_exists", True):
                errors.add(
                    ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
        errors.merge(spec_errors)
        errors.raise_if_any()
        if _message_is_empty({**body, "attachments": ctx.files}):
            raise _empty_message_error()
        flags = self._check_flags(ctx, body.get("flags"), _SETTABLE_MESSAGE_FLAGS)
        message_type = 19 if isinstance(reference, dict) and reference.get("message_id") else 0
        record = self._store_message(
            channel,
            self.bot,
            body,
            ctx.files,
            flags=flags,
            message_type=message_type,
            source="channel",
        )
        await self._gateway_message_event("MESSAGE_CREATE", record)
        return _Reply(body=record.data)

    async def _crosspost_message(self, ctx: _Ctx) -> _Reply:
        """Publish a message of an announcement channel to the channels following it.

        Discord: SEND_MESSAGES for the bot's own messages, MANAGE_MESSAGES as well for anyone
        else's; a message is published once; 10 crossposts an hour per channel, answered
        with a 429 whose ``retry_after`` runs to the end of that hour (a limit the route's
        X-RateLimit headers do not announce).
        """
        channel = self._visible_channel(int(ctx.params["channel_id"]))
        record = self.messages.get(int(ctx.params["message_id"]))
        if record is None or record.deleted or record.channel_id != channel.id:
            raise _unknown(10008, "Message")
        if channel.type != CHANNEL_GUILD_ANNOUNCEMENT:
            raise DiscordHTTPError(400, 50024, "Cannot execute action on this channel type")
        needed = (
            SEND_MESSAGES if record.author_id == self.bot.id else SEND_MESSAGES | MANAGE_MESSAGES
        )
        if self._bot_permissions(channel) & needed != needed:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        if record.crossposted:
            raise DiscordHTTPError(400, 40033, "This message has already been crossposted.")
        limit, window = self.crosspost_limit
        now = time.monotonic()
        channel.crossposts = [at for at in channel.crossposts if now - at < window]
        if len(channel.crossposts) >= limit:
            wait = channel.crossposts[0] + window - now
            raise DiscordHTTPError(
                429,
                0,
                "You are being rate limited.",
                headers={"Retry-After": str(max(1, math.ceil(wait))), "X-RateLimit-Scope": "user"},
                retry_after=wait,
            )
        channel.crossposts.append(now)
        record.data = {**record.data, "flags": record.flags | MESSAGE_FLAG_CROSSPOSTED}
        return _Reply(body=record.data)

    async def _create_thread(self, ctx: _Ctx) -> _Reply:
        """A post in a forum or media channel: a thread with its first message, and tags.

        Discord: Send Messages ("Create Posts") in the forum; ``applied_tags`` ids of the
        forum's own tags, at most 5, moderated ones only with Manage Threads; a forum with
        REQUIRE_TAG refuses a post without one (40067). The starter message has the thread's
        id. Threads in text channels (without a forum) are not modelled.
        """
        forum = self._visible_channel(int(ctx.params["channel_id"]))
        if forum.type not in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA):
            raise NotImplementedError("the fake models threads created in forum channels only")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        spec_errors = _FormErrors()
        self._conform(ctx, body, "CreateForumThreadRequest", spec_errors)
        errors = _FormErrors()
        raw_message = body.get("message")
        message: JSON = raw_message if isinstance(raw_message, dict) else {}
        _validate_message_fields(errors, ["message"], message)
        available = {tag.id: tag for tag in forum.available_tags}
        tags = body.get("applied_tags") or []
        perms = self._bot_permissions(forum)
        applied: list[int] = []
        for index, raw in enumerate(tags if isinstance(tags, list) else []):
            tag = available.get(int(raw)) if _is_snowflake(str(raw)) else None
            if tag is None:
                errors.add(
                    ["applied_tags", index],
                    "CHANNEL_TAG_INVALID",
                    f"Tag {raw} is not one of this channel's tags",
                )
                continue
            if tag.moderated and not perms & MANAGE_THREADS:
                raise DiscordHTTPError(403, 50013, "Missing Permissions")
            applied.append(tag.id)
        errors.merge(spec_errors)
        errors.raise_if_any()
        if not perms & SEND_MESSAGES:
            raise DiscordHTTPError(403, 50013, "Missing Permissions")
        if forum.flags & CHANNEL_FLAG_REQUIRE_TAG and not applied:
            raise DiscordHTTPError(
                400, 40067, "A tag is required to create a forum post in this channel"
            )
        if _message_is_empty({**message, "attachments": ctx.files}):
            raise _empty_message_error()
        flags = self._check_flags(ctx, message.get("flags"), _SETTABLE_MESSAGE_FLAGS)
        thread_id = self._ids.next()
        thread = ChannelRecord(
            id=thread_id,
            type=CHANNEL_PUBLIC_THREAD,
            name=str(body.get("name")),
            guild_id=forum.guild_id,
            parent_id=forum.id,
            owner_id=self.bot.id,
            applied_tags=applied,
        )
        self.channels[thread_id] = thread
        if forum.guild_id is not None:
            self.guilds[forum.guild_id].channel_ids.append(thread_id)
        starter = self._store_message(
            thread,
            self.bot,
            message,
            ctx.files,
            flags=flags,
            message_type=0,
            source="channel",
            message_id=thread_id,
        )
        forum.last_message_id = thread_id
        await self._gateway_message_event("MESSAGE_CREATE", starter)
        return _Reply(status=201, body={**self._channel_payload(thread), "message": starter.data})

    def _apply_edit(
        self,
        record: MessageRecord,
        body: JSON,
        files: list[AttachmentRecord],
        prefix: list[str | int],
    ) -> None:
        """Apply an edit with Discord's semantics: omitted fields keep their value."""
        errors = _FormErrors()
        _validate_message_fields(errors, prefix, {**body, "flags": record.flags})
        errors.raise_if_any()
        self._check_upload_size(files)
        data = dict(record.data)
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in body:
                data[key] = body[key] if body[key] is not None else empty
        if "embeds" in body:
            data["embeds"] = [
                {"type": "rich", **e} if "type" not in e else dict(e) for e in data["embeds"]
            ]
        kept = record.attachments
        if "attachments" in body:
            keep_ids = {
                str(a.get("id")) for a in body.get("attachments") or [] if isinstance(a, dict)
            }
            kept = [a for a in record.attachments if str(a.id) in keep_ids]
        new_files = self._attach_files(body, files)
        attachments = [*kept, *new_files]
        data["attachments"] = [self._attachment_payload(a, record.ephemeral) for a in attachments]
        flags = record.flags
        if "flags" in body and body["flags"] is not None:
            requested = int(body["flags"])
            flags = (flags & ~MESSAGE_FLAG_SUPPRESS_EMBEDS) | (
                requested & MESSAGE_FLAG_SUPPRESS_EMBEDS
            )
            if requested & MESSAGE_FLAG_IS_COMPONENTS_V2:
                flags |= MESSAGE_FLAG_IS_COMPONENTS_V2
        was_loading = bool(flags & MESSAGE_FLAG_LOADING)
        flags &= ~MESSAGE_FLAG_LOADING
        data["flags"] = flags
        if _message_is_empty(data):
            raise _empty_message_error()
        channel = self.channels.get(record.channel_id) or ChannelRecord(
            id=record.channel_id, type=CHANNEL_GUILD_TEXT, name=None, guild_id=record.guild_id
        )
        allowed = body.get("allowed_mentions", record.allowed_mentions)
        mentions, roles, everyone = self._mentions(
            str(data.get("content") or ""), allowed, channel, None, record.author_id
        )
        data.update(mentions=mentions, mention_roles=roles, mention_everyone=everyone)
        if not was_loading:
            data["edited_timestamp"] = _now_iso()
        record.data = data
        record.attachments = attachments
        record.edits.append(dict(body))

    def _guild(self, ctx: _Ctx) -> GuildRecord:
        guild = self.guilds.get(int(ctx.params["guild_id"]))
        if guild is None:
            raise _unknown(10004, "Guild")
        return guild

    async def _get_guild(self, ctx: _Ctx) -> _Reply:
        guild = self._guild(ctx)
        payload = self._guild_create_payload(guild, 0)
        for key in (
            "joined_at",
            "large",
            "unavailable",
            "member_count",
            "lazy",
            "voice_states",
            "members",
            "channels",
            "threads",
            "presences",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
            "embedded_activities",
        ):
            payload.pop(key, None)
        return _Reply(body=payload)

    async def _get_member(self, ctx: _Ctx) -> _Reply:
        guild = self._guild(ctx)
        user_id = int(ctx.params["user_id"])
        if user_id != self.bot.id and user_id not in guild.member_ids:
            raise _unknown(10007, "Member")
        return _Reply(body=self._member_payload(guild, user_id))
