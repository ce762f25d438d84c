"""A fake Discord for the tests: the REST API under /api/v10 and the gateway websocket, served on
127.0.0.1 by aiohttp, so that the real discord.py client runs against it. It records every REST
call and every gateway payload so tests can assert on them.

Point discord.py at it with
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

It behaves like Discord where discord.py (or an adapter) can tell the difference:
- JSON responses carry exactly ``Content-Type: application/json`` (discord.py only parses that);
- rate limits are real 429s (with ``Via`` and the X-RateLimit-* headers) that discord.py retries;
- the gateway speaks zlib-stream (binary frames, one shared deflate stream, Z_SYNC_FLUSH per
  payload) when the client asks for it, supports HEARTBEAT, IDENTIFY, RESUME (replaying missed
  dispatches), and closes with 4004 / 4014 for a rejected token / disallowed intents;
- messages are validated (empty, over 2000 characters, embed and component limits), and a thread
  started from a message has the message's id, as on Discord;
- interactions must be answered within ``interaction_deadline`` seconds, only once, and their
  followups / @original need an acknowledged interaction (a deferred one is completed by the first
  followup);
- without the message-content intent, guild messages that do not mention the bot arrive empty.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import json
import math
import re
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from aiohttp import WSMsgType, web

API_PREFIX = "/api/v10"
DISCORD_EPOCH = 1420070400000  # ms

# realistic snowflakes (time-ordered like Discord's)
BOT_ID = 1085131932938928128          # the bot user
APP_ID = BOT_ID                        # on Discord the application id is the bot user's id
GUILD = 905150567083540480             # "Kettlebird" guild (also the @everyone role id)
CATEGORY = 905150567091929088          # "Text Channels" category
GENERAL = 905150567100317696           # #general, text channel
SUPPORT = 932938302250680320           # #support, text channel
SUPPORT_ROLE = 932938631457406976      # "Support" role
BOT_ROLE = 1085133050951630848         # the bot's managed role
CUSTOMER = 602955817670541312          # a human customer
AGENT = 430433737113731072             # a human support agent (has the Support role)
OWNER = 186753797333319680             # guild and application owner
OTHER_BOT = 750324075724931072         # some other bot in the guild
DM_CHANNEL = 1205881491536609280       # the DM channel between CUSTOMER and the bot

MESSAGE_CONTENT_INTENT = 1 << 15
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19  # application flag: the toggle is on in the portal
EPHEMERAL = 1 << 6
LOADING = 1 << 7

# permissions
_P = {"add_reactions": 6, "view_channel": 10, "send_messages": 11, "embed_links": 14,
      "attach_files": 15, "read_message_history": 16, "mention_everyone": 17,
      "use_external_emojis": 18, "manage_messages": 13, "manage_threads": 34,
      "create_public_threads": 35, "create_private_threads": 36, "send_messages_in_threads": 38,
      "use_application_commands": 31, "connect": 20, "speak": 21, "change_nickname": 26}


def _perms(*names: str) -> str:
    return str(sum(1 << _P[n] for n in names))


EVERYONE_PERMS = _perms("add_reactions", "view_channel", "send_messages", "embed_links",
                        "attach_files", "read_message_history", "use_external_emojis",
                        "create_public_threads", "create_private_threads",
                        "send_messages_in_threads", "use_application_commands", "connect",
                        "speak", "change_nickname")
BOT_PERMS = _perms("add_reactions", "view_channel", "send_messages", "embed_links",
                   "attach_files", "read_message_history", "manage_messages", "manage_threads",
                   "create_public_threads", "send_messages_in_threads")
SUPPORT_PERMS = _perms("manage_messages", "manage_threads", "mention_everyone")

_increment = itertools.count(1)


def snowflake(at: datetime | None = None) -> int:
    """A new snowflake for `at` (default now), unique within the process."""
    ms = int((at or datetime.now(timezone.utc)).timestamp() * 1000)
    return ((ms - DISCORD_EPOCH) << 22) | (1 << 17) | (next(_increment) & 0xFFF)


def snowflake_time(value: int | str) -> datetime:
    return datetime.fromtimestamp(((int(value) >> 22) + DISCORD_EPOCH) / 1000, timezone.utc)


def iso(at: datetime | None = None) -> str:
    """Discord's timestamp format: 2024-02-10T14:22:31.777000+00:00."""
    return (at or datetime.now(timezone.utc)).isoformat(timespec="microseconds")


def mention(user_id: int | str) -> str:
    return f"<@{user_id}>"


def role_mention(role_id: int | str) -> str:
    return f"<@&{role_id}>"


# --- realistic payloads ----------------------------------------------------------------------

def user(user_id: int, username: str, global_name: str | None = None, *, bot: bool = False,
         avatar: str | None = None) -> dict:
    """A v10 user object (new username system: discriminator "0")."""
    data = {"id": str(user_id), "username": username, "avatar": avatar, "discriminator": "0",
            "public_flags": 0, "flags": 0, "banner": None, "accent_color": None,
            "global_name": global_name, "avatar_decoration_data": None, "collectibles": None,
            "display_name_styles": None, "banner_color": None, "clan": None,
            "primary_guild": None}
    if bot:
        data["bot"] = True
        data["global_name"] = None
        data["public_flags"] = 0
    return data


def bot_user() -> dict:
    data = user(BOT_ID, "babeldesk", bot=True, avatar="3f5a1e9b2c4d6e8f0a1b2c3d4e5f6a7b")
    return data


def customer_user() -> dict:
    return user(CUSTOMER, "marta.k", "Marta K.", avatar="a_91c3e5f7b9d1f3a5c7e9b1d3f5a7c9e1")


def agent_user() -> dict:
    return user(AGENT, "jonas_support", "Jonas (Support)")


def owner_user() -> dict:
    return user(OWNER, "kettlebird_owner", "Ada")


def other_bot_user() -> dict:
    return user(OTHER_BOT, "ReplyBot", bot=True)


KNOWN_USERS: dict[int, Callable[[], dict]] = {
    BOT_ID: bot_user, CUSTOMER: customer_user, AGENT: agent_user, OWNER: owner_user,
    OTHER_BOT: other_bot_user}


def _as_user(value: int | str | dict) -> dict:
    if isinstance(value, dict):
        return value
    maker = KNOWN_USERS.get(int(value))
    return maker() if maker else user(int(value), f"user{str(value)[-4:]}")


def member(user_obj: dict | None = None, roles: list[int] | None = None, *,
           joined_at: str | None = None, nick: str | None = None) -> dict:
    """A guild member object: with `user_obj` as in GUILD_CREATE, without as in MESSAGE_CREATE."""
    data = {"avatar": None, "banner": None, "communication_disabled_until": None, "deaf": False,
            "flags": 0, "joined_at": joined_at or "2022-03-04T11:22:33.444000+00:00",
            "mute": False, "nick": nick, "pending": False, "premium_since": None,
            "roles": [str(r) for r in (roles or [])]}
    if user_obj is not None:
        data["user"] = user_obj
    return data


def _member_roles(user_id: int) -> list[int]:
    return {BOT_ID: [BOT_ROLE], AGENT: [SUPPORT_ROLE]}.get(int(user_id), [])


