"""The pipeline's own cost, a burst of messages, and start-up time.

    .venv/bin/python bench/throughput.py [--model FILE.gguf] [--json results.json]

c. the whole pipeline (language, retrieval, prompt, history in SQLite) against raw
   llama-cpp-python generating the same prompt and the same number of tokens — target ≤ 1.05×;
e. 50 messages arriving at once from 20 conversations: every one answered, in fair order (no
   conversation's second message before every conversation's first), none lost; peak RSS;
f. start-up: `babeldesk run` until its HTTP adapter answers, with a new data directory (index
   built, model assembled) and again with the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, table

from bot.config import make_config
from bot.core import open_core
from bot.engine import LlamaEngine
from bot.message import Message
from bot.models import assemble_embedded

QUESTIONS = ["How do I reset my password?", "¿Cuánto tarda el envío?",
             "Wie kann ich eine Rückerstattung beantragen?",
             "Le voyant clignote en rouge, que faire ?", "How long is the warranty?"]
N_CTX = 4096


def bench_config(data_dir: Path, max_tokens: int, model: Path):
    return make_config({"data_dir": str(data_dir),
                        "knowledge": {"path": str(ROOT / "knowledge"), "watch": False},
                        "model": {"source": "path", "path": str(model), "n_ctx": N_CTX,
                                  "max_tokens": max_tokens, "temperature": 0.0}}, data_dir)


def overhead(model: Path, repeats: int = 3) -> dict:
    """c: pipeline time against raw llama-cpp-python on the same prompt and token count."""
    from llama_cpp import Llama

    engine = LlamaEngine(model, n_ctx=N_CTX, cache_mb=0)
    raw = Llama(model_path=str(model), n_ctx=N_CTX, n_threads=os.cpu_count(), verbose=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(bench_config(Path(tmp), 96, model), engine=engine, watch=False)
        try:
            for i, question in enumerate(QUESTIONS * repeats):
                message = Message("bench", "local", f"c-{i}", "", "bench", question)
                language = core.pipeline.detector.detect(question, None).language
                hits = core.pipeline._retrieve(message, question, language)
                messages = core.pipeline.build_prompt(message, question, language, hits)
                started = time.perf_counter()
                answer = asyncio.run(core.pipeline.answer(message))
                pipeline_s = time.perf_counter() - started
                generated = engine.last.generated
                raw.reset()
                started = time.perf_counter()
                out = raw.create_chat_completion(messages=messages, max_tokens=generated,
                                                 temperature=0.0)
                raw_s = time.perf_counter() - started
                rows.append({"question": question, "kind": answer.kind,
                             "prompt_tokens": engine.last.prompt_tokens,
                             "generated": generated,
                             "raw_generated": out["usage"]["completion_tokens"],
                             "pipeline_s": pipeline_s, "raw_s": raw_s,
                             "ratio": pipeline_s / raw_s})
        finally:
            core.close()
    ratio = statistics.median(r["ratio"] for r in rows)
    return {"rows": rows, "median_ratio": round(ratio, 3), "target_met": ratio <= 1.05}


async def burst(core, conversations: int = 20, messages: int = 50) -> list[dict]:
    order: list[dict] = []
    started = time.perf_counter()

    async def one(conversation: int, index: int, text: str):
        # A conversation's messages arrive in order, like a person typing fast.
        message = Message("bench", "local", f"e-{conversation}", "", f"user-{conversation}",
                          text, id=f"{conversation}-{index}")
        answer = await core.pipeline.answer(message)
        order.append({"conversation": conversation, "index": index, "kind": answer.kind,
                      "seconds": time.perf_counter() - started})

    # All 50 handed to the pipeline at once, as adapters do when a burst arrives: the model's
    # queue takes the conversations in turn.
    await asyncio.gather(*(one(n % conversations, n // conversations,
                               QUESTIONS[n % len(QUESTIONS)]) for n in range(messages)))
    return order


def fairness(model: Path) -> dict:
    """e: 50 messages from 20 conversations at once."""
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(bench_config(Path(tmp), 48, model), watch=False)
        try:
            order = asyncio.run(burst(core))
        finally:
            core.close()
    firsts = [i for i, o in enumerate(order) if o["index"] == 0]
    seconds = [i for i, o in enumerate(order) if o["index"] == 1]
    fair = max(firsts) < min(seconds)
    answered = sum(o["kind"] in ("answer", "abstained") for o in order)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"messages": len(order), "answered": answered, "fair_order": fair,
            "all_answered": answered == 50, "total_s": order[-1]["seconds"],
            "first_answer_s": order[0]["seconds"], "peak_rss_mb": round(rss_mb),
            "order": order}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_up(model: Path | None) -> dict:
    """f: seconds from `babeldesk run` to its HTTP adapter answering, cold and warm."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = {"data_dir": str(Path(tmp) / "data"),
                  "knowledge": {"path": str(ROOT / "knowledge")},
                  "server": {"port": 0},
                  "adapters": {"slack": {"enabled": False}, "discord": {"enabled": False},
                               "http": {"enabled": True, "port": free_port()}}}
        if model:
            config["model"] = {"source": "path", "path": str(model)}
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        for run in ("cold", "warm"):
            started = time.perf_counter()
            process = subprocess.Popen([sys.executable, "-m", "bot.cli", "-c", str(path), "run"],
                                       cwd=ROOT, stderr=subprocess.PIPE, text=True)
            for line in process.stderr:
                if re.search(r"babeldesk: http: connected", line):
                    break
            results[f"{run}_s"] = time.perf_counter() - started
            process.terminate()
            process.wait(60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the embedded model)")
    parser.add_argument("--json", type=Path, default=ROOT / "data" / "bench" / "throughput.json")
    args = parser.parse_args()
    model = args.model or assemble_embedded(ROOT / "data" / "models")

    c = overhead(model)
    print("c. whole pipeline against raw llama-cpp-python, same prompt and token count\n")
    print(table(["question", "prompt", "tokens", "pipeline s", "raw s", "ratio"],
                [[r["question"][:28], r["prompt_tokens"], r["generated"], r["pipeline_s"],
                  r["raw_s"], r["ratio"]] for r in c["rows"]]))
    print(f"\nmedian ratio {c['median_ratio']} (target ≤ 1.05: "
          f"{'met' if c['target_met'] else 'not met'})\n")

    e = fairness(model)
    print("e. 50 messages from 20 conversations at once\n")
    print(table(["messages", "answered", "fair order", "first answer s", "all answered s",
                 "peak RSS MB"],
                [[e["messages"], e["answered"], e["fair_order"], e["first_answer_s"],
                  e["total_s"], e["peak_rss_mb"]]]))
    print(f"\nall answered: {'met' if e['all_answered'] else 'not met'}, fair order: "
          f"{'met' if e['fair_order'] else 'not met'}\n")

    f = start_up(args.model)
    print("f. start-up of babeldesk run until it answers\n")
    print(table(["data directory", "seconds"], [["new (index, model assembly)", f["cold_s"]],
                                                ["existing", f["warm_s"]]]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": str(model), "c": c, "e": e, "f": f}, indent=2,
                                    ensure_ascii=False))
    print(f"\nwritten {args.json}")


if __name__ == "__main__":
    main()
