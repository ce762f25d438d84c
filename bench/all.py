"""Every speed benchmark, one after the other, then one table of targets met and not met.

    .venv/bin/python bench/all.py [--model FILE.gguf]

Runs bench/prefix_cache.py (a, b), bench/throughput.py (c, e, f) and bench/retrieval.py (d)
with the embedded model, or the GGUF given, printing each one's tables; writes
data/bench/summary.json beside each benchmark's own JSON. Takes about 25 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from common import ROOT, table

OUT = ROOT / "data" / "bench"


def run(script: str, *args: str) -> None:
    print(f"\n=== {script} {' '.join(args)}\n", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the embedded model)")
    args = parser.parse_args()
    model = ["--model", str(args.model)] if args.model else []
    run("prefix_cache.py", *model)
    run("throughput.py", *model)
    run("retrieval.py")

    cache = json.loads((OUT / "prefix_cache.json").read_text())
    speed = json.loads((OUT / "throughput.json").read_text())
    retrieval = json.loads((OUT / "retrieval.json").read_text())["targets"]
    rows = [
        ["a. 10 turns: read / new at the last turn ≤ 1.3",
         cache["a"]["targets"]["tokens_read_over_new"], cache["a"]["targets"]["tokens_target_met"]],
        ["a. 10 turns: ttft last / first ≤ 1.5", cache["a"]["targets"]["ttft_last_over_first"],
         cache["a"]["targets"]["ttft_target_met"]],
        ["a. same answers with and without the cache", cache["a"]["same_answers"],
         cache["a"]["same_answers"]],
        ["b. interleaved: read / new ≤ 1.3", cache["b"]["targets"]["tokens_read_over_new"],
         cache["b"]["targets"]["tokens_target_met"]],
        ["b. interleaved: ttft last / first ≤ 1.5",
         cache["b"]["targets"]["ttft_last_over_first"], cache["b"]["targets"]["ttft_target_met"]],
        ["c. pipeline / raw llama-cpp-python ≤ 1.05", speed["c"]["median_ratio"],
         speed["c"]["target_met"]],
        ["d. search p95 at 100k passages ≤ 10 ms", round(retrieval["search_p95_at_largest_ms"], 1),
         retrieval["search_target_met"]],
        ["d. one edited file at 10k passages ≤ 200 ms", round(retrieval["edit_ms_at_middle"], 1),
         retrieval["edit_target_met"]],
        ["d. hybrid search p95 at 100k (question embedded, ~13 ms)",
         round(retrieval["hybrid_p95_at_largest_ms"], 1), "-"],
        ["d. hybrid: one edited file at 10k, embedded", round(
            retrieval["hybrid_edit_ms_at_middle"], 1), "-"],
        ["e. 50 messages from 20 conversations all answered", speed["e"]["answered"],
         speed["e"]["all_answered"]],
        ["e. fair order", speed["e"]["fair_order"], speed["e"]["fair_order"]],
        ["e. peak RSS MB", speed["e"]["peak_rss_mb"], "-"],
        ["f. start-up s, new / existing data directory",
         f"{speed['f']['cold_s']:.1f} / {speed['f']['warm_s']:.1f}", "-"],
    ]
    print("\n=== targets\n")
    print(table(["target", "measured", "met"],
                [[name, value, "met" if met is True else "NOT MET" if met is False else met]
                 for name, value, met in rows]))
    (OUT / "summary.json").write_text(json.dumps(
        [{"target": name, "measured": value, "met": met} for name, value, met in rows],
        indent=2, ensure_ascii=False))
    print(f"\nwritten {OUT / 'summary.json'}")


if __name__ == "__main__":
    main()
