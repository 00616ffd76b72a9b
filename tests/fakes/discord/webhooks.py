"""Interaction callbacks, followups and the interaction webhook's messages."""

from __future__ import annotations

import asyncio
from typing import Final

from tests.fakes.discord.errors import DiscordHTTPError, _FormErrors, _unknown
from tests.fakes.discord.handlers import _Handlers
from tests.fakes.discord.protocol import (
    _ALLOWED_CALLBACKS,
    _SETTABLE_MESSAGE_FLAGS,
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_UPDATE_MESSAGE,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_MODAL_SUBMIT,
    JSON,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_IS_COMPONENTS_V2,
    MESSAGE_FLAG_LOADING,
    MESSAGE_FLAG_SUPPRESS_EMBEDS,
)
from tests.fakes.discord.records import (
    AttachmentRecord,
    CallbackRecord,
    InteractionRecord,
    MessageRecord,
    ResponseEvent,
    _Ctx,
    _Reply,
)
from tests.fakes.discord.validation import (
    _empty_message_error,
    _message_is_empty,
    _truthy_query,
    _validate_message_fields,
)

#: The OpenAPI schema of an interaction callback body, by callback type.
_CALLBACK_SCHEMAS: Final[dict[int, str]] = {
    1: "PongInteractionCallbackRequest",
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    6: "UpdateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
    9: "ModalInteractionCallbackRequest",
}
#: Flags an edit may set (Discord: only SUPPRESS_EMBEDS changes; IS_COMPONENTS_V2 is one-way).
_EDITABLE_MESSAGE_FLAGS: Final = MESSAGE_FLAG_SUPPRESS_EMBEDS | MESSAGE_FLAG_IS_COMPONENTS_V2
#: Flags the ``data`` of a message callback may carry, by callback type.
_CALLBACK_SETTABLE_FLAGS: Final[dict[int, int]] = {
    4: _SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL,
    5: MESSAGE_FLAG_EPHEMERAL,
    7: _EDITABLE_MESSAGE_FLAGS,
}


