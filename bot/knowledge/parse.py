"""Knowledge files, read safely and parsed into passages: Markdown split at its headings, plain
text, and YAML FAQs, each in a language from its front matter, its name or its text.

A file's title comes from its front matter, else its first level-1 heading, else the heading
it opens with, else its first sentence: never from its name. Titles and headings are what
customers read in citations and what the model reads above each passage; a name such as
`tbb-29.md` reached them as "Tbb 29"."""

from __future__ import annotations

import os
import re
import stat as stat_mode
from pathlib import Path
from typing import Iterable

import yaml

from ..language import LanguageDetector
from ..text import clean, has_words, split_message, without_links
from .types import Passage

SUFFIXES = (".md", ".markdown", ".txt", ".yaml", ".yml")
#: the largest knowledge file read (knowledge.max_file_mb): a help article is a few kB
MAX_FILE_BYTES = 5 * 1024 * 1024
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
#: the longest title taken from a file's first sentence: a citation's length, not a paragraph's
TITLE_CHARS = 80
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_QUOTE = re.compile(r"^(\s*>)+")
#: a line that is a paragraph of its own: a list item or a table row (after any quote marks)
_ITEM = re.compile(r"^\s*([-*+]\s+(\[[ xX]\]\s+)?|\d{1,3}[.)]\s+|\|)")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])?")
_TAG = re.compile(r"</?[A-Za-z][^>]*>|<(?:https?|mailto):[^>]*>")
#: emphasis and code marks at a word's edge (snake_case keeps its underscores)
_EMPHASIS = re.compile(r"(?<!\w)[*_~`]+|[*_~`]+(?!\w)")
#: a sentence ends at . ! ? (and the Arabic and Devanagari ones) before a space and a word
#: that is not lower case ("e.g. the app" goes on), or at a CJK full stop
_SENTENCE_END = re.compile(r"[.!?\u061f\u0964]\s+|[\u3002\uff01\uff1f]")


class ParseError(Exception):
    """A knowledge file that cannot be read; the message says what is wrong."""


class Refused(ParseError):
    """A file in the knowledge folder that babeldesk never reads: a link that leads outside
    the folder, a FIFO, device or socket, or a file over the size limit."""


