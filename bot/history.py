"""Per-conversation history in SQLite, so that a restart loses nothing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from .knowledge import Source

migrations = Migrations("babeldesk.history")


@migrations()
def create_conversations_and_turns(db: sqlite_utils.Database) -> None:
    db["conversations"].create({
        "id": str, "platform": str, "workspace": str, "channel": str, "thread": str,
        "language": str, "created": float, "updated": float,
    }, pk="id")
    db["turns"].create({
        "id": int, "conversation_id": str, "role": str, "author": str, "text": str,
        "language": str, "sources": str, "abstained": int, "created": float,
    }, pk="id", foreign_keys=[("conversation_id", "conversations", "id")])
    db["turns"].create_index(["conversation_id", "id"])
    db["turns"].create_index(["author"])
    db["conversations"].create_index(["platform", "workspace", "channel"])


@dataclass(frozen=True)
class ConversationKey:
    """One conversation: a thread, or a channel or DM outside threads."""

    platform: str
    workspace: str
    channel: str
    thread: str = ""

    @property
    def id(self) -> str:
        return "/".join((self.platform, self.workspace, self.channel, self.thread))


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    author: str = ""
    language: str = ""
    sources: list[Source] = field(default_factory=list)
    abstained: bool = False
    created: float = 0.0


class History:
    """The store of conversations and their turns. Safe to use from several threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=False))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        with self._lock:
            migrations.apply(self.db)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def language(self, key: ConversationKey) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT language FROM conversations WHERE id = ?",
                                  [key.id]).fetchone()
        return row[0] if row and row[0] else None

    def recent(self, key: ConversationKey, limit: int = 50) -> list[Turn]:
        """The conversation's last `limit` turns, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "SELECT role, text, author, language, sources, abstained, created FROM turns "
                "WHERE conversation_id = ? ORDER BY id DESC LIMIT ?", [key.id, limit]).fetchall()
        return [Turn(role, text, author, language or "",
                     [Source(**s) for s in json.loads(sources or "[]")], bool(abstained), created)
                for role, text, author, language, sources, abstained, created in reversed(rows)]

    def count(self, key: ConversationKey | None = None) -> int:
        with self._lock:
            if key is None:
                return self.db["turns"].count
            return self.db.execute("SELECT count(*) FROM turns WHERE conversation_id = ?",
                                   [key.id]).fetchone()[0]

    def add_exchange(self, key: ConversationKey, question: Turn, answer: Turn,
                     max_turns: int = 0) -> None:
        """Store a question and its answer together, and the conversation's language."""
        now = time.time()
        with self._lock, self.db.conn:
            self.db.execute(
                "INSERT INTO conversations (id, platform, workspace, channel, thread, language, "
                "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                "SET language = excluded.language, updated = excluded.updated",
                [key.id, key.platform, key.workspace, key.channel, key.thread,
                 answer.language or question.language, now, now])
            for turn in (question, answer):
                self.db.execute(
                    "INSERT INTO turns (conversation_id, role, author, text, language, sources, "
                    "abstained, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [key.id, turn.role, turn.author, turn.text, turn.language,
                     json.dumps([s.to_dict() for s in turn.sources], ensure_ascii=False),
                     int(turn.abstained), turn.created or now])
            if max_turns:
                self.db.execute(
                    "DELETE FROM turns WHERE conversation_id = ? AND id NOT IN (SELECT id FROM "
                    "turns WHERE conversation_id = ? ORDER BY id DESC LIMIT ?)",
                    [key.id, key.id, max_turns])

    def prune(self, max_age_days: float = 0, max_turns: int = 0) -> int:
        """Apply the retention settings to every conversation; returns turns deleted."""
        deleted = 0
        with self._lock, self.db.conn:
            if max_age_days:
                cutoff = time.time() - max_age_days * 86400
                deleted += self.db.execute("DELETE FROM turns WHERE created < ?",
                                           [cutoff]).rowcount
            if max_turns:
                deleted += self.db.execute(
                    "DELETE FROM turns WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER "
                    "(PARTITION BY conversation_id ORDER BY id DESC) AS n FROM turns) WHERE n > ?)",
                    [max_turns]).rowcount
            self._drop_empty_conversations()
        return deleted

    def forget(self, platform: str | None = None, workspace: str | None = None,
               channel: str | None = None, user: str | None = None) -> int:
        """Delete the history of a channel (every thread in it) or of one user; returns turns
        deleted. At least a channel or a user must be given."""
        if not channel and not user:
            raise ValueError("forget needs a channel or a user")
        where, args = [], []
        for column, value in (("platform", platform), ("workspace", workspace),
                              ("channel", channel)):
            if value:
                where.append(f"c.{column} = ?")
                args.append(value)
        if user:
            where.append("t.author = ?")
            args.append(user)
        with self._lock, self.db.conn:
            deleted = self.db.execute(
                "DELETE FROM turns WHERE id IN (SELECT t.id FROM turns t JOIN conversations c "
                f"ON c.id = t.conversation_id WHERE {' AND '.join(where)})", args).rowcount
            self._drop_empty_conversations()
        return deleted

    def _drop_empty_conversations(self) -> None:
        self.db.execute("DELETE FROM conversations WHERE id NOT IN "
                        "(SELECT DISTINCT conversation_id FROM turns)")
