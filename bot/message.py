"""The one message type that every adapter hands to the core, and what it gets back."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from .history import ConversationKey
from .knowledge import Source


@dataclass(frozen=True)
class Attachment:
    name: str
    url: str = ""
    content_type: str = ""
    size: int = 0
    #: request headers the download needs (Slack's bot token): never logged or shown
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: the file's bytes, when the platform hands them over (terminal, HTTP API)
    data: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Message:
    """A message from a person, as any platform delivers it."""

    platform: str
    #: Slack team, Discord guild; "" where the platform has none (a DM, the terminal)
    workspace: str
    channel: str
    #: the thread it belongs to; "" outside threads
    thread: str
    author: str
    text: str | bytes
    is_direct: bool = False
    attachments: tuple[Attachment, ...] = ()
    #: the platform's id for this message, for logs
    id: str = ""
    #: the locale the platform reports for the author, as it reports it ("de-DE", "pt-BR",
    #: "es-419", "zh-CN", "en-US"; Slack's user locale, Discord's interaction locale); ""
    #: when unknown. Only a conversation's first message reads it: its language is the prior
    #: for detection (`locale_language` in bot/language.py), so a message too short to tell
    #: ("ok danke") is answered in it and a clear message in another language is not
    locale: str = ""

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(self.platform, self.workspace, self.channel, self.thread)


@dataclass(frozen=True)
class Answer:
    text: str
    language: str
    sources: list[Source] = field(default_factory=list)
    #: the knowledge had nothing relevant, so the bot said so instead of guessing
    abstained: bool = False
    #: answer, abstained, withheld (the answer broke a rule of bot/screen.py and the
    #: customer got the "I don't know" text), empty, refused, error, interrupted (cut short by
    #: a restart),
    #: handed_off (people answer here now), stopped (babeldesk is shutting down); for
    #: actions (bot/acting.py): handoff_offered (the model thinks a person should take
    #: over: the customer gets the offer and its button), action_ask (a detail is missing),
    #: confirm (waiting for the customer's yes), action_declined, action_failed,
    #: action_expired (a confirmation pressed twice or too late)
    kind: str = "answer"
    #: said before the answer, e.g. that a long message was cut
    notice: str = ""
    #: the stored answer's id, for feedback; None when nothing was stored
    turn_id: int | None = None
    #: for an answer: model (written by the model and checked), quoted (the article's own
    #: sentences), translated (those sentences translated by the model, and checked) or
    #: action (an action's result: the model's words, checked, or its fields as they are)
    origin: str = "model"
    #: for a `confirm` answer: the pending action call the customer is asked to confirm
    action_call: int | None = None
    #: why the model's answer failed the answer check, when it was replaced or withheld (for
    #: logs and `babeldesk eval`; not shown to customers)
    check: str = ""

    @property
    def silent(self) -> bool:
        """People have taken the conversation over, or babeldesk is stopping: the adapter
        posts nothing."""
        return self.kind in ("handed_off", "stopped")

    def to_dict(self) -> dict:
        return {"answer": self.text, "language": self.language,
                "sources": [s.to_dict() for s in self.sources], "abstained": self.abstained,
                "kind": self.kind, "notice": self.notice, "turn_id": self.turn_id,
                "origin": self.origin, "action_call": self.action_call}


_END = object()


class Reply:
    """An answer being produced.

    `async for chunk in reply` yields the text as the model writes it; `await reply` gives the
    finished `Answer`, whose text is authoritative (a canned text or a refusal may replace
    what was streamed).
    """

    def __init__(self, produce: Callable[[Callable[[str], None]], Awaitable[Answer]]):
        self._chunks: asyncio.Queue = asyncio.Queue()
        self._task = asyncio.ensure_future(self._run(produce))

    async def _run(self, produce) -> Answer:
        try:
            return await produce(self._chunks.put_nowait)
        finally:
            self._chunks.put_nowait(_END)

    async def __aiter__(self) -> AsyncIterator[str]:
        while True:
            chunk = await self._chunks.get()
            if chunk is _END:
                return
            yield chunk

    def __await__(self):
        return self._task.__await__()

    def cancel(self) -> None:
        self._task.cancel()

    def done(self) -> bool:
        return self._task.done()
