"""Telegram-flavoured HTML, parsed like TDLib's ``parse_html`` (td/telegram/MessageEntity.cpp).

A line-by-line port of the code the Bot API server runs, so error wording and byte offsets match.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Final

from tests.fakes.telegram.constants import JSONDict
from tests.fakes.telegram.errors import EntityParseError
from tests.fakes.telegram.text import ParsedText, _entity_sort_key, _link_user_id, check_link

_SPACE_BYTES: Final = frozenset(b" \t\r\n\x00\v\f")  # td::is_space (NUL included: C string end)
_ATTRIBUTE_NAME_STOP: Final = frozenset(b"=>/\"'")
_NAME_TOKEN_BYTES: Final = frozenset((string.ascii_letters + string.digits + ".-").encode())
_HEX_BYTES: Final = frozenset(string.hexdigits.encode())
_DIGIT_BYTES: Final = frozenset(string.digits.encode())
_ALPHA_BYTES: Final = frozenset(string.ascii_letters.encode())
_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_NAMED_ENTITIES: Final[dict[bytes, int]] = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}


def _decode_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    """Port of TDLib ``decode_html_entity``: (code point or 0, position after the entity)."""
    size = len(src)

    def at(index: int) -> int:
        return src[index] if index < size else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == 0x23:  # '#': numeric character reference
        end += 1
        if at(pos + 2) == 0x78:  # 'x': hexadecimal
            end += 1
            while at(end) in _HEX_BYTES:
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while at(end) in _DIGIT_BYTES:
                code = code * 10 + at(end) - 0x30
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while at(end) in _ALPHA_BYTES:
            end += 1
        code = _NAMED_ENTITIES.get(src[pos + 1 : end], 0)
        if code == 0:
            return 0, pos  # unsupported named entity: the '&' stays literal, as in Telegram
    if at(end) == 0x3B:  # ';'
        end += 1
    return code, end


@dataclass(slots=True)
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    out_pos: int


@dataclass(slots=True)
class _RawEntity:
    type: str
    offset: int
    length: int
    argument: str = ""
    language: str = ""
    user_id: int | None = None


def _close_html_entity(
    tag: _OpenTag, length: int, entities: list[_RawEntity], inner: bytes
) -> None:
    """Turn a closed tag into an entity, including TDLib's pre+code → pre(language) merge."""
    offset = tag.utf16_offset
    name = tag.name
    if name in ("i", "em"):
        entities.append(_RawEntity("italic", offset, length))
    elif name in ("b", "strong"):
        entities.append(_RawEntity("bold", offset, length))
    elif name in ("s", "strike", "del"):
        entities.append(_RawEntity("strikethrough", offset, length))
    elif name in ("u", "ins"):
        entities.append(_RawEntity("underline", offset, length))
    elif name == "tg-spoiler" or (name == "span" and tag.argument == "spoiler"):
        entities.append(_RawEntity("spoiler", offset, length))
    elif name == "tg-emoji":
        try:
            document_id = int(tag.argument)
        except ValueError:
            document_id = 0
        if document_id == 0 or not -(2**63) <= document_id < 2**63:
            raise EntityParseError("Invalid custom emoji identifier specified")
        entities.append(_RawEntity("custom_emoji", offset, length, argument=str(document_id)))
    elif name == "a":
        url = tag.argument or inner.decode("utf-8", "replace")
        user_id = _link_user_id(url)
        if user_id is not None:
            entities.append(_RawEntity("text_mention", offset, length, user_id=user_id))
        else:
            checked = check_link(url)
            if checked:
                entities.append(_RawEntity("text_link", offset, length, argument=checked))
    elif name == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "code"
            and last.offset == offset
            and last.length == length
            and last.argument
        ):
            last.type = "pre"
            last.language = last.argument
            last.argument = ""
        else:
            entities.append(_RawEntity("pre", offset, length))
    elif name == "code":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last.type == "pre"
            and not last.language
            and last.offset == offset
            and last.length == length
            and tag.argument
        ):
            last.language = tag.argument
        else:
            entities.append(_RawEntity("code", offset, length, argument=tag.argument))
    elif name == "blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append(_RawEntity(kind, offset, length))


def _raw_entity_to_dict(entity: _RawEntity) -> JSONDict:
    result: JSONDict = {"offset": entity.offset, "length": entity.length, "type": entity.type}
    if entity.type == "text_link":
        result["url"] = entity.argument
    elif entity.type == "text_mention":
        result["user"] = {"id": entity.user_id}
    elif entity.type == "pre" and entity.language:
        result["language"] = entity.language
    elif entity.type == "custom_emoji":
        result["custom_emoji_id"] = entity.argument
    return result


