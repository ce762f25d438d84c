"""Keeping the index in step with the knowledge folder: which files changed, reading and
parsing them outside the search lock, storing their passages, watching the folder, and
following another process's changes to the same index."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import sqlite_utils

from ..language import LanguageDetector
from ..screen import screen_passage
from ..text import search_text
from .dense import embedding_text
from .keywords import Keywords
from .migrations import rebuild_passages
from .parse import SUFFIXES, ParseError, Refused, parse_file, read_knowledge_file
from .types import Passage, SyncReport
from .vectors import Models, Progress, Vectors

log = logging.getLogger(__name__)

#: seconds one file may take to read before /healthz calls the knowledge stale
STUCK_SECONDS = 30.0
#: the edited files whose passages a sync embeds by name; more (a checkout of the whole
#: folder) and it looks at every passage
EMBED_BY_PATH = 500

#: a parsed file: its digest, passages and error (None: none)
Parsed = tuple[str, list[Passage], str | None]


class FolderSync:
    """The files of the knowledge folder and what the index holds of them. Shares the index's
    database connection and lock with the other parts; `stop` (set by close()) ends the
    watcher."""

    def __init__(self, folder: Path, db: sqlite_utils.Database, lock: threading.RLock,
                 detector: LanguageDetector, chunk_chars: int, max_file_bytes: int,
                 keywords: Keywords, vectors: Vectors, models: Models, stop: threading.Event):
        self.folder = folder
        self.db = db
        self.lock = lock
        self.detector = detector
        self.chunk_chars = chunk_chars
        #: knowledge.max_file_mb, in bytes
        self.max_file_bytes = max_file_bytes
        self.keywords = keywords
        self.vectors = vectors
        self.models = models
        self.stop = stop
        #: folders that could not be listed at the last scan, relative ("": the folder)
        self.unreadable: set[str] = set()
        self._reported: set[tuple[str, int]] = set()
        #: the file being read and since when (time.monotonic()), for `stale`
        self._reading: tuple[str, float] | None = None
        #: each indexed file's (size, mtime_ns) when it was last read
        self._stats: dict[str, tuple[int, int]] = {}
        #: SQLite's count of other connections' commits, last time it was looked at
        self._data_version: int | None = None
        self._watcher: threading.Thread | None = None
        #: counts the changes of the index (this process's and, once noticed, others'):
        #: what is derived from the whole knowledge is derived again when it moves
        self.generation = 0

    def settle(self, stored: dict[str, str]) -> dict[str, str]:
        """Parse every file again when the passages were cut at another size than
        knowledge.chunk_chars, given the settings the index was last opened with; returns the
        settings to store."""
        chunk_chars = str(self.chunk_chars)
        if stored.get("chunk_chars", chunk_chars) != chunk_chars:
            log.info("knowledge index settings changed; rebuilding it")
            rebuild_passages(self.db)
        return {"chunk_chars": chunk_chars}

    def open(self) -> None:
        """Take in what the index holds (once its schema and settings are in place)."""
        self._stats = self._stored_stats()
        self._data_version = self.db.execute("PRAGMA data_version").fetchone()[0]

    def _stored_stats(self) -> dict[str, tuple[int, int]]:
        return {row["path"]: (row["size"], row["mtime_ns"]) for row in self.db["files"].rows}

    def follow_other_writers(self) -> None:
        """Read again what RAM holds about the index (term counts, passage lengths, vectors,
        files' sizes and times) if another process changed it, e.g. `babeldesk index` run
        beside a serving babeldesk on the same data directory. The caller holds the lock."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        log.info("knowledge: the index was changed by another process; reading it again")
        self._data_version = version
        self.generation += 1
        self.keywords.forget()
        self.vectors.reset()
        self._stats = self._stored_stats()

    # -- the folder --

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

    def _hidden(self, path: str) -> bool:
        """Whether `path` lies in a folder that could not be listed this time."""
        return any(not folder or path.startswith(folder + "/") for folder in self.unreadable)

    # -- syncing --

    def sync(self, full: bool = False, progress: Progress | None = None,
             embed_progress: Progress | None = None, embed: bool = True) -> SyncReport:
        """Bring the index in step with the folder (see KnowledgeBase.sync)."""
        report = SyncReport()
        current = self.scan()
        with self.lock:
            self.follow_other_writers()
            known = {row["path"]: row for row in self.db["files"].rows}
            todo = [p for p, stat in sorted(current.items())
                    if full or p not in known or self._stats.get(p) != stat]
            report.unchanged = len(current) - len(todo)
            self._remove([p for p in known if p not in current and not self._hidden(p)],
                         report)
        # Files are read and parsed without the lock that every search needs: a slow disk
        # slows the index's updates, never the answers.
        for i, path in enumerate(todo):
            parsed = self._parse(path, known.get(path), self._read(path))
            with self.lock:
                self._sync_file(path, current[path], known.get(path), report, parsed)
            if progress:
                progress(i + 1, len(todo))
        for path in report.removed:
            log.info("knowledge: removed %s", path)
        if self.models.embedder:
            self._embed(report, full, embed, embed_progress)
        return report

    def _remove(self, paths: list[str], report: SyncReport) -> None:
        """Take the passages of files no longer in the folder out of the index."""
        with self.db.conn:
            for path in paths:
                self._forget_passages(path)
                self.db["files"].delete(path)
                self._stats.pop(path, None)
                report.removed.append(path)
                self.generation += 1

    def _forget_passages(self, path: str) -> None:
        """Take a file's passages out of the index, the term counts and the vectors in RAM."""
        self.keywords.recount(path, -1)
        self.vectors.forget_file(path)
        self.db.execute("DELETE FROM passages WHERE path = ?", [path])

    def _embed(self, report: SyncReport, full: bool, embed: bool,
               embed_progress: Progress | None) -> None:
        """Embed the passages still without vectors, or leave them to the next embedding."""
        if not embed:
            if report.changed:
                self.vectors.embed_everything = True  # the next embedding looks at these too
        elif report.changed or full or self.vectors.embed_everything:
            # After an edit only the edited files' passages can lack vectors: looking at
            # every passage took 0.7 s at 112k passages.
            paths = (None if full or self.vectors.embed_everything
                     else report.added + report.updated)
            if paths is not None and len(paths) > EMBED_BY_PATH:
                paths = None
            report.embedded = self.vectors.embed_pending(embed_progress, paths)

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
               ) -> Parsed | None:
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
                   report: SyncReport, parsed: Parsed | None) -> None:
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
            self._forget_passages(path)
            self._store_passages(path, passages)
            self.generation += 1
            self.db["files"].upsert({"path": path, "sha256": digest,
                                     "language": passages[0].language if passages else "",
                                     "size": stat[0], "mtime_ns": stat[1],
                                     "passages": len(passages), "error": error}, pk="path")
        if error is None:
            (report.updated if row else report.added).append(path)
            _log_indexed(path, passages)

    def _store_passages(self, path: str, passages: list[Passage]) -> None:
        """Add a file's passages to the index, the term counts and (where their text was
        embedded before) the vectors in RAM."""
        self.db["passages"].insert_all(
            {"path": path, "title": p.title, "heading": p.heading, "language": p.language,
             "position": i, "text": p.text, "title_from_text": p.title_from_text,
             "terms": search_text(f"{p.named[1]}\n{p.text}"),
             "digest": hashlib.sha256(embedding_text(p).encode()).hexdigest()}
            for i, p in enumerate(passages))
        self.keywords.recount(path, +1)
        self.vectors.load("p.path = ?", [path])

    # -- watching --

    def watch(self, interval: float = 1.0) -> None:
        """Look at the folder every `interval` seconds in a background thread."""
        if self._watcher:
            return
        self.stop.clear()

        def loop() -> None:
            while not self.stop.wait(interval):
                try:
                    self.sync()
                except Exception:
                    log.exception("knowledge: watching %s failed; trying again", self.folder)

        self._watcher = threading.Thread(target=loop, name="babeldesk-knowledge", daemon=True)
        self._watcher.start()

    def join(self) -> None:
        """Wait for the watcher to end (close() has set `stop`)."""
        if self._watcher:
            self._watcher.join(timeout=5)
            self._watcher = None


def _log_indexed(path: str, passages: list[Passage]) -> None:
    log.info("knowledge: indexed %s (%d passages, %s)", path, len(passages),
             passages[0].language if passages else "empty")
    for passage in passages:
        finding = screen_passage(passage.text, passage.language)
        if finding:
            log.warning("knowledge: %s › %s: %s; answers that repeat it are withheld",
                        path, passage.heading, finding)
