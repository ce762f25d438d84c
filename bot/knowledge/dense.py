"""Search by meaning: the passages nearest a question by multilingual embeddings, ranked by
three opinions (the passage's vector, its nearest sentence's, a second model's), with
relevance on the keyword relevance's 0..1 scale."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import sqlite_utils

from ..config import E5_RELEVANCE
from ..text import ascii_digits, function_words
from .types import Hit, Passage

if TYPE_CHECKING:
    from ..embeddings import Embedder
    from .vectors import Models, Vectors

# What each constant's value was chosen from: docs/performance.md, "Retrieval constants and
# their measurements".
#: candidates read from the embeddings (from each model's) before the lists are fused
DENSE_CANDIDATES = 40
#: the second model's weight in the dense order, against 1 for the passage and its sentence
SECOND_WEIGHT = 0.8
#: the nearest sentence's weight, against 1 for the passage itself
SENTENCE_WEIGHT = 1.0
#: how far a question's vector is moved from its language's centre against other languages
CENTRE_WEIGHT = 0.5
#: function words embedded for a language's centre (stopwords-iso's list, as questions)
CENTRE_WORDS = 64
#: what the second model's similarity adds to the first one's floor and span (relevance)
SECOND_FLOOR, SECOND_SPAN = 0.214, 0.30
#: the passages after the nearest one whose mean similarity the nearest must stand out from
STANDOUT_OF = 19
#: passages whose vectors are this near the nearest one's are taken as its translations
SAME_TOPIC = 0.9


def embedding_text(passage: Passage) -> str:
    """What a passage's vector is computed from: its heading says what it is about (one taken
    from the text says nothing more, see `Passage.named`). Digits are ASCII ones, as in
    questions (see `Dense.candidates`)."""
    heading = passage.named[1]
    if heading and not passage.text.startswith(heading):
        return ascii_digits(f"{heading}\n{passage.text}")
    return ascii_digits(passage.text)


def dense_relevance(similarity: float, second: float | None = None,
                    scale: tuple[float, float] = E5_RELEVANCE) -> float:
    """Embedding similarities on the same 0..1 scale as the keyword relevance: the first
    model's alone, or with the second model's. `scale` is the first model's (floor, span):
    (evidence - floor) / span, so that floor + 0.3 × span meets the default threshold 0.3."""
    floor, span = scale
    if second is None:
        score = (similarity - floor) / span
    else:
        score = (similarity + second - floor - SECOND_FLOOR) / (span + SECOND_SPAN)
    return min(1.0, max(0.0, score))


@dataclass
class _Nearest:
    """A question's similarities to every passage in RAM and the candidates among them."""

    ids: np.ndarray
    matrix: np.ndarray
    scores: np.ndarray
    #: the second model's, when it reads the question's language
    second_scores: np.ndarray | None
    #: which rows hold a passage (None when all do)
    live: np.ndarray | None
    #: the candidates' rows, in row order
    chosen: list[int]
    #: passage id → (language, sentence vectors) of the candidates
    extra: dict[int, tuple]

    def language(self, row: int) -> str | None:
        """The language of the candidate passage in `row`."""
        return self.extra.get(int(self.ids[row]), (None,))[0]

    def spread(self, scores: np.ndarray) -> tuple[float, float]:
        """The mean and standard deviation of `scores` over the passages."""
        own = scores if self.live is None else scores[self.live]
        return float(own.mean()), float(own.std()) or 1.0


@dataclass
class _Centring:
    """The question moved away from its language's centre, for passages in other languages:
    each such row's score shift, and the average shift that is given back (`lift`)."""

    moved: np.ndarray
    shift: dict[int, float]
    lift: float


def standout(found: _Nearest, passages: int) -> float | None:
    """How far the passage nearest the question stands above the mean similarity of the next
    STANDOUT_OF that are about something else: relative to the knowledge base itself, unlike
    a fixed floor. Its translations (in another language, with vectors within SAME_TOPIC of
    its own) do not count. `passages` is how many rows hold one; None with fewer than two."""
    if passages < 2:
        return None
    scores = found.scores
    k = min(DENSE_CANDIDATES, passages)  # all among the candidates, whose languages are known
    rows = np.argpartition(-scores, k - 1)[:k]
    rows = rows[np.argsort(-scores[rows])]
    language = found.language(rows[0])
    near = found.matrix[rows[1:]] @ found.matrix[rows[0]]
    others = [row for row, same in zip(rows[1:].tolist(), near >= SAME_TOPIC)
              if not (same and found.language(row) != language)][:STANDOUT_OF]
    return float(scores[rows[0]] - scores[others or rows[1:STANDOUT_OF + 1]].mean())


