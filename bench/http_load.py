"""The HTTP API under a burst: 30 questions over 10 conversations (10 clients), all at once.

    .venv/bin/python bench/http_load.py [--model FILE.gguf] [--max-pending N] [--questions N]

The real core and model behind the real HTTP adapter on 127.0.0.1. Without a bound, every
question waits for all those before it (21.5 minutes for the last of 30 on the embedded model
on 2 cores); with `adapters.http.max_pending` the API takes that many and tells the others at
once, with `Retry-After`, when to come back. Prints, for each outcome, how many questions had
it and how long their answers took (median and slowest), and the Retry-After values.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import tempfile
import time
from pathlib import Path

import aiohttp
from common import ROOT, summary, table
from throughput import QUESTIONS

from adapters.http import HttpAdapter
from bot.config import make_config
from bot.core import open_core
from bot.models import assemble_embedded


async def burst(core, max_pending: int, count: int) -> list[tuple[int, float, str]]:
    """(status, seconds, Retry-After) of each of `count` questions sent at once."""
    tokens = [f"bench-client-{i}" for i in range(10)]
    cfg = dataclasses.replace(core.config.adapters.http, enabled=True, port=0,
                              max_pending=max_pending)
    adapter = HttpAdapter(core.pipeline, cfg, tokens)
    await adapter.start()
    timeout = aiohttp.ClientTimeout(total=7200)

    async def ask(session: aiohttp.ClientSession, i: int) -> tuple[int, float, str]:
        start = time.monotonic()
        async with session.post("/v1/messages", headers={
                "Authorization": f"Bearer {tokens[i % 10]}"}, json={
                "text": QUESTIONS[i % len(QUESTIONS)], "conversation": f"c{i % 10}"}) as r:
            await r.read()
            return r.status, time.monotonic() - start, r.headers.get("Retry-After", "")

    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{adapter.port}",
                                         timeout=timeout) as session:
            return await asyncio.gather(*(ask(session, i) for i in range(count)))
    finally:
        await adapter.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the embedded model)")
    parser.add_argument("--max-pending", type=int, default=4,
                        help="adapters.http.max_pending (30: no bound for this burst)")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    model = args.model or assemble_embedded(ROOT / "data" / "models")
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config({"data_dir": tmp,
                              "knowledge": {"path": str(ROOT / "knowledge"), "watch": False},
                              "model": {"source": "path", "path": str(model),
                                        "max_tokens": args.max_tokens, "temperature": 0.0}},
                             Path(tmp))
        core = open_core(config, watch=False)
        try:
            start = time.monotonic()
            results = asyncio.run(burst(core, args.max_pending, args.questions))
            total = time.monotonic() - start
        finally:
            core.close()
    rows = []
    for status in sorted({r[0] for r in results}):
        seconds = [r[1] for r in results if r[0] == status]
        median, _, slowest = summary(seconds)
        retry = sorted({r[2] for r in results if r[0] == status and r[2]}, key=int)
        rows.append([status, len(seconds), median, slowest, ",".join(retry) or "-"])
    print(f"{args.questions} questions over 10 conversations at once, max_pending "
          f"{args.max_pending}, {args.max_tokens} tokens at most; all done in {total:.1f} s\n")
    print(table(["status", "questions", "median s", "slowest s", "Retry-After"], rows))


if __name__ == "__main__":
    main()