def role(role_id: int, name: str, *, permissions: str = "0", position: int = 1,
         color: int = 0, hoist: bool = False, mentionable: bool = False,
         managed: bool = False, tags: dict | None = None) -> dict:
    data = {"id": str(role_id), "name": name, "description": None, "permissions": permissions,
            "position": position, "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": hoist, "managed": managed, "mentionable": mentionable, "icon": None,
            "unicode_emoji": None, "flags": 0}
    if tags is not None:
        data["tags"] = tags
    return data


def text_channel(channel_id: int, name: str, *, position: int = 0,
                 parent_id: int | None = CATEGORY, topic: str | None = None,
                 guild_id: int | None = None, overwrites: list | None = None) -> dict:
    """A GUILD_TEXT channel (type 0). GUILD_CREATE omits guild_id; REST includes it."""
    data = {"id": str(channel_id), "type": 0, "last_message_id": None, "flags": 0,
            "name": name, "parent_id": str(parent_id) if parent_id else None, "topic": topic,
            "position": position, "rate_limit_per_user": 0, "nsfw": False,
            "permission_overwrites": overwrites if overwrites is not None else [],
            "default_thread_rate_limit_per_user": 0, "default_auto_archive_duration": 1440,
            "icon_emoji": None, "theme_color": None, "version": 1707574951777}
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


def category_channel(channel_id: int, name: str, *, position: int = 0) -> dict:
    return {"id": str(channel_id), "type": 4, "flags": 0, "name": name, "parent_id": None,
            "position": position, "permission_overwrites": [], "version": 1635875112079}


def dm_channel(channel_id: int = DM_CHANNEL, recipient: int | dict = CUSTOMER) -> dict:
    """A DM channel (type 1) as GET /channels/{id} or POST /users/@me/channels return it."""
    return {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
            "recipients": [_as_user(recipient)]}


def thread_channel(thread_id: int, name: str, parent_id: int = SUPPORT, *,
                   owner_id: int = BOT_ID, guild_id: int = GUILD, type: int = 11,
                   auto_archive_duration: int = 1440, rate_limit_per_user: int = 0,
                   message_count: int = 0, member_count: int = 1,
                   with_member: bool = True) -> dict:
    """A thread channel (type 11 public, 12 private) as Discord returns it."""
    now = iso()
    data = {"id": str(thread_id), "type": type, "last_message_id": None, "flags": 0,
            "guild_id": str(guild_id), "name": name, "parent_id": str(parent_id),
            "rate_limit_per_user": rate_limit_per_user, "bitrate": 64000, "user_limit": 0,
            "rtc_region": None, "owner_id": str(owner_id),
            "thread_metadata": {"archived": False, "archive_timestamp": now,
                                "auto_archive_duration": auto_archive_duration,
                                "locked": False, "create_timestamp": now},
            "message_count": message_count, "member_count": member_count,
            "total_message_sent": message_count, "member_ids_preview": [str(owner_id)]}
    if type == 12:
        data["thread_metadata"]["invitable"] = True
    if with_member:
        data["member"] = {"id": str(thread_id), "user_id": str(BOT_ID), "join_timestamp": now,
                          "flags": 1, "muted": False, "mute_config": None}
    return data


def thread_create(name: str, parent_id: int = SUPPORT, *, thread_id: int | None = None,
                  owner_id: int = CUSTOMER, newly_created: bool = True) -> dict:
    """A THREAD_CREATE dispatch body (someone else opened a thread; the bot can see it)."""
    data = thread_channel(thread_id or snowflake(), name, parent_id, owner_id=owner_id,
                          with_member=False)
    if newly_created:
        data["newly_created"] = True
    return data


def guild_create(*, name: str = "Kettlebird") -> dict:
    """The full GUILD_CREATE a bot receives after READY (no members intent: only itself)."""
    return {
        "id": str(GUILD), "name": name, "icon": "c0ffee00c0ffee00c0ffee00c0ffee00",
        "description": None, "home_header": None, "splash": None, "discovery_splash": None,
        "features": [], "banner": None, "owner_id": str(OWNER), "application_id": None,
        "region": "deprecated", "afk_channel_id": None, "afk_timeout": 300,
        "system_channel_id": str(GENERAL), "system_channel_flags": 0, "widget_enabled": False,
        "widget_channel_id": None, "verification_level": 1,
        "default_message_notifications": 1, "mfa_level": 0, "explicit_content_filter": 2,
        "max_presences": None, "max_members": 25000000, "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25, "vanity_url_code": None, "premium_tier": 0,
        "premium_subscription_count": 0, "preferred_locale": "en-US",
        "rules_channel_id": None, "safety_alerts_channel_id": None,
        "public_updates_channel_id": None, "hub_type": None,
        "premium_progress_bar_enabled": False, "latest_onboarding_question_id": None,
        "nsfw": False, "nsfw_level": 0, "incidents_data": None, "inventory_settings": None,
        "embed_enabled": False, "embed_channel_id": None, "lazy": True, "large": False,
        "unavailable": False, "member_count": 5, "joined_at": "2023-03-14T09:31:20.144000+00:00",
        "roles": [
            role(GUILD, "@everyone", permissions=EVERYONE_PERMS, position=0),
            role(SUPPORT_ROLE, "Support", permissions=SUPPORT_PERMS, position=2, color=3447003,
                 hoist=True, mentionable=True),
            role(BOT_ROLE, "babeldesk", permissions=BOT_PERMS, position=1, managed=True,
                 tags={"bot_id": str(BOT_ID)}),
        ],
        "emojis": [], "stickers": [], "soundboard_sounds": [],
        "channels": [
            category_channel(CATEGORY, "Text Channels"),
            text_channel(GENERAL, "general", position=0, topic="Say hi!"),
            text_channel(SUPPORT, "support", position=1,
                         topic="Ask the babeldesk bot, a human follows up."),
        ],
        "threads": [],
        "members": [member(bot_user(), [BOT_ROLE],
                           joined_at="2023-03-14T09:31:20.144000+00:00")],
        "presences": [], "voice_states": [], "stage_instances": [],
        "guild_scheduled_events": [], "embedded_activities": [], "activity_instances": [],
        "application_command_counts": {}, "version": 1707574951777,
    }


def _embed(embed: dict) -> dict:
    embed = dict(embed)
    embed.setdefault("type", "rich")
    embed.pop("content_scan_version", None)
    return embed


def _with_component_ids(components: list[dict]) -> list[dict]:
    """Discord answers with every component numbered (the `id` field), depth first."""
    counter = itertools.count(1)

    def walk(items):
        out = []
        for item in items:
            item = dict(item)
            item.setdefault("id", next(counter))
            if "components" in item:
                item["components"] = walk(item["components"])
            out.append(item)
        return out

    return walk(components or [])


