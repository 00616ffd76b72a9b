"""Request bodies of the Discord endpoints the fake serves, as Discord's OpenAPI document says.

Derived by ``tests/fakes/tools/discord_spec.py`` (not at test time) from
github.com/discord/discord-api-spec ``specs/openapi.json``: API v10, commit 74fda0f 2026-07-18.
Only the object schemas the fake models are listed; a field referring to any other schema
is an object left unchecked. Each field: its JSON types, whether required, the schemas an
object value may be (told apart by their ``type`` enum), array items, enum values and the
documented bounds and formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

SPEC_VERSION: Final = "discord-api-spec openapi.json v10 (74fda0f 2026-07-18)"


@dataclass(frozen=True, slots=True)
class F:
    """One field or array item of a request schema."""

    types: str  # JSON types joined by "|": string, integer, number, boolean, array, object, null
    required: bool = False
    refs: tuple[str, ...] = ()
    items: F | None = None
    enum: tuple[Any, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    format: str | None = None  # uri, date-time, snowflake


SCHEMAS: Final[dict[str, dict[str, F]]] = {
    "MessageCreateRequest": {
        "content": F("null|string", max_length=4000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "sticker_ids": F("array|null", items=F("string", format="snowflake"), max_items=3),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "flags": F("integer|null"),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "poll": F("null|object"),
        "shared_client_theme": F("null|object"),
        "message_reference": F("null|object", refs=("MessageReferenceRequest",)),
        "nonce": F(
            "integer|null|string",
            max_length=25,
            minimum=-9223372036854775808,
            maximum=9223372036854775807,
        ),
        "enforce_nonce": F("boolean|null"),
        "tts": F("boolean|null"),
    },
    "IncomingWebhookRequestPartial": {
        "content": F("null|string", max_length=2000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "poll": F("null|object"),
        "tts": F("boolean|null"),
        "flags": F("integer|null"),
        "username": F("null|string", min_length=1, max_length=80),
        "avatar_url": F("null|string", max_length=2048, format="uri"),
        "thread_name": F("null|string", min_length=0, max_length=100),
        "applied_tags": F("array|null", items=F("string", format="snowflake"), max_items=5),
    },
    "IncomingWebhookUpdateRequestPartial": {
        "content": F("null|string", max_length=2000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "poll": F("null|object"),
        "flags": F("integer|null"),
    },
    "IncomingWebhookInteractionRequest": {
        "content": F("null|string", max_length=2000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "poll": F("null|object"),
        "tts": F("boolean|null"),
        "flags": F("integer|null"),
    },
    "IncomingWebhookUpdateForInteractionCallbackRequestPartial": {
        "content": F("null|string", max_length=2000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "flags": F("integer|null"),
    },
    "RichEmbed": {
        "type": F("null|string", max_length=152133),
        "url": F("null|string", max_length=2048, format="uri"),
        "title": F("null|string", max_length=256),
        "color": F("integer|null", minimum=0, maximum=16777215),
        "timestamp": F("null|string", format="date-time"),
        "description": F("null|string", max_length=4096),
        "author": F("null|object", refs=("RichEmbedAuthor",)),
        "image": F("null|object", refs=("RichEmbedImage",)),
        "thumbnail": F("null|object", refs=("RichEmbedThumbnail",)),
        "footer": F("null|object", refs=("RichEmbedFooter",)),
        "fields": F("array|null", items=F("object", refs=("RichEmbedField",)), max_items=25),
        "provider": F("null|object", refs=("RichEmbedProvider",)),
        "video": F("null|object", refs=("RichEmbedVideo",)),
    },
    "RichEmbedAuthor": {
        "name": F("null|string", max_length=256),
        "url": F("null|string", max_length=2048, format="uri"),
        "icon_url": F("null|string", max_length=2048, format="uri"),
    },
    "RichEmbedFooter": {
        "text": F("null|string", max_length=2048),
        "icon_url": F("null|string", max_length=2048, format="uri"),
    },
    "RichEmbedField": {
        "name": F("string", required=True, max_length=256),
        "value": F("string", required=True, max_length=1024),
        "inline": F("boolean|null"),
    },
    "RichEmbedImage": {
        "url": F("null|string", max_length=2048, format="uri"),
        "width": F("integer|null"),
        "height": F("integer|null"),
        "placeholder": F("null|string", max_length=64),
        "placeholder_version": F("integer|null", minimum=0, maximum=2147483647),
        "is_animated": F("boolean|null"),
        "description": F("null|string", max_length=4096),
    },
    "RichEmbedThumbnail": {
        "url": F("null|string", max_length=2048, format="uri"),
        "width": F("integer|null"),
        "height": F("integer|null"),
        "placeholder": F("null|string", max_length=64),
        "placeholder_version": F("integer|null", minimum=0, maximum=2147483647),
        "is_animated": F("boolean|null"),
        "description": F("null|string", max_length=4096),
    },
    "RichEmbedProvider": {
        "name": F("null|string", max_length=256),
        "url": F("null|string", max_length=2048, format="uri"),
    },
    "RichEmbedVideo": {
        "url": F("null|string", max_length=2048, format="uri"),
        "width": F("integer|null"),
        "height": F("integer|null"),
        "placeholder": F("null|string", max_length=64),
        "placeholder_version": F("integer|null", minimum=0, maximum=2147483647),
        "is_animated": F("boolean|null"),
        "description": F("null|string", max_length=4096),
    },
    "MessageAllowedMentionsRequest": {
        "parse": F(
            "array|null",
            items=F("null|string", enum=("users", "roles", "everyone")),
            max_items=1521,
        ),
        "users": F("array|null", items=F("null|string", format="snowflake"), max_items=100),
        "roles": F("array|null", items=F("null|string", format="snowflake"), max_items=100),
        "replied_user": F("boolean|null"),
    },
    "MessageAttachmentRequest": {
        "id": F("string", required=True, format="snowflake"),
        "filename": F("null|string", min_length=1, max_length=1024),
        "description": F("null|string", max_length=1024),
        "duration_secs": F("null|number", minimum=0, maximum=2147483647),
        "waveform": F("null|string", max_length=400),
        "title": F("null|string", max_length=1024),
        "is_spoiler": F("boolean|null"),
        "is_remix": F("boolean|null"),
    },
    "MessageReferenceRequest": {
        "guild_id": F("null|string", format="snowflake"),
        "channel_id": F("null|string", format="snowflake"),
        "message_id": F("string", required=True, format="snowflake"),
        "fail_if_not_exists": F("boolean|null"),
        "type": F("integer|null", enum=(0,)),
    },
    "ActionRowComponentForMessageRequest": {
        "type": F("integer", required=True, enum=(1,)),
        "id": F("integer|null", minimum=0),
        "components": F(
            "array",
            required=True,
            items=F(
                "object",
                refs=("ButtonComponentForMessageRequest", "StringSelectComponentForMessageRequest"),
            ),
            min_items=1,
            max_items=5,
        ),
    },
    "ButtonComponentForMessageRequest": {
        "type": F("integer", required=True, enum=(2,)),
        "id": F("integer|null", minimum=0),
        "custom_id": F("null|string", min_length=1, max_length=100),
        "style": F("integer", required=True, enum=(1, 2, 3, 4, 5, 6)),
        "label": F("null|string", max_length=80),
        "disabled": F("boolean|null"),
        "url": F("null|string", max_length=512, format="uri"),
        "sku_id": F("null|string", format="snowflake"),
        "emoji": F("null|object", refs=("ComponentEmojiForRequest",)),
    },
    "StringSelectComponentForMessageRequest": {
        "type": F("integer", required=True, enum=(3,)),
        "id": F("integer|null", minimum=0),
        "custom_id": F("string", required=True, min_length=1, max_length=100),
        "placeholder": F("null|string", max_length=150),
        "min_values": F("integer|null", minimum=0, maximum=25),
        "max_values": F("integer|null", minimum=1, maximum=25),
        "disabled": F("boolean|null"),
        "required": F("boolean|null"),
        "options": F(
            "array",
            required=True,
            items=F("object", refs=("StringSelectOptionForRequest",)),
            min_items=1,
            max_items=25,
        ),
    },
    "StringSelectOptionForRequest": {
        "label": F("string", required=True, min_length=1, max_length=100),
        "value": F("string", required=True, min_length=1, max_length=100),
        "description": F("null|string", max_length=100),
        "default": F("boolean|null"),
        "emoji": F("null|object", refs=("ComponentEmojiForRequest",)),
    },
    "ComponentEmojiForRequest": {
        "id": F("null|string", format="snowflake"),
        "name": F("string", required=True, max_length=32),
    },
    "ActionRowComponentForModalRequest": {
        "type": F("integer", required=True, enum=(1,)),
        "id": F("integer|null", minimum=0),
        "components": F(
            "array",
            required=True,
            items=F("object", refs=("TextInputComponentForModalRequest",)),
            min_items=1,
            max_items=5,
        ),
    },
    "TextInputComponentForModalRequest": {
        "type": F("integer", required=True, enum=(4,)),
        "id": F("integer|null", minimum=0),
        "custom_id": F("string", required=True, min_length=1, max_length=100),
        "style": F("integer", required=True, enum=(1, 2)),
        "label": F("null|string", min_length=1, max_length=45),
        "value": F("null|string", max_length=4000),
        "placeholder": F("null|string", max_length=100),
        "required": F("boolean|null"),
        "min_length": F("integer|null", minimum=0, maximum=4000),
        "max_length": F("integer|null", minimum=1, maximum=4000),
    },
    "LabelComponentForModalRequest": {
        "type": F("integer", required=True, enum=(18,)),
        "id": F("integer|null", minimum=0),
        "label": F("string", required=True, min_length=1, max_length=45),
        "description": F("null|string", min_length=1, max_length=100),
        "component": F(
            "object",
            required=True,
            refs=("StringSelectComponentForModalRequest", "TextInputComponentForModalRequest"),
        ),
    },
    "StringSelectComponentForModalRequest": {
        "type": F("integer", required=True, enum=(3,)),
        "id": F("integer|null", minimum=0),
        "custom_id": F("string", required=True, min_length=1, max_length=100),
        "placeholder": F("null|string", max_length=150),
        "min_values": F("integer|null", minimum=0, maximum=25),
        "max_values": F("integer|null", minimum=1, maximum=25),
        "disabled": F("boolean|null"),
        "required": F("boolean|null"),
        "options": F(
            "array",
            required=True,
            items=F("object", refs=("StringSelectOptionForRequest",)),
            min_items=1,
            max_items=25,
        ),
    },
    "TextDisplayComponentForModalRequest": {
        "type": F("integer", required=True, enum=(10,)),
        "id": F("integer|null", minimum=0),
        "content": F("string", required=True, min_length=1, max_length=4000),
    },
    "PongInteractionCallbackRequest": {
        "type": F("integer", required=True, enum=(1,)),
    },
    "CreateMessageInteractionCallbackRequest": {
        "type": F("integer", required=True, enum=(4, 5)),
        "data": F("null|object", refs=("IncomingWebhookInteractionRequest",)),
    },
    "UpdateMessageInteractionCallbackRequest": {
        "type": F("integer", required=True, enum=(6, 7)),
        "data": F(
            "null|object", refs=("IncomingWebhookUpdateForInteractionCallbackRequestPartial",)
        ),
    },
    "ApplicationCommandAutocompleteCallbackRequest": {
        "type": F("integer", required=True, enum=(8,)),
        "data": F(
            "object",
            required=True,
            refs=(
                "InteractionApplicationCommandAutocompleteCallbackIntegerData",
                "InteractionApplicationCommandAutocompleteCallbackNumberData",
                "InteractionApplicationCommandAutocompleteCallbackStringData",
            ),
        ),
    },
    "InteractionApplicationCommandAutocompleteCallbackIntegerData": {
        "choices": F(
            "array|null",
            items=F("null|object", refs=("ApplicationCommandOptionIntegerChoice",)),
            max_items=25,
        ),
    },
    "InteractionApplicationCommandAutocompleteCallbackNumberData": {
        "choices": F(
            "array|null",
            items=F("null|object", refs=("ApplicationCommandOptionNumberChoice",)),
            max_items=25,
        ),
    },
    "InteractionApplicationCommandAutocompleteCallbackStringData": {
        "choices": F(
            "array|null",
            items=F("null|object", refs=("ApplicationCommandOptionStringChoice",)),
            max_items=25,
        ),
    },
    "ModalInteractionCallbackRequest": {
        "type": F("integer", required=True, enum=(9,)),
        "data": F("object", required=True, refs=("ModalInteractionCallbackRequestData",)),
    },
    "ModalInteractionCallbackRequestData": {
        "custom_id": F("string", required=True, min_length=1, max_length=100),
        "title": F("string", required=True, min_length=1, max_length=45),
        "components": F(
            "array",
            required=True,
            items=F(
                "object",
                refs=(
                    "ActionRowComponentForModalRequest",
                    "LabelComponentForModalRequest",
                    "TextDisplayComponentForModalRequest",
                ),
            ),
            min_items=1,
            max_items=40,
        ),
    },
    "ApplicationCommandUpdateRequest": {
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("null|string", max_length=100),
        "description_localizations": F("null|object"),
        "options": F(
            "array|null",
            items=F(
                "object",
                refs=(
                    "ApplicationCommandAttachmentOption",
                    "ApplicationCommandBooleanOption",
                    "ApplicationCommandChannelOption",
                    "ApplicationCommandIntegerOption",
                    "ApplicationCommandMentionableOption",
                    "ApplicationCommandNumberOption",
                    "ApplicationCommandRoleOption",
                    "ApplicationCommandStringOption",
                    "ApplicationCommandSubcommandGroupOption",
                    "ApplicationCommandSubcommandOption",
                    "ApplicationCommandUserOption",
                ),
            ),
            max_items=25,
        ),
        "default_member_permissions": F("integer|null", minimum=0, maximum=18014398509481983),
        "dm_permission": F("boolean|null"),
        "contexts": F("array|null", items=F("integer", enum=(0, 1, 2)), min_items=1),
        "integration_types": F("array|null", items=F("integer", enum=(0, 1)), min_items=1),
        "handler": F("integer|null", enum=(1, 2)),
        "type": F("integer|null", enum=(1, 2, 3, 4)),
        "id": F("null|string", format="snowflake"),
    },
    "ApplicationCommandAttachmentOption": {
        "type": F("integer", required=True, enum=(11,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
    },
    "ApplicationCommandBooleanOption": {
        "type": F("integer", required=True, enum=(5,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
    },
    "ApplicationCommandChannelOption": {
        "type": F("integer", required=True, enum=(7,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "channel_types": F(
            "array|null", items=F("integer", enum=(1, 3, 0, 2, 4, 5, 10, 11, 12, 13, 14, 15))
        ),
    },
    "ApplicationCommandIntegerOption": {
        "type": F("integer", required=True, enum=(4,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "autocomplete": F("boolean|null"),
        "choices": F(
            "array|null",
            items=F("object", refs=("ApplicationCommandOptionIntegerChoice",)),
            max_items=25,
        ),
        "min_value": F("integer|null", minimum=-9007199254740991, maximum=9007199254740991),
        "max_value": F("integer|null", minimum=-9007199254740991, maximum=9007199254740991),
    },
    "ApplicationCommandMentionableOption": {
        "type": F("integer", required=True, enum=(9,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
    },
    "ApplicationCommandNumberOption": {
        "type": F("integer", required=True, enum=(10,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "autocomplete": F("boolean|null"),
        "choices": F(
            "array|null",
            items=F("object", refs=("ApplicationCommandOptionNumberChoice",)),
            max_items=25,
        ),
        "min_value": F("null|number"),
        "max_value": F("null|number"),
    },
    "ApplicationCommandRoleOption": {
        "type": F("integer", required=True, enum=(8,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
    },
    "ApplicationCommandStringOption": {
        "type": F("integer", required=True, enum=(3,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "autocomplete": F("boolean|null"),
        "min_length": F("integer|null", minimum=0, maximum=6000),
        "max_length": F("integer|null", minimum=1, maximum=6000),
        "choices": F(
            "array|null",
            items=F("object", refs=("ApplicationCommandOptionStringChoice",)),
            max_items=25,
        ),
    },
    "ApplicationCommandSubcommandGroupOption": {
        "type": F("integer", required=True, enum=(2,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "options": F(
            "array|null",
            items=F("object", refs=("ApplicationCommandSubcommandOption",)),
            max_items=25,
        ),
    },
    "ApplicationCommandSubcommandOption": {
        "type": F("integer", required=True, enum=(1,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
        "options": F(
            "array|null",
            items=F(
                "object",
                refs=(
                    "ApplicationCommandAttachmentOption",
                    "ApplicationCommandBooleanOption",
                    "ApplicationCommandChannelOption",
                    "ApplicationCommandIntegerOption",
                    "ApplicationCommandMentionableOption",
                    "ApplicationCommandNumberOption",
                    "ApplicationCommandRoleOption",
                    "ApplicationCommandStringOption",
                    "ApplicationCommandUserOption",
                ),
            ),
            max_items=25,
        ),
    },
    "ApplicationCommandUserOption": {
        "type": F("integer", required=True, enum=(6,)),
        "name": F("string", required=True, min_length=1, max_length=32),
        "name_localizations": F("null|object"),
        "description": F("string", required=True, min_length=1, max_length=100),
        "description_localizations": F("null|object"),
        "required": F("boolean|null"),
    },
    "ApplicationCommandOptionIntegerChoice": {
        "name": F("string", required=True, min_length=1, max_length=100),
        "name_localizations": F("null|object"),
        "value": F("integer", required=True, minimum=-9007199254740991, maximum=9007199254740991),
    },
    "ApplicationCommandOptionNumberChoice": {
        "name": F("string", required=True, min_length=1, max_length=100),
        "name_localizations": F("null|object"),
        "value": F("number", required=True),
    },
    "ApplicationCommandOptionStringChoice": {
        "name": F("string", required=True, min_length=1, max_length=100),
        "name_localizations": F("null|object"),
        "value": F("string", required=True, max_length=6000),
    },
    "CreatePrivateChannelRequest": {
        "recipient_id": F("null|string", format="snowflake"),
        "access_tokens": F("array|null", items=F("string", max_length=152133), max_items=1521),
        "nicks": F("null|object"),
    },
    "CreateForumThreadRequest": {
        "name": F("string", required=True, min_length=1, max_length=100),
        "auto_archive_duration": F("integer|null", enum=(60, 1440, 4320, 10080)),
        "rate_limit_per_user": F("integer|null", minimum=0, maximum=21600),
        "applied_tags": F("array|null", items=F("string", format="snowflake"), max_items=5),
        "message": F("object", required=True, refs=("BaseCreateMessageCreateRequest",)),
    },
    "BaseCreateMessageCreateRequest": {
        "content": F("null|string", max_length=4000),
        "embeds": F("array|null", items=F("object", refs=("RichEmbed",)), max_items=10),
        "allowed_mentions": F("null|object", refs=("MessageAllowedMentionsRequest",)),
        "sticker_ids": F("array|null", items=F("string", format="snowflake"), max_items=3),
        "components": F(
            "array|null",
            items=F("object", refs=("ActionRowComponentForMessageRequest",)),
            max_items=40,
        ),
        "flags": F("integer|null"),
        "attachments": F(
            "array|null", items=F("object", refs=("MessageAttachmentRequest",)), max_items=10
        ),
        "poll": F("null|object"),
        "shared_client_theme": F("null|object"),
    },
}
