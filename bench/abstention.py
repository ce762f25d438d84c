"""Does babeldesk answer what its knowledge covers, in any language, and decline the rest?

    .venv/bin/python bench/abstention.py [--json out.json] [--embedding FILE.gguf
        --query-prefix P --passage-prefix P --relevance-floor F --relevance-span S]

Two question files written for the sample knowledge (bench/questions): 90 questions in 15
languages that the English articles answer (crosslingual.yaml) and 100 in 20 languages they
do not (unanswerable.yaml: toasters, wattage, weather, another company's password). Each is
put through `babeldesk eval --no-answers` (the pipeline's own retrieval and its relevance
threshold) twice: against the English articles alone, the case of a support team that writes
in English for customers who do not, and against the whole sample knowledge (English, German,
Spanish, French, Japanese), where a Portuguese question may rightly find the Spanish article:
there "found" counts the English section only, so it is a lower bound.

Found: the expected section is among the three passages above the threshold. Declined: no
passage is above it, so the bot says it doesn't know instead of guessing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from common import ROOT, table

from bot.cli import _open
from bot.config import Config, load_config
from bot.evaluate import RetrievalOnly, evaluate, load_questions

QUESTIONS = ROOT / "bench" / "questions"


def measure(knowledge: Path, work: Path, embedding: dict | None = None) -> dict:
    config_path = work / "config.yaml"
    # The default languages and the four more these questions are written in.
    languages = list(Config().languages) + ["el", "ro", "sv", "th"]
    config_path.write_text(yaml.safe_dump({"data_dir": str(work / "data"),
                                           "knowledge": {"path": str(knowledge)},
                                           "languages": languages,
                                           "retrieval": {"embedding": embedding or {}}}))
    config = load_config(config_path)
    core = _open(config, watch=False, engine=RetrievalOnly())
    out = {}
    try:
        for name in ("crosslingual", "unanswerable"):
            questions = load_questions(QUESTIONS / f"{name}.yaml", config.languages)
            evaluation = asyncio.run(evaluate(core.pipeline, questions, answers=False))
            results = evaluation.results
            if name == "crosslingual":
                # (the pipeline retrieves only passages above the threshold)
                out["found"] = sum(r.hit3 for r in results)
                out["found_first"] = sum(r.hit1 for r in results)
                out["questions"] = len(results)
                out["per_language"] = {
                    lang: sum(r.hit3 for r in results if r.question.language == lang)
                    for lang in sorted({r.question.language for r in results})}
            else:
                out["declined"] = sum(r.abstained for r in results)
                out["unanswerable"] = len(results)
                out["answered_from"] = [[r.question.text, r.retrieved[0][1] if r.retrieved
                                         else None] for r in results if not r.abstained]
    finally:
        core.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--embedding", type=Path, metavar="FILE.gguf",
                        help="a GGUF embedding model instead of multilingual-e5-small")
    parser.add_argument("--query-prefix", default="query: ")
    parser.add_argument("--passage-prefix", default="passage: ")
    parser.add_argument("--relevance-floor", type=float,
                        help="retrieval.embedding.relevance_floor for that model")
    parser.add_argument("--relevance-span", type=float,
                        help="retrieval.embedding.relevance_span for that model")
    args = parser.parse_args()
    embedding = {}
    if args.embedding:
        embedding = {"source": "path", "path": str(args.embedding.resolve()),
                     "query_prefix": args.query_prefix, "passage_prefix": args.passage_prefix}
    for key in ("relevance_floor", "relevance_span"):
        if getattr(args, key) is not None:
            embedding[key] = getattr(args, key)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        english = Path(tmp) / "english"
        shutil.copytree(ROOT / "knowledge" / "en", english / "en")
        for name, folder in (("English articles", english),
                             ("all sample articles", ROOT / "knowledge")):
            work = Path(tmp) / name.replace(" ", "-")
            work.mkdir()
            results[name] = measure(folder, work, embedding)
            print(f"  {name} done", file=sys.stderr)
    rows = [[name, f"{r['found']}/{r['questions']}", f"{r['found_first']}/{r['questions']}",
             f"{r['declined']}/{r['unanswerable']}"] for name, r in results.items()]
    print("Sample knowledge: answerable questions in 15 languages, unanswerable ones in 20\n")
    print(table(["knowledge", "found in top 3", "found first", "declined"], rows))
    per = results["English articles"]["per_language"]
    print("\nfound per language (English articles, 6 each): "
          + ", ".join(f"{k} {v}" for k, v in per.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
