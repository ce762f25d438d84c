"""A JSON API over HTTP: for a help-centre widget, a script, or a probe that asks a real
question.

POST /v1/messages  {"text": "...", "conversation": "c1", "author": "u1", "stream": false,
                    "files": [{"name": "error.png", "data": "<base64>"}]}
  → {"text", "language", "sources", "abstained", "kind", "notice", "turn_id", "conversation"}
  Files (screenshots, logs; optional, and then "text" may be empty) come base64-encoded in
  "files", or as the parts named "file" of a multipart/form-data body whose other fields are
  text, conversation, author and stream.
  With "stream": true the answer arrives as NDJSON: {"delta": "..."} lines, then the whole
  answer as the last line.
POST /v1/feedback  {"turn_id": 12, "value": 1 or -1, "author": "u1"}
POST /v1/confirm   {"conversation": "c1", "action_call": 7, "yes": true, "author": "u1"}
  The customer's answer to an answer of kind "confirm" (an action that changes something,
  such as opening a ticket: see bot/acting.py); answered like a message. Only the author who
  asked for the action may confirm it, in the conversation where it was asked.

Every client has its own token (`Authorization: Bearer <token>`; the variable named by
`adapters.http.token_env` holds them, comma-separated). Tokens are required unless the API
listens on a loopback address only. A client sees only its own conversations: they are kept
under the token, so two clients that both say "conversation": "c1" never share one, and
feedback is taken only on the client's own answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from bot.config import Config, check, check_env_name, positive, read_secret
from bot.errors import AdapterError
from bot.history import ConversationKey
from bot.message import Answer, Attachment, Message
from bot.pipeline import Pipeline

from . import Handlers, listen, settings
from .limits import RateLimit

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
#: characters of a conversation or author id
MAX_ID_CHARS = 200
#: SQLite's largest integer: a larger turn id is no answer's
MAX_TURN_ID = 2**63 - 1
#: seconds an answer is assumed to take before the first one was timed (for Retry-After)
FIRST_ESTIMATE = 10.0
#: the caller's client name, set by the guard
CLIENT = web.RequestKey("client", str)


class Problem(Exception):
    """A request refused with a JSON {"error": ...} and this status."""

    def __init__(self, status: int, text: str, retry_after: float | None = None):
        super().__init__(text)
        self.status, self.text = status, text
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} \
            if retry_after is not None else {}


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach an address (a name other than localhost: no)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_tokens(value: str | None) -> list[str]:
    """The clients' tokens in the variable's value: comma- or space-separated."""
    return [t for t in (value or "").replace(",", " ").split() if t]


def client_of(token: str) -> str:
    """The name a client's conversations are kept under: its token's digest, never the
    token itself (history.db may be read by more people than the environment)."""
    return "t" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class HttpConfig:
    #: a JSON API (POST /v1/messages) for scripts, web widgets and health probes that ask
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8090
    #: the environment variable holding the clients' tokens ("Authorization: Bearer <token>";
    #: several, comma-separated, one per client); required unless `host` is loopback
    token_env: str | None = "BABELDESK_HTTP_TOKEN"
    #: questions a client (a token; without tokens, an address) may ask per minute; 0: no limit
    rate_limit: int = 30
    #: questions answered or waiting over HTTP at once; more get 429 with Retry-After
    max_pending: int = 4

    def validate(self, key: str) -> None:
        check(0 <= self.port <= 65535, f"{key}.port", "must be a port number")
        check_env_name(f"{key}.token_env", self.token_env, False)
        check(self.rate_limit >= 0, f"{key}.rate_limit", "must be 0 (no limit) or more")
        positive(f"{key}.max_pending", self.max_pending)


class HttpAdapter:
    name = "http"
    Settings = HttpConfig

    def __init__(self, pipeline: Pipeline, config: HttpConfig, tokens: list[str] = ()):
        self.pipeline = pipeline
        self.config = config
        #: client name → its token
        self.tokens = {client_of(t): t for t in tokens}
        self.port: int | None = None
        self.handlers = Handlers()
        self.limit = RateLimit(config.rate_limit)
        #: questions being answered or waiting, over HTTP
        self.pending = 0
        #: recent answers' seconds (moving average), for Retry-After
        self.answer_seconds = FIRST_ESTIMATE
        self._stopping = False
        self._runner: web.AppRunner | None = None
        files = pipeline.config.attachments
        #: the largest body taken: a question, and its files base64-encoded when they are read
        self.max_body = MAX_BODY + (math.ceil(files.max_bytes * 4 / 3) if files.enabled else 0)

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "HttpAdapter | None":
        cfg = settings(config, cls)
        if not cfg.enabled:
            return None
        tokens = read_tokens(read_secret(cfg.token_env) if cfg.token_env else None)
        if not tokens and not is_loopback(cfg.host):
            variable = cfg.token_env or "adapters.http.token_env"
            raise AdapterError(
                f"not started: it listens on {cfg.host} (adapters.http.host), beyond this "
                f"machine, and {variable} holds no token: set one (openssl rand -hex 24), or "
                "listen on 127.0.0.1")
        return cls(pipeline, cfg, tokens)

    async def start(self) -> None:
        app = web.Application(client_max_size=self.max_body, middlewares=[self._guard])
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/feedback", self.feedback)
        app.router.add_post("/v1/confirm", self.confirm)
        # A client that hangs up cancels its answer: nobody would read it.
        self._runner, self.port = await listen(app, self.config.host, self.config.port,
                                               "adapters.http.port", handler_cancellation=True)
        log.info("http: answering on http://%s:%d/v1/messages%s", self.config.host, self.port,
                 f" for {len(self.tokens)} tokens" if self.tokens else " without a token")

    async def stop(self) -> None:
        # Until the answers being written are through, new requests get a 503 rather than a
        # refused connection.
        self._stopping = True
        await self.handlers.wait(self.pipeline.config.server.shutdown_grace + 15)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        try:
            if self._stopping or not self.pipeline.accepting:
                raise Problem(503, "babeldesk is stopping; ask again in a minute", 30)
            request[CLIENT] = self._client(request)
            return await handler(request)
        except Problem as problem:
            return web.json_response({"error": problem.text}, status=problem.status,
                                     headers=problem.headers)

    def _client(self, request: web.Request) -> str:
        """The caller's client name ("" on a loopback API without tokens)."""
        if not self.tokens:
            return ""
        given = request.headers.get("Authorization", "").encode()
        found = ""
        for client, token in self.tokens.items():  # every token compared: constant time
            if hmac.compare_digest(given, f"Bearer {token}".encode()):
                found = client
        if not found:
            raise Problem(401, "missing or wrong Authorization: Bearer token")
        return found

    async def _body(self, request: web.Request, files: bool = False) -> dict:
        """The JSON object of the request, at most MAX_BODY bytes of it beside the files'
        base64 (`files`: a question, which may carry them)."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise Problem(413, f"the body is over {self.max_body // 1024} kB") from None
        if len(raw) > MAX_BODY and (not files or b'"files"' not in raw):
            raise Problem(413, f"the body is over {MAX_BODY // 1024} kB")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Problem(400, "the body must be JSON") from None
        except RecursionError:
            raise Problem(400, "the body is nested too deeply") from None
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        if len(raw) > MAX_BODY:
            data = sum(len(f.get("data") or "") for f in body.get("files") or []
                       if isinstance(f, dict) and isinstance(f.get("data"), str))
            if len(raw) - data > MAX_BODY:
                raise Problem(413, f"the body is over {MAX_BODY // 1024} kB beside its files")
        return body

    async def messages(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "multipart/form-data":
            body, files = await self._form(request)
        else:
            body = await self._body(request, files=True)
            files = _files(body)
        text = _string(body, "text", required=not files, limit=None)
        conversation = _string(body, "conversation") or uuid.uuid4().hex
        author = _string(body, "author") or "http"
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise Problem(400, '"stream" must be true or false')
        client = request[CLIENT]
        self._admit(client or request.remote or "")
        message = Message(platform="http", workspace=client, channel=conversation, thread="",
                          author=author, text=text, is_direct=True, id=uuid.uuid4().hex[:12],
                          attachments=files)
        return await self._reply(request, message, self.pipeline.respond, stream, conversation)

    async def _form(self, request: web.Request) -> tuple[dict, tuple[Attachment, ...]]:
        """A multipart/form-data question: its fields, and its parts named "file"."""
        body: dict = {}
        files = []
        size = 0
        try:
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                size += len(data)
                if size > self.max_body:
                    raise Problem(413, f"the body is over {self.max_body // 1024} kB")
                if part.name == "file":
                    files.append(Attachment(part.filename or "file", data=bytes(data)))
                elif part.name in ("text", "conversation", "author", "stream"):
                    if len(data) > MAX_BODY:
                        raise Problem(413, f'"{part.name}" is over {MAX_BODY // 1024} kB')
                    body[part.name] = data.decode("utf-8", errors="replace")
        except (ValueError, AssertionError) as exc:
            raise Problem(400, f"the multipart body does not parse: {exc}") from None
        except web.HTTPRequestEntityTooLarge:
            raise Problem(413, f"the body is over {self.max_body // 1024} kB") from None
        if "stream" in body:
            body["stream"] = {"true": True, "false": False}.get(body["stream"], body["stream"])
        return body, tuple(files)

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """The customer's yes or no to an answer of kind `confirm`: {"conversation": …,
        "action_call": its id, "yes": true/false, "author": …}; answered like a message."""
        body = await self._body(request)
        conversation = _string(body, "conversation", required=True)
        call_id, yes = body.get("action_call"), body.get("yes")
        if type(call_id) is not int or not 0 < call_id <= MAX_TURN_ID \
                or not isinstance(yes, bool):
            raise Problem(400, '"action_call" must be a confirmation\'s id and "yes" true or '
                               'false')
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise Problem(400, '"stream" must be true or false')
        author = _string(body, "author") or "http"
        asker = await self.pipeline.action_asker(call_id)
        if asker and asker != author:
            raise Problem(403, "only the author who asked for this action may confirm it")
        client = request[CLIENT]
        self._admit(client or request.remote or "")
        message = Message(platform="http", workspace=client, channel=conversation, thread="",
                          author=author, text="", is_direct=True, id=uuid.uuid4().hex[:12])
        return await self._reply(
            request, message, lambda m: self.pipeline.confirm(m, call_id, yes), stream,
            conversation)

    async def _reply(self, request: web.Request, message: Message, start, stream: bool,
                     conversation: str) -> web.StreamResponse:
        """The answer `start(message)` produces: one JSON object, or NDJSON deltas then the
        answer when `stream`."""
        self.pending += 1
        started = time.monotonic()
        reply = start(message)
        try:
            with self.handlers.track():
                if not stream:
                    async for _ in reply:
                        pass
                    return web.json_response(_render(await reply, conversation), dumps=_dumps)
                response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
                await response.prepare(request)
                async for chunk in reply:
                    await response.write(_dumps({"delta": chunk}).encode() + b"\n")
                await response.write(_dumps(_render(await reply, conversation)).encode() + b"\n")
                await response.write_eof()
                return response
        except (asyncio.CancelledError, ConnectionError):
            log.info("http: the client left; its answer in %s is cancelled", message.key.id)
            raise
        finally:
            self.pending -= 1
            if reply.done():
                self.answer_seconds = 0.7 * self.answer_seconds + \
                    0.3 * (time.monotonic() - started)
            else:
                reply.cancel()

    def _admit(self, client: str) -> None:
        """Refuse a question beyond the client's rate or the queue's bound (429)."""
        now = time.monotonic()
        wait = self.limit.wait(client, now)
        if wait:
            raise Problem(429, f"over {self.config.rate_limit} questions a minute from this "
                          "client; ask again later", wait)
        if self.pending >= self.config.max_pending:
            raise Problem(429, f"babeldesk is answering {self.pending} questions already; ask "
                          "again later", min(self.answer_seconds, 300))
        self.limit.record(client, now)

    async def feedback(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        turn_id, value = body.get("turn_id"), body.get("value")
        if type(turn_id) is not int or not 0 < turn_id <= MAX_TURN_ID \
                or type(value) is not int or value not in (1, -1):
            raise Problem(400, '"turn_id" must be an answer\'s id and "value" 1 or -1')
        author = _string(body, "author") or "http"
        own = ConversationKey("http", request[CLIENT], "").workspace_id
        stored = await self.pipeline.record_feedback(turn_id, author, value, within=own)
        if not stored:
            raise Problem(404, f"no answer of yours has the id {turn_id}")
        return web.json_response({"stored": True})


def _string(body: dict, key: str, required: bool = False, limit: int | None = MAX_ID_CHARS
            ) -> str:
    """A text field of the body ("" when absent and not required); ids may be numbers."""
    value = body.get(key)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and limit:
        value = str(value)
    if not isinstance(value, str):
        raise Problem(400, f'"{key}" must be a string')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(400, f'"{key}" must be Unicode text (it has a lone surrogate)') from None
    if limit and len(value) > limit:
        raise Problem(400, f'"{key}" must be at most {limit} characters')
    return value


def _files(body: dict) -> tuple[Attachment, ...]:
    """The "files" of a JSON question: [{"name": "error.png", "data": base64}]."""
    files = body.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise Problem(400, '"files" must be a list of {"name": ..., "data": base64}')
    out = []
    for i, f in enumerate(files):
        name, data = f.get("name") or "file", f.get("data")
        if not isinstance(name, str) or not isinstance(data, str):
            raise Problem(400, f'"files"[{i}] needs "data", the file in base64, and a "name"')
        try:
            out.append(Attachment(name[:MAX_ID_CHARS], data=base64.b64decode(data, validate=True)))
        except (binascii.Error, ValueError):
            raise Problem(400, f'"files"[{i}].data is not base64') from None
    return tuple(out)


def _render(answer: Answer, conversation: str) -> dict:
    data = answer.to_dict()
    data["text"] = data.pop("answer")
    data["conversation"] = conversation
    return data


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


ADAPTER = HttpAdapter
