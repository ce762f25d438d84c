"""Checking an answer against the passages it was written from, before a customer reads it.

A small model given an article often restates the question as if it were the answer ("Why is
JavaScript enabled?" → "JavaScript is enabled."), turns it into the opposite of the article, or
fills a gap with a number or a product it made up. So every sentence of a generated answer is
judged on its own, as it is streamed:

- **supported**: the multilingual embeddings (which compare across languages) find a passage
  sentence that says nearly the same thing;
- **not an echo**: it does not merely repeat the question's own words;
- **exact facts**: every number (digits of any script, and number words of the shipped
  languages), e-mail address, web address and product-like name in it is in the passages;
- **one language**: it is written in the customer's language.

Facts that embeddings cannot tell apart ("2 years" and "10 years" are close vectors) are what the
exact part is for. The marks are on the embedding's relevance scale, so a configured model's
own `relevance_floor`/`relevance_span` carry over; figures in docs/performance.md, "Answer check".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .embeddings import Embedder
from .language import LanguageDetector
from .screen import unknown_contact
from .text import ascii_digits, without_links

#: a sentence this close to some passage sentence (on the relevance scale: cosine =
#: floor + SUPPORTED_AT × span, 0.85 with multilingual-e5-small) is supported by it
SUPPORTED_AT = 0.5
#: the share of a sentence's character trigrams already in the question above which it only
#: repeats the question
ECHO_AT = 0.7
#: sentences shorter than this (letters) are list labels or connectives: only their facts and
#: echo are checked, since their vectors say little
MIN_JUDGED_LETTERS = 16
#: letters a sentence needs before its language is judged
LANGUAGE_LETTERS = 30
#: langdetect's probability of another language, and at most the customer's, that make a
#: sentence one in another language (or half in it)
MIXED_AT = 0.5
#: the share of its letters a sentence in Chinese, Russian, Arabic… has in that language's
#: script, at least, when product names and menu labels keep theirs
OWN_SCRIPT_SHARE = 0.3
#: languages that capitalise every noun, where a capital says nothing about names
CAPITALISED_NOUNS = frozenset({"de"})

# Number words of the shipped languages, 0-12 and the tens: "two years" and "2 ans" state one
# fact. Words only, lower case; several languages share some ("dos", "tre").
_NUMBER_WORDS: dict[str, int] = {}
for _line in (
        "en zero one two three four five six seven eight nine ten eleven twelve",
        "es cero uno dos tres cuatro cinco seis siete ocho nueve diez once doce",
        "fr zéro un deux trois quatre cinq six sept huit neuf dix onze douze",
        "de null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf",
        "it zero uno due tre quattro cinque sei sette otto nove dieci undici dodici",
        "pt zero um dois três quatro cinco seis sete oito nove dez onze doze",
        "nl nul een twee drie vier vijf zes zeven acht negen tien elf twaalf",
        "pl zero jeden dwa trzy cztery pięć sześć siedem osiem dziewięć dziesięć jedenaście "
        "dwanaście",
        "ru ноль один два три четыре пять шесть семь восемь девять десять одиннадцать "
        "двенадцать",
        "uk нуль один два три чотири п'ять шість сім вісім дев'ять десять одинадцять "
        "дванадцять",
        "tr sıfır bir iki üç dört beş altı yedi sekiz dokuz on onbir oniki",
        "id nol satu dua tiga empat lima enam tujuh delapan sembilan sepuluh sebelas "
        "duabelas",
        "vi không một hai ba bốn năm sáu bảy tám chín mười",
        "sv noll ett två tre fyra fem sex sju åtta nio tio elva tolv",
        "ro zero unu doi trei patru cinci șase șapte opt nouă zece"):
    _words = _line.split()[1:]
    for _value, _word in enumerate(_words):
        _NUMBER_WORDS.setdefault(_word, _value)
for _word, _value in {"a dozen": 12, "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90,
                      "hundred": 100, "veinte": 20, "treinta": 30, "vingt": 20, "trente": 30,
                      "zwanzig": 20, "dreißig": 30, "venti": 20, "trenta": 30, "vinte": 20,
                      "trinta": 30, "двадцать": 20, "тридцать": 30, "una": 1, "une": 1,
                      "ein": 1, "eine": 1, "einen": 1, "zwei": 2, "due": 2, "duas": 2,
                      "одна": 1, "две": 2, "одну": 1, "два": 2, "дві": 2}.items():
    _NUMBER_WORDS.setdefault(_word, _value)
# Articles that are also "one", and number words that are other words elsewhere ("due",
# "hai", "on"), would make facts out of grammar.
for _word in ("un", "une", "uno", "una", "um", "een", "ein", "eine", "einen", "bir", "một",
              "ett", "one", "eins", "satu", "năm", "on", "sei", "ba", "due", "hai", "null",
              "elf", "sex", "ten"):
    _NUMBER_WORDS.pop(_word, None)
_NUMBER_WORD = re.compile(r"(?<!\w)(" + "|".join(sorted(map(re.escape, _NUMBER_WORDS),
                                                       key=len, reverse=True)) + r")(?!\w)",
                          re.IGNORECASE)
_HAN_NUMBERS = {"一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
                "八": 8, "九": 9, "十": 10}
_HAN_NUMBER = re.compile(r"([一二两兩三四五六七八九]?十[一二三四五六七八九]?|[一二两兩三四五六七八九])"
                         r"(?=[个個天年月周週小分秒次位件张張台日号號]|工作日)")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
#: list markers and citation marks are numbering, not facts
_NUMBERING = re.compile(r"^(?:\s*>)?\s*(?:\d+[.)]|[-*•])(?=\s|$)|\[\d+\]", re.MULTILINE)
#: a name as products and features are written: letters with digits (KB-2, X200, 4G), or a
#: capital inside a word (iPhone, AdBlock, WhatsApp)
_NAME = re.compile(r"(?<![\w-])(?=[\w-]*[A-Za-z])(?:[A-Za-z]+[-]?\d[\w-]*|\d+[-]?[A-Za-z][\w-]*"
                   r"|[A-Za-z]*[a-z][A-Z][\w-]*)(?![\w-])")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass(frozen=True)
class SentenceCheck:
    """How one sentence of an answer fared."""

    text: str
    #: its best similarity to a passage sentence, on the relevance scale (None: not judged)
    support: float | None
    #: the share of it that the question already says
    echo: float
    #: why it may not be sent, or "" when it may
    problem: str = ""
    #: the passage (its index) whose sentence supports it best
    source: int | None = None


@dataclass
class AnswerCheck:
    """The verdict on a whole answer: its sentences, and the first problem found."""

    sentences: list[SentenceCheck] = field(default_factory=list)

    @property
    def problem(self) -> str:
        bad = next((s for s in self.sentences if s.problem), None)
        if bad:
            return f"{bad.problem}: «{bad.text.strip()[:120]}»"
        if not any(s.support is not None and s.echo < ECHO_AT for s in self.sentences):
            # Only lead-ins, or the question asked back: nothing answers it.
            return "restated: nothing in it goes beyond the question"
        return ""

    @property
    def passed(self) -> bool:
        return not self.problem

    def kinds(self) -> set[str]:
        """The kinds of problem found: restated, unsupported, fact, language."""
        return {s.problem.split(":", 1)[0] for s in self.sentences if s.problem}


def numbers(text: str) -> set[str]:
    """The numbers a text states: digits of every script, thousands separators and leading
    zeros dropped, and number words of the shipped languages ("deux" → "2")."""
    text = ascii_digits(_NUMBERING.sub(" ", text))
    found = set()
    for raw in _DIGITS.findall(text):
        # "1,000", "1.000" and "1000" are one number; "2.5" stays 2.5 (and 2,5 with it).
        parts = re.split(r"[.,]", raw)
        if len(parts) > 1 and all(len(p) == 3 for p in parts[1:]):
            found.add(str(int("".join(parts))))
        else:
            found.add(raw.replace(",", ".").lstrip("0") or "0")
    found.update(str(_NUMBER_WORDS[m.group(1).lower()])
                 for m in _NUMBER_WORD.finditer(text))
    for match in _HAN_NUMBER.finditer(text):
        found.add(str(_han_value(match.group(1))))
    return found


def _han_value(word: str) -> int:
    if "十" not in word:
        return _HAN_NUMBERS[word]
    tens, _, ones = word.partition("十")
    return _HAN_NUMBERS.get(tens, 1) * 10 + (_HAN_NUMBERS[ones] if ones else 0)


def names(text: str) -> set[str]:
    """Product-like names in a text: KB-2, X200, iPhone, AdBlock (case-folded)."""
    return {m.casefold() for m in _NAME.findall(without_links(text))}


def echo(sentence: str, question: str) -> float:
    """The share of the sentence's character trigrams (bigrams in CJK scripts) that the
    question also has: 1.0 for a sentence that only restates it."""
    mine = _grams(sentence)
    return len(mine & _grams(question)) / len(mine) if mine else 0.0


def _grams(text: str) -> set[str]:
    folded = " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))
    n = 2 if len(_CJK.findall(folded)) * 2 > len(folded) else 3
    return {folded[i:i + n] for i in range(len(folded) - n + 1)}


def letters(text: str) -> int:
    """Letters, a Chinese, Japanese or Korean character counting as three: about the
    information of three Latin letters ("2年間です" says what "two years" does)."""
    return sum(ch.isalpha() for ch in text) + 2 * len(_CJK.findall(text))


def script_letters(text: str) -> dict[str, int]:
    """How many letters of each script a text has (latin, cjk, hangul, cyrillic, …)."""
    counts: dict[str, int] = {}
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "").split(" ", 1)[0].lower()
            script = _SCRIPT_NAMES.get(name, name)
            counts[script] = counts.get(script, 0) + 1
    return counts


_SCRIPT_NAMES = {"hiragana": "cjk", "katakana": "cjk", "halfwidth": "cjk"}
#: the script a language is written in, for those not written in Latin letters
_SCRIPT_OF = {"zh": "cjk", "ja": "cjk", "ko": "hangul", "ar": "arabic", "hi": "devanagari",
              "th": "thai", "he": "hebrew", "el": "greek", "ru": "cyrillic", "uk": "cyrillic"}


class Checker:
    """Judges answer sentences against one turn's question and passages."""

    def __init__(self, embedder: Embedder | None, detector: LanguageDetector,
                 scale: tuple[float, float], question: str, language: str,
                 passages: list[str], known_names: set[str] = frozenset(),
                 same_language: bool = False):
        self.embedder, self.detector = embedder, detector
        self.floor, self.span = scale
        self.question, self.language = question, language
        self.passages = passages
        joined = "\n".join(passages)
        self._numbers = numbers(joined) | numbers(question)
        self._known = {n.casefold() for n in known_names if n}
        self._names = names(joined) | self._known
        self._same_language = same_language
        self._joined = joined.casefold()
        self._vectors: np.ndarray | None = None
        self._verdicts: dict[str, SentenceCheck] = {}

    def problem(self, text: str) -> str:
        """Why this sentence of an answer may not be sent, or "" (for a streamed answer)."""
        verdict = self.sentence(text)
        return f"{verdict.problem}: «{verdict.text[:120]}»" if verdict.problem else ""

    def sentence(self, text: str) -> SentenceCheck:
        """The verdict on one sentence of the answer."""
        text = text.strip()
        if text not in self._verdicts:
            self._verdicts[text] = self._judge(text)
        return self._verdicts[text]

    def _judge(self, text: str) -> SentenceCheck:
        repeated = echo(text, self.question)
        problem = self._fact_problem(text) or self._language_problem(text)
        if letters(text) < MIN_JUDGED_LETTERS:
            return SentenceCheck(text, None, repeated, problem)
        # "To reset your password, follow these steps:" repeats the question to lead in to
        # the answer, and an FAQ's own question copied above its answer is a heading: neither
        # is a claim.
        lead_in = text.rstrip().endswith((":", "：", "?", "？"))
        if not problem and repeated >= ECHO_AT and not lead_in:
            problem = "restated: it repeats the question"
        support, source = self._nearest([text])[0] if self.embedder else (None, None)
        if not problem and support is not None and support < SUPPORTED_AT:
            problem = f"unsupported: no passage says it ({support:.2f})"
        return SentenceCheck(text, support, repeated, problem,
                             source if repeated < ECHO_AT else None)

    def support(self, sentences: list[str]) -> list[float]:
        """Each sentence's best similarity to a passage sentence, on the relevance scale."""
        return [score for score, _ in self._nearest(sentences)]

    def _nearest(self, sentences: list[str]) -> list[tuple[float, int]]:
        """Each sentence's best similarity (relevance scale) and the passage that gives it."""
        if self._vectors is None:
            parts = [sentence_vectors(self.embedder, p) for p in self.passages]
            self._owners = np.repeat(np.arange(len(parts)), [len(v) for v in parts])
            self._vectors = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
        if not len(self._vectors):
            return [(0.0, -1)] * len(sentences)
        similarity = self.embedder.embed_queries(sentences) @ self._vectors.T
        best = similarity.argmax(axis=1)
        return [(float((similarity[i, j] - self.floor) / self.span), int(self._owners[j]))
                for i, j in enumerate(best)]

    def drawn_on(self) -> int | None:
        """The passage (its index) that most of the answer's passing sentences came from, or
        None: the one to quote when the answer as a whole failed."""
        votes = Counter(s.source for s in self._verdicts.values()
                        if not s.problem and s.source is not None)
        return votes.most_common(1)[0][0] if votes else None

    def answer(self, text: str) -> AnswerCheck:
        """The verdict on a whole answer, sentence by sentence."""
        return AnswerCheck([self.sentence(s) for s in answer_sentences(text)])

    def _fact_problem(self, text: str) -> str:
        for number in sorted(numbers(text) - self._numbers):
            return f"fact: the number {number} is in no passage"
        for name in sorted(names(text) - self._names):
            if name not in self._joined:
                return f"fact: the name {name} is in no passage"
        if self._same_language and self.language not in CAPITALISED_NOUNS:
            # In the passages' own language a name they never mention (a partner product, a
            # feature) is the answer speaking of something the article does not.
            for word in re.findall(r"(?<=[\w,;:] )[A-Z][\w-]+", text):
                if word.casefold() not in self._joined:
                    return f"fact: the name {word} is in no passage"
        found = unknown_contact(text, self.passages)
        return f"fact: {found}" if found else ""

    def _language_problem(self, text: str) -> str:
        sample = re.sub(r"`[^`]*`?|\[\d+\]", " ", without_links(text))
        # Names the knowledge uses (Tor Browser, F-Droid) are no word of any language.
        sample = self.detector.strip_untranslated(sample)
        for name in names(sample) | self._known:
            sample = re.sub(re.escape(name), " ", sample, flags=re.IGNORECASE)
        if letters(sample) < LANGUAGE_LETTERS:
            return ""
        # Product names and menu labels often stay in Latin letters inside a Chinese or
        # Russian sentence: the language's own script, not langdetect, decides there.
        scripts = script_letters(sample)
        own = _SCRIPT_OF.get(self.language)
        if own:
            if scripts.get(own, 0) >= OWN_SCRIPT_SHARE * sum(scripts.values()):
                return ""
            return f"language: not written in {self.language}'s script"
        if sum(n for script, n in scripts.items() if script != "latin") > scripts.get("latin", 0):
            return "language: not written in Latin letters"
        probs = self.detector.probabilities(sample)
        other = max(probs, key=probs.get) if probs else None
        # Half in another language ("…, da Google Play is proprietary software") splits
        # langdetect's vote: another language ahead of the customer's is enough.
        if other and other != self.language and probs[other] >= MIXED_AT \
                and probs.get(self.language, 0.0) < MIXED_AT:
            return f"language: written in {other}"
        return ""


