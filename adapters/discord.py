"""Discord: babeldesk in a server (guild) and in DMs, through discord.py 2.x.

Needs the privileged *message content* intent. Answers stream by editing the reply at most
once per `update_interval`; 👍 / 👎 / "talk to a human" buttons are dynamic items, so they
keep working after a restart. An action that waits for the customer's yes gets ✅ / ✖️
buttons instead: the asker's press takes them off the message and the outcome follows in
the same channel or thread. Rate limits are left to discord.py's own limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from dataclasses import dataclass, field

import aiohttp
import discord
from discord import app_commands

from bot.config import Config, check, check_env_name, read_secret
from bot.errors import AdapterError
from bot.history import ConversationKey
from bot.language import locale_language
from bot.message import Attachment, Message
from bot.pipeline import Pipeline
from . import Handlers, settings
from .limits import Access, Gate
from .reply import WRITING, Button, Final, Outbox, Refused, Replies, key_of

log = logging.getLogger(__name__)

#: Discord refuses message content over 2,000 characters
LIMIT = 2000
TYPING = WRITING
PERSON_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)
#: a thread's name is at most 100 characters
THREAD_NAME = 90



@dataclass(frozen=True)
class DiscordConfig(Access):
    enabled: bool = True
    #: environment variable holding the bot token
    token_env: str = "DISCORD_BOT_TOKEN"
    #: answer direct messages
    direct_messages: bool = True
    #: channel ids where every message is answered, without a mention
    support_channels: list[str] = field(default_factory=list)
    #: in support channels, open a thread for each question and answer there
    support_threads: bool = True
    #: channel ids where the bot never speaks, not even when mentioned
    ignore_channels: list[str] = field(default_factory=list)
    #: the support team's role id: mentioned when someone asks for a human; its members, and
    #: whoever may manage messages in the channel, may claim a handoff and let the bot answer
    #: again
    handoff_role: str = ""
    #: channel id where the team is told of each handoff (who, the question, the language, a
    #: link, the conversation so far) with Claim and Release buttons; without it a DM offers no
    #: "talk to a human", since staff cannot join a DM with the bot
    handoff_channel: str = ""
    #: seconds between two edits of a streaming answer
    update_interval: float = 1.0
    #: register the /ask and /help commands and the "Ask babeldesk" message menu
    commands: bool = True
    #: ask for the privileged Message Content intent (support channels, follow-ups in
    #: threads); false: only commands, mentions and DMs, whose text Discord always delivers
    message_content: bool = True
    #: role ids babeldesk answers (beside `allow_users`); empty: everyone
    allow_roles: list[str] = field(default_factory=list)
    #: role ids babeldesk never answers
    block_roles: list[str] = field(default_factory=list)

    def validate(self, key: str) -> None:
        self.validate_access(key)
        check_env_name(f"{key}.token_env", self.token_env, True)
        check(self.update_interval >= 1.0, f"{key}.update_interval", "must be at least 1 second")
        for name in ("support_channels", "ignore_channels", "allow_channels", "allow_users",
                     "block_users", "allow_roles", "block_roles"):
            for i, value in enumerate(getattr(self, name)):
                check(value.isdigit(), f"{key}.{name}[{i}]",
                      f"must be a Discord id (digits), got {value!r}")
        check(not self.handoff_channel or self.handoff_channel.isdigit(), f"{key}.handoff_channel",
              f"must be a Discord channel id (digits), got {self.handoff_channel!r}")
        check(not self.handoff_role or self.handoff_role.isdigit(), f"{key}.handoff_role",
              f"must be a Discord role id (digits), got {self.handoff_role!r}")


def intents(message_content: bool = True) -> discord.Intents:
    return discord.Intents(guilds=True, guild_messages=True, dm_messages=True,
                           message_content=message_content)


class DiscordOutbox(Outbox):
    """A Discord channel, thread or DM; the first message replies to the question."""

    limit = LIMIT

    def __init__(self, target: discord.abc.Messageable, reference: discord.Message | None,
                 adapter: "DiscordAdapter", handoff: bool = True):
        self.target, self.reference, self.adapter = target, reference, adapter
        self.handoff = handoff

    async def send(self, text: str, final: Final | None = None) -> discord.Message:
        extras = self.adapter.render(final) if final else {}
        reference, self.reference = self.reference, None
        with _refusals():
            return await self.target.send(text, reference=reference, mention_author=False,
                                          **{k: v for k, v in extras.items() if v is not None})

    async def edit(self, posted: discord.Message, text: str,
                   final: Final | None = None) -> discord.Message:
        with _refusals():
            return await posted.edit(content=text, **(self.adapter.render(final) if final
                                                       else {}))

    async def delete(self, posted: discord.Message) -> None:
        with _refusals():
            await posted.delete()

    @contextlib.asynccontextmanager
    async def writing(self):
        with _refusals():
            typing = self.target.typing()
            await typing.__aenter__()
        try:
            yield
        finally:
            await typing.__aexit__(None, None, None)


class InteractionOutbox(Outbox):
    """The answer to a command: the deferred "thinking…" message and its follow-ups."""

    limit = LIMIT

    def __init__(self, interaction: discord.Interaction, adapter: "DiscordAdapter",
                 private: bool, handoff: bool):
        self.interaction, self.adapter = interaction, adapter
        self.private, self.handoff = private, handoff

    async def send(self, text: str, final: Final | None = None) -> discord.WebhookMessage:
        extras = self.adapter.render(final) if final else {}
        with _refusals():
            sent = await self.interaction.followup.send(
                text, ephemeral=self.private, wait=True,
                **{k: v for k, v in extras.items() if v is not None})
        if extras.get("view") is not None:
            # discord.py gives a private message's view a 15-minute timer; the buttons are
            # dynamic items, understood without it (and after a restart), so it is stopped.
            extras["view"].stop()
        return sent

    async def edit(self, posted: discord.WebhookMessage, text: str,
                   final: Final | None = None) -> discord.WebhookMessage:
        extras = self.adapter.render(final) if final else {}
        with _refusals():
            return await posted.edit(content=text,
                                     **{k: v for k, v in extras.items() if v is not None})

    async def delete(self, posted: discord.WebhookMessage) -> None:
        with _refusals():
            await posted.delete()


@contextlib.contextmanager
def _refusals():
    """No access or a deleted channel: Discord will take nothing more there."""
    try:
        yield
    except (discord.Forbidden, discord.NotFound) as exc:
        raise Refused(f"{exc.status} {exc.text}") from None


class DiscordAdapter:
    """One bot account, in every guild it was added to and in DMs."""

    name = "discord"
    Settings = DiscordConfig

    def __init__(self, pipeline: Pipeline, config: DiscordConfig, token: str,
                 **client_options):
        self.pipeline = pipeline
        self.config = config
        self.token = token
        self.replies = Replies(pipeline, config.update_interval)
        self.gate = Gate(config)
        self.client = discord.Client(intents=intents(config.message_content), **client_options)
        self.client.event(self.on_message)
        self.Button = _button_class(self)
        self.client.add_dynamic_items(self.Button)
        self.tree = app_commands.CommandTree(
            self.client, allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=False),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False))
        if config.commands:
            self._add_commands()
        self._task: asyncio.Task | None = None
        self.handlers = Handlers()
        self.stopping = False

    @classmethod
    def from_config(cls, config: Config, pipeline: Pipeline) -> "DiscordAdapter | None":
        cfg = settings(config, cls)
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
        if self.config.commands:
            await self._sync_commands()
        self._task = asyncio.create_task(self._connect(), name="babeldesk-discord")
        log.info("discord: logged in as %s", self.client.user)

    async def _sync_commands(self) -> None:
        """Register the commands with Discord, only when they changed: Discord limits how
        many commands an application may create a day."""
        wanted = {(c.name, getattr(c, "description", "")) for c in self.tree.get_commands(
            type=None)}
        try:
            present = {(c.name, c.description) for c in await self.tree.fetch_commands()}
            if present != wanted:
                await self.tree.sync()
                log.info("discord: commands registered: %s",
                         ", ".join(sorted(name for name, _ in wanted)))
        except discord.HTTPException as exc:  # answers to messages need no commands
            log.error("discord: registering the commands failed: %s %s", exc.status, exc.text)

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
                       author=str(message.author.id), text=plain_text(message.content),
                       is_direct=is_dm,
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
        except Refused as exc:
            log.warning("discord: Discord refused a post for message %s: %s", message.id, exc)
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
        if incoming.thread and _is_forum_post(message.channel):
            # A forum post is a thread: every post of a listed forum is a question.
            return incoming.channel in self.config.support_channels
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
        roles = {str(r.id) for r in getattr(message.author, "roles", [])}
        if not self.gate.allows(incoming.author, incoming.channel, incoming.is_direct, roles,
                                self.config.allow_roles, self.config.block_roles):
            log.info("discord: %s may not ask in %s (allow and block lists)", incoming.author,
                     incoming.channel)
            return
        if await self.pipeline.is_handed_off(incoming.key):
            if self._mentioned(message) and self.replies.is_release(message.content) \
                    and self.is_staff(message.author, _permissions(message)):
                said = await self.pipeline.release(incoming.key)
                await message.channel.send(said)
            return
        admitted = self.gate.admit(incoming.author, incoming.channel)
        if admitted != "answer":
            if admitted == "notify":
                await message.reply(await self.replies.slow_down(incoming),
                                    mention_author=False)
            return
        target: discord.abc.Messageable = message.channel
        reference: discord.Message | None = message
        if (not incoming.thread and not incoming.is_direct and self.config.support_threads
                and incoming.channel in self.config.support_channels):
            name = " ".join(plain_text(message.content).split())[:THREAD_NAME]
            target = await message.create_thread(name=name or "question")
            reference = None
            incoming = dataclasses.replace(incoming, thread=str(target.id))
        await self.replies.deliver(incoming, DiscordOutbox(
            target, reference, self,
            handoff=not incoming.is_direct or bool(self.config.handoff_channel)))

    def render(self, final: Final) -> dict:
        """An answer's last message: its sources as an embed, its buttons as a view."""
        embed = None
        if final.sources:
            lines = "\n".join(f"📄 {s}" for s in final.sources)
            embed = discord.Embed(title=final.sources_label, description=lines[:4096],
                                  colour=discord.Colour.blurple())
        view = None
        if final.buttons:
            view = discord.ui.View(timeout=None)
            for button in final.buttons:
                view.add_item(self.Button(button))
        return {"embed": embed, "view": view}

    # -- commands: they work without the Message Content intent --

    def _add_commands(self) -> None:
        @self.tree.command(name="ask", description="Ask a question about our product")
        @app_commands.describe(question="Your question, in your language",
                               private="Only you see the answer")
        async def ask(interaction: discord.Interaction, question: str, private: bool = False):
            await self._guard_command(self._ask(interaction, question, private, None))

        @self.tree.command(name="help", description="How to ask babeldesk")
        async def help_(interaction: discord.Interaction):
            config = self.pipeline.config
            language = locale_language(str(interaction.locale or ""), config.languages) \
                or config.default_language
            await interaction.response.send_message(
                self.pipeline.texts.get("help", language), ephemeral=True)

        @self.tree.context_menu(name="Ask babeldesk")
        async def ask_menu(interaction: discord.Interaction, message: discord.Message):
            await self._guard_command(self._ask(interaction, message.content, False, message))

    async def _guard_command(self, work) -> None:
        try:
            with self.handlers.track():
                await work
        except Refused as exc:
            log.warning("discord: Discord refused a command's answer: %s", exc)
        except discord.HTTPException as exc:
            log.error("discord: answering a command failed: %s %s", exc.status, exc.text)
        except Exception:
            log.exception("discord: a command failed")

    async def _ask(self, interaction: discord.Interaction, question: str, private: bool,
                   target: discord.Message | None) -> None:
        """/ask, or the message menu on someone's message (`target`: answered publicly, as
        if that person had asked babeldesk)."""
        # Discord wants an acknowledgement within 3 seconds; the answer comes after.
        await interaction.response.defer(ephemeral=private, thinking=True)
        where = self.key_message(interaction)
        asker = str(target.author.id) if target else where.author
        roles = {str(r.id) for r in getattr(interaction.user, "roles", [])}
        if private:  # a private answer is its own conversation, unseen by the channel
            where = dataclasses.replace(where, thread=f"private-{asker}")
        # Interactions carry the user's Discord language: the language to expect before
        # they have written enough to tell (a menu on someone else's message: the guild's).
        locale = interaction.guild_locale if target else \
            (interaction.locale or interaction.guild_locale)
        incoming = dataclasses.replace(where, author=asker, text=plain_text(question),
                                       id=str(target.id if target else interaction.id),
                                       locale=str(locale or ""))
        if not self.gate.allows(where.author, where.channel, where.is_direct, roles,
                                self.config.allow_roles, self.config.block_roles):
            await interaction.delete_original_response()
            return
        if self.gate.admit(where.author, where.channel) != "answer":
            await interaction.followup.send(await self.replies.slow_down(incoming),
                                            ephemeral=True)
            return
        # A private answer's conversation is nobody else's: no handoff from there.
        handoff = not private and (not where.is_direct or bool(self.config.handoff_channel))
        await self.replies.deliver(incoming, InteractionOutbox(interaction, self, private,
                                                               handoff))

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

    def is_staff(self, user: discord.abc.User, permissions: discord.Permissions | None) -> bool:
        """Has the support role, or may manage messages where they are (a moderator)."""
        if not isinstance(user, discord.Member):
            return False  # a DM: nobody there is staff
        role = self.config.handoff_role
        if role and any(str(r.id) == role for r in user.roles):
            return True
        return bool(permissions and permissions.manage_messages)

    async def on_button(self, interaction: discord.Interaction, button: Button) -> None:
        try:
            with self.handlers.track():
                await self._on_button(interaction, button)
        except Refused as exc:
            log.warning("discord: Discord refused a post after a button: %s", exc)
        except discord.HTTPException as exc:
            log.error("discord: answering a button failed: %s %s", exc.status, exc.text)
        except Exception:
            log.exception("discord: a button click failed")

    async def _on_button(self, interaction: discord.Interaction, button: Button) -> None:
        where = self.key_message(interaction)
        if button.action in ("up", "down"):
            await interaction.response.defer()
            await self.pipeline.record_feedback(int(button.value), where.author,
                                                1 if button.action == "up" else -1)
        elif button.action == "human":
            if not await self.replies.may_hand_off(int(button.value), where.author):
                await interaction.response.send_message(
                    await self.replies.text("only_asker", where), ephemeral=True)
                return
            said = await self.replies.hand_off(where)
            if where.is_direct:
                # Nobody from the team can join a DM: say so, and tell the team.
                await interaction.response.send_message(said)
            else:
                view = discord.ui.View(timeout=None)
                view.add_item(self.Button(await self.replies.release_button(where)))
                await interaction.response.send_message(
                    f"{self._role()}{said}", view=view,
                    allowed_mentions=discord.AllowedMentions(roles=True))
            if self.config.handoff_channel:
                await self._notify_staff(where)
        elif button.action in ("confirm", "decline"):
            await self._on_confirm(interaction, where, button)
        elif not self.is_staff(interaction.user, interaction.permissions):
            await interaction.response.send_message(
                await self.replies.text("only_staff", where), ephemeral=True)
        elif button.action == "claim":
            await self._claim(interaction, key_of(button.value))
        elif button.action == "release":
            # Buttons posted before conversation ids were carried hold "0".
            key = key_of(button.value) if "/" in button.value else where.key
            said = await self.pipeline.release(key)
            if said and _channel_of(key) == str(interaction.channel_id):
                await interaction.response.send_message(said)
                return
            await interaction.response.defer()
            if said:
                await (await self._channel(_channel_of(key))).send(said)

    async def _on_confirm(self, interaction: discord.Interaction, where: Message,
                          button: Button) -> None:
        """✅ / ✖️ under a question to confirm an action: only its asker may press; the
        buttons go, so that it cannot be pressed twice, and the outcome follows."""
        call_id = int(button.value)
        if not await self.replies.may_confirm(call_id, where.author):
            await interaction.response.send_message(
                await self.replies.text("only_asker_action", where), ephemeral=True)
            return
        private = bool(interaction.message and interaction.message.flags.ephemeral)
        if private:  # a private /ask: the asker's own conversation (see `_ask`)
            where = dataclasses.replace(where, thread=f"private-{where.author}")
        # The question stays as it was written, without its buttons.
        await interaction.response.edit_message(view=None)
        outbox: Outbox
        if private:
            outbox = InteractionOutbox(interaction, self, private=True, handoff=False)
        else:
            outbox = DiscordOutbox(interaction.channel, None, self,
                                   handoff=not where.is_direct
                                   or bool(self.config.handoff_channel))
        await self.replies.deliver_confirmation(where, outbox, call_id,
                                                button.action == "confirm")

    def _role(self) -> str:
        return f"<@&{self.config.handoff_role}> " if self.config.handoff_role else ""

    async def _channel(self, channel_id: str):
        return self.client.get_channel(int(channel_id)) or \
            await self.client.fetch_channel(int(channel_id))

    async def _notify_staff(self, where: Message) -> None:
        """The handoff notice in the team's channel: who, where, the conversation so far."""
        place, link = "DM", ""
        if not where.is_direct:
            place = f"<#{_channel_of(where.key)}>"
            link = (f"https://discord.com/channels/{where.workspace}/"
                    f"{_channel_of(where.key)}")
        notice = await self.replies.notice(where, f"<@{where.author}>", place)
        lines = [f"> {line}" for line in notice.question.splitlines()]
        description = "\n".join(lines + [""] + notice.transcript + ([link] if link else []))
        view = discord.ui.View(timeout=None)
        for button in notice.buttons:
            view.add_item(self.Button(button))
        channel = await self._channel(self.config.handoff_channel)
        await channel.send(f"{self._role()}{notice.headline}",
                           embed=discord.Embed(description=description[:4096]), view=view,
                           allowed_mentions=discord.AllowedMentions(roles=True, users=False))

    async def _claim(self, interaction: discord.Interaction, key: ConversationKey) -> None:
        agent = f"<@{interaction.user.id}>"
        view = discord.ui.View(timeout=None)
        view.add_item(self.Button(self.replies.notice_buttons(key)[1]))
        notice = interaction.message.content if interaction.message else ""
        # The notice shows who took it, and loses its Claim button.
        await interaction.response.edit_message(content=f"{notice}\n✋ {agent}", view=view)
        said = await self.replies.claimed(key, agent)
        await (await self._channel(_channel_of(key))).send(said)