def message_create(content: str, channel_id: int = SUPPORT, *, author: int | dict = CUSTOMER,
                   guild_id: int | None = GUILD, mentions: list[int | dict] = (),
                   mention_roles: list[int] = (), message_id: int | None = None, type: int = 0,
                   webhook_id: int | None = None, bot: bool = False,
                   message_reference: dict | None = None,
                   referenced_message: dict | None = None, thread: dict | None = None,
                   embeds: list[dict] = (), components: list[dict] = (),
                   attachments: list[dict] = (), channel_type: int | None = None,
                   mention_everyone: bool = False) -> dict:
    """A MESSAGE_CREATE dispatch body as Discord sends it (v10).

    guild_id=None makes it a DM (no guild_id, no member; channel_type 1). `author` is an id or a
    user dict; `bot=True` with the default author makes it from OTHER_BOT; `webhook_id` makes it
    a webhook message (author is the webhook, no member). `mentions` are ids or user dicts; the
    content is used as given (write the <@id> yourself, e.g. with mention(BOT_ID))."""
    if bot and author == CUSTOMER:
        author = OTHER_BOT
    author_obj = _as_user(author)
    if webhook_id is not None:
        author_obj = {"id": str(webhook_id), "username": "Status Feed", "avatar": None,
                      "discriminator": "0000", "public_flags": 0, "flags": 0, "bot": True,
                      "global_name": None, "clan": None, "primary_guild": None}
    mid = message_id or snowflake()
    data = {
        "type": type, "tts": False, "timestamp": iso(snowflake_time(mid)),
        "pinned": False, "mentions": [], "mention_roles": [str(r) for r in mention_roles],
        "mention_everyone": mention_everyone, "id": str(mid), "flags": 0,
        "embeds": [_embed(e) for e in embeds], "edited_timestamp": None, "content": content,
        "components": list(components), "channel_id": str(channel_id), "author": author_obj,
        "attachments": list(attachments), "nonce": str(snowflake()),
    }
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
        data.pop("nonce")
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        if webhook_id is None:
            data["member"] = member(roles=_member_roles(author_obj["id"]))
        for m in mentions:
            mentioned = dict(_as_user(m))
            mentioned["member"] = member(roles=_member_roles(mentioned["id"]))
            data["mentions"].append(mentioned)
        data["channel_type"] = channel_type if channel_type is not None else 0
    else:
        data["mentions"] = [_as_user(m) for m in mentions]
        data["channel_type"] = channel_type if channel_type is not None else 1
    if message_reference is not None:
        data["message_reference"] = {"type": 0, **{k: str(v) for k, v in message_reference.items()}}
        if referenced_message is not None:  # else FakeDiscord.dispatch fills it in if it can
            data["referenced_message"] = referenced_message
        if type == 0:
            data["type"] = 19  # REPLY
    if thread is not None:
        data["thread"] = thread
    return data


def message_update(message: dict, content: str) -> dict:
    """A MESSAGE_UPDATE dispatch body: the same message, edited."""
    data = copy.deepcopy(message)
    data["content"] = content
    data["edited_timestamp"] = iso()
    return data


def button(custom_id: str, label: str, *, style: int = 1, emoji: dict | None = None,
           disabled: bool = False) -> dict:
    data = {"type": 2, "style": style, "label": label, "custom_id": custom_id,
            "disabled": disabled}
    if emoji:
        data["emoji"] = emoji
    return data


def action_row(*components: dict) -> dict:
    return {"type": 1, "components": list(components)}


def interaction_create(custom_id: str, message: dict, *, user: int | dict = CUSTOMER,
                       guild_id: int | None = GUILD, channel_id: int | None = None,
                       component_type: int = 2, values: list[str] | None = None,
                       interaction_id: int | None = None, token: str | None = None,
                       locale: str = "de") -> dict:
    """An INTERACTION_CREATE dispatch body for a component (button) click on `message`
    (type 3 MESSAGE_COMPONENT). `message` is the message object the component is on: pass
    fake.messages[id] for one the bot sent. guild_id=None makes it a click in a DM."""
    channel_id = int(channel_id or message["channel_id"])
    user_obj = _as_user(user)
    iid = interaction_id or snowflake()
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if component_type != 2:
        data["values"] = list(values or [])
    body: dict[str, Any] = {
        "version": 1, "type": 3,
        "token": token or f"aW50ZXJhY3Rpb246{iid}:{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "id": str(iid), "application_id": str(APP_ID), "app_permissions": BOT_PERMS,
        "locale": locale, "entitlements": [], "entitlement_sku_ids": [],
        "attachment_size_limit": 10485760, "data": data, "message": message,
        "channel_id": str(channel_id),
    }
    if guild_id is not None:
        channel = text_channel(channel_id, "support" if channel_id == SUPPORT else "general",
                               guild_id=guild_id, position=1)
        if channel_id not in (SUPPORT, GENERAL):
            channel = thread_channel(channel_id, "thread", with_member=False)
        body.update({
            "guild_id": str(guild_id), "guild_locale": "en-US",
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "member": {**member(user_obj, _member_roles(user_obj["id"])),
                       "permissions": EVERYONE_PERMS},
            "channel": channel, "context": 0,
            "authorizing_integration_owners": {"0": str(guild_id)},
        })
    else:
        body.update({
            "user": user_obj, "context": 1,
            "channel": {**dm_channel(channel_id, user_obj), "type": 1},
            "authorizing_integration_owners": {"0": "0"},  # guild-installed app, bot DM
        })
    return body


def app_command(name: str, options: dict | None = None, *, user: int | dict = CUSTOMER,
                guild_id: int | None = GUILD, channel_id: int = GENERAL, locale: str = "de",
                target: dict | None = None) -> dict:
    """An INTERACTION_CREATE for a slash command (`options`: name → value) or, with `target`
    (a message object), a message context-menu command. guild_id=None: used in a DM."""
    iid = snowflake()
    user_obj = _as_user(user)
    data: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1}
    if options:
        data["options"] = [{"name": k, "type": 5 if isinstance(v, bool) else 3, "value": v}
                           for k, v in options.items()]
    if target is not None:
        data.update(type=3, target_id=target["id"],
                    resolved={"messages": {target["id"]: target}})
    body: dict[str, Any] = {
        "version": 1, "type": 2, "id": str(iid), "application_id": str(APP_ID),
        "token": f"aW50ZXJhY3Rpb246{iid}:{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "app_permissions": BOT_PERMS, "locale": locale, "entitlements": [],
        "entitlement_sku_ids": [], "attachment_size_limit": 10485760, "data": data,
        "channel_id": str(channel_id)}
    if guild_id is not None:
        body.update({
            "guild_id": str(guild_id), "guild_locale": "en-US",
            "guild": {"id": str(guild_id), "locale": "en-US", "features": []},
            "member": {**member(user_obj, _member_roles(user_obj["id"])),
                       "permissions": EVERYONE_PERMS},
            "channel": text_channel(channel_id, "support" if channel_id == SUPPORT
                                    else "general", guild_id=guild_id, position=1),
            "context": 0, "authorizing_integration_owners": {"0": str(guild_id)}})
    else:
        body.update({"user": user_obj, "context": 1,
                     "channel": {**dm_channel(channel_id, user_obj), "type": 1},
                     "authorizing_integration_owners": {"0": "0"}})
    return body


