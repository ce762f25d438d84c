"""Follow-ups with and without the model's saved states (model.cache_mb).

    .venv/bin/python bench/prefix_cache.py [--model FILE.gguf] [--turns 10] [--conversations 8]
                                           [--json results.json]

a. one conversation of `turns` questions, with the cache and without it: per turn, the prompt
   tokens the model read and the time to first token;
b. `conversations` conversations interleaved round robin, with the cache.
Targets, at the last turn: tokens read ≤ 1.3 × the turn's new tokens (what the prompt has
that the previous prompt had not: the previous answer and the new question with its passages),
and time to first token ≤ 1.5 × the first turn's. Runs the whole pipeline (retrieval, prompt,
history in a temporary SQLite) on the sample knowledge with the embedded model unless --model
names another GGUF.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import ROOT, table

from bot.config import make_config
from bot.core import open_core
from bot.engine import GenerationStats, LlamaEngine
from bot.message import Message
from bot.models import assemble_embedded

QUESTIONS = [
    "How do I reset my password?",
    "Why is my account locked?",
    "Which payment methods do you accept?",
    "How do I get a refund?",
    "How do I cancel Kettlebird Plus?",
    "How long does delivery take?",
    "Can I change my delivery address?",
    "My kettle won't connect to Wi-Fi, what can I do?",
    "What does the blinking red light mean?",
    "How long is the warranty?",
]


def config(data_dir: Path, n_ctx: int):
    return make_config({
        "data_dir": str(data_dir), "knowledge": {"path": str(ROOT / "knowledge"), "watch": False},
        "model": {"n_ctx": n_ctx, "max_tokens": 120, "temperature": 0.0},
        # Every turn of the benchmark's conversations fits: nothing leaves the window.
        "prompt": {"history_tokens": n_ctx - 2048},
    }, data_dir)


async def run(engine: LlamaEngine, conversations: int, turns: int, n_ctx: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(config(Path(tmp), n_ctx), engine=engine, watch=False)
        try:
            for turn in range(turns):
                for c in range(conversations):
                    text = QUESTIONS[(turn + c) % len(QUESTIONS)]
                    message = Message("bench", "local", f"conversation-{c}", "", "bench", text)
                    engine.last = GenerationStats()  # an abstention generates nothing
                    started = time.perf_counter()
                    first = []
                    answer = await core.pipeline.answer(
                        message, lambda chunk: first or first.append(time.perf_counter()))
                    stats = engine.last
                    rows.append({
                        "conversation": c, "turn": turn + 1, "kind": answer.kind,
                        "prompt_tokens": stats.prompt_tokens, "new_tokens": stats.new_tokens,
                        "evaluated": stats.evaluated, "reused_from": stats.reused_from,
                        "ttft": (first[0] if first else time.perf_counter()) - started,
                        "model_ttft": stats.first_token_seconds,
                        "answer": answer.text})
        finally:
            core.close()
    return rows


def check(rows: list[dict], turns: int) -> dict:
    """Targets at the last turn, over every conversation."""
    first = [r for r in rows if r["turn"] == 1]
    last = [r for r in rows if r["turn"] == turns]
    ratio_tokens = max(r["evaluated"] / max(r["new_tokens"], 1) for r in last)
    ratio_ttft = statistics.median(r["ttft"] for r in last) / statistics.median(
        r["ttft"] for r in first)
    return {"tokens_read_over_new": round(ratio_tokens, 3),
            "tokens_target_met": ratio_tokens <= 1.3,
            "ttft_last_over_first": round(ratio_ttft, 3),
            "ttft_target_met": ratio_ttft <= 1.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the embedded model)")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--json", type=Path, default=ROOT / "data" / "bench" / "prefix_cache.json")
    args = parser.parse_args()
    model = args.model or assemble_embedded(ROOT / "data" / "models")
    results = {"model": str(model), "turns": args.turns, "n_ctx": args.n_ctx}

    with_cache = LlamaEngine(model, n_ctx=args.n_ctx, cache_mb=2048)
    without = LlamaEngine(model, n_ctx=args.n_ctx, cache_mb=0)
    cached = asyncio.run(run(with_cache, 1, args.turns, args.n_ctx))
    plain = asyncio.run(run(without, 1, args.turns, args.n_ctx))
    print(f"a. one conversation, {args.turns} turns ({model.name}, n_ctx {args.n_ctx})\n")
    print(table(["turn", "prompt", "new", "read (cache)", "read (none)", "ttft s (cache)",
                 "ttft s (none)", "same answer"],
                [[c["turn"], c["prompt_tokens"], c["new_tokens"], c["evaluated"],
                  p["evaluated"], c["ttft"], p["ttft"], c["answer"] == p["answer"]]
                 for c, p in zip(cached, plain)]))
    results["a"] = {"cache": cached, "no_cache": plain, "targets": check(cached, args.turns),
                    "same_answers": all(c["answer"] == p["answer"]
                                        for c, p in zip(cached, plain))}
    print(f"\ntargets: {results['a']['targets']}, same answers: {results['a']['same_answers']}")
    del without

    interleaved = asyncio.run(run(LlamaEngine(model, n_ctx=args.n_ctx, cache_mb=2048),
                                  args.conversations, args.turns, args.n_ctx))
    print(f"\nb. {args.conversations} conversations interleaved round robin, with the cache\n")
    rows = []
    for turn in range(1, args.turns + 1):
        these = [r for r in interleaved if r["turn"] == turn]
        rows.append([turn, statistics.median(r["prompt_tokens"] for r in these),
                     statistics.median(r["new_tokens"] for r in these),
                     statistics.median(r["evaluated"] for r in these),
                     max(r["evaluated"] / max(r["new_tokens"], 1) for r in these),
                     statistics.median(r["ttft"] for r in these),
                     max(r["ttft"] for r in these),
                     ",".join(sorted({r["reused_from"] for r in these}))])
    print(table(["turn", "prompt (median)", "new", "read", "read/new (max)", "ttft s (median)",
                 "ttft s (max)", "reused from"], rows))
    results["b"] = {"rows": interleaved, "targets": check(interleaved, args.turns)}
    print(f"\ntargets: {results['b']['targets']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
