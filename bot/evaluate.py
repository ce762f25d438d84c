"""Measuring the knowledge against a list of questions (`babeldesk eval`).

A knowledge editor writes the questions customers ask, each with the file (or `file › heading`)
that should answer it, or none when the knowledge should not answer it. Every question is put to
the bot as in a new conversation: the passages the pipeline retrieves give hit@1 and hit@3, and
the full answer (unless only retrieval is measured) tells whether it was answered, in which
language, or whether the bot abstained.

Nothing here prints: `load_questions` returns `Question`s, `evaluate` an `Evaluation` that the
command formats as a table or as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import yaml

from .errors import BabeldeskError, ConfigError, ModelError
from .knowledge import Hit, KnowledgeBase
from .message import Message
from .pipeline import Pipeline
from .check import numbers
from .text import ascii_digits, normalise_message

log = logging.getLogger(__name__)

#: the passages that count for hit@k: hit@1 and hit@3
TOP = 3
#: where the evaluation's conversations are stored while they are answered (then deleted)
PLATFORM = "eval"
KEYS = ("question", "expect", "language", "must_contain")


class QuestionsError(ConfigError):
    """A questions file that cannot be used; the message names the file, the entry and the
    problem. A ConfigError, so that the command exits 2."""

    def __init__(self, path: Path | str, problem: str):
        BabeldeskError.__init__(self, f"{path}: {problem}")  # not "config: …"
        self.key, self.problem = str(path), problem


@dataclass(frozen=True)
class Expected:
    """A knowledge file, relative to the knowledge folder, and optionally one heading in it."""

    file: str
    heading: str | None = None

    @property
    def label(self) -> str:
        return f"{self.file} › {self.heading}" if self.heading else self.file

    def matches(self, hit: Hit) -> bool:
        passage = hit.passage
        return passage.path == self.file and (
            self.heading is None or _fold(passage.heading) == _fold(self.heading))

    def to_dict(self) -> dict:
        return {"file": self.file, "heading": self.heading}


@dataclass(frozen=True)
class Question:
    #: 1-based position in the questions file, for messages
    number: int
    text: str
    #: acceptable sources; empty: the knowledge should not answer it (an abstention is expected)
    expect: tuple[Expected, ...] = ()
    #: the language the answer should be in; None: the one detected from the question
    language: str | None = None
    #: facts the answer has to state, as written in it ("2 ans")
    must_contain: tuple[str, ...] = ()

    @property
    def should_abstain(self) -> bool:
        return not self.expect


@dataclass
class Result:
    """What happened to one question."""

    question: Question
    #: the language the answer should be in (given, or detected from the question)
    language: str
    #: the language babeldesk detected in the question, which it answers in
    detected: str
    #: the top passages the pipeline retrieved (at most TOP), as (path, heading, relevance)
    retrieved: list[tuple[str, str, float]]
    #: 1-based rank of the first expected passage among `retrieved`; None when not there
    rank: int | None
    abstained: bool
    #: None when answers were not generated (retrieval only)
    answer: str | None = None
    #: the answer's kind (answer, abstained, refused, error …); None without answers
    kind: str | None = None
    #: the language detected in the answer's text (the pipeline's when it cannot be told)
    answer_language: str | None = None
    sources: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: model, quoted or translated (see Answer.origin); None without answers
    origin: str | None = None
    #: why the model's answer failed the answer check ("" when it passed or none was written)
    check: str = ""
    #: numbers in the answer that neither the retrieved passages nor the question state
    foreign_numbers: list[str] = field(default_factory=list)
    #: the question's must_contain facts the answer does not state
    missing: list[str] = field(default_factory=list)

    @property
    def hit1(self) -> bool:
        return self.rank == 1

    @property
    def hit3(self) -> bool:
        return self.rank is not None and self.rank <= TOP

    @property
    def answered(self) -> bool:
        """The bot gave an answer (not an abstention, refusal or error). Without generated
        answers: retrieval found passages good enough to answer from."""
        if self.kind is None:
            return not self.abstained
        return self.kind == "answer"

    @property
    def wrong_language(self) -> bool | None:
        """An answer in another language than expected; None when not measured."""
        if self.kind is None:
            return None
        return self.answered and self.answer_language != self.language

    @property
    def checked(self) -> bool | None:
        """The model's own answer passed the answer check; None without a model answer."""
        if self.kind is None or not self.answered and not self.check:
            return None
        return not self.check

    @property
    def failed(self) -> bool:
        """Neither an answer nor an abstention: a refusal, a model error."""
        return self.kind is not None and self.kind not in ("answer", "abstained")

    @property
    def unexpected_abstention(self) -> bool:
        return not self.question.should_abstain and self.abstained

    @property
    def should_have_abstained(self) -> bool:
        return self.question.should_abstain and self.answered

    @property
    def unanswered(self) -> bool:
        """A question the knowledge should answer, that nothing answers: the bot did not
        answer, or none of the expected passages is among the top ones."""
        return not self.question.should_abstain and (not self.answered or not self.hit3)

    @property
    def ok(self) -> bool:
        if self.failed or self.wrong_language or self.missing or self.foreign_numbers:
            return False
        if self.question.should_abstain:
            return self.abstained
        return not self.unanswered

    def to_dict(self) -> dict:
        q = self.question
        return {
            "number": q.number, "question": q.text, "language": self.language,
            "detected_language": self.detected,
            "expect": [e.to_dict() for e in q.expect], "should_abstain": q.should_abstain,
            "retrieved": [{"path": p, "heading": h, "relevance": round(r, 3)}
                          for p, h, r in self.retrieved],
            "rank": self.rank, "hit@1": self.hit1, "hit@3": self.hit3,
            "abstained": self.abstained, "answered": self.answered,
            "answer": self.answer, "kind": self.kind, "answer_language": self.answer_language,
            "wrong_language": self.wrong_language, "sources": self.sources,
            "origin": self.origin, "check": self.check, "check_passed": self.checked,
            "foreign_numbers": self.foreign_numbers, "must_contain": list(q.must_contain),
            "missing": self.missing,
            "unanswered": self.unanswered, "ok": self.ok, "seconds": round(self.seconds, 2),
        }


