"""Knowledge files, read safely and parsed into passages: Markdown split at its headings, plain
text, and YAML FAQs, each in a language from its front matter, its name or its text."""

from __future__ import annotations

import os
import re
import stat as stat_mode
from pathlib import Path
from typing import Iterable

import yaml

from ..language import LanguageDetector
from ..text import clean, split_message
from .types import Passage

SUFFIXES = (".md", ".markdown", ".txt", ".yaml", ".yml")
#: the largest knowledge file read (knowledge.max_file_mb): a help article is a few kB
MAX_FILE_BYTES = 5 * 1024 * 1024
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


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


def parse_markdown(body: str, default_title: str, limit: int) -> list[tuple[str, str, str]]:
    """(title, heading, text) for each chunk of a Markdown document, split at headings."""
    title = default_title
    sections: list[tuple[str, list[str]]] = []
    heading, lines, in_fence = "", [], False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            if lines:
                sections.append((heading, lines))
            level, heading = len(match.group(1)), match.group(2).strip()
            if level == 1 and title == default_title:
                title = heading
            lines = []
        else:
            lines.append(line)
    if lines:
        sections.append((heading, lines))
    out = []
    for heading, section_lines in sections:
        for chunk in split_message("\n".join(section_lines), limit):
            out.append((title, heading or title, chunk))
    return out


def parse_faq(data: object) -> tuple[str | None, list[tuple[str, str]]]:
    """The language (if given) and the question/answer pairs of a YAML FAQ file."""
    language = None
    entries = data
    if isinstance(data, dict):
        language = data.get("language")
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
    return language, pairs


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
    stem = name.split(".")[0]
    default_title = stem.replace("-", " ").replace("_", " ").strip().capitalize()
    suffix = os.path.splitext(name)[1].lower()
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ParseError(f"not valid YAML: {exc}") from None
        meta_language, pairs = parse_faq(data)
        chunks = [(default_title, q, f"{q}\n{a}") for q, a in pairs]
    else:
        meta, body = split_front_matter(text)
        meta_language = meta.get("language") or meta.get("lang")
        if isinstance(meta.get("title"), str):
            default_title = meta["title"].strip()
        if suffix == ".txt":
            chunks = [(default_title, default_title, chunk)
                      for chunk in split_message(body, chunk_chars)]
        else:
            chunks = parse_markdown(body, default_title, chunk_chars)
    if meta_language is not None and (not isinstance(meta_language, str)
                                      or meta_language.lower() not in detector.languages):
        raise ParseError(f"language {meta_language!r} is not one of the configured languages")
    language = ((meta_language or "").lower() or language_from_name(name, detector.languages)
                or detector.detect_document("\n".join(c[2] for c in chunks))
                or detector.default_language)
    return [Passage(relpath, title, heading, language, chunk) for title, heading, chunk in chunks]
