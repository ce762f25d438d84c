"""What customers are sent, with the configured model: answers judged by the answer check.

    .venv/bin/python bench/answer_quality.py [--sets sample,fdroid] [--per-language 6]
                                             [--mode auto] [--threads 0] [--json OUT]

Asks answerable questions with full answers (the sample knowledge's own and cross-lingual
questions; F-Droid's FAQ headings as its translators wrote them, the first N per language) and
prints one table per data set:

- model failed: the model's own answer failed the check (restated, unsupported, fact, language:
  the first problem of each answer);
- sent: written by the model and checked, quoted from the article, or translated from it;
- declined: answerable questions that got "I don't know" (the relevance gate, or a quote that
  could not be made);
- wrong language: answers sent in another language than the question's;
- foreign numbers: answers sent with a number neither their passages nor the question give.

`--json` writes every question with its answer, for reading (bench/judgements/).
Indexes are kept in data/bench/quality, as retrieval_quality.py keeps them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections import Counter, defaultdict

import yaml
from common import ROOT, table
from retrieval_quality import LANGUAGES, WORK, fdroid_set, sample_set

from bot.cli import _open
from bot.config import load_config
from bot.core import load_engine
from bot.evaluate import evaluate
from bot.texts import TEXTS

KINDS = ("restated", "unsupported", "fact", "language")


def open_core(name: str, knowledge, mode: str, engine):
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    settings = {"data_dir": str(work / "data"),
                "knowledge": {"path": str(knowledge), "watch": False},
                "languages": LANGUAGES, "model": {"answer_mode": mode}}
    (work / "answers.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return _open(load_config(work / "answers.yaml"), watch=False, engine=engine)


def load_model(threads: int):
    """The configured model from the project's own data directory (no second copy)."""
    config = load_config(ROOT / "config.yaml")
    return load_engine(dataclasses.replace(
        config, model=dataclasses.replace(config.model, threads=threads)))


def first_per_language(questions, per_language: int):
    taken: Counter = Counter()
    out = []
    for question in questions:
        if taken[question.language] < per_language:
            taken[question.language] += 1
            out.append(question)
    return out


def rows_of(results) -> dict[str, dict]:
    rows: dict[str, dict] = defaultdict(Counter)
    for result in results:
        for key in (result.language, "all"):
            row = rows[key]
            row["questions"] += 1
            if result.check:
                row[result.check.split(":", 1)[0]] += 1
            if result.answered:
                row[result.origin] += 1
                row["wrong language"] += bool(result.wrong_language)
                row["foreign numbers"] += bool(result.foreign_numbers)
            elif result.abstained:
                row["declined"] += 1
    return rows


def report(name: str, rows: dict[str, dict]) -> str:
    headers = ["language", "questions", *(f"model failed: {k}" for k in KINDS),
               "sent: model", "quoted", "translated", "declined", "wrong language",
               "foreign numbers"]
    order = [k for k in rows if k != "all"] + ["all"]
    body = [[lang, rows[lang]["questions"], *(rows[lang][k] for k in KINDS),
             rows[lang]["model"], rows[lang]["quoted"], rows[lang]["translated"],
             rows[lang]["declined"], rows[lang]["wrong language"],
             rows[lang]["foreign numbers"]] for lang in order]
    return f"## {name}\n\n" + table(headers, body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", default="sample,fdroid")
    parser.add_argument("--per-language", type=int, default=6)
    parser.add_argument("--mode", default="auto", choices=("auto", "generate", "extract"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    sets = {"sample": sample_set, "fdroid": fdroid_set}
    out = {}
    engine = load_model(args.threads)
    for name in args.sets.split(","):
        knowledge, answerable, _ = sets[name]()
        # Czech and Persian have no shipped texts (as in the README's F-Droid command).
        answerable = [q for q in answerable if q.language in TEXTS]
        questions = answerable if name == "sample" else first_per_language(
            answerable, args.per_language)
        core = open_core(name, knowledge, args.mode, engine)
        try:
            evaluation = asyncio.run(evaluate(core.pipeline, questions, answers=True))
        finally:
            core.close()
        print(report(name, rows_of(evaluation.results)), flush=True)
        out[name] = [r.to_dict() for r in evaluation.results]
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