@dataclass
class Summary:
    """The counts of one language's questions (or of all)."""

    questions: int = 0
    #: questions with an expected file: the denominator of hit@1 and hit@3
    answerable: int = 0
    hit1: int = 0
    hit3: int = 0
    abstained: int = 0
    #: answerable questions the bot said it did not know
    declined: int = 0
    #: questions the knowledge should not answer, and how many of them were answered
    off_topic: int = 0
    off_topic_answered: int = 0
    #: None when answers were not generated
    wrong_language: int | None = None
    #: answers whose model text failed the check, and answers quoted from the article
    check_failed: int = 0
    quoted: int = 0
    #: answers stating a number no passage gives; questions missing a must_contain fact
    foreign_numbers: int = 0
    missing_facts: int = 0

    def add(self, result: Result) -> None:
        self.questions += 1
        if not result.question.should_abstain:
            self.answerable += 1
            self.hit1 += result.hit1
            self.hit3 += result.hit3
            self.declined += result.abstained
        else:
            self.off_topic += 1
            self.off_topic_answered += result.answered
        self.abstained += result.abstained
        if result.wrong_language is not None:
            self.wrong_language = (self.wrong_language or 0) + result.wrong_language
        self.check_failed += result.checked is False
        self.quoted += result.answered and result.origin in ("quoted", "translated")
        self.foreign_numbers += bool(result.foreign_numbers)
        self.missing_facts += bool(result.missing)

    def to_dict(self) -> dict:
        return {"questions": self.questions, "answerable": self.answerable, "hit@1": self.hit1,
                "hit@3": self.hit3, "abstained": self.abstained, "declined": self.declined,
                "off_topic": self.off_topic, "off_topic_answered": self.off_topic_answered,
                "wrong_language": self.wrong_language, "check_failed": self.check_failed,
                "quoted": self.quoted, "foreign_numbers": self.foreign_numbers,
                "missing_facts": self.missing_facts}


@dataclass
class Evaluation:
    results: list[Result]
    #: whether full answers were generated, or only retrieval measured
    answers: bool
    seconds: float = 0.0

    @property
    def languages(self) -> dict[str, Summary]:
        """A summary per expected language, in order of first appearance."""
        out: dict[str, Summary] = {}
        for result in self.results:
            out.setdefault(result.language, Summary()).add(result)
        return out

    @property
    def total(self) -> Summary:
        summary = Summary()
        if self.answers:
            summary.wrong_language = 0
        for result in self.results:
            summary.add(result)
        return summary

    def wrong_language(self) -> list[Result]:
        return [r for r in self.results if r.wrong_language]

    def unexpected_abstentions(self) -> list[Result]:
        return [r for r in self.results if r.unexpected_abstention]

    def should_have_abstained(self) -> list[Result]:
        return [r for r in self.results if r.should_have_abstained]

    def unanswered(self) -> list[Result]:
        return [r for r in self.results if r.unanswered]

    def failed(self) -> list[Result]:
        return [r for r in self.results if r.failed]

    def check_failed(self) -> list[Result]:
        return [r for r in self.results if r.checked is False]

    def foreign_numbers(self) -> list[Result]:
        return [r for r in self.results if r.foreign_numbers]

    def missing_facts(self) -> list[Result]:
        return [r for r in self.results if r.missing]

    @property
    def passed(self) -> bool:
        """Every question with an expected file found in the top passages and answered in its
        language, every other one abstained, no errors."""
        return all(r.ok for r in self.results)

    def to_dict(self) -> dict:
        def numbered(results: list[Result]) -> list[int]:
            return [r.question.number for r in results]

        return {
            "passed": self.passed, "answers": self.answers, "seconds": round(self.seconds, 1),
            "summary": {"languages": {lang: s.to_dict() for lang, s in self.languages.items()},
                        "all": self.total.to_dict()},
            "wrong_language": numbered(self.wrong_language()),
            "unexpected_abstentions": numbered(self.unexpected_abstentions()),
            "should_have_abstained": numbered(self.should_have_abstained()),
            "unanswered": numbered(self.unanswered()),
            "failed": numbered(self.failed()),
            "check_failed": numbered(self.check_failed()),
            "questions": [r.to_dict() for r in self.results],
        }


