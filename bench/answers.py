"""Answer speed with the configured model: time to first token, tokens per second.

    .venv/bin/python bench/answers.py [--config config.yaml] [--repeat 1]

Runs the pipeline on questions in several languages (and one it must abstain on), each in a
new conversation, and prints a table. Uses a temporary data directory for history.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import ROOT, table

from bot.config import load_config
from bot.core import load_engine, open_core
from bot.message import Message

QUESTIONS = [
    "How do I reset my password?",
    "¿Cuánto tarda el envío?",
    "Wie kann ich eine Rückerstattung beantragen?",
    "Le voyant clignote en rouge, que faire ?",
    "パスワードを再設定するには？",
    "What is the capital of Mongolia?",
]


async def ask(core, text):
    message = Message("bench", "local", uuid.uuid4().hex, "", "bench", text)
    start = time.perf_counter()
    first = None
    reply = core.pipeline.respond(message)
    async for _ in reply:
        first = first or time.perf_counter() - start
    answer = await reply
    total = time.perf_counter() - start
    tokens = core.model.engine.count_tokens(answer.text) if answer.kind == "answer" else 0
    gen = total - (first or total)
    return answer, first, total, tokens, (tokens / gen if gen > 0 and tokens else 0.0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    config = load_config(args.config)
    start = time.perf_counter()
    engine = load_engine(config)  # from the configured data directory: no second copy
    load = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        core = open_core(dataclasses.replace(config, data_dir=Path(tmp)), engine=engine,
                         watch=False)
        rows = []
        try:
            for _ in range(args.repeat):
                for q in QUESTIONS:
                    answer, first, total, tokens, rate = asyncio.run(ask(core, q))
                    rows.append([q[:34], answer.language, answer.kind,
                                 first if first is not None else "-", total, tokens, rate])
        finally:
            core.close()
    print(f"model: {engine.path.name}, n_ctx {config.model.n_ctx}, loaded in {load:.1f} s\n")
    print(table(["question", "lang", "kind", "first token s", "total s", "tokens", "tokens/s"],
                rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
