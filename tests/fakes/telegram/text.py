"""Text as Telegram counts and reads it: UTF-16 lengths, link checking, entity detection."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tests.fakes.telegram.constants import JSONDict


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for offsets and the 4096 limit."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def entity_text(text: str, entity: Mapping[str, Any]) -> str:
    """The substring of ``text`` an entity covers (offsets are UTF-16 code units)."""
    raw = text.encode("utf-16-le", "surrogatepass")
    start = int(entity["offset"]) * 2
    end = start + int(entity["length"]) * 2
    return raw[start:end].decode("utf-16-le", "surrogatepass")


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[i]`` is the UTF-16 offset of ``text[i]`` (and ``prefix[len]`` the total)."""
    prefix = [0] * (len(text) + 1)
    total = 0
    for index, char in enumerate(text):
        prefix[index] = total
        total += 2 if ord(char) > 0xFFFF else 1
    prefix[len(text)] = total
    return prefix


@dataclass(slots=True)
class ParsedText:
    """Plain text plus Bot API ``MessageEntity`` dicts, as Telegram stores a message."""

    text: str
    entities: list[JSONDict]


# Same order of preference as TDLib's MessageEntity::get_type_priority; lower sorts first.
_ENTITY_PRIORITY: Final[dict[str, int]] = {
    "mention": 50,
    "hashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "bold": 90,
    "italic": 91,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "cashtag": 50,
    "phone_number": 50,
    "underline": 92,
    "strikethrough": 93,
    "blockquote": 0,
    "spoiler": 94,
    "custom_emoji": 99,
    "expandable_blockquote": 0,
}


def _entity_sort_key(entity: Mapping[str, Any]) -> tuple[int, int, int]:
    priority = _ENTITY_PRIORITY.get(str(entity["type"]), 50)
    if entity["type"] == "pre" and entity.get("language"):
        priority = 10  # PreCode
    return (int(entity["offset"]), -int(entity["length"]), priority)


_TG_USER_LINK_RE: Final = re.compile(r"tg:(?://)?user\?id=(\d+)(?:&.*)?", re.IGNORECASE | re.DOTALL)


def _link_user_id(url: str) -> int | None:
    """``tg://user?id=123`` links become ``text_mention`` entities (LinkManager::get_link_user_id)."""
    match = _TG_USER_LINK_RE.fullmatch(url)
    if match is None:
        return None
    user_id = int(match.group(1))
    return user_id if 0 < user_id < 2**40 else None


def check_link(link: str) -> str | None:
    """Approximation of TDLib ``LinkManager::get_checked_link``: normalised URL or ``None``.

    Telegram silently drops a ``text_link`` whose URL it rejects, and normalises the ones it
    keeps (``http://`` is added, the host is lower-cased, an empty path becomes ``/``).
    """
    lowered = link.lower()
    for scheme in ("tg:", "ton:", "tonsite:"):
        if lowered.startswith(scheme):
            rest = link[len(scheme) :]
            rest = rest.removeprefix("//")
            match = re.fullmatch(r"([^/?#]*)(.*)", rest, re.DOTALL)
            if match is None:
                return None
            host, tail = match.group(1), match.group(2)
            allowed = (
                string.ascii_letters + string.digits + "-_" + ("." if scheme == "tonsite:" else "")
            )
            if not host or any(char not in allowed for char in host):
                return None
            return f"{scheme[:-1]}://{host.lower()}{tail}"
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", link)
    if scheme_match is not None:
        protocol = scheme_match.group(1).lower()
        if protocol not in ("http", "https"):
            return None
        rest = link[scheme_match.end() :]
    else:
        protocol = "http"
        rest = link
    match = re.fullmatch(r"([^/?#]*)(.*)", rest, re.DOTALL)
    if match is None:
        return None
    authority, tail = match.group(1), match.group(2)
    userinfo = ""
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
    host, port = authority, ""
    is_ipv6 = host.startswith("[")
    if is_ipv6:
        closing = host.find("]")
        if closing < 0:
            return None
        host, after = host[: closing + 1], host[closing + 1 :]
        if after:
            if not after.startswith(":"):
                return None
            port = after[1:]
    elif ":" in host:
        host, port = host.rsplit(":", 1)
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return None
    host = host.lower()
    if not host:
        return None
    if not is_ipv6:
        allowed_host = set(string.ascii_lowercase + string.digits + "-._~%")
        if any(char not in allowed_host and ord(char) < 0x80 for char in host):
            return None
        if "." not in host:
            return None
    if any(char.isspace() for char in tail):
        return None
    if not tail:
        tail = "/"
    elif tail[0] != "/":
        tail = "/" + tail
    userinfo_part = f"{userinfo}@" if userinfo else ""
    port_part = f":{port}" if port else ""
    return f"{protocol}://{userinfo_part}{host}{port_part}{tail}"