def _channel_of(key: ConversationKey) -> str:
    """Where a conversation is written: its thread, else its channel (or DM)."""
    return key.thread or key.channel


def _permissions(message: discord.Message) -> discord.Permissions | None:
    try:
        return message.channel.permissions_for(message.author)
    except (AttributeError, discord.ClientException):
        return None


def _is_forum_post(channel) -> bool:
    parent = getattr(channel, "parent", None)
    return isinstance(parent, discord.ForumChannel)


def _button_class(adapter: DiscordAdapter) -> type:
    """The adapter's button type: a DynamicItem, so clicks on answers posted before a restart
    are still understood (the action and its answer or conversation are in the custom id)."""

    class AnswerButton(discord.ui.DynamicItem[discord.ui.Button],
                       template=r"babeldesk:(?P<action>up|down|human|release|claim|confirm|"
                                r"decline):(?P<value>[\w./]+)"):
        STYLES = {"up": discord.ButtonStyle.secondary, "down": discord.ButtonStyle.secondary,
                  "human": discord.ButtonStyle.primary, "release": discord.ButtonStyle.success,
                  "claim": discord.ButtonStyle.primary, "confirm": discord.ButtonStyle.success,
                  "decline": discord.ButtonStyle.secondary}

        def __init__(self, button: Button):
            super().__init__(discord.ui.Button(
                label=button.label[:80] or None, emoji=button.emoji,
                style=self.STYLES[button.action],
                custom_id=f"babeldesk:{button.action}:{button.value}"[:100]))
            self.button = button

        @classmethod
        async def from_custom_id(cls, interaction, item, match: re.Match):
            return cls(Button(match["action"], match["value"]))

        async def callback(self, interaction: discord.Interaction) -> None:
            await adapter.on_button(interaction, self.button)

    return AnswerButton


_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>")
_CUSTOM_EMOJI = re.compile(r"<a?:[A-Za-z0-9_~]+:\d+>")


def plain_text(text: str) -> str:
    """What a person typed, without Discord's markup: user, role and channel mentions
    (<@123>, <@!123>, <@&123>, <#123>) and custom emoji (<:name:123>)."""
    return _CUSTOM_EMOJI.sub(" ", _MENTION.sub(" ", text))


ADAPTER = DiscordAdapter
