"""A stand-in model for the platform tests: it answers at once, from the prompt it is given.

`ScriptedEngine` implements the `Engine` protocol of bot/engine.py, as test_engine.py's
RecordingEngine does. Its answer is the text of a help-centre passage in the prompt (see
`Pipeline.build_prompt`): the first one written in the asked language, else the first
one. So the answer is grounded and in the passage's language, as the pipeline's language
check expects, and the platform tests that use it do not depend on how fast a model writes.
What only a real model can show (that it answers in the question's language, that its states
are reused) is tested with the real one: test_pipeline.py, test_cache.py, test_run.py, and a
real-model test in test_slack.py and test_discord.py.

For the tests of streamed edits (adapters edit at most once per second), `hold` makes the
answers wait for an event of the test's choosing, such as the fake platform having received
the first edit, instead of racing the clock.

For the tests of actions, `choose` stands in for the model's choice of a tool (bot/tools.py),
by a fixed rule on the customer's last message, so that a test steers it with its words:
"search for X" → `search_knowledge` with X as its `query`; a 5 to 8 digit number and
"cancel" → `cancel_order` with that `order_id`; "ticket" or "broken" → `open_ticket` with
the message as its `summary` (and the number as its `order_id`, if there is one); a number → `order_status` with that `order_id`, "my order"
without one → `order_status` without it (as a model that leaves a value out); "human" or
"person" → `handoff` with the message as its `reason`; anything else → `answer`. A rule
whose tool is not among those offered (the core offers only the actions a message is near)
is skipped, and the next one that fits is taken; `answer` when none does. Every choice is
kept in `choices`.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from bot.config import Config
from bot.language import LanguageDetector
from bot.pipeline import PASSAGES_HEADER
from bot.texts import LANGUAGE_NAMES
from bot.tools import ANSWER, MAX_TEXT_CHARS, ToolCall

PASSAGES = f"{PASSAGES_HEADER}\n\n"
QUESTION = "\n\nQuestion: "
#: what the pipeline adds to the question (and, for a second attempt, instead of it)
ASKED = re.compile(r"\((?:Answer in|Write the whole answer in) (.+?)(?: only,[^)]*)?\.\)\s*$")
#: one piece of the answer: a word with the spaces after it, as a model's tokens come
PIECE = re.compile(r"\S+\s*")
#: an order number, as the example shop's actions take it
ORDER_NUMBER = re.compile(r"(?<!\d)\d{5,8}(?!\d)")


@dataclass
class Hold:
    until: Callable[[], bool]
    after: int
    pace: float | None
    timeout: float


def answer_for(messages: list[dict]) -> str:
    """The text of the passage the stand-in answers with ("" when the prompt has none)."""
    content = messages[-1]["content"]
    if not content.startswith(PASSAGES) or QUESTION not in content:
        return ""
    body, question = content[len(PASSAGES):].rsplit(QUESTION, 1)
    blocks = re.split(r"\n\n(?=\[\d+\] )", body)
    # The prompt names no files: each passage's language is read from its text.
    passages = [block.partition("\n")[2].strip() for block in blocks]
    asked = ASKED.search(question)
    codes = [code for code, name in LANGUAGE_NAMES.items()
             if asked and name == asked.group(1)]
    for text in passages:
        if codes and _detector().detect_document(text) == codes[0]:
            return text
    return passages[0] if passages else ""


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    return LanguageDetector(Config().languages, "en")


class ScriptedEngine:
    """Answers with a passage from the prompt, piece by piece (see the module's docstring)."""

    n_ctx = 4096

    def __init__(self) -> None:
        #: (conversation, messages) of every generation, in order
        self.calls: list[tuple[str | None, list[dict]]] = []
        #: (offered tool names, the call) of every choice, in order
        self.choices: list[tuple[list[str], ToolCall]] = []
        #: for each held answer: whether its event came before the answer ran out
        self.released: list[bool] = []
        #: when set, the answer to every prompt instead of a passage (a model making it up)
        self.answer: str | None = None
        self._hold: Hold | None = None
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        # As OpenAIEngine counts: three UTF-8 bytes a token never under-counts.
        return -(-len(text.encode("utf-8", errors="replace")) // 3)

    def hold(self, until: Callable[[], bool], after: int = 3, pace: float | None = None,
             timeout: float = 600.0) -> None:
        """Hold every following answer after its first `after` pieces until `until()` holds.

        With `pace`, the held answer goes on one piece every `pace` seconds meanwhile (a slow
        model: the adapter sees text arriving and edits its message), and the rest comes at
        once when `until()` holds; without, nothing comes until then (at most `timeout`
        seconds)."""
        with self._lock:
            self._hold = Hold(until, after, pace, timeout)

    def release(self) -> None:
        with self._lock:
            self._hold = None

    def generate(self, messages, max_tokens, temperature, stop, conversation=None):
        self.calls.append((conversation, messages))
        text = self.answer if self.answer is not None else answer_for(messages)
        pieces = PIECE.findall(text)[:max_tokens]
        with self._lock:
            hold = self._hold
        for i, piece in enumerate(pieces):
            if stop():
                return
            if hold is not None and i >= hold.after:
                if hold.pace is None:
                    self.released.append(self._wait(hold))
                    hold = None
                elif hold.until():
                    self.released.append(True)
                    hold = None
                else:
                    time.sleep(hold.pace)
            yield piece
        if hold is not None and len(pieces) > hold.after:
            self.released.append(False)  # the answer ran out before the event came

    def choose(self, messages: list[dict], tools: list[dict], max_tokens: int) -> ToolCall:
        """A tool for the last user message, by the rule of the module's docstring."""
        offered = [tool["function"]["name"] for tool in tools]
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        call = _scripted_choice(text, offered)
        with self._lock:
            self.choices.append((offered, call))
        return call

    @staticmethod
    def _wait(hold: Hold) -> bool:
        deadline = time.monotonic() + hold.timeout
        while not hold.until():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _scripted_choice(text: str, offered: list[str]) -> ToolCall:
    lowered = text.lower()
    found = ORDER_NUMBER.search(text)
    number = found.group(0) if found else None
    said = " ".join(text.split())[:MAX_TEXT_CHARS]
    rules = [
        ("search_knowledge", "search for" in lowered,
         {"query": text[lowered.find("search for") + len("search for"):].strip(" :")}),
        ("cancel_order", number and "cancel" in lowered, {"order_id": number}),
        ("open_ticket", "ticket" in lowered or "broken" in lowered,
         {"summary": said, **({"order_id": number} if number else {})}),
        ("order_status", number, {"order_id": number}),
        ("order_status", "my order" in lowered, {}),
        ("handoff", "human" in lowered or "person" in lowered, {"reason": said}),
    ]
    for name, fits, arguments in rules:
        if fits and name in offered:
            return ToolCall(name, arguments)
    return ToolCall(ANSWER)
