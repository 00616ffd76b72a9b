"""Users acting on the bot: slash commands, autocomplete, components and modals."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakes.discord.protocol import (
    _OPTION_ATTACHMENT,
    _OPTION_BOOLEAN,
    _OPTION_CHANNEL,
    _OPTION_INTEGER,
    _OPTION_MENTIONABLE,
    _OPTION_NUMBER,
    _OPTION_ROLE,
    _OPTION_STRING,
    _OPTION_SUB_COMMAND,
    _OPTION_SUB_COMMAND_GROUP,
    _OPTION_USER,
    ADMINISTRATOR,
    CHANNEL_DM,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    CHANNEL_GUILD_TEXT,
    CONTEXT_BOT_DM,
    CONTEXT_PRIVATE_CHANNEL,
    DEFAULT_MEMBER_PERMISSIONS,
    INSTALL_GUILD,
    INSTALL_USER,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_AUTOCOMPLETE,
    INTERACTION_MESSAGE_COMPONENT,
    INTERACTION_MODAL_SUBMIT,
    JSON,
    PRIVATE_CHANNEL_APP_PERMISSIONS,
)
from tests.fakes.discord.records import InteractionRecord, MessageRecord, _InteractionContext
from tests.fakes.discord.validation import _walk_components
from tests.fakes.discord.webhooks import _InteractionEndpoints


class _Interactions(_InteractionEndpoints):
    """Dispatches interactions as Discord would."""

    # ----------------------------------------------------------------- interactions: test API

    def _interaction_context(
        self,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        permissions: int,
        in_dm: bool,
        locale: str,
        private_channel: int | None = None,
    ) -> _InteractionContext:
        user = self._user(user_id) if user_id is not None else self._default_user()
        if private_channel is not None:
            channel = self._channel(private_channel)
            if not channel.recipient_ids:
                raise KeyError(f"channel {private_channel} is no DM or group DM between users")
            if user.id not in channel.recipient_ids:
                raise PermissionError(f"user {user.id} is not in private channel {channel.id}")
            return _InteractionContext(
                None, channel, user, permissions, locale, CONTEXT_PRIVATE_CHANNEL
            )
        if in_dm:
            return _InteractionContext(
                None, self._dm_channel(user.id), user, permissions, locale, CONTEXT_BOT_DM
            )
        if guild_id is None:
            if channel_id is not None and channel_id in self.channels:
                guild_id = self.channels[channel_id].guild_id
            elif self.guilds:
                guild_id = next(iter(self.guilds))
        if guild_id is None or guild_id not in self.guilds:
            raise KeyError(f"unknown guild {guild_id}; add_guild() it or pass in_dm=True")
        guild = self.guilds[guild_id]
        if channel_id is None:
            text = [c for c in guild.channel_ids if self.channels[c].type == CHANNEL_GUILD_TEXT]
            if not text:
                raise KeyError(f"guild {guild_id} has no text channel to invoke from")
            channel_id = text[0]
        channel = self._channel(channel_id)
        if channel.guild_id != guild_id:
            raise KeyError(f"channel {channel_id} is not in guild {guild_id}")
        if channel.type in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA):
            # Nobody types in a forum itself: commands are used inside one of its posts.
            raise PermissionError(f"commands can't be used in forum {channel_id}, only in a post")
        if user.id not in guild.member_ids:
            guild.member_ids.append(user.id)
        return _InteractionContext(guild, channel, user, permissions, locale)

    def _find_command(self, name: str, command_type: int, ctx: _InteractionContext) -> JSON:
        scopes: list[int | None] = [None] if ctx.guild is None else [ctx.guild.id, None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and int(command.get("type") or 1) == command_type:
                    return command
        known = {str(scope): [c["name"] for c in cmds] for scope, cmds in self.commands.items()}
        raise LookupError(
            f"command {name!r} is not registered for this context (did the bot sync its "
            f"tree?); registered: {known}"
        )

    def _check_invocable(self, command: JSON, ctx: _InteractionContext) -> None:
        """Discord's client hides commands the user may not run: mirror that here.

        Where a command is offered: ``contexts`` (0 guild, 1 the bot's DM, 2 other DMs and group
        DMs; only for global commands) and ``integration_types`` (0 guild install, 1 user
        install): in a private channel only a user-installed command the user installed works.
        """
        contexts = command.get("contexts")
        installs = command.get("integration_types") or [INSTALL_GUILD]
        if ctx.context == CONTEXT_PRIVATE_CHANNEL:
            if command.get("guild_id") is not None:
                raise PermissionError("guild commands cannot be used outside their guild")
            if contexts is None or CONTEXT_PRIVATE_CHANNEL not in contexts:
                raise PermissionError(f"/{command['name']} is not available in DMs or group DMs")
            if INSTALL_USER not in installs:
                raise PermissionError(f"/{command['name']} can't be installed by a user")
            if ctx.user.id not in self.user_installs:
                raise PermissionError(f"user {ctx.user.id} has not installed the application")
            return
        if ctx.guild is None:
            if command.get("guild_id") is not None:
                raise PermissionError("guild commands cannot be used in DMs")
            if contexts is not None and 1 not in contexts:
                raise PermissionError(f"/{command['name']} is not available in bot DMs")
            if contexts is None and command.get("dm_permission") is False:
                raise PermissionError(f"/{command['name']} has dm_permission=false")
            return
        if contexts is not None and 0 not in contexts:
            raise PermissionError(f"/{command['name']} is not available in guilds")
        if INSTALL_GUILD not in installs:
            raise PermissionError(f"/{command['name']} is not installed in guilds")
        required = command.get("default_member_permissions")
        if required is not None and not ctx.permissions & ADMINISTRATOR:
            needed = int(required)
            if ctx.permissions & needed != needed:
                raise PermissionError(
                    f"/{command['name']} requires permissions {needed}; Discord would not "
                    f"show it to a member with {ctx.permissions}"
                )

    def _owners(self, ctx: _InteractionContext, command: JSON | None) -> JSON:
        """``authorizing_integration_owners``: which installs authorised the interaction
        ("0": the guild's id, "0" in the bot's DM; "1": the user who installed the app)."""
        installs = (command.get("integration_types") if command else None) or [INSTALL_GUILD]
        owners: JSON = {}
        if ctx.guild is not None:
            owners["0"] = str(ctx.guild.id)
        elif ctx.context == CONTEXT_BOT_DM and INSTALL_GUILD in installs:
            owners["0"] = "0"
        if (
            INSTALL_USER in installs or ctx.context == CONTEXT_PRIVATE_CHANNEL
        ) and ctx.user.id in self.user_installs:
            owners["1"] = str(ctx.user.id)
        return owners

    def _resolve_option(
        self,
        option_type: int,
        value: Any,
        resolved: JSON,
        ctx: _InteractionContext,
    ) -> Any:
        if option_type == _OPTION_STRING:
            return str(value)
        if option_type == _OPTION_INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"integer option needs an int, got {value!r}")
            return value
        if option_type == _OPTION_NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"number option needs a float, got {value!r}")
            return value
        if option_type == _OPTION_BOOLEAN:
            return bool(value)
        target = int(value)
        if option_type in (_OPTION_USER, _OPTION_MENTIONABLE) and target in self.users:
            resolved.setdefault("users", {})[str(target)] = self._user(target).public()
            if ctx.guild is not None and (target in ctx.guild.member_ids or target == self.bot.id):
                member = self._member_payload(ctx.guild, target, with_user=False)
                member["permissions"] = str(ctx.guild.everyone_permissions)
                resolved.setdefault("members", {})[str(target)] = member
            return str(target)
        if option_type in (_OPTION_ROLE, _OPTION_MENTIONABLE) and ctx.guild is not None:
            roles = {r["id"]: r for r in self._role_payloads(ctx.guild)}
            if str(target) in roles:
                resolved.setdefault("roles", {})[str(target)] = roles[str(target)]
                return str(target)
        if option_type == _OPTION_CHANNEL and target in self.channels:
            channel = self.channels[target]
            partial = self._channel_payload(channel)
            partial["permissions"] = str(ctx.permissions)
            resolved.setdefault("channels", {})[str(target)] = partial
            return str(target)
        if option_type == _OPTION_ATTACHMENT:
            raise NotImplementedError("attachment options are not modelled")
        raise KeyError(f"cannot resolve {value!r} for option type {option_type}")

    def _build_options(
        self,
        command: JSON,
        options: Mapping[str, Any] | Sequence[JSON] | None,
        ctx: _InteractionContext,
        focused: str | None,
    ) -> tuple[list[JSON], JSON]:
        registered = {o["name"]: o for o in command.get("options") or []}
        resolved: JSON = {}
        if options is None:
            options = {}
        if not isinstance(options, Mapping):  # pre-shaped option list, fill in types
            shaped = [dict(o) for o in options]
            for given in shaped:
                if "type" not in given and given.get("name") in registered:
                    given["type"] = registered[given["name"]]["type"]
            return shaped, resolved
        result: list[JSON] = []
        for name, value in options.items():
            spec = registered.get(name)
            if spec is None:
                raise KeyError(f"/{command['name']} has no option {name!r}: {sorted(registered)}")
            option_type = int(spec["type"])
            if option_type in (_OPTION_SUB_COMMAND, _OPTION_SUB_COMMAND_GROUP):
                raise NotImplementedError("pass subcommands as a pre-shaped options list")
            option: JSON = {"name": name, "type": option_type}
            if name == focused:
                if not spec.get("autocomplete"):
                    raise ValueError(f"option {name!r} of /{command['name']} has no autocomplete")
                option["value"] = str(value)  # what the user has typed so far
                option["focused"] = True
            else:
                option["value"] = self._resolve_option(option_type, value, resolved, ctx)
                choices = spec.get("choices")
                if choices and option["value"] not in [c["value"] for c in choices]:
                    raise ValueError(f"{value!r} is not one of the choices of {name!r}")
            result.append(option)
        if focused is None:
            missing = [
                n for n, spec in registered.items() if spec.get("required") and n not in options
            ]
            if missing:
                raise ValueError(f"/{command['name']} is missing required options {missing}")
        elif focused not in options:
            raise ValueError(f"focused option {focused!r} must be in options")
        return result, resolved

    def _interaction_payload(
        self,
        record_id: int,
        token: str,
        itype: int,
        data: JSON,
        ctx: _InteractionContext,
        owners: JSON,
    ) -> JSON:
        channel = self._channel_payload(ctx.channel)
        payload: JSON = {
            "id": str(record_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": ctx.locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self._bot_permissions(ctx.channel)),
            "channel": channel,
            "channel_id": str(ctx.channel.id),
        }
        if ctx.guild is None:
            payload["user"] = ctx.user.public()
            payload["context"] = ctx.context
            payload["authorizing_integration_owners"] = owners
            if ctx.context == CONTEXT_PRIVATE_CHANNEL:  # the bot is no member: little it may do
                payload["app_permissions"] = str(PRIVATE_CHANNEL_APP_PERMISSIONS)
        else:
            member = self._member_payload(ctx.guild, ctx.user.id)
            member["permissions"] = str(ctx.permissions)
            channel["permissions"] = str(ctx.permissions)
            payload.update(
                {
                    "guild_id": str(ctx.guild.id),
                    "guild_locale": "en-US",
                    "guild": {"id": str(ctx.guild.id), "locale": "en-US", "features": []},
                    "member": member,
                    "context": 0,
                    "authorizing_integration_owners": owners,
                }
            )
        return payload

    async def _dispatch_interaction(
        self,
        itype: int,
        name: str,
        data: JSON,
        ctx: _InteractionContext,
        *,
        message: MessageRecord | None = None,
        parent: InteractionRecord | None = None,
        command: JSON | None = None,
    ) -> InteractionRecord:
        interaction_id = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        owners = self._owners(ctx, command)
        if message is not None and message.data.get("interaction_metadata"):
            owners = (
                message.data["interaction_metadata"].get("authorizing_integration_owners") or owners
            )
        payload = self._interaction_payload(interaction_id, token, itype, data, ctx, owners)
        if message is not None:
            payload["message"] = message.data
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=itype,
            name=name,
            guild_id=ctx.guild.id if ctx.guild else None,
            channel_id=ctx.channel.id,
            user_id=ctx.user.id,
            payload=payload,
            source_message_id=message.id if message else None,
            parent=parent,
        )
        self.interactions[interaction_id] = record
        session = await self._require_session(record.guild_id)
        record.dispatched_at = asyncio.get_running_loop().time()
        await self._dispatch(session, "INTERACTION_CREATE", payload)
        return record

    async def invoke_slash(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        in_dm: bool = False,
        locale: str = "en-US",
        private_channel: int | None = None,
    ) -> InteractionRecord:
        """A user runs ``/name`` (APPLICATION_COMMAND, type 2).

        The command must have been registered (synced) for the guild or globally;
        option types come from the registered payload.  Without ``guild_id`` the first
        guild is used; without ``channel_id`` its first text channel; without
        ``user_id`` the first non-bot user (a "tester" user is created if none).
        ``in_dm``: in the user's DM with the bot (context 1); ``private_channel``: in that
        DM between users or group DM (context 2, user-installed commands only).
        """
        ctx = self._interaction_context(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            permissions=permissions,
            in_dm=in_dm,
            locale=locale,
            private_channel=private_channel,
        )
        command = self._find_command(name, 1, ctx)
        self._check_invocable(command, ctx)
        built, resolved = self._build_options(command, options, ctx, focused=None)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1}
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return await self._dispatch_interaction(
            INTERACTION_APPLICATION_COMMAND, name, data, ctx, command=command
        )

    async def invoke_autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[JSON],
        *,
        focused: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        in_dm: bool = False,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """The user is typing into option ``focused`` (APPLICATION_COMMAND_AUTOCOMPLETE)."""
        ctx = self._interaction_context(
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            permissions=permissions,
            in_dm=in_dm,
            locale=locale,
        )
        command = self._find_command(name, 1, ctx)
        self._check_invocable(command, ctx)
        built, _ = self._build_options(command, options, ctx, focused=focused)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        return await self._dispatch_interaction(
            INTERACTION_AUTOCOMPLETE, name, data, ctx, command=command
        )

    async def press_component(
        self,
        message: MessageRecord | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        user_id: int | None = None,
        permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Click a button / choose in a select menu on a message (MESSAGE_COMPONENT)."""
        record = self.messages[message] if isinstance(message, int) else message
        record = self.messages.get(record.id, record)
        if record.deleted:
            raise LookupError(f"message {record.id} was deleted")
        component = next(
            (c for c in _walk_components(record.components) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            ids = [c.get("custom_id") for c in _walk_components(record.components)]
            raise LookupError(f"no component {custom_id!r} on message {record.id}: {ids}")
        if component.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        channel = self._channel(record.channel_id)
        if channel.type == CHANNEL_DM and user_id is None and not channel.recipient_ids:
            user_id = channel.recipient_id  # only the recipient sees a bot DM
        ctx = self._interaction_context(
            guild_id=channel.guild_id,
            channel_id=None if channel.guild_id is None else channel.id,
            user_id=user_id,
            permissions=permissions,
            in_dm=channel.guild_id is None and not channel.recipient_ids,
            locale=locale,
            private_channel=channel.id if channel.recipient_ids else None,
        )
        if channel.guild_id is None:
            ctx.channel = channel
        component_type = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": component_type}
        await self.sync_with_client()
        if component_type in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        return await self._dispatch_interaction(
            INTERACTION_MESSAGE_COMPONENT, custom_id, data, ctx, message=record
        )

    async def submit_modal(
        self,
        interaction: InteractionRecord,
        values: Mapping[str, str | Sequence[str]],
        *,
        locale: str = "en-US",
    ) -> InteractionRecord:
        """Submit the modal the bot opened (type-9 callback) on ``interaction``."""
        modal = interaction.modal
        if modal is None:
            raise LookupError(f"interaction {interaction.id} did not open a modal")

        def answer(component: JSON) -> JSON:
            value = values.get(str(component.get("custom_id")), "")
            out: JSON = {"type": component["type"], "custom_id": component["custom_id"]}
            if isinstance(value, str):
                out["value"] = value
            else:
                out["values"] = list(value)
            if "id" in component:
                out["id"] = component["id"]
            return out

        submitted: list[JSON] = []
        for top in modal.get("components") or []:
            if top.get("type") == 1:
                submitted.append(
                    {"type": 1, "components": [answer(c) for c in top.get("components") or []]}
                )
            elif top.get("type") == 18 and isinstance(top.get("component"), dict):
                submitted.append({"type": 18, "component": answer(top["component"])})
            elif top.get("type") == 10:
                submitted.append({"type": 10, "id": top.get("id")})
        channel = self._channel(interaction.channel_id)
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        perms = int(interaction.payload.get("member", {}).get("permissions") or 0)
        ctx = _InteractionContext(guild, channel, self._user(interaction.user_id), perms, locale)
        source = (
            self.messages.get(interaction.source_message_id)
            if interaction.source_message_id
            else None
        )
        data: JSON = {"custom_id": modal["custom_id"], "components": submitted}
        await self.sync_with_client()
        return await self._dispatch_interaction(
            INTERACTION_MODAL_SUBMIT,
            str(modal["custom_id"]),
            data,
            ctx,
            message=source,
            parent=interaction,
        )
