"""Slack: babeldesk in a workspace, through Socket Mode or the HTTP Events API (slack-bolt).

Answers go into the thread of the asking message: a placeholder at once, edited as the model
writes (at most once per `update_interval`), then the whole answer with its sources and
👍 / 👎 / "talk to a human" buttons. An action that waits for the customer's yes gets ✅ / ✖️
buttons instead: the asker's press takes them off the message and the outcome follows in
the same thread or DM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_bolt.context.assistant.thread_context import AssistantThreadContext
from slack_bolt.context.assistant.thread_context_store.async_store import (
    AsyncAssistantThreadContextStore)
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config, check, check_env_name, read_secret
from bot.errors import AdapterError
from bot.history import ConversationKey
from bot.language import locale_language
from bot.message import Answer, Attachment, Message
from bot.pipeline import Pipeline
from . import Handlers, listen, settings, stop_listening
from .limits import Access, Gate
from .reply import WRITING, Button, Final, Outbox, Refused, Replies, key_of

log = logging.getLogger(__name__)

#: a section block holds at most 3,000 characters
LIMIT = 3000
PLACEHOLDER = WRITING
#: message subtypes that are a person writing; every other subtype (edits, deletions, joins,
#: topic changes, bot messages) is ignored
PERSON_SUBTYPES = (None, "file_share", "thread_broadcast")
#: errors after which nothing more can be posted there: the answer is not written further
REFUSALS = {"channel_not_found", "not_in_channel", "is_archived", "message_not_found",
            "cant_update_message", "restricted_action", "access_denied", "no_permission",
            "account_inactive", "invalid_auth", "token_revoked", "ekm_access_denied"}
#: seconds a user group's members and a user's admin flag are remembered
STAFF_CACHE = 300
RATE_LIMIT_RETRIES = 5
#: seconds a user's Slack locale is remembered
LOCALE_CACHE = 3600
#: an assistant thread's title: its first question, cut to this length
THREAD_TITLE = 60
#: private (slash command) confirmation questions remembered, to keep their text when their
#: buttons go (Slack does not send an ephemeral message's text with a press)
PRIVATE_QUESTIONS = 1000



@dataclass(frozen=True)
class SlackConfig(Access):
    enabled: bool = True
    #: socket (Socket Mode: no public URL) or http (Events API behind your HTTPS proxy)
    mode: str = "socket"
    #: environment variables holding the secrets
    bot_token_env: str = "SLACK_BOT_TOKEN"
    app_token_env: str = "SLACK_APP_TOKEN"
    signing_secret_env: str = "SLACK_SIGNING_SECRET"
    #: where the Events API server listens, in http mode
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    http_path: str = "/slack/events"
    #: answer direct messages
    direct_messages: bool = True
    #: channel ids where every new top-level message is answered, without a mention
    support_channels: list[str] = field(default_factory=list)
    #: channel ids where the bot never speaks, not even when mentioned
    ignore_channels: list[str] = field(default_factory=list)
    #: posted when someone asks for a human, e.g. <!subteam^S0123ABCD> for a user group
    handoff_mention: str = ""
    #: the support team's user group id (S0123ABCD): its members, and the workspace's admins
    #: and owners, may claim a handoff and let the bot answer again
    staff_group: str = ""
    #: channel id where the team is told of each handoff (who, the question, the language, a
    #: link, the conversation so far) with Claim and Release buttons; without it a DM offers no
    #: "talk to a human", since staff cannot join a DM with the bot
    handoff_channel: str = ""
    #: seconds between two edits of a streaming answer (Slack allows about one per second)
    update_interval: float = 1.0
    #: Web API base URL; only for Slack GovSlack or a test server
    api_url: str = "https://slack.com/api/"
    #: answer in Slack's assistant panel ("Agents & AI Apps"): a greeting and suggested
    #: questions in the user's language, a status while searching and writing, thread titles
    #: and Slack's own streaming
    assistant: bool = True
    #: the slash command of the app's manifest: answered only for the person who typed it,
    #: with a button to show the answer to the channel ("": none)
    command: str = "/babeldesk"

    def validate(self, key: str) -> None:
        self.validate_access(key)
        check(self.mode in ("socket", "http"), f"{key}.mode",
              f"must be socket or http, got {self.mode!r}")
        for name in ("bot_token_env", "app_token_env", "signing_secret_env"):
            check_env_name(f"{key}.{name}", getattr(self, name), True)
        check(0 <= self.http_port <= 65535, f"{key}.http_port", "must be a port number")
        check(self.http_path.startswith("/"), f"{key}.http_path", "must start with /")
        check(self.update_interval >= 1.0, f"{key}.update_interval",
              "must be at least 1 second (Slack's rate limit for chat.update)")
        check(not self.command or (self.command.startswith("/") and 2 <= len(self.command) <= 32
                                   and " " not in self.command), f"{key}.command",
              f"must be a slash command like /babeldesk, got {self.command!r}")
        check(self.api_url.startswith(("http://", "https://")) and self.api_url.endswith("/"),
              f"{key}.api_url", "must be an http(s) URL ending in /")
        for name in ("support_channels", "ignore_channels"):
            for i, channel in enumerate(getattr(self, name)):
                check(channel[:1] in "CGD" and channel.isalnum(), f"{key}.{name}[{i}]",
                      f"must be a Slack channel id like C0123ABCD, got {channel!r}")
        check(not self.handoff_channel or (self.handoff_channel[:1] in "CG"
                                           and self.handoff_channel.isalnum()),
              f"{key}.handoff_channel", f"must be a Slack channel id like C0123ABCD, got "
                                        f"{self.handoff_channel!r}")
        check(not self.staff_group or (self.staff_group[:1] == "S"
                                       and self.staff_group.isalnum()),
              f"{key}.staff_group", f"must be a Slack user group id like S0123ABCD, got "
                                    f"{self.staff_group!r}")


_USER_MENTION = re.compile(r"<@[A-Z0-9a-z]+(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#[A-Z0-9a-z]+(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![a-z^][^>]*>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>\s]+)(?:\|([^>]*))?>")
_EMOJI = re.compile(r":[a-z0-9_+\-]+:")


def plain_text(text: str) -> str:
    """What a person typed, without Slack's markup: mentions (<@U123>), channel links
    (<#C1|name> → #name), <!here>, links (<url|label> → label) and :emoji: codes."""
    text = _USER_MENTION.sub(" ", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(1)}" if m.group(1) else " ", text)
    text = _SPECIAL.sub(" ", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    return _EMOJI.sub(" ", text)


#: code, fenced (to the end of the text while a streamed answer has not closed it yet) or inline
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)


def to_mrkdwn(text: str) -> str:
    """The model's Markdown as Slack mrkdwn: bold, links, headings and bullets. Code is left
    as written: a comment (# …) or a list item (- …) in it is no heading or bullet."""
    code: list[str] = []

    def keep(match: re.Match) -> str:
        code.append(match.group(0))
        return f"\x00{len(code) - 1}\x00"

    text = _CODE.sub(keep, text)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"__(.+?)__", r"_\1_", text)
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)
    text = re.sub(r"^#{1,6}\s+(.+)$", r"*\1*", text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*)[-*]\s+", r"\1• ", text, flags=re.MULTILINE)
    return re.sub(r"\x00(\d+)\x00", lambda m: code[int(m.group(1))], text)


