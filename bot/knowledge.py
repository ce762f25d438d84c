"""The knowledge folder: parsed into passages, indexed with SQLite FTS5 and multilingual
embeddings, kept in step with edits.

A support team edits Markdown, text and FAQ files; babeldesk notices within a second or two and
serves the new content with no restart. Only files whose content changed are parsed again, and
only passages whose text changed are embedded again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import sqlite3
import stat as stat_mode
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import sqlite_utils
import yaml

from .config import E5_RELEVANCE
from .crossterms import dictionary, english_terms
from .embeddings import BATCH, Embedder
from .language import LanguageDetector
from .screen import Finding, screen_passage
from .text import (SYLLABIC, ascii_digits, clean, function_words, search_terms, search_text,
                   sentences, split_message, stop_terms, syllable_pairs, without_name)

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".markdown", ".txt", ".yaml", ".yml")
#: the largest knowledge file read (knowledge.max_file_mb): a help article is a few kB
MAX_FILE_BYTES = 5 * 1024 * 1024
#: seconds one file may take to read before /healthz calls the knowledge stale
STUCK_SECONDS = 30.0
#: seconds between a background embedding's progress lines (or a tenth of the way, if sooner)
PROGRESS_SECONDS = 10.0
#: bumped when parsing or the search terms change, so that an old index is rebuilt
INDEX_VERSION = "8"
#: candidates read from FTS5 before relevance is weighed
CANDIDATES = 40
#: BM25's parameters, as FTS5 has them
BM25_K1, BM25_B = 1.2, 0.75
#: about how many passages the candidate query may match (see `_match_terms`)
MATCH_ROWS = 20000
MIN_MATCH_TERMS = 2
#: how much a function word counts towards relevance, against 1 for a topic word
STOP_WEIGHT = 0.15
#: the share of passages a term the knowledge never uses is weighed as if it appeared in
UNSEEN_SHARE = 0.1
#: weight, in ranking only, of the question's terms found in a passage's title and heading
HEADING_BOOST = 1.0
#: weight, in ranking only, of FTS5's BM25 score relative to the best candidate's
BM25_WEIGHT = 1.0
#: candidates read from the embeddings (from each model's) before the lists are fused
DENSE_CANDIDATES = 40
#: bumped when the sentence splitting changes, so that sentence vectors are recomputed
SENTENCES_VERSION = "1"
#: the second model's weight in the dense order, against 1 for the passage and 1 for its
#: nearest sentence. On XQuAD (300 questions per language, against English paragraphs,
#: embeddings alone, hit@3): passage alone ar 0.793, zh 0.847, th 0.907, tr 0.907; with the
#: nearest sentence 0.827 / 0.870 / 0.933 / 0.917; with the second model at 0.7: 0.887 /
#: 0.940 / 0.960 / 0.957; at 1.0: 0.883 / 0.950 / 0.957 / 0.950.
SECOND_WEIGHT = 0.8
#: the nearest sentence's weight, against 1 for the passage itself
SENTENCE_WEIGHT = 1.0
#: weight of a third list, for a Chinese question: the English passages found by its words'
#: CC-CEDICT translations (crossterms.py), by BM25, each counted by the square of the share of
#: those terms it has. XQuAD, Chinese questions against the English paragraphs, hit@3 on the
#: 1,190: 0.941 → 0.955; weight chosen on the questions of even-numbered paragraphs (0.25:
#: 0.939, 0.5: 0.948, 1: 0.941, 2: 0.921 against 0.928 without), the odd ones 0.955 → 0.963.
CHINESE_WEIGHT = 0.5
#: how far a question's vector is moved away from its language's centre before it is compared
#: with passages in other languages. Multilingual embeddings keep a trace of the language: a
#: Greek question's vector leans towards whatever resembles Greek questions, not towards its
#: answer. The centre is the mean vector of the language's function words (CENTRE_WORDS of
#: stopwords-iso's list, embedded as questions). XQuAD, questions against the English
#: paragraphs, hit@3 on the 1,190, embeddings alone: ar 0.872 → 0.900, el 0.919 → 0.934,
#: th 0.914 → 0.939, vi 0.887 → 0.903; hybrid, as by default: ar 0.916 → 0.924, el 0.913 →
#: 0.929, hi 0.948 → 0.954, th 0.944 → 0.956, tr 0.933 → 0.949, vi 0.885 → 0.903, zh 0.955 →
#: 0.961, ru 0.967 → 0.977, de es ro within 0.002. 0.3 and 0.7 did as well or worse on the
#: questions of even- and of odd-numbered paragraphs alike. Within one language it helped ar
#: and cost vi and zh up to 0.7 points, so passages in the question's own language are
#: compared with the question as it is. Moving the second model's question too changed
#: nothing (ar, th, tr, zh within 0.002).
CENTRE_WEIGHT = 0.5
#: function words embedded for a language's centre: 64 give a vector at cosine 0.998 of the
#: whole list's, in 0.25 s, once per language
CENTRE_WORDS = 64
#: reciprocal rank fusion: a passage scores 1 / (RRF_K + its rank) in each list
RRF_K = 60
#: fused score added to a passage in the question's language (a quarter of a first place):
#: with the same help article in several languages, cite the one the user reads
LANGUAGE_BONUS = 0.25 / (RRF_K + 1)
#: relevance from the embeddings, on the keyword relevance's 0..1 scale: (evidence - floor)
#: / span, so that floor + 0.3 × span meets the default threshold of 0.3. The evidence is the
#: first model's cosine similarity, on its own scale (retrieval.embedding.relevance_floor and
#: relevance_span; multilingual-e5-small's 0.80 and 0.10 in config.E5_RELEVANCE), plus the
#: second model's where it reads both languages, which adds SECOND_FLOOR and SECOND_SPAN:
#: e5 with the USE was fitted at 1.014 and 0.40. Calibrated on the sample knowledge's English
#: articles with 96 answerable questions in 16 languages and 103 it cannot answer in 20
#: (toasters, wattage, weather, Netflix): 64 answerable questions find their section above
#: the threshold and 95 others are declined (with the median-relative similarity used
#: before: 44 and 95; floors 0.04 lower: 70 and 90). With the whole sample knowledge (five
#: languages): 59 of 108 and 85 of 103, against 46 and 79 before. A similarity's lead over
#: the question's median similarity separated the two kinds worse (AUC 0.59) than the plain
#: similarity (0.76) or the two models' sum (0.88). bench/abstention.py measures this
#: through the whole pipeline.
SECOND_FLOOR, SECOND_SPAN = 0.214, 0.30
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _is_kana_particle(term: str) -> bool:
    """A hiragana-only pair ("ます", "には") is grammar in Japanese, not a topic."""
    return all("\u3040" <= ch <= "\u309f" for ch in term)


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


@dataclass(frozen=True)
class Source:
    """Where an answer came from: a knowledge file and the heading in it."""

    path: str
    heading: str
    title: str = ""

    @property
    def label(self) -> str:
        return f"{self.path} › {self.heading}" if self.heading else self.path

    def to_dict(self) -> dict:
        return {"path": self.path, "heading": self.heading, "title": self.title}


@dataclass(frozen=True)
class Passage:
    path: str
    title: str
    heading: str
    language: str
    text: str

    @property
    def source(self) -> Source:
        return Source(self.path, self.heading, self.title)


@dataclass(frozen=True)
class Hit:
    passage: Passage
    #: share of the question's weighted terms found in the passage, 0..1
    relevance: float


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    #: passage texts embedded by this sync
    embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.failed)


# --- parsing -----------------------------------------------------------------------------------

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


def embedding_text(passage: Passage) -> str:
    """What a passage's vector is computed from: its heading says what it is about. Digits
    are ASCII ones, as in questions (see `_dense_candidates`)."""
    if passage.heading and not passage.text.startswith(passage.heading):
        return ascii_digits(f"{passage.heading}\n{passage.text}")
    return ascii_digits(passage.text)


def dense_relevance(similarity: float, second: float | None = None,
                    scale: tuple[float, float] = E5_RELEVANCE) -> float:
    """Embedding similarities on the same 0..1 scale as the keyword relevance: the first
    model's alone, or with the second model's. `scale` is the first model's (floor, span)."""
    floor, span = scale
    if second is None:
        score = (similarity - floor) / span
    else:
        score = (similarity + second - floor - SECOND_FLOOR) / (span + SECOND_SPAN)
    return min(1.0, max(0.0, score))


