"""Slack: babeldesk in a workspace, through Socket Mode or the HTTP Events API (slack-bolt).

Answers go into the thread of the asking message: a placeholder at once, edited as the model
writes (at most once per `update_interval`), then the whole answer with its sources and
👍 / 👎 / "talk to a human" buttons.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config, SlackConfig, read_secret
from bot.errors import AdapterError
from bot.message import Answer, Attachment, Message
from bot.pipeline import Pipeline
from bot.text import split_message

from . import Handlers, listen, stop_listening

log = logging.getLogger(__name__)

#: a section block holds at most 3,000 characters
LIMIT = 3000
PLACEHOLDER = "…"
#: message subtypes that are a person writing; every other subtype (edits, deletions, joins,
#: topic changes, bot messages) is ignored
PERSON_SUBTYPES = (None, "file_share", "thread_broadcast")
RELEASE_WORDS = {"release", "resume", "unpause", "bot back"}
RATE_LIMIT_RETRIES = 5


def to_mrkdwn(text: str) -> str:
    """The model's Markdown as Slack mrkdwn: bold, links, headings and bullets."""
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"__(.+?)__", r"_\1_", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)
    text = re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", text, flags=re.MULTILINE)
    return re.sub(r"^(\s*)[-*]\s+", r"\1• ", text, flags=re.MULTILINE)


