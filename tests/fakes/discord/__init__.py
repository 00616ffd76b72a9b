"""A small but faithful fake of Discord (REST API + websocket gateway) for tests.

Why this exists
===============
Mocking ``discord.Interaction`` only proves that our code calls the mock the way the
test author imagined.  This module instead runs *one* aiohttp server on 127.0.0.1
(random free port) that speaks Discord's wire protocol, so the **real, unmodified**
discord.py 2.7 ``discord.Client`` with an ``app_commands.CommandTree`` logs in,
identifies on the gateway, receives ``INTERACTION_CREATE`` and answers through exactly
the HTTP calls it would make against discord.com.  The fake records what Discord would
have received (payloads, ``flags``, ``allowed_mentions``, response latency) and answers
with Discord's real status codes, JSON error codes/messages and headers, so that the
library's own machinery (rate-limit buckets and 429 retries, ``Forbidden``/``NotFound``
mapping, ``50035 Invalid Form Body`` parsing) is exercised instead of bypassed.

It never imports discord.py: it is an independent model of the API, written from the
API documentation and from what discord.py 2.7.1 sends and parses.  It only ever binds
and links to loopback addresses.

Pointing discord.py at the fake (both attributes are read at use time)::

    discord.http.Route.BASE = fake.root + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

Restore both afterwards.  A plain ``Client`` never calls ``/gateway/bot``;
``AutoShardedClient`` does, and both are served.  Close the client *before* stopping
the fake, otherwise discord.py sees close code 1001 and starts reconnecting.

Test-facing API (every coroutine must run on the loop that started the fake)
=============================================================================
Lifecycle / addresses
    ``FakeDiscord(*, token=None, application_id=None, bot_username="dlw-bot",
    heartbeat_interval=41.25, interaction_ack_timeout=3.0, interaction_token_ttl=900.0,
    allowed_privileged_intents=0, shard_count=1, default_rate_limit=(50, 1.0),
    global_rate_limit=None, install_types=(0, 1), crosspost_limit=(10, 3600.0))``;
    ``await start()`` / ``await stop()`` / ``async with FakeDiscord() as fake``;
    ``.root`` (``http://127.0.0.1:PORT``), ``.gateway_url`` (``ws://127.0.0.1:PORT/``),
    ``.resume_gateway_url``, ``.token``, ``.application_id``, ``.bot_user`` (JSON).
World
    ``add_guild(guild_id, name, channels=[id | (id, name)], threads=[(thread_id,
    parent_id)], members=[user_id], *, bot_permissions=DEFAULT_BOT_PERMISSIONS,
    everyone_permissions=DEFAULT_MEMBER_PERMISSIONS, owner_id=None)``,
    ``add_user(user_id, username, dms_open=True)``, ``deny_bot(channel_id, permissions)``
    (channel overwrite against the bot: no VIEW_CHANNEL -> 403/50001 "Missing Access", no
    SEND_MESSAGES -> 403/50013 "Missing Permissions"), ``remove_channel(channel_id)`` (-> 404/10003),
    ``add_channel(guild_id, channel_id, name, *, type=0|5|15|16, tags=[(id, name[, moderated])],
    require_tag=False)`` (announcement, forum and media channels),
    ``add_private_channel(channel_id, members, *, name=None)`` (a DM between users or a group DM,
    where the bot is no member), ``install_for_user(user_id)`` (user install),
    ``threads_in(forum_id)`` (a forum's posts).
Interactions (each returns an :class:`InteractionRecord` as soon as it is dispatched)
    ``await invoke_slash(name, options=None, *, guild_id=None, channel_id=None,
    user_id=None, permissions=DEFAULT_MEMBER_PERMISSIONS, in_dm=False, locale="en-US",
    private_channel=None)`` (``private_channel``: context 2, user-installed commands only),
    ``await invoke_autocomplete(name, options, *, focused, ...)``,
    ``await press_component(message, custom_id, *, values=None, ...)``,
    ``await submit_modal(interaction, values, *, ...)``.  Records expose ``callbacks``
    (type, data, ``elapsed`` since dispatch, status), ``response`` /
    ``response_type`` / ``response_time``, ``followups``, ``original``,
    ``original_edits`` and ``events`` (every successful thing the bot did, in order).
Gateway control
    ``await wait_until_identified(timeout=5.0)`` (does *not* wait for ``on_ready``,
    which discord.py only fires ``guild_ready_timeout`` = 2 s after the last
    GUILD_CREATE), ``.sessions``, ``.gateway_connections``,
    ``await request_reconnect()`` (op 7), ``await invalidate_session(resumable=False)``
    (op 9), ``await drop_connection(code=4000)``,
    ``await post_user_message(channel_id, user_id, content)`` (MESSAGE_CREATE gated by
    the MESSAGE_CONTENT intent the way Discord gates it),
    ``await sync_with_client()`` (asks the client for a heartbeat and waits for it: a
    barrier used before simulated clicks so the bot has stored its views).
Observation
    ``.requests`` (every REST request: method, path, query, json, files, status),
    ``requests_to(method, path_regex)``, ``channel_messages(channel_id)``,
    ``dm_messages(user_id)``, ``.messages``, ``.interactions``, ``.command_syncs`` /
    ``sync_count(guild_id=...)``, ``registered_commands(guild_id=None)``,
    ``await wait_for(predicate, timeout=5.0)`` (wakes on every recorded event via an
    ``asyncio.Condition``; never polls; raises ``AssertionError`` with a summary of
    recent traffic on timeout; for REST requests waiters wake only after the response
    has been written, so the client has it), ``await wait_for_response(interaction,
    count=1)``, ``summary()``.
Failure injection
    ``fail_next(method, path_regex, *, status, code=None, message=None,
    retry_after=None, times=1, scope="user", via=True, errors=None)``
    (``path_regex`` is ``re.fullmatch``-ed against the path after ``/api/v10``; 429s
    carry ``Via`` and X-RateLimit-* headers unless ``via=False``, which is what a
    Cloudflare ban looks like; ``scope="global"`` makes a global 429),
    ``rate_limit(route_regex, per_second, *, window=1.0, method=None)`` (a real bucket:
    discord.py sees the headers and pre-emptively waits).
Protocol violations
    Discord silently ignores body fields it does not know and flags a bot may not set, so a
    misspelling would pass in production. Bodies of every endpoint the fake serves are
    checked against tables derived from Discord's OpenAPI document (``spec.py``, see its
    docstring for the version): unknown fields and unsettable flags are appended to
    ``protocol_violations``, and leaving ``async with FakeDiscord()`` with any recorded fails
    the test; ``take_violations()`` reads (and clears) them for tests that expect some.

What is modelled
================
* Gateway v10: HELLO (op 10) with ``heartbeat_interval``; heartbeats (op 1 -> op 11,
  also before IDENTIFY); IDENTIFY (op 2) -> READY (``v``, ``user``, unavailable
  ``guilds``, ``session_id``, ``resume_gateway_url`` pointing back at the fake,
  ``application {id, flags}``, ``shard`` when sharded) then one GUILD_CREATE per guild
  of that shard (channels, threads, roles, the bot member, ``large=false``), sequence
  numbers; RESUME (op 6) replays missed dispatches then RESUMED, unknown/invalidated
  sessions get op 9 ``false``; clean closes (1000/1001) invalidate the session like
  Discord does; close codes 4001
  (unknown opcode), 4002 (decode error), 4003 (not authenticated), 4004 (bad token),
  4005 (already authenticated), 4010 (invalid shard), 4012 (API version), 4013
  (invalid intents), 4014 (privileged intents not enabled for the application, see
  ``allowed_privileged_intents``).  Frames are sent as TEXT JSON frames: discord.py asks
  for ``compress=zlib-stream`` but only inflates BINARY frames.
* REST: JSON bodies with ``Content-Type: application/json`` exactly (discord.py only
  parses that), multipart bodies (``payload_json`` + ``files[n]``), ``Via`` and
  X-RateLimit-{Limit,Remaining,Reset,Reset-After,Bucket} on every routed response,
  X-RateLimit-Scope/Global + ``Retry-After`` on 429s, bot-token auth (401), snowflake
  path validation, 404/405 for unknown routes/methods, API version check (50041).
* Message validation like Discord (400/50035 with the nested ``errors`` tree, or
  50006 "Cannot send an empty message"): content <= 2000, <= 10 embeds, title <= 256,
  description <= 4096, <= 25 fields, field name <= 256 / value <= 1024 (both required),
  footer <= 2048, author name <= 256, <= 6000 characters over all embeds
  (``MAX_EMBED_SIZE_EXCEEDED``), <= 5 action rows of <= 5 components, custom_id <= 100,
  label <= 80, ``allowed_mentions`` parse/list exclusivity; ``mentions`` /
  ``mention_everyone`` in returned messages honour ``allowed_mentions``.  From the OpenAPI
  tables: JSON types, required fields, enums (``allowed_mentions.parse`` users/roles/everyone,
  button styles, option types), bounds (embed ``color`` 0..0xFFFFFF) and formats (embed and
  button ``url``, embed ``timestamp`` ISO 8601, snowflakes).  Component layout: only action
  rows at the top (classic messages), no rows in rows, select menus alone in a row; buttons:
  custom_id for styles 1-4, url (and no custom_id) for links, sku_id for premium, a label or
  emoji, custom_ids unique in a message.
* Application commands: bulk overwrite (PUT) with Discord's validation (names
  ``^[-_'\\p{L}\\p{N}]{1,32}$`` lowercase, descriptions 1-100, <= 25 options/choices,
  required-before-optional, unique names, 4000-character size, 100 commands), stable
  ids across re-syncs, every PUT recorded.
* Interactions: callback types 4/5/6/7/8/9 with per-interaction-type allowed sets,
  40060 "Interaction has already been acknowledged.", 10062 "Unknown interaction" after
  ``interaction_ack_timeout`` (3 s), ``with_response`` -> InteractionCallbackResponse
  (``interaction`` + ``resource``; ``message`` only for types 4 and 7, as documented),
  followups (``wait`` is always true; the first followup after a type-5 defer edits the
  loading message, as Discord documents), @original and followup GET/PATCH/DELETE,
  10015 "Unknown Webhook" before acknowledgement, 50027 after the 15-minute token TTL.
* DMs: POST /users/@me/channels always succeeds; sending to a user with closed DMs
  returns 403/50007 "Cannot send messages to this user".
* User install: the application's ``integration_types_config`` follows ``install_types``; a
  command sync asking for an install type the application does not offer is refused (50035 at
  ``integration_types``). Commands are offered per ``contexts`` (0 guild, 1 the bot's DM, 2 other
  DMs and group DMs) and ``integration_types``: in a private channel only a user-installed
  command, and only to a user who installed the app. Interactions carry ``context`` and
  ``authorizing_integration_owners`` ("0": the guild id, or "0" in the bot's DM; "1": the
  installing user). The bot can't post in a private channel (403/50001); interaction responses
  and followups work there.
* Announcement channels (type 5): POST .../messages/{id}/crosspost needs SEND_MESSAGES for the
  bot's own messages and MANAGE_MESSAGES as well for others' (403/50013), publishes once
  (400/40033), only in announcement channels (400/50024), 10 an hour per channel (a 429 whose
  ``retry_after`` runs to the end of the window, not announced in the route's headers). The
  message's CROSSPOSTED flag is set.
* Forum and media channels (15, 16): POST /channels/{id}/threads with ``name`` and ``message``
  (checked against ``CreateForumThreadRequest``) needs SEND_MESSAGES; ``applied_tags`` must be
  the forum's own tag ids (else 50035 at ``applied_tags``), at most 5, moderated ones only with
  MANAGE_THREADS (403/50013); a REQUIRE_TAG forum refuses a post without a tag (400/40067). The
  starter message has the thread's id; the rest goes into the thread (SEND_MESSAGES_IN_THREADS).
  Plain messages to a forum are refused (400/50008); commands can't be invoked in the forum itself,
  only in its posts.
* Gateway MESSAGE_CREATE/UPDATE/DELETE for messages the bot sends (GUILD_MESSAGES /
  DIRECT_MESSAGES intents), as Discord echoes the bot's own messages.

Limits (cannot be faked faithfully, or deliberately not modelled)
================================================================
* Only the JSON gateway encoding; ``encoding=etf`` is closed with 4002 and payload
  compression is never applied (TEXT frames only).
* Interaction callback ``resource`` for types 5/6/8/9 is returned as ``{"type": N}``;
  Discord documents ``message`` only for types 4/7 and the live shape of the others
  is unverified here.
* The 50035 ``errors`` codes for an unsupported integration type and an unknown forum tag
  (``APPLICATION_COMMAND_INTEGRATION_TYPE_NOT_SUPPORTED``, ``CHANNEL_TAG_INVALID``) and the code
  for crossposting outside an announcement channel are best-effort; the refusals are Discord's.
  Following channels, and what followers receive, are not modelled: a crosspost only sets the flag.
* The exact error bodies for invalid callback types (modelled as 50035
  ``BASE_TYPE_CHOICES``), for DMs to unknown users (modelled as 404/10013) and for
  foreign application ids (modelled as 403/20012) are best-effort, as are the 50035
  ``errors`` codes of the spec-derived and component checks (``URL_TYPE_INVALID_URL``,
  ``NUMBER_TYPE_MAX``, ``COMPONENT_URL_NOT_ALLOWED``...): the path and the refusal are
  Discord's, the exact code wording is not verified.  Whether Discord refuses or drops an
  unsettable flag is not verified either: the fake keeps the settable bits and reports.
* String lengths are counted in Python code points; Discord's counting of astral-plane
  characters is not verified.  Markdown, link previews, unfurled embeds, polls, stickers,
  attachments as command options, subcommands in ``invoke_slash`` options dicts,
  audit-log reasons, sub-rate-limits and shared buckets across routes, gateway
  send-rate limiting (120/60 s) and server-side heartbeat-timeout closes are not
  modelled.
* Permissions are a flat model: @everyone + the bot's managed role + one per-channel
  deny overwrite for the bot; invoking members carry whatever ``permissions`` the test
  passes.  Without embed/attach permission Discord's silent embed stripping is not
  modelled (missing ATTACH_FILES is a 403/50013).
* Timing: real network latency, Cloudflare edge behaviour and global-command
  propagation delays cannot be reproduced.  The fake cannot observe when discord.py
  has *finished* handling an HTTP response (e.g. stored a view), only when the bytes
  were written; ``sync_with_client`` narrows that gap with a gateway round trip but is
  a barrier by convention, not a guarantee.

Layout
======
``protocol`` (constants), ``errors``, ``records`` (what tests assert on), ``validation``
(message and command rules), ``payloads`` (objects Discord returns), ``gateway``, ``interactions``
(users acting), ``rest`` (routing, buckets, failures), ``handlers`` / ``webhooks`` (endpoints),
``core`` (state, world building, observation), ``server`` (the assembled :class:`FakeDiscord`).
The layers form one inheritance chain, ``core`` <- ``payloads`` <- ``gateway`` <- ``handlers``
<- ``webhooks`` <- ``interactions`` <- ``rest`` <- ``server``, each using only those below it.
"""

