"""The simulated world around the bot: users, chats, membership, and user input turned into updates."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qs, urlsplit

from tests.fakes.telegram.constants import (
    _DEFAULT_EXCLUDED_UPDATES,
    START_PARAMETER,
    JSONDict,
    MemberStatus,
)
from tests.fakes.telegram.messages import _MessageRules
from tests.fakes.telegram.records import (
    FakeChat,
    FakeUser,
    SentMessage,
    _IssuedQuery,
    _StoredMessage,
)
from tests.fakes.telegram.text import _trim_formatted, detect_entities, entity_text

_TG_HOSTS: Final = frozenset({"t.me", "telegram.me", "www.t.me"})


class _World(_MessageRules):
    """World state (users, chats, membership) and the updates users cause."""

    # ---------------------------------------------------------------- world state

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
    ) -> FakeUser:
        """Register (or update) a user. Group members that were never added get a default."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = FakeUser(
            id=user_id,
            first_name=first_name if first_name is not None else f"User{user_id}",
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_bot=is_bot,
        )
        self.users[user_id] = user
        return user

    def _ensure_user(self, user_id: int) -> FakeUser:
        user = self.users.get(user_id)
        return user if user is not None else self.add_user(user_id)

    def add_private_chat(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
    ) -> FakeChat:
        """A private chat with a user (chat id == user id). ``started=False`` models a user who
        never opened the bot: sends then fail with "bot can't initiate conversation"."""
        user = self.add_user(
            user_id,
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = FakeChat(
            id=user_id,
            type="private",
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            user_id=user_id,
            started=started,
            members={user_id: "member", self.bot.id: "member"},
        )
        self._add_chat(chat)
        return chat

    def add_group(
        self,
        chat_id: int,
        title: str,
        admins: Iterable[int] = (),
        members: Iterable[int] = (),
        forum: bool = False,
        topics: Iterable[int] = (),
        *,
        creator: int | None = None,
        supergroup: bool | None = None,
        username: str | None = None,
        bot_status: MemberStatus = "member",
    ) -> FakeChat:
        """A basic group or a supergroup (inferred from a ``-100…`` id unless ``supergroup``
        is given). ``forum=True`` makes a forum whose topics are the given thread ids."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        is_super = (
            supergroup if supergroup is not None else (forum or str(chat_id).startswith("-100"))
        )
        if forum and not is_super:
            raise ValueError("only supergroups can be forums")
        chat = FakeChat(
            id=chat_id,
            type="supergroup" if is_super else "group",
            title=title,
            username=username,
            is_forum=forum,
            topics=set(topics),
        )
        if chat.topics and not forum:
            raise ValueError("topics need forum=True")
        self._fill_members(chat, creator, admins, members)
        chat.members[self.bot.id] = bot_status
        self._add_chat(chat)
        return chat

    def add_channel(
        self,
        chat_id: int,
        title: str,
        admins: Iterable[int] = (),
        *,
        creator: int | None = None,
        username: str | None = None,
        bot_is_admin: bool = True,
    ) -> FakeChat:
        """A channel. Bots can post only as administrators, hence ``bot_is_admin=True``."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative")
        chat = FakeChat(id=chat_id, type="channel", title=title, username=username)
        self._fill_members(chat, creator, admins, ())
        chat.members[self.bot.id] = "administrator" if bot_is_admin else "left"
        self._add_chat(chat)
        return chat

    def _fill_members(
        self, chat: FakeChat, creator: int | None, admins: Iterable[int], members: Iterable[int]
    ) -> None:
        if creator is not None:
            self._ensure_user(creator)
            chat.members[creator] = "creator"
        for user_id in admins:
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, "administrator")
        for user_id in members:
            self._ensure_user(user_id)
            chat.members.setdefault(user_id, "member")

    def _add_chat(self, chat: FakeChat) -> None:
        if chat.id in self.chats:
            raise ValueError(f"chat {chat.id} already exists")
        self.chats[chat.id] = chat
        self._history[chat.id] = {}

    def _chat(self, chat_id: int) -> FakeChat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ValueError(f"unknown chat {chat_id}; add it first")
        return chat

    def block_user(self, user_id: int, *, emit_update: bool = True) -> None:
        """The user blocks the bot: every later send to them gets 403 "bot was blocked by the
        user". Telegram also sends the bot a ``my_chat_member`` update (member → kicked)."""
        chat = self._chat(user_id)
        if chat.type != "private":
            raise ValueError("block_user needs a private chat id")
        chat.blocked = True
        if emit_update:
            self._emit_my_chat_member(chat, self.users[user_id], "member", "kicked")

    def unblock_user(self, user_id: int, *, emit_update: bool = True) -> None:
        """The user restarts the bot."""
        chat = self._chat(user_id)
        chat.blocked = False
        chat.started = True
        if emit_update:
            self._emit_my_chat_member(chat, self.users[user_id], "kicked", "member")

    def kick_bot_from(
        self, chat_id: int, *, by_user: int | None = None, emit_update: bool = True
    ) -> None:
        """Remove the bot from a group/supergroup/channel: later calls get 403 "bot was kicked
        from the … chat", and the bot receives a ``my_chat_member`` update."""
        chat = self._chat(chat_id)
        if chat.type == "private":
            raise ValueError("use block_user for private chats")
        old = chat.members.get(self.bot.id, "member")
        chat.members[self.bot.id] = "kicked"
        actor = self._chat_actor(chat, by_user)
        if emit_update and actor is not None:
            self._emit_my_chat_member(chat, actor, old, "kicked")

    def migrate_group(self, old_id: int, new_id: int, *, emit_updates: bool = True) -> FakeChat:
        """Upgrade a basic group to a supergroup. Sends to ``old_id`` then fail with 400 and
        ``parameters.migrate_to_chat_id`` (PTB raises ``ChatMigrated``)."""
        old = self._chat(old_id)
        if old.type != "group":
            raise ValueError("only basic groups can be migrated")
        if old.migrated_to is not None:
            raise ValueError("group already migrated")
        new = FakeChat(
            id=new_id,
            type="supergroup",
            title=old.title,
            members=dict(old.members),
            migrated_from=old_id,
        )
        self._add_chat(new)
        old.migrated_to = new_id
        actor = self._chat_actor(old, None)
        if emit_updates and actor is not None:
            date = self._now()
            self._enqueue(
                {
                    "message": {
                        "message_id": self._next_message_id(old),
                        "from": actor.to_dict(),
                        "chat": old.to_dict(),
                        "date": date,
                        "migrate_to_chat_id": new_id,
                    }
                },
                deliver=True,
            )
            self._enqueue(
                {
                    "message": {
                        "message_id": self._next_message_id(new),
                        "from": actor.to_dict(),
                        "chat": new.to_dict(),
                        "date": date,
                        "migrate_from_chat_id": old_id,
                    }
                },
                deliver=True,
            )
        return new

    def _chat_actor(self, chat: FakeChat, preferred: int | None) -> FakeUser | None:
        """Who performs an admin action: the given user, else creator, admin, member."""
        if preferred is not None:
            return self._ensure_user(preferred)
        for wanted in ("creator", "administrator", "member"):
            for user_id, status in chat.members.items():
                if status == wanted and user_id != self.bot.id:
                    return self.users[user_id]
        return None

    def _emit_my_chat_member(self, chat: FakeChat, actor: FakeUser, old: str, new: str) -> None:
        def member(status: str) -> JSONDict:
            if status == "administrator":
                return self._member_dict(chat, self.bot, "administrator")
            result: JSONDict = {"user": self.bot.to_dict(), "status": status}
            if status == "kicked":
                result["until_date"] = 0
            return result

        self._enqueue(
            {
                "my_chat_member": {
                    "chat": chat.to_dict(),
                    "from": actor.to_dict(),
                    "date": self._now(),
                    "old_chat_member": member(old),
                    "new_chat_member": member(new),
                }
            },
            deliver=True,
        )

    # ---------------------------------------------------------------- user input → updates

    def push_update(self, payload: JSONDict) -> JSONDict:
        """Queue any raw update body, e.g. ``{"edited_message": {...}}``; returns the update."""
        return self._enqueue(copy.deepcopy(payload), deliver=True)

    def send_text(
        self,
        chat_id: int,
        text: str,
        from_user: int | None = None,
        message_thread_id: int | None = None,
        *,
        reply_to_message_id: int | None = None,
    ) -> JSONDict:
        """A user writes ``text`` in a private chat or group; returns the ``message`` update.

        Entities are detected like Telegram does (``/cmd`` and ``/cmd@bot`` → ``bot_command``,
        URLs, mentions, hashtags). In groups the bot's privacy mode applies, unless it is an
        admin or ``can_read_all_group_messages``: only commands (plain or ``@this_bot``),
        mentions of the bot and replies to the bot are delivered; other messages are recorded
        in ``filtered_updates`` instead of the queue.
        """
        chat = self._chat(chat_id)
        if chat.type == "channel":
            raise ValueError("use channel_post() for channels")
        if chat.migrated_to is not None:
            raise ValueError(f"group {chat_id} was migrated to {chat.migrated_to}")
        user = self._sender(chat, from_user)
        if message_thread_id is not None and (
            not chat.is_forum or message_thread_id not in chat.topics
        ):
            raise ValueError(f"chat {chat_id} has no forum topic {message_thread_id}")
        plain, _ = _trim_formatted(text, [])
        if not plain:
            raise ValueError("Telegram clients do not send empty messages")
        entities = detect_entities(plain)
        message: JSONDict = {
            "message_id": self._next_message_id(chat),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": self._now(),
        }
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        replied_to_bot = False
        if reply_to_message_id is not None:
            stored = self._history[chat.id].get(reply_to_message_id)
            if stored is None or stored.deleted:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            message["reply_to_message"] = self._stored_json(stored, nested=True)
            replied_to_bot = stored.sent is not None
        message["text"] = plain
        if entities:
            message["entities"] = entities
        self._history[chat.id][message["message_id"]] = _StoredMessage(message, None)
        reason = None
        if chat.type == "private":
            if chat.blocked:
                self.unblock_user(chat.id)
            chat.started = True
        else:
            reason = self._privacy_filter_reason(chat, plain, entities, replied_to_bot)
        return self._enqueue({"message": message}, deliver=reason is None, reason=reason)

    def channel_post(
        self, chat_id: int, text: str, *, author_signature: str | None = None
    ) -> JSONDict:
        """A post in a channel (``sender_chat`` set, no ``from``); bots get these only as
        channel administrators."""
        chat = self._chat(chat_id)
        if chat.type != "channel":
            raise ValueError(f"chat {chat_id} is not a channel")
        plain, _ = _trim_formatted(text, [])
        entities = detect_entities(plain)
        post: JSONDict = {
            "message_id": self._next_message_id(chat),
            "sender_chat": chat.to_dict(),
            "chat": chat.to_dict(),
            "date": self._now(),
        }
        if author_signature:
            post["author_signature"] = author_signature
        post["text"] = plain
        if entities:
            post["entities"] = entities
        self._history[chat.id][post["message_id"]] = _StoredMessage(post, None)
        bot_status = chat.members.get(self.bot.id, "left")
        reason = (
            None if bot_status in ("administrator", "creator") else "bot is not a channel admin"
        )
        return self._enqueue({"channel_post": post}, deliver=reason is None, reason=reason)

    def press_button(
        self, message: SentMessage, callback_data: str, from_user: int | None = None
    ) -> JSONDict:
        """A user presses an inline button of a bot message; returns the ``callback_query``
        update. Only buttons that exist on the message (as currently edited) can be pressed."""
        chat = self._chat(message.chat_id)
        if message.deleted:
            raise ValueError("the message was deleted")
        if callback_data not in message.callback_data:
            raise ValueError(
                f"message {message.message_id} has no button with callback_data "
                f"{callback_data!r}; it has {message.callback_data!r}"
            )
        user = (
            self._sender(chat, from_user)
            if chat.type != "channel"
            else self._require_user(from_user)
        )
        query_id = self._new_query_id()
        self._callback_queries[query_id] = _IssuedQuery(user.id, callback_data)
        query: JSONDict = {
            "id": query_id,
            "from": user.to_dict(),
            "message": self._sent_json(message),
            "chat_instance": str(-(abs(chat.id) ^ self.bot.id)),
            "data": callback_data,
        }
        return self._enqueue({"callback_query": query}, deliver=True)

    def forward_message(self, message: SentMessage, to_chat_id: int, from_user: int) -> JSONDict:
        """A user forwards a bot message by hand to another chat; returns the copy (a
        ``message`` update when the bot is there to see it, else only kept in that chat).

        As Telegram does, the copy keeps the text and only the URL buttons: callback buttons
        never travel with a forward, so nobody can press one on a copy.
        """
        chat = self._chat(to_chat_id)
        user = self._sender(chat, from_user)
        copied: JSONDict = {
            "message_id": self._next_message_id(chat),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": self._now(),
            "forward_origin": {
                "type": "user",
                "sender_user": self.bot.to_dict(),
                "date": message.date,
            },
            "text": message.text,
        }
        if message.entities:
            copied["entities"] = copy.deepcopy(message.entities)
        rows = [
            [b for b in row if "url" in b]
            for row in (message.reply_markup or {}).get("inline_keyboard", [])
        ]
        if any(rows):
            copied["reply_markup"] = {"inline_keyboard": [row for row in rows if row]}
        self._history[chat.id][copied["message_id"]] = _StoredMessage(copied, None)
        reason = (
            None
            if chat.type == "private"
            else self._privacy_filter_reason(chat, message.text, [], False)
        )
        self._enqueue({"message": copied}, deliver=reason is None, reason=reason)
        return copied

    def open_link(self, user_id: int, url: str) -> JSONDict:
        """A user taps a ``https://t.me/<bot>?start=<payload>`` link (a URL button, say) and
        presses Start; returns the ``/start`` message update of their private chat.

        As Telegram's clients do, the chat is opened (and started) if it never was, and a
        ``start`` parameter they would not accept (not 1-64 of ``A-Z a-z 0-9 _ -``) is dropped:
        the bot then gets a plain ``/start``. A link to another bot or site is refused.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or parts.netloc.lower() not in _TG_HOSTS:
            raise ValueError(f"{url!r} is no t.me link")
        name = parts.path.strip("/")
        if name.lower() != (self.bot.username or "").lower():
            raise ValueError(f"{url!r} opens @{name}, not this bot (@{self.bot.username})")
        start = parse_qs(parts.query).get("start", [""])[0]
        chat = self.chats.get(user_id)
        if chat is None:
            user = self._ensure_user(user_id)
            chat = self.add_private_chat(user_id, user.first_name, username=user.username)
        text = f"/start {start}" if START_PARAMETER.fullmatch(start) else "/start"
        return self.send_text(chat.id, text, user_id)

    def inline_query(
        self,
        from_user: int,
        query: str,
        offset: str = "",
        *,
        chat_type: str | None = "sender",
    ) -> JSONDict:
        """A user types ``@bot query``; returns the ``inline_query`` update."""
        if not self.supports_inline_queries:
            raise ValueError("inline mode is off for this bot (supports_inline_queries=False)")
        user = self._require_user(from_user)
        query_id = self._new_query_id()
        self._inline_queries[query_id] = _IssuedQuery(user.id, query)
        body: JSONDict = {"id": query_id, "from": user.to_dict(), "query": query, "offset": offset}
        if chat_type is not None:
            body["chat_type"] = chat_type
        return self._enqueue({"inline_query": body}, deliver=True)

    def _require_user(self, user_id: int | None) -> FakeUser:
        if user_id is None:
            raise ValueError("from_user is required here")
        return self._ensure_user(user_id)

    def _sender(self, chat: FakeChat, from_user: int | None) -> FakeUser:
        if chat.type == "private":
            if from_user is not None and from_user != chat.user_id:
                raise ValueError(f"only user {chat.user_id} writes in private chat {chat.id}")
            assert chat.user_id is not None
            return self.users[chat.user_id]
        if from_user is None:
            raise ValueError("from_user is required in groups")
        status = chat.members.get(from_user)
        if status in ("left", "kicked"):
            raise ValueError(f"user {from_user} is not in chat {chat.id} ({status})")
        user = self._ensure_user(from_user)
        if status is None:
            chat.members[from_user] = "member"
        return user

    def _privacy_filter_reason(
        self, chat: FakeChat, text: str, entities: list[JSONDict], replied_to_bot: bool
    ) -> str | None:
        """Why a group message would not reach the bot (None: it does)."""
        bot_status = chat.members.get(self.bot.id, "member")
        if bot_status in ("left", "kicked"):
            return f"bot is {bot_status}"
        if self.can_read_all_group_messages or bot_status in ("administrator", "creator"):
            return None
        if replied_to_bot:
            return None
        me = self.bot_username.lower()
        for entity in entities:
            covered = entity_text(text, entity)
            if entity["type"] == "bot_command":
                _, _, target = covered.partition("@")
                if target:
                    if target.lower() == me:
                        return None
                elif entity["offset"] == 0:
                    return None
            elif entity["type"] == "mention" and covered[1:].lower() == me:
                return None
        return "privacy mode: not a command, mention or reply for this bot"

    def _new_query_id(self) -> str:
        self._query_counter += 1
        return f"{self.bot.id}{self._query_counter:08d}"

    def _next_message_id(self, chat: FakeChat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _enqueue(self, payload: JSONDict, *, deliver: bool, reason: str | None = None) -> JSONDict:
        update: JSONDict = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        kind = next(key for key in payload)
        if deliver and not self._is_allowed(kind):
            deliver, reason = False, f"{kind} not in allowed_updates"
        if deliver:
            self._updates.append(update)
            for poller in list(self._pollers):
                poller.event.set()
        else:
            self.filtered_updates.append((update, reason or "filtered"))
        self._notify()
        return update

    def _is_allowed(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed (getUpdates) or delivered (webhook)."""
        return list(self._updates)

    @property
    def active_long_polls(self) -> int:
        """How many getUpdates calls are currently waiting."""
        return len(self._pollers)

    def _member_dict(self, chat: FakeChat, user: FakeUser, status: str) -> JSONDict:
        """A ``ChatMember`` object; administrators carry Telegram's full rights set."""
        result: JSONDict = {"user": user.to_dict(), "status": status}
        if status == "creator":
            result["is_anonymous"] = False
        elif status == "administrator":
            result.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=True,
                can_edit_stories=True,
                can_delete_stories=True,
            )
            if chat.type == "channel":
                result.update(can_post_messages=True, can_edit_messages=True)
            else:
                result["can_pin_messages"] = True
            if chat.type == "supergroup":
                result["can_manage_topics"] = chat.is_forum
        elif status == "kicked":
            result["until_date"] = 0
        elif status == "restricted":
            result.update(
                is_member=True,
                can_send_messages=False,
                can_send_audios=False,
                can_send_documents=False,
                can_send_photos=False,
                can_send_videos=False,
                can_send_video_notes=False,
                can_send_voice_notes=False,
                can_send_polls=False,
                can_send_other_messages=False,
                can_add_web_page_previews=False,
                can_change_info=False,
                can_invite_users=False,
                can_pin_messages=False,
                can_manage_topics=False,
                can_edit_tag=False,
                until_date=0,
            )
        return result