def answer_sentences(text: str) -> list[str]:
    """An answer cut into the sentences and lines that are judged one by one."""
    # A full stop followed by a lower-case letter ends an abbreviation ("i.e. the"), not
    # a sentence; a step's number ("1.") stays with its step.
    parts = re.split(r"(?<=[.!?])\s+(?![a-z])|(?<=[。！？])|\n+", unwrapped(text))
    out: list[str] = []
    for part in (p.strip() for p in parts):
        if out and re.fullmatch(r"\d+[.)]", out[-1]):
            out[-1] = f"{out[-1]} {part}"
        elif part:
            out.append(part)
    return [p for p in out if any(c.isalnum() for c in p)]


#: a line that starts something of its own: a list item, a heading, a quote, a table row
_OWN_LINE = re.compile(r"\s*(?:[-*+•]\s|\d+[.)]\s|#|>|\|)")


def unwrapped(text: str) -> str:
    """Text with the line breaks inside its paragraphs taken out: many articles are wrapped
    at 80 columns, and a sentence cut at a line's end is no sentence."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        if out and out[-1].strip() and line.strip() and not _OWN_LINE.match(line) \
                and not out[-1].rstrip().endswith((":", "：")):
            out[-1] = f"{out[-1].rstrip()} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out)


@lru_cache(maxsize=256)
def _passage_sentence_texts(passage: str) -> tuple[str, ...]:
    return tuple(answer_sentences(passage))


_VECTOR_CACHE: dict[tuple[int, str], np.ndarray] = {}


def sentence_vectors(embedder: Embedder, passage: str) -> np.ndarray:
    """A passage's sentence vectors, embedded once per passage text and kept for the next
    answers from it (a follow-up usually draws on the same passages)."""
    key = (id(embedder), passage)
    vectors = _VECTOR_CACHE.get(key)
    if vectors is None:
        texts = list(_passage_sentence_texts(passage))
        vectors = embedder.embed_queries(texts) if texts else \
            np.zeros((0, embedder.dim), np.float32)
        if len(_VECTOR_CACHE) > 512:
            _VECTOR_CACHE.pop(next(iter(_VECTOR_CACHE)))
        _VECTOR_CACHE[key] = vectors
    return vectors