class SlackAdapter:
    """One Slack workspace, in Socket Mode or HTTP mode."""

    name = "slack"

    def __init__(self, pipeline: Pipeline, config: SlackConfig, bot_token: str,
                 app_token: str | None = None, signing_secret: str | None = None):
        self.pipeline = pipeline
        self.config = config
        self.app_token = app_token
        self.app = AsyncApp(token=bot_token, signing_secret=signing_secret or "",
                            request_verification_enabled=config.mode == "http")
        self.client: AsyncWebClient = self.app.client
        self.client.base_url = config.api_url
        # slack_sdk does not retry a 429 unless told to; Retry-After is honoured when it does.
        self.client.retry_handlers.append(
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
        self.bot_user_id = ""
        self.team_id = ""
        self.http_port: int | None = None
        self._handler: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.handlers = Handlers()
        self._register()

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "SlackAdapter | None":
        """The adapter, or None when disabled; AdapterError names a missing secret."""
        cfg = config.adapters.slack
        if not cfg.enabled:
            return None
        needed = [cfg.bot_token_env,
                  cfg.app_token_env if cfg.mode == "socket" else cfg.signing_secret_env]
        missing = [name for name in needed if not read_secret(name)]
        if missing:
            raise AdapterError(f"not started: set {' and '.join(missing)} in the environment "
                               f"(adapters.slack, mode {cfg.mode})")
        return cls(pipeline, cfg, read_secret(cfg.bot_token_env),
                   app_token=read_secret(cfg.app_token_env),
                   signing_secret=read_secret(cfg.signing_secret_env))

    # -- connecting --

    async def start(self) -> None:
        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            raise AdapterError(f"Slack rejected the bot token in {self.config.bot_token_env}: "
                               f"{exc.response.get('error', exc)}") from None
        except Exception as exc:
            raise AdapterError(f"cannot reach Slack at {self.config.api_url}: {exc}") from None
        self.bot_user_id, self.team_id = auth["user_id"], auth.get("team_id", "")
        if self.config.mode == "socket":
            await self._start_socket_mode()
        else:
            await self._start_http()
        log.info("slack: connected as %s in %s (%s mode)", self.bot_user_id, self.team_id,
                 self.config.mode)

    async def _start_socket_mode(self) -> None:
        try:
            opened = await self.client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            raise AdapterError(f"Slack rejected the app-level token in "
                               f"{self.config.app_token_env}: "
                               f"{exc.response.get('error', exc)}") from None
        self._handler = AsyncSocketModeHandler(self.app, self.app_token)
        self._handler.client.wss_uri = opened["url"]  # checked above: use it, don't ask twice
        await self._handler.connect_async()

    async def _start_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(self.config.http_path, self._handle_http)
        self._runner, self.http_port = await listen(web_app, self.config.http_host,
                                                    self.config.http_port,
                                                    "adapters.slack.http_port")

    async def _handle_http(self, request: web.Request) -> web.Response:
        # Bolt verifies the signature, answers url_verification and acknowledges at once;
        # the answer itself is produced after the acknowledgement.
        response = await self.app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def stop(self) -> None:
        # Close the event source first; the answers in progress still post through the Web
        # API, which needs no connection of its own.
        if self._handler:
            await self._handler.close_async()
            self._handler = None
        await stop_listening(self._runner)
        await self.handlers.wait(self.pipeline.config.server.shutdown_grace + 15)
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    # -- listening --

    def _register(self) -> None:
        app = self.app

        @app.event("app_mention")
        async def on_mention(event, body):
            await self._guard(self._on_message(event, body, mentioned=True))

        @app.event("message")
        async def on_message(event, body):
            await self._guard(self._on_message(event, body, mentioned=False))

        @app.action(re.compile(r"^babeldesk_(up|down)$"))
        async def on_feedback(ack, body, action):
            await ack()
            await self._guard(self._on_feedback(body, action))

        @app.action("babeldesk_handoff")
        async def on_handoff(ack, body):
            await ack()
            await self._guard(self._on_handoff(body))

        @app.action("babeldesk_release")
        async def on_release(ack, body):
            await ack()
            await self._guard(self._on_release(body))

    async def _guard(self, work) -> None:
        """One message's failure is logged; the bot carries on with the next."""
        try:
            with self.handlers.track():
                await work
        except SlackApiError as exc:
            log.error("slack: API error %s", exc.response.get("error", exc))
        except Exception:
            log.exception("slack: handling an event failed")

    def message_for(self, event: dict, body: dict) -> Message:
        is_dm = event.get("channel_type") == "im"
        # A top-level channel message starts a thread under itself; a DM is one conversation.
        thread = event.get("thread_ts") or ("" if is_dm else event["ts"])
        files = tuple(Attachment(f.get("name", ""), f.get("url_private", ""),
                                 f.get("mimetype", ""), f.get("size", 0))
                      for f in event.get("files", []))
        return Message(platform="slack", workspace=body.get("team_id") or event.get("team")
                       or self.team_id, channel=event["channel"], thread=thread,
                       author=event.get("user", ""), text=event.get("text", ""),
                       is_direct=is_dm, attachments=files, id=event["ts"])

    async def _should_answer(self, event: dict, message: Message, mentioned: bool) -> bool:
        if event.get("subtype") not in PERSON_SUBTYPES:
            return False
        if event.get("bot_id") or event.get("bot_profile") or not event.get("user"):
            return False
        if event["user"] == self.bot_user_id or message.channel in self.config.ignore_channels:
            return False
        if mentioned:
            return True
        if f"<@{self.bot_user_id}>" in message.text and not message.is_direct:
            return False  # the app_mention event for the same message answers it
        if message.is_direct:
            return self.config.direct_messages
        if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
            return await self.pipeline.has_answered_in(message.key)
        return message.channel in self.config.support_channels

    async def _on_message(self, event: dict, body: dict, mentioned: bool) -> None:
        message = self.message_for(event, body)
        if not await self._should_answer(event, message, mentioned):
            return
        # Slack redelivers an event it thinks was missed, and sends a mention as two events.
        if not await self.pipeline.claim("slack", f"{message.channel}:{message.id}"):
            log.info("slack: %s in %s already handled", message.id, message.channel)
            return
        reply_thread = event.get("thread_ts") or (None if message.is_direct else event["ts"])
        if await self.pipeline.is_handed_off(message.key):
            if mentioned and _words(message.text, self.bot_user_id) in RELEASE_WORDS:
                said = await self.pipeline.release(message.key)
                await self.client.chat_postMessage(channel=message.channel, text=said,
                                                   thread_ts=reply_thread)
            return
        await self._answer(message, reply_thread)

    async def _answer(self, message: Message, thread_ts: str | None) -> None:
        placeholder = await self.client.chat_postMessage(
            channel=message.channel, thread_ts=thread_ts, text=PLACEHOLDER)
        ts = placeholder["ts"]
        reply = self.pipeline.respond(message)
        streamed, shown = "", ""
        last = time.monotonic()
        async for chunk in reply:
            streamed += chunk
            if time.monotonic() - last >= self.config.update_interval and streamed != shown:
                preview = split_message(to_mrkdwn(streamed), LIMIT - 2)[0]
                await self._safe_update(message.channel, ts, f"{preview} {PLACEHOLDER}")
                shown, last = streamed, time.monotonic()
        answer = await reply
        if answer.silent:
            await self.client.chat_delete(channel=message.channel, ts=ts)
            return
        # The final edit also waits its turn, so edits stay at most one per interval.
        await asyncio.sleep(max(0.0, self.config.update_interval - (time.monotonic() - last)))
        await self._post_answer(message, answer, ts, thread_ts)

    async def _safe_update(self, channel: str, ts: str, text: str) -> None:
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text)
        except SlackApiError as exc:  # a lost preview is no reason to lose the answer
            log.warning("slack: streaming update failed: %s", exc.response.get("error", exc))

    async def _post_answer(self, message: Message, answer: Answer, ts: str,
                           thread_ts: str | None) -> None:
        body = to_mrkdwn(answer.text)
        if answer.notice:
            body = f"_{answer.notice}_\n\n{body}"
        pieces = split_message(body, LIMIT) or [answer.text]
        for i, piece in enumerate(pieces):
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}]
            if i == len(pieces) - 1:
                blocks += self._answer_blocks(answer)
            if i == 0:
                await self.client.chat_update(channel=message.channel, ts=ts, text=piece,
                                              blocks=blocks)
            else:
                await self.client.chat_postMessage(channel=message.channel, thread_ts=thread_ts,
                                                   text=piece, blocks=blocks)

    def _answer_blocks(self, answer: Answer) -> list[dict]:
        texts = self.pipeline.texts
        blocks: list[dict] = []
        if answer.sources:
            label = texts.get("sources", answer.language)
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"*{label}:* " + " · ".join(
                    f"{s.path} › {s.heading}" for s in answer.sources)}]})
        if answer.turn_id is None or answer.kind in ("empty", "refused"):
            return blocks
        value = str(answer.turn_id)
        buttons = []
        if answer.kind == "answer":
            buttons += [_button("babeldesk_up", "👍", value), _button("babeldesk_down", "👎", value)]
        buttons.append(_button("babeldesk_handoff",
                               f"🙋 {texts.get('human_button', answer.language)}", value))
        blocks.append({"type": "actions", "block_id": "babeldesk_actions", "elements": buttons})
        return blocks

    # -- buttons --

    def _key_message(self, body: dict) -> Message:
        """The conversation a button belongs to, from the message that carries it."""
        posted = body.get("message", {})
        container = body.get("container", {})
        channel = body.get("channel", {}).get("id") or container.get("channel_id", "")
        return Message(platform="slack", workspace=body.get("team", {}).get("id") or
                       self.team_id, channel=channel,
                       thread=posted.get("thread_ts") or container.get("thread_ts") or "",
                       author=body.get("user", {}).get("id", ""), text="")

    async def _on_feedback(self, body: dict, action: dict) -> None:
        value = 1 if action["action_id"] == "babeldesk_up" else -1
        stored = await self.pipeline.record_feedback(int(action["value"]),
                                                     body["user"]["id"], value)
        log.info("slack: feedback %+d on answer %s %s", value, action["value"],
                 "stored" if stored else "for a forgotten answer")

    async def _on_handoff(self, body: dict) -> None:
        message = self._key_message(body)
        said = await self.pipeline.hand_off(message)
        text = f"{self.config.handoff_mention} {said}".strip()
        language = await asyncio.to_thread(self.pipeline.language_of, message.key)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                  {"type": "actions", "block_id": "babeldesk_handoff", "elements": [_button(
                      "babeldesk_release",
                      self.pipeline.texts.get("release_button", language), "release")]}]
        await self.client.chat_postMessage(channel=message.channel, text=text, blocks=blocks,
                                           thread_ts=message.thread or None)

    async def _on_release(self, body: dict) -> None:
        message = self._key_message(body)
        said = await self.pipeline.release(message.key)
        if said:
            await self.client.chat_postMessage(channel=message.channel, text=said,
                                               thread_ts=message.thread or None)


def _button(action_id: str, label: str, value: str) -> dict:
    return {"type": "button", "action_id": action_id, "value": value,
            "text": {"type": "plain_text", "text": label[:75], "emoji": True}}


def _words(text: str, bot_user_id: str) -> str:
    return " ".join(text.replace(f"<@{bot_user_id}>", " ").lower().split()).strip(" .!")