def application_info() -> dict:
    """GET /oauth2/applications/@me for the bot's application."""
    return {
        "id": str(APP_ID), "name": "babeldesk", "icon": "3f5a1e9b2c4d6e8f0a1b2c3d4e5f6a7b",
        "description": "Multilingual support answers from your help articles.",
        "summary": "", "type": None, "is_monetized": False, "is_verified": False,
        "is_discoverable": False, "hook": True, "storefront_available": False,
        "bot_public": False, "bot_require_code_grant": False,
        "verify_key": "6b3c6a0f5e9d4c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b",
        "flags": GATEWAY_MESSAGE_CONTENT_LIMITED, "approximate_guild_count": 1,
        "approximate_user_install_count": 0, "interactions_endpoint_url": None,
        "redirect_uris": [], "tags": [], "install_params": None,
        "integration_types_config": {"0": {}}, "owner": owner_user(), "team": None,
        "bot": bot_user(), "rpc_origins": [], "terms_of_service_url": None,
        "privacy_policy_url": None, "role_connections_verification_url": None,
        "custom_install_url": None, "explicit_content_filter": 0,
    }


def users_me() -> dict:
    """GET /users/@me for the bot."""
    return {**bot_user(), "mfa_enabled": True, "locale": "en-US", "premium_type": 0,
            "email": None, "verified": True, "bio": ""}


# --- recording -------------------------------------------------------------------------------

@dataclass
class Call:
    """One REST call. `path` is relative to /api/v10 (e.g. /channels/123/messages)."""
    method: str
    path: str
    json: Any
    at: float
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)  # multipart: name, filename, size, type
    status: int = 0
    response: Any = None


@dataclass
class RateLimit:
    method: str
    pattern: re.Pattern
    remaining: int
    retry_after: float = 0.5
    is_global: bool = False


@dataclass
class Connection:
    """One gateway websocket connection."""
    ws: web.WebSocketResponse
    path: str
    query: dict
    opened_at: float
    compress: bool = False
    received: list[dict] = field(default_factory=list)  # payloads from the client
    sent: list[dict] = field(default_factory=list)      # payloads to the client
    live: bool = False  # identified or resumed: dispatches go out on it
    closed_at: float | None = None
    close_code: int | None = None  # ours if the fake closed it, else the client's
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deflate: Any = None


@dataclass
class Interaction:
    data: dict
    at: float
    response_type: int | None = None
    original_id: int | None = None  # the @original message


class HTTPError(Exception):
    def __init__(self, status: int, body: dict | None, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, message: str, code: int, **extra) -> HTTPError:
    return HTTPError(status, {"message": message, "code": code, **extra})


def _form_error(field_path: list[str], code: str, message: str) -> HTTPError:
    errors: dict = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(field_path):
        errors = {key: errors}
    return HTTPError(400, {"message": "Invalid Form Body", "code": 50035, "errors": errors})


def _as_referenced(message: dict) -> dict:
    """A message as it appears in another's referenced_message (no member, guild_id, nesting)."""
    return {k: v for k, v in message.items()
            if k not in ("member", "guild_id", "referenced_message")}


def _bucket(method: str, path: str) -> str:
    template = re.sub(r"/\d{15,21}", "/:id", path)
    template = re.sub(r"/(interactions|webhooks)/:id/[^/]+", r"/\1/:id/:token", template)
    return hashlib.md5(f"{method} {template}".encode()).hexdigest()


