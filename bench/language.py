"""Language detection on Tatoeba's short sentences (at most 20 characters), 20 languages.

    .venv/bin/python bench/language.py [--max-chars 20] [--per-language 300]

Prints accuracy per language for babeldesk's detector on a first message (no conversation
prior: short messages fall back to the default language by design) and for the statistics
alone (langdetect restricted to the 20 languages).
"""

from __future__ import annotations

import argparse
import sys
import time

from common import DATA, ISO3, table

from bot.language import LanguageDetector


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-chars", type=int, default=20)
    parser.add_argument("--per-language", type=int, default=300)
    args = parser.parse_args()
    folder = DATA / "tatoeba"
    if not folder.is_dir():
        print(f"no evaluation data at {folder}; skipped")
        return 0
    languages = list(ISO3.values())
    detector = LanguageDetector(languages, "en")
    rows, total, right_first, right_stats = [], 0, 0, 0
    start = time.perf_counter()
    for code3, code in ISO3.items():
        lines = [s.strip() for s in (folder / f"{code3}.txt").read_text(encoding="utf-8")
                 .splitlines() if 0 < len(s.strip()) <= args.max_chars][:args.per_language]
        first = sum(detector.detect(s).language == code for s in lines)
        probs = [detector.probabilities(s) for s in lines]
        stats = sum(bool(p) and max(p, key=p.get) == code for p in probs)
        rows.append([code, len(lines), first / len(lines), stats / len(lines)])
        total += len(lines)
        right_first += first
        right_stats += stats
    elapsed = time.perf_counter() - start
    rows.append(["all", total, right_first / total, right_stats / total])
    print(f"Tatoeba sentences of at most {args.max_chars} characters "
          f"({elapsed / total / 2 * 1000:.2f} ms per detection)\n")
    print(table(["lang", "sentences", "babeldesk first message", "langdetect restricted"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