class CommandOutbox(Outbox):
    """The answer to a slash command: one message only its asker sees, posted through the
    command's response_url (which works in channels babeldesk was not invited to)."""

    limit = LIMIT
    streams = False  # a response_url takes five messages at most: the whole answer, once
    handoff = False  # a private answer is nobody else's conversation

    def __init__(self, respond, share_label: str, questions: dict[str, str] | None = None):
        self.respond, self.share_label = respond, share_label
        #: call id → the text of the private question asking to confirm it
        self.questions = questions if questions is not None else {}

    def markup(self, text: str) -> str:
        return to_mrkdwn(text)

    async def send(self, text: str, final: Final | None = None) -> str:
        blocks = render(text, final) if final else None
        if final and final.answer.kind == "confirm" and final.answer.action_call is not None:
            self.questions[str(final.answer.action_call)] = text
            while len(self.questions) > PRIVATE_QUESTIONS:
                self.questions.pop(next(iter(self.questions)))
        if final and final.answer.turn_id is not None and final.answer.kind == "answer":
            share = {"type": "button", "action_id": "babeldesk_share",
                     "value": str(final.answer.turn_id),
                     "text": {"type": "plain_text", "text": f"📢 {self.share_label}"[:75]}}
            actions = next((b for b in blocks if b["type"] == "actions"), None)
            if actions is None:
                blocks.append({"type": "actions", "block_id": "babeldesk_actions",
                               "elements": [share]})
            else:
                actions["elements"].append(share)
        await self.respond(text=text, blocks=blocks, response_type="ephemeral",
                           replace_original=False)
        return "response"

    async def edit(self, posted: str, text: str, final: Final | None = None) -> str:
        return await self.send(text, final)

    async def delete(self, posted: str) -> None:
        await self.respond(delete_original=True)


