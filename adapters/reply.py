"""The reply protocol every chat platform shares, written once.

A platform implements an `Outbox` (send, edit and delete one message, and its own markup);
`Replies` does the rest: the message that streams while the model writes (edited at most once
per `update_interval`), the answer split to the platform's length limit, which buttons an
answer gets, who may press them, the words that give a handed-off conversation back to the
bot, and stopping the model when the platform refuses what it writes.

An action that changes something (bot/acting.py) waits for the customer's yes: its `confirm`
answer gets a confirm and a decline button, whose value is the pending call's id. Only the
customer who asked may press them (`may_confirm`); the platform then takes the buttons off
that message, so that it cannot be pressed twice, and `deliver_confirmation` streams the
outcome like any answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.history import ConversationKey
from bot.message import Answer, Message, Reply
from bot.pipeline import Pipeline
from bot.text import split_message
from bot.texts import ENDONYMS, TEXTS

log = logging.getLogger(__name__)

#: shown at the end of an answer still being written
WRITING = "…"
#: turns of the conversation shown to staff in a handoff notice, and characters of each
TRANSCRIPT_TURNS = 10
TRANSCRIPT_CHARS = 300


class Refused(Exception):
    """The platform refuses a post or an edit for good (no access, channel or message gone):
    nobody will see the answer, so it is not written further."""


@dataclass(frozen=True)
class Button:
    #: up, down, human, release, claim, confirm or decline
    action: str
    #: the stored answer's id for up / down / human; the conversation's for release / claim;
    #: the pending action call's for confirm / decline
    value: str
    label: str = ""

    EMOJI = {"up": "👍", "down": "👎", "human": "🙋", "release": "🤖", "claim": "✋",
             "confirm": "✅", "decline": "✖️"}

    @property
    def emoji(self) -> str:
        return self.EMOJI[self.action]


@dataclass(frozen=True)
class Final:
    """A whole answer's last message, for the platform to render: sources and buttons."""

    answer: Answer
    sources_label: str = ""
    #: "path › heading" of each source
    sources: list[str] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)


@dataclass(frozen=True)
class Notice:
    """What the support team sees in its handoff channel when a customer asks for a person,
    in the team's language (the default language)."""

    headline: str
    question: str
    #: the conversation so far, a line a turn: "🙋 …" the customer, "🤖 …" babeldesk
    transcript: list[str]
    buttons: list[Button]


class Outbox:
    """Where one answer goes: a thread, a channel, a DM, an interaction's follow-up.

    `send` and `edit` raise `Refused` when the platform will not take the message at all;
    any other error while streaming loses only that preview.
    """

    #: the longest message the platform takes, in characters
    limit = 2000
    #: posted at once, before the model writes (None: the first preview is the first post)
    placeholder: str | None = None
    #: whether staff can be reached from here: a "talk to a human" button is offered only then
    #: (a DM with the bot reaches people only through a handoff channel)
    handoff = True
    #: whether the answer is shown as the model writes it (False: once, when it is whole)
    streams = True

    async def send(self, text: str, final: Final | None = None) -> Any:
        raise NotImplementedError

    async def edit(self, posted: Any, text: str, final: Final | None = None) -> Any:
        raise NotImplementedError

    async def delete(self, posted: Any) -> None:
        raise NotImplementedError

    def markup(self, text: str) -> str:
        """The model's Markdown in the platform's own markup."""
        return text

    def writing(self) -> contextlib.AbstractAsyncContextManager:
        """Shown while the model writes (Discord's typing indicator)."""
        return contextlib.nullcontext()


def release_words(texts: dict[str, dict[str, str]] = TEXTS) -> frozenset[str]:
    """What staff may say to the bot to let it answer again, in every shipped language."""
    words = set()
    for entries in texts.values():
        words |= {w.strip().lower() for w in entries.get("release_words", "").split(",")}
    return frozenset(w for w in words if w)


_MENTION = re.compile(r"<[@#!][^>]*>")


def said_words(text: str) -> str:
    """A short message without mentions, lower-cased, for comparing with release words."""
    return " ".join(_MENTION.sub(" ", text).lower().split()).strip(" .!¡?¿。！")


