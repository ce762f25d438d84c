"""Is a question answered in its own language? Language detection on real support questions.

    .venv/bin/python bench/question_language.py [--tatoeba 300] [--json PATH]

Detection only, no model: each question is detected as babeldesk detects a conversation's
first message, with the names of its knowledge's headings and its product's name in the
glossary (bot/glossary.py).

1. Configured languages (target: reply language = question language ≥ 0.99):
   - fdroid: F-Droid's FAQ questions as its translators wrote them (../shared/data/fdroid-faq),
     product F-Droid, names from its English headings;
   - sample: the questions of bench/questions/*.yaml and questions.yaml that name their
     language, with the knowledge they were written for (the sample's, or F-Droid's for
     offtopic-fdroid.yaml).
   The languages: babeldesk's default ones and the five more whose texts it ships.
2. Languages that are not configured (babeldesk's default 18): each message should be
   answered in the default language with the line saying which languages babeldesk speaks
   ("said"), not in a configured language it is not written in ("wrong"): F-Droid's Czech,
   Persian and Romanian questions, the sample's Greek, Romanian, Swedish and Thai ones,
   Tatoeba's Swedish and Hebrew sentences, and a few Swahili and Finnish questions below.
3. What that must not cost: Tatoeba sentences in the configured languages taken for an
   unconfigured language ("false alarms", with no prior and with the right prior).

Skips the data it cannot find (../shared/data, or BABELDESK_EVAL_DATA), exit 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import yaml
from common import DATA, ISO3, ROOT, table

from bot.config import Config
from bot.glossary import names_in_headings
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

QUESTIONS = ROOT / "bench" / "questions"
FDROID = DATA / "fdroid-faq"
#: babeldesk's default languages
DEFAULT = list(Config().languages)
#: and those whose canned texts ship too
SHIPPED = DEFAULT + ["el", "ro", "sv", "th", "he"]
#: support questions in two languages babeldesk does not ship, written for this benchmark
UNSHIPPED = {
    "sw": ["Habari, ninawezaje kubadilisha nenosiri langu?",
           "Nimesahau nenosiri langu, nifanye nini sasa?",
           "Agizo langu bado halijafika, naweza kulifuatilia wapi?",
           "Je, ninaweza kulipa kwa kutumia M-Pesa?",
           "Kifaa changu hakiunganishi na mtandao wa Wi-Fi nyumbani.",
           "Ningependa kurudishiwa pesa zangu kwa sababu bidhaa imeharibika.",
           "Ninawezaje kufuta akaunti yangu kabisa?",
           "Taa ya kifaa inawaka rangi nyekundu, tatizo ni nini?"],
    "fi": ["Miten voin vaihtaa salasanani?",
           "Unohdin salasanani, mitä minun pitäisi tehdä?",
           "Tilaukseni ei ole vielä saapunut, missä voin seurata sitä?",
           "Voinko maksaa laskun MobilePaylla?",
           "Laite ei yhdisty kotini langattomaan verkkoon.",
           "Haluaisin saada rahani takaisin, koska tuote oli rikki.",
           "Miten poistan käyttäjätilini pysyvästi?",
           "Laitteen valo vilkkuu punaisena, mikä on vikana?"],
}


def knowledge_names(folder: Path, languages: list[str]) -> set[str]:
    """The names the pipeline's detector skips for this knowledge folder."""
    with tempfile.TemporaryDirectory() as data:
        detector = LanguageDetector(languages, "en")
        knowledge = KnowledgeBase(folder, Path(data) / "knowledge.db", detector)
        try:
            knowledge.sync(full=True)
            return names_in_headings(knowledge.headings_by_language(), languages)
        finally:
            knowledge.close()


def detector_for(languages: list[str], product: str, names: set[str]) -> LanguageDetector:
    """The detector as babeldesk builds it: the product in the glossary, then the names."""
    detector = LanguageDetector(languages, "en", glossary=[product])
    detector.use_names(names)
    return detector