class StreamOutbox(Outbox):
    """An assistant thread, written with Slack's own streaming (chat.startStream,
    appendStream, stopStream); where Slack does not offer it, chat.postMessage and
    chat.update as everywhere else."""

    limit = LIMIT

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str, team: str,
                 user: str, adapter: "SlackAdapter", status):
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.team, self.user, self.adapter, self.status = team, user, adapter, status
        self.fallback = SlackOutbox(client, channel, thread_ts)
        self.shown = ""  # the text streamed so far
        self.streaming = False

    def markup(self, text: str) -> str:
        return to_mrkdwn(text)

    async def send(self, text: str, final: Final | None = None) -> str:
        if final is None and self.adapter.streaming:
            await self.status("status_writing")
            try:
                started = await _refusing(self.client.chat_startStream(
                    channel=self.channel, thread_ts=self.thread_ts,
                    markdown_text=_unfinished(text), recipient_team_id=self.team,
                    recipient_user_id=self.user))
            except SlackApiError as exc:
                log.info("slack: no streaming here (%s): editing the message instead",
                         _error_of(exc))
                self.adapter.streaming = False
            else:
                self.streaming, self.shown = True, _unfinished(text)
                return started["ts"]
        return await self.fallback.send(text, final)

    async def edit(self, posted: str, text: str, final: Final | None = None) -> str:
        if not self.streaming:
            return await self.fallback.edit(posted, text, final)
        new = _unfinished(text)
        if final is None:
            if new.startswith(self.shown) and new != self.shown:
                await _refusing(self.client.chat_appendStream(
                    channel=self.channel, ts=posted, markdown_text=new[len(self.shown):]))
                self.shown = new
            return posted
        # The whole answer: what is still missing, then its sources and buttons. An answer
        # that replaced what was streamed (the article's own words) is written over it.
        rest = new[len(self.shown):] if new.startswith(self.shown) else ""
        await _refusing(self.client.chat_stopStream(
            channel=self.channel, ts=posted, markdown_text=rest or None,
            blocks=render(text, final)))
        self.streaming = False
        if not new.startswith(self.shown):
            await self.fallback.edit(posted, text, final)
        return posted

    async def delete(self, posted: str) -> None:
        if self.streaming:
            await _refusing(self.client.chat_stopStream(channel=self.channel, ts=posted))
            self.streaming = False
        await self.fallback.delete(posted)


async def _courtesy(call) -> None:
    """A status or a title: nice to have, never a reason to lose the answer (a DM thread
    that is not an assistant thread refuses them)."""
    try:
        await call
    except SlackApiError as exc:
        log.info("slack: %s", _error_of(exc))


def _unfinished(text: str) -> str:
    """A preview without the mark that says it is still being written."""
    return text.removesuffix(f" {WRITING}")


class MemoryContexts(AsyncAssistantThreadContextStore):
    """Which channel each assistant thread was opened from: kept in memory, so that Slack is
    not asked again (bolt's default store reads the thread back on every reply)."""

    def __init__(self):
        self.contexts: dict[tuple[str, str], dict] = {}

    async def save(self, *, channel_id: str, thread_ts: str, context: dict) -> None:
        self.contexts[(channel_id, thread_ts)] = context

    async def find(self, *, channel_id: str, thread_ts: str) -> AssistantThreadContext | None:
        found = self.contexts.get((channel_id, thread_ts))
        return AssistantThreadContext(found) if found else None