# --- the questions file ------------------------------------------------------------------------

def load_questions(path: Path, languages: list[str]) -> list[Question]:
    """The questions of a questions file (YAML, or JSON Lines: one entry per line, `.jsonl`);
    raises QuestionsError naming the entry and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise QuestionsError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionsError(path, f"cannot be read: {exc}") from None
    if Path(path).suffix.lower() == ".jsonl":
        entries = _json_lines(path, text)
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise QuestionsError(path, f"not valid YAML: {exc}") from None
        entries = data.get("questions") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise QuestionsError(path, "expected a list of entries under `questions:`, each with "
                                   "question, expect and optionally language")
    if not entries:
        raise QuestionsError(path, "there are no questions under `questions:`")
    return [_question(path, number, entry, languages)
            for number, entry in enumerate(entries, start=1)]


def _json_lines(path: Path, text: str) -> list:
    """The entries of a JSON Lines questions file; `lang` is taken for `language`, as
    translation exports often name it."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionsError(path, f"line {number}: not valid JSON: {exc.msg}") from None
        if isinstance(entry, dict) and "lang" in entry and "language" not in entry:
            entry["language"] = entry.pop("lang")
        entries.append(entry)
    return entries


def joined(files: list[list[Question]]) -> list[Question]:
    """The questions of several files as one list, numbered on from one file to the next."""
    questions: list[Question] = []
    for entries in files:
        questions += [replace(q, number=len(questions) + q.number) for q in entries]
    return questions


def _question(path: Path, number: int, entry: object, languages: list[str]) -> Question:
    def fail(problem: str) -> QuestionsError:
        return QuestionsError(path, f"entry {number}: {problem}")

    if isinstance(entry, str):
        raise fail(f"{entry[:40]!r} is not a mapping; write `- question: ...` and `expect: ...`")
    if not isinstance(entry, dict):
        raise fail("not a mapping with question, expect and language")
    unknown = [str(k) for k in entry if k not in KEYS]
    if unknown:
        # A misspelt `expect` would silently turn the question into one that should abstain.
        raise fail(f"unknown key {unknown[0]!r} (the keys are {', '.join(KEYS)})")
    text = entry.get("question")
    if not isinstance(text, str) or not text.strip():
        raise fail("has no question")
    language = entry.get("language")
    if language is not None:
        if not isinstance(language, str) or language.lower() not in languages:
            raise fail(f"language {language!r} is not one of the configured languages "
                       f"({', '.join(languages)})")
        language = language.lower()
    raw = entry.get("expect")
    items = raw if isinstance(raw, list) else [] if raw is None else [raw]
    if isinstance(raw, list) and not raw:
        raise fail("expect is an empty list; leave it out (or null) when the knowledge should "
                   "not answer the question")
    expect = tuple(_expected(item, fail) for item in items)
    facts = entry.get("must_contain")
    facts = [facts] if isinstance(facts, (str, int, float)) else facts or []
    if not isinstance(facts, list) or not all(isinstance(f, (str, int, float)) for f in facts):
        raise fail("must_contain must be a fact or a list of facts, as the answer should "
                   "write them (\"2 ans\")")
    return Question(number, text.strip(), expect, language,
                    tuple(str(f).strip() for f in facts if str(f).strip()))


