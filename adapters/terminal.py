"""Chat with babeldesk in a terminal: the whole product, offline, with no Slack or Discord."""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from bot.message import Message
from bot.pipeline import Pipeline, format_sources

HELP = "Type a question. /new starts a new conversation, /quit (or Ctrl-D) leaves."


@dataclass(frozen=True)
class TerminalConfig:
    #: the terminal chat of `babeldesk chat`
    enabled: bool = True


class TerminalAdapter:
    """Reads questions line by line and streams the answers back."""

    name = platform = "terminal"
    Settings = TerminalConfig

    def __init__(self, pipeline: Pipeline, conversation: str = "default",
                 stdin: BinaryIO | None = None, stdout: TextIO | None = None,
                 author: str | None = None):
        self.pipeline = pipeline
        self.conversation = conversation
        self.stdin = stdin or sys.stdin.buffer
        self.stdout = stdout or sys.stdout
        self.author = author or _user()

    def message(self, text: str | bytes) -> Message:
        return Message(platform=self.platform, workspace="local", channel=self.conversation,
                       thread="", author=self.author, text=text, is_direct=True,
                       id=uuid.uuid4().hex[:12])

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def run(self) -> None:
        self.write(f"babeldesk — {HELP}\n")
        while True:
            self.write("\nyou> ")
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                self.write("\n")
                return
            command = line.strip().decode("utf-8", errors="replace")
            if command in ("/quit", "/exit"):
                return
            if command == "/new":
                self.conversation = uuid.uuid4().hex[:8]
                self.write(f"(new conversation {self.conversation})\n")
                continue
            if command == "/help":
                self.write(HELP + "\n")
                continue
            await self.answer(line.rstrip(b"\r\n"))

    async def answer(self, text: str | bytes) -> None:
        reply = self.pipeline.respond(self.message(text))
        self.write("bot> ")
        streamed = []
        async for chunk in reply:
            streamed.append(chunk)
            self.write(chunk)
        answer = await reply
        if answer.text.strip() != "".join(streamed).strip():
            # A canned text or a refusal replaced (or stands instead of) the model's words.
            self.write(("\n" if streamed else "") + answer.text)
        if answer.notice:
            self.write(f"\n({answer.notice})")
        sources = format_sources(answer, self.pipeline.texts)
        self.write(f"\n[{answer.language}] {sources}\n" if sources else
                   f"\n[{answer.language}]\n")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "terminal"


ADAPTER = TerminalAdapter
