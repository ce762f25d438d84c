"""The search: keyword candidates and candidates by meaning (and, for a Chinese question, by
its words' English translations) fused by reciprocal rank, each passage's relevance, and the
gate that keeps only passages relevant enough."""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import sqlite_utils

from ..config import EVIDENCE_AT, RELEVANCE_AT, STANDOUT_AT
from ..crossterms import dictionary, english_terms
from ..text import search_terms, stop_terms
from .dense import Dense
from .keywords import Keywords, is_kana_particle, match_terms, named_terms
from .types import Hit, Passage
from .vectors import Models

# What each constant's value was chosen from: docs/performance.md, "Retrieval constants and
# their measurements".
#: how much a function word counts towards relevance, against 1 for a topic word
STOP_WEIGHT = 0.15
#: the share of passages a term the knowledge never uses is weighed as if it appeared in
UNSEEN_SHARE = 0.1
#: weight, in ranking only, of FTS5's BM25 score relative to the best candidate's
BM25_WEIGHT = 1.0
#: weight, in the keyword order, of the question's terms found in a passage's title and heading
HEADING_BOOST = 1.0
#: weight of the Chinese question's English translations' list (crossterms.py) in the fusion
CHINESE_WEIGHT = 0.5
#: reciprocal rank fusion: a passage scores 1 / (RRF_K + its rank) in each list
RRF_K = 60

_COLUMNS = ("p.id, p.path, p.title, p.heading, p.language, p.text, p.title_from_text, "
            "p.terms")


def relevant(evidence: float, standing: float | None) -> float:
    """A passage's relevance, 0..1: its words' share or its similarity (`evidence`) and, once
    the knowledge is embedded, how far the passage nearest the question stands out from the
    others (`standing`, see dense.standout); each meets RELEVANCE_AT at its own mark, and the
    weaker one counts. An off-topic question is as near some passage as many answerable ones
    are, but no passage stands out for it."""
    if standing is None:
        return evidence
    return max(0.0, min(1.0, evidence * RELEVANCE_AT / EVIDENCE_AT,
                        standing * RELEVANCE_AT / STANDOUT_AT))


def relevance_gate(hits: list[Hit], min_relevance: float, limit: int) -> list[Hit]:
    """The first `limit` hits relevant enough to be given to the model."""
    return [h for h in hits if h.relevance >= min_relevance][:limit]


@dataclass
class _Candidates:
    """What a question's search found before it is ranked."""

    #: the question's terms and its language's function words
    terms: list[str]
    stop: frozenset[str]
    #: the index's term counts (`Keywords.frequencies`)
    counts: dict
    frequencies: dict
    #: (id, path, title, heading, language, text, terms, BM25 rank) of every candidate; the
    #: rank is 0.0 for those only the other lists found
    rows: list[tuple] = field(default_factory=list)
    #: the keyword candidates' ids
    found: set[int] = field(default_factory=set)
    #: a Chinese question's English terms with their weights, and the passages they find
    english: dict[str, float] = field(default_factory=dict)
    translated: dict[int, float] = field(default_factory=dict)


@dataclass
class _Scored:
    """The candidates weighed: the keyword list in order, and per passage id its relevance,
    its passage, its share of the question's words and its terms."""

    lexical: list[tuple] = field(default_factory=list)
    relevance: dict[int, float] = field(default_factory=dict)
    passages: dict[int, Passage] = field(default_factory=dict)
    shares: dict[int, float] = field(default_factory=dict)
    terms_of: dict[int, set[str]] = field(default_factory=dict)