class Replies:
    """The reply protocol for one platform; an adapter has one."""

    def __init__(self, pipeline: Pipeline, update_interval: float):
        self.pipeline = pipeline
        self.texts = pipeline.texts
        self.update_interval = update_interval
        self.release_words = release_words() | release_words(
            {lang: {"release_words": self.texts.get("release_words", lang)}
             for lang in pipeline.config.languages})

    # -- answering --

    async def deliver(self, message: Message, outbox: Outbox,
                      start: Callable[[], Reply] | None = None) -> Answer | None:
        """Answer the message in the outbox, streaming; None when the platform refused it
        (the model was stopped and nothing was stored). `start` begins the reply to stream
        (by default `pipeline.respond(message)`), once the placeholder is up."""
        posted = None
        if outbox.placeholder is not None:
            try:
                posted = await outbox.send(outbox.placeholder)
            except Refused as exc:
                log.warning("%s: cannot post in %s (%s): not answering", message.platform,
                            message.key.id, exc)
                return None
        reply = start() if start is not None else self.pipeline.respond(message)
        last = time.monotonic()
        streamed = shown = ""
        try:
            async with outbox.writing():
                async for chunk in reply:
                    streamed += chunk
                    if not outbox.streams or streamed == shown \
                            or time.monotonic() - last < self.update_interval:
                        continue
                    preview = split_message(outbox.markup(streamed), outbox.limit - 2)[0]
                    posted = await self._preview(outbox, posted, f"{preview} {WRITING}")
                    shown, last = streamed, time.monotonic()
                answer = await reply
        except Refused as exc:
            reply.cancel()
            log.warning("%s: %s refused the answer being written (%s): the model stopped "
                        "and nothing is stored", message.platform, message.key.id, exc)
            return None
        except BaseException:
            reply.cancel()  # nobody will post what it goes on writing
            raise
        if answer.silent:
            if posted is not None:
                await outbox.delete(posted)
            return answer
        if posted is not None:  # edits stay at most one per interval, the last one too
            await asyncio.sleep(max(0.0, self.update_interval - (time.monotonic() - last)))
        try:
            await self.post(outbox, answer, posted)
        except Refused as exc:
            log.warning("%s: %s refused the answer (%s)", message.platform, message.key.id,
                        exc)
        return answer

    async def deliver_confirmation(self, where: Message, outbox: Outbox, call_id: int,
                                   yes: bool) -> Answer | None:
        """Carry out (`yes`) or drop the pending action call `call_id` and post the outcome in
        the outbox, streaming, as `deliver` posts an answer. `where` is the press: the
        conversation, by the person who pressed (check `may_confirm` first)."""
        return await self.deliver(where, outbox,
                                  lambda: self.pipeline.confirm(where, call_id, yes))

    async def _preview(self, outbox: Outbox, posted: Any, text: str) -> Any:
        try:
            if posted is None:
                return await outbox.send(text)
            return await outbox.edit(posted, text) or posted
        except Refused:
            raise
        except Exception as exc:  # a lost preview is no reason to lose the answer
            log.warning("a streaming preview failed: %s", exc)
            return posted

    async def post(self, outbox: Outbox, answer: Answer, posted: Any = None) -> None:
        """The whole answer, split to the platform's limit; the last piece carries the
        sources and the buttons."""
        body = f"_{answer.notice}_\n\n{answer.text}" if answer.notice else answer.text
        pieces = split_message(outbox.markup(body), outbox.limit) or [answer.text[:outbox.limit]]
        final = self.final(answer, outbox.handoff)
        for i, piece in enumerate(pieces):
            # Every piece is part of the whole answer; only the last shows sources and buttons.
            last = final if i == len(pieces) - 1 else Final(answer)
            if i == 0 and posted is not None:
                await outbox.edit(posted, piece, last)
            else:
                await outbox.send(piece, last)

    def final(self, answer: Answer, handoff: bool = True) -> Final:
        sources = [f"{s.path} › {s.heading}" for s in answer.sources]
        return Final(answer, self.texts.get("sources", answer.language), sources,
                     self.buttons(answer, handoff))

    def buttons(self, answer: Answer, handoff: bool = True) -> list[Button]:
        """👍 / 👎 under a stored answer, and "talk to a human" under anything stored but an
        empty message or a refusal, where staff can be reached (an offer of a person, a
        failed action); under a question to confirm an action, only ✅ / ✖️."""
        if answer.kind == "confirm" and answer.action_call is not None:
            call = str(answer.action_call)
            return [Button("confirm", call,
                           self.texts.get("confirm_button", answer.language)),
                    Button("decline", call,
                           self.texts.get("decline_button", answer.language))]
        if answer.turn_id is None or answer.kind in ("empty", "refused", "confirm"):
            return []
        value = str(answer.turn_id)
        buttons = [Button("up", value), Button("down", value)] if answer.kind == "answer" \
            else []
        if handoff:
            buttons.append(Button("human", value,
                                  self.texts.get("human_button", answer.language)))
        return buttons

    # -- confirming an action --

    async def may_confirm(self, call_id: int, user: str) -> bool:
        """Only the person who asked for an action confirms or declines it (a call the core
        forgot may be pressed: the core answers that it expired)."""
        asker = await self.pipeline.action_asker(call_id)
        return not asker or asker == user

    # -- handoff --

    def is_release(self, text: str) -> bool:
        return said_words(text) in self.release_words

    async def may_hand_off(self, turn_id: int, user: str) -> bool:
        """Only the person who asked calls in a person for their question."""
        asker = await self.pipeline.asker_of(turn_id)
        return not asker or asker == user

    async def hand_off(self, where: Message) -> str:
        """People take the conversation over; what the customer is told. In a DM, staff
        cannot join: a person will write to them directly."""
        said = await self.pipeline.hand_off(where)
        return await self.text("handoff_done_direct", where) if where.is_direct else said

    async def notice(self, where: Message, customer: str, place: str) -> Notice:
        """The handoff notice for the support team's channel."""
        turns = await self.pipeline.transcript(where.key, TRANSCRIPT_TURNS)
        language = await asyncio.to_thread(self.pipeline.language_of, where.key)
        staff = self.pipeline.config.default_language
        headline = self.texts.get("handoff_request", staff).format(
            customer=customer, place=place, language=ENDONYMS.get(language, language))
        question = next((t.text for t in reversed(turns) if t.role == "user"), "")
        transcript = [f"{'🙋' if t.role == 'user' else '🤖'} {_shorten(t.text)}" for t in turns]
        return Notice(headline, question, transcript, self.notice_buttons(where.key))

    def notice_buttons(self, key: ConversationKey) -> list[Button]:
        """Claim and Release, for the team, in its language."""
        staff = self.pipeline.config.default_language
        return [Button("claim", key.id, self.texts.get("claim_button", staff)),
                Button("release", key.id, self.texts.get("release_button", staff))]

    async def claimed(self, key: ConversationKey, agent: str) -> str:
        """Said in the customer's conversation when someone from the team takes it."""
        language = await asyncio.to_thread(self.pipeline.language_of, key)
        return self.texts.get("claimed", language).format(agent=agent)

    async def slow_down(self, message: Message) -> str:
        """Asked to wait, in the language of the message."""
        detected = await asyncio.to_thread(self.pipeline.detect_language, str(message.text))
        return self.texts.get("slow_down", detected.language)

    async def release_button(self, where: Message) -> Button:
        """For staff: the bot answers in this conversation again."""
        return Button("release", where.key.id, await self.text("release_button", where))

    async def text(self, key: str, where: Message) -> str:
        """A canned text in the conversation's language."""
        language = await asyncio.to_thread(self.pipeline.language_of, where.key)
        return self.texts.get(key, language)


def key_of(value: str) -> ConversationKey:
    """The conversation a staff button names (its `ConversationKey.id`)."""
    return ConversationKey(*value.split("/", 3))


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TRANSCRIPT_CHARS else text[:TRANSCRIPT_CHARS - 1] + "…"