class _InteractionEndpoints(_Handlers):
    """The endpoints a bot answers interactions with."""

    # ----------------------------------------------------------------- REST: interactions

    def _interaction_by_token(self, webhook_id: str, token: str) -> InteractionRecord:
        if int(webhook_id) != self.application_id:
            raise _unknown(10015, "Webhook")
        record = next((i for i in self.interactions.values() if i.token == token), None)
        if record is None or record.dispatched_at is None:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        age = asyncio.get_running_loop().time() - record.dispatched_at
        if age > self.interaction_token_ttl:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return record

    def _elapsed(self, record: InteractionRecord) -> float:
        return asyncio.get_running_loop().time() - (record.dispatched_at or 0.0)

    async def _interaction_callback(self, ctx: _Ctx) -> _Reply:
        record = self.interactions.get(int(ctx.params["interaction_id"]))
        if record is None or record.token != ctx.params["interaction_token"]:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        callback = CallbackRecord(
            type=body.get("type"),
            data=body.get("data"),
            elapsed=self._elapsed(record),
            files=ctx.files,
        )
        record.callbacks.append(callback)
        try:
            self._conform_callback(ctx, body)
            message = await self._apply_callback(record, callback, body, ctx.files)
        except DiscordHTTPError as error:
            callback.status, callback.error_code = error.status, error.code
            raise
        callback.status = 200 if _truthy_query(ctx.record.query.get("with_response")) else 204
        record.events.append(
            ResponseEvent(
                kind="callback",
                payload=body,
                message=message,
                elapsed=callback.elapsed,
                callback_type=int(callback.type),
            )
        )
        if callback.status == 204:
            return _Reply(status=204)
        return _Reply(body=self._callback_response(record, int(callback.type), message))

    def _conform_callback(self, ctx: _Ctx, body: JSON) -> None:
        """The callback body against its OpenAPI schema (chosen by ``type``) and its flags."""
        callback_type = body.get("type")
        schema = _CALLBACK_SCHEMAS.get(callback_type) if isinstance(callback_type, int) else None
        if schema is None:
            return  # _apply_callback refuses the type itself
        errors = _FormErrors()
        self._conform(ctx, body, schema, errors)
        errors.raise_if_any()
        data = body.get("data")
        if isinstance(data, dict) and callback_type in _CALLBACK_SETTABLE_FLAGS:
            self._check_flags(ctx, data.get("flags"), _CALLBACK_SETTABLE_FLAGS[callback_type])

    def _callback_response(
        self, record: InteractionRecord, callback_type: int, message: MessageRecord | None
    ) -> JSON:
        """The InteractionCallbackResponse returned for ``?with_response=true``."""
        interaction: JSON = {"id": str(record.id), "type": record.type}
        resource: JSON = {"type": callback_type}
        if message is not None and callback_type in (4, 5, 7):
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = callback_type == 5
            interaction["response_message_ephemeral"] = message.ephemeral
            if callback_type in (4, 7):
                resource["message"] = message.data
        return {"interaction": interaction, "resource": resource}

    async def _apply_callback(
        self,
        record: InteractionRecord,
        callback: CallbackRecord,
        body: JSON,
        files: list[AttachmentRecord],
    ) -> MessageRecord | None:
        if record.acknowledged:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if callback.elapsed > self.interaction_ack_timeout:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        allowed = set(_ALLOWED_CALLBACKS[record.type])
        if record.type == INTERACTION_MODAL_SUBMIT and record.source_message_id is None:
            allowed -= {6, 7}
        callback_type = body.get("type")
        if callback_type not in allowed:
            errors = _FormErrors()
            choices = ", ".join(str(t) for t in sorted(allowed))
            errors.add(["type"], "BASE_TYPE_CHOICES", f"Value must be one of {{{choices}}}.")
            errors.raise_if_any()
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        assert isinstance(data, dict)
        channel = self.channels[record.channel_id]
        if callback_type == CALLBACK_CHANNEL_MESSAGE:
            self._check_upload_size(files)
            errors = _FormErrors()
            _validate_message_fields(errors, ["data"], data)
            errors.raise_if_any()
            if _message_is_empty({**data, "attachments": files}):
                raise _empty_message_error()
            flags = int(data.get("flags") or 0) & (_SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                channel,
                self.bot,
                data,
                files,
                flags=flags,
                message_type=20 if record.type == INTERACTION_APPLICATION_COMMAND else 0,
                source="interaction_response",
                interaction=record,
            )
            record.original = message
            await self._gateway_message_event("MESSAGE_CREATE", message)
            return message
        if callback_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            flags = MESSAGE_FLAG_LOADING | (int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                channel,
                self.bot,
                {},
                [],
                flags=flags,
                message_type=20 if record.type == INTERACTION_APPLICATION_COMMAND else 0,
                source="interaction_response",
                interaction=record,
            )
            record.original = message
            await self._gateway_message_event("MESSAGE_CREATE", message)
            return message
        if callback_type in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            target = self.messages.get(record.source_message_id or 0)
            if target is None or target.deleted:
                raise _unknown(10008, "Message")
            record.original = target
            if callback_type == CALLBACK_UPDATE_MESSAGE:
                self._apply_edit(target, data, files, ["data"])
                await self._gateway_message_event("MESSAGE_UPDATE", target)
            return target
        if callback_type == CALLBACK_AUTOCOMPLETE_RESULT:
            errors = _FormErrors()
            suggestions = data.get("choices")
            if not isinstance(suggestions, list):
                errors.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
            else:
                if len(suggestions) > 25:
                    errors.add(
                        ["data", "choices"],
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 25 or fewer in length.",
                    )
                for i, choice in enumerate(suggestions):
                    errors.between(["data", "choices", i, "name"], choice.get("name"), 1, 100)
                    if isinstance(choice.get("value"), str):
                        errors.max_len(["data", "choices", i, "value"], choice["value"], 100)
            errors.raise_if_any()
            return None
        # CALLBACK_MODAL
        errors = _FormErrors()
        errors.required_len(["data", "title"], data.get("title"), 45)
        errors.required_len(["data", "custom_id"], data.get("custom_id"), 100)
        components = data.get("components")
        if not isinstance(components, list) or not 1 <= len(components) <= 5:
            errors.add(
                ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
            )
        errors.raise_if_any()
        record.modal = data
        return None

    async def _execute_webhook(self, ctx: _Ctx) -> _Reply:
        """Followup messages (``wait`` is always true for interaction webhooks)."""
        record = self._interaction_by_token(ctx.params["webhook_id"], ctx.params["webhook_token"])
        if not record.acknowledged:
            raise _unknown(10015, "Webhook")
        body = ctx.body if isinstance(ctx.body, dict) else {}
        self._check_upload_size(ctx.files)
        spec_errors = _FormErrors()
        self._conform(ctx, body, "IncomingWebhookRequestPartial", spec_errors)
        errors = _FormErrors()
        _validate_message_fields(errors, [], body)
        errors.merge(spec_errors)
        errors.raise_if_any()
        self._check_flags(ctx, body.get("flags"), _SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL)
        original = record.original
        if (
            record.response_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE
            and original is not None
            and original.loading
            and not original.deleted
        ):
            # Documented (deprecated) behaviour: the first followup after a deferred
            # response edits the loading message; its ephemeral state is preserved.
            edit = {k: v for k, v in body.items() if k != "flags"}
            self._apply_edit(original, edit, ctx.files, [])
            message = original
            await self._gateway_message_event("MESSAGE_UPDATE", message)
        else:
            if _message_is_empty({**body, "attachments": ctx.files}):
                raise _empty_message_error()
            flags = int(body.get("flags") or 0) & (_SETTABLE_MESSAGE_FLAGS | MESSAGE_FLAG_EPHEMERAL)
            message = self._store_message(
                self.channels[record.channel_id],
                self.bot,
                body,
                ctx.files,
                flags=flags,
                message_type=0,
                source="followup",
                interaction=record,
            )
            await self._gateway_message_event("MESSAGE_CREATE", message)
        record.followups.append(message)
        record.events.append(
            ResponseEvent(
                kind="followup", payload=body, message=message, elapsed=self._elapsed(record)
            )
        )
        return _Reply(body=message.data)

    def _webhook_message(self, ctx: _Ctx) -> tuple[InteractionRecord, MessageRecord, bool]:
        record = self._interaction_by_token(ctx.params["webhook_id"], ctx.params["webhook_token"])
        if not record.acknowledged:
            raise _unknown(10015, "Webhook")
        message_id = ctx.params["message_id"]
        if message_id == "@original":
            message = record.original
            is_original = True
        else:
            is_original = record.original is not None and str(record.original.id) == message_id
            message = next((m for m in record.followups if str(m.id) == message_id), None)
            if is_original:
                message = record.original
        if message is None or message.deleted:
            raise _unknown(10008, "Message")
        return record, message, is_original

    async def _edit_webhook_message(self, ctx: _Ctx) -> _Reply:
        record, message, is_original = self._webhook_message(ctx)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        errors = _FormErrors()
        self._conform(ctx, body, "IncomingWebhookUpdateRequestPartial", errors)
        errors.raise_if_any()
        if "flags" in body:
            self._check_flags(ctx, body["flags"], _EDITABLE_MESSAGE_FLAGS)
        self._apply_edit(message, body, ctx.files, [])
        record.events.append(
            ResponseEvent(
                kind="edit_original" if is_original else "edit_followup",
                payload=body,
                message=message,
                elapsed=self._elapsed(record),
            )
        )
        await self._gateway_message_event("MESSAGE_UPDATE", message)
        return _Reply(body=message.data)

    async def _delete_webhook_message(self, ctx: _Ctx) -> _Reply:
        record, message, is_original = self._webhook_message(ctx)
        message.deleted = True
        record.events.append(
            ResponseEvent(
                kind="delete_original" if is_original else "delete_followup",
                payload=None,
                message=message,
                elapsed=self._elapsed(record),
            )
        )
        await self._gateway_message_event("MESSAGE_DELETE", message)
        return _Reply(status=204)