def read_knowledge_file(folder: Path, path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path`, a regular file whose real path lies inside `folder` (after every
    symbolic link), of at most `limit` bytes; Refused otherwise.

    Opened without blocking and checked on the open descriptor, so a FIFO (whose read would
    wait forever for a writer) or a file swapped for a link after the folder was listed is
    refused, not read.
    """
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise Refused(f"a link to {real}, outside the knowledge folder: never read")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(real, flags)
    try:
        info = os.fstat(fd)
        if not stat_mode.S_ISREG(info.st_mode):
            raise Refused("not a regular file (a FIFO, device or socket): never read")
        if info.st_size > limit:
            raise Refused(f"{info.st_size:,} bytes, more than knowledge.max_file_mb allows "
                          f"({limit:,} bytes)")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while being read
            raise Refused(f"more than knowledge.max_file_mb allows ({limit:,} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def split_front_matter(text: str) -> tuple[dict, str]:
    """YAML front matter between `---` lines at the top, and the rest of the text."""
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            try:
                meta = yaml.safe_load("\n".join(lines[1:i])) or {}
            except yaml.YAMLError as exc:
                raise ParseError(f"front matter is not valid YAML: {exc}") from None
            if not isinstance(meta, dict):
                raise ParseError("front matter must be a mapping of keys to values")
            return meta, "\n".join(lines[i + 1:])
    raise ParseError("front matter starts with --- but never ends")


def plain_line(line: str) -> str:
    """A line of Markdown as a person reads it: without heading, quote and list marks,
    emphasis, links' addresses (their text stays), HTML tags or web addresses."""
    line = _QUOTE.sub("", line)
    heading = _HEADING.match(line.strip())
    line = heading.group(2) if heading else _ITEM.sub("", line)
    line = _IMAGE_OR_LINK.sub(lambda m: m.group(1), line)
    line = without_links(_TAG.sub(" ", line))
    line = _EMPHASIS.sub("", line.replace("|", " "))
    return " ".join(line.split())


def paragraphs(body: str) -> Iterable[tuple[str, bool]]:
    """The plain text of a document's paragraphs, in order, each with whether it is a heading.
    A heading, a list item and a table row each stand alone; code blocks and HTML comments are
    left out, and a line without words (a rule, a heading's underline) ends a paragraph."""
    current: list[str] = []
    in_fence = False
    for line in _COMMENT.sub("", body).split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        text = "" if in_fence else plain_line(line)
        unquoted = _QUOTE.sub("", line)
        heading = bool(_HEADING.match(line))  # as parse_markdown splits
        if heading or not has_words(text) or _HEADING.match(unquoted.strip()) \
                or _ITEM.match(unquoted):
            if current:
                yield " ".join(current), False
            current = []
            if heading:
                yield text, True
            elif has_words(text):
                current = [text]
        else:
            current.append(text)
    if current:
        yield " ".join(current), False


def title_from_body(body: str) -> tuple[str, bool]:
    """The title of a document that gives none: the heading it opens with, else its first
    sentence with words, as plain text of at most TITLE_CHARS characters (cut at a word); and
    whether it was taken from the text (a sentence, not a heading)."""
    for paragraph, heading in paragraphs(body):
        if heading:
            return _shorten(paragraph), False
        for sentence in _sentences(paragraph):
            if has_words(sentence):
                return _shorten(sentence.rstrip(" .,:;\u3002")), True
    return "", True


def _sentences(paragraph: str) -> list[str]:
    out, start = [], 0
    for end in _SENTENCE_END.finditer(paragraph):
        following = paragraph[end.end():end.end() + 1]
        if following.islower():
            continue  # "e.g. the app", "approx. five minutes": the sentence goes on
        out.append(paragraph[start:end.end()].strip())
        start = end.end()
    out.append(paragraph[start:].strip())
    return out


def _shorten(text: str) -> str:
    """`text` in at most TITLE_CHARS characters: cut after a word, with an ellipsis."""
    if len(text) <= TITLE_CHARS:
        return text
    cut = text.rfind(" ", 0, TITLE_CHARS + 1)
    while cut > TITLE_CHARS // 2 and len(_before(text, cut)) >= TITLE_CHARS:
        cut = text.rfind(" ", 0, cut)
    if cut <= TITLE_CHARS // 2:  # Chinese, Japanese or Thai: no spaces between words
        cut = TITLE_CHARS - 1
    return _before(text, cut) + "\u2026"


def _before(text: str, cut: int) -> str:
    return text[:cut].rstrip(" ,:;-\u2013\u2014")


def parse_markdown(body: str, title: str, limit: int
                   ) -> tuple[list[tuple[str, str, str]], bool]:
    """(title, heading, text) for each chunk of a Markdown document, split at headings, and
    whether the title was taken from the text. The title is `title` (the front matter's) if
    given, else the first level-1 heading, else `title_from_body`'s; a chunk before any
    heading has the title as its heading."""
    sections: list[tuple[str, list[str]]] = []
    heading, lines, in_fence, first_heading = "", [], False, ""
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            if lines:
                sections.append((heading, lines))
            level, heading = len(match.group(1)), match.group(2).strip()
            if level == 1 and not first_heading:
                first_heading = heading
            lines = []
        else:
            lines.append(line)
    if lines:
        sections.append((heading, lines))
    from_text = False
    title = title or first_heading
    if not title:
        title, from_text = title_from_body(body)
    out = []
    for heading, section_lines in sections:
        for chunk in split_message("\n".join(section_lines), limit):
            out.append((title, heading or title, chunk))
    return out, from_text


def parse_faq(data: object) -> tuple[str | None, str, list[tuple[str, str]]]:
    """The language and title (if given) and the question/answer pairs of a YAML FAQ file."""
    language, title = None, ""
    entries = data
    if isinstance(data, dict):
        language = data.get("language")
        title = given_title(data)
        entries = data.get("faq", data.get("entries", data.get("questions")))
    if not isinstance(entries, list):
        raise ParseError("a FAQ file must be a list of entries with question and answer "
                         "(or a mapping with language and faq)")
    pairs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ParseError(f"entry {i + 1} is not a mapping with question and answer")
        q, a = entry.get("question", entry.get("q")), entry.get("answer", entry.get("a"))
        if not isinstance(q, str) or not q.strip():
            raise ParseError(f"entry {i + 1} has no question")
        if not isinstance(a, (str, int, float)) or not str(a).strip():
            raise ParseError(f"entry {i + 1} ({q.strip()[:40]!r}) has no answer")
        pairs.append((q.strip(), str(a).strip()))
    return language, title, pairs


def given_title(meta: dict) -> str:
    """The `title` a file's front matter (or a FAQ's mapping) gives, or ""."""
    title = meta.get("title")
    return " ".join(str(title).split()) if isinstance(title, (str, int, float)) else ""


def language_from_name(name: str, known: Iterable[str]) -> str | None:
    """`refunds.de.md` → de, when de is a known language."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[-2].lower() in known:
        return parts[-2].lower()
    return None


def parse_file(relpath: str, raw: bytes, detector: LanguageDetector,
               chunk_chars: int) -> list[Passage]:
    """The passages of one knowledge file; raises ParseError when it cannot be read."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text (byte {exc.start})") from None
    text = clean(text)
    name = relpath.rsplit("/", 1)[-1]
    suffix = os.path.splitext(name)[1].lower()
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParseError(f"not valid YAML: {exc}") from None
        meta_language, title, pairs = parse_faq(data)
        # Without a title of its own, each entry's question is its title too: the file's
        # first question would label every other answer.
        chunks, from_text = [(title or q, q, f"{q}\n{a}") for q, a in pairs], False
    else:
        meta, body = split_front_matter(text)
        meta_language = meta.get("language") or meta.get("lang")
        title, from_text = given_title(meta), False
        if suffix == ".txt":
            if not title:
                title, from_text = title_from_body(body)
            chunks = [(title, title, chunk) for chunk in split_message(body, chunk_chars)]
        else:
            chunks, from_text = parse_markdown(body, title, chunk_chars)
    if meta_language is not None and (not isinstance(meta_language, str)
                                      or meta_language.lower() not in detector.languages):
        raise ParseError(f"language {meta_language!r} is not one of the configured languages")
    language = ((meta_language or "").lower() or language_from_name(name, detector.languages)
                or detector.detect_document("\n".join(c[2] for c in chunks))
                or detector.default_language)
    return [Passage(relpath, title, heading, language, chunk, from_text)
            for title, heading, chunk in chunks]