class SlackOutbox(Outbox):
    """One Slack conversation: a thread, a channel or a DM."""

    limit = LIMIT
    placeholder = PLACEHOLDER

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str | None,
                 handoff: bool = True):
        self.client, self.channel, self.thread_ts = client, channel, thread_ts
        self.handoff = handoff

    def markup(self, text: str) -> str:
        return to_mrkdwn(text)

    async def send(self, text: str, final: Final | None = None) -> str:
        extra = {"blocks": render(text, final)} if final else {}
        posted = await _refusing(self.client.chat_postMessage(
            channel=self.channel, thread_ts=self.thread_ts, text=text, **extra))
        return posted["ts"]

    async def edit(self, posted: str, text: str, final: Final | None = None) -> str:
        extra = {"blocks": render(text, final)} if final else {}
        await _refusing(self.client.chat_update(channel=self.channel, ts=posted, text=text,
                                                **extra))
        return posted

    async def delete(self, posted: str) -> None:
        await _refusing(self.client.chat_delete(channel=self.channel, ts=posted))


async def _refusing(call):
    try:
        return await call
    except SlackApiError as exc:
        if _error_of(exc) in REFUSALS:
            raise Refused(_error_of(exc)) from None
        raise


def _error_of(exc: SlackApiError) -> str:
    """Slack's error code ("channel_not_found"), or what came back instead of JSON."""
    data = getattr(exc.response, "data", None)
    return data.get("error", str(exc)) if isinstance(data, dict) else str(exc)


def render(text: str, final: Final) -> list[dict]:
    """An answer's last message as blocks: its text, its sources, its buttons."""
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if final.sources:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"*{final.sources_label}:* " + " · ".join(final.sources)}]})
    if final.buttons:
        blocks.append({"type": "actions", "block_id": "babeldesk_actions",
                       "elements": [_button(b) for b in final.buttons]})
    return blocks


#: button action → Slack action id (the ids of answers posted by earlier versions)
ACTION_IDS = {"up": "babeldesk_up", "down": "babeldesk_down", "human": "babeldesk_handoff",
              "release": "babeldesk_release", "claim": "babeldesk_claim",
              "confirm": "babeldesk_confirm", "decline": "babeldesk_decline"}


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())


#: button action → Block Kit style (the rest: Slack's default)
STYLES = {"confirm": "primary"}


def _button(button: Button) -> dict:
    label = f"{button.emoji} {button.label}" if button.label else button.emoji
    rendered = {"type": "button", "action_id": ACTION_IDS[button.action],
                "value": button.value,
                "text": {"type": "plain_text", "text": label[:75], "emoji": True}}
    if button.action in STYLES:
        rendered["style"] = STYLES[button.action]
    return rendered


def without_buttons(message: dict) -> list[dict]:
    """A posted message's blocks without its buttons: its text and sources stay."""
    blocks = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
    text = message.get("text", "")
    if not blocks and text:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:LIMIT]}}]
    return blocks


