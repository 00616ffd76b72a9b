"""The JSON objects Discord returns: roles, members, channels, guilds, messages, mentions."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from tests.fakes.discord.core import _Core
from tests.fakes.discord.protocol import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    CHANNEL_ANNOUNCEMENT_THREAD,
    CHANNEL_DM,
    CHANNEL_GROUP_DM,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    CHANNEL_PUBLIC_THREAD,
    DM_APP_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_MESSAGE_CONTENT,
    INTERACTION_APPLICATION_COMMAND,
    JSON,
    MENTION_EVERYONE,
    MESSAGE_FLAG_EPHEMERAL,
    _now_iso,
    _opt_str,
)
from tests.fakes.discord.records import (
    AttachmentRecord,
    ChannelRecord,
    GuildRecord,
    InteractionRecord,
    MessageRecord,
    UserRecord,
)

_THREADS = (CHANNEL_PUBLIC_THREAD, CHANNEL_ANNOUNCEMENT_THREAD)


class _Payloads(_Core):
    """Builds the objects Discord returns."""

    def _bot_permissions(self, channel: ChannelRecord) -> int:
        if channel.guild_id is None:
            return DM_APP_PERMISSIONS
        guild = self.guilds[channel.guild_id]
        base = guild.everyone_permissions | guild.bot_permissions
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        deny = channel.bot_deny
        if channel.parent_id is not None and channel.parent_id in self.channels:
            deny |= self.channels[channel.parent_id].bot_deny
        return base & ~deny

    # ----------------------------------------------------------------- payload builders

    def _role_payloads(self, guild: GuildRecord) -> list[JSON]:
        def role(role_id: int, name: str, perms: int, position: int, managed: bool) -> JSON:
            data: JSON = {
                "id": str(role_id),
                "name": name,
                "description": None,
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "icon": None,
                "unicode_emoji": None,
                "position": position,
                "permissions": str(perms),
                "managed": managed,
                "mentionable": False,
                "flags": 0,
            }
            if managed:
                data["tags"] = {"bot_id": str(self.bot.id)}
            return data

        return [
            role(guild.id, "@everyone", guild.everyone_permissions, 0, False),
            role(guild.bot_role_id, self.bot.username, guild.bot_permissions, 1, True),
        ]

    def _member_payload(self, guild: GuildRecord, user_id: int, *, with_user: bool = True) -> JSON:
        roles = [str(guild.bot_role_id)] if user_id == self.bot.id else []
        data: JSON = {
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": roles,
            "joined_at": guild.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            data["user"] = self._user(user_id).public()
        return data

    def _channel_payload(self, channel: ChannelRecord) -> JSON:
        if channel.type in (CHANNEL_DM, CHANNEL_GROUP_DM):
            members = channel.recipient_ids or [channel.recipient_id or 0]
            data: JSON = {
                "id": str(channel.id),
                "type": channel.type,
                "last_message_id": _opt_str(channel.last_message_id),
                "flags": 0,
                "recipients": [self._user(m).public() for m in members],
            }
            if channel.type == CHANNEL_GROUP_DM:
                data.update(
                    {"name": channel.name, "icon": None, "owner_id": _opt_str(channel.owner_id)}
                )
            return data
        data = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "last_message_id": _opt_str(channel.last_message_id),
            "rate_limit_per_user": 0,
            "flags": channel.flags,
            "parent_id": _opt_str(channel.parent_id),
        }
        if channel.type in (CHANNEL_PUBLIC_THREAD, CHANNEL_ANNOUNCEMENT_THREAD):
            data.update(
                {
                    "owner_id": str(channel.owner_id or self.bot.id),
                    "message_count": sum(
                        1 for m in self.messages.values() if m.channel_id == channel.id
                    ),
                    "member_count": 1,
                    "total_message_sent": 0,
                    "thread_metadata": {
                        "archived": False,
                        "auto_archive_duration": 1440,
                        "archive_timestamp": channel.created_at,
                        "locked": False,
                        "create_timestamp": channel.created_at,
                    },
                }
            )
            parent = self.channels.get(channel.parent_id or 0)
            if parent is not None and parent.type in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA):
                data["applied_tags"] = [str(t) for t in channel.applied_tags]
        else:
            overwrites = []
            if channel.bot_deny and channel.guild_id is not None:
                guild = self.guilds[channel.guild_id]
                overwrites.append(
                    {
                        "id": str(guild.bot_role_id),
                        "type": 0,
                        "allow": "0",
                        "deny": str(channel.bot_deny),
                    }
                )
            data.update(
                {
                    "position": channel.position,
                    "permission_overwrites": overwrites,
                    "topic": None,
                    "nsfw": False,
                }
            )
            if channel.type in (CHANNEL_GUILD_FORUM, CHANNEL_GUILD_MEDIA):
                data.update(
                    {
                        "available_tags": [t.public() for t in channel.available_tags],
                        "default_reaction_emoji": None,
                        "default_thread_rate_limit_per_user": 0,
                        "default_sort_order": None,
                        "default_forum_layout": 0,
                        "default_auto_archive_duration": 1440,
                    }
                )
        return data

    def _guild_create_payload(self, guild: GuildRecord, intents: int) -> JSON:
        members = [self._member_payload(guild, self.bot.id)]
        if intents & INTENT_GUILD_PRESENCES:  # Discord then includes (online) members
            members += [self._member_payload(guild, m) for m in guild.member_ids]
        channels = [self.channels[c] for c in guild.channel_ids if c in self.channels]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "roles": self._role_payloads(guild),
            "emojis": [],
            "stickers": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "application_id": None,
            "incidents_data": None,
            # GUILD_CREATE-only fields
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.member_ids) + 1,
            "lazy": True,
            "voice_states": [],
            "members": members,
            "channels": [self._channel_payload(c) for c in channels if c.type not in _THREADS],
            "threads": [self._channel_payload(c) for c in channels if c.type in _THREADS],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.allowed_privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13  # GATEWAY_PRESENCE_LIMITED
        if self.allowed_privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15  # GATEWAY_GUILD_MEMBERS_LIMITED
        if self.allowed_privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
        return flags

    def _app_info(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": hashlib.sha256(self.token.encode()).hexdigest(),
            "flags": self._application_flags(),
            "owner": UserRecord(self.application_id + 1, "app-owner").public(),
            "team": None,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "integration_types_config": {str(t): {} for t in sorted(self.install_types)},
            "approximate_guild_count": len(self.guilds),
            "bot": self.bot.public(),
        }

    def _mentions(
        self,
        content: str,
        allowed: Any,
        channel: ChannelRecord,
        replied_user_id: int | None,
        author_id: int,
    ) -> tuple[list[JSON], list[str], bool]:
        """Resolve pings like Discord: content mentions filtered by ``allowed_mentions``."""
        parse: set[str]
        listed_users: set[int]
        listed_roles: set[int]
        if isinstance(allowed, dict):
            parse = set(allowed.get("parse") or [])
            listed_users = {int(u) for u in allowed.get("users") or []}
            listed_roles = {int(r) for r in allowed.get("roles") or []}
            replied = bool(allowed.get("replied_user"))
        else:
            parse = {"users", "roles", "everyone"}
            listed_users, listed_roles, replied = set(), set(), True
        user_ids: list[int] = []
        for match in re.findall(r"<@!?(\d+)>", content):
            uid = int(match)
            if (
                ("users" in parse or uid in listed_users)
                and uid in self.users
                and uid not in user_ids
            ):
                user_ids.append(uid)
        if replied_user_id is not None and replied and replied_user_id not in user_ids:
            user_ids.append(replied_user_id)
        role_ids: list[str] = []
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        for match in re.findall(r"<@&(\d+)>", content):
            rid = int(match)
            if guild and ("roles" in parse or rid in listed_roles) and str(rid) not in role_ids:
                role_ids.append(str(rid))
        everyone = (
            ("@everyone" in content or "@here" in content)
            and "everyone" in parse
            and (
                author_id != self.bot.id or bool(self._bot_permissions(channel) & MENTION_EVERYONE)
            )
        )
        return [self._user(u).public() for u in user_ids], role_ids, everyone

    def _attachment_payload(self, attachment: AttachmentRecord, ephemeral: bool) -> JSON:
        url = f"{self.root}/attachments/{attachment.id}/{attachment.filename}"
        data: JSON = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "url": url,
            "proxy_url": url,
            "content_type": attachment.content_type,
        }
        if attachment.description is not None:
            data["description"] = attachment.description
        if ephemeral:
            data["ephemeral"] = True
        return data

    def _attach_files(self, body: JSON, files: list[AttachmentRecord]) -> list[AttachmentRecord]:
        """Give uploaded files real ids and descriptions from ``body["attachments"]``."""
        described = {
            str(a.get("id")): a for a in body.get("attachments") or [] if isinstance(a, dict)
        }
        for upload in files:
            meta = described.get(str(upload.upload_index), {})
            upload.description = meta.get("description")
            if meta.get("filename"):
                upload.filename = str(meta["filename"])
        return files

    def _build_message(
        self,
        *,
        message_id: int,
        channel: ChannelRecord,
        author: UserRecord,
        body: JSON,
        attachments: list[AttachmentRecord],
        flags: int,
        message_type: int,
        interaction: InteractionRecord | None = None,
    ) -> JSON:
        content = str(body.get("content") or "")
        replied_user: int | None = None
        reference = body.get("message_reference")
        referenced: MessageRecord | None = None
        if isinstance(reference, dict) and reference.get("message_id"):
            referenced = self.messages.get(int(reference["message_id"]))
            if referenced is not None:
                replied_user = referenced.author_id
        mentions, mention_roles, everyone = self._mentions(
            content, body.get("allowed_mentions"), channel, replied_user, author.id
        )
        ephemeral = bool(flags & MESSAGE_FLAG_EPHEMERAL)
        data: JSON = {
            "type": message_type,
            "content": content,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "attachments": [self._attachment_payload(a, ephemeral) for a in attachments],
            "embeds": [
                {"type": "rich", **e} if "type" not in e else dict(e)
                for e in body.get("embeds") or []
            ],
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": flags,
            "components": list(body.get("components") or []),
            "id": str(message_id),
            "channel_id": str(channel.id),
            "author": author.public(),
            "pinned": False,
            "mention_everyone": everyone,
            "tts": bool(body.get("tts")),
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if isinstance(reference, dict) and reference.get("message_id"):
            data["message_reference"] = {
                "type": 0,
                "channel_id": str(reference.get("channel_id") or channel.id),
                "message_id": str(reference["message_id"]),
            }
            if channel.guild_id is not None:
                data["message_reference"]["guild_id"] = str(channel.guild_id)
            data["referenced_message"] = referenced.data if referenced else None
        if interaction is not None:
            data["webhook_id"] = str(self.application_id)
            data["application_id"] = str(self.application_id)
            invoker = self._user(interaction.user_id).public()
            metadata: JSON = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": invoker,
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.type == INTERACTION_APPLICATION_COMMAND:
                metadata["name"] = interaction.name
                metadata["command_type"] = 1
                data["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": interaction.name,
                    "user": invoker,
                }
            elif interaction.source_message_id is not None:
                metadata["interacted_message_id"] = str(interaction.source_message_id)
            data["interaction_metadata"] = metadata
        return data

    def _store_message(
        self,
        channel: ChannelRecord,
        author: UserRecord,
        body: JSON,
        files: list[AttachmentRecord],
        *,
        flags: int,
        message_type: int,
        source: Literal["channel", "interaction_response", "followup", "user"],
        interaction: InteractionRecord | None = None,
        message_id: int | None = None,
    ) -> MessageRecord:
        message_id = message_id or self._ids.next()
        attachments = self._attach_files(body, files)
        data = self._build_message(
            message_id=message_id,
            channel=channel,
            author=author,
            body=body,
            attachments=attachments,
            flags=flags,
            message_type=message_type,
            interaction=interaction,
        )
        record = MessageRecord(
            id=message_id,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author.id,
            source=source,
            data=data,
            payload=dict(body),
            interaction_id=interaction.id if interaction else None,
            attachments=attachments,
        )
        self.messages[message_id] = record
        channel.last_message_id = message_id
        return record
