"""Keyword search: BM25 over babeldesk's own search terms, worked out with numpy from where
FTS5 says each term occurs, and the term counts that weigh a question's words."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import sqlite_utils

from ..text import search_terms


# What each constant's value was chosen from: docs/performance.md, "Retrieval constants and
# their measurements".
#: candidates read from FTS5 before relevance is weighed
CANDIDATES = 40
#: BM25's parameters, as FTS5 has them
BM25_K1, BM25_B = 1.2, 0.75
#: about how many passages the candidate query may match (see `match_terms`)
MATCH_ROWS = 20000
#: the fewest terms that choose candidates, however many passages they match
MIN_MATCH_TERMS = 2


def is_kana_particle(term: str) -> bool:
    """A hiragana-only pair ("ます", "には") is grammar in Japanese, not a topic."""
    return all("\u3040" <= ch <= "\u309f" for ch in term)


@lru_cache(maxsize=4096)
def named_terms(title: str, heading: str) -> frozenset[str]:
    """The search terms of a passage's title and heading (the same few recur in every search)."""
    return frozenset(search_terms(f"{title}\n{heading}"))


def bm25_idf(total: int, df: int) -> float:
    """A term's weight in BM25, as FTS5 computes it."""
    return max(math.log((total - df + 0.5) / (df + 0.5)), 1e-6)


def match_terms(terms: list[str], df: dict[str, int]) -> list[str]:
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


class Keywords:
    """The passages' term counts and lengths, held in RAM and kept in step with edits, and
    BM25 over them. The caller holds the index's lock."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self._frequencies: tuple[dict, dict] | None = None
        #: each passage's length in terms, by id, and their sum
        self.lengths = np.zeros(0, dtype=np.int32)
        self.length_sum = 0

    def open(self) -> None:
        """Where each term occurs, with repeats, which BM25 is worked out from (`candidates`):
        a view of FTS5's index for this connection."""
        self.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_instances "
                        "USING fts5vocab(main, passages_fts, 'instance')")

    def forget(self) -> None:
        """Count again at the next search (another process changed the index)."""
        self._frequencies = None

    def frequencies(self) -> tuple[dict, dict]:
        """Passages per language and, per language, how many passages use each term; the key
        None covers all languages. Also each passage's length in terms, by id. Counted once;
        `recount` keeps them in step with edits."""
        if self._frequencies is None:
            counts: Counter = Counter()
            frequencies: dict[str | None, Counter] = defaultdict(Counter)
            self.lengths, self.length_sum = np.zeros(0, dtype=np.int32), 0
            for pid, lang, terms in self.db.execute("SELECT id, language, terms FROM passages"):
                words = terms.split()
                self._set_length(pid, len(words))
                unique = set(words)
                for scope in (lang, None):
                    counts[scope] += 1
                    frequencies[scope].update(unique)
            self._frequencies = (dict(counts), dict(frequencies))
        return self._frequencies

    def recount(self, path: str, sign: int) -> None:
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
        if pid >= len(self.lengths):
            grown = np.zeros(max(pid + 1, 2 * len(self.lengths)), dtype=np.int32)
            grown[:len(self.lengths)] = self.lengths
            self.lengths = grown
        self.length_sum += length - int(self.lengths[pid])
        self.lengths[pid] = length

    def candidates(self, terms: list[str], weights: dict[str, float] | None = None
                   ) -> list[tuple[int, float]]:
        """The CANDIDATES passages with the best BM25 for `terms`, best first, each with its
        score negated as FTS5 ranks are: FTS5's own formula (k1 1.2, b 0.75).

        FTS5 lists where each term occurs; the scores are worked out here, for every match at
        once. FTS5's own ranking called its BM25 function once per matching passage: 80% of a
        search's time at 100k passages (p95 22 ms; this way 7 ms).
        """
        total = self._frequencies[0].get(None, 0) or 1
        average = self.length_sum / total or 1.0
        found, parts = [], []
        for term in terms:
            scored = self._term_scores(term, total, average)
            if scored is None:
                continue
            ids, scores = scored
            found.append(ids)
            parts.append(scores * (weights.get(term, 1.0) if weights else 1.0))
        if not found:
            return []
        sums = np.bincount(np.concatenate(found), weights=np.concatenate(parts))
        return _best(sums)

    def _term_scores(self, term: str, total: int, average: float
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """The passages that use `term` and its share of their BM25 score; None when none
        does."""
        docs = self.db.execute("SELECT group_concat(doc) FROM temp.passages_instances "
                               "WHERE term = ?", [term]).fetchone()[0]
        if not docs:
            return None
        docs = np.fromstring(docs, dtype=np.int64, sep=",")
        docs.sort()
        starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        ids, counts = docs[starts], np.diff(np.r_[starts, len(docs)])
        lengths = self.lengths[np.minimum(ids, len(self.lengths) - 1)]
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / average)
        return ids, bm25_idf(total, len(ids)) * counts * (BM25_K1 + 1) / (counts + norm)


def _best(sums: np.ndarray) -> list[tuple[int, float]]:
    """The CANDIDATES passages with the highest summed score, as (id, negated score)."""
    matched = np.flatnonzero(sums)
    scores = sums[matched]
    if len(matched) > CANDIDATES:
        # (every passage tied with the last one kept, so that ties go by id, as in FTS5)
        cut = scores[np.argpartition(-scores, CANDIDATES - 1)[CANDIDATES - 1]]
        kept = np.flatnonzero(scores >= cut)
        matched, scores = matched[kept], scores[kept]
    order = np.argsort(-scores, kind="stable")[:CANDIDATES]
    return list(zip(matched[order].tolist(), (-scores[order]).tolist()))
