"""The knowledge base: the indexed knowledge folder, put together from its parts (the folder's
sync, keyword search, the vectors, search by meaning, the fused search), which share one
SQLite connection and one lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from ..config import E5_RELEVANCE
from ..embeddings import Embedder
from ..language import LanguageDetector
from ..screen import Finding, screen_passage
from .dense import Dense
from .keywords import Keywords
from .migrations import read_settings, upgrade, write_settings
from .parse import MAX_FILE_BYTES
from .search import Search
from .sync import FolderSync
from .types import Hit, Passage, Source, SyncReport
from .vectors import Models, Progress, Vectors


def _shared(part: str, name: str) -> property:
    """An attribute of the knowledge base that lives in one of its parts, so that setting it
    (a benchmark switching the second model off) reaches the part that reads it."""
    return property(lambda self: getattr(getattr(self, part), name),
                    lambda self, value: setattr(getattr(self, part), name, value))


class KnowledgeBase:
    """The indexed knowledge folder. Safe to use from several threads."""

    #: None: keyword search only (retrieval.dense: false)
    embedder = _shared("models", "embedder")
    #: a second model (with `languages` and `identity`) re-ranking the candidates
    second = _shared("models", "second")
    #: sentence vectors beside each passage's (retrieval.embedding.sentences)
    by_sentence = _shared("models", "by_sentence")
    #: the first model's similarity floor and span (retrieval.embedding.relevance_*)
    relevance = _shared("dense", "relevance")
    folder = _shared("folder_sync", "folder")
    detector = _shared("folder_sync", "detector")
    #: the longest passage in characters (knowledge.chunk_chars)
    chunk_chars = _shared("folder_sync", "chunk_chars")
    #: knowledge.max_file_mb, in bytes
    max_file_bytes = _shared("folder_sync", "max_file_bytes")
    #: goes up at every change of the index: what is derived from it is stale
    generation = _shared("folder_sync", "generation")

    def __init__(self, folder: Path, db_path: Path, detector: LanguageDetector,
                 chunk_chars: int = 1200, embedder: Embedder | None = None,
                 embedding_id: str = "", second: Embedder | None = None,
                 by_sentence: bool = False,
                 relevance: tuple[float, float] = E5_RELEVANCE,
                 max_file_bytes: int = MAX_FILE_BYTES):
        self.models = Models(embedder, second if embedder else None,
                             bool(by_sentence and embedder))
        #: what the stored vectors were computed with (model, prefixes, dimensions)
        self.embedding_id = f"{embedding_id}|{embedder.dim}" if embedder else ""
        self.db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db_path), check_same_thread=False)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.RLock()
        #: set by close(): the watcher and the embedding stop
        self._stop = threading.Event()
        self.keywords = Keywords(self.db)
        self.vectors = Vectors(self.db, self._lock, self.models, self._stop)
        self.folder_sync = FolderSync(Path(folder), self.db, self._lock, detector, chunk_chars,
                                      max_file_bytes, self.keywords, self.vectors, self.models,
                                      self._stop)
        follow = self.folder_sync.follow_other_writers
        self.dense = Dense(self.db, self._lock, self.models, self.vectors, follow,
                           relevance)
        self.ranking = Search(self.db, self._lock, self.models, self.keywords, self.dense,
                              follow)
        with self._lock:
            self._prepare()

    def _prepare(self) -> None:
        upgrade(self.db)
        stored = read_settings(self.db)
        settings = self.folder_sync.settle(stored)
        settings.update(self.vectors.settle(stored, self.embedding_id))
        write_settings(self.db, settings)
        self.keywords.open()
        self.folder_sync.open()

    # -- keeping in step with the folder --

    @property
    def unreadable(self) -> set[str]:
        """Folders that could not be listed at the last scan, relative ("": the knowledge
        folder itself): what was indexed from them is kept, not deleted."""
        return self.folder_sync.unreadable

    def scan(self) -> dict[str, tuple[int, int]]:
        """Every knowledge file under the folder, as relative path → (size, mtime_ns)."""
        return self.folder_sync.scan()

    def sync(self, full: bool = False, progress: Progress | None = None,
             embed_progress: Progress | None = None, embed: bool = True) -> SyncReport:
        """Bring the index in step with the folder.

        `full` reads every file and compares content hashes (at start-up); otherwise only files
        whose size or modification time changed are read. New passages are searchable by their
        words at once, and by meaning once they are embedded, at the end (not with `embed`
        false: then `embed_in_background` or a later sync embeds them). The first sync of a
        KnowledgeBase also embeds what an interrupted one left without vectors.
        """
        return self.folder_sync.sync(full, progress, embed_progress, embed)

    def stale(self) -> str:
        """Why the index may lag behind the folder ("" when it does not): a file that has
        been read for too long (a hung network disk)."""
        return self.folder_sync.stale()

    def watch(self, interval: float = 1.0) -> None:
        """Look at the folder every `interval` seconds in a background thread."""
        self.folder_sync.watch(interval)

    def close(self) -> None:
        """Stop watching and embedding (after the batch under way: what is stored stays, and
        the next start embeds the rest), then close the database."""
        self._stop.set()
        self.folder_sync.join()
        self.vectors.join()
        with self._lock:
            self.db.conn.close()

    # -- embeddings --

    def pending_embeddings(self) -> int:
        """Passages not embedded yet (found by their words only until they are)."""
        return self.vectors.pending()

    def embed_pending(self, progress: Progress | None = None,
                      paths: list[str] | None = None) -> int:
        """Embed the passages that have no vector yet (only those of `paths`, if given);
        returns how many texts were embedded (0 at once when another embedding is under
        way)."""
        return self.vectors.embed_pending(progress, paths)

    def embed_in_background(self, progress: Progress | None = None) -> None:
        """Embed the passages that have no vector yet in a thread, while they are searched
        by their words; `embedding_status` and the log report how far it got."""
        self.vectors.embed_in_background(progress)

    def embedding_status(self) -> dict[str, int] | str:
        """For /healthz: "off", {"done": n, "total": m} or "complete"."""
        return self.vectors.status()

    def store_vectors(self, vectors: dict[str, tuple[bytes, bytes, bytes]]) -> None:
        """Store vectors computed elsewhere, by passage digest (see `passages`)."""
        self.vectors.store(vectors)

    # -- reading --

    def search(self, question: str, language: str | None = None, limit: int = 3,
               min_relevance: float = 0.0) -> list[Hit]:
        """Passages that answer `question`, best first, each with its relevance (keywords and
        meaning fused; see bot/knowledge/search.py)."""
        return self.ranking.search(question, language, limit, min_relevance)

    def nearest_by_meaning(self, question: str, limit: int = 3) -> list[Hit]:
        """The plain baseline every other ranker is measured against: the passages whose
        first-model vector is nearest the question's, with their cosine as relevance."""
        return self.dense.nearest(question, limit)

    def files(self) -> list[dict]:
        with self._lock:
            return list(self.db["files"].rows_where(order_by="path"))

    def passage_count(self) -> int:
        with self._lock:
            return self.db["passages"].count

    def passages(self) -> list[tuple[str, Passage]]:
        """Every passage, in the order of its file and its place in it, with the digest of
        the text its vectors are computed from (what they are stored under)."""
        with self._lock:
            rows = self.db.execute("SELECT digest, path, title, heading, language, text, "
                                   "title_from_text FROM passages ORDER BY path, position"
                                   ).fetchall()
        return [(digest, Passage(*row)) for digest, *row in rows]

    def headings(self) -> dict[str, set[str]]:
        """Each indexed file (those skipped for an error too) with its passages' headings."""
        with self._lock:
            found: dict[str, set[str]] = {row[0]: set() for row in
                                          self.db.execute("SELECT path FROM files")}
            for path, heading in self.db.execute(
                    "SELECT DISTINCT path, heading FROM passages"):
                found.setdefault(path, set()).add(heading)
        return found

    def headings_by_language(self) -> dict[str, set[str]]:
        """Each passage language's titles and headings (the names the knowledge uses are
        in them: bot/glossary.py)."""
        found: dict[str, set[str]] = {}
        with self._lock:
            rows = self.db.execute(
                "SELECT language, title FROM passages UNION "
                "SELECT language, heading FROM passages").fetchall()
        for language, heading in rows:
            if heading:
                found.setdefault(language or "", set()).add(heading)
        return found

    def suspicious_passages(self) -> list[tuple[Source, Finding]]:
        """Passages that ask readers for a secret or read like instructions to the model
        (bot/screen.py), for `babeldesk index` to show their editors."""
        found = []
        for _, passage in self.passages():
            finding = screen_passage(passage.text, passage.language)
            if finding:
                found.append((passage.source, finding))
        return found