class Dense:
    """The passages nearest a question in meaning. Shares the index's database connection
    and lock; `follow` re-reads the index after another process changed it."""

    def __init__(self, db: sqlite_utils.Database, lock: threading.RLock, models: Models,
                 vectors: Vectors, follow: Callable[[], None],
                 relevance: tuple[float, float] = E5_RELEVANCE):
        self.db = db
        self.lock = lock
        self.models = models
        self.vectors = vectors
        self.follow = follow
        #: the first model's similarity floor and span (retrieval.embedding.relevance_*)
        self.relevance = relevance
        #: each language's centre (see CENTRE_WEIGHT), None where it has none
        self._centres: dict[str, np.ndarray | None] = {}

    def nearest(self, question: str, limit: int = 3) -> list[Hit]:
        """The plain baseline every other ranker is measured against (bench/
        retrieval_quality.py): the passages whose first-model vector is nearest the question's,
        with their cosine as relevance; no keywords, sentences, second model or centring."""
        if not self.models.embedder:
            return []
        vector = self.models.embedder.embed_queries([question])[0]
        with self.lock:
            self.follow()
            ids, matrix, _, live = self.vectors.table().view()
            if not len(ids):
                return []
            scores = matrix @ vector
            if live is not None:
                scores = np.where(live, scores, -np.inf)
            best = np.argsort(-scores)[:limit]
            rows = {row[0]: row[1:] for row in self.db.execute(
                "SELECT id, path, title, heading, language, text, title_from_text "
                "FROM passages WHERE id IN "
                f"({','.join('?' * len(best))})", [int(ids[i]) for i in best])}
        return [Hit(Passage(*rows[int(ids[i])]), float(scores[i])) for i in best
                if int(ids[i]) in rows]

    def candidates(self, question: str, language: str | None
                   ) -> tuple[list[tuple[int, float]], float | None]:
        """(passage id, relevance) of the passages nearest the question in meaning, best
        first; and how far the nearest stands out from the rest (`standout`; None when fewer
        than two passages are embedded).

        Each model proposes its nearest passages; they are ordered by the passage's
        similarity plus its nearest sentence's plus the second model's, each counted in
        standard deviations above the question's mean similarity to the knowledge, so that
        the models' different scales weigh alike.
        """
        question = self._question(question)
        vector = self.models.embedder.embed_queries([question])[0]
        second = self.models.second
        second = second if second and language in second.languages else None
        second_vector = second.embed_queries([question])[0] if second else None
        with self.lock:
            self.follow()
            found = self._nearest(vector, second_vector)
        if found is None:
            return [], None
        centring = self._centring(found, vector, language)
        passages = len(found.scores) if found.live is None else int(found.live.sum())
        return (self._order(found, vector, centring, second),
                standout(found, passages))

    @staticmethod
    def _question(question: str) -> str:
        """The question as the models are asked it."""
        # "๑๙๙๕" and "1995" are one number to a reader, not to the models: XQuAD's Thai
        # questions with a number, written in Thai digits, found their English paragraph
        # 0.911 of the time with only the search terms' digits made ASCII, 0.962 with these.
        return ascii_digits(question)

    def _nearest(self, vector: np.ndarray, second_vector: np.ndarray | None
                 ) -> _Nearest | None:
        """Each model's DENSE_CANDIDATES nearest passages (None when nothing is embedded);
        the caller holds the lock."""
        table = self.vectors.table()
        if not len(table):
            return None
        ids, matrix, second_matrix, live = table.view()
        scores = matrix @ vector
        second_scores = second_matrix @ second_vector if second_vector is not None else None
        if live is not None:  # rows freed by an edit, until they are reused
            scores = np.where(live, scores, -np.inf)
            if second_scores is not None:
                second_scores = np.where(live, second_scores, -np.inf)
        k = min(DENSE_CANDIDATES, len(table))
        chosen = set(np.argpartition(-scores, k - 1)[:k].tolist())
        if second_scores is not None:
            chosen |= set(np.argpartition(-second_scores, k - 1)[:k].tolist())
        chosen = sorted(chosen)
        marks = ",".join("?" * len(chosen))
        extra = {row[0]: row[1:] for row in self.db.execute(
            "SELECT p.id, p.language, v.sentences FROM passages p JOIN vectors v "
            f"ON v.digest = p.digest WHERE p.id IN ({marks})",
            [int(ids[i]) for i in chosen])}
        return _Nearest(ids, matrix, scores, second_scores, live, chosen, extra)

    def _centring(self, found: _Nearest, vector: np.ndarray, language: str | None
                  ) -> _Centring:
        """Passages in other languages than the question's are ranked against the question
        moved away from its language's centre. Their scores move by as much on average as
        they are moved (`lift`), so that they keep their footing against passages in the
        question's language; relevance stays on the model's own scale. The centre is only
        worked out once such a passage is a candidate."""
        foreign = [i for i in found.chosen
                   if found.extra.get(int(found.ids[i]), (None,))[0] != language]
        centre = self._centre(language) if foreign else None
        if centre is None:
            return _Centring(vector, {}, 0.0)
        pull = CENTRE_WEIGHT * (found.matrix[foreign] @ centre)
        lift = float(pull.mean())
        shift = dict(zip(foreign, (pull - lift).tolist()))
        return _Centring(vector - CENTRE_WEIGHT * centre, shift, lift)

    def _order(self, found: _Nearest, vector: np.ndarray, centring: _Centring,
               second: Embedder | None) -> list[tuple[int, float]]:
        """The candidates, best first by the models' combined opinion, with their
        relevance."""
        mean, spread = found.spread(found.scores)
        second_mean, second_spread = (found.spread(found.second_scores) if second is not None
                                      else (0.0, 1.0))
        order = []
        for i in found.chosen:
            pid, similarity = int(found.ids[i]), float(found.scores[i])
            lang, blob = found.extra.get(pid, (None, None))
            ranked = similarity - centring.shift.get(i, 0.0)
            nearest = self._nearest_sentence(blob, i, vector, centring, ranked)
            own = (ranked - mean) / spread
            combined = own + SENTENCE_WEIGHT * (nearest - mean) / spread
            if second is not None and lang in second.languages:
                second_score = found.second_scores[i]
                combined += SECOND_WEIGHT * (second_score - second_mean) / second_spread
                relevance = dense_relevance(similarity, float(second_score), self.relevance)
            else:
                # Where the second model cannot read the passage, the first one's opinion
                # stands in for its.
                combined += SECOND_WEIGHT * own if second is not None else 0.0
                relevance = dense_relevance(similarity, scale=self.relevance)
            order.append((combined, pid, relevance))
        order.sort(reverse=True)
        return [(pid, relevance) for _, pid, relevance in order]

    def _nearest_sentence(self, blob: bytes | None, row: int, vector: np.ndarray,
                          centring: _Centring, ranked: float) -> float:
        """The similarity of the passage's nearest sentence, as `ranked` is the passage's;
        a one-sentence passage's (no sentence vectors) is its own."""
        if not (self.models.by_sentence and blob):
            return ranked
        parts = np.frombuffer(blob, np.float16).reshape(-1, len(vector)).astype(np.float32)
        if row in centring.shift:
            return float((parts @ centring.moved).max()) + centring.lift
        return float((parts @ vector).max())

    def _centre(self, language: str | None) -> np.ndarray | None:
        """The mean vector of the language's function words, embedded as questions (None
        without a list for it); worked out once per language."""
        if not language or not CENTRE_WEIGHT:
            return None
        if language not in self._centres:
            words = function_words(language)
            sample = words[::max(1, len(words) // CENTRE_WORDS)][:CENTRE_WORDS]
            self._centres[language] = (
                self.models.embedder.embed_queries(list(sample)).mean(axis=0)
                if sample else None)
        return self._centres[language]