class Search:
    """Passages that answer a question. Shares the index's database connection and lock;
    `follow` re-reads the index after another process changed it."""

    def __init__(self, db: sqlite_utils.Database, lock: threading.RLock, models: Models,
                 keywords: Keywords, dense: Dense, follow: Callable[[], None]):
        self.db = db
        self.lock = lock
        self.models = models
        self.keywords = keywords
        self.dense = dense
        self.follow = follow

    def search(self, question: str, language: str | None = None, limit: int = 3,
               min_relevance: float = 0.0) -> list[Hit]:
        """Passages that answer `question`, best first, each with its relevance.

        FTS5's BM25 finds candidates by their words, and the embeddings by their meaning, in
        any language; the two lists are fused by reciprocal rank. Relevance is the IDF-weighted
        share of the question's terms that a passage contains, or its embedding's similarity
        when that says more, capped by how far the nearest passage stands out from the rest
        of the knowledge (`relevant`): a question the knowledge does not answer scores low.
        """
        terms = list(dict.fromkeys(search_terms(question)))
        dense, standing = (self.dense.candidates(question, language)
                           if self.models.embedder and question.strip() else ([], None))
        if not terms and not dense:
            return []
        found = self._candidates(question, language, terms, dense)
        scored = self._score(found, dict(dense), language)
        if dense:
            order = self._fuse(scored, dense, found)
        else:
            order = [item[-1] for item in scored.lexical]
        hits = [Hit(scored.passages[pid], relevant(scored.relevance[pid], standing))
                for pid in order if pid in scored.passages]
        return relevance_gate(hits, min_relevance, limit)

    # -- candidates --

    def _candidates(self, question: str, language: str | None, terms: list[str],
                    dense: list[tuple[int, float]]) -> _Candidates:
        """The keyword candidates, and the rows of every candidate of the three lists."""
        stop = stop_terms(language)
        # Function words ("how do I my") would make every FAQ question a BM25 candidate and
        # its best match; candidates must share a topic word when the question has one.
        topic = [t for t in terms if t not in stop and not is_kana_particle(t)]
        translating = bool(self.models.embedder) and language == "zh" and CHINESE_WEIGHT > 0
        if translating:
            dictionary()  # read once (0.4 s), before other searches would wait for the lock
        with self.lock:
            self.follow()
            counts, frequencies = self.keywords.frequencies()
            found = _Candidates(terms, stop, counts, frequencies)
            if translating and counts.get("en"):
                found.english = english_terms(question, frequencies["en"])
                if found.english:
                    found.translated = dict(self.keywords.candidates(list(found.english),
                                                                     found.english))
            if terms:
                self._keyword_rows(found, topic or terms)
            missing = [pid for pid in dict.fromkeys([*(p for p, _ in dense), *found.translated])
                       if pid not in found.found]
            if missing:
                found.rows += [(*row, 0.0) for row in self._rows(missing)]
        return found

    def _keyword_rows(self, found: _Candidates, terms: list[str]) -> None:
        """The keyword candidates of the rarest of `terms`, with their BM25 ranks."""
        ranks = dict(self.keywords.candidates(
            match_terms(terms, found.frequencies.get(None, {}))))
        if ranks:
            found.rows = [(*row, ranks[row[0]]) for row in self._rows(list(ranks))]
        found.found = {row[0] for row in found.rows}

    def _rows(self, ids: list[int]) -> list[tuple]:
        marks = ",".join("?" * len(ids))
        return self.db.execute(f"SELECT {_COLUMNS} FROM passages p WHERE p.id IN ({marks})",
                               ids).fetchall()

    # -- relevance and the keyword order --

    def _term_weights(self, found: _Candidates, language: str | None) -> dict[str, float]:
        """Each of the question's terms weighed by its rarity in the knowledge, a function
        word by STOP_WEIGHT as much."""
        # Frequencies among passages in the question's own language tell its function words
        # ("the", "de", "の") from its topic words; across all languages they would not.
        counts, frequencies = found.counts, found.frequencies
        scope = language if counts.get(language) else None
        total, df = counts.get(scope, 0) or 1, frequencies.get(scope, {})
        # A term the knowledge never uses may be a rare topic word or just a word this folder
        # happens to lack ("puedo"); it weighs as a word in 10% of passages, and no term
        # weighs more, so one rare side word cannot outweigh the question's topic.
        unseen = max(total * UNSEEN_SHARE, 1.0)
        ceiling = math.log(1 + (total - unseen + 0.5) / (unseen + 0.5))
        return {t: min(ceiling, math.log(1 + (total - df.get(t, unseen) + 0.5)
                                         / (df.get(t, unseen) + 0.5)))
                * (STOP_WEIGHT if t in found.stop or is_kana_particle(t) else 1.0)
                for t in found.terms}

    def _score(self, found: _Candidates, meaning: dict[int, float], language: str | None
               ) -> _Scored:
        """Each candidate's relevance, and the keyword candidates in their order."""
        idf = self._term_weights(found, language)
        weight = sum(idf.values()) or 1.0
        best_rank = min((row[-1] for row in found.rows if row[0] in found.found),
                        default=-1.0) or -1.0
        scored = _Scored()
        for pid, path, title, heading, lang, text, from_text, passage_terms, rank in found.rows:
            present = scored.terms_of[pid] = set(passage_terms.split())
            words = sum(w for t, w in idf.items() if t in present) / weight
            scored.shares[pid] = words
            scored.relevance[pid] = max(words, meaning.get(pid, 0.0))
            passage = scored.passages[pid] = Passage(path, title, heading, lang, text,
                                                     bool(from_text))
            if pid not in found.found:
                continue
            # A question that names a section's topic ("livraison") is about that section,
            # even where another passage shares a rarer side word ("temps").
            named = named_terms(*passage.named)
            topical = sum(w for t, w in idf.items() if t in named) / weight
            # BM25 (FTS5 ranks are negative, best first) adds how often the words occur.
            score = words + HEADING_BOOST * topical + BM25_WEIGHT * rank / best_rank
            scored.lexical.append((score, lang == language, -rank, pid))
        scored.lexical.sort(reverse=True)
        return scored

    # -- fusion --

    def _fuse(self, scored: _Scored, dense: list[tuple[int, float]], found: _Candidates
              ) -> list[int]:
        """The passage ids in the order of their fused scores."""
        fused: dict[int, float] = defaultdict(float)
        # A keyword rank counts by the square of the share of the question's words the
        # passage has: across languages the keyword list holds passages that merely share
        # a name or a number, and it must not outvote the embeddings there (figures in
        # docs/performance.md, "Retrieval constants and their measurements").
        for position, item in enumerate(scored.lexical, start=1):
            fused[item[-1]] += scored.shares[item[-1]] ** 2 / (RRF_K + position)
        for position, (pid, _) in enumerate(dense, start=1):
            fused[pid] += 1.0 / (RRF_K + position)
        if found.translated:
            self._fuse_translated(fused, scored, found)
        return sorted(fused, key=fused.get, reverse=True)

    def _fuse_translated(self, fused: dict[int, float], scored: _Scored,
                         found: _Candidates) -> None:
        """Add the list of English passages a Chinese question's translated words found, each
        counted by the square of the share of those words it has."""
        english, translated = found.english, found.translated
        english_weight = sum(english.values())
        english_passages = [pid for pid in sorted(translated, key=translated.get)
                            if pid in scored.passages
                            and scored.passages[pid].language == "en"]
        for position, pid in enumerate(english_passages, start=1):
            present = scored.terms_of[pid]
            share = sum(w for t, w in english.items() if t in present) / english_weight
            fused[pid] += CHINESE_WEIGHT * share ** 2 / (RRF_K + position)
