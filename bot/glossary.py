"""What language detection leaves out of a message: what is written in no language of its own.

A customer writes "Warum ist F-Droid nicht auf Google Play?" or "我应该在 Tor Browser 中安装新的
扩展程序吗？": the product's and other names, code, links, file names and quoted error messages
are copied as they are, usually in English, and langdetect counts them as English words. They
are taken out of the text that detection reads, never out of the message itself: retrieval and
the model get every word.

What goes:
- code (fenced and inline), HTML tags, links, e-mail addresses, file names and paths;
- the glossary's terms, case-insensitive and whole words: the configured `glossary`, the
  product's name and the names found in the knowledge's headings (`names_in_headings`);
- words shaped like names or codes: iPhone, HarmonyOS, NFC, TM6 (capitals inside a word,
  two capitals or more, letters with digits);
- quotes in Latin script ("fsck error in packed object"), when what is left can still be
  judged by itself: a question that is all one quote keeps it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from .text import function_words

#: a text needs this many letters and words to be judged by itself (bot/language.py's
#: SHORT_LETTERS and SHORT_WORDS: a quote is only taken out when what is left is judged)
JUDGED_LETTERS = 15
JUDGED_WORDS = 3

_FENCED = re.compile(r"(```|~~~).*?(?:\1|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,300}>")
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# ASCII only around names and paths: a Chinese sentence runs into them without a space.
_PATH = re.compile(r"(?<![A-Za-z0-9_.~-])(?:[A-Za-z]:)?(?:[A-Za-z0-9_.~-]*[/\\])+"
                   r"[A-Za-z0-9_.~-]+[/\\]?")
_FILE = re.compile(r"(?<![A-Za-z0-9_.-])(?P<base>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)"
                   r"\.(?P<ext>[A-Za-z][A-Za-z0-9]{0,4})(?![A-Za-z0-9_])")
#: opening and closing marks of the quotes that can hold a message copied from a screen
_QUOTES = (('"', '"'), ("“", "”"), ("„", "“"), ("„", "”"), ("«", "»"), ("»", "«"),
           ("‹", "›"), ("「", "」"), ("『", "』"), ("”", "”"))
_QUOTED = re.compile("|".join(
    rf"{re.escape(a)}[^{re.escape(a + b)}\n]{{3,300}}{re.escape(b)}" for a, b in _QUOTES)
    # straight single quotes only between non-letters: "don't" and "l'app" are no quotes
    + r"|(?<!\w)'[^'\n]{3,300}'(?!\w)")
#: a word: letters and digits, joined by hyphens or apostrophes
_WORD = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")
#: the same in Latin letters only: Chinese and Japanese run into a name without a space
_LATIN = "0-9A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_LATIN_WORD = re.compile(rf"[{_LATIN}](?:[{_LATIN}'’-]*[{_LATIN}])?")
#: letters of another script than Latin
_OTHER_SCRIPT = re.compile(rf"[^\W\d_{_LATIN}]+")
_SPACES = re.compile(r"\s+")


def strip_untranslated(text: str, glossary: "Glossary | None" = None) -> str:
    """`text` without what is written in no language (see the module's doc), for language
    detection only; the text itself when nothing with letters would be left."""
    stripped = strip_code_and_addresses(text)
    if glossary is not None:
        stripped = glossary.strip(stripped)
    stripped = _without_name_shapes(stripped)
    stripped = _without_quotes(stripped)
    stripped = _SPACES.sub(" ", stripped).strip()
    return stripped if _letters(stripped) else text


def strip_code_and_addresses(text: str) -> str:
    """`text` without code, HTML tags, links, e-mail addresses, file names and paths."""
    for pattern in (_FENCED, _INLINE_CODE, _TAG, _URL, _EMAIL, _PATH):
        text = pattern.sub(" ", text)
    return _FILE.sub(_file_name_or_abbreviation, text)


def _file_name_or_abbreviation(match: re.Match) -> str:
    # "z.B", "e.g", "i.e" are abbreviations of the message's own language, not file names
    if len(match.group("base")) == 1 and len(match.group("ext")) == 1:
        return match.group()
    return " "


def _without_name_shapes(text: str) -> str:
    # A message in capitals throughout is shouted, not a list of acronyms.
    if not any(ch.islower() for ch in text):
        return text
    return _LATIN_WORD.sub(lambda m: " " if looks_like_a_name(m.group()) else m.group(), text)


def looks_like_a_name(word: str) -> bool:
    """Shaped like a name or a code whatever the language around it: a capital after a
    small letter (iPhone, HarmonyOS, WiFi), two capitals or more (NFC, APKs, F-DROID), a
    single capital joined by a hyphen (F-Droid), or letters with digits (TM6, KB-2)."""
    letters = [ch for ch in word if ch.isalpha()]
    if not letters or not all(_is_latin(ch) for ch in letters):
        return False
    if re.match(r"^[A-Z]-[A-Z]", word) or any(ch.isdigit() for ch in word):
        return True
    # by the parts between hyphens: "Zwei-Faktor-Authentifizierung" is German
    for part in re.split(r"[-'’]", word):
        capitals = sum(ch.isupper() for ch in part)
        if capitals >= 2 and (len(part) > 2 or capitals == len(part)):
            return True
        if any(a.islower() and b.isupper() for a, b in zip(part, part[1:])):
            return True
    return False


def _without_quotes(text: str) -> str:
    def replace(match: re.Match) -> str:
        inner = match.group()[1:-1]
        # one word is a title or a button's label, in the message's language as often as not
        if not _mostly_latin(inner) or len(_WORD.findall(inner)) < 2:
            return match.group()
        rest = text[:match.start()] + " " + text[match.end():]
        return " " if _judged_alone(rest) else match.group()

    return _QUOTED.sub(replace, text)


def _judged_alone(text: str) -> bool:
    """Whether detection can tell `text`'s language by itself: enough Latin letters and
    words, or a few letters of another script (Chinese says much in two characters)."""
    letters = [ch for ch in text if ch.isalpha()]
    if sum(not _is_latin(ch) for ch in letters) >= 2:
        return True
    return len(letters) >= JUDGED_LETTERS and len(_WORD.findall(text)) >= JUDGED_WORDS


def _mostly_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(_is_latin(ch) for ch in letters) >= 0.8 * len(letters)


def _is_latin(ch: str) -> bool:
    return ord(ch) < 0x250 or 0x1E00 <= ord(ch) <= 0x1EFF


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


class Glossary:
    """Terms that detection skips: names and words that stay as they are in every language."""

    def __init__(self, terms: Iterable[str] = ()):
        self.terms = tuple(sorted({t.strip() for t in terms if t and t.strip()},
                                  key=lambda t: (-len(t), t.casefold())))
        self._pattern = _terms_pattern(self.terms)

    def __contains__(self, term: str) -> bool:
        return term.strip().casefold() in {t.casefold() for t in self.terms}

    def __len__(self) -> int:
        return len(self.terms)

    def strip(self, text: str) -> str:
        """`text` without the glossary's terms."""
        return self._pattern.sub(" ", text) if self._pattern else text


def _terms_pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    if not terms:
        return None
    # Whole words against Latin letters only: Chinese and Japanese write a name against their
    # own characters ("在Tor Browser中"). Longest first, so "Kettlebird Plus" beats
    # "Kettlebird"; any run of spaces matches a space.
    # A suffix after an apostrophe goes with the name: Turkish "Google Play'de", "F-Droid's".
    edge = _LATIN
    body = "|".join(r"\s+".join(re.escape(part) for part in term.split()) for term in terms)
    return re.compile(rf"(?<![{edge}])(?:{body})(?:['’][{edge}]+)?(?![{edge}])",
                      re.IGNORECASE)


# -- names in the knowledge's headings ----------------------------------------------------------

#: languages whose common nouns are capitalised: a capital there says nothing of a name
_NOUNS_CAPITALISED = {"de", "lb"}
#: what ends a sentence or a title's part within a heading: the word after it is capitalised
#: anyway ("F-Droid FAQ - Client", "Konto: Passwort")
_SENTENCE_BREAK = re.compile(r"[.!?:;|(){}\[\]\"“”„«»‹›]|\s[-–—]\s")


def names_in_headings(headings: dict[str, Iterable[str]],
                      languages: Iterable[str] = ()) -> set[str]:
    """The names that the knowledge's headings (by language) use, for the glossary.

    Headings are sentences in their language ("Why isn't F-Droid on Google Play?"), so what is
    taken is names only: words shaped like names (F-Droid, NFC, iPhone); runs of capitalised
    words inside a sentence where capitals mark names (Google Play, Tor Browser, Android Beam:
    not in German, whose nouns are capitalised); and capitalised words that appear unchanged
    in the headings of two languages or more (Kettlebird Plus in English and German). A lone
    capitalised word that is a function word of a configured language ("Plus" is French for
    "more") is left: the languages' own words must stay in what detection reads.
    """
    functions = {w.casefold() for lang in {*languages, *headings}
                 for w in function_words(lang)}
    found: dict[str, set[str]] = {}  # candidate → languages whose headings have it
    lone: set[str] = set()
    for language, texts in headings.items():
        for heading in texts:
            for name, alone in _candidates(heading, language):
                found.setdefault(name, set()).add(language)
                if alone:
                    lone.add(name)
    names = set()
    for name, where in found.items():
        strong = any(looks_like_a_name(word) for word in name.split())
        if strong or name in lone or len(where) >= 2:
            if " " in name or strong or name.casefold() not in functions:
                names.add(name)
    return names


def _candidates(heading: str, language: str) -> list[tuple[str, bool]]:
    """(run of capitalised words, whether the capitals alone make it a name) in a heading.

    A heading's first word is capitalised anyway, unless the heading is in another script
    ("Kettlebird Plusを解約する"); a title written In Capitals Throughout gives its
    name-shaped words only."""
    out: list[tuple[str, bool]] = []
    heading = strip_code_and_addresses(unicodedata.normalize("NFC", heading))
    latin = _mostly_latin(heading)
    # capitals mark names only where nouns go in small letters, and not in a title
    alone = language not in _NOUNS_CAPITALISED and not _in_title_case(heading)
    for part in _SENTENCE_BREAK.split(heading):
        for stretch in _OTHER_SCRIPT.split(part):
            words = _LATIN_WORD.findall(stretch)
            run: list[str] = []
            for i, word in enumerate(words + [""]):
                if word and _capitalised(word) and (i > 0 or not latin
                                                    or looks_like_a_name(word)):
                    run.append(word)
                    continue
                if run:
                    out.append((" ".join(run), alone))
                    # its parts of two words or more ("Google Play Store": "Google Play")
                    # too; a word alone, where another language's headings have it too
                    # ("Das Abo Kettlebird Plus", "Cancel Kettlebird Plus")
                    out.extend((" ".join(run[i:j]), alone and j - i > 1)
                               for i in range(len(run))
                               for j in range(i + 1, min(len(run), i + 4) + 1))
                    out.extend((w, True) for w in run if looks_like_a_name(w))
                    run = []
            if words and looks_like_a_name(words[0]):
                out.append((words[0], True))
    return [(name, alone) for name, alone in out if name.casefold() != "i"]


def _capitalised(word: str) -> bool:
    return word[:1].isupper() or looks_like_a_name(word)


def _in_title_case(heading: str) -> bool:
    """"Reset Your Password In Three Steps": every longer word capitalised."""
    longer = [w for w in _LATIN_WORD.findall(heading) if len(w) >= 4]
    return len(longer) >= 2 and all(w[:1].isupper() for w in longer)
