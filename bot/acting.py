"""Actions in a conversation: which one a message asks for, the customer's confirmation,
the call, and the answer written from its result.

The model chooses between answering from the articles and one action (bot/tools.py keeps
its call well-formed); what it chose is then checked, never trusted: an argument the customer
did not give is asked for instead of sent, an action that changes something waits for the
customer's yes, and a failing service gets an apology and the offer of a person.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np

from .actions import ActionResult, Actions
from .errors import ModelError
from .knowledge import Hit, Passage, Source
from .message import Answer, Message
from .tools import ToolCall

if TYPE_CHECKING:
    from .pipeline import Pipeline

log = logging.getLogger(__name__)

#: how the model is asked to choose; {product} is the config's product name
CHOICE_SYSTEM = (
    "You are the customer-support assistant of {product}. Decide what to do with the "
    "customer's last message: call the one function it asks for, or `answer` to answer it "
    "from the help-centre articles. Call another function only when the message asks for "
    "exactly what it does. Take argument values only from what the customer wrote.")
#: what the model reads above an action's result, in place of the passages' header (the
#: result is no help-centre article: told it is one, the embedded model wrote the steps to
#: look an order up instead of its status)
RESULT_HEADER = "What our system says ({title}, {values}): facts to answer from."
#: earlier turns the model sees when choosing (a follow-up gives the order number asked for)
CHOICE_TURNS = 4
#: tokens of a choice: a name and short arguments
CHOICE_TOKENS = 160
#: user turns whose text may hold a value an action needs
CONVERSATION_TURNS = 10
#: how much closer to an action's examples than to every article heading a message must be
#: for the model to be asked about actions at all (see `Router`)
ROUTE_MARGIN = 0.05


class Router:
    """Which actions a message may be asking for, by meaning: its nearest action example
    against its nearest article heading (the multilingual embeddings the knowledge uses).

    A small model asked to choose among many functions calls one for most questions; asked
    only about the actions a message is near, it answers the rest from the articles without
    spending a model turn on the choice."""

    def __init__(self, pipeline: "Pipeline", actions: Actions):
        self.pipeline = pipeline
        self.actions = actions
        self._generation: int | None = None
        self._headings: np.ndarray | None = None
        self._examples: dict[str, np.ndarray] = {}

    def nearness(self, text: str) -> dict[str, float] | None:
        """How much nearer `text` is to each action than to the nearest article heading
        (negative: nearer the heading), nearest action first; None when there are no
        embeddings to tell."""
        embedder = self.pipeline.knowledge.embedder
        if embedder is None:
            return None
        self._prepare(embedder)
        query = embedder.embed_queries([text])[0]
        heading = float(np.max(self._headings @ query)) if self._headings is not None \
            and len(self._headings) else -1.0
        scores = {name: float(np.max(vectors @ query)) - heading
                  for name, vectors in self._examples.items()}
        return dict(sorted(scores.items(), key=lambda item: -item[1]))

    @staticmethod
    def candidates(nearness: dict[str, float]) -> list[str]:
        """The actions worth asking the model about: within ROUTE_MARGIN of the nearest
        heading, or nearer; with any, search_knowledge too (a model unsure between them and
        the articles may search them again instead)."""
        near = [name for name, gap in nearness.items() if gap >= -ROUTE_MARGIN]
        return [*near, "search_knowledge"] if near else []

    def _prepare(self, embedder) -> None:
        knowledge = self.pipeline.knowledge
        if not self._examples:
            for name in self.actions.names:
                if name == "search_knowledge":
                    continue  # the articles themselves
                spec = self.actions.get(name)
                texts = [*spec.examples, *spec.descriptions.values(),
                         *(s.strip() for s in spec.description.split(". ") if s.strip())]
                self._examples[name] = embedder.embed_queries(texts)
        if self._generation != knowledge.generation:
            generation = knowledge.generation
            headings = sorted({h for hs in knowledge.headings_by_language().values()
                               for h in hs if h})
            self._headings = embedder.embed_queries(headings) if headings else None
            self._generation = generation


@dataclass
class Decision:
    """What the action step does with a message, and why."""

    #: answer (from the articles), search (the articles, also with the model's words when
    #: the message's find nothing), handoff (offer a person), ask (for a value the customer
    #: has not given), confirm (put the call to the customer first) or call
    step: str
    #: the call as the model wrote it; None when it was not asked or chose to answer
    call: ToolCall | None = None
    #: what would be sent: the model's arguments without the values nobody gave
    arguments: dict = field(default_factory=dict)
    #: required parameters whose value the customer has not given
    missing: list[str] = field(default_factory=list)
    #: why the arguments cannot be sent, for the record
    problem: str = ""
    #: what deciding took: the nearness, and the model's turn
    seconds: float = 0.0


class Acting:
    """The action step of `Pipeline`: one per pipeline, when the config declares actions."""

    def __init__(self, pipeline: "Pipeline", actions: Actions):
        self.pipeline = pipeline
        self.actions = actions
        self.router = Router(pipeline, actions)

    @property
    def texts(self):
        return self.pipeline.texts

    # -- choosing --

    async def choose(self, message: Message, text: str, names: list[str],
                     language: str | None = None) -> ToolCall | None:
        """The action among `names` that the message asks for, as the model wrote it
        (unchecked), or None to answer from the articles. The actions are described in
        `language` where the config says how."""
        pipeline = self.pipeline
        if not names:
            return None
        tools = [t for t in self.actions.describe(language) if t["function"]["name"] in names]
        turns = await asyncio.to_thread(pipeline.history.recent, message.key, CHOICE_TURNS)
        system = CHOICE_SYSTEM.format(product=pipeline.config.prompt.product)
        messages = [{"role": "system", "content": system},
                    *({"role": t.role, "content": t.text} for t in turns),
                    {"role": "user", "content": text}]
        started = time.monotonic()
        call = await pipeline.model.run(
            message.key.id, lambda engine: engine.choose(messages, tools, CHOICE_TOKENS))
        log.info("%s: the model chose %s among %s in %.2f s", message.key.id, call.name,
                 ", ".join(names), time.monotonic() - started)
        return None if call.answers else call

    def conversation_text(self, message: Message, text: str) -> str:
        """What the customer has written lately: where an action's values must come from."""
        turns = self.pipeline.history.recent(message.key, 2 * CONVERSATION_TURNS)
        return "\n".join([*(t.text for t in turns if t.role == "user"), text])

    @staticmethod
    def platform_values(message: Message) -> dict:
        """Values a customer need not type: the platform tells them."""
        return {"user": message.author}

    # -- acting --

    async def decide(self, message: Message, text: str, language: str | None = None
                     ) -> Decision:
        """What to do with the message: answer from the articles, offer a person, ask for a
        missing value, or call an action (after the customer's yes, if it changes
        something)."""
        started = time.monotonic()
        nearness = await asyncio.to_thread(self.router.nearness, text)
        names = self.actions.names if nearness is None else Router.candidates(nearness)
        try:
            call = await self.choose(message, text, names, language)
        except ModelError as exc:  # the articles can still answer
            log.error("%s: choosing an action failed: %s", message.key.id, exc)
            call = None
        decision = Decision("answer", call, seconds=time.monotonic() - started)
        if call is None:
            return decision
        if call.name == "search_knowledge":
            decision.step = "search"
            return decision
        if call.name == "handoff":
            decision.step = "handoff"
            return decision
        said = await asyncio.to_thread(self.conversation_text, message, text)
        platform = self.platform_values(message)
        arguments = self.actions.supported(call.name, call.arguments, said, platform)
        decision.arguments = arguments
        decision.missing = self.actions.missing(call.name, arguments, said, platform)
        decision.problem = self.actions.check_arguments(call.name, arguments, said,
                                                        platform) or ""
        if decision.missing or decision.problem:
            # Asking for a value is worth it only for a message about the action; one nearer
            # the articles than the action is better answered from them (a small model calls
            # an action for many questions, with no value to give it).
            near = nearness is None or nearness.get(call.name, 0.0) >= 0.0
            decision.step = "ask" if near else "answer"
            return decision
        decision.step = "confirm" if self.actions.get(call.name).confirm else "call"
        return decision

    async def act(self, message: Message, decision: Decision, text: str, language: str,
                  notice: str, emit: Callable[[str], None], arrived: float
                  ) -> tuple[Answer, tuple[str, str] | None]:
        """The answer to a message `decide` did not send to the articles, with the question
        and answer as later prompts repeat them."""
        call, arguments, history = decision.call, decision.arguments, self.pipeline.history
        if decision.step == "handoff":
            # An offer, with its button: the customer says yes with one press, and a model
            # that misread the message does not silence the bot.
            return Answer(self.texts.get("handoff", language), language,
                          kind="handoff_offered", notice=notice), None
        if decision.step == "ask":
            await asyncio.to_thread(
                history.record_action, message.key, call.name, arguments,
                ActionResult("refused", error=decision.problem or
                             f"missing: {', '.join(decision.missing)}"), message.author)
            return Answer(self._ask(call.name, decision.missing, language), language,
                          kind="action_ask", notice=notice), None
        if decision.step == "confirm":
            call_id = await asyncio.to_thread(
                history.record_action, message.key, call.name, arguments,
                ActionResult("pending"), message.author)
            return Answer(self._confirmation(call.name, arguments, language), language,
                          kind="confirm", notice=notice, action_call=call_id), None
        result = await self.actions.call(call.name, arguments)
        await asyncio.to_thread(history.record_action, message.key, call.name, arguments,
                                result, message.author)
        return await self.answer_with(message, text, language, call.name, arguments, result,
                                      notice, emit, arrived)

    async def confirm(self, message: Message, call_id: int, yes: bool,
                      emit: Callable[[str], None], arrived: float
                      ) -> tuple[Answer, str, tuple[str, str] | None]:
        """The customer's answer to a confirmation: the answer, the question it answers
        (the request that asked for the action), and the turns as prompts repeat them."""
        history = self.pipeline.history
        call = await asyncio.to_thread(history.action_call, call_id)
        language = await asyncio.to_thread(self.pipeline.language_of, message.key)
        if call is None or call.conversation_id != message.key.id or call.status != "pending":
            return Answer(self.texts.get("action_expired", language), language,
                          kind="action_expired"), "", None
        turns = await asyncio.to_thread(history.recent, message.key, 6)
        question = next((t.text for t in reversed(turns) if t.role == "user"), "")
        if not yes:
            await asyncio.to_thread(history.settle_action, call_id,
                                    ActionResult("declined"))
            return Answer(self.texts.get("action_declined", language), language,
                          kind="action_declined"), question, None
        # Settled first: a second press of the button finds it no longer pending.
        if not await asyncio.to_thread(history.settle_action, call_id,
                                       ActionResult("sending")):
            return Answer(self.texts.get("action_expired", language), language,
                          kind="action_expired"), "", None
        result = await self.actions.call(call.action, call.arguments, confirmed=True)
        await asyncio.to_thread(history.settle_action, call_id, result, False)
        answer, seen = await self.answer_with(message, question, language, call.action,
                                              call.arguments, result, "", emit, arrived)
        return answer, question, seen

    async def answer_with(self, message: Message, question: str, language: str, action: str,
                          arguments: dict, result: ActionResult, notice: str,
                          emit: Callable[[str], None], arrived: float
                          ) -> tuple[Answer, tuple[str, str] | None]:
        """The answer from an action's result, cited like an article; for a failure, the
        apology and the offer of a person."""
        texts = self.texts
        if not result.ok:
            return Answer(f"{texts.get('action_failed', language)} "
                          f"{texts.get('handoff', language)}", language,
                          kind="action_failed", notice=notice), None
        source = Source(f"actions/{action}", _label(arguments), self.actions.title(action, "en"))
        if not result.data:
            return Answer(texts.get("action_done", language), language, [source],
                          notice=notice, origin="action"), None
        passage = Passage(source.path, source.title, source.heading, "en",
                          _as_lines(result.data))
        answer, seen = await self.pipeline.generate(
            message, question, language, [Hit(passage, 1.0)], emit, notice, arrived,
            header=RESULT_HEADER.format(title=source.title, values=source.heading))
        if answer.kind == "answer" and answer.origin == "model":
            return Answer(answer.text, language, [source], notice=notice,
                          origin="action"), seen
        # The model's words did not pass the check: the result as the service gave it.
        text = f"{texts.get('action_result', language)}\n{_as_lines(result.data)}"
        return Answer(text, language, [source], notice=notice, origin="action"), (
            self.pipeline.question_line(question, language), text)

    def _ask(self, action: str, missing: list[str], language: str) -> str:
        spec = self.actions.get(action)
        properties = spec.parameters.get("properties", {}) if spec else {}
        what = "; ".join(
            str(properties.get(name, {}).get("title") or
                properties.get(name, {}).get("description") or name).rstrip(".")
            for name in missing) or self.actions.title(action, language)
        return self.texts.get("action_ask", language).format(what=what)

    def _confirmation(self, action: str, arguments: dict, language: str) -> str:
        spec = self.actions.get(action)
        properties = spec.parameters.get("properties", {})
        details = "\n".join(
            f"• {properties.get(name, {}).get('title') or name}: {_shown(value)}"
            for name, value in arguments.items())
        return self.texts.get("action_confirm", language).format(
            action=self.actions.title(action, language), details=details).strip()


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _label(arguments: dict) -> str:
    """The citation's heading: the values the action was called with."""
    return ", ".join(_shown(v) for v in arguments.values())[:80]


def _as_lines(data: dict) -> str:
    """A result's fields, a line each: what the model reads and what a fallback shows."""
    return "\n".join(f"{path}: {_shown(value)}" for path, value in data.items())
