"""Text clean-up shared by the pipeline and the knowledge index."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import stopwordsiso

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff\ufffe]")
_SPACES = re.compile(r"[ \t]+")

#: scripts written without spaces between words: Chinese, Japanese, Korean (whose words are
#: spaced but carry particles), Thai, Lao, Myanmar, Khmer
_CJK_RUN = re.compile(
    r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff"
    r"\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff]+"
)
#: alphabetic words are cut to this length: a stemmer that works the same in every language
STEM_CHARS = 6
#: a decimal digit of another script than ASCII's: Arabic-Indic ٣, Persian ۳, Devanagari ३,
#: Thai ๓, Bengali ৩, fullwidth ３, …
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def clean(text: str | bytes) -> str:
    """Valid, printable text: invalid UTF-8 replaced, control characters removed."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # Lone surrogates from a broken decoder cannot be stored or encoded; replace them.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def normalise_message(text: str | bytes) -> str:
    """The words a person typed, tidied: valid text, one space between words. (Each adapter
    has already turned its platform's markup, such as mentions, into plain text.)"""
    text = clean(text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def without_links(text: str) -> str:
    return _URL.sub(" ", text)


@lru_cache(maxsize=8)
def _name_pattern(name: str) -> re.Pattern:
    # Latin-letter edges: Chinese, Japanese and Thai write the name against their own words.
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(name)}(?![0-9A-Za-z])", re.IGNORECASE)


def has_words(text: str) -> bool:
    """Whether the text has any letters or digits (emoji-only or punctuation-only has none)."""
    return any(ch.isalnum() for ch in text)


def _words(text: str) -> list[str]:
    """Runs of letters, digits and combining marks (Devanagari vowel signs belong to the word)."""
    words, current = [], []
    for ch in text:
        if unicodedata.category(ch)[0] in "LNM":
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _fold(word: str) -> str:
    """Case-fold, and drop accents from Latin, Greek and Cyrillic letters only (é→e, й→и)."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", word.casefold()):
        if unicodedata.combining(ch) and out and ord(out[-1]) < 0x0530:
            continue
        out.append(ch)
    # Decomposing can bring in punctuation ("⑴" → "(1)"): a term is letters, digits and marks
    # only, as the index's tokenizer expects.
    return "".join(ch for ch in unicodedata.normalize("NFC", "".join(out))
                   if unicodedata.category(ch)[0] in "LNM")


def ascii_digits(text: str) -> str:
    """The text with every decimal digit written as an ASCII one ("١٩٩٥" → "1995")."""
    return _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group())), text)


def search_terms(text: str) -> list[str]:
    """The terms a text is indexed and searched by, in order, repeats kept.

    Chinese, Japanese, Korean and Thai (Lao, Myanmar, Khmer) runs become overlapping character
    pairs, since they are written without spaces between words; other words are case- and
    accent-folded and cut to STEM_CHARS. Digits of every script are searched as ASCII digits: an
    Arabic question's "١٩٩٥" finds an English article's "1995".
    """
    text = ascii_digits(text)
    terms: list[str] = []
    pos = 0
    for run in _CJK_RUN.finditer(text):
        terms.extend(_alphabetic_terms(text[pos:run.start()]))
        chars = run.group(0)
        if len(chars) == 1:
            terms.append(chars)
        else:
            terms.extend(chars[i:i + 2] for i in range(len(chars) - 1))
        pos = run.end()
    terms.extend(_alphabetic_terms(text[pos:]))
    return terms


def _alphabetic_terms(text: str) -> list[str]:
    out = []
    for word in _words(text):
        folded = _fold(word)
        if folded:
            out.append(folded[:STEM_CHARS])
    return out


def search_text(text: str) -> str:
    """The text as the index stores it: its search terms separated by spaces."""
    return " ".join(search_terms(text))


@lru_cache(maxsize=64)
def function_words(language: str | None) -> tuple[str, ...]:
    """A language's function words ("the", "de", "する"), sorted; empty when stopwords-iso has
    no list for it.

    Phrases in the list are left out: their words are not function words alone. Vietnamese
    lists 379 phrases ("bắt đầu từ", "nhân tiện", "dần dần", "thời gian"); taking their
    syllables made 161 more terms function words, among them those of "đầu", "tiện", "dần"
    and "gian" (accents are folded away, so "đầu" is also "đâu").
    """
    if not language or not stopwordsiso.has_lang(language):
        return ()
    return tuple(sorted({w.strip() for w in stopwordsiso.stopwords(language)
                         if w.strip() and not any(ch.isspace() for ch in w.strip())}))


@lru_cache(maxsize=64)
def stop_terms(language: str | None) -> frozenset[str]:
    """The search terms of a language's function words."""
    return frozenset(t for word in function_words(language) for t in search_terms(word))


# --- splitting long text for chat limits and for passages ----------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")


#: shorter sentences (a heading, "Yes.") join the next: alone they mean little
MIN_SENTENCE_CHARS = 40


def sentences(text: str) -> list[str]:
    """A passage cut into its sentences and lines, short ones joined to the next."""
    out, pending = [], ""
    for line in text.split("\n"):
        for part in _SENTENCE_END.split(line):
            part = part.strip()
            if not part:
                continue
            pending = f"{pending} {part}" if pending else part
            if len(pending) >= MIN_SENTENCE_CHARS:
                out.append(pending)
                pending = ""
    if pending:
        if out:
            out[-1] = f"{out[-1]} {pending}"
        else:
            out.append(pending)
    return out


def blocks(text: str) -> list[str]:
    """Blank-line separated paragraphs; a fenced code block stays one block, blank lines and
    all."""
    out, current, in_fence = [], [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence:
            if current:
                out.append("\n".join(current).strip("\n"))
                current = []
        else:
            current.append(line)
    if current:
        out.append("\n".join(current).strip("\n"))
    return [b for b in out if b.strip()]


def split_message(text: str, limit: int) -> list[str]:
    """Text cut into pieces of at most `limit` characters: between paragraphs where possible,
    else between sentences, else between words; a code block that must be cut is closed and
    reopened, so every piece renders on its own."""
    chunks: list[str] = []
    current = ""
    for block in blocks(text):
        for piece in _fit(block, limit):
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _fit(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    lines = block.split("\n")
    if _FENCE.match(lines[0]):
        opening = lines[0].strip()
        closing = opening[:3]
        body = lines[1:-1] if len(lines) > 1 and _FENCE.match(lines[-1]) else lines[1:]
        room = limit - len(opening) - len(closing) - 2
        return [f"{opening}\n{piece}\n{closing}" for piece in _pack(body, room, "\n")]
    return _pack([s for s in _SENTENCE_END.split(block) if s], limit, " ")


def _pack(parts: list[str], limit: int, sep: str) -> list[str]:
    """Join parts with `sep` into pieces of at most `limit`; an oversized part is cut at
    spaces, and a single oversized word at the limit."""
    pieces: list[str] = []
    for part in parts:
        while len(part) > limit:
            cut = part.rfind(" ", 0, limit + 1)
            cut = cut if cut > limit // 2 else limit
            pieces.append(part[:cut].rstrip())
            part = part[cut:].lstrip()
        pieces.append(part)
    out: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}{sep}{piece}" if current else piece
        if len(joined) <= limit:
            current = joined
        else:
            out.append(current)
            current = piece
    if current:
        out.append(current)
    return out
