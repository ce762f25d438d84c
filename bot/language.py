"""Which language a message is in.

langdetect is unreliable on short chat ("hello" comes out Finnish), so a short or uncertain
message keeps the conversation's language, and scripts that name their language (kana, hangul)
decide before any statistics do.
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


def _script_counts(text: str) -> dict[str, int]:
    counts = {"kana": 0, "hangul": 0, "han": 0, "letters": 0}
    for ch in text:
        code = ord(ch)
        if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
            counts["kana"] += 1
        elif 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF:
            counts["hangul"] += 1
        elif 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF:
            counts["han"] += 1
        if unicodedata.category(ch).startswith("L"):
            counts["letters"] += 1
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
        by_script = self._by_script(counts)
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

    def _by_script(self, counts: dict[str, int]) -> str | None:
        cjk = counts["kana"] + counts["hangul"] + counts["han"]
        if cjk < 2 or cjk < counts["letters"] * 0.3:
            return None
        if counts["kana"] and "ja" in self.languages:
            return "ja"
        if counts["hangul"] >= counts["han"] and "ko" in self.languages:
            return "ko"
        if counts["han"]:
            # Japanese text nearly always has kana; Han alone is Chinese.
            for lang in ("zh", "ja"):
                if lang in self.languages:
                    return lang
        return None

    def _fallback(self, prior: str | None) -> Detection:
        if prior:
            return Detection(prior, False, "conversation")
        return Detection(self.default_language, False, "default")

    def detect_document(self, text: str) -> str | None:
        """The language of a knowledge file, or None when it cannot be told."""
        counts = _script_counts(text)
        by_script = self._by_script(counts)
        if by_script:
            return by_script
        probs = self.probabilities(text[:5000])
        if not probs:
            return None
        best = max(probs, key=probs.get)
        return best if probs[best] >= 0.5 else None
