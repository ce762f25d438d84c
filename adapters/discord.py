"""Discord: babeldesk in a server (guild) and in DMs, through discord.py 2.x.

Needs the privileged *message content* intent. Answers stream by editing the reply at most
once per `update_interval`; 👍 / 👎 / "talk to a human" buttons are dynamic items, so they
keep working after a restart. Rate limits are left to discord.py's own limiter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time

import aiohttp
import discord

from bot.config import Config, DiscordConfig, read_secret
from bot.errors import AdapterError
from bot.message import Answer, Attachment, Message
from bot.pipeline import Pipeline
from bot.text import split_message

from . import Handlers

log = logging.getLogger(__name__)

#: Discord refuses message content over 2,000 characters
LIMIT = 2000
TYPING = "…"
RELEASE_WORDS = {"release", "resume", "unpause", "bot back"}
PERSON_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)
#: a thread's name is at most 100 characters
THREAD_NAME = 90


def intents() -> discord.Intents:
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True,
                           message_content=True)


class DiscordAdapter:
    """One bot account, in every guild it was added to and in DMs."""

    name = "discord"

    def __init__(self, pipeline: Pipeline, config: DiscordConfig, token: str,
                 **client_options):
        self.pipeline = pipeline
        self.config = config
        self.token = token
        self.client = discord.Client(intents=intents(), **client_options)
        self.client.event(self.on_message)
        self.Button = _button_class(self)
        self.client.add_dynamic_items(self.Button)
        self._task: asyncio.Task | None = None
        self.handlers = Handlers()
        self.stopping = False

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "DiscordAdapter | None":
        cfg = config.adapters.discord
        if not cfg.enabled:
            return None
        token = read_secret(cfg.token_env)
        if not token:
            raise AdapterError(f"not started: set {cfg.token_env} in the environment "
                               "(adapters.discord)")
        return cls(pipeline, cfg, token)

    # -- connecting --

    async def start(self) -> None:
        try:
            await self.client.login(self.token)
        except discord.LoginFailure:
            await self.client.close()
            raise AdapterError(f"Discord rejected the bot token in {self.config.token_env}"
                               ) from None
        except (aiohttp.ClientError, discord.HTTPException, OSError) as exc:
            await self.client.close()
            raise AdapterError(f"cannot reach Discord: {exc}") from None
        self._task = asyncio.create_task(self._connect(), name="babeldesk-discord")
        log.info("discord: logged in as %s", self.client.user)

    async def _connect(self) -> None:
        try:
            # reconnect=True: discord.py resumes or re-identifies after a dropped gateway.
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            log.error("discord: turn on the Message Content intent for this bot in the "
                      "Developer Portal (Bot → Privileged Gateway Intents)")
        except Exception:
            log.exception("discord: the gateway connection ended")

    async def wait_until_ready(self) -> None:
        await self.client.wait_until_ready()

    async def stop(self) -> None:
        # Take no new messages, let the answers in progress be posted, then disconnect.
        self.stopping = True
        await self.handlers.wait(self.pipeline.config.server.shutdown_grace + 15)
        await self.client.close()
        if self._task:
            try:
                await asyncio.wait_for(self._task, 10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None

    # -- messages --

    def message_for(self, message: discord.Message) -> Message:
        channel = message.channel
        in_thread = isinstance(channel, discord.Thread)
        is_dm = isinstance(channel, discord.DMChannel)
        files = tuple(Attachment(a.filename, a.url, a.content_type or "", a.size)
                      for a in message.attachments)
        return Message(platform="discord",
                       workspace=str(message.guild.id) if message.guild else "",
                       channel=str(channel.parent_id if in_thread else channel.id),
                       thread=str(channel.id) if in_thread else "",
                       author=str(message.author.id), text=message.content, is_direct=is_dm,
                       attachments=files, id=str(message.id))

    async def on_message(self, message: discord.Message) -> None:
        if self.stopping:
            return
        try:
            with self.handlers.track():
                await self._on_message(message)
        except discord.HTTPException as exc:
            log.error("discord: API error on message %s: %s %s", message.id, exc.status,
                      exc.text)
        except Exception:
            log.exception("discord: handling message %s failed", message.id)

    def _mentioned(self, message: discord.Message) -> bool:
        me = self.client.user
        return me is not None and any(user.id == me.id for user in message.mentions)

    async def _should_answer(self, message: discord.Message, incoming: Message) -> bool:
        if message.author.bot or message.webhook_id or message.type not in PERSON_MESSAGES:
            return False
        if self.client.user and message.author.id == self.client.user.id:
            return False
        if incoming.channel in self.config.ignore_channels:
            return False
        if incoming.is_direct:
            return self.config.direct_messages
        if self._mentioned(message):
            return True
        if incoming.thread:
            return await self.pipeline.has_answered_in(incoming.key)
        return incoming.channel in self.config.support_channels

    async def _on_message(self, message: discord.Message) -> None:
        incoming = self.message_for(message)
        if not await self._should_answer(message, incoming):
            return
        # After a RESUME the gateway replays what was missed; answer each message once.
        if not await self.pipeline.claim("discord", incoming.id):
            return
        if await self.pipeline.is_handed_off(incoming.key):
            if self._mentioned(message) and _words(message.content) in RELEASE_WORDS:
                said = await self.pipeline.release(incoming.key)
                await message.channel.send(said)
            return
        target: discord.abc.Messageable = message.channel
        reference: discord.Message | None = message
        if (not incoming.thread and not incoming.is_direct and self.config.support_threads
                and incoming.channel in self.config.support_channels):
            name = " ".join(_without_mentions(message.content).split())[:THREAD_NAME]
            target = await message.create_thread(name=name or "question")
            reference = None
            incoming = dataclasses.replace(incoming, thread=str(target.id))
        await self._answer(incoming, target, reference)

    async def _answer(self, incoming: Message, target: discord.abc.Messageable,
                      reference: discord.Message | None) -> None:
        sent: discord.Message | None = None
        last = time.monotonic()
        async with target.typing():
            reply = self.pipeline.respond(incoming)
            streamed, shown = "", ""
            async for chunk in reply:
                streamed += chunk
                if time.monotonic() - last >= self.config.update_interval and streamed != shown:
                    preview = f"{split_message(streamed, LIMIT - 2)[0]} {TYPING}"
                    if sent is None:
                        sent = await target.send(preview, reference=reference,
                                                 mention_author=False)
                    else:
                        sent = await sent.edit(content=preview)
                    shown, last = streamed, time.monotonic()
            answer = await reply
        if answer.silent:
            if sent:
                await sent.delete()
            return
        if sent is not None:  # edits stay at most one per interval, the last one too
            await asyncio.sleep(max(0.0, self.config.update_interval
                                    - (time.monotonic() - last)))
        await self._post_answer(answer, target, reference, sent)

    async def _post_answer(self, answer: Answer, target: discord.abc.Messageable,
                           reference: discord.Message | None,
                           sent: discord.Message | None) -> None:
        body = f"*{answer.notice}*\n\n{answer.text}" if answer.notice else answer.text
        pieces = split_message(body, LIMIT) or [answer.text[:LIMIT]]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            embed = self._sources_embed(answer) if last else None
            view = self._buttons(answer) if last else None
            if i == 0 and sent is not None:
                await sent.edit(content=piece, embed=embed, view=view)
                continue
            extras = {k: v for k, v in (("embed", embed), ("view", view)) if v is not None}
            await target.send(piece, reference=reference if i == 0 else None,
                              mention_author=False, **extras)

    def _sources_embed(self, answer: Answer) -> discord.Embed | None:
        if not answer.sources:
            return None
        lines = "\n".join(f"📄 {s.path} › {s.heading}" for s in answer.sources)
        return discord.Embed(title=self.pipeline.texts.get("sources", answer.language),
                             description=lines[:4096], colour=discord.Colour.blurple())

    def _buttons(self, answer: Answer) -> discord.ui.View | None:
        if answer.turn_id is None or answer.kind in ("empty", "refused"):
            return None
        view = discord.ui.View(timeout=None)
        if answer.kind == "answer":
            view.add_item(self.Button("up", answer.turn_id))
            view.add_item(self.Button("down", answer.turn_id))
        view.add_item(self.Button("human", answer.turn_id,
                             self.pipeline.texts.get("human_button", answer.language)))
        return view

    # -- buttons --

    def key_message(self, interaction: discord.Interaction) -> Message:
        """The conversation a button belongs to, from the channel it was clicked in."""
        channel = interaction.channel
        in_thread = isinstance(channel, discord.Thread)
        return Message(platform="discord",
                       workspace=str(interaction.guild_id) if interaction.guild_id else "",
                       channel=str(channel.parent_id if in_thread else interaction.channel_id),
                       thread=str(channel.id) if in_thread else "",
                       author=str(interaction.user.id), text="",
                       is_direct=interaction.guild_id is None)

    async def on_button(self, interaction: discord.Interaction, action: str, turn: int) -> None:
        try:
            if action in ("up", "down"):
                await interaction.response.defer()
                await self.pipeline.record_feedback(turn, str(interaction.user.id),
                                                    1 if action == "up" else -1)
            elif action == "human":
                incoming = self.key_message(interaction)
                said = await self.pipeline.hand_off(incoming)
                role = f"<@&{self.config.handoff_role}> " if self.config.handoff_role else ""
                language = await asyncio.to_thread(self.pipeline.language_of, incoming.key)
                view = discord.ui.View(timeout=None)
                view.add_item(self.Button(
                    "release", 0, self.pipeline.texts.get("release_button", language)))
                await interaction.response.send_message(
                    f"{role}{said}", view=view,
                    allowed_mentions=discord.AllowedMentions(roles=True))
            elif action == "release":
                said = await self.pipeline.release(self.key_message(interaction).key)
                if said:
                    await interaction.response.send_message(said)
                else:
                    await interaction.response.defer()
        except discord.HTTPException as exc:
            log.error("discord: answering a button failed: %s %s", exc.status, exc.text)
        except Exception:
            log.exception("discord: a button click failed")


def _button_class(adapter: DiscordAdapter) -> type:
    """The adapter's button type: a DynamicItem, so clicks on answers posted before a restart
    are still understood (the action and the answer id are in the custom id)."""

    class AnswerButton(discord.ui.DynamicItem[discord.ui.Button],
                       template=r"babeldesk:(?P<action>up|down|human|release):(?P<turn>\d+)"):
        STYLES = {"up": ("👍", discord.ButtonStyle.secondary),
                  "down": ("👎", discord.ButtonStyle.secondary),
                  "human": ("🙋", discord.ButtonStyle.primary),
                  "release": ("🤖", discord.ButtonStyle.success)}

        def __init__(self, action: str, turn: int, label: str | None = None):
            emoji, style = self.STYLES[action]
            super().__init__(discord.ui.Button(label=label[:80] if label else None, emoji=emoji,
                                               style=style,
                                               custom_id=f"babeldesk:{action}:{turn}"))
            self.action, self.turn = action, turn

        @classmethod
        async def from_custom_id(cls, interaction, item, match: re.Match):
            return cls(match["action"], int(match["turn"]))

        async def callback(self, interaction: discord.Interaction) -> None:
            await adapter.on_button(interaction, self.action, self.turn)

    return AnswerButton


def _without_mentions(text: str) -> str:
    return re.sub(r"<[@#][!&]?\d+>", " ", text)


def _words(text: str) -> str:
    return " ".join(_without_mentions(text).lower().split()).strip(" .!")
