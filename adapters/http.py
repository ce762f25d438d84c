"""A JSON API over HTTP: for a help-centre widget, a script, or a probe that asks a real
question.

POST /v1/messages  {"text": "...", "conversation": "c1", "author": "u1", "stream": false}
  → {"text", "language", "sources", "abstained", "kind", "notice", "turn_id", "conversation"}
  With "stream": true the answer arrives as NDJSON: {"delta": "..."} lines, then the whole
  answer as the last line.
POST /v1/feedback  {"turn_id": 12, "value": 1 or -1, "author": "u1"}

When the environment variable named by `adapters.http.token_env` is set, every request needs
`Authorization: Bearer <its value>`.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid

from aiohttp import web

from bot.config import Config, HttpConfig, read_secret
from bot.message import Answer, Message
from bot.pipeline import Pipeline

from . import Handlers, listen, stop_listening

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class HttpAdapter:
    name = "http"

    def __init__(self, pipeline: Pipeline, config: HttpConfig, token: str | None = None):
        self.pipeline = pipeline
        self.config = config
        self.token = token
        self.port: int | None = None
        self.handlers = Handlers()
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "HttpAdapter | None":
        cfg = config.adapters.http
        if not cfg.enabled:
            return None
        return cls(pipeline, cfg, read_secret(cfg.token_env) if cfg.token_env else None)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._authorise])
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/feedback", self.feedback)
        self._runner, self.port = await listen(app, self.config.host, self.config.port,
                                               "adapters.http.port")
        log.info("http: answering on http://%s:%d/v1/messages%s", self.config.host, self.port,
                 "" if self.token else " without a token")

    async def stop(self) -> None:
        # Answers being written finish first; the listening socket closes at once.
        await stop_listening(self._runner)
        await self.handlers.wait(self.pipeline.config.server.shutdown_grace + 15)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _authorise(self, request: web.Request, handler):
        if self.token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return _error(401, "missing or wrong Authorization: Bearer token")
        return await handler(request)

    async def _body(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text=_problem("the body must be JSON"),
                                     content_type="application/json") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text=_problem("the body must be a JSON object"),
                                     content_type="application/json")
        return body

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        text = body.get("text")
        if not isinstance(text, str):
            return _error(400, '"text" must be a string')
        if not self.pipeline.accepting:
            return _error(503, "babeldesk is stopping; ask again in a minute")
        conversation = str(body.get("conversation") or uuid.uuid4().hex)
        message = Message(platform="http", workspace="", channel=conversation, thread="",
                          author=str(body.get("author") or "http"), text=text,
                          is_direct=True, id=uuid.uuid4().hex[:12])
        with self.handlers.track():
            reply = self.pipeline.respond(message)
            if not body.get("stream"):
                async for _ in reply:
                    pass
                return web.json_response(_render(await reply, conversation),
                                         dumps=_dumps)
            response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await response.prepare(request)
            async for chunk in reply:
                await response.write(_dumps({"delta": chunk}).encode() + b"\n")
            await response.write(_dumps(_render(await reply, conversation)).encode() + b"\n")
            await response.write_eof()
            return response

    async def feedback(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        turn_id, value = body.get("turn_id"), body.get("value")
        if not isinstance(turn_id, int) or value not in (1, -1):
            return _error(400, '"turn_id" must be an answer\'s id and "value" 1 or -1')
        stored = await self.pipeline.record_feedback(turn_id, str(body.get("author") or "http"),
                                                     value)
        if not stored:
            return _error(404, f"no answer has the id {turn_id}")
        return web.json_response({"stored": True})


def _render(answer: Answer, conversation: str) -> dict:
    data = answer.to_dict()
    data["text"] = data.pop("answer")
    data["conversation"] = conversation
    return data


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _problem(text: str) -> str:
    return _dumps({"error": text})


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)
