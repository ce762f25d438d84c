"""Which language a message is in.

langdetect is unreliable on short chat ("hello" comes out Finnish), so a short or uncertain
message keeps the conversation's language, and a script that leaves only one configured
language (kana, hangul, Hebrew, Devanagari …) decides before any statistics do.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from langdetect.lang_detect_exception import LangDetectException

log = logging.getLogger(__name__)

#: below this many letters, or this many words, a message is too short to judge by itself
SHORT_LETTERS = 15
SHORT_WORDS = 3
#: langdetect's probability needed to trust its answer
MIN_CONFIDENCE = 0.80


@dataclass(frozen=True)
class Detection:
    language: str
    #: whether the text itself showed the language, rather than the prior or the default
    confident: bool
    #: how it was decided: script, statistics, conversation, default
    reason: str


#: Unicode ranges of the scripts that narrow a text's language down
_SCRIPTS = (
    ("kana", 0x3040, 0x30FF), ("kana", 0x31F0, 0x31FF), ("hangul", 0xAC00, 0xD7AF),
    ("hangul", 0x1100, 0x11FF), ("han", 0x4E00, 0x9FFF), ("han", 0x3400, 0x4DBF),
    ("arabic", 0x0600, 0x06FF), ("hebrew", 0x0590, 0x05FF), ("devanagari", 0x0900, 0x097F),
    ("thai", 0x0E00, 0x0E7F), ("greek", 0x0370, 0x03FF), ("cyrillic", 0x0400, 0x04FF),
    ("bengali", 0x0980, 0x09FF), ("tamil", 0x0B80, 0x0BFF), ("georgian", 0x10A0, 0x10FF),
    ("armenian", 0x0530, 0x058F),
)
#: languages (langdetect's) written in each script; Latin is everything else
_SCRIPT_LANGUAGES = {
    "kana": ("ja",), "hangul": ("ko",), "han": ("zh", "ja"), "arabic": ("ar", "fa", "ur"),
    "hebrew": ("he",), "devanagari": ("hi", "mr", "ne"), "thai": ("th",), "greek": ("el",),
    "cyrillic": ("ru", "uk", "bg", "mk"), "bengali": ("bn",), "tamil": ("ta",),
    "georgian": ("ka",), "armenian": ("hy",),
}
#: letters only one Cyrillic language among Russian and Ukrainian uses
_UKRAINIAN_ONLY = set("іїєґІЇЄҐ")
_RUSSIAN_ONLY = set("ыэъёЫЭЪЁ")


def _script_counts(text: str) -> dict[str, int]:
    counts: dict[str, int] = {"letters": 0}
    for ch in text:
        code = ord(ch)
        category = unicodedata.category(ch)
        if category[0] not in "LM":
            continue
        if category[0] == "L":
            counts["letters"] += 1
        for name, low, high in _SCRIPTS:
            if low <= code <= high:
                counts[name] = counts.get(name, 0) + 1
                break
    return counts


class LanguageDetector:
    """Detects a message's language among the configured ones."""

    def __init__(self, languages: list[str], default_language: str, seed: int = 0):
        self.languages = list(languages)
        self.default_language = default_language
        DetectorFactory.seed = seed
        init_factory()
        from langdetect import detector_factory

        self._factory = detector_factory._factory
        self._factory.set_seed(seed)
        known = set(self._factory.get_lang_list())
        # langdetect names Chinese zh-cn / zh-tw; babeldesk's configured code is plain zh.
        self._codes = {code: code.split("-")[0] for code in known
                       if code.split("-")[0] in self.languages}
        self._prior = {code: 1.0 for code in self._codes}

    def probabilities(self, text: str) -> dict[str, float]:
        """langdetect's probability for each configured language (summed over zh variants)."""
        detector = self._factory.create()
        detector.set_prior_map(self._prior)
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return {}
        out: dict[str, float] = {}
        for item in found:
            lang = self._codes.get(item.lang)
            if lang:
                out[lang] = out.get(lang, 0.0) + item.prob
        return out

    def detect(self, text: str, prior: str | None = None) -> Detection:
        """The language to answer `text` in; `prior` is the conversation's language so far."""
        fallback = prior if prior in self.languages else None
        counts = _script_counts(text)
        by_script = self._by_script(text, counts)
        if by_script:
            return Detection(by_script, True, "script")
        words = len(text.split())
        if counts["letters"] < SHORT_LETTERS or words < SHORT_WORDS:
            return self._fallback(fallback)
        probs = self.probabilities(text)
        if not probs:
            return self._fallback(fallback)
        best = max(probs, key=probs.get)
        if probs[best] < MIN_CONFIDENCE:
            return self._fallback(fallback)
        return Detection(best, True, "statistics")

    def _by_script(self, text: str, counts: dict[str, int]) -> str | None:
        """The language when the script leaves only one configured candidate."""
        if counts.get("kana") and "ja" in self.languages:
            return "ja"  # Japanese mixes kana with Han; kana alone says Japanese
        scripts = {k: v for k, v in counts.items() if k != "letters"}
        if not scripts:
            return None
        script, count = max(scripts.items(), key=lambda item: item[1])
        if count < 2 or count < counts["letters"] * 0.5:
            return None
        candidates = [lang for lang in _SCRIPT_LANGUAGES[script] if lang in self.languages]
        if script == "cyrillic" and len(candidates) > 1:
            letters = set(text)
            if letters & _UKRAINIAN_ONLY and "uk" in candidates:
                return "uk"
            if letters & _RUSSIAN_ONLY and "ru" in candidates:
                return "ru"
        if script == "han" and "zh" in candidates:
            return "zh"
        return candidates[0] if len(candidates) == 1 else None

    def _fallback(self, prior: str | None) -> Detection:
        if prior:
            return Detection(prior, False, "conversation")
        return Detection(self.default_language, False, "default")

    def detect_document(self, text: str) -> str | None:
        """The language of a knowledge file, or None when it cannot be told."""
        by_script = self._by_script(text, _script_counts(text))
        if by_script:
            return by_script
        probs = self.probabilities(text[:5000])
        if not probs:
            return None
        best = max(probs, key=probs.get)
        return best if probs[best] >= 0.5 else None