def _expected(item: object, fail: Callable[[str], QuestionsError]) -> Expected:
    if isinstance(item, str):
        file, _, heading = item.partition("›" if "›" in item else " > ")
    elif isinstance(item, dict):
        unknown = [str(k) for k in item if k not in ("file", "heading")]
        if unknown:
            raise fail(f"expect: unknown key {unknown[0]!r} (a file and optionally a heading)")
        file, heading = item.get("file"), item.get("heading")
        if not isinstance(file, str):
            raise fail("expect: a mapping needs a file")
        if heading is not None and not isinstance(heading, str):
            raise fail("expect: the heading must be text")
    else:
        raise fail("expect must be a file, `file › heading`, a mapping with file and heading, "
                   "or a list of those")
    file = file.strip().replace("\\", "/").removeprefix("./")
    heading = (heading or "").strip() or None
    if not file:
        raise fail("expect: the file is empty")
    return Expected(file, heading)


def check_expectations(path: Path, questions: list[Question], knowledge: KnowledgeBase
                       ) -> None:
    """Raise QuestionsError for an expected file or heading that is not in the knowledge: a
    misspelt one would only ever count as a miss."""
    headings = {file: {_fold(h) for h in found} for file, found in knowledge.headings().items()}
    for question in questions:
        for expected in question.expect:
            if expected.file not in headings:
                raise QuestionsError(path, f"entry {question.number}: expect: "
                                           f"{expected.file} is not a file in the knowledge "
                                           f"folder {knowledge.folder} (paths are relative "
                                           "to it, e.g. en/account.md)")
            if expected.heading and _fold(expected.heading) not in headings[expected.file]:
                raise QuestionsError(path, f"entry {question.number}: expect: "
                                           f"{expected.file} has no heading "
                                           f"{expected.heading!r}")


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _fact(text: str) -> str:
    """A fact as compared: case, spacing and the script of digits left aside."""
    return _fold(ascii_digits(text).replace("\u00a0", " "))


# --- running the questions ---------------------------------------------------------------------

class RetrievalOnly:
    """An engine for a core that only retrieves (`babeldesk eval --no-answers`): no model is
    loaded, and nothing may be generated."""

    n_ctx = 4096

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def generate(self, messages, max_tokens, temperature, stop, conversation=None
                 ) -> Iterator[str]:
        raise ModelError("no model loaded: only retrieval is evaluated")


def run(pipeline: Pipeline, questions: list[Question], answers: bool = True,
        progress: Callable[[int, int], None] | None = None) -> Evaluation:
    """Put every question to the bot, each in a new conversation, and collect the results.
    `progress(done, total)` is called after each question."""
    return asyncio.run(evaluate(pipeline, questions, answers, progress))


async def evaluate(pipeline: Pipeline, questions: list[Question], answers: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> Evaluation:
    started = time.monotonic()
    results = []
    if progress:
        progress(0, len(questions))
    for done, question in enumerate(questions, start=1):
        results.append(await _ask(pipeline, question, answers))
        if progress:
            progress(done, len(questions))
    evaluation = Evaluation(results, answers, time.monotonic() - started)
    log.info("evaluated %d questions in %.1f s", len(questions), evaluation.seconds)
    return evaluation


async def _ask(pipeline: Pipeline, question: Question, answers: bool) -> Result:
    started = time.monotonic()
    channel = f"eval-{uuid.uuid4().hex}"
    message = Message(platform=PLATFORM, workspace="local", channel=channel, thread="",
                      author="eval", text=question.text, is_direct=True,
                      id=f"question {question.number}")
    # What the pipeline does before retrieving, in a new conversation.
    text = normalise_message(question.text)[:pipeline.config.prompt.max_message_chars]
    detected = pipeline.detect_language(text).language
    hits = (await asyncio.to_thread(pipeline._retrieve, message, text, detected))[:TOP]
    rank = next((i for i, hit in enumerate(hits, start=1)
                 if any(e.matches(hit) for e in question.expect)), None)
    result = Result(question, question.language or detected, detected,
                    [(h.passage.path, h.passage.heading, h.relevance) for h in hits], rank,
                    abstained=not hits)
    if answers:
        try:
            answer = await pipeline.answer(message)
        finally:
            # The evaluation's conversations are not kept in the history.
            await asyncio.to_thread(pipeline.history.forget, platform=PLATFORM, channel=channel)
        result.answer, result.kind = answer.text, answer.kind
        result.abstained = answer.abstained
        result.sources = [s.label for s in answer.sources]
        result.answer_language = pipeline.answer_language(answer)
        result.origin, result.check = answer.origin, answer.check
        if answer.kind == "answer":
            passages = "\n".join(h.passage.text for h in hits) + "\n" + question.text
            result.foreign_numbers = sorted(numbers(answer.text) - numbers(passages))
            result.missing = [f for f in question.must_contain
                              if _fact(f) not in _fact(answer.text)]
    result.seconds = time.monotonic() - started
    log.debug("question %d: rank %s, abstained %s, kind %s", question.number, rank,
              result.abstained, result.kind)
    return result
