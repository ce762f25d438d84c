"""The knowledge index's schema, as migrations (sqlite-utils), and the settings it was
last opened with (the meta table).

Tables: `files` (each knowledge file's hash, size, time and error), `passages` with its FTS5
index `passages_fts` (babeldesk's own search terms, taken as they are), `vectors` (each
passage text's vectors, float16, keyed by the text's digest) and `meta` (settings: the chunk
size and the embedding models' identities; see `FolderSync.settle` and `Vectors.settle`).

The passages can always be parsed again from the folder; the vectors cost minutes to hours
of embedding. So when parsing or the search terms change, a new migration calls
`rebuild_passages`, as the first one does for an index of an older parser:

    @migrations()
    def parse_again_for_new_search_terms(db: sqlite_utils.Database) -> None:
        rebuild_passages(db)

The next sync then parses every file again, and every passage whose text comes out the same
finds its vectors by its digest: nothing is embedded again.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils
from sqlite_utils import Migrations

migrations = Migrations("babeldesk.knowledge")

#: the meta "version" of the last index written before migrations (babeldesk 20bdb7f): it
#: has this schema and these passages; an older one's passages are parsed again
LAST_VERSION = "8"


def create_passages(db: sqlite_utils.Database) -> None:
    """The files and passages tables and the passages' full-text index, where missing."""
    db["files"].create({"path": str, "sha256": str, "language": str, "size": int,
                        "mtime_ns": int, "passages": int, "error": str},
                       pk="path", if_not_exists=True)
    if "passages" in db.table_names():
        return
    db["passages"].create({"id": int, "path": str, "title": str, "heading": str,
                           "language": str, "position": int, "text": str, "terms": str,
                           "digest": str, "title_from_text": bool}, pk="id")
    db["passages"].create_index(["path"])
    db["passages"].create_index(["digest"])
    # The terms column holds babeldesk's own terms (`search_terms`), separated by spaces:
    # FTS5 must take each as one token. unicode61 split the words of Hindi or Thai at their
    # vowel signs, so their counts and lengths were not the terms'.
    db["passages"].enable_fts(["terms"], create_triggers=True, tokenize="ascii")


def rebuild_passages(db: sqlite_utils.Database) -> None:
    """Empty the files, passages and full-text tables, so that the next sync parses every
    file again. Vectors stay: they depend on the passages' text and the embedding model only."""
    for table in ("passages_fts", "passages", "files"):
        db.execute(f"DROP TABLE IF EXISTS [{table}]")
    create_passages(db)


@migrations()
def create_index(db: sqlite_utils.Database) -> None:
    """The schema of meta version 8. An index written before migrations is taken as it is,
    vectors and all; only an older parser's passages are parsed again."""
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    if version and version[0] != LAST_VERSION:
        rebuild_passages(db)
    db.execute("DELETE FROM meta WHERE key = 'version'")  # the migrations say it now
    db["vectors"].create({"digest": str, "vector": bytes, "sentences": bytes,
                          "second": bytes}, pk="digest", if_not_exists=True)
    for column in ("sentences", "second"):  # indexes of an earlier babeldesk
        if column not in db["vectors"].columns_dict:
            db["vectors"].add_column(column, bytes)
    create_passages(db)


@migrations()
def parse_again_without_syllable_pairs(db: sqlite_utils.Database) -> None:
    """Vietnamese passages' terms no longer include pairs of neighbouring syllables
    (docs/performance.md, "Every ranker earns its place")."""
    rebuild_passages(db)


@migrations()
def parse_again_for_titles_from_text(db: sqlite_utils.Database) -> None:
    """A file without a title or heading is titled by its first sentence, no longer by its
    name ("Tbb tbb 29"), and a front-matter title wins over the first heading; an FAQ entry
    without a title is titled by its question. Only passages whose text to embed changed
    (those of such files) are embedded again."""
    rebuild_passages(db)


def upgrade(db: sqlite_utils.Database) -> None:
    """Apply the migrations this index has not had yet."""
    try:
        migrations.apply(db)
    except sqlite3.DatabaseError:
        # Another process opening the same index (`babeldesk index` beside `babeldesk run`)
        # may have applied them a moment before: then there is nothing left to do.
        if migrations.pending(db):
            raise


def read_settings(db: sqlite_utils.Database) -> dict[str, str]:
    return {row["key"]: row["value"] for row in db["meta"].rows}


def write_settings(db: sqlite_utils.Database, settings: dict[str, str]) -> None:
    db["meta"].upsert_all([{"key": k, "value": v} for k, v in settings.items()], pk="key")