class SlackAdapter:
    """One Slack workspace, in Socket Mode or HTTP mode."""

    name = "slack"
    Settings = SlackConfig

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
        self.replies = Replies(pipeline, config.update_interval)
        self.gate = Gate(config)
        self.bot_user_id = ""
        self.team_id = ""
        self.http_port: int | None = None
        self._handler: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.handlers = Handlers()
        #: whether chat.startStream works for this app (learnt on first use)
        self.streaming = True
        #: user id → (locale, when learnt)
        self._locales: dict[str, tuple[str, float]] = {}
        #: user id → (is staff, when learnt)
        self._staff: dict[str, tuple[bool, float]] = {}
        #: call id → a private confirmation question's text (see CommandOutbox)
        self._private_questions: dict[str, str] = {}
        self._register()

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "SlackAdapter | None":
        """The adapter, or None when disabled; AdapterError names a missing secret."""
        cfg = settings(config, cls)
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
                               f"{_error_of(exc)}") from None
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
                               f"{_error_of(exc)}") from None
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
        if self.config.assistant:
            app.use(self._assistant())

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
        async def on_handoff(ack, body, action):
            await ack()
            await self._guard(self._on_handoff(body, action))

        @app.action(re.compile(r"^babeldesk_(confirm|decline)$"))
        async def on_confirm(ack, body, action, respond):
            await ack()
            await self._guard(self._on_confirm(body, action, respond))

        @app.action("babeldesk_release")
        async def on_release(ack, body, action):
            await ack()
            await self._guard(self._on_release(body, action))

        if self.config.command:
            @app.command(self.config.command)
            async def on_command(ack, command, respond):
                # Slack wants the acknowledgement within 3 seconds; the answer comes after.
                await ack()
                await self._guard(self._on_command(command, respond))

        @app.action("babeldesk_share")
        async def on_share(ack, body, action, respond):
            await ack()
            await self._guard(self._on_share(body, action, respond))

        @app.action("babeldesk_claim")
        async def on_claim(ack, body, action):
            await ack()
            await self._guard(self._on_claim(body, action))

    def _assistant(self) -> AsyncAssistant:
        """Slack's assistant panel: its threads are DMs, answered like any DM, with a
        greeting, suggested questions, a status and a title."""
        assistant = AsyncAssistant(thread_context_store=MemoryContexts())

        @assistant.thread_started
        async def started(payload, say, set_suggested_prompts):
            await self._guard(self._greet(payload, say, set_suggested_prompts))

        @assistant.user_message
        async def asked(payload, body, set_status, set_title):
            await self._guard(self._on_message(payload, body, mentioned=False,
                                               assistant=(set_status, set_title)))

        return assistant

    async def _greet(self, payload: dict, say, set_suggested_prompts) -> None:
        thread = payload.get("assistant_thread", {})
        language = await self.language_of_user(thread.get("user_id", ""))
        texts = self.pipeline.texts
        await say(texts.get("greeting", language))
        prompts = [p.strip() for p in texts.get("suggested_prompts", language).split("|")]
        await set_suggested_prompts(prompts=[p for p in prompts if p])

    async def locale_of(self, user: str) -> str:
        """The user's Slack locale ("de-DE"; "" when Slack does not say): the language to
        expect before they have written enough to tell. users.info is asked once an hour."""
        known = self._locales.get(user)
        if known is None or time.monotonic() - known[1] > LOCALE_CACHE:
            try:
                info = await self.client.users_info(user=user, include_locale=True)
                locale = info.get("user", {}).get("locale", "")
            except SlackApiError as exc:
                log.info("slack: no locale for %s: %s", user, _error_of(exc))
                locale = ""
            known = self._locales[user] = (locale, time.monotonic())
        return known[0]

    async def language_of_user(self, user: str) -> str:
        """The language of the user's Slack locale when babeldesk speaks it, else the
        default."""
        config = self.pipeline.config
        return locale_language(await self.locale_of(user), config.languages) \
            or config.default_language

    async def _guard(self, work) -> None:
        """One message's failure is logged; the bot carries on with the next."""
        try:
            with self.handlers.track():
                await work
        except SlackApiError as exc:
            log.error("slack: API error %s", _error_of(exc))
        except Refused as exc:
            log.warning("slack: Slack refused a post: %s", exc)
        except Exception:
            log.exception("slack: handling an event failed")

    def message_for(self, event: dict, body: dict) -> Message:
        is_dm = event.get("channel_type") == "im"
        # A top-level channel message starts a thread under itself; a DM is one conversation.
        thread = event.get("thread_ts") or ("" if is_dm else event["ts"])
        files = self.attachments_of(event.get("files", []))
        return Message(platform="slack", workspace=body.get("team_id") or event.get("team")
                       or self.team_id, channel=event["channel"], thread=thread,
                       author=event.get("user", ""), text=plain_text(event.get("text", "")),
                       is_direct=is_dm, attachments=files, id=event["ts"])

    def attachments_of(self, files: list[dict]) -> tuple[Attachment, ...]:
        """Slack's file objects as attachments, each with the bot token for its download
        (Slack's files need it; the token is sent to Slack's own hosts only)."""
        out = []
        for f in files:
            url = f.get("url_private_download") or f.get("url_private") or ""
            if not url or f.get("mode") in ("tombstone", "hidden_by_limit", "external"):
                continue  # deleted, beyond a free workspace's limit, or a link elsewhere
            out.append(Attachment(f.get("name") or f.get("title") or "file", url,
                                  f.get("mimetype", ""), int(f.get("size") or 0),
                                  headers=self._authorization(url)))
        return tuple(out)

    def _authorization(self, url: str) -> tuple[tuple[str, str], ...]:
        host = urlsplit(url).hostname or ""
        api_host = urlsplit(self.config.api_url).hostname or ""
        if host == api_host or host.endswith("." + api_host) or host.endswith(".slack.com"):
            return (("Authorization", f"Bearer {self.client.token}"),)
        return ()

    async def files_of(self, event: dict) -> tuple[Attachment, ...]:
        """The files of a message whose event came without them (`app_mention` events carry
        none): the message itself, read back with one look-up."""
        ts, channel, thread = event["ts"], event["channel"], event.get("thread_ts")
        try:
            if thread and thread != ts:
                # A thread's parent comes first whatever the range: room for it and the reply.
                found = await self.client.conversations_replies(
                    channel=channel, ts=thread, oldest=ts, latest=ts, inclusive=True, limit=2)
            else:
                found = await self.client.conversations_history(
                    channel=channel, latest=ts, inclusive=True, limit=1)
        except SlackApiError as exc:
            log.warning("slack: could not read the files of %s in %s (%s): answering its "
                        "text only", ts, channel, _error_of(exc))
            return ()
        message = next((m for m in found.get("messages", []) if m.get("ts") == ts), {})
        return self.attachments_of(message.get("files", []))

    async def _should_answer(self, event: dict, message: Message, mentioned: bool) -> bool:
        if event.get("subtype") not in PERSON_SUBTYPES:
            return False
        if event.get("bot_id") or event.get("bot_profile") or not event.get("user"):
            return False
        if event["user"] == self.bot_user_id or message.channel in self.config.ignore_channels:
            return False
        if mentioned:
            return True
        if f"<@{self.bot_user_id}>" in event.get("text", "") and not message.is_direct:
            return False  # the app_mention event for the same message answers it
        if message.is_direct:
            return self.config.direct_messages
        if event.get("thread_ts") and event["thread_ts"] != event["ts"]:
            return await self.pipeline.has_answered_in(message.key)
        return message.channel in self.config.support_channels

    async def _on_message(self, event: dict, body: dict, mentioned: bool,
                          assistant: tuple | None = None) -> None:
        message = self.message_for(event, body)
        if not await self._should_answer(event, message, mentioned):
            return
        # Slack redelivers an event it thinks was missed, and sends a mention as two events.
        if not await self.pipeline.claim("slack", f"{message.channel}:{message.id}"):
            log.info("slack: %s in %s already handled", message.id, message.channel)
            return
        reply_thread = event.get("thread_ts") or (None if message.is_direct else event["ts"])
        if not self.gate.allows(message.author, message.channel, message.is_direct):
            log.info("slack: %s may not ask in %s (allow and block lists)", message.author,
                     message.channel)
            return
        if await self.pipeline.is_handed_off(message.key):
            if mentioned and self.replies.is_release(message.text) \
                    and await self.is_staff(message.author):
                await self._release(message.key)
            return
        admitted = self.gate.admit(message.author, message.channel)
        if admitted != "answer":
            if admitted == "notify":
                await self.client.chat_postMessage(
                    channel=message.channel, thread_ts=reply_thread,
                    text=await self.replies.slow_down(message))
            return
        message = dataclasses.replace(message, locale=await self.locale_of(message.author))
        if mentioned and "files" not in event and self.pipeline.attachments is not None:
            message = dataclasses.replace(message, attachments=await self.files_of(event))
        handoff = not message.is_direct or bool(self.config.handoff_channel)
        if assistant is None:
            await self.replies.deliver(message, SlackOutbox(self.client, message.channel,
                                                            reply_thread, handoff=handoff))
            return
        set_status, set_title = assistant
        language = (await asyncio.to_thread(self.pipeline.detect_language,
                                            message.text)).language

        async def status(key: str) -> None:
            await _courtesy(set_status(self.pipeline.texts.get(key, language)))

        if not await self.pipeline.has_answered_in(message.key):
            await _courtesy(set_title(" ".join(message.text.split())[:THREAD_TITLE]))
        await status("status_searching")
        outbox = StreamOutbox(self.client, message.channel, reply_thread, message.workspace,
                              message.author, self, status)
        outbox.handoff = handoff
        await self.replies.deliver(message, outbox)

    # -- the slash command --

    async def _on_command(self, command: dict, respond) -> None:
        user, channel = command.get("user_id", ""), command.get("channel_id", "")
        text = plain_text(command.get("text", ""))
        # Each person's private questions are one conversation, apart from the channel's.
        message = Message(platform="slack", workspace=command.get("team_id") or self.team_id,
                          channel=channel, thread=f"private-{user}", author=user, text=text,
                          is_direct=channel.startswith("D"),
                          id=command.get("trigger_id", ""), locale=await self.locale_of(user))
        if not self.gate.allows(user, channel, message.is_direct):
            return
        if self.gate.admit(user, channel) != "answer":
            await respond(text=await self.replies.slow_down(message),
                          response_type="ephemeral")
            return
        language = (await asyncio.to_thread(self.pipeline.detect_language, text)).language
        await self.replies.deliver(message, CommandOutbox(
            respond, self.pipeline.texts.get("share_button", language),
            self._private_questions))

    async def _on_share(self, body: dict, action: dict, respond) -> None:
        """"Show everyone": the private answer, posted to the channel for all to read."""
        turn = await self.pipeline.stored_turn(int(action["value"]))
        user = body.get("user", {}).get("id", "")
        if turn is None or turn.author != user:
            return  # forgotten, or (it cannot be seen by others) not theirs
        channel = body.get("channel", {}).get("id") or \
            body.get("container", {}).get("channel_id", "")
        answer = Answer(turn.text, turn.language, turn.sources, kind="answer",
                        turn_id=int(action["value"]))
        outbox = SlackOutbox(self.client, channel, None,
                             handoff=not channel.startswith("D")
                             or bool(self.config.handoff_channel))
        await self.replies.post(outbox, answer)
        await respond(delete_original=True)

    # -- buttons --

    def _key_message(self, body: dict) -> Message:
        """The conversation a button belongs to, from the message that carries it."""
        posted = body.get("message", {})
        container = body.get("container", {})
        channel = body.get("channel", {}).get("id") or container.get("channel_id", "")
        return Message(platform="slack", workspace=body.get("team", {}).get("id") or
                       self.team_id, channel=channel,
                       thread=posted.get("thread_ts") or container.get("thread_ts") or "",
                       author=body.get("user", {}).get("id", ""), text="",
                       is_direct=channel.startswith("D"))

    async def _tell(self, body: dict, text: str) -> None:
        """A line only the person who clicked sees."""
        where = self._key_message(body)
        await self.client.chat_postEphemeral(channel=where.channel, user=where.author,
                                             text=text, thread_ts=where.thread or None)

    async def _on_feedback(self, body: dict, action: dict) -> None:
        value = 1 if action["action_id"] == "babeldesk_up" else -1
        stored = await self.pipeline.record_feedback(int(action["value"]),
                                                     body["user"]["id"], value)
        log.info("slack: feedback %+d on answer %s %s", value, action["value"],
                 "stored" if stored else "for a forgotten answer")

    async def _on_handoff(self, body: dict, action: dict) -> None:
        message = self._key_message(body)
        if not await self.replies.may_hand_off(int(action["value"]), message.author):
            await self._tell(body, await self.replies.text("only_asker", message))
            return
        said = await self.replies.hand_off(message)
        thread_ts = message.thread or None
        if message.is_direct:
            # Nobody from the team can join a DM: say so, and tell the team where they work.
            await self.client.chat_postMessage(channel=message.channel, text=said,
                                               thread_ts=thread_ts)
        else:
            text = f"{self.config.handoff_mention} {said}".strip()
            release = await self.replies.release_button(message)
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                      {"type": "actions", "block_id": "babeldesk_handoff",
                       "elements": [_button(release)]}]
            await self.client.chat_postMessage(channel=message.channel, text=text,
                                               blocks=blocks, thread_ts=thread_ts)
        if self.config.handoff_channel:
            await self._notify_staff(message)

    async def _on_confirm(self, body: dict, action: dict, respond) -> None:
        """✅ / ✖️ under a question to confirm an action: only its asker may press; the
        buttons go, so that it cannot be pressed twice, and the outcome follows."""
        where = self._key_message(body)
        call_id, yes = int(action["value"]), action["action_id"] == "babeldesk_confirm"
        if not await self.replies.may_confirm(call_id, where.author):
            await self._tell(body, await self.replies.text("only_asker_action", where))
            return
        if body.get("container", {}).get("is_ephemeral"):
            # A slash command's private answer: the asker's own conversation (see
            # `_on_command`), written through the press's response_url.
            where = dataclasses.replace(where, thread=f"private-{where.author}")
            question = self._private_questions.pop(action["value"], "")
            if question:
                await respond(text=question, replace_original=True, blocks=[
                    {"type": "section", "text": {"type": "mrkdwn", "text": question}}])
            else:  # asked before a restart: its text is unknown, the question goes
                await respond(delete_original=True)
            language = await asyncio.to_thread(self.pipeline.language_of, where.key)
            outbox: Outbox = CommandOutbox(
                respond, self.pipeline.texts.get("share_button", language),
                self._private_questions)
        else:
            posted = body.get("message", {})
            await self.client.chat_update(channel=where.channel, ts=posted.get("ts", ""),
                                          text=posted.get("text", ""),
                                          blocks=without_buttons(posted))
            outbox = SlackOutbox(self.client, where.channel, where.thread or None,
                                 handoff=not where.is_direct
                                 or bool(self.config.handoff_channel))
        await self.replies.deliver_confirmation(where, outbox, call_id, yes)

    async def _notify_staff(self, where: Message) -> None:
        """The handoff notice in the team's channel: who, where, the conversation so far."""
        place, link = "DM", ""
        if not where.is_direct:
            place = f"<#{where.channel}>"
            found = await self.client.chat_getPermalink(channel=where.channel,
                                                        message_ts=where.thread)
            link = found.get("permalink", "")
        notice = await self.replies.notice(where, f"<@{where.author}>", place)
        text = f"{self.config.handoff_mention} {notice.headline}".strip()
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        if notice.question:
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": _quote(notice.question)[:LIMIT]}})
        if notice.transcript:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "\n".join(notice.transcript))[:LIMIT]}]})
        if link:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                            "text": f"<{link}|{link}>"}]})
        blocks.append({"type": "actions", "block_id": "babeldesk_staff",
                       "elements": [_button(b) for b in notice.buttons]})
        await self.client.chat_postMessage(channel=self.config.handoff_channel, text=text,
                                           blocks=blocks)

    async def _on_claim(self, body: dict, action: dict) -> None:
        clicked = self._key_message(body)
        if not await self.is_staff(clicked.author):
            await self._tell(body, await self.replies.text("only_staff", clicked))
            return
        key = key_of(action["value"])
        said = await self.replies.claimed(key, f"<@{clicked.author}>")
        await self.client.chat_postMessage(channel=key.channel, text=said,
                                           thread_ts=key.thread or None)
        # The notice shows who took it, and loses its Claim button.
        posted = body.get("message", {})
        blocks = [b for b in posted.get("blocks", []) if b.get("type") != "actions"]
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"✋ <@{clicked.author}>"}]})
        blocks.append({"type": "actions", "block_id": "babeldesk_staff", "elements": [
            _button(b) for b in self.replies.notice_buttons(key)[1:]]})
        await self.client.chat_update(channel=clicked.channel, ts=posted.get("ts", ""),
                                      text=posted.get("text", "") or said, blocks=blocks)

    async def _on_release(self, body: dict, action: dict) -> None:
        where = self._key_message(body)
        # Buttons posted before conversation ids were carried say only "release".
        key = key_of(action["value"]) if "/" in action["value"] else where.key
        if not await self.is_staff(where.author):
            await self._tell(body, await self.replies.text("only_staff", where))
            return
        await self._release(key)

    async def _release(self, key: ConversationKey) -> None:
        """The bot answers in the conversation again, and says so there."""
        said = await self.pipeline.release(key)
        if said:
            await self.client.chat_postMessage(channel=key.channel, text=said,
                                               thread_ts=key.thread or None)

    async def is_staff(self, user: str) -> bool:
        """A member of `staff_group`, or an admin or owner of the workspace."""
        known = self._staff.get(user)
        if known and time.monotonic() - known[1] < STAFF_CACHE:
            return known[0]
        staff = False
        if self.config.staff_group:
            members = await self.client.usergroups_users_list(usergroup=self.config.staff_group)
            staff = user in members.get("users", [])
        if not staff:
            info = await self.client.users_info(user=user)
            person = info.get("user", {})
            staff = bool(person.get("is_admin") or person.get("is_owner"))
        self._staff[user] = (staff, time.monotonic())
        return staff


ADAPTER = SlackAdapter
