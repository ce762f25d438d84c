"""What babeldesk makes of customers' screenshots: OCR, language, and the article it finds.

    .venv/bin/python bench/screenshot_quality.py [--sets kettle,fdroid] [--limit N] [--json F]

Every case of bench/screenshots/<set>.yaml is drawn (bench/screenshots.py: dialogs, dark mode,
HiDPI, phone screens, phone photos of a monitor, notification banners; 12 languages, 5
scripts) and goes through what the pipeline does with an attachment: the file read by
bot/attachments.py (Tesseract, no language given: the image's script, then the language of
what was read, pick the model), the language detected from the text read, and the pipeline's
own retrieval and relevance gate on the sample knowledge (kettle) or F-Droid's FAQ (fdroid):

- OCR accuracy: 1 − normalised Levenshtein distance between what was read and all the text on
  the picture, whitespace collapsed (removed for ja and zh);
- language: the language detected from the text read is the screen's;
- hit@3 alone: the expected section is among the first three passages the gate lets through
  when the picture is sent alone;
- hit@3 with caption: the same with the caption a customer would type beside it ("this keeps
  popping up"), detected and searched as the pipeline does;
- off-topic answered: screenshots of other companies' apps (bench/screenshots/offtopic.yaml),
  sent to both knowledge bases, for which the gate let a passage through (alone / with the
  caption): it should say it doesn't know;
- seconds per image: reading it (decode, script detection, one or two Tesseract passes), on
  the machine as it is (one thread: Tesseract here is single-threaded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import defaultdict

from common import table
from retrieval_quality import fdroid_set, open_core
from screenshots import SCRIPTS, knowledge_folder, load_cases, render, truth

from bot.attachments import describe
from bot.message import Attachment, Message
from bot.text import has_words


def accuracy(read: str, expected: str, language: str) -> float:
    def norm(text: str) -> str:
        text = " ".join(text.split())
        return text.replace(" ", "") if language in ("ja", "zh") else text

    a, b = norm(read), norm(expected)
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return 1 - previous[-1] / max(len(a), len(b))


async def measure(core, cases, knowledge: str = "") -> list[dict]:
    pipeline = core.pipeline
    rows = []
    for case in cases:
        data = render(case)
        started = time.monotonic()
        files = await pipeline.attachments.read([Attachment(f"{case.id}.png", data=data)])
        seconds = time.monotonic() - started
        read = "\n".join(f.text for f in files if f.text)
        detected = pipeline.detect_language(read).language if has_words(read) else ""
        message = Message("bench", "", case.id, "", "bench", "")
        alone = pipeline.retrieve_read(message, "", read, detected or "en") if read else []
        caption_language = pipeline.detect_language(case.caption).language
        with_caption = pipeline.retrieve_read(message, case.caption, read, caption_language) \
            if read else pipeline._retrieve(message, case.caption, caption_language)
        question = case.question()
        rows.append({
            "id": case.id, "set": knowledge or case.set, "language": case.language,
            "variant": case.variant, "answered_alone": bool(alone),
            "answered_caption": bool(with_caption),
            "script": SCRIPTS[case.language], "seconds": seconds,
            "accuracy": accuracy(read, truth(case), case.language),
            "language_ok": detected == case.language,
            "alone": any(e.matches(h) for h in alone[:3] for e in question.expect),
            "caption": any(e.matches(h) for h in with_caption[:3] for e in question.expect),
            "read": read, "described": describe(files, 16)})
    return rows


def summarise(rows: list[dict], key: str) -> list[list]:
    groups = defaultdict(list)
    for row in rows:
        groups[row[key]].append(row)
    out = []
    for name, group in sorted(groups.items()) + [("all", rows)]:
        n = len(group)
        out.append([name, n, round(statistics.mean(r["accuracy"] for r in group), 3),
                    f"{sum(r['language_ok'] for r in group)}/{n}",
                    f"{sum(r['alone'] for r in group)}/{n}",
                    f"{sum(r['caption'] for r in group)}/{n}",
                    round(statistics.median(r["seconds"] for r in group), 2),
                    round(sorted(r["seconds"] for r in group)[int(0.95 * (n - 1))], 2)])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="kettle,fdroid")
    parser.add_argument("--limit", type=int, default=0, help="first N cases of each set")
    parser.add_argument("--json", help="write every case's result here")
    args = parser.parse_args(argv)
    rows = []
    for name in args.sets.split(","):
        cases = load_cases(name)[:args.limit or None]
        offtopic = load_cases("offtopic")[:args.limit or None]
        core = open_core(f"screenshots-{name}", knowledge_folder(name), gate=True)
        try:
            rows += asyncio.run(measure(core, cases))
            off = asyncio.run(measure(core, offtopic, f"offtopic-{name}"))
        finally:
            core.close()
        rows += off
        print(f"\n{name}: off-topic screenshots answered: alone "
              f"{sum(r['answered_alone'] for r in off)}/{len(off)}, with caption "
              f"{sum(r['answered_caption'] for r in off)}/{len(off)}")
        headers = ["", "cases", "OCR accuracy", "language", "hit@3 alone",
                   "hit@3 with caption", "s/image median", "s/image p95"]
        print(f"\n{name}: by script")
        print(table(headers, summarise([r for r in rows if r["set"] == name], "script")))
        print(f"\n{name}: by variant")
        print(table(headers, summarise([r for r in rows if r["set"] == name], "variant")))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
