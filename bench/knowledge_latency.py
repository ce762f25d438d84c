"""How long after a knowledge file is saved does babeldesk serve it? Target: 2 s.

    .venv/bin/python bench/knowledge_latency.py [--trials 10] [--interval 1.0]

Copies the sample knowledge to a temporary folder, starts the watcher with the given
`knowledge.watch_interval`, then adds, edits and deletes a file, timing each until search
reflects it. Also times a cold index of the sample folder and a restart with nothing changed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, summary, table

from bot.config import Config
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

QUESTION = "How much does gift wrapping cost?"


def wait(condition, timeout=30.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError
        time.sleep(0.005)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--interval", type=float, default=Config().knowledge.watch_interval)
    args = parser.parse_args()
    detector = LanguageDetector(Config().languages, "en")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "knowledge"
        shutil.copytree(ROOT / "knowledge", folder)
        db = Path(tmp) / "knowledge.db"
        start = time.perf_counter()
        kb = KnowledgeBase(folder, db, detector)
        report = kb.sync(full=True)
        cold = time.perf_counter() - start
        kb.close()
        start = time.perf_counter()
        kb = KnowledgeBase(folder, db, detector)
        kb.sync(full=True)
        warm = time.perf_counter() - start
        kb.watch(args.interval)

        def found(text):
            hits = kb.search(QUESTION, "en", 1, 0.3)
            return bool(hits) and text in hits[0].passage.text

        added, edited, deleted = [], [], []
        page = folder / "en" / "gifts.md"
        for i in range(args.trials):
            page.write_text(f"# Gifts\n\n## Gift wrapping\n\nGift wrapping costs {i} EUR.\n")
            added.append(wait(lambda: found(f"costs {i} EUR")))
            page.write_text(f"# Gifts\n\n## Gift wrapping\n\nGift wrapping costs {i}9 EUR.\n")
            edited.append(wait(lambda: found(f"costs {i}9 EUR")))
            page.unlink()
            deleted.append(wait(lambda: not kb.search(QUESTION, "en", 1, 0.3)))
        kb.close()
    print(f"sample knowledge: {len(report.added)} files, watch_interval {args.interval} s, "
          f"{args.trials} trials\n")
    rows = [["cold index of the sample folder", cold, cold, cold],
            ["restart, nothing changed", warm, warm, warm]]
    for name, values in (("file added → served", added), ("file edited → served", edited),
                         ("file deleted → gone", deleted)):
        rows.append([name, *summary(values)])
    print(table(["seconds", "median", "p95", "max"], rows))
    worst = max(added + edited + deleted)
    print(f"\ntarget: served within 2 s: {'met' if worst <= 2.0 else 'MISSED'} (worst {worst:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
