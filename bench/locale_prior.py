"""The platform's locale as a first message's prior: Tatoeba's sentences of at most 20 characters.

    .venv/bin/python bench/locale_prior.py [--per-language 200] [--seed 0] [--json PATH]

Each sentence is a conversation's first message, detected as the pipeline detects one
(`LanguageDetector.detect`, with the language of `Message.locale` as its `locale`, the weaker
prior that a short sentence langdetect is sure of overrides, bot/language.py
`locale_language`), three ways: (a) no locale (a platform that reports none: a short message
gets the default language unless it is a sentence langdetect is sure of); (b) the right locale
(the author's interface is in the sentence's language); (c) a wrong locale (English for a
sentence in another language, Spanish for an English one: an English interface, a question in
another language) — what a misleading locale costs.

Languages: babeldesk's default ones that Tatoeba has, up to --per-language sentences of at most
20 characters each, drawn with a fixed seed. Detection only, no model and no small talk. Skips,
exit 0, without the data folder (../shared/data/tatoeba, or BABELDESK_EVAL_DATA).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from common import DATA, ISO3, ROOT, table

from bot.config import Config
from bot.language import LanguageDetector, locale_language

#: longest sentence taken, in characters: messages too short to judge by themselves
MAX_CHARS = 20
WAYS = ("a. no locale", "b. locale right", "c. locale wrong")
#: the locale a platform reports for a user of each language, as Slack and Discord write them
LOCALES = {"en": "en-US", "es": "es-419", "fr": "fr-FR", "de": "de-DE", "it": "it-IT",
           "pt": "pt-BR", "nl": "nl-NL", "pl": "pl-PL", "ru": "ru-RU", "uk": "uk-UA",
           "tr": "tr-TR", "ar": "ar-SA", "hi": "hi-IN", "ja": "ja-JP", "ko": "ko-KR",
           "zh": "zh-CN", "vi": "vi-VN", "id": "id-ID"}


def sentences(folder: Path, languages: list[str], per_language: int,
              seed: int) -> dict[str, list[str]]:
    """Up to `per_language` sentences of at most MAX_CHARS characters in each language."""
    out = {}
    for code3, code in ISO3.items():
        path = folder / f"{code3}.txt"
        if code not in languages or not path.is_file():
            continue
        short = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                 if 0 < len(line.strip()) <= MAX_CHARS]
        rng = random.Random(f"{seed}-{code}")
        out[code] = rng.sample(short, min(per_language, len(short)))
    return out


def wrong_locale(code: str) -> str:
    return LOCALES["es"] if code == "en" else LOCALES["en"]


def measure(detector: LanguageDetector, data: dict[str, list[str]],
            languages: list[str]) -> dict:
    per_language: dict[str, dict[str, int]] = {}
    reasons: dict[str, dict[str, int]] = {way: {} for way in WAYS}
    start = time.perf_counter()
    for code, texts in data.items():
        locales = {"a. no locale": "", "b. locale right": LOCALES.get(code, code),
                   "c. locale wrong": wrong_locale(code)}
        cell = per_language[code] = {"sentences": len(texts), **{way: 0 for way in WAYS}}
        for text in texts:
            for way, locale in locales.items():
                # as Pipeline._answer does for a conversation's first message
                detection = detector.detect(text, locale=locale_language(locale, languages))
                cell[way] += detection.language == code
                reasons[way][detection.reason] = reasons[way].get(detection.reason, 0) + 1
    elapsed = time.perf_counter() - start
    total = sum(cell["sentences"] for cell in per_language.values())
    overall = {way: sum(cell[way] for cell in per_language.values()) / total for way in WAYS}
    # each language weighs the same, however many short sentences Tatoeba has in it
    macro = {way: sum(cell[way] / cell["sentences"] for cell in per_language.values())
             / len(per_language) for way in WAYS}
    return {"sentences": total, "overall": overall, "mean_of_languages": macro,
            "per_language": {code: {"sentences": cell["sentences"],
                                    **{way: cell[way] / cell["sentences"] for way in WAYS}}
                             for code, cell in per_language.items()},
            "reasons": reasons,
            "ms_per_detection": elapsed / (total * len(WAYS)) * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-language", type=int, default=200,
                        help="sentences of at most 20 characters per language (default 200)")
    parser.add_argument("--seed", type=int, default=0,
                        help="which sentences are drawn (default 0)")
    parser.add_argument("--json", type=Path,
                        default=ROOT / "data" / "bench" / "locale_prior.json")
    args = parser.parse_args()
    folder = DATA / "tatoeba"
    if not folder.is_dir():
        print(f"no evaluation data at {folder}; skipped")
        return 0
    languages = list(Config().languages)
    data = sentences(folder, languages, args.per_language, args.seed)
    detector = LanguageDetector(languages, Config().default_language)
    result = measure(detector, data, languages)
    print(f"Tatoeba, sentences of at most {MAX_CHARS} characters as a first message, "
          f"{len(data)} of babeldesk's {len(languages)} default languages, up to "
          f"{args.per_language} each (seed {args.seed}; "
          f"{result['ms_per_detection']:.2f} ms per detection)\n")
    rows = [[code, cell["sentences"]] + [cell[way] for way in WAYS]
            for code, cell in result["per_language"].items()]
    rows.append(["all", result["sentences"]] + [result["overall"][way] for way in WAYS])
    rows.append(["mean of languages", ""] + [result["mean_of_languages"][way] for way in WAYS])
    print(table(["lang", "n", *WAYS], rows))
    print("\nhow the language was decided (reason: sentences)")
    for way in WAYS:
        print(f"  {way}: " + ", ".join(f"{reason} {n}" for reason, n in
                                        sorted(result["reasons"][way].items(),
                                               key=lambda item: -item[1])))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"languages": languages, "per_language": args.per_language,
                                     "seed": args.seed, "locales": LOCALES, **result},
                                    indent=2, ensure_ascii=False))
    print(f"\nwritten {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
