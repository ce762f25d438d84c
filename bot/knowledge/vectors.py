"""The passages' vectors: stored in SQLite under the digest of the text they were computed
from, held in RAM for exact search, and embedded in batches outside the index's lock, in the
foreground or in a background thread, resuming where an interrupted run stopped."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import sqlite_utils

from ..embeddings import BATCH, Embedder
from ..text import sentences
from .dense import embedding_text
from .types import Passage

log = logging.getLogger(__name__)

#: bumped when the sentence splitting changes, so that sentence vectors are recomputed
SENTENCES_VERSION = "1"
#: seconds between a background embedding's progress lines (or a tenth of the way, if sooner)
PROGRESS_SECONDS = 10.0

Progress = Callable[[int, int], None]


@dataclass
class Models:
    """The embedding models and how they are used, one object shared by the parts of the
    index: switching embeddings off on a KnowledgeBase (keyword search alone) reaches them
    all."""

    #: None: keyword search only (retrieval.dense: false)
    embedder: Embedder | None = None
    #: a second model (with `languages` and `identity`) re-ranking the candidates
    second: Embedder | None = None
    #: sentence vectors beside each passage's (retrieval.embedding.sentences)
    by_sentence: bool = False


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


class Vectors:
    """The vectors of the index's passages, on disk and in RAM, and their embedding. Shares
    the index's database connection and lock; `stop` (set by close()) ends an embedding
    between two batches."""

    def __init__(self, db: sqlite_utils.Database, lock: threading.RLock, models: Models,
                 stop: threading.Event):
        self.db = db
        self.lock = lock
        self.models = models
        self.stop = stop
        #: the embedded passages' vectors in RAM for exact search; None until first used
        self._table: VectorTable | None = None
        #: digests of passages an edit or a removal took away (their vectors may be unused)
        self._dropped: set[str] = set()
        #: look at every passage for missing vectors at the next sync, not only the changed
        #: files' (at first, after an embedding that failed, and after a sync that found
        #: another embedding under way)
        self.embed_everything = True
        #: held by the one embedding under way: the watcher's sync and the background
        #: embedding must not embed the same passages at once
        self._embedding = threading.Lock()
        #: (done, total) of the embedding under way, or of one that stopped short; None
        #: when the last one finished
        self._progress: tuple[int, int] | None = None
        self._background: threading.Thread | None = None

    # -- settings --

    def settle(self, stored: dict[str, str], embedding_id: str) -> dict[str, str]:
        """Drop the stored vectors that another model (or prefix, or sentence splitting) made
        than the configured one, given the settings the index was last opened with; returns
        the settings to store."""
        settings = {}
        if self.models.embedder and stored.get("embedding") != embedding_id:
            # Vectors of another model (or prefix) are not comparable with this one's; the
            # second model's stay.
            self.db.execute("UPDATE vectors SET vector = NULL, sentences = NULL")
            settings["embedding"] = embedding_id
        # Each kind of vector is recomputed alone when its model changes: switching the
        # second model on does not embed every passage with the first one again.
        wanted = {"sentences": f"{embedding_id}|{SENTENCES_VERSION}"
                  if self.models.by_sentence else "",
                  "second": self.models.second.identity if self.models.second else ""}
        for column, identity in wanted.items():
            if identity and stored.get(column) != identity:
                self.db.execute(f"UPDATE vectors SET [{column}] = NULL")
                settings[column] = identity
        return settings

    # -- in RAM (the caller holds the lock) --

    def table(self) -> VectorTable:
        """Every embedded passage's vectors, read once from SQLite."""
        if self._table is None:
            second = self.models.second
            table = VectorTable(self.models.embedder.dim, second.dim if second else None)
            ids, vectors, seconds = self._read("1", [])
            table.reserve(len(ids) + len(ids) // 4 + 64)  # room for edits without a copy
            table.add(ids, vectors, seconds)
            self._table = table
        return self._table

    def reset(self) -> None:
        """Read the vectors again and look at every passage for missing ones (another process
        changed the index)."""
        self._table = None
        self.embed_everything = True

    def forget_file(self, path: str) -> None:
        """Take a file's passages out of the in-RAM vectors (they are being replaced), and
        note their digests: their stored vectors may be unused from now on."""
        self._dropped.update(row[0] for row in self.db.execute(
            "SELECT digest FROM passages WHERE path = ?", [path]))
        if self._table is None:
            return
        gone = [row[0] for row in self.db.execute("SELECT id FROM passages WHERE path = ?",
                                                  [path])]
        self._table.remove(gone)

    def load(self, where: str, args: list) -> None:
        """Append to the in-RAM vectors the stored vectors of the passages `where` selects
        (those of a re-parsed file whose text was embedded before, or a batch just embedded);
        passages without a vector wait for `embed_pending`."""
        if self._table is None:
            return
        self._table.add(*self._read(f"({where})", args))

    def _complete(self) -> str:
        """SQL: a passage's vectors are all there (it can be searched by meaning)."""
        return "v.vector IS NOT NULL" + (" AND v.second IS NOT NULL"
                                         if self.models.second else "")

    def _read(self, where: str, args: list) -> tuple[np.ndarray, np.ndarray,
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

        second = self.models.second
        return ids, matrix(1, self.models.embedder.dim), matrix(2, second.dim) if second else None

    def store(self, vectors: dict[str, tuple[bytes, bytes, bytes]]) -> None:
        """Store vectors computed elsewhere (float16 bytes: the passage's, its sentences', the
        second model's), by the digest of the passage text they stand for; benchmarks give
        generated passages the real vectors of the text they copy."""
        with self.lock:
            with self.db.conn:
                self.db.conn.executemany("INSERT OR REPLACE INTO vectors (digest, vector, "
                                         "sentences, second) VALUES (?, ?, ?, ?)",
                                         [(digest, *row) for digest, row in vectors.items()])
            self._table = None
            self.embed_everything = self.pending() > 0

    # -- embedding --

    def _pending_sql(self) -> str:
        """SQL: a passage lacks one of the vectors this configuration uses."""
        missing = ["v.vector IS NULL"] + (["v.sentences IS NULL"] if self.models.by_sentence
                                          else []) \
            + (["v.second IS NULL"] if self.models.second else [])
        return " OR ".join(missing)

    def pending(self) -> int:
        """Passages not embedded yet (found by their words only until they are)."""
        with self.lock:
            return self.db.execute(
                "SELECT count(DISTINCT p.digest) FROM passages p LEFT JOIN vectors v "
                f"ON v.digest = p.digest WHERE {self._pending_sql()}").fetchone()[0]

    def embed_pending(self, progress: Progress | None = None,
                      paths: list[str] | None = None) -> int:
        """Embed the passages that have no vector yet (only those of `paths`, if given);
        returns how many texts were embedded.

        The model runs outside the lock, so answers keep being served while a large folder is
        embedded; each batch is stored at once, so an interrupted first build resumes. Returns
        0 at once when another embedding is under way: the next sync looks at every passage.
        """
        if not self.models.embedder:
            return 0
        todo = self._claim(paths)
        if todo is None:
            return 0
        return self._embed_claimed(todo, progress)

    def embed_in_background(self, progress: Progress | None = None) -> None:
        """Embed the passages that have no vector yet in a thread, while they are searched
        by their words; `status` and the log report how far it got."""
        if not self.models.embedder or (self._background and self._background.is_alive()):
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

    def _embed_in_background(self, todo: list[tuple], progress: Progress) -> None:
        try:
            while todo is not None:
                self._embed_claimed(todo, progress)
                # A sync that came while this ran left its passages to it.
                todo = (self._claim(None) if self.embed_everything
                        and not self.stop.is_set() else None)
        except Exception:
            log.exception("knowledge: embedding failed; the passages left are found by their "
                          "words, and the next sync tries again")

    def join(self) -> None:
        """Wait for the background embedding (close() has set `stop`: after its batch)."""
        if self._background:
            self._background.join()
            self._background = None

    def status(self) -> dict[str, int] | str:
        """For /healthz: "off" without embeddings, {"done": n, "total": m} while passages are
        being embedded (or after an embedding that stopped short, or left passages to the
        next), else "complete"."""
        if not self.models.embedder:
            return "off"
        progress = self._progress
        return {"done": progress[0], "total": progress[1]} if progress else "complete"

    def _claim(self, paths: list[str] | None) -> list[tuple] | None:
        """The passages to embed, with `_embedding` taken for the caller (`_embed_claimed`
        releases it); None when another embedding is under way. That one may have listed its
        passages before this sync added some: the next sync looks at every passage."""
        if not self._embedding.acquire(blocking=False):
            self.embed_everything = True
            return None
        try:
            if paths is None:
                # Set again by whatever comes while this runs (a skipped sync, a failure).
                self.embed_everything = False
            todo = self._pending_rows(paths)
        except BaseException:
            self.embed_everything = True
            self._embedding.release()
            raise
        if todo:
            self._progress = (0, len(todo))
        return todo

    def _embed_claimed(self, todo: list[tuple], progress: Progress | None) -> int:
        """Embed what `_claim` listed, then release the claim; returns how many were."""
        try:
            done = self._embed_rows(todo, progress)
        except BaseException:
            self.embed_everything = True
            raise
        else:
            if done < len(todo):  # stopped by close(): the next start goes on
                self.embed_everything = True
            elif not self.embed_everything:  # else a sync left passages to the next round
                self._progress = None
            return done
        finally:
            # (possibly in another thread than the claim's: a Lock allows it)
            self._embedding.release()

    def _pending_rows(self, paths: list[str] | None) -> list[tuple]:
        """(digest, title, heading, text, title from text, lacks vector, lacks sentences,
        lacks second) of the passages to embed; drops the vectors no passage uses any more."""
        with self.lock:
            where, args = f"({self._pending_sql()})", []
            if paths is not None:  # only these files' passages (after an edit)
                if not paths:
                    where = "0"
                where += f" AND p.path IN ({','.join('?' * len(paths))})"
                args = list(paths)
            todo = self.db.execute(
                "SELECT p.digest, min(p.title), min(p.heading), min(p.text), "
                "min(p.title_from_text), "
                "v.vector IS NULL, v.sentences IS NULL, v.second IS NULL FROM passages p "
                f"LEFT JOIN vectors v ON v.digest = p.digest WHERE {where} "
                "GROUP BY p.digest", args).fetchall()
            self._drop_unused(everywhere=paths is None)
        return todo

    def _drop_unused(self, everywhere: bool) -> None:
        """Delete the vectors no passage uses any more (edited or deleted text): all of them,
        or those of the passages edits and removals took away since last time."""
        with self.db.conn:
            if everywhere:
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

    def _embed_rows(self, todo: list[tuple], progress: Progress | None) -> int:
        """Embed and store `todo` batch by batch; returns how many were, fewer when close()
        stopped it between two batches."""
        start = time.perf_counter()
        done = 0
        for first in range(0, len(todo), BATCH):
            if self.stop.is_set():
                log.info("knowledge: embedding stopped at %s of %s passages; the next start "
                         "goes on", f"{done:,}", f"{len(todo):,}")
                return done
            batch = todo[first:first + BATCH]
            self._save_batch(batch, self._embed_batch(batch))
            done += len(batch)
            self._progress = (done, len(todo))
            if progress:
                progress(done, len(todo))
        if todo:
            log.info("knowledge: embedded %d passages in %.1f s", len(todo),
                     time.perf_counter() - start)
        return done

    def _save_batch(self, batch: list[tuple], rows: list[tuple]) -> None:
        with self.lock, self.db.conn:
            # What was there already (another kind of vector) is kept.
            self.db.conn.executemany(
                "INSERT INTO vectors (digest, vector, sentences, second) VALUES (?,?,?,?) "
                "ON CONFLICT(digest) DO UPDATE SET "
                "vector = coalesce(excluded.vector, vector), "
                "sentences = coalesce(excluded.sentences, sentences), "
                "second = coalesce(excluded.second, second)", rows)
            self.load(f"p.digest IN ({','.join('?' * len(batch))})", [row[0] for row in batch])

    def _embed_batch(self, batch: list[tuple]) -> list[tuple]:
        """(digest, vector, sentences, second) rows for passages lacking some of them; None
        where a vector was there already."""
        texts = [embedding_text(Passage("", title, heading, "", text, bool(from_text)))
                 for _, title, heading, text, from_text, *_ in batch]
        rows = [[row[0], None, None, None] for row in batch]
        wants = [[i for i, row in enumerate(batch) if row[5 + k]] for k in range(3)]
        embedder, second = self.models.embedder, self.models.second
        if wants[0]:
            vectors = embedder.embed_passages([texts[i] for i in wants[0]])
            for i, vector in zip(wants[0], vectors.astype(np.float16)):
                rows[i][1] = vector.tobytes()
        if self.models.by_sentence and wants[1]:
            self._embed_sentences(texts, wants[1], rows)
        if second and wants[2]:
            vectors = second.embed_passages([texts[i] for i in wants[2]])
            for i, vector in zip(wants[2], vectors.astype(np.float16)):
                rows[i][3] = vector.tobytes()
        return [tuple(r) for r in rows]

    def _embed_sentences(self, texts: list[str], wanted: list[int], rows: list[list]) -> None:
        # One call for the whole batch's sentences; a one-sentence passage stores none
        # (its own vector stands for its sentence).
        embedder = self.models.embedder
        parts = {i: sentences(texts[i]) for i in wanted}
        flat = [t for i in wanted if len(parts[i]) > 1 for t in parts[i]]
        vectors = (embedder.embed_passages(flat).astype(np.float16) if flat
                   else np.zeros((0, embedder.dim), np.float16))
        start = 0
        for i in wanted:
            count = len(parts[i]) if len(parts[i]) > 1 else 0
            rows[i][2] = vectors[start:start + count].tobytes()
            start += count


def _progress_log() -> Progress:
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