_ASCII_WORD: Final = frozenset(string.ascii_letters + string.digits + "_")
_SHORT_USERNAMES: Final = frozenset(
    {"gif", "wiki", "vid", "bing", "pic", "bold", "imdb", "coub", "like", "vote"}
)
_URL_RE: Final = re.compile(r"(?i)(?:https?://|www\.)[^\s<>\"']+")
_EMAIL_RE: Final = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL_TRAILING: Final = ".,:;!?'\")]}"


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _find_bot_commands(text: str) -> list[tuple[int, int]]:
    """Port of TDLib ``match_bot_commands``: ``/cmd`` or ``/cmd@bot_name``."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        slash = text.find("/", pos)
        if slash < 0:
            return found
        if slash > 0:
            previous = text[slash - 1]
            if _is_word_char(previous) or previous in "/<>":
                pos = slash + 1
                continue
        end = slash + 1
        while end < size and text[end] in _ASCII_WORD:
            end += 1
        command_size = end - slash - 1
        if command_size < 1 or command_size > 64:
            pos = max(end, slash + 1)
            continue
        command_end = end
        if end < size and text[end] == "@":
            mention_end = end + 1
            while mention_end < size and text[mention_end] in _ASCII_WORD:
                mention_end += 1
            mention_size = mention_end - end - 1
            if mention_size < 3 or mention_size > 32:
                pos = mention_end
                continue
            command_end = end = mention_end
        following = text[end] if end < size else ""
        if following and (_is_word_char(following) or following in "/<>"):
            pos = end
            continue
        found.append((slash, command_end))
        pos = end


def _find_mentions(text: str) -> list[tuple[int, int]]:
    """Port of TDLib ``find_mentions``: ``@username`` (4..32 chars, or a few short bot names)."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        at_sign = text.find("@", pos)
        if at_sign < 0:
            return found
        if at_sign > 0 and _is_word_char(text[at_sign - 1]):
            pos = at_sign + 1
            continue
        end = at_sign + 1
        while end < size and text[end] in _ASCII_WORD:
            end += 1
        pos = max(end, at_sign + 1)
        name = text[at_sign + 1 : end]
        if not 2 <= len(name) <= 32:
            continue
        if end < size and _is_word_char(text[end]):
            continue
        if len(name) >= 4 or name.lower() in _SHORT_USERNAMES:
            found.append((at_sign, end))


def _is_hashtag_char(char: str) -> bool:
    return char.isalnum() or char in "_\u200c\u00b7" or "\u0d80" <= char <= "\u0dff"


def _find_hashtags(text: str) -> list[tuple[int, int]]:
    """Approximation of TDLib ``match_hashtags``: ``#tag`` with at least one letter."""
    found: list[tuple[int, int]] = []
    size = len(text)
    pos = 0
    while True:
        hash_sign = text.find("#", pos)
        if hash_sign < 0:
            return found
        if hash_sign > 0 and _is_hashtag_char(text[hash_sign - 1]):
            pos = hash_sign + 1
            continue
        end = hash_sign + 1
        while end < size and _is_hashtag_char(text[end]):
            end += 1
        pos = max(end, hash_sign + 1)
        body = text[hash_sign + 1 : end]
        if not body or (end < size and text[end] == "#"):
            continue
        if not any(char.isalpha() for char in body):
            continue
        found.append((hash_sign, min(end, hash_sign + 1 + 256)))


def _find_urls(text: str) -> list[tuple[int, int]]:
    """Approximation of TDLib URL detection: explicit ``http(s)://`` or ``www.`` links."""
    found: list[tuple[int, int]] = []
    for match in _URL_RE.finditer(text):
        start, end = match.start(), match.end()
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in "@/"):
            continue
        while end > start and text[end - 1] in _URL_TRAILING:
            if text[end - 1] == ")" and text[start:end].count("(") >= text[start:end].count(")"):
                break
            end -= 1
        if check_link(text[start:end]) is not None:
            found.append((start, end))
    return found


def _find_emails(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for match in _EMAIL_RE.finditer(text):
        start = match.start()
        if start > 0 and (_is_word_char(text[start - 1]) or text[start - 1] in ".@"):
            continue
        found.append((start, match.end()))
    return found


_BLOCKING_ENTITY_TYPES: Final = frozenset({"code", "pre", "text_link", "text_mention"})


def detect_entities(text: str, existing: Iterable[Mapping[str, Any]] = ()) -> list[JSONDict]:
    """Entities Telegram finds by itself in plain text (bot commands, mentions, hashtags,
    URLs, e-mails) outside code/pre/text_link entities. Returns new entities only."""
    prefix = _utf16_prefix(text)
    blocked = [
        (int(entity["offset"]), int(entity["offset"]) + int(entity["length"]))
        for entity in existing
        if entity["type"] in _BLOCKING_ENTITY_TYPES
    ]
    taken: list[tuple[int, int]] = []
    found: list[JSONDict] = []
    finders: list[tuple[str, Callable[[str], list[tuple[int, int]]]]] = [
        ("url", _find_urls),
        ("email", _find_emails),
        ("bot_command", _find_bot_commands),
        ("mention", _find_mentions),
        ("hashtag", _find_hashtags),
    ]
    for kind, finder in finders:
        for start, end in finder(text):
            u_start, u_end = prefix[start], prefix[end]
            if any(u_start < b_end and b_start < u_end for b_start, b_end in blocked):
                continue
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append({"offset": u_start, "length": u_end - u_start, "type": kind})
    found.sort(key=_entity_sort_key)
    return found


_TRIM_CHARS: Final = " \t\r\n\v\f"


def _trim_formatted(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Telegram strips leading/trailing whitespace and clips entities to what remains."""
    stripped = text.strip(_TRIM_CHARS)
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIM_CHARS))])
    total = utf16_len(stripped)
    clipped: list[JSONDict] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - lead)
        end = min(total, int(entity["offset"]) + int(entity["length"]) - lead)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, clipped