def parse_html(text: str) -> ParsedText:
    """Parse Telegram-flavoured HTML exactly like TDLib's ``parse_html``.

    Raises :class:`EntityParseError` with TDLib's message (byte offsets are UTF-8 offsets into
    ``text``). Notable real-world behaviour kept on purpose: an ``&`` that does not start one of
    ``&lt; &gt; &amp; &quot;`` or a numeric reference stays a literal ``&``; a stray ``<`` is a
    start tag (``a < b`` fails with ``Unsupported start tag ""``); ``</>`` closes any tag.
    ``text_mention`` entities carry only ``{"id": ...}`` here; FakeTelegram fills the user in.
    """
    src = text.encode("utf-8", "surrogatepass")
    size = len(src)

    def at(index: int) -> int:
        return src[index] if index < size else 0

    out = bytearray()
    entities: list[_RawEntity] = []
    nested: list[_OpenTag] = []
    utf16_offset = 0
    need_recheck_utf8 = False
    i = 0
    while i < size:
        char = src[i]
        if char == 0x26:  # '&'
            code, new_i = _decode_html_entity(src, i)
            if code:
                utf16_offset += 2 if code > 0xFFFF else 1
                if 0xD800 <= code <= 0xDFFF:
                    need_recheck_utf8 = True
                out += chr(code).encode("utf-8", "surrogatepass")
                i = new_i
                continue
        if char != 0x3C:  # not '<'
            if char & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16_offset += 2 if char >= 0xF0 else 1
            out.append(char)
            i += 1
            continue

        begin_pos = i
        i += 1
        if at(i) != 0x2F:  # start tag
            while at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
            tag_name = src[begin_pos + 1 : i].lower().decode("utf-8", "replace")
            if tag_name not in _HTML_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag_name}" at byte offset {begin_pos}'
                )
            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) == 0x3E:
                    break
                attribute_begin = i
                while at(i) not in _SPACE_BYTES and at(i) not in _ATTRIBUTE_NAME_STOP:
                    i += 1
                attribute_name = src[attribute_begin:i]
                if not attribute_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag_name}" at byte offset {begin_pos}'
                    )
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) != 0x3D:  # no '=': a value-less attribute
                    if at(i) == 0:
                        raise EntityParseError(
                            f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}'
                        )
                    if tag_name == "blockquote" and attribute_name == b"expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _SPACE_BYTES:
                    i += 1
                if at(i) == 0:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}'
                    )
                if at(i) not in (0x22, 0x27):  # a name token, case-insensitive
                    token_begin = i
                    while at(i) in _NAME_TOKEN_BYTES:
                        i += 1
                    attribute_value = src[token_begin:i].lower().decode("ascii")
                    if at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:  # a quoted string literal
                    end_character = at(i)
                    i += 1
                    value = bytearray()
                    while at(i) != end_character and at(i) != 0:
                        if at(i) == 0x26:
                            code, new_i = _decode_html_entity(src, i)
                            if code:
                                value += chr(code).encode("utf-8", "surrogatepass")
                                i = new_i
                                continue
                        value.append(at(i))
                        i += 1
                    if at(i) == end_character:
                        i += 1
                    attribute_value = bytes(value).decode("utf-8", "replace")
                if at(i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
                if tag_name == "a" and attribute_name == b"href":
                    argument = attribute_value
                elif (
                    tag_name == "code"
                    and attribute_name == b"class"
                    and attribute_value.startswith("language-")
                ):
                    argument = attribute_value[len("language-") :]
                elif (
                    tag_name == "span"
                    and attribute_name == b"class"
                    and attribute_value.startswith("tg-")
                ):
                    argument = attribute_value[len("tg-") :]
                elif tag_name == "tg-emoji" and attribute_name == b"emoji-id":
                    argument = attribute_value
                elif tag_name == "blockquote" and attribute_name == b"expandable":
                    argument = "1"
            if tag_name == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin_pos}'
                )
            nested.append(_OpenTag(tag_name, argument, utf16_offset, len(out)))
        else:  # end tag
            if not nested:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin_pos}")
            while at(i) not in _SPACE_BYTES and at(i) != 0x3E:
                i += 1
            end_tag_name = src[begin_pos + 2 : i].lower().decode("utf-8", "replace")
            while at(i) in _SPACE_BYTES and at(i) != 0:
                i += 1
            if at(i) != 0x3E:
                raise EntityParseError(f"Unclosed end tag at byte offset {begin_pos}")
            open_tag = nested[-1]
            if end_tag_name and end_tag_name != open_tag.name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {begin_pos}, expected "</{open_tag.name}>", '
                    f'found "</{end_tag_name}>"'
                )
            if utf16_offset > open_tag.utf16_offset:
                _close_html_entity(
                    open_tag,
                    utf16_offset - open_tag.utf16_offset,
                    entities,
                    bytes(out[open_tag.out_pos :]),
                )
            nested.pop()
        i += 1  # skip the '>'

    if nested:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{nested[-1].name}"'
        )
    for entity in entities:
        if entity.type == "code":
            entity.argument = ""
    try:
        plain = bytes(out).decode("utf-8")
    except UnicodeDecodeError as exc:
        if need_recheck_utf8:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, check "
                "for unmatched surrogate code units"
            ) from exc
        plain = bytes(out).decode("utf-8", "replace")
    result = [_raw_entity_to_dict(entity) for entity in entities]
    result.sort(key=_entity_sort_key)
    return ParsedText(plain, result)