# --- the index ---------------------------------------------------------------------------------

class VectorTable:
    """Passage vectors in RAM for exact search. Rows are reused in place and the arrays grow
    by doubling, so adding or removing a file's passages costs what it changes: copying the
    whole table per edit took 1.8 s at 112k passages."""

    def __init__(self, dim: int, second_dim: int | None):
        self.ids = np.zeros(0, np.int64)
        self.matrix = np.zeros((0, dim), np.float32)
        self.second = None if second_dim is None else np.zeros((0, second_dim), np.float32)
        self.used = 0  # rows [0, used) hold passages or holes (id -1)
        self._rows: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def remove(self, ids: Iterable[int]) -> None:
        for pid in ids:
            row = self._rows.pop(int(pid), None)
            if row is not None:
                self.ids[row] = -1
        if self.used - len(self._rows) > max(1024, self.used // 4):
            self._compact()

    def add(self, ids: np.ndarray, vectors: np.ndarray, seconds: np.ndarray | None) -> None:
        fresh = [i for i, pid in enumerate(ids.tolist()) if pid not in self._rows]
        if not fresh:
            return
        need = self.used + len(fresh)
        if need > len(self.ids):
            self._resize(max(need, 2 * len(self.ids), 64))
        rows = slice(self.used, need)
        self.ids[rows] = ids[fresh]
        self.matrix[rows] = vectors[fresh]
        if self.second is not None:
            self.second[rows] = seconds[fresh]
        self._rows.update((int(pid), row) for row, pid in enumerate(ids[fresh], self.used))
        self.used = need

    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """ids, vectors, second vectors of the rows in use, and which of them hold a passage
        (None when all do)."""
        ids = self.ids[:self.used]
        live = None if len(self._rows) == self.used else ids >= 0
        return (ids, self.matrix[:self.used],
                None if self.second is None else self.second[:self.used], live)

    def reserve(self, capacity: int) -> None:
        if capacity > len(self.ids):
            self._resize(capacity)

    def _resize(self, capacity: int) -> None:
        def grown(array: np.ndarray) -> np.ndarray:
            out = np.zeros((capacity, *array.shape[1:]), array.dtype)
            out[:self.used] = array[:self.used]
            return out
        self.ids = grown(self.ids)
        self.matrix = grown(self.matrix)
        if self.second is not None:
            self.second = grown(self.second)

    def _compact(self) -> None:
        keep = np.nonzero(self.ids[:self.used] >= 0)[0]
        self.ids = self.ids[keep]
        self.matrix = self.matrix[keep]
        if self.second is not None:
            self.second = self.second[keep]
        self.used = len(keep)
        self._rows = {int(pid): row for row, pid in enumerate(self.ids)}


class KnowledgeBase:
    """The indexed knowledge folder. Safe to use from several threads."""

    def __init__(self, folder: Path, db_path: Path, detector: LanguageDetector,
                 chunk_chars: int = 1200, embedder: Embedder | None = None,
                 embedding_id: str = "", second: Embedder | None = None,
                 by_sentence: bool = False, product: str = "",
                 relevance: tuple[float, float] = E5_RELEVANCE,
                 max_file_bytes: int = MAX_FILE_BYTES):
        self.folder = Path(folder)
        #: knowledge.max_file_mb, in bytes
        self.max_file_bytes = max_file_bytes
        #: the file being read and since when (time.monotonic()), for `stale`
        self._reading: tuple[str, float] | None = None
        self.detector = detector
        self.chunk_chars = chunk_chars
        #: None: keyword search only (retrieval.dense: false)
        self.embedder = embedder
        self.embedding_id = f"{embedding_id}|{embedder.dim}" if embedder else ""
        #: a second model (with `languages` and `identity`) re-ranking the candidates
        self.second = second if embedder else None
        #: sentence vectors beside each passage's (retrieval.embedding.sentences)
        self.by_sentence = bool(by_sentence and embedder)
        #: the product's name, which every article mentions (prompt.product)
        self.product = product
        #: the first model's similarity floor and span (retrieval.embedding.relevance_*)
        self.relevance = relevance
        #: each language's centre (see CENTRE_WEIGHT), None where it has none
        self._centres: dict[str, np.ndarray | None] = {}
        #: the embedded passages' vectors in RAM for exact search; None until first used
        self._dense: VectorTable | None = None
        self.db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db_path), check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.RLock()
        self._stats: dict[str, tuple[int, int]] = {}
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._frequencies: tuple[dict, dict] | None = None
        #: SQLite's count of other connections' commits, last time it was looked at
        self._data_version: int | None = None
        #: digests of passages an edit or a removal took away (their vectors may be unused)
        self._dropped: set[str] = set()
        #: look at every passage for missing vectors at the next sync, not only the changed
        #: files' (at first, after an embedding that failed, and after a sync that found
        #: another embedding under way)
        self._embed_everything = True
        #: held by the one embedding under way: the watcher's sync and the background
        #: embedding must not embed the same passages at once
        self._embedding = threading.Lock()
        #: (done, total) of the embedding under way, or of one that stopped short; None
        #: when the last one finished
        self._progress: tuple[int, int] | None = None
        self._background: threading.Thread | None = None
        with self._lock:
            self._prepare()

    def _prepare(self) -> None:
        db = self.db
        db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
        expected = {"version": INDEX_VERSION, "chunk_chars": str(self.chunk_chars)}
        stored = {row["key"]: row["value"] for row in db["meta"].rows}
        if any(stored.get(k) != v for k, v in expected.items()) and "version" in stored:
            log.info("knowledge index settings changed; rebuilding it")
            # Vectors stay: they depend on the passages' text and the embedding model only.
            for table in ("passages_fts", "passages", "files"):
                db.execute(f"DROP TABLE IF EXISTS [{table}]")
        replaced = self.embedder and stored.get("embedding") != self.embedding_id
        db["vectors"].create({"digest": str, "vector": bytes, "sentences": bytes,
                              "second": bytes}, pk="digest", if_not_exists=True)
        for column in ("sentences", "second"):  # indexes of an earlier babeldesk
            if column not in db["vectors"].columns_dict:
                db["vectors"].add_column(column, bytes)
        if replaced:
            # Vectors of another model (or prefix) are not comparable with this one's; the
            # second model's stay.
            db.execute("UPDATE vectors SET vector = NULL, sentences = NULL")
            expected["embedding"] = self.embedding_id
        # Each kind of vector is recomputed alone when its model changes: switching the
        # second model on does not embed every passage with the first one again.
        wanted = {"sentences": f"{self.embedding_id}|{SENTENCES_VERSION}" if self.by_sentence
                  else "", "second": self.second.identity if self.second else ""}
        for column, identity in wanted.items():
            if identity and stored.get(column) != identity:
                db.execute(f"UPDATE vectors SET [{column}] = NULL")
                expected[column] = identity
        db["meta"].upsert_all([{"key": k, "value": v} for k, v in expected.items()], pk="key")
        db["files"].create({"path": str, "sha256": str, "language": str, "size": int,
                            "mtime_ns": int, "passages": int, "error": str},
                           pk="path", if_not_exists=True)
        if "passages" not in db.table_names():
            db["passages"].create({"id": int, "path": str, "title": str, "heading": str,
                                   "language": str, "position": int, "text": str, "terms": str,
                                   "digest": str}, pk="id")
            db["passages"].create_index(["path"])
            db["passages"].create_index(["digest"])
            # The terms column holds babeldesk's own terms (`search_terms`), separated by
            # spaces: FTS5 must take each as one token. unicode61 split the words of Hindi
            # or Thai at their vowel signs, so their counts and lengths were not the terms'.
            db["passages"].enable_fts(["terms"], create_triggers=True, tokenize="ascii")
        # Where each term occurs, with repeats: BM25 is worked out from it (`_keyword_candidates`).
        db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_instances "
                   "USING fts5vocab(main, passages_fts, 'instance')")
        self._stats = {row["path"]: (row["size"], row["mtime_ns"]) for row in db["files"].rows}
        self._data_version = db.execute("PRAGMA data_version").fetchone()[0]
        self.unreadable: set[str] = set()
        self._reported: set[tuple[str, int]] = set()

    # -- keeping in step with the folder --

    def scan(self) -> dict[str, tuple[int, int]]:
        """Every knowledge file under the folder, as relative path → (size, mtime_ns).

        Folders that cannot be listed are in `self.unreadable` (relative, "" for the knowledge
        folder itself): what was indexed from them is kept, not deleted.
        """
        found = {}
        unreadable: set[str] = set()

        def cannot_list(exc: OSError) -> None:
            rel = os.path.relpath(exc.filename, self.folder).replace(os.sep, "/")
            unreadable.add("" if rel == "." else rel)
            if (rel, exc.errno) not in self._reported:
                self._reported.add((rel, exc.errno))
                log.error("knowledge: cannot read the folder %s: %s; serving what was indexed "
                          "from it before", exc.filename, exc.strerror)

        if not self.folder.is_dir():
            cannot_list(FileNotFoundError(2, "it is missing (is the volume mounted?)",
                                          str(self.folder)))
        for root, dirs, files in os.walk(self.folder, onerror=cannot_list):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                    continue
                path = os.path.join(root, name)
                try:
                    # A link's target's size and time: an edit of the target is noticed.
                    st = os.stat(path)
                except OSError:
                    continue  # deleted between listing and stat, or a dangling link
                rel = os.path.relpath(path, self.folder).replace(os.sep, "/")
                found[rel] = (st.st_size, st.st_mtime_ns)
        if not unreadable:
            self._reported.clear()
        self.unreadable = unreadable
        return found

    def _follow_other_writers(self) -> None:
        """Read again what RAM holds about the index (term counts, passage lengths, vectors,
        files' sizes and times) if another process changed it, e.g. `babeldesk index` run
        beside a serving babeldesk on the same data directory."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        log.info("knowledge: the index was changed by another process; reading it again")
        self._data_version = version
        self._frequencies = None
        self._dense = None
        self._embed_everything = True
        self._stats = {row["path"]: (row["size"], row["mtime_ns"])
                       for row in self.db["files"].rows}

    def _hidden(self, path: str) -> bool:
        """Whether `path` lies in a folder that could not be listed this time."""
        return any(not folder or path.startswith(folder + "/") for folder in self.unreadable)

    def sync(self, full: bool = False,
             progress: Callable[[int, int], None] | None = None,
             embed_progress: Callable[[int, int], None] | None = None,
             embed: bool = True) -> SyncReport:
        """Bring the index in step with the folder.

        `full` reads every file and compares content hashes (at start-up); otherwise only files
        whose size or modification time changed are read. New passages are searchable by their
        words at once, and by meaning once they are embedded, at the end (not with `embed`
        false: then `embed_in_background` or a later sync embeds them). The first sync of a
        KnowledgeBase also embeds what an interrupted one left without vectors.
        """
        report = SyncReport()
        current = self.scan()
        with self._lock:
            self._follow_other_writers()
            known = {row["path"]: row for row in self.db["files"].rows}
            removed = [p for p in known if p not in current and not self._hidden(p)]
            todo = [p for p, stat in sorted(current.items())
                    if full or p not in known or self._stats.get(p) != stat]
            report.unchanged = len(current) - len(todo)
            with self.db.conn:
                for path in removed:
                    self._recount(path, -1)
                    self._forget_vectors(path)
                    self._drop_digests(path)
                    self.db.execute("DELETE FROM passages WHERE path = ?", [path])
                    self.db["files"].delete(path)
                    self._stats.pop(path, None)
                    report.removed.append(path)
        # Files are read and parsed without the lock that every search needs: a slow disk
        # slows the index's updates, never the answers.
        for i, path in enumerate(todo):
            parsed = self._parse(path, known.get(path), self._read(path))
            with self._lock:
                self._sync_file(path, current[path], known.get(path), report, parsed)
            if progress:
                progress(i + 1, len(todo))
        for path in report.removed:
            log.info("knowledge: removed %s", path)
        if not self.embedder:
            return report
        if not embed:
            if report.changed:
                self._embed_everything = True  # the next embedding looks at these files too
        elif report.changed or full or self._embed_everything:
            # After an edit only the edited files' passages can lack vectors: looking at
            # every passage took 0.7 s at 112k passages.
            paths = None if full or self._embed_everything else report.added + report.updated
            if paths is not None and len(paths) > 500:  # a checkout of the whole folder
                paths = None
            report.embedded = self.embed_pending(embed_progress, paths)
        return report

    def _read(self, path: str) -> bytes | Refused | None:
        """The file's bytes; Refused for a file never to be read; None when it cannot be
        read now (deleted meanwhile, no permission)."""
        self._reading = (path, time.monotonic())
        try:
            return read_knowledge_file(self.folder, self.folder / path, self.max_file_bytes)
        except Refused as exc:
            return exc
        except OSError as exc:
            log.warning("knowledge: cannot read %s: %s", self.folder / path,
                        exc.strerror or exc)
            return None
        finally:
            self._reading = None

    def stale(self) -> str:
        """Why the index may lag behind the folder ("" when it does not): a file that has
        been read for more than STUCK_SECONDS (a hung network disk)."""
        reading = self._reading
        if reading and time.monotonic() - reading[1] > STUCK_SECONDS:
            return (f"reading {reading[0]} for {time.monotonic() - reading[1]:.0f} s: "
                    "edits are not being picked up")
        return ""

    def _parse(self, path: str, row: dict | None, raw: bytes | Refused | None
               ) -> tuple[str, list[Passage], str | None] | None:
        """The file's digest, passages and error (None: none), or None when the index has it
        as it is (or it cannot be read now). No lock needed."""
        if raw is None:
            return None
        if isinstance(raw, Refused):
            log.warning("knowledge: skipped %s: %s", self.folder / path, raw)
            return "", [], str(raw)
        digest = hashlib.sha256(raw).hexdigest()
        if row and row["sha256"] == digest:
            return digest, [], None
        try:
            return digest, parse_file(path, raw, self.detector, self.chunk_chars), None
        except ParseError as exc:
            log.warning("knowledge: skipped %s: %s", self.folder / path, exc)
            return digest, [], str(exc)
        except Exception as exc:  # a parser bug must not take the rest of the folder down
            log.exception("knowledge: skipped %s", self.folder / path)
            return digest, [], f"{type(exc).__name__}: {exc}"

    def _sync_file(self, path: str, stat: tuple[int, int], row: dict | None,
                   report: SyncReport, parsed: tuple[str, list[Passage], str | None] | None
                   ) -> None:
        if parsed is None:
            return
        digest, passages, error = parsed
        self._stats[path] = stat
        if row and row["sha256"] == digest and digest and error is None:
            self.db["files"].update(path, {"size": stat[0], "mtime_ns": stat[1]})
            report.unchanged += 1
            return
        if error is not None:
            report.failed[path] = error
        with self.db.conn:
            self._recount(path, -1)
            self._forget_vectors(path)
            self._drop_digests(path)
            self.db.execute("DELETE FROM passages WHERE path = ?", [path])
            self.db["passages"].insert_all(
                {"path": path, "title": p.title, "heading": p.heading, "language": p.language,
                 "position": i, "text": p.text,
                 "terms": search_text(f"{p.heading}\n{p.text}", p.language),
                 "digest": hashlib.sha256(embedding_text(p).encode()).hexdigest()}
                for i, p in enumerate(passages))
            self._recount(path, +1)
            self._load_vectors("p.path = ?", [path])
            self.db["files"].upsert({"path": path, "sha256": digest,
                                     "language": passages[0].language if passages else "",
                                     "size": stat[0], "mtime_ns": stat[1],
                                     "passages": len(passages), "error": error}, pk="path")
        if error is None:
            (report.updated if row else report.added).append(path)
            log.info("knowledge: indexed %s (%d passages, %s)", path, len(passages),
                     passages[0].language if passages else "empty")
            for passage in passages:
                finding = screen_passage(passage.text, passage.language)
                if finding:
                    log.warning("knowledge: %s › %s: %s; answers that repeat it are withheld",
                                path, passage.heading, finding)

    def watch(self, interval: float = 1.0) -> None:
        """Look at the folder every `interval` seconds in a background thread."""
        if self._watcher:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except Exception:
                    log.exception("knowledge: watching %s failed; trying again", self.folder)

        self._watcher = threading.Thread(target=loop, name="babeldesk-knowledge", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop watching and embedding (after the batch under way: what is stored stays, and
        the next start embeds the rest), then close the database."""
        self._stop.set()
        if self._watcher:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._background:
            self._background.join()
            self._background = None
        with self._lock:
            self.db.conn.close()

    # -- embeddings --

    def _drop_digests(self, path: str) -> None:
        self._dropped.update(row[0] for row in self.db.execute(
            "SELECT digest FROM passages WHERE path = ?", [path]))

    def _forget_vectors(self, path: str) -> None:
        """Take a file's passages out of the in-RAM vectors (they are being replaced)."""
        if self._dense is None:
            return
        gone = [row[0] for row in self.db.execute("SELECT id FROM passages WHERE path = ?",
                                                  [path])]
        self._dense.remove(gone)

    def _load_vectors(self, where: str, args: list) -> None:
        """Append to the in-RAM vectors the stored vectors of the passages `where` selects
        (those of a re-parsed file whose text was embedded before, or a batch just embedded);
        passages without a vector wait for `embed_pending`."""
        if self._dense is None:
            return
        self._dense.add(*self._read_vectors(f"({where})", args))

    def _complete(self) -> str:
        """SQL: a passage's vectors are all there (it can be searched by meaning)."""
        return "v.vector IS NOT NULL" + (" AND v.second IS NOT NULL" if self.second else "")

    def _read_vectors(self, where: str, args: list) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray | None]:
        rows = self.db.execute("SELECT p.id, v.vector, v.second FROM passages p JOIN vectors v "
                               f"ON v.digest = p.digest WHERE {self._complete()} AND {where}",
                               args).fetchall()
        ids = np.array([r[0] for r in rows], np.int64)

        def matrix(column: int, dim: int) -> np.ndarray:
            if not rows:
                return np.zeros((0, dim), np.float32)
            blob = b"".join(r[column] for r in rows)
            return np.frombuffer(blob, np.float16).reshape(len(rows), dim).astype(np.float32)

        return (ids, matrix(1, self.embedder.dim),
                matrix(2, self.second.dim) if self.second else None)

    def pending_embeddings(self) -> int:
        """Passages not embedded yet (found by their words only until they are)."""
        with self._lock:
            return self.db.execute(
                "SELECT count(DISTINCT p.digest) FROM passages p LEFT JOIN vectors v "
                f"ON v.digest = p.digest WHERE {self._pending()}").fetchone()[0]

    def _pending(self) -> str:
        """SQL: a passage lacks one of the vectors this configuration uses."""
        missing = ["v.vector IS NULL"] + (["v.sentences IS NULL"] if self.by_sentence else []) \
            + (["v.second IS NULL"] if self.second else [])
        return " OR ".join(missing)

    def embed_pending(self, progress: Callable[[int, int], None] | None = None,
                      paths: list[str] | None = None) -> int:
        """Embed the passages that have no vector yet (only those of `paths`, if given);
        returns how many texts were embedded.

        The model runs outside the lock, so answers keep being served while a large folder is
        embedded; each batch is stored at once, so an interrupted first build resumes. Returns
        0 at once when another embedding is under way: the next sync looks at every passage.
        """
        if not self.embedder:
            return 0
        todo = self._claim(paths)
        if todo is None:
            return 0
        return self._embed_claimed(todo, progress)

    def embed_in_background(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Embed the passages that have no vector yet in a thread, while they are searched
        by their words; `embedding_status` and the log report how far it got."""
        if not self.embedder or (self._background and self._background.is_alive()):
            return
        # Claimed here, not in the thread, so that /healthz shows the total from the start.
        todo = self._claim(None)
        if not todo:
            if todo is not None:
                self._embed_claimed(todo, None)  # nothing to embed: release the claim
            return
        log.info("knowledge: embedding %s passages in the background; until then they are "
                 "found by their words", f"{len(todo):,}")
        logged = _progress_log()

        def report(done: int, total: int) -> None:
            logged(done, total)
            if progress:
                progress(done, total)

        self._background = threading.Thread(target=self._embed_in_background,
                                            args=(todo, report), daemon=True,
                                            name="babeldesk-embedding")
        self._background.start()

    def _embed_in_background(self, todo: list[tuple], progress: Callable[[int, int], None]
                             ) -> None:
        try:
            while todo is not None:
                self._embed_claimed(todo, progress)
                # A sync that came while this ran left its passages to it.
                todo = (self._claim(None) if self._embed_everything
                        and not self._stop.is_set() else None)
        except Exception:
            log.exception("knowledge: embedding failed; the passages left are found by their "
                          "words, and the next sync tries again")

    def embedding_status(self) -> dict[str, int] | str:
        """For /healthz: "off" without embeddings, {"done": n, "total": m} while passages are
        being embedded (or after an embedding that stopped short, or left passages to the
        next), else "complete"."""
        if not self.embedder:
            return "off"
        progress = self._progress
        return {"done": progress[0], "total": progress[1]} if progress else "complete"

    def _claim(self, paths: list[str] | None) -> list[tuple] | None:
        """The passages to embed, with `_embedding` taken for the caller (`_embed_claimed`
        releases it); None when another embedding is under way. That one may have listed its
        passages before this sync added some: the next sync looks at every passage."""
        if not self._embedding.acquire(blocking=False):
            self._embed_everything = True
            return None
        try:
            if paths is None:
                # Set again by whatever comes while this runs (a skipped sync, a failure).
                self._embed_everything = False
            todo = self._pending_rows(paths)
        except BaseException:
            self._embed_everything = True
            self._embedding.release()
            raise
        if todo:
            self._progress = (0, len(todo))
        return todo

    def _embed_claimed(self, todo: list[tuple], progress: Callable[[int, int], None] | None
                       ) -> int:
        """Embed what `_claim` listed, then release the claim; returns how many were."""
        try:
            done = self._embed_rows(todo, progress)
        except BaseException:
            self._embed_everything = True
            raise
        else:
            if done < len(todo):  # stopped by close(): the next start goes on
                self._embed_everything = True
            elif not self._embed_everything:  # else a sync left passages to the next round
                self._progress = None
            return done
        finally:
            # (possibly in another thread than the claim's: a Lock allows it)
            self._embedding.release()

    def _pending_rows(self, paths: list[str] | None) -> list[tuple]:
        """(digest, title, heading, text, lacks vector, lacks sentences, lacks second) of the
        passages to embed; drops the vectors no passage uses any more."""
        with self._lock:
            where, args = f"({self._pending()})", []
            if paths is not None:  # only these files' passages (after an edit)
                if not paths:
                    where = "0"
                where += f" AND p.path IN ({','.join('?' * len(paths))})"
                args = list(paths)
            todo = self.db.execute(
                "SELECT p.digest, min(p.title), min(p.heading), min(p.text), "
                "v.vector IS NULL, v.sentences IS NULL, v.second IS NULL FROM passages p "
                f"LEFT JOIN vectors v ON v.digest = p.digest WHERE {where} "
                "GROUP BY p.digest", args).fetchall()
            # Vectors no passage uses any more (edited or deleted text) are dropped.
            with self.db.conn:
                if paths is None:
                    self.db.execute("DELETE FROM vectors WHERE digest NOT IN "
                                    "(SELECT digest FROM passages)")
                else:
                    dropped = list(self._dropped)
                    for part in range(0, len(dropped), 500):  # SQLite's variable limit
                        digests = dropped[part:part + 500]
                        marks = ",".join("?" * len(digests))
                        self.db.execute(
                            f"DELETE FROM vectors WHERE digest IN ({marks}) AND NOT EXISTS "
                            "(SELECT 1 FROM passages p WHERE p.digest = vectors.digest)",
                            digests)
                self._dropped.clear()
        return todo

    def _embed_rows(self, todo: list[tuple], progress: Callable[[int, int], None] | None
                    ) -> int:
        """Embed and store `todo` batch by batch; returns how many were, fewer when close()
        stopped it between two batches."""
        start = time.perf_counter()
        done = 0
        for first in range(0, len(todo), BATCH):
            if self._stop.is_set():
                log.info("knowledge: embedding stopped at %s of %s passages; the next start "
                         "goes on", f"{done:,}", f"{len(todo):,}")
                return done
            batch = todo[first:first + BATCH]
            rows = self._embed_batch(batch)
            with self._lock, self.db.conn:
                # What was there already (another kind of vector) is kept.
                self.db.conn.executemany(
                    "INSERT INTO vectors (digest, vector, sentences, second) VALUES (?,?,?,?) "
                    "ON CONFLICT(digest) DO UPDATE SET "
                    "vector = coalesce(excluded.vector, vector), "
                    "sentences = coalesce(excluded.sentences, sentences), "
                    "second = coalesce(excluded.second, second)", rows)
                self._load_vectors(f"p.digest IN ({','.join('?' * len(batch))})",
                                   [row[0] for row in batch])
            done += len(batch)
            self._progress = (done, len(todo))
            if progress:
                progress(done, len(todo))
        if todo:
            log.info("knowledge: embedded %d passages in %.1f s", len(todo),
                     time.perf_counter() - start)
        return done

    def _embed_batch(self, batch: list[tuple]) -> list[tuple]:
        """(digest, vector, sentences, second) rows for passages lacking some of them; None
        where a vector was there already."""
        texts = [embedding_text(Passage("", title, heading, "", text))
                 for _, title, heading, text, *_ in batch]
        rows = [[row[0], None, None, None] for row in batch]
        wants = [[i for i, row in enumerate(batch) if row[4 + k]] for k in range(3)]
        if wants[0]:
            vectors = self.embedder.embed_passages([texts[i] for i in wants[0]])
            for i, vector in zip(wants[0], vectors.astype(np.float16)):
                rows[i][1] = vector.tobytes()
        if self.by_sentence and wants[1]:
            # One call for the whole batch's sentences; a one-sentence passage stores none
            # (its own vector stands for its sentence).
            parts = {i: sentences(texts[i]) for i in wants[1]}
            flat = [t for i in wants[1] if len(parts[i]) > 1 for t in parts[i]]
            vectors = (self.embedder.embed_passages(flat).astype(np.float16) if flat
                       else np.zeros((0, self.embedder.dim), np.float16))
            start = 0
            for i in wants[1]:
                count = len(parts[i]) if len(parts[i]) > 1 else 0
                rows[i][2] = vectors[start:start + count].tobytes()
                start += count
        if self.second and wants[2]:
            vectors = self.second.embed_passages([texts[i] for i in wants[2]])
            for i, vector in zip(wants[2], vectors.astype(np.float16)):
                rows[i][3] = vector.tobytes()
        return [tuple(r) for r in rows]

    def _vectors(self) -> VectorTable:
        """Every embedded passage's vectors, read once from SQLite."""
        if self._dense is None:
            table = VectorTable(self.embedder.dim, self.second.dim if self.second else None)
            ids, vectors, seconds = self._read_vectors("1", [])
            table.reserve(len(ids) + len(ids) // 4 + 64)  # room for edits without a copy
            table.add(ids, vectors, seconds)
            self._dense = table
        return self._dense

    def _dense_candidates(self, question: str, language: str | None
                          ) -> list[tuple[int, float]]:
        """(passage id, relevance) of the passages nearest the question in meaning, best
        first.

        Each model proposes its nearest passages; they are ordered by the passage's
        similarity plus its nearest sentence's plus the second model's, each counted in
        standard deviations above the question's mean similarity to the knowledge, so that
        the models' different scales weigh alike.
        """
        if self.product:
            # The product's name makes a question look like every article, in any language:
            # "Можно ли купить чайник Kettlebird на Amazon?" scored 0.83 + 0.59 against a
            # Japanese article about the subscription, 0.76 + 0.35 without the name.
            # "What is Kettlebird?" keeps it: nothing but function words would be left.
            rest = without_name(question, self.product)
            stop = stop_terms(language)
            if any(t not in stop and not _is_kana_particle(t) for t in search_terms(rest)):
                question = rest
        # "๑๙๙๕" and "1995" are one number to a reader, not to the models: XQuAD's Thai
        # questions with a number, written in Thai digits, found their English paragraph
        # 0.911 of the time with only the search terms' digits made ASCII, 0.962 with these.
        question = ascii_digits(question)
        vector = self.embedder.embed_queries([question])[0]
        second = self.second if self.second and language in self.second.languages else None
        second_vector = second.embed_queries([question])[0] if second else None
        with self._lock:
            self._follow_other_writers()
            table = self._vectors()
            if not len(table):
                return []
            ids, matrix, second_matrix, live = table.view()
            scores = matrix @ vector
            if second is not None:
                second_scores = second_matrix @ second_vector
            if live is not None:  # rows freed by an edit, until they are reused
                scores = np.where(live, scores, -np.inf)
                if second is not None:
                    second_scores = np.where(live, second_scores, -np.inf)
            k = min(DENSE_CANDIDATES, len(table))
            chosen = set(np.argpartition(-scores, k - 1)[:k].tolist())
            if second is not None:
                chosen |= set(np.argpartition(-second_scores, k - 1)[:k].tolist())
            chosen = sorted(chosen)
            marks = ",".join("?" * len(chosen))
            extra = {row[0]: row[1:] for row in self.db.execute(
                "SELECT p.id, p.language, v.sentences FROM passages p JOIN vectors v "
                f"ON v.digest = p.digest WHERE p.id IN ({marks})",
                [int(ids[i]) for i in chosen])}
        own_scores = scores if live is None else scores[live]
        mean, spread = float(own_scores.mean()), float(own_scores.std()) or 1.0
        if second is not None:
            other = second_scores if live is None else second_scores[live]
            second_mean, second_spread = float(other.mean()), float(other.std()) or 1.0
        # Passages in other languages than the question's are ranked against the question
        # moved away from its language's centre. Their scores move by as much on average as
        # they are moved (`lift`), so that they keep their footing against passages in the
        # question's language; relevance stays on the model's own scale. The centre is only
        # worked out once such a passage is a candidate.
        foreign = [i for i in chosen if extra.get(int(ids[i]), (None,))[0] != language]
        centre = self._centre(language) if foreign else None
        moved, shift, lift = vector, {}, 0.0
        if centre is not None:
            pull = CENTRE_WEIGHT * (matrix[foreign] @ centre)
            moved, lift = vector - CENTRE_WEIGHT * centre, float(pull.mean())
            shift = dict(zip(foreign, (pull - lift).tolist()))
        order = []
        for i in chosen:
            pid, similarity = int(ids[i]), float(scores[i])
            lang, blob = extra.get(pid, (None, None))
            ranked = similarity - shift.get(i, 0.0)
            nearest = ranked
            if self.by_sentence and blob:
                parts = np.frombuffer(blob, np.float16).reshape(-1, len(vector))
                parts = parts.astype(np.float32)
                nearest = float((parts @ moved).max()) + lift if i in shift \
                    else float((parts @ vector).max())
            own = (ranked - mean) / spread
            combined = own + SENTENCE_WEIGHT * (nearest - mean) / spread
            if second is not None and lang in second.languages:
                combined += SECOND_WEIGHT * (second_scores[i] - second_mean) / second_spread
                relevance = dense_relevance(similarity, float(second_scores[i]),
                                            self.relevance)
            else:
                # Where the second model cannot read the passage, the first one's opinion
                # stands in for its.
                combined += SECOND_WEIGHT * own if second is not None else 0.0
                relevance = dense_relevance(similarity, scale=self.relevance)
            order.append((combined, pid, relevance))
        order.sort(reverse=True)
        return [(pid, relevance) for _, pid, relevance in order]

    def _centre(self, language: str | None) -> np.ndarray | None:
        """The mean vector of the language's function words, embedded as questions (None
        without a list for it); worked out once per language."""
        if not language or not CENTRE_WEIGHT:
            return None
        if language not in self._centres:
            words = function_words(language)
            sample = words[::max(1, len(words) // CENTRE_WORDS)][:CENTRE_WORDS]
            self._centres[language] = (self.embedder.embed_queries(list(sample)).mean(axis=0)
                                       if sample else None)
        return self._centres[language]

    # -- reading --

    def _recount(self, path: str, sign: int) -> None:
        """Keep the document frequencies and lengths in step with one file's passages, leaving
        or arriving: recounting the whole index after an edit takes seconds at 100k passages."""
        if self._frequencies is None:
            return
        counts, frequencies = self._frequencies
        for pid, lang, terms in self.db.execute(
                "SELECT id, language, terms FROM passages WHERE path = ?", [path]):
            words = terms.split()
            self._set_length(pid, len(words) if sign > 0 else 0)
            unique = set(words)
            for scope in (lang, None):
                counts[scope] = counts.get(scope, 0) + sign
                table = frequencies.setdefault(scope, Counter())
                for term in unique:
                    table[term] += sign
                    if table[term] <= 0:
                        del table[term]

    def _set_length(self, pid: int, length: int) -> None:
        if pid >= len(self._lengths):
            grown = np.zeros(max(pid + 1, 2 * len(self._lengths)), dtype=np.int32)
            grown[:len(self._lengths)] = self._lengths
            self._lengths = grown
        self._length_sum += length - int(self._lengths[pid])
        self._lengths[pid] = length

    def _document_frequencies(self) -> tuple[dict, dict]:
        """Passages per language and, per language, how many passages use each term; the key
        None covers all languages. Also each passage's length in terms, by id. Counted once;
        `_recount` keeps them in step with edits."""
        if self._frequencies is None:
            counts: Counter = Counter()
            frequencies: dict[str | None, Counter] = defaultdict(Counter)
            self._lengths, self._length_sum = np.zeros(0, dtype=np.int32), 0
            for pid, lang, terms in self.db.execute("SELECT id, language, terms FROM passages"):
                words = terms.split()
                self._set_length(pid, len(words))
                unique = set(words)
                for scope in (lang, None):
                    counts[scope] += 1
                    frequencies[scope].update(unique)
            self._frequencies = (dict(counts), dict(frequencies))
        return self._frequencies

    def _keyword_candidates(self, terms: list[str], weights: dict[str, float] | None = None
                            ) -> list[tuple[int, float]]:
        """The CANDIDATES passages with the best BM25 for `terms`, best first, each with its
        score negated as FTS5 ranks are: FTS5's own formula (k1 1.2, b 0.75).

        FTS5 lists where each term occurs; the scores are worked out here, for every match at
        once. FTS5's own ranking called its BM25 function once per matching passage: 80% of a
        search's time at 100k passages (p95 22 ms; this way 7 ms).
        """
        total = self._frequencies[0].get(None, 0) or 1
        average = self._length_sum / total or 1.0
        found, parts = [], []
        for term in terms:
            docs = self.db.execute("SELECT group_concat(doc) FROM temp.passages_instances "
                                   "WHERE term = ?", [term]).fetchone()[0]
            if not docs:
                continue
            docs = np.fromstring(docs, dtype=np.int64, sep=",")
            docs.sort()
            starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
            ids, counts = docs[starts], np.diff(np.r_[starts, len(docs)])
            lengths = self._lengths[np.minimum(ids, len(self._lengths) - 1)]
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / average)
            found.append(ids)
            parts.append(_bm25_idf(total, len(ids)) * counts * (BM25_K1 + 1) / (counts + norm)
                         * (weights.get(term, 1.0) if weights else 1.0))
        if not found:
            return []
        sums = np.bincount(np.concatenate(found), weights=np.concatenate(parts))
        matched = np.flatnonzero(sums)
        scores = sums[matched]
        if len(matched) > CANDIDATES:
            # (every passage tied with the last one kept, so that ties go by id, as in FTS5)
            cut = scores[np.argpartition(-scores, CANDIDATES - 1)[CANDIDATES - 1]]
            kept = np.flatnonzero(scores >= cut)
            matched, scores = matched[kept], scores[kept]
        order = np.argsort(-scores, kind="stable")[:CANDIDATES]
        return list(zip(matched[order].tolist(), (-scores[order]).tolist()))

    def files(self) -> list[dict]:
        with self._lock:
            return list(self.db["files"].rows_where(order_by="path"))

    def nearest_by_meaning(self, question: str, limit: int = 3) -> list[Hit]:
        """The plain baseline every other ranker is measured against (bench/
        retrieval_quality.py): the passages whose first-model vector is nearest the question's,
        with their cosine as relevance; no keywords, sentences, second model or centring."""
        if not self.embedder:
            return []
        vector = self.embedder.embed_queries([question])[0]
        with self._lock:
            self._follow_other_writers()
            ids, matrix, _, live = self._vectors().view()
            if not len(ids):
                return []
            scores = matrix @ vector
            if live is not None:
                scores = np.where(live, scores, -np.inf)
            best = np.argsort(-scores)[:limit]
            rows = {row[0]: row[1:] for row in self.db.execute(
                "SELECT id, path, title, heading, language, text FROM passages WHERE id IN "
                f"({','.join('?' * len(best))})", [int(ids[i]) for i in best])}
        return [Hit(Passage(*rows[int(ids[i])]), float(scores[i])) for i in best
                if int(ids[i]) in rows]

    def suspicious_passages(self) -> list[tuple[Source, Finding]]:
        """Passages that ask readers for a secret or read like instructions to the model
        (bot/screen.py), for `babeldesk index` to show their editors."""
        with self._lock:
            rows = self.db.execute("SELECT path, title, heading, language, text FROM passages "
                                   "ORDER BY path, position").fetchall()
        found = []
        for path, title, heading, language, text in rows:
            finding = screen_passage(text, language)
            if finding:
                found.append((Source(path, heading, title), finding))
        return found

    def passage_count(self) -> int:
        with self._lock:
            return self.db["passages"].count

    def search(self, question: str, language: str | None = None, limit: int = 3,
               min_relevance: float = 0.0) -> list[Hit]:
        """Passages that answer `question`, best first, each with its relevance.

        FTS5's BM25 finds candidates by their words, and the embeddings by their meaning, in
        any language; the two lists are fused by reciprocal rank. Relevance is the IDF-weighted
        share of the question's terms that a passage contains, or its embedding's similarity
        when that says more: unlike BM25 or ranks, both can be compared with a fixed
        threshold, so a question about something the knowledge never mentions scores low.
        """
        terms = list(dict.fromkeys(search_terms(question)))
        dense = (self._dense_candidates(question, language)
                 if self.embedder and question.strip() else [])
        if not terms and not dense:
            return []
        stop = stop_terms(language)
        # Function words ("how do I my") would make every FAQ question a BM25 candidate and
        # its best match; candidates must share a topic word when the question has one.
        topic = [t for t in terms if t not in stop and not _is_kana_particle(t)]
        columns = "p.id, p.path, p.title, p.heading, p.language, p.text, p.terms"
        translating = bool(self.embedder) and language == "zh" and CHINESE_WEIGHT > 0
        if translating:
            dictionary()  # read once (0.4 s), before other searches would wait for the lock
        with self._lock:
            self._follow_other_writers()
            counts, frequencies = self._document_frequencies()
            if language in SYLLABIC and counts.get(language):
                # Only where the knowledge is written in the question's language: elsewhere
                # no passage has the pairs, and they would weigh the question's shares down.
                pairs = [t for t in dict.fromkeys(syllable_pairs(question)) if t not in terms]
                terms += pairs
                topic += [t for t in pairs if t not in stop]
            rows = []
            english, translated = {}, {}
            if translating and counts.get("en"):
                english = english_terms(question, frequencies["en"])
                if english:
                    translated = dict(self._keyword_candidates(list(english), english))
            if terms:
                ranks = dict(self._keyword_candidates(
                    _match_terms(topic or terms, frequencies.get(None, {}))))
                if ranks:
                    marks = ",".join("?" * len(ranks))
                    rows = [(*row, ranks[row[0]]) for row in self.db.execute(
                        f"SELECT {columns} FROM passages p WHERE p.id IN ({marks})", list(ranks))]
            found = {row[0] for row in rows}
            missing = [pid for pid in dict.fromkeys([*(p for p, _ in dense), *translated])
                       if pid not in found]
            if missing:
                marks = ",".join("?" * len(missing))
                rows += [(*row, 0.0) for row in self.db.execute(
                    f"SELECT {columns} FROM passages p WHERE p.id IN ({marks})", missing)]
        # Frequencies among passages in the question's own language tell its function words
        # ("the", "de", "の") from its topic words; across all languages they would not.
        scope = language if counts.get(language) else None
        total, df = counts.get(scope, 0) or 1, frequencies.get(scope, {})
        # A term the knowledge never uses may be a rare topic word or just a word this folder
        # happens to lack ("puedo"); it weighs as a word in 10% of passages, and no term
        # weighs more, so one rare side word cannot outweigh the question's topic.
        unseen = max(total * UNSEEN_SHARE, 1.0)
        ceiling = math.log(1 + (total - unseen + 0.5) / (unseen + 0.5))
        idf = {t: min(ceiling, math.log(1 + (total - df.get(t, unseen) + 0.5)
                                        / (df.get(t, unseen) + 0.5)))
               * (STOP_WEIGHT if t in stop or _is_kana_particle(t) else 1.0) for t in terms}
        weight = sum(idf.values()) or 1.0
        meaning = dict(dense)
        best_rank = min((row[-1] for row in rows if row[0] in found), default=-1.0) or -1.0
        lexical, relevance, passages, shares, terms_of = [], {}, {}, {}, {}
        for pid, path, title, heading, lang, text, passage_terms, rank in rows:
            present = terms_of[pid] = set(passage_terms.split())
            words = sum(w for t, w in idf.items() if t in present) / weight
            shares[pid] = words
            relevance[pid] = max(words, meaning.get(pid, 0.0))
            passages[pid] = Passage(path, title, heading, lang, text)
            if pid not in found:
                continue
            # A question that names a section's topic ("livraison") is about that section,
            # even where another passage shares a rarer side word ("temps").
            named = _named_terms(title, heading, lang)
            topical = sum(w for t, w in idf.items() if t in named) / weight
            # BM25 (FTS5 ranks are negative, best first) adds how often the words occur.
            score = words + HEADING_BOOST * topical + BM25_WEIGHT * rank / best_rank
            lexical.append((score, lang == language, -rank, pid))
        lexical.sort(reverse=True)
        if dense:
            fused: dict[int, float] = defaultdict(float)
            # A keyword rank counts by the square of the share of the question's words the
            # passage has: across languages the keyword list holds passages that merely share
            # a name or a number, and it must not outvote the embeddings there. On XQuAD
            # (questions against English paragraphs, hit@3) plain fusion gave es 0.923 and
            # de 0.950; the share 0.973 and 0.973; its square 0.970 and 0.977, with the
            # same-language figures up too (ar 0.973 → 0.980).
            for position, item in enumerate(lexical, start=1):
                fused[item[-1]] += shares[item[-1]] ** 2 / (RRF_K + position)
            for position, (pid, _) in enumerate(dense, start=1):
                fused[pid] += 1.0 / (RRF_K + position)
            if translated:
                english_weight = sum(english.values())
                english_passages = [pid for pid in sorted(translated, key=translated.get)
                                    if pid in passages and passages[pid].language == "en"]
                for position, pid in enumerate(english_passages, start=1):
                    present = terms_of[pid]
                    share = sum(w for t, w in english.items() if t in present) / english_weight
                    fused[pid] += CHINESE_WEIGHT * share ** 2 / (RRF_K + position)
            for pid in fused:
                # (a passage deleted by an edit since the embeddings were searched is gone)
                if pid in passages:
                    fused[pid] += LANGUAGE_BONUS * (passages[pid].language == language)
            order = sorted(fused, key=fused.get, reverse=True)
        else:
            order = [item[-1] for item in lexical]
        hits = [Hit(passages[pid], relevance[pid]) for pid in order if pid in passages]
        return [h for h in hits if h.relevance >= min_relevance][:limit]


def _progress_log() -> Callable[[int, int], None]:
    """A progress callback that logs a line every PROGRESS_SECONDS or every tenth of the way,
    whichever comes first: a large folder takes minutes to embed."""
    last_time, last_tenth = time.monotonic(), 0

    def log_progress(done: int, total: int) -> None:
        nonlocal last_time, last_tenth
        tenth = done * 10 // total
        if done < total and (tenth > last_tenth
                             or time.monotonic() - last_time >= PROGRESS_SECONDS):
            log.info("knowledge: embedded %s of %s passages (%d%%)", f"{done:,}", f"{total:,}",
                     done * 100 // total)
            last_time, last_tenth = time.monotonic(), tenth

    return log_progress


@lru_cache(maxsize=4096)
def _named_terms(title: str, heading: str, language: str | None) -> frozenset[str]:
    """The search terms of a passage's title and heading (the same few recur in every search)."""
    return frozenset(search_terms(f"{title}\n{heading}", language))


def _bm25_idf(total: int, df: int) -> float:
    """A term's weight in BM25, as FTS5 computes it."""
    return max(math.log((total - df + 0.5) / (df + 0.5)), 1e-6)


def _match_terms(terms: list[str], df: dict[str, int]) -> list[str]:
    """The terms that choose candidates: the rarest first, until they match about
    MATCH_ROWS passages. With a large knowledge folder a common topic word ("year") matches
    tens of thousands of rows that FTS5 would all rank; the rarer words find the same
    passages. It still counts in the relevance of the candidates."""
    chosen, rows = [], 0
    for term in sorted(terms, key=lambda t: df.get(t, 0)):
        if len(chosen) >= MIN_MATCH_TERMS and rows + df.get(term, 0) > MATCH_ROWS:
            break
        chosen.append(term)
        rows += df.get(term, 0)
    return chosen



