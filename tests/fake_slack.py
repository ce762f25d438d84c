"""A fake Slack for the tests: the Web API under /api/{method} and a Socket Mode websocket,
served on 127.0.0.1 by aiohttp. It records every call so tests can assert on them."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_USER = "U0BABELBOT"
BOT_ID = "B0BABELBOT"
TEAM = "T0KETTLE01"
APP = "A0BABELAPP"


@dataclass
class Call:
    method: str
    params: dict
    at: float
    headers: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)


class FakeSlack:
    def __init__(self):
        self.calls: list[Call] = []
        self.acks: list[dict] = []
        self.rate_limits: dict[str, int] = {}  # method -> 429s still to send
        self.rejected_tokens: set[str] = set()
        self.failing_channels: set[str] = set()  # chat.* there answer channel_not_found
        self.failing_methods: dict[str, str] = {}  # method -> the error it answers
        #: the error chat.startStream answers (Slack without streaming for this app), or ""
        self.streaming_unavailable = ""
        #: what was posted to response_urls (slash commands, clicks on ephemeral messages)
        self.responses: list[Call] = []
        #: user group id -> its members' ids (usergroups.users.list)
        self.usergroups: dict[str, list[str]] = {}
        #: user id -> fields of users.info beyond the defaults (is_admin, locale, ...)
        self.users: dict[str, dict] = {}
        self.ack_times: dict[str, float] = {}
        self.push_times: dict[str, float] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> "FakeSlack":
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads users.* with GET
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/hooks/{tail:.*}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # -- Web API --

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if request.content_type == "application/json" and raw:
            params = json.loads(raw)
        else:
            params = dict(parse_qsl(raw.decode()))
        params.update(request.query)  # GET, and arguments some methods put in the URL
        auth = request.headers.get("Authorization", "")
        call = Call(method, params, time.monotonic(), dict(request.headers))
        self.calls.append(call)
        if self.rate_limits.get(method):
            self.rate_limits[method] -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": "1"})
        token = auth.removeprefix("Bearer ") or params.get("token", "")
        if token in self.rejected_tokens:
            call.result = {"ok": False, "error": "invalid_auth"}
        elif method in self.failing_methods:
            call.result = {"ok": False, "error": self.failing_methods[method]}
        elif method.startswith("chat.") and params.get("channel") in self.failing_channels:
            call.result = {"ok": False, "error": "channel_not_found"}
        else:
            call.result = self._result(method, params)
        return web.json_response(call.result)

    def response_url(self, name: str) -> str:
        return f"{self.url}/hooks/commands/{TEAM}/{name}"

    async def _hook(self, request: web.Request) -> web.Response:
        """A response_url: Slack answers "ok" in plain text."""
        self.responses.append(Call(request.match_info["tail"], await request.json(),
                                   time.monotonic()))
        return web.Response(text="ok")

    def _result(self, method: str, params: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "url": "https://kettlebird.slack.com/", "team": "Kettlebird",
                    "user": "babeldesk", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID,
                    "is_enterprise_install": False}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"{self.url.replace('http', 'ws')}/socket"}
        if method in ("chat.postMessage", "chat.update", "chat.delete"):
            ts = params.get("ts") or f"{1700000000 + next(self._ts)}.000100"
            message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": ts,
                       "text": params.get("text", "")}
            if params.get("thread_ts"):
                message["thread_ts"] = params["thread_ts"]
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": message}
        if method == "chat.startStream":
            if self.streaming_unavailable:
                return {"ok": False, "error": self.streaming_unavailable}
            if not params.get("thread_ts"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True, "channel": params.get("channel"),
                    "ts": f"{1700000000 + next(self._ts)}.000100"}
        if method in ("chat.appendStream", "chat.stopStream"):
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "chat.getPermalink":
            ts = params.get("message_ts", "").replace(".", "")
            return {"ok": True, "channel": params.get("channel"),
                    "permalink": f"https://kettlebird.slack.com/archives/{params.get('channel')}"
                                 f"/p{ts}"}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1700000000 + next(self._ts)}.000200"}
        if method == "usergroups.users.list":
            if params.get("usergroup") not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": self.usergroups[params["usergroup"]]}
        if method == "users.info":
            person = {"id": params.get("user"), "team_id": TEAM, "name": "someone",
                      "deleted": False, "is_admin": False, "is_owner": False, "is_bot": False,
                      "tz": "Europe/Berlin", **self.users.get(params.get("user"), {})}
            if params.get("include_locale") not in ("true", True, "1"):
                person.pop("locale", None)
            return {"ok": True, "user": person}
        return {"ok": True}

    # -- Socket Mode --

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "applink-fake", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": APP}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.acks.append(ack)
                self.ack_times[ack.get("envelope_id", "")] = time.monotonic()
        return ws

    async def wait_for_socket(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.sockets:
            if time.monotonic() > deadline:
                raise TimeoutError("the Socket Mode client never connected")
            await asyncio.sleep(0.02)

    async def push(self, payload: dict, kind: str = "events_api", retry: int = 0) -> str:
        envelope_id = str(uuid.uuid4())
        self.push_times[envelope_id] = time.monotonic()
        await self.sockets[-1].send_json({
            "envelope_id": envelope_id, "payload": payload, "type": kind,
            "accepts_response_payload": kind != "events_api", "retry_attempt": retry,
            "retry_reason": "timeout" if retry else ""})
        return envelope_id

    async def wait_for(self, condition, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.05)


# --- realistic payloads ----------------------------------------------------------------------

def _rich_text(text: str) -> list[dict]:
    return [{"type": "rich_text", "block_id": "Xy1", "elements": [
        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]


def envelope(event: dict, event_id: str | None = None) -> dict:
    """The Events API body Slack wraps every event in."""
    return {"token": "ZZZZZZWSxiZZZ2yIvs3peJ", "team_id": TEAM, "context_team_id": TEAM,
            "api_app_id": APP, "event": event, "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImFwcF9tZW50aW9uIiwidGlkIjoiVDAifQ"}


def app_mention(text: str, channel: str = "C0SUPPORT1", ts: str = "1700001000.000100",
                user: str = "U0CUSTOMER", thread_ts: str | None = None) -> dict:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "client_msg_id": str(uuid.uuid4()), "team": TEAM, "blocks": _rich_text(text),
             "channel": channel, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = user
    return event


def message_event(text: str, channel: str = "C0SUPPORT1", ts: str = "1700002000.000100",
                  user: str = "U0CUSTOMER", thread_ts: str | None = None,
                  channel_type: str = "channel") -> dict:
    event = {"type": "message", "user": user, "text": text, "ts": ts,
             "client_msg_id": str(uuid.uuid4()), "team": TEAM, "blocks": _rich_text(text),
             "channel": channel, "event_ts": ts, "channel_type": channel_type}
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "U0SOMEONE1"
    return event


def im_message(text: str, channel: str = "D0DIRECT01", ts: str = "1700003000.000100") -> dict:
    return message_event(text, channel=channel, ts=ts, channel_type="im")


def bot_message(text: str, channel: str = "C0SUPPORT1", ts: str = "1700004000.000100") -> dict:
    return {"type": "message", "subtype": "bot_message", "text": text, "ts": ts,
            "username": "ReplyBot", "icons": {"emoji": ":robot_face:"}, "bot_id": "B0OTHERBOT",
            "channel": channel, "event_ts": ts, "channel_type": "channel"}


def message_changed(text: str, channel: str = "C0SUPPORT1",
                    ts: str = "1700005000.000200") -> dict:
    original = "1700005000.000100"
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
            "ts": ts, "event_ts": ts, "channel_type": "channel",
            "message": {"type": "message", "user": "U0CUSTOMER", "text": text, "ts": original,
                        "edited": {"user": "U0CUSTOMER", "ts": ts}, "client_msg_id": "x"},
            "previous_message": {"type": "message", "user": "U0CUSTOMER", "text": "old",
                                 "ts": original}}


def assistant_thread_started(thread_ts: str, channel: str = "D0DIRECT01",
                             user: str = "U0CUSTOMER") -> dict:
    """A user opened babeldesk's assistant panel (a new assistant thread)."""
    return {"type": "assistant_thread_started",
            "assistant_thread": {"user_id": user, "channel_id": channel, "thread_ts": thread_ts,
                                 "context": {"channel_id": "C0SUPPORT1", "team_id": TEAM,
                                             "enterprise_id": None}},
            "event_ts": thread_ts}


