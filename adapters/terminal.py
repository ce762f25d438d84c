"""Chat with babeldesk in a terminal: the whole product, offline, with no Slack or Discord.

`/image PATH [question]` (or `/file`) sends a screenshot or a text file with the question, as
a customer does on Slack or Discord (bot/attachments.py reads it).

An action that waits for the customer's yes (bot/acting.py) asks for it on the next line:
`[y/n]`, in the answer's language (y, yes, n, no, or the first letter of the confirm and
decline labels); the outcome is printed like any answer."""

from __future__ import annotations

import asyncio
import getpass
import shlex
import sys
import uuid
from pathlib import Path
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from bot.message import Answer, Attachment, Message, Reply
from bot.pipeline import Pipeline, format_sources

HELP = ("Type a question. /image PATH [question] sends a screenshot or a file with it, /new "
        "starts a new conversation, /quit (or Ctrl-D) leaves.")


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

    def message(self, text: str | bytes, attachments: tuple[Attachment, ...] = ()) -> Message:
        return Message(platform=self.platform, workspace="local", channel=self.conversation,
                       thread="", author=self.author, text=text, is_direct=True,
                       id=uuid.uuid4().hex[:12], attachments=attachments)

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
            if command.split(" ", 1)[0] in ("/image", "/file"):
                attachment, question = self.attachment(command.split(" ", 1)[1:])
                if attachment is not None:
                    await self.answer(question, (attachment,))
                continue
            await self.answer(line.rstrip(b"\r\n"))

    def attachment(self, rest: list[str]) -> tuple[Attachment | None, str]:
        """The file named after /image (quoted when it has spaces) and the question after
        it; None, with a word why, when there is no such file."""
        try:
            words = shlex.split(rest[0]) if rest else []
        except ValueError:
            words = rest[0].split() if rest else []
        if not words:
            self.write("(/image needs the path of a picture or a file)\n")
            return None, ""
        path = Path(words[0]).expanduser()
        limit = self.pipeline.config.attachments.max_bytes
        try:
            size = path.stat().st_size
            # A file over the limit is refused by the core, as on Slack, without reading it.
            data = path.read_bytes() if size <= limit else b""
        except OSError as exc:
            self.write(f"(cannot read {path}: {exc.strerror or exc})\n")
            return None, ""
        return Attachment(path.name, size=size, data=data), " ".join(words[1:])

    async def answer(self, text: str | bytes,
                     attachments: tuple[Attachment, ...] = ()) -> None:
        answer = await self.show(self.pipeline.respond(self.message(text, attachments)))
        while answer.kind == "confirm" and answer.action_call is not None:
            yes = await self.ask_yes_no(answer)
            if yes is None:  # the input ended: the action is not carried out
                return
            answer = await self.show(self.pipeline.confirm(self.message(""),
                                                           answer.action_call, yes))

    async def ask_yes_no(self, answer: Answer) -> bool | None:
        """The customer's yes or no to a confirmation, asked until it is one; None when the
        input ends."""
        texts, language = self.pipeline.texts, answer.language
        labels = (texts.get("confirm_button", language), texts.get("decline_button", language))
        yes, no = yes_no_words(*labels)
        while True:
            self.write(f"[y/n] ({labels[0]} / {labels[1]})> ")
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                self.write("\n")
                return None
            said = line.decode("utf-8", errors="replace").strip().casefold()
            if said in yes:
                return True
            if said in no:
                return False

    async def show(self, reply: Reply) -> Answer:
        """Print a reply as it streams, then the whole answer's language and sources."""
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
        return answer


def yes_no_words(confirm: str, decline: str) -> tuple[set[str], set[str]]:
    """What a terminal user may type for yes and for no: y, yes, n, no, and the first letter
    of each label (a letter both labels start with means neither)."""
    yes, no = {"y", "yes"}, {"n", "no"}
    first_yes, first_no = confirm.strip()[:1].casefold(), decline.strip()[:1].casefold()
    if first_yes and first_yes != first_no:
        if first_yes not in no:
            yes.add(first_yes)
        if first_no and first_no not in yes:
            no.add(first_no)
    return yes, no


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "terminal"


ADAPTER = TerminalAdapter
