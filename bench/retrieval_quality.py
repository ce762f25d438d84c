"""Answer or decline, on three kinds of knowledge: the same measurement, one table.

    .venv/bin/python bench/retrieval_quality.py [--sets sample,xquad,fdroid] [--xquad-per 30]
        [--gate off] [--json out.json] [--ablate]

For each data set, questions its knowledge answers (in many languages) and questions it does
not (bench/questions/offtopic-*.yaml: other companies' products, general knowledge, chit-chat,
near-topic questions no article covers) go through the pipeline's own retrieval and relevance
gate, as `babeldesk eval --no-answers` does. Per language:

- hit@3: the expected section is among the first three passages the gate lets through;
- declined: answerable questions for which the gate let nothing through ("I don't know");
- off-topic answered: off-topic questions for which it let something through;
- baseline hit@3: the plain baseline every addition is measured against: the three passages
  nearest the question by multilingual-e5-small's vectors alone (no gate).

The data sets:
- sample: the sample knowledge (5 languages), `questions.yaml` and the cross-lingual questions
  of bench/questions/crosslingual.yaml; off-topic: unanswerable.yaml + offtopic-sample.yaml;
- xquad: XQuAD's 240 English paragraphs, its questions in 12 languages (the first N of each);
  off-topic: offtopic-xquad.yaml;
- fdroid: F-Droid's English FAQ, its headings as asked in 9 languages by its translators;
  off-topic: offtopic-fdroid.yaml.

`--gate off` sets retrieval.min_relevance to 0: the ranking alone. `--ablate` measures each
addition to keyword + dense fusion by its absence instead (hit@3 with the gate off, declines
and off-topic answers with it on). Indexes and embeddings are
kept in data/bench/quality, so a second run embeds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path

import yaml
from common import DATA, ROOT, table

import contextlib
import dataclasses

from bot.knowledge import dense as dense_module
from bot.knowledge import search as search_module
from bot.cli import _open
from bot.config import Config, load_config
from bot.evaluate import Expected, Question, RetrievalOnly, evaluate, load_questions

QUESTIONS = ROOT / "bench" / "questions"
WORK = ROOT / "data" / "bench" / "quality"
LANGUAGES = list(Config().languages) + ["el", "ro", "sv", "th", "he"]
XQUAD_LANGUAGES = ["en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
#: the targets of the relevance gate, on every data set and language with 10 questions or more
MAX_DECLINED = 0.05
MAX_OFFTOPIC_ANSWERED = 0.05


def sample_set() -> tuple[Path, list[Question], list[Question]]:
    answerable = (load_questions(ROOT / "questions.yaml", LANGUAGES)
                  + load_questions(QUESTIONS / "crosslingual.yaml", LANGUAGES))
    offtopic = (load_questions(QUESTIONS / "unanswerable.yaml", LANGUAGES)
                + load_questions(QUESTIONS / "offtopic-sample.yaml", LANGUAGES))
    return ROOT / "knowledge", [q for q in answerable if q.expect], offtopic


def xquad_set(per_language: int) -> tuple[Path, list[Question], list[Question]]:
    """The English paragraphs as a knowledge folder (one file each), and each language's
    first questions, expecting their paragraph."""
    folder = WORK / "xquad-knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    english = json.loads((DATA / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))
    paragraphs = [p["context"].lstrip("\ufeff").strip()
                  for article in english["data"] for p in article["paragraphs"]]
    for i, text in enumerate(paragraphs):
        path = folder / f"p{i:03d}.en.txt"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    answerable = []
    for language in XQUAD_LANGUAGES:
        data = json.loads((DATA / "xquad" / f"xquad.{language}.json").read_text("utf-8"))
        index, taken = 0, 0
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                # One question per paragraph, so that N questions cover N paragraphs.
                if taken < per_language and paragraph["qas"]:
                    answerable.append(Question(len(answerable) + 1,
                                               paragraph["qas"][0]["question"].strip(),
                                               (Expected(f"p{index:03d}.en.txt"),), language))
                    taken += 1
                index += 1
    offtopic = load_questions(QUESTIONS / "offtopic-xquad.yaml", LANGUAGES)
    return folder, answerable, offtopic


def fdroid_set() -> tuple[Path, list[Question], list[Question]]:
    answerable = []
    for line in (DATA / "fdroid-faq" / "questions.jsonl").read_text("utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            file, _, heading = entry["expect"].partition(" › ")
            answerable.append(Question(len(answerable) + 1, entry["question"],
                                       (Expected(file, heading or None),), entry["lang"]))
    offtopic = load_questions(QUESTIONS / "offtopic-fdroid.yaml", LANGUAGES)
    return DATA / "fdroid-faq" / "knowledge", answerable, offtopic


#: each addition to keyword + dense fusion that earned its place (docs/performance.md, "Every
#: ranker earns its place"), and how to run without it (--ablate)
ADDITIONS = {
    "second model": ("kb", "second", None),
    "sentence vectors": ("kb", "by_sentence", False),
    "centring": (dense_module, "CENTRE_WEIGHT", 0.0),
    "Chinese dictionary": (search_module, "CHINESE_WEIGHT", 0.0),
}


def open_core(name: str, knowledge: Path, gate: bool):
    """A retrieval-only core on `knowledge`, its index kept in WORK / name; `gate` false sets
    retrieval.min_relevance to 0."""
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    settings = {"data_dir": str(work / "data"),
                "knowledge": {"path": str(knowledge), "watch": False},
                "languages": LANGUAGES}
    if not gate:
        settings["retrieval"] = {"min_relevance": 0.0}
    (work / "config.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return _open(load_config(work / "config.yaml"), watch=False, engine=RetrievalOnly())


@contextlib.contextmanager
def without(core, names: list[str]):
    """The core's search with the named additions switched off, for the block's duration."""
    saved = []
    for name in names:
        where, attr, value = ADDITIONS[name]
        target = core.knowledge if where == "kb" else where
        saved.append((target, attr, getattr(target, attr)))
        setattr(target, attr, value)
    try:
        yield
    finally:
        for target, attr, value in reversed(saved):
            setattr(target, attr, value)


def ablate(name: str, knowledge: Path, answerable: list[Question], offtopic: list[Question]
           ) -> list[list]:
    """hit@3 (gate off), declined and off-topic answered (gate on) with everything, without
    each addition alone, and without all of them."""
    core = open_core(name, knowledge, gate=True)
    gated = core.pipeline.config
    open_ = dataclasses.replace(gated, retrieval=dataclasses.replace(gated.retrieval,
                                                                     min_relevance=0.0))
    rows = []
    variants = [("everything", [])] + [(f"without {n}", [n]) for n in ADDITIONS] \
        + [("keyword + dense only", list(ADDITIONS))]
    try:
        for label, names in variants:
            with without(core, names):
                core.pipeline.config = open_
                ranked = asyncio.run(evaluate(core.pipeline, answerable, answers=False)).results
                core.pipeline.config = gated
                found = asyncio.run(evaluate(core.pipeline, answerable, answers=False)).results
                stray = asyncio.run(evaluate(core.pipeline, offtopic, answers=False)).results
            by_language = defaultdict(list)
            for r in ranked:
                by_language[r.question.language or r.detected].append(r.hit3)
            worst = min(((sum(v) / len(v), lang) for lang, v in by_language.items()
                         if len(v) >= 5), default=(0.0, "-"))
            rows.append([label, f"{sum(r.hit3 for r in ranked) / len(ranked):.3f}",
                         f"{worst[0]:.2f} {worst[1]}",
                         f"{sum(r.abstained for r in found) / len(found):.3f}",
                         f"{sum(not r.abstained for r in stray) / len(stray):.3f}"])
            print(name, rows[-1], file=sys.stderr, flush=True)
    finally:
        core.pipeline.config = gated
        core.close()
    return rows


def measure(name: str, knowledge: Path, answerable: list[Question], offtopic: list[Question],
            gate: bool) -> tuple[dict[str, dict], list[dict]]:
    """Per language: answerable, hit3, declined, offtopic, offtopic_answered; and per
    question its language, kind, rank and the relevance of the first passages (to study a
    gate: with the gate off, where would a threshold have to be?)."""
    core = open_core(name, knowledge, gate)
    try:
        found = asyncio.run(evaluate(core.pipeline, answerable, answers=False)).results
        stray = asyncio.run(evaluate(core.pipeline, offtopic, answers=False)).results
        # The plain baseline: the three passages nearest in meaning, nothing else.
        baseline = [any(e.matches(hit) for hit in core.knowledge.nearest_by_meaning(q.text, 3)
                        for e in q.expect) for q in answerable]
    finally:
        core.close()
    questions = [{"kind": kind, "language": r.question.language or r.detected,
                  "rank": r.rank, "relevance": [round(h[2], 4) for h in r.retrieved]}
                 for kind, results in (("answerable", found), ("offtopic", stray))
                 for r in results]
    rows: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for r, plain in zip(found, baseline):
        row = rows[r.question.language or r.detected]
        row["answerable"] += 1
        row["hit3"] += r.hit3
        row["baseline_hit3"] += plain
        row["declined"] += r.abstained
    for r in stray:
        row = rows[r.question.language or r.detected]
        row["offtopic"] += 1
        row["offtopic_answered"] += not r.abstained
    return {lang: dict(row) for lang, row in sorted(rows.items())}, questions


def share(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "-"


def report(name: str, rows: dict[str, dict]) -> str:
    lines, total = [], defaultdict(int)
    for lang, row in rows.items():
        for key, value in row.items():
            total[key] += value
        lines.append(_line(lang, row))
    lines.append(_line("all", total))
    return table(["language", "answerable", "hit@3", "baseline hit@3", "declined",
                  "off-topic", "answered", "targets"], lines)


def _line(lang: str, row: dict) -> list:
    answerable, offtopic = row.get("answerable", 0), row.get("offtopic", 0)
    declined = row.get("declined", 0) / answerable if answerable else 0.0
    answered = row.get("offtopic_answered", 0) / offtopic if offtopic else 0.0
    judged = [(answerable >= 10, declined <= MAX_DECLINED),
              (offtopic >= 10, answered <= MAX_OFFTOPIC_ANSWERED)]
    met = "-" if not any(big for big, _ in judged) else \
        "met" if all(ok for big, ok in judged if big) else "missed"
    return [lang, answerable, share(row.get("hit3", 0), answerable),
            share(row.get("baseline_hit3", 0), answerable),
            share(row.get("declined", 0), answerable), offtopic,
            share(row.get("offtopic_answered", 0), offtopic), met]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="sample,xquad,fdroid")
    parser.add_argument("--xquad-per", type=int, default=30,
                        help="XQuAD questions per language (one per paragraph)")
    parser.add_argument("--gate", choices=("on", "off"), default="on")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--ablate", action="store_true",
                        help="measure each addition to keyword + dense fusion by its absence")
    args = parser.parse_args()
    makers = {"sample": sample_set, "xquad": lambda: xquad_set(args.xquad_per),
              "fdroid": fdroid_set}
    results, details = {}, {}
    for name in args.sets.split(","):
        knowledge, answerable, offtopic = makers[name]()
        print(f"{name}: {len(answerable)} answerable, {len(offtopic)} off-topic questions",
              file=sys.stderr)
        if args.ablate:
            print(f"\n{name}\n\n" + table(["ranking", "hit@3 (gate off)", "worst language",
                                              "declined", "off-topic answered"],
                                             ablate(name, knowledge, answerable, offtopic)),
                  flush=True)
            continue
        results[name], details[name] = measure(name, knowledge, answerable, offtopic,
                                               args.gate == "on")
    for name, rows in results.items():
        print(f"\n{name} (gate {args.gate}; targets: declined ≤ {MAX_DECLINED:.0%}, off-topic "
              f"answered ≤ {MAX_OFFTOPIC_ANSWERED:.0%}, where a language has ≥ 10 questions)\n")
        print(report(name, rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"languages": results, "questions": details},
                                        indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