from tests.fakes.discord.errors import DiscordHTTPError
from tests.fakes.discord.protocol import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    CHANNEL_GUILD_ANNOUNCEMENT,
    CHANNEL_GUILD_FORUM,
    CHANNEL_GUILD_MEDIA,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    EMBED_LINKS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_PRESENCES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    MANAGE_MESSAGES,
    MANAGE_THREADS,
    MENTION_EVERYONE,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    PRIVILEGED_INTENTS,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
)
from tests.fakes.discord.records import (
    AttachmentRecord,
    CallbackRecord,
    ChannelRecord,
    CommandSync,
    ForumTag,
    GatewayConnection,
    GatewaySession,
    GuildRecord,
    InteractionRecord,
    MessageRecord,
    RequestRecord,
    ResponseEvent,
    UserRecord,
)
from tests.fakes.discord.server import FakeDiscord

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "CHANNEL_GUILD_ANNOUNCEMENT",
    "CHANNEL_GUILD_FORUM",
    "CHANNEL_GUILD_MEDIA",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_MEMBER_PERMISSIONS",
    "EMBED_LINKS",
    "INTENT_GUILDS",
    "INTENT_GUILD_MEMBERS",
    "INTENT_GUILD_PRESENCES",
    "INTENT_MESSAGE_CONTENT",
    "MANAGE_MESSAGES",
    "MANAGE_THREADS",
    "MENTION_EVERYONE",
    "MESSAGE_FLAG_EPHEMERAL",
    "MESSAGE_FLAG_LOADING",
    "PRIVILEGED_INTENTS",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "VIEW_CHANNEL",
    "AttachmentRecord",
    "CallbackRecord",
    "ChannelRecord",
    "CommandSync",
    "DiscordHTTPError",
    "FakeDiscord",
    "ForumTag",
    "GatewayConnection",
    "GatewaySession",
    "GuildRecord",
    "InteractionRecord",
    "MessageRecord",
    "RequestRecord",
    "ResponseEvent",
    "UserRecord",
]
