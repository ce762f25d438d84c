"""How fast llama.cpp builds run the model on this machine: prompt and generation tokens/s.

    .venv/bin/python bench/build.py [--model FILE.gguf] [--python PY ...] [--json results.json]

Each `--python` is the interpreter of a venv with its own llama-cpp-python build (portable,
native, runtime CPU dispatch, …); the default is this one. Every build runs in a child process,
so one that crashes on this CPU is reported as such and the others still run. Per build: the
CPU features llama.cpp reports, the median of `--repeats` runs of reading a prompt of
`--prompt-tokens` tokens from an empty context, and of generating `--tokens` tokens after it.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, table

PROMPT = ("Kettlebird customers ask about delivery, returns, descaling and the app. "
          "Standard delivery takes three to five working days; express takes one. ")


def child(model: str, prompt_tokens: int, tokens: int, repeats: int, threads: int) -> dict:
    """Runs inside the build being measured: llama_cpp only."""
    import llama_cpp
    from llama_cpp import Llama

    llm = Llama(model_path=model, n_ctx=prompt_tokens + tokens + 64, n_threads=threads,
                n_batch=512, flash_attn=True, verbose=False)
    words = llm.tokenize((PROMPT * (prompt_tokens // 20 + 1)).encode(), add_bos=True)
    prompt = words[:prompt_tokens]
    reads, writes = [], []
    for _ in range(repeats):
        llm.reset()
        started = time.perf_counter()
        llm.eval(prompt)
        reads.append(len(prompt) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(tokens):
            llm.eval([llm.sample(temp=0.0)])
        writes.append(tokens / (time.perf_counter() - started))
    return {"version": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "prompt_tps": statistics.median(reads), "generate_tps": statistics.median(writes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="GGUF (default: the embedded model)")
    parser.add_argument("--python", action="append", default=[],
                        help="interpreter of a venv with a llama-cpp-python build (repeatable)")
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.prompt_tokens, args.tokens, args.repeats,
                               args.threads)))
        return 0
    model = args.model
    if model is None:
        from bot.models import assemble_embedded
        model = assemble_embedded(ROOT / "data" / "models")
    rows, results = [], []
    for python in args.python or [sys.executable]:
        run = subprocess.run([python, __file__, "--child", str(model),
                              "--prompt-tokens", str(args.prompt_tokens),
                              "--tokens", str(args.tokens), "--repeats", str(args.repeats),
                              "--threads", str(args.threads)],
                             capture_output=True, text=True)
        if run.returncode < 0:
            result = {"python": python, "crashed": signal.Signals(-run.returncode).name}
            rows.append([python, "-", f"crashed ({result['crashed']})", "-", "-"])
        elif run.returncode:
            result = {"python": python, "failed": run.stderr.strip().splitlines()[-1:]}
            rows.append([python, "-", f"failed: {result['failed']}", "-", "-"])
        else:
            result = {"python": python, **json.loads(run.stdout.strip().splitlines()[-1])}
            features = " ".join(part.split("=")[0].strip() for part in
                                result["system_info"].split("|") if part.strip().endswith("1"))
            rows.append([python, result["version"], features, round(result["prompt_tps"], 1),
                         round(result["generate_tps"], 1)])
        results.append(result)
    print(f"model {model.name}, {args.threads} threads, prompt {args.prompt_tokens} tokens, "
          f"{args.tokens} generated, median of {args.repeats}")
    print(table(["python", "llama-cpp-python", "CPU features used", "prompt tok/s",
                 "generate tok/s"], rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
