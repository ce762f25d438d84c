"""Does the best passage make the customer's question likelier? The embedded model as a
relevance judge by query likelihood, against the gate's own relevance, on three data sets.

    .venv/bin/python bench/query_likelihood.py [--sets sample,fdroid,xquad] [--per 60]
        [--threads 2] [--json out.json]

For `--per` answerable and `--per` off-topic questions of each data set (drawn at random,
seed 7; the sets of bench/retrieval_quality.py), the first passage of the ranking (gate off)
is shown to the model as a help article, and the model's log-probability of the question's
tokens is read twice: after "Help article: … Write a question a customer might ask that this
article answers." and after "Write a question a customer might ask." The mean difference per
token (pointwise mutual information) is the judge's score: a passage that answers the
question should make its words likelier, in any language the model reads. Unlike a yes/no
answer (docs/performance.md, "A gate that generalises", 2), it needs no instruction the 0.5B
model follows, only its next-token probabilities.

Prints, per data set, what the gate does today with these questions, the area under the ROC curve (answerable against off-topic) of the
gate's relevance, of the judge's score and of the two combined by rank, and the error of
the judge's threshold chosen on the other two data sets.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, table
from llama_cpp import Llama
from retrieval_quality import fdroid_set, open_core, sample_set, xquad_set

from bot.models import assemble_embedded

SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
ASK = "Write a question a customer might ask"
#: characters of the passage shown (about 300 tokens): the judge reads it before every answer
SHOWN = 1200


def prompt(passage=None) -> str:
    """The model's prompt before the question, in Qwen's chat template."""
    if passage is None:
        return f"{SYSTEM}{ASK}.<|im_end|>\n<|im_start|>assistant\n"
    head = f"# {passage.title} › {passage.heading}" if passage.heading else f"# {passage.title}"
    return (f"{SYSTEM}Help article:\n{head}\n{passage.text[:SHOWN]}\n\n{ASK} that this article "
            "answers.<|im_end|>\n<|im_start|>assistant\n")


def question_logprobs(llm: Llama, before: str, question: str) -> np.ndarray:
    """The log-probability of each of the question's tokens after `before`."""
    context = llm.tokenize(before.encode(), add_bos=False, special=True)
    asked = llm.tokenize((question.strip() + "<|im_end|>").encode(), add_bos=False,
                         special=True)
    tokens = (context + asked)[-llm.n_ctx():]
    start = len(tokens) - len(asked)
    llm.reset()
    # Logits of the context are not needed: only the question's rows are kept.
    llm._logits_all = False
    llm.eval(tokens[:start - 1])
    llm._logits_all = True
    llm.eval(tokens[start - 1:])
    rows = np.asarray(llm.scores[start - 1:len(tokens) - 1], dtype=np.float64)
    rows -= rows.max(axis=1, keepdims=True)
    return rows[np.arange(len(asked)), asked] - np.log(np.exp(rows).sum(axis=1))


def auc(positive: list[float], negative: list[float]) -> float:
    if not positive or not negative:
        return float("nan")
    p, n = np.array(positive)[:, None], np.array(negative)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def judge(name: str, maker, llm: Llama, per: int) -> list[dict]:
    knowledge, answerable, offtopic = maker()
    draw = random.Random(7)
    picked = ([("answerable", q) for q in draw.sample(answerable, min(per, len(answerable)))]
              + [("offtopic", q) for q in draw.sample(offtopic, min(per, len(offtopic)))])
    core = open_core(name, knowledge, gate=False)
    gate = core.pipeline.config.retrieval.min_relevance or 0.3
    baseline_prompt, rows, started = prompt(), [], time.monotonic()
    try:
        for kind, q in picked:
            hits = core.knowledge.search(q.text, q.language, 3, 0.0)
            if not hits:
                rows.append({"kind": kind, "language": q.language, "relevance": 0.0,
                             "score": -99.0, "passed": False})
                continue
            alone = question_logprobs(llm, baseline_prompt, q.text)
            shown = question_logprobs(llm, prompt(hits[0].passage), q.text)
            rows.append({"kind": kind, "language": q.language, "relevance": hits[0].relevance,
                         "passed": max(h.relevance for h in hits) >= gate,
                         "score": float((shown - alone).mean())})
    finally:
        core.close()
    print(f"{name}: {len(rows)} questions, {(time.monotonic() - started) / len(rows):.1f} s "
          "each", file=sys.stderr)
    return rows


def errors(rows: list[dict], threshold: float) -> tuple[float, float]:
    """(answerable declined, off-topic answered) with the judge's score ≥ threshold."""
    answerable = [r for r in rows if r["kind"] == "answerable"]
    offtopic = [r for r in rows if r["kind"] == "offtopic"]
    return (sum(r["score"] < threshold for r in answerable) / len(answerable),
            sum(r["score"] >= threshold for r in offtopic) / len(offtopic))


def summarise(results: dict[str, list[dict]]) -> str:
    lines = []
    for name, rows in results.items():
        answerable = [r for r in rows if r["kind"] == "answerable"]
        offtopic = [r for r in rows if r["kind"] == "offtopic"]
        ranks = {key: np.array([r[key] for r in rows]).argsort().argsort()
                 for key in ("relevance", "score")}
        combined = list(ranks["relevance"] + ranks["score"])
        flags = [r["kind"] == "answerable" for r in rows]
        others = [r for other, more in results.items() if other != name for r in more]
        held = "-"
        if others:
            candidates = sorted({round(r["score"], 3) for r in others})
            threshold = min(candidates, key=lambda t: max(
                max(errors(more, t)) for other, more in results.items() if other != name))
            held = "%.2f / %.2f at %.3f" % (*errors(rows, threshold), threshold)
        today = "%.2f / %.2f" % (sum(not r["passed"] for r in answerable) / len(answerable),
                                 sum(r["passed"] for r in offtopic) / len(offtopic))
        lines.append([name, len(answerable), len(offtopic), today,
                      auc([r["relevance"] for r in answerable], [r["relevance"] for r in offtopic]),
                      auc([r["score"] for r in answerable], [r["score"] for r in offtopic]),
                      auc([c for c, f in zip(combined, flags) if f],
                          [c for c, f in zip(combined, flags) if not f]),
                      held])
    return table(["data set", "answerable", "off-topic", "gate today: declined / answered",
                  "AUC relevance", "AUC judge",
                  "AUC both", "judge's threshold from the others: declined / answered"], lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="sample,fdroid,xquad")
    parser.add_argument("--per", type=int, default=60,
                        help="answerable and off-topic questions drawn from each data set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    makers = {"sample": sample_set, "fdroid": fdroid_set, "xquad": lambda: xquad_set(30)}
    llm = Llama(model_path=str(assemble_embedded(ROOT / "data" / "models")), n_ctx=2048,
                n_threads=args.threads, logits_all=True, verbose=False)
    results = {name: judge(name, makers[name], llm, args.per) for name in args.sets.split(",")}
    print(summarise(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