class FakeDiscord:
    def __init__(self):
        self.calls: list[Call] = []
        self.rate_limits: list[RateLimit] = []
        self.rejected_tokens: set[str] = set()
        self.failing_channels: set[int] = set()   # sending there answers 403 Missing Access
        self.disallowed_intents = 0               # IDENTIFY with any of these: close 4014
        self.echo_own_messages = False  # dispatch MESSAGE_CREATE/UPDATE for the bot's own
        self.announce_threads = True    # dispatch THREAD_CREATE for threads the bot creates
        self.interaction_deadline: float | None = 3.0  # seconds to acknowledge an interaction
        self.heartbeat_interval = 41250
        self.zlib_stream = True  # honour ?compress=zlib-stream (False: always plain text frames)
        self.guild = guild_create()
        self.channels: dict[int, dict] = {}
        for channel in self.guild["channels"]:
            self.channels[int(channel["id"])] = {**channel, "guild_id": str(GUILD)}
        self.channels[DM_CHANNEL] = dm_channel()
        self.messages: dict[int, dict] = {}       # every message seen or created, by id
        self.interactions: dict[int, Interaction] = {}
        #: application commands, by scope ("global" or a guild id), as the last PUT set them
        self.commands: dict[str, list[dict]] = {}
        self.connections: list[Connection] = []
        self.identifies: list[dict] = []          # IDENTIFY `d`s
        self.resumes: list[dict] = []             # RESUME `d`s
        self.heartbeats = 0
        self.session_id: str | None = None
        self.intents: int | None = None
        self.seq = 0
        self.dispatched: list[dict] = []          # every op 0 payload of the session, in order
        #: files customers attached, as the CDN serves them: path → (bytes, content type)
        self.cdn: dict[str, tuple[bytes, str]] = {}
        #: every CDN download: (path, its query)
        self.cdn_gets: list[tuple[str, dict]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle --

    async def start(self) -> "FakeDiscord":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in ("/gateway", "/resume-gateway", "/"):
            app.router.add_get(path, self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        app.router.add_get("/attachments/{tail:.*}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                await self._close(conn, 1001, "Discord WebSocket requesting client reconnect.")
        await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        """What discord.http.Route.BASE must be set to."""
        return self.url + API_PREFIX

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    @property
    def gateway_url(self) -> str:
        """What DiscordWebSocket.DEFAULT_GATEWAY must be (as a yarl.URL)."""
        return f"{self.ws_url}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"{self.ws_url}/resume-gateway"

    # -- queries for tests --

    def calls_to(self, method: str, path_regex: str) -> list[Call]:
        """The calls with this method whose path (relative to /api/v10) fully matches."""
        pattern = re.compile(path_regex)
        return [c for c in self.calls
                if c.method == method.upper() and pattern.fullmatch(c.path)]

    def bot_messages(self, channel_id: int | None = None) -> list[dict]:
        """Messages the bot created (REST or interaction responses), oldest first."""
        return [m for m in self.messages.values() if m["author"]["id"] == str(BOT_ID)
                and (channel_id is None or m["channel_id"] == str(channel_id))]

    @property
    def connection(self) -> Connection | None:
        """The current open gateway connection, if any."""
        for conn in reversed(self.connections):
            if not conn.ws.closed and conn.closed_at is None:
                return conn
        return None

    async def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            if time.monotonic() > deadline:
                calls = [(c.method, c.path, c.status) for c in self.calls]
                ops = [[p.get("op") for p in c.received] for c in self.connections]
                raise TimeoutError(f"condition not met; calls: {calls}; gateway ops: {ops}")
            await asyncio.sleep(0.01)
        return result

    async def wait_until_read(self, timeout: float = 10.0) -> None:
        """Wait until the client has read every dispatch sent so far: ask it for a heartbeat
        (op 1), whose `d` is the last sequence number it read. discord.py reads the gateway
        in order and starts an event's handlers as it reads the event, so by then the
        handlers of every earlier dispatch have started."""
        conn = self.connection
        if conn is None or not conn.live:
            raise RuntimeError("no live gateway connection")
        seq, seen = self.seq, len(conn.received)
        await self._send(conn, {"t": None, "s": None, "op": 1, "d": None})
        await self.wait_for(lambda: any(p.get("op") == 1 and (p.get("d") or 0) >= seq
                                        for p in conn.received[seen:]), timeout)

    async def wait_for_identify(self, count: int = 1, timeout: float = 10.0) -> dict:
        await self.wait_for(lambda: len(self.identifies) >= count, timeout)
        return self.identifies[count - 1]

    async def wait_for_connections(self, count: int, timeout: float = 10.0) -> Connection:
        await self.wait_for(
            lambda: len(self.connections) >= count and self.connections[count - 1].live, timeout)
        return self.connections[count - 1]

    def rate_limit(self, method: str, path_regex: str, count: int = 1, *,
                   retry_after: float = 0.5, is_global: bool = False) -> None:
        """Answer the next `count` matching calls (path relative to /api/v10, full match) with
        a 429, once each; discord.py waits retry_after and retries."""
        self.rate_limits.append(RateLimit(method.upper(), re.compile(path_regex), count,
                                          retry_after, is_global))

    def add_channel(self, channel: dict) -> dict:
        """Make a channel known (to REST; guild channels also to the next GUILD_CREATE)."""
        self.channels[int(channel["id"])] = channel
        if channel.get("type") in (0, 2, 4, 5, 13, 15) and \
                not any(c["id"] == channel["id"] for c in self.guild["channels"]):
            self.guild["channels"].append({k: v for k, v in channel.items() if k != "guild_id"})
        return channel

    # -- gateway --

    async def dispatch(self, event: str, data: dict) -> int:
        """Send an op 0 dispatch with the next sequence number; returns that number. With no
        live connection it is only logged (and replayed if the client RESUMEs).
        MESSAGE_CREATE bodies are completed from what the fake knows: channel_type of a known
        thread, referenced_message of a known replied-to message."""
        if event == "MESSAGE_CREATE":
            data = self._complete_message(data)
        self._observe(event, data)
        data = self._filter_content(event, data)
        self.seq += 1
        payload = {"t": event, "s": self.seq, "op": 0, "d": data}
        self.dispatched.append(payload)
        conn = self.connection
        if conn is not None and conn.live:
            await self._send(conn, payload)
        return self.seq

    async def disconnect(self, code: int = 4000, reason: str = "Unknown error") -> None:
        """Close the current gateway connection (4000: resumable); discord.py reconnects."""
        conn = self.connection
        if conn is not None:
            await self._close(conn, code, reason)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py closes and RESUMEs on resume_gateway_url."""
        conn = self.connection
        if conn is not None:
            await self._send(conn, {"t": None, "s": None, "op": 7, "d": None})

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION (discord.py then IDENTIFYs again, after a 5 s wait)."""
        conn = self.connection
        if not resumable:
            self.session_id = None
        if conn is not None:
            conn.live = False
            await self._send(conn, {"t": None, "s": None, "op": 9, "d": resumable})

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        conn.live = False
        if conn.close_code is None:
            conn.close_code = code
        await conn.ws.close(code=code, message=reason.encode())

    def _trace(self, name: str) -> list[str]:
        return [json.dumps(["gateway-prd-us-east1-b-fake", {"micros": 1234, "calls": [name]}])]

    async def _send(self, conn: Connection, payload: dict) -> None:
        raw = json.dumps(payload, separators=(",", ":"))
        async with conn.lock:
            if conn.ws.closed:
                return
            conn.sent.append(payload)
            try:
                if conn.compress:
                    data = conn.deflate.compress(raw.encode())
                    await conn.ws.send_bytes(data + conn.deflate.flush(zlib.Z_SYNC_FLUSH))
                else:
                    await conn.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                pass

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, request.path, dict(request.query), time.monotonic())
        if self.zlib_stream and request.query.get("compress") == "zlib-stream":
            conn.compress = True
            conn.deflate = zlib.compressobj()
        self.connections.append(conn)
        await self._send(conn, {"t": None, "s": None, "op": 10,
                                "d": {"heartbeat_interval": self.heartbeat_interval,
                                      "_trace": self._trace("gateway-hello")}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    payload = json.loads(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    payload = json.loads(msg.data.decode())
                else:
                    continue
                conn.received.append(payload)
                await self._on_gateway(conn, payload)
        finally:
            conn.live = False
            conn.closed_at = time.monotonic()
            if conn.close_code is None:
                conn.close_code = ws.close_code
        return ws

    async def _on_gateway(self, conn: Connection, payload: dict) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(conn, {"t": None, "s": None, "op": 11, "d": None})
        elif op == 2:
            self.identifies.append(d)
            if conn.live:
                await self._close(conn, 4005, "Already authenticated.")
            elif d.get("token") in self.rejected_tokens:
                await self._close(conn, 4004, "Authentication failed.")
            elif int(d.get("intents", 0)) & self.disallowed_intents:
                await self._close(conn, 4014, "Disallowed intent(s).")
            else:
                await self._ready(conn, d)
        elif op == 6:
            self.resumes.append(d)
            if d.get("token") in self.rejected_tokens:
                await self._close(conn, 4004, "Authentication failed.")
            elif self.session_id is None or d.get("session_id") != self.session_id:
                await self._send(conn, {"t": None, "s": None, "op": 9, "d": False})
            else:
                since = d.get("seq") or 0
                for old in self.dispatched:
                    if old["s"] > since:
                        await self._send(conn, old)
                self.seq += 1
                resumed = {"t": "RESUMED", "s": self.seq, "op": 0,
                           "d": {"_trace": self._trace("gateway-resumed")}}
                self.dispatched.append(resumed)
                await self._send(conn, resumed)
                conn.live = True
        # op 3 presence, 4 voice, 8 request members: recorded only

    async def _ready(self, conn: Connection, identify: dict) -> None:
        self.session_id = uuid.uuid4().hex
        self.intents = int(identify.get("intents", 0))
        self.seq = 0
        self.dispatched = []
        ready = {
            "v": 10, "user_settings": {}, "user": {**users_me(), "email": None},
            "session_type": "normal", "session_id": self.session_id,
            "resume_gateway_url": self.resume_gateway_url, "relationships": [],
            "private_channels": [], "presences": [], "guilds": [
                {"id": str(GUILD), "unavailable": True}],
            "guild_join_requests": [], "geo_ordered_rtc_regions": [
                "rotterdam", "frankfurt", "milan", "stockholm", "madrid"],
            "game_relationships": [], "auth": {},
            "application": {"id": str(APP_ID), "flags": GATEWAY_MESSAGE_CONTENT_LIMITED},
            "_trace": self._trace("id_created"),
        }
        if identify.get("shard") is not None:
            ready["shard"] = identify["shard"]
        conn.live = True
        await self.dispatch("READY", ready)
        guild = copy.deepcopy(self.guild)
        guild["threads"] = [{k: v for k, v in c.items() if k not in ("newly_created",)}
                            for c in self.channels.values()
                            if c.get("type") in (10, 11, 12)
                            and not c["thread_metadata"]["archived"]]
        await self.dispatch("GUILD_CREATE", guild)

    def _complete_message(self, data: dict) -> dict:
        data = dict(data)
        channel = self.channels.get(int(data["channel_id"]))
        if channel is not None and "channel_type" in data:
            data["channel_type"] = channel["type"]
        ref = data.get("message_reference")
        if ref and ref.get("message_id") and "referenced_message" not in data:
            found = self.messages.get(int(ref["message_id"]))
            data["referenced_message"] = found and _as_referenced(found)
        return data

    def _observe(self, event: str, data: dict) -> None:
        """Keep the fake's view of the world in step with what it tells the client."""
        if event == "MESSAGE_CREATE":
            self.messages.setdefault(int(data["id"]), data)  # an echo keeps the REST copy
            channel_id = int(data["channel_id"])
            if "guild_id" not in data and channel_id not in self.channels:
                self.channels[channel_id] = dm_channel(channel_id, data["author"])
        elif event == "MESSAGE_UPDATE" and int(data["id"]) in self.messages:
            self.messages[int(data["id"])].update(
                {k: v for k, v in data.items() if k not in ("guild_id", "member")})
        elif event in ("THREAD_CREATE", "THREAD_UPDATE", "CHANNEL_CREATE", "CHANNEL_UPDATE"):
            self.channels[int(data["id"])] = data
        elif event == "INTERACTION_CREATE":
            self.interactions[int(data["id"])] = Interaction(data, time.monotonic())
            message = data.get("message")
            if message is not None:
                self.messages.setdefault(int(message["id"]), message)

    def _filter_content(self, event: str, data: dict) -> dict:
        """Without the message content intent Discord empties other people's guild messages
        unless they mention the bot."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or self.intents is None \
                or self.intents & MESSAGE_CONTENT_INTENT or "guild_id" not in data:
            return data
        author = data.get("author", {}).get("id")
        mentioned = any(m.get("id") == str(BOT_ID) for m in data.get("mentions", []))
        if author == str(BOT_ID) or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    # -- REST --

    def _respond(self, status: int, body: Any = None, headers: dict | None = None) -> web.Response:
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json", **(headers or {})})

    def attach(self, filename: str, data: bytes, content_type: str,
               channel_id: int = SUPPORT) -> dict:
        """A customer's file as a MESSAGE_CREATE carries it, served by this fake's CDN.
        Discord's attachment URLs are signed (ex, is, hm): the CDN refuses one without."""
        aid = snowflake()
        path = f"/attachments/{channel_id}/{aid}/{filename}"
        self.cdn[path] = (data, content_type)
        url = f"{self.url}{path}?ex=6a1b2c3d&is=6a19dabd&hm={aid:x}&"
        return {"id": str(aid), "filename": filename, "size": len(data), "url": url,
                "proxy_url": url, "content_type": content_type, "width": 640, "height": 480}

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_gets.append((request.path, dict(request.query)))
        if request.path not in self.cdn or not {"ex", "is", "hm"} <= set(request.query):
            return web.Response(status=404, text="This content is no longer available.")
        data, content_type = self.cdn[request.path]
        return web.Response(body=data, content_type=content_type)

    async def _unknown(self, request: web.Request) -> web.Response:
        call = Call(request.method, request.path, None, time.monotonic(),
                    dict(request.query), dict(request.headers))
        self.calls.append(call)
        call.status, call.response = 404, {"message": "Unknown", "code": 0}
        return self._respond(404, call.response)

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        method = request.method
        body, files = await self._read_body(request)
        call = Call(method, path, body, time.monotonic(), dict(request.query),
                    dict(request.headers), files)
        self.calls.append(call)
        bucket = _bucket(method, path)
        for limit in self.rate_limits:
            if limit.remaining > 0 and limit.method == method and limit.pattern.fullmatch(path):
                limit.remaining -= 1
                call.status = 429
                call.response = {"message": "You are being rate limited.",
                                 "retry_after": limit.retry_after, "global": limit.is_global}
                headers = {"Via": "1.1 google",
                           "Retry-After": str(max(1, math.ceil(limit.retry_after))),
                           "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                           "X-RateLimit-Reset": f"{time.time() + limit.retry_after:.3f}",
                           "X-RateLimit-Reset-After": f"{limit.retry_after:.3f}",
                           "X-RateLimit-Bucket": bucket,
                           "X-RateLimit-Scope": "global" if limit.is_global else "user"}
                if limit.is_global:
                    headers["X-RateLimit-Global"] = "true"
                    call.response["code"] = 0
                return self._respond(429, call.response, headers)
        auth = request.headers.get("Authorization", "")
        try:
            if auth.startswith("Bot ") and auth[4:] in self.rejected_tokens:
                raise _error(401, "401: Unauthorized", 0)
            status, result = await self._route(method, path, body or {}, call)
            headers = {}
        except HTTPError as exc:
            status, result, headers = exc.status, exc.body, exc.headers
        call.status, call.response = status, result
        headers = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "4",
                   "X-RateLimit-Reset": f"{time.time() + 5:.3f}",
                   "X-RateLimit-Reset-After": "5.000", "X-RateLimit-Bucket": bucket, **headers}
        return self._respond(status, result, headers)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict]]:
        if not request.body_exists:
            return None, []
        if request.content_type.startswith("multipart/"):
            body, files = None, []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files.append({"name": part.name, "filename": part.filename,
                                  "size": len(data), "content_type": part.headers.get(
                                      "Content-Type", "application/octet-stream"),
                                  "data": bytes(data)})
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        try:
            return json.loads(raw), []
        except ValueError:
            return raw.decode(errors="replace"), []

    async def _route(self, method: str, path: str, body: dict, call: Call) -> tuple[int, Any]:
        m = re.fullmatch
        if method == "GET" and path == "/users/@me":
            return 200, users_me()
        if method == "GET" and path in ("/oauth2/applications/@me", "/applications/@me"):
            return 200, application_info()
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            data = {"url": self.ws_url}
            if path == "/gateway/bot":
                data.update(shards=1, session_start_limit={
                    "total": 1000, "remaining": 999, "reset_after": 14400000,
                    "max_concurrency": 1})
            return 200, data
        if method == "POST" and path == "/users/@me/channels":
            recipient = int(body["recipient_id"])
            for channel in self.channels.values():
                if channel.get("type") == 1 and channel["recipients"][0]["id"] == str(recipient):
                    return 200, channel
            channel = dm_channel(snowflake(), recipient)
            self.channels[int(channel["id"])] = channel
            return 200, channel
        if r := m(r"/channels/(\d+)", path):
            if method == "GET":
                return 200, self._channel(int(r[1]))
        if r := m(r"/channels/(\d+)/typing", path):
            if method == "POST":
                self._channel(int(r[1]))
                return 204, None
        if r := m(r"/channels/(\d+)/messages", path):
            if method == "POST":
                return 200, await self._create_message(int(r[1]), body, call.files)
        if r := m(r"/channels/(\d+)/messages/(\d+)", path):
            channel_id, message_id = int(r[1]), int(r[2])
            message = self._message(channel_id, message_id)
            if method == "GET":
                return 200, message
            if method == "PATCH":
                if message["author"]["id"] != str(BOT_ID):
                    raise _error(403, "Cannot edit a message authored by another user", 50005)
                return 200, await self._edit_message(message, body, call.files)
            if method == "DELETE":
                self.messages.pop(message_id, None)
                return 204, None
        if r := m(r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me", path):
            if method in ("PUT", "DELETE"):
                self._message(int(r[1]), int(r[2]))
                return 204, None
        if r := m(r"/channels/(\d+)/messages/(\d+)/threads", path):
            if method == "POST":
                return 201, await self._thread_from_message(int(r[1]), int(r[2]), body)
        if r := m(r"/channels/(\d+)/threads", path):
            if method == "POST":
                return 201, await self._thread_without_message(int(r[1]), body)
        if r := m(r"/channels/(\d+)/thread-members/@me", path):
            if method in ("PUT", "DELETE"):
                self._channel(int(r[1]))
                return 204, None
        if r := m(r"/applications/(\d+)(?:/guilds/(\d+))?/commands", path):
            scope = r[2] or "global"
            if method == "GET":
                return 200, self.commands.get(scope, [])
            if method == "PUT":
                self.commands[scope] = [self._command(c, r[1], r[2]) for c in body]
                return 200, self.commands[scope]
        if r := m(r"/interactions/(\d+)/([^/]+)/callback", path):
            if method == "POST":
                return await self._interaction_callback(int(r[1]), r[2], body, call)
        if r := m(r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", path):
            return await self._webhook_message(method, r[2], r[3], body, call)
        if r := m(r"/webhooks/(\d+)/([^/]+)", path):
            if method == "POST":
                return 200, await self._followup(r[2], body, call)
        raise _error(404, "Unknown", 0)

    def _command(self, command: dict, application_id: str, guild_id: str | None) -> dict:
        """An application command as Discord stores it; a name Discord refuses is a 400."""
        name = command.get("name", "")
        kind = command.get("type", 1)
        if not 1 <= len(name) <= 32 or (kind == 1 and (name != name.lower() or " " in name)):
            raise _form_error(["name"], "APPLICATION_COMMAND_INVALID_NAME",
                              "Command name is invalid")
        if kind == 1 and not 1 <= len(command.get("description", "")) <= 100:
            raise _form_error(["description"], "BASE_TYPE_BAD_LENGTH",
                              "Must be between 1 and 100 in length.")
        stored = {"id": str(snowflake()), "application_id": application_id, "version":
                  str(snowflake()), "default_permission": True, "description": "",
                  "options": [], **command}
        if guild_id:
            stored["guild_id"] = guild_id
        return stored

    def _channel(self, channel_id: int) -> dict:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise _error(404, "Unknown Channel", 10003) from None

    def _message(self, channel_id: int, message_id: int) -> dict:
        self._channel(channel_id)
        message = self.messages.get(message_id)
        if message is None or message["channel_id"] != str(channel_id):
            raise _error(404, "Unknown Message", 10008)
        return message

    def _validate(self, body: dict, files: list[dict], *, creating: bool) -> None:
        content = body.get("content") or ""
        if len(content) > 2000:
            raise _form_error(["content"], "BASE_TYPE_MAX_LENGTH",
                              "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise _form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            for key, limit in (("title", 256), ("description", 4096)):
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    raise _form_error(["embeds", str(i), key], "BASE_TYPE_MAX_LENGTH",
                                      f"Must be {limit} or fewer in length.")
            total += len((embed.get("footer") or {}).get("text") or "")
            total += len((embed.get("author") or {}).get("name") or "")
            for f in embed.get("fields") or []:
                total += len(f.get("name", "")) + len(f.get("value", ""))
            if len(embed.get("fields") or []) > 25:
                raise _form_error(["embeds", str(i), "fields"], "BASE_TYPE_MAX_LENGTH",
                                  "Must be 25 or fewer in length.")
        if total > 6000:
            raise _form_error(["embeds"], "MAX_EMBED_SIZE_EXCEEDED",
                              "Embed size exceeds maximum size of 6000")
        rows = body.get("components") or []
        if len(rows) > 5:
            raise _form_error(["components"], "BASE_TYPE_BAD_LENGTH",
                              "Must be between 1 and 5 in length.")
        for i, row in enumerate(rows):
            children = row.get("components") or []
            if row.get("type") == 1 and not 1 <= len(children) <= 5:
                raise _form_error(["components", str(i), "components"], "BASE_TYPE_BAD_LENGTH",
                                  "Must be between 1 and 5 in length.")
            for j, child in enumerate(children):
                if len(child.get("custom_id") or "") > 100:
                    raise _form_error(["components", str(i), "components", str(j), "custom_id"],
                                      "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
                if len(child.get("label") or "") > 80:
                    raise _form_error(["components", str(i), "components", str(j), "label"],
                                      "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
        if creating and not (content or embeds or rows or files or body.get("sticker_ids")
                             or body.get("poll")):
            raise _error(400, "Cannot send an empty message", 50006)

    def _attachments(self, files: list[dict], channel_id: int) -> list[dict]:
        out = []
        for f in files:
            aid = snowflake()
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{aid}/{f['filename']}"
            out.append({"id": str(aid), "filename": f["filename"], "size": f["size"],
                        "url": url,
                        "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                        "content_type": f["content_type"]})
        return out

    def _mentions(self, content: str) -> list[dict]:
        ids = dict.fromkeys(int(i) for i in re.findall(r"<@!?(\d+)>", content))
        return [_as_user(i) for i in ids if i in KNOWN_USERS]

    def _new_message(self, channel_id: int, body: dict, files: list[dict], **extra) -> dict:
        mid = snowflake()
        content = body.get("content") or ""
        message = {
            "type": 0, "content": content, "mentions": self._mentions(content),
            "mention_roles": re.findall(r"<@&(\d+)>", content),
            "attachments": self._attachments(files, channel_id),
            "embeds": [_embed(e) for e in body.get("embeds") or []],
            "timestamp": iso(snowflake_time(mid)), "edited_timestamp": None,
            "flags": int(body.get("flags") or 0),
            "components": _with_component_ids(body.get("components")),
            "id": str(mid), "channel_id": str(channel_id), "author": bot_user(), "pinned": False,
            "mention_everyone": False, "tts": bool(body.get("tts")),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        channel = self.channels.get(channel_id, {})
        if channel.get("type") in (10, 11, 12):
            message["position"] = channel["message_count"]
            channel["message_count"] += 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
            channel["last_message_id"] = str(mid)
        elif channel:
            channel["last_message_id"] = str(mid)
        ref = body.get("message_reference")
        if ref and ref.get("message_id"):
            message["type"] = 19
            message["message_reference"] = {
                "type": ref.get("type", 0), "channel_id": str(ref.get("channel_id") or channel_id),
                "message_id": str(ref["message_id"])}
            if channel.get("guild_id"):
                message["message_reference"]["guild_id"] = channel["guild_id"]
            referenced = self.messages.get(int(ref["message_id"]))
            if referenced is None and ref.get("fail_if_not_exists", True):
                raise _form_error(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                  "Unknown message")
            message["referenced_message"] = referenced and _as_referenced(referenced)
        message.update(extra)
        self.messages[mid] = message
        return message

    async def _echo(self, event: str, message: dict) -> None:
        if not self.echo_own_messages or message["flags"] & EPHEMERAL:
            return
        data = copy.deepcopy(message)
        guild_id = self.channels.get(int(message["channel_id"]), {}).get("guild_id")
        if guild_id:
            data["guild_id"] = guild_id
            data["member"] = member(roles=[BOT_ROLE], joined_at=self.guild["joined_at"])
        await self.dispatch(event, data)

    async def _create_message(self, channel_id: int, body: dict, files: list[dict]) -> dict:
        self._channel(channel_id)
        if channel_id in self.failing_channels:
            raise _error(403, "Missing Access", 50001)
        self._validate(body, files, creating=True)
        message = self._new_message(channel_id, body, files)
        await self._echo("MESSAGE_CREATE", message)
        return message

    async def _edit_message(self, message: dict, body: dict, files: list[dict]) -> dict:
        merged = {"content": message["content"], "embeds": message["embeds"],
                  "components": message["components"], **body}
        self._validate(merged, files, creating=False)
        if "content" in body:
            message["content"] = body["content"] or ""
            message["mentions"] = self._mentions(message["content"])
        if "embeds" in body:
            message["embeds"] = [_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = _with_component_ids(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"]) | (message["flags"] & EPHEMERAL)
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            message["attachments"] = [a for a in message["attachments"] if a["id"] in keep]
        message["attachments"] += self._attachments(files, int(message["channel_id"]))
        message["edited_timestamp"] = iso()
        await self._echo("MESSAGE_UPDATE", message)
        return message

    def _validate_thread(self, body: dict) -> None:
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _form_error(["name"], "BASE_TYPE_BAD_LENGTH",
                              "Must be between 1 and 100 in length.")

    async def _thread_from_message(self, channel_id: int, message_id: int, body: dict) -> dict:
        channel = self._channel(channel_id)
        if channel.get("type") == 1:
            raise _error(400, "Cannot execute action on a DM channel", 50003)
        if channel.get("type") not in (0, 5):
            raise _error(400, "Cannot execute action on this channel type", 50024)
        message = self._message(channel_id, message_id)
        if message_id in self.channels or message.get("thread"):
            raise _error(400, "A thread has already been created for this message", 160004)
        self._validate_thread(body)
        # a thread started from a message has the message's id
        thread = thread_channel(message_id, body["name"], channel_id,
                                auto_archive_duration=body.get("auto_archive_duration") or 1440,
                                rate_limit_per_user=body.get("rate_limit_per_user") or 0)
        self.channels[message_id] = thread
        message["thread"] = {k: v for k, v in thread.items() if k != "member"}
        if self.announce_threads:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def _thread_without_message(self, channel_id: int, body: dict) -> dict:
        channel = self._channel(channel_id)
        if channel.get("type") == 1:
            raise _error(400, "Cannot execute action on a DM channel", 50003)
        self._validate_thread(body)
        thread = thread_channel(snowflake(), body["name"], channel_id,
                                type=int(body.get("type") or 12),
                                auto_archive_duration=body.get("auto_archive_duration") or 1440,
                                rate_limit_per_user=body.get("rate_limit_per_user") or 0)
        self.channels[int(thread["id"])] = thread
        if self.announce_threads:
            await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    # -- interactions --

    def _interaction(self, interaction_id: int | None, token: str, *,
                     webhook: bool = False) -> Interaction:
        found = None
        if interaction_id is not None:
            found = self.interactions.get(interaction_id)
        else:
            found = next((i for i in self.interactions.values() if i.data["token"] == token), None)
        if found is None or found.data["token"] != token:
            if webhook:
                raise _error(404, "Unknown Webhook", 10015)
            raise _error(404, "Unknown interaction", 10062)
        return found

    def _interaction_message(self, interaction: Interaction, body: dict, files: list[dict], *,
                             loading: bool = False) -> dict:
        data = interaction.data
        self._validate(body, files, creating=not loading)
        iuser = data.get("member", {}).get("user") or data.get("user")
        return self._new_message(
            int(data["channel_id"]), body, files, webhook_id=str(APP_ID),
            application_id=str(APP_ID),
            interaction_metadata={"id": data["id"], "type": data["type"], "user": iuser,
                                  "authorizing_integration_owners":
                                      data.get("authorizing_integration_owners", {}),
                                  **({"interacted_message_id": data["message"]["id"]}
                                     if data.get("message") else {}),
                                  **({"target_message_id": data["data"]["target_id"]}
                                     if data.get("data", {}).get("type") == 3 else {})})

    async def _interaction_callback(self, interaction_id: int, token: str, body: dict,
                                    call: Call) -> tuple[int, Any]:
        interaction = self._interaction(interaction_id, token)
        if self.interaction_deadline is not None and \
                call.at - interaction.at > self.interaction_deadline:
            raise _error(404, "Unknown interaction", 10062)
        if interaction.response_type is not None:
            raise _error(400, "Interaction has already been acknowledged.", 40060)
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        resource: dict[str, Any] = {"type": kind}
        message = None
        if kind == 4:
            message = self._interaction_message(interaction, data, call.files)
            await self._echo("MESSAGE_CREATE", message)
        elif kind == 5:
            flags = int(data.get("flags") or 0) | LOADING
            message = self._interaction_message(
                interaction, {**data, "content": "", "flags": flags}, [], loading=True)
            message["content"] = ""
        elif kind in (6, 7):
            source = interaction.data.get("message")
            if source is None:
                raise _error(400, "Interaction has no message", 50035)
            message = self.messages.setdefault(int(source["id"]), source)
            if kind == 7:
                message = await self._edit_message(message, data, call.files)
        elif kind == 1:
            raise _error(400, "Invalid interaction application command", 50035)
        interaction.response_type = kind
        interaction.original_id = int(message["id"]) if message is not None else None
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        reply = {"interaction": {"id": str(interaction_id), "type": interaction.data["type"]}}
        if message is not None:
            reply["interaction"].update(
                response_message_id=message["id"], response_message_loading=kind == 5,
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL))
            if kind in (4, 5, 7):
                resource["message"] = message
        reply["resource"] = resource
        return 200, reply

    def _original(self, interaction: Interaction) -> dict:
        if interaction.response_type is None or interaction.original_id is None:
            raise _error(404, "Unknown Message", 10008)
        return self.messages[interaction.original_id]

    async def _webhook_message(self, method: str, token: str, which: str, body: dict,
                               call: Call) -> tuple[int, Any]:
        interaction = self._interaction(None, token, webhook=True)
        if interaction.response_type is None:
            raise _error(404, "Unknown Webhook", 10015)
        if which == "@original":
            message = self._original(interaction)
        else:
            message = self.messages.get(int(which))
            if message is None or message.get("webhook_id") != str(APP_ID):
                raise _error(404, "Unknown Message", 10008)
        if method == "GET":
            return 200, message
        if method == "DELETE":
            self.messages.pop(int(message["id"]), None)
            return 204, None
        if method == "PATCH":
            if message["flags"] & LOADING:
                message["flags"] &= ~LOADING
            return 200, await self._edit_message(message, body, call.files)
        raise _error(405, "405: Method Not Allowed", 0)

    async def _followup(self, token: str, body: dict, call: Call) -> dict:
        interaction = self._interaction(None, token, webhook=True)
        if interaction.response_type is None:
            raise _error(404, "Unknown Webhook", 10015)
        original = self.messages.get(interaction.original_id or 0)
        if original is not None and original["flags"] & LOADING:
            # the first followup after a deferred response completes the loading message
            original["flags"] &= ~LOADING
            return await self._edit_message(original, {k: v for k, v in body.items()
                                                       if k != "flags"}, call.files)
        message = self._interaction_message(interaction, body, call.files)
        await self._echo("MESSAGE_CREATE", message)
        return message