def fdroid_questions() -> list[tuple[str, str]]:
    lines = (FDROID / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [(q["lang"], q["question"]) for q in map(json.loads, lines)]


def sample_questions() -> dict[str, list[tuple[str, str]]]:
    """(language, question) of every question file that names languages, by knowledge."""
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted(QUESTIONS.glob("*.yaml")) + [ROOT / "questions.yaml"]:
        knowledge = "fdroid" if "fdroid" in path.name else "sample"
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
            if entry.get("language"):
                out[knowledge].append((entry["language"], entry["question"]))
    return out


def accuracy(detector: LanguageDetector, questions: list[tuple[str, str]]) -> dict:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong = []
    for language, question in questions:
        found = detector.detect(question).language
        per[language][0] += found == language
        per[language][1] += 1
        if found != language:
            wrong.append({"language": language, "detected": found, "question": question})
    right = sum(r for r, _ in per.values())
    total = sum(n for _, n in per.values())
    return {"right": right, "total": total, "accuracy": right / total if total else None,
            "per_language": {k: v for k, v in sorted(per.items())}, "wrong": wrong}


def unconfigured(detector: LanguageDetector, messages: list[tuple[str, str]]) -> dict:
    """How messages in unconfigured languages are answered: said, default, wrong."""
    outcome: dict[str, Counter] = defaultdict(Counter)
    for language, text in messages:
        detection = detector.detect(text)
        if getattr(detection, "unconfigured", ""):
            outcome[language]["said"] += 1
        elif detection.language == detector.default_language:
            outcome[language]["default"] += 1
        else:
            outcome[language]["wrong"] += 1
    return {k: dict(v) for k, v in sorted(outcome.items())}


def tatoeba(languages: list[str], per_language: int) -> list[tuple[str, str]]:
    folder = DATA / "tatoeba"
    out = []
    for code3, code in ISO3.items():
        if code in languages and (folder / f"{code3}.txt").is_file():
            lines = (folder / f"{code3}.txt").read_text(encoding="utf-8").splitlines()
            out += [(code, line.strip()) for line in lines[:per_language] if line.strip()]
    return out


def false_alarms(detector: LanguageDetector, sentences: list[tuple[str, str]]) -> dict:
    """Sentences in configured languages taken for an unconfigured one, and accuracy."""
    out = {}
    for way in ("no prior", "prior right"):
        alarms = right = 0
        for language, text in sentences:
            detection = detector.detect(text, language if way == "prior right" else None)
            alarms += bool(getattr(detection, "unconfigured", ""))
            right += detection.language == language
        out[way] = {"false alarms": alarms, "accuracy": right / len(sentences),
                    "sentences": len(sentences)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tatoeba", type=int, default=300,
                        help="Tatoeba sentences per language for the false alarms (default 300)")
    parser.add_argument("--json", type=Path,
                        default=ROOT / "data" / "bench" / "question_language.json")
    args = parser.parse_args()
    results: dict = {}
    sample_names = {langs: knowledge_names(ROOT / "knowledge", langs)
                    for langs in (tuple(SHIPPED), tuple(DEFAULT))}
    fdroid_names = ({langs: knowledge_names(FDROID / "knowledge", list(langs))
                     for langs in (tuple(SHIPPED), tuple(DEFAULT))}
                    if FDROID.is_dir() else {})
    asked = sample_questions()

    print("1. Reply language = question language, languages configured: "
          f"{' '.join(SHIPPED)}\n")
    sets = {"sample": (detector_for(SHIPPED, "Kettlebird", sample_names[tuple(SHIPPED)]),
                       [q for q in asked["sample"] if q[0] in SHIPPED])}
    if fdroid_names:
        fdroid = detector_for(SHIPPED, "F-Droid", fdroid_names[tuple(SHIPPED)])
        sets["fdroid-faq"] = (fdroid, [q for q in fdroid_questions() if q[0] in SHIPPED])
        sets["sample, off-topic for F-Droid"] = (
            fdroid, [q for q in asked["fdroid"] if q[0] in SHIPPED])
    else:
        print(f"no F-Droid data at {FDROID}: its questions are skipped\n")
    rows = []
    for name, (detector, questions) in sets.items():
        result = results[name] = accuracy(detector, questions)
        rows.append([name, result["total"], result["right"], result["accuracy"],
                     "met" if result["accuracy"] >= 0.99 else "NOT MET"])
    print(table(["questions", "n", "right", "accuracy", "≥ 0.99"], rows))
    for name in sets:
        for miss in results[name]["wrong"]:
            print(f"  {name}: {miss['language']} taken for {miss['detected']}: "
                  f"{miss['question']}")

    print(f"\n2. Languages that are not configured (configured: babeldesk's default "
          f"{len(DEFAULT)})\n")
    sample_default = detector_for(DEFAULT, "Kettlebird", sample_names[tuple(DEFAULT)])
    messages = {"written here (sw, fi)": (sample_default, [(lang, text) for lang, texts in
                                                          UNSHIPPED.items() for text in texts]),
                "sample": (sample_default, [q for q in asked["sample"]
                                            if q[0] not in DEFAULT])}
    if fdroid_names:
        messages["fdroid-faq"] = (
            detector_for(DEFAULT, "F-Droid", fdroid_names[tuple(DEFAULT)]),
            [q for q in fdroid_questions() if q[0] not in DEFAULT])
    if (DATA / "tatoeba").is_dir():
        messages["Tatoeba"] = (sample_default,
                               tatoeba(["sv", "he"], args.tatoeba))
    rows = []
    for name, (detector, texts) in messages.items():
        outcome = results[f"unconfigured: {name}"] = unconfigured(detector, texts)
        for language, counts in outcome.items():
            total = sum(counts.values())
            rows.append([name, language, total, counts.get("said", 0),
                         counts.get("default", 0), counts.get("wrong", 0),
                         counts.get("said", 0) / total])
    print(table(["messages", "lang", "n", "said", "default", "wrong", "said share"], rows))

    if (DATA / "tatoeba").is_dir():
        print(f"\n3. Tatoeba in the {len(DEFAULT)} default languages (up to {args.tatoeba} "
              "sentences each): taken for an unconfigured language\n")
        sentences = tatoeba(DEFAULT, args.tatoeba)
        alarms = results["false alarms"] = false_alarms(sample_default, sentences)
        print(table(["way", "sentences", "false alarms", "accuracy"],
                    [[way, r["sentences"], r["false alarms"], r["accuracy"]]
                     for way, r in alarms.items()]))
    else:
        print(f"\nno Tatoeba data at {DATA / 'tatoeba'}: false alarms not measured")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