def assistant_message(text: str, thread_ts: str, ts: str, channel: str = "D0DIRECT01",
                      user: str = "U0CUSTOMER") -> dict:
    """A question written in an assistant thread: a DM message in a thread."""
    event = message_event(text, channel=channel, ts=ts, user=user, channel_type="im")
    event.update(thread_ts=thread_ts, parent_user_id=BOT_USER)
    return event


def slash_command(text: str, response_url: str, channel: str = "C0SUPPORT1",
                  user: str = "U0CUSTOMER", command: str = "/babeldesk") -> dict:
    """A slash command's payload, as Socket Mode delivers it (every value a string)."""
    return {"token": "ZZZZZZWSxiZZZ2yIvs3peJ", "team_id": TEAM, "team_domain": "kettlebird",
            "channel_id": channel, "channel_name": "directmessage" if channel[0] == "D"
            else "support", "user_id": user, "user_name": "marta", "command": command,
            "text": text, "api_app_id": APP, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": f"{time.time()}.123.abcdef"}


def ephemeral_action(action_id: str, value: str, channel: str, response_url: str,
                     user: str = "U0CUSTOMER") -> dict:
    """A click on a button of an ephemeral message: no `message`, a response_url."""
    return {"type": "block_actions",
            "user": {"id": user, "username": "customer", "name": "customer", "team_id": TEAM},
            "api_app_id": APP, "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
            "container": {"type": "message", "message_ts": "1700009999.000300",
                          "channel_id": channel, "is_ephemeral": True},
            "trigger_id": "1234567890.1234567890.abcdef",
            "team": {"id": TEAM, "domain": "kettlebird"}, "enterprise": None,
            "is_enterprise_install": False, "channel": {"id": channel, "name": "support"},
            "state": {"values": {}}, "response_url": response_url,
            "actions": [{"action_id": action_id, "block_id": "babeldesk_actions",
                         "text": {"type": "plain_text", "text": "x", "emoji": True},
                         "value": value, "type": "button", "action_ts": str(time.time())}]}


def block_action(action_id: str, value: str, channel: str, message_ts: str,
                 thread_ts: str | None, user: str = "U0CUSTOMER") -> dict:
    """What Slack sends when someone clicks a button under one of the bot's messages."""
    message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": message_ts,
               "text": "answer", "team": TEAM}
    container = {"type": "message", "message_ts": message_ts, "channel_id": channel,
                 "is_ephemeral": False}
    if thread_ts:
        message["thread_ts"] = thread_ts
        container["thread_ts"] = thread_ts
    return {"type": "block_actions",
            "user": {"id": user, "username": "customer", "name": "customer", "team_id": TEAM},
            "api_app_id": APP, "token": "ZZZZZZWSxiZZZ2yIvs3peJ", "container": container,
            "trigger_id": "1234567890.1234567890.abcdef", "team": {"id": TEAM,
                                                                    "domain": "kettlebird"},
            "enterprise": None, "is_enterprise_install": False,
            "channel": {"id": channel, "name": "support"}, "message": message,
            "state": {"values": {}}, "response_url": "https://hooks.slack.com/actions/T/1/x",
            "actions": [{"action_id": action_id, "block_id": "babeldesk_actions",
                         "text": {"type": "plain_text", "text": "x", "emoji": True},
                         "value": value, "type": "button", "action_ts": str(time.time())}]}
