"""A fake Slack for the tests: the Web API under /api/{method} and a Socket Mode websocket,
served on 127.0.0.1 by aiohttp. It records every call so tests can assert on them.

Like Slack, it refuses a message that breaks Block Kit's limits (`invalid_blocks`,
`msg_too_long`); and since a refused answer is one nobody reads, `stop()` fails the test that
had one refused, unless the test says it meant to (`expect_refused_blocks`). Its Socket Mode
side can ask the client to reconnect (`disconnect`) or drop the connection (`drop_socket`), as
Slack does every few hours and on a network fault."""

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

# Slack's limits on a message, as its documentation states them:
# - "You can include up to 50 blocks in each message"
#   (docs.slack.dev/reference/block-kit/blocks);
# - a section's text: "Maximum length for the text in this field is 3000 characters"
#   (api.slack.com/reference/block-kit/blocks#section), and a text object's anywhere: "The
#   minimum length is 1 and maximum length is 3000 characters"
#   (docs.slack.dev/reference/block-kit/composition-objects/text-object);
# - a context block's elements: "Maximum number of items is 10"
#   (docs.slack.dev/reference/block-kit/blocks/context-block);
# - an actions block: "a maximum of 25 elements in each action block"
#   (api.slack.com/reference/messaging/blocks);
# - a button: text at most 75 characters, value at most 2000, action_id at most 255
#   (docs.slack.dev/reference/block-kit/block-elements/button-element);
# - chat.postMessage's error msg_too_long, "Message text is too long", for text over 40,000
#   characters (api.slack.com/changelog/2018-04-truncating-really-long-messages).
MAX_BLOCKS = 50
MAX_TEXT_OBJECT = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000
#: the methods that take a message, and so Block Kit
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")


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
        #: envelope id -> the socket (its index in `sockets`) its acknowledgement came on
        self.ack_sockets: dict[str, int] = {}
        self.sockets: list[web.WebSocketResponse] = []
        #: every apps.connections.open answered (the client asks before each new socket)
        self.connections_opened = 0
        #: messages refused for breaking Block Kit's limits; `stop()` fails the test on any,
        #: unless it expected them
        self.refused_blocks: list[Call] = []
        self.expect_refused_blocks = False
        #: uploaded files: path under /files-pri → (bytes, mimetype); downloads need a token
        self.files: dict[str, tuple[bytes, str]] = {}
        #: every download of a file: (path, the Authorization header it came with)
        self.downloads: list[tuple[str, str]] = []
        #: messages conversations.history and .replies know: (channel, ts) → message
        self.messages: dict[tuple[str, str], dict] = {}
        self._transports: dict[int, object] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> "FakeSlack":
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk reads users.* with GET
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/hooks/{tail:.*}", self._hook)
        app.router.add_get("/files-pri/{tail:.*}", self._file)
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
        if self.refused_blocks and not self.expect_refused_blocks:
            raise AssertionError("Slack refused messages that break Block Kit's limits: "
                                 + "; ".join(f"{c.method}: {c.result['error']} "
                                             f"{c.result['response_metadata']['messages']}"
                                             for c in self.refused_blocks))

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
        elif method in MESSAGE_METHODS and (refusal := message_refusal(params)):
            call.result = refusal
            if refusal["error"] in ("invalid_blocks", "msg_too_long"):
                self.refused_blocks.append(call)
        else:
            call.result = self._result(method, params)
        return web.json_response(call.result)

    def upload(self, name: str, data: bytes, mimetype: str) -> dict:
        """A file as a customer's message carries it (a file object of `files`)."""
        file_id = f"F0{uuid.uuid4().hex[:9].upper()}"
        path = f"{TEAM}-{file_id}/{name}"
        self.files[path] = (data, mimetype)
        url = f"{self.url}/files-pri/{path}"
        return {"id": file_id, "created": int(time.time()), "timestamp": int(time.time()),
                "name": name, "title": name, "mimetype": mimetype,
                "filetype": name.rsplit(".", 1)[-1], "user": "U0CUSTOMER", "size": len(data),
                "mode": "hosted", "is_external": False, "is_public": True,
                "url_private": url,
                "url_private_download": f"{self.url}/files-pri/{TEAM}-{file_id}/download/{name}",
                "permalink": f"https://kettlebird.slack.com/files/U0CUSTOMER/{file_id}/{name}"}

    async def _file(self, request: web.Request) -> web.Response:
        """files.slack.com: the file for a valid bot token, Slack's sign-in page (200,
        HTML) without one."""
        path = request.match_info["tail"].replace("/download/", "/", 1)
        auth = request.headers.get("Authorization", "")
        self.downloads.append((path, auth))
        token = auth.removeprefix("Bearer ")
        if not token.startswith("xoxb-") or token in self.rejected_tokens:
            return web.Response(text="<!DOCTYPE html><html><title>Slack</title>sign in</html>",
                                content_type="text/html")
        if path not in self.files:
            return web.Response(status=404, text="file not found")
        data, mimetype = self.files[path]
        return web.Response(body=data, content_type=mimetype)

    def remember(self, event: dict, files: list[dict]) -> None:
        """The message behind `event` as conversations.history/.replies return it."""
        message = {k: v for k, v in event.items() if k not in ("channel", "event_ts")}
        message.update(type="message", files=files, upload=False)
        self.messages[(event["channel"], event["ts"])] = message

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
            self.connections_opened += 1
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
        if method in ("conversations.history", "conversations.replies"):
            channel = params.get("channel")
            latest = float(params.get("latest") or "inf")
            oldest = float(params.get("oldest") or 0)
            inclusive = params.get("inclusive") in ("true", "1", True)
            found = sorted((m for (c, ts), m in self.messages.items() if c == channel and (
                oldest <= float(ts) <= latest if inclusive else oldest < float(ts) < latest)
                and (method == "conversations.history" and not m.get("thread_ts")
                     or method == "conversations.replies"
                     and m.get("thread_ts", m["ts"]) == params.get("ts"))),
                key=lambda m: float(m["ts"]), reverse=method == "conversations.history")
            if method == "conversations.replies":
                # Slack puts the thread's parent first, whatever the range asked for.
                parent = self.messages.get((channel, params.get("ts")))
                found = ([parent] if parent else []) + [m for m in found if m is not parent]
            return {"ok": True, "messages": found[:int(params.get("limit") or 100)],
                    "has_more": False}
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
        self._transports[id(ws)] = request.transport
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "applink-fake", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": APP}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.acks.append(ack)
                self.ack_times[ack.get("envelope_id", "")] = time.monotonic()
                self.ack_sockets[ack.get("envelope_id", "")] = self.sockets.index(ws)
        return ws

    async def wait_for_socket(self, timeout: float = 10.0, count: int = 1) -> None:
        """Wait until the client has opened its `count`th socket (a reconnect opens one more)
        and the socket before it is closed."""
        deadline = time.monotonic() + timeout
        while len(self.sockets) < count or any(not ws.closed for ws in self.sockets[:-1]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Socket Mode client never opened socket {count} "
                                   f"(it opened {len(self.sockets)})")
            await asyncio.sleep(0.02)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before it closes a socket: a
        `disconnect` frame with a reason: refresh_requested (about every few hours), warning
        (ten seconds before), or link_disabled (Socket Mode turned off for the app)."""
        await self.sockets[-1].send_json({
            "type": "disconnect", "reason": reason,
            "debug_info": {"host": "applink-fake"}})

    async def drop_socket(self, abrupt: bool = True) -> None:
        """End the current socket: abruptly (the connection is cut, no close frame, as a
        network fault does) or with a close frame (1001, going away)."""
        ws = self.sockets[-1]
        if abrupt:
            self._transports[id(ws)].abort()
        else:
            await ws.close(code=1001, message=b"going away")

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


# --- Block Kit's limits ---------------------------------------------------------------------

def message_refusal(params: dict) -> dict | None:
    """Slack's answer to a message it will not take, or None when it takes it."""
    text = params.get("text") or ""
    blocks = params.get("blocks")
    if isinstance(blocks, str):  # a form-encoded call sends its blocks as a JSON string
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return {"ok": False, "error": "invalid_blocks_format"}
    if not text and not blocks:
        return {"ok": False, "error": "no_text"}
    if len(text) > MAX_MESSAGE_TEXT:
        return {"ok": False, "error": "msg_too_long",
                "response_metadata": {"messages": [
                    f"[ERROR] text: {len(text)} characters, at most {MAX_MESSAGE_TEXT}"]}}
    problems = blocks_problems(blocks) if blocks else []
    if problems:
        return {"ok": False, "error": "invalid_blocks",
                "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}}
    return None


def blocks_problems(blocks) -> list[str]:
    """What breaks Block Kit's limits in a message's blocks, each with its JSON pointer."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks, at most {MAX_BLOCKS} [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        problems += _block_problems(block, f"/blocks/{i}")
    return problems


def _block_problems(block: dict, at: str) -> list[str]:
    problems = []
    if len(block.get("block_id", "")) > MAX_BLOCK_ID:
        problems.append(f"block_id over {MAX_BLOCK_ID} characters [json-pointer:{at}/block_id]")
    kind = block.get("type")
    if kind == "section":
        if "text" not in block and not block.get("fields"):
            problems.append(f"a section needs text or fields [json-pointer:{at}]")
        if "text" in block:
            problems += _text_problems(block["text"], f"{at}/text")
        for j, item in enumerate(block.get("fields", [])):
            problems += _text_problems(item, f"{at}/fields/{j}", most=2000)
    elif kind == "context":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            problems.append(f"{len(elements)} elements, 1 to {MAX_CONTEXT_ELEMENTS} "
                            f"[json-pointer:{at}/elements]")
        for j, element in enumerate(elements):
            if element.get("type") in ("mrkdwn", "plain_text"):
                problems += _text_problems(element, f"{at}/elements/{j}")
    elif kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
            problems.append(f"{len(elements)} elements, 1 to {MAX_ACTIONS_ELEMENTS} "
                            f"[json-pointer:{at}/elements]")
        for j, element in enumerate(elements):
            if element.get("type") == "button":
                problems += _button_problems(element, f"{at}/elements/{j}")
    return problems


def _text_problems(obj, at: str, most: int = MAX_TEXT_OBJECT) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        return [f"must be a text object [json-pointer:{at}]"]
    text = obj.get("text", "")
    if not 1 <= len(text) <= most:
        return [f"text of {len(text)} characters, 1 to {most} [json-pointer:{at}/text]"]
    return []


def _button_problems(button: dict, at: str) -> list[str]:
    problems = []
    label = button.get("text")
    if not isinstance(label, dict) or label.get("type") != "plain_text":
        problems.append(f"a button's text must be plain_text [json-pointer:{at}/text]")
    else:
        problems += _text_problems(label, f"{at}/text", most=MAX_BUTTON_TEXT)
    if len(button.get("value", "")) > MAX_BUTTON_VALUE:
        problems.append(f"value over {MAX_BUTTON_VALUE} characters [json-pointer:{at}/value]")
    if len(button.get("action_id", "")) > MAX_ACTION_ID:
        problems.append(f"action_id over {MAX_ACTION_ID} characters "
                        f"[json-pointer:{at}/action_id]")
    return problems


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
                 thread_ts: str | None, user: str = "U0CUSTOMER", text: str = "answer",
                 blocks: list[dict] | None = None) -> dict:
    """What Slack sends when someone clicks a button under one of the bot's messages (its
    `text` and `blocks` as the bot posted them, when a test passes them)."""
    message = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID, "ts": message_ts,
               "text": text, "team": TEAM}
    if blocks is not None:
        message["blocks"] = blocks
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
