"""Fine-tuning data from the conversations babeldesk answered well.

Each exported answer is one example, exactly as the model saw it: the system prompt, the
conversation's earlier turns (as later prompts repeat them), the question with its passages,
and the answer. Answers that should not teach the model are left out, each for a reason
counted in the `Export` report: declined, thumbed down, handed off, not written by the model
(canned texts, quotes, refusals, errors), over length, and, with `min_feedback="up"`, without
a 👍. E-mail addresses and phone numbers are masked (bot/privacy.py). Every line is checked
against its format's JSON Schema before it is written.

Formats: `openai` (OpenAI's chat fine-tuning, also what most LoRA trainers read as
"messages"), `mistral` (Mistral's fine-tuning API: the same messages, the answer last), and
`sharegpt` (`conversations` of `from`/`value`, read by Axolotl, LLaMA-Factory and Unsloth).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import jsonschema

from .history import History
from .privacy import mask_personal

log = logging.getLogger(__name__)

FORMATS = ("openai", "mistral", "sharegpt")
#: an example longer than this many characters (about 4,000 tokens) is left out
MAX_CHARS = 16000

_MESSAGE = {"type": "object", "required": ["role", "content"], "additionalProperties": False,
            "properties": {"role": {"enum": ["system", "user", "assistant"]},
                           "content": {"type": "string", "minLength": 1}}}
#: what each format's lines must be
SCHEMAS = {
    "openai": {
        "type": "object", "required": ["messages"], "additionalProperties": False,
        "properties": {"messages": {"type": "array", "minItems": 2, "items": _MESSAGE}}},
    "mistral": {
        "type": "object", "required": ["messages"], "additionalProperties": False,
        "properties": {"messages": {
            "type": "array", "minItems": 2, "items": _MESSAGE,
            # Mistral's fine-tuning API trains on the last assistant message: it must end so.
            "contains": {"properties": {"role": {"const": "assistant"}}}}}},
    "sharegpt": {
        "type": "object", "required": ["conversations"], "additionalProperties": False,
        "properties": {"conversations": {"type": "array", "minItems": 2, "items": {
            "type": "object", "required": ["from", "value"], "additionalProperties": False,
            "properties": {"from": {"enum": ["system", "human", "gpt"]},
                           "value": {"type": "string", "minLength": 1}}}}}},
}
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}

#: why an answer was left out, in the order they are checked
REASONS = ("declined", "not written by the model", "handed off", "thumbed down",
           "no thumbs up", "over length")


@dataclass
class Export:
    """What was exported, and why the rest was not."""

    written: int = 0
    left_out: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        total = self.written + sum(self.left_out.values())
        lines = [f"{self.written} of {total} answers exported"
                 + (f" ({', '.join(f'{n} {lang}' for lang, n in self.languages.most_common())})"
                    if self.languages else "")]
        lines += [f"  left out, {reason}: {self.left_out[reason]}" for reason in REASONS
                  if self.left_out[reason]]
        return "\n".join(lines)


def as_format(messages: list[dict], fmt: str) -> dict:
    if fmt == "sharegpt":
        return {"conversations": [{"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]}
                                  for m in messages]}
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}


def export_training(history: History, out: Path, fmt: str, since: float = 0.0,
                    min_feedback: str = "", max_chars: int = MAX_CHARS) -> Export:
    """Write the examples to `out` (JSON Lines) and say what was written and left out."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    validator = jsonschema.Draft202012Validator(SCHEMAS[fmt])
    report = Export()
    partial = out.with_name(out.name + ".partial")
    with partial.open("w", encoding="utf-8") as sink:
        for answer, reason, messages in examples(history, since, min_feedback, max_chars):
            if reason:
                report.left_out[reason] += 1
                continue
            line = as_format(messages, fmt)
            validator.validate(line)
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            report.written += 1
            report.languages[answer["language"] or "?"] += 1
    partial.replace(out)
    log.info("export-training: %s", report.summary().replace("\n", "; "))
    return report


def examples(history: History, since: float, min_feedback: str, max_chars: int
             ) -> Iterator[tuple[dict, str, list[dict]]]:
    """Each answer since `since`, oldest first: (the answer's row, why it is left out or "",
    the example's messages)."""
    db = history.db
    handed_off = {row[0] for row in db.execute("SELECT conversation_id FROM handoffs")}
    feedback: dict[int, list[int]] = {}
    for turn_id, value in db.execute("SELECT turn_id, value FROM feedback"):
        feedback.setdefault(turn_id, []).append(value)
    rows = db.execute(
        "SELECT id, conversation_id, text, language, abstained, kind, system, context "
        "FROM turns WHERE role = 'assistant' AND created >= ? ORDER BY id", [since])
    columns = ("id", "conversation_id", "text", "language", "abstained", "kind", "system",
               "context")
    for row in rows.fetchall():
        answer = dict(zip(columns, row))
        votes = feedback.get(answer["id"], [])
        reason = ""
        if answer["abstained"] or answer["kind"] == "abstained":
            reason = "declined"
        elif not answer["context"] or answer["kind"] not in (None, "answer"):
            reason = "not written by the model"
        elif answer["conversation_id"] in handed_off:
            reason = "handed off"
        elif any(v < 0 for v in votes):
            reason = "thumbed down"
        elif min_feedback == "up" and not any(v > 0 for v in votes):
            reason = "no thumbs up"
        messages: list[dict] = []
        if not reason:
            messages = [{"role": "system", "content": answer["system"]},
                        *_earlier(db, answer["conversation_id"], answer["id"]),
                        {"role": "user", "content": answer["context"]},
                        {"role": "assistant", "content": answer["text"]}]
            messages = [{"role": m["role"], "content": mask_personal(m["content"])}
                        for m in messages if m["content"]]
            while sum(len(m["content"]) for m in messages) > max_chars and len(messages) > 3:
                # The oldest earlier turn goes first, and the earlier turns start with a
                # question again; the last question and its answer always stay.
                del messages[1]
                while len(messages) > 3 and messages[1]["role"] != "user":
                    del messages[1]
            if sum(len(m["content"]) for m in messages) > max_chars:
                reason = "over length"
        yield answer, reason, messages


def _earlier(db, conversation_id: str, answer_id: int) -> list[dict]:
    """The conversation's turns before the answer's question, as later prompts repeat them."""
    rows = db.execute(
        "SELECT role, text, prompt FROM turns WHERE conversation_id = ? AND id < ? "
        "ORDER BY id", [conversation_id, answer_id]).fetchall()
    turns = [{"role": role, "content": prompt or text} for role, text, prompt in rows]
    return turns[:-1]  # the last is the answer's own question, given with its passages

