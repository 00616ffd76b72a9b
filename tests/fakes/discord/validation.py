"""Pure validation of message and command bodies, answering the way Discord does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.fakes.discord.errors import DiscordHTTPError, _FormErrors
from tests.fakes.discord.protocol import (
    _OPTION_STRING,
    _OPTION_SUB_COMMAND,
    _OPTION_SUB_COMMAND_GROUP,
    JSON,
    MESSAGE_FLAG_IS_COMPONENTS_V2,
)


def _walk_components(components: Iterable[Any]) -> Iterable[JSON]:
    """Yield every component dict, recursing through rows, containers and sections."""
    for component in components:
        if not isinstance(component, dict):
            continue
        yield component
        for key in ("components", "items"):
            children = component.get(key)
            if isinstance(children, list):
                yield from _walk_components(children)
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _with_paths(
    components: Iterable[Any], path: list[str | int]
) -> Iterable[tuple[JSON, list[str | int]]]:
    """Every component dict with its path in the body (rows, containers, sections)."""
    for index, component in enumerate(components):
        yield from _component_paths(component, [*path, index])


def _component_paths(
    component: Any, here: list[str | int]
) -> Iterable[tuple[JSON, list[str | int]]]:
    if not isinstance(component, dict):
        return
    yield component, here
    for key in ("components", "items"):
        children = component.get(key)
        if isinstance(children, list):
            yield from _with_paths(children, [*here, key])
    for key in ("accessory", "component"):
        yield from _component_paths(component.get(key), [*here, key])


def _validate_rows(errors: _FormErrors, prefix: list[str | int], components: list[Any]) -> None:
    """Classic (non components-v2) layout: at most 5 action rows at the top, 1-5 per row."""
    if len(components) > 5:
        errors.add([*prefix, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    for i, row in enumerate(components):
        if not isinstance(row, dict):
            continue
        row_path: list[str | int] = [*prefix, "components", i]
        if row.get("type") != 1:  # buttons and menus live in action rows
            errors.add(
                [*row_path, "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        children = row.get("components") or []
        if not 1 <= len(children) <= 5:
            errors.add(
                [*row_path, "components"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 5 in length.",
            )
        kinds = [child.get("type") for child in children if isinstance(child, dict)]
        if 1 in kinds:
            errors.add(
                [*row_path, "components", kinds.index(1), "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (2, 3, 5, 6, 7, 8).',
            )
        if len(kinds) > 1 and any(kind in (3, 5, 6, 7, 8) for kind in kinds):
            errors.add(
                [*row_path, "components"],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )


def _validate_button(errors: _FormErrors, button: JSON, path: list[str | int]) -> None:
    """Styles 1-4 need a custom_id and no url; link (5) a url and no custom_id; premium (6) a
    sku_id; all but premium a label or an emoji; labels at most 80 characters."""
    style = button.get("style")
    if style in (1, 2, 3, 4):
        if button.get("custom_id") is None:
            errors.add(
                [*path, "custom_id"], "COMPONENT_CUSTOM_ID_REQUIRED", "A custom id is required"
            )
        if button.get("url") is not None:
            errors.add(
                [*path, "url"], "COMPONENT_URL_NOT_ALLOWED", "A url is only allowed on link buttons"
            )
    elif style == 5:
        if button.get("url") is None:
            errors.add([*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
        if button.get("custom_id") is not None:
            errors.add(
                [*path, "custom_id"],
                "COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                "Link buttons cannot have a custom id",
            )
    elif style == 6 and button.get("sku_id") is None:
        errors.add([*path, "sku_id"], "BASE_TYPE_REQUIRED", "This field is required")
    if style != 6 and not button.get("label") and not button.get("emoji"):
        errors.add(
            [*path, "label"], "COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or an emoji is required"
        )
    label = button.get("label")
    if label is not None and len(str(label)) > 80:
        errors.add([*path, "label"], "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")


def _validate_components(
    errors: _FormErrors, prefix: list[str | int], components: Any, flags: int
) -> None:
    if not isinstance(components, list):
        errors.add([*prefix, "components"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if flags & MESSAGE_FLAG_IS_COMPONENTS_V2:
        total = sum(1 for _ in _walk_components(components))
        if total > 40:
            errors.add(
                [*prefix, "components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length."
            )
    else:
        _validate_rows(errors, prefix, components)
    seen: set[str] = set()
    for component, path in _with_paths(components, [*prefix, "components"]):
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if not 1 <= len(str(custom_id)) <= 100:
                errors.add(
                    [*path, "custom_id"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if str(custom_id) in seen:
                errors.add(
                    [*path, "custom_id"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(str(custom_id))
        if component.get("type") == 2:
            _validate_button(errors, component, path)


def _validate_embeds(errors: _FormErrors, prefix: list[str | int], embeds: Any) -> None:
    if not isinstance(embeds, list):
        errors.add([*prefix, "embeds"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if len(embeds) > 10:
        errors.add([*prefix, "embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        path: list[str | int] = [*prefix, "embeds", i]
        if not isinstance(embed, dict):
            errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        total += errors.max_len([*path, "title"], embed.get("title"), 256)
        total += errors.max_len([*path, "description"], embed.get("description"), 4096)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors.add([*path, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, embed_field in enumerate(fields):
            fpath: list[str | int] = [*path, "fields", j]
            if not isinstance(embed_field, dict):
                errors.add(
                    fpath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
                )
                continue
            total += errors.required_len([*fpath, "name"], embed_field.get("name"), 256)
            total += errors.required_len([*fpath, "value"], embed_field.get("value"), 1024)
        footer = embed.get("footer")
        if isinstance(footer, dict):
            total += errors.required_len([*path, "footer", "text"], footer.get("text"), 2048)
        author = embed.get("author")
        if isinstance(author, dict):
            total += errors.required_len([*path, "author", "name"], author.get("name"), 256)
    if total > 6000:
        errors.add(
            [*prefix, "embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        )


def _validate_message_fields(errors: _FormErrors, prefix: list[str | int], body: JSON) -> None:
    """Field-level checks shared by create and edit (channel, webhook and callback)."""
    errors.max_len([*prefix, "content"], body.get("content"), 2000)
    if body.get("embeds") is not None:
        _validate_embeds(errors, prefix, body["embeds"])
    if body.get("components") is not None:
        _validate_components(errors, prefix, body["components"], int(body.get("flags") or 0))
    mentions = body.get("allowed_mentions")
    if isinstance(mentions, dict):
        parse = mentions.get("parse") or []
        for kind in ("users", "roles"):
            listed = mentions.get(kind) or []
            if kind in parse and listed:
                errors.add(
                    [*prefix, "allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            if len(listed) > 100:
                errors.add(
                    [*prefix, "allowed_mentions", kind],
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                )


def _message_is_empty(data: JSON) -> bool:
    return (
        not str(data.get("content") or "").strip()
        and not data.get("embeds")
        and not data.get("attachments")
        and not data.get("components")
        and not data.get("sticker_ids")
        and not data.get("sticker_items")
        and not data.get("poll")
    )


def _empty_message_error() -> DiscordHTTPError:
    return DiscordHTTPError(400, 50006, "Cannot send an empty message")


def _valid_command_name(name: Any, command_type: int) -> bool:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if command_type != 1:  # user/message commands: free text incl. spaces and capitals
        return True
    return name == name.lower() and all(ch.isalnum() or ch in "-_'" for ch in name)


def _command_size(command: JSON) -> int:
    """Characters Discord counts against the 4000-character command limit."""
    size = len(str(command.get("name") or "")) + len(str(command.get("description") or ""))
    for option in command.get("options") or []:
        if isinstance(option, dict):
            size += _command_size(option)
            for choice in option.get("choices") or []:
                if isinstance(choice, dict):
                    size += len(str(choice.get("name") or "")) + len(str(choice.get("value")))
    return size


def _validate_options(errors: _FormErrors, path: list[str | int], options: Any) -> None:
    if options is None:
        return
    if not isinstance(options, list):
        errors.add([*path, "options"], "LIST_TYPE_CONVERT", "Only iterables may be used.")
        return
    if len(options) > 25:
        errors.add([*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        opath: list[str | int] = [*path, "options", i]
        if not isinstance(option, dict):
            errors.add(opath, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        option_type = option.get("type")
        if option_type not in range(1, 12):
            errors.add([*opath, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1..11}.")
        if not _valid_command_name(option.get("name"), 1):
            errors.add(
                [*opath, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        name = str(option.get("name"))
        if name in names:
            errors.add(
                [*opath, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option name already exists",
            )
        names.add(name)
        errors.between([*opath, "description"], option.get("description"), 1, 100)
        if option_type in (_OPTION_SUB_COMMAND, _OPTION_SUB_COMMAND_GROUP):
            _validate_options(errors, opath, option.get("options"))
            continue
        if option.get("required"):
            if seen_optional:
                errors.add(
                    [*path, "options"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = option.get("choices")
        if choices is not None:
            if len(choices) > 25:
                errors.add(
                    [*opath, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for j, choice in enumerate(choices):
                cpath: list[str | int] = [*opath, "choices", j]
                errors.between([*cpath, "name"], choice.get("name"), 1, 100)
                if option_type == _OPTION_STRING:
                    errors.max_len([*cpath, "value"], choice.get("value"), 100)
            if option.get("autocomplete"):
                errors.add(
                    [*opath, "autocomplete"],
                    "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES",
                    "Autocomplete cannot be set with choices",
                )


def _validate_commands(payload: Any, spec_errors: _FormErrors | None = None) -> list[JSON]:
    """Validate a bulk-overwrite body the way Discord does; return it as a list."""
    if not isinstance(payload, list):
        raise DiscordHTTPError(
            400,
            50035,
            "Invalid Form Body",
            errors={"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Only iterables."}]},
        )
    errors = _FormErrors()
    seen: set[tuple[int, str]] = set()
    per_type: dict[int, int] = {}
    for i, command in enumerate(payload):
        if not isinstance(command, dict):
            errors.add([i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        command_type = int(command.get("type") or 1)
        per_type[command_type] = per_type.get(command_type, 0) + 1
        if not _valid_command_name(command.get("name"), command_type):
            errors.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        key = (command_type, str(command.get("name")))
        if key in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add(key)
        if command_type == 1:
            errors.between([i, "description"], command.get("description"), 1, 100)
        elif command.get("description"):
            errors.add(
                [i, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            )
        _validate_options(errors, [i], command.get("options"))
        if _command_size(command) > 4000:
            errors.add([i], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")
    if spec_errors is not None:
        errors.merge(spec_errors)
    errors.raise_if_any()
    limits = {1: 100, 2: 15, 3: 15}
    for command_type, count in per_type.items():
        limit = limits.get(command_type, 100)
        if count > limit:
            raise DiscordHTTPError(
                400, 30032, f"Maximum number of application commands reached ({limit})"
            )
    return [dict(c) for c in payload]


def _truthy_query(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "t", "yes")
