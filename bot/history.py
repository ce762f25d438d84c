"""Per-conversation history in SQLite, so that a restart loses nothing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils
from sqlite_utils import Migrations

from .knowledge import Source

if TYPE_CHECKING:
    from .actions import ActionResult

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


@migrations()
def add_feedback_and_handoffs(db: sqlite_utils.Database) -> None:
    db["feedback"].create({"turn_id": int, "user": str, "value": int, "created": float},
                          pk=("turn_id", "user"), foreign_keys=[("turn_id", "turns", "id")])
    db["handoffs"].create({"conversation_id": str, "requested_by": str, "created": float},
                          pk="conversation_id")


@migrations()
def add_seen_events(db: sqlite_utils.Database) -> None:
    db["seen_events"].create({"platform": str, "event_id": str, "created": float},
                             pk=("platform", "event_id"))
    db["seen_events"].create_index(["created"])


@migrations()
def add_turn_prompts(db: sqlite_utils.Database) -> None:
    # What the model was given for the turn (the question with its passages, the raw answer):
    # later prompts repeat it word for word, so the model's cached state of the conversation
    # stays a prefix of the next prompt.
    db["turns"].add_column("prompt", str)


@migrations()
def add_requested_language(db: sqlite_utils.Database) -> None:
    # A language the user asked for ("answer in French, please") holds for the rest of the
    # conversation, whatever language later messages are written in, until they ask again.
    db["conversations"].add_column("requested", str)


@migrations()
def add_action_calls(db: sqlite_utils.Database) -> None:
    # Each request an action made (bot/actions.py): which, with what, how it went, how long it
    # took. No foreign key: a call is recorded before its exchange creates the conversation.
    db["action_calls"].create({
        "id": int, "conversation_id": str, "author": str, "action": str, "arguments": str,
        "status": str, "error": str, "seconds": float, "created": float,
    }, pk="id")
    db["action_calls"].create_index(["conversation_id", "id"])
    db["action_calls"].create_index(["created"])


@migrations()
def add_turn_outcomes(db: sqlite_utils.Database) -> None:
    # What became of each answer (Answer.kind: answer, abstained, refused, error, ...) and how
    # long the customer waited for its first words and for all of it: `babeldesk report`.
    db["turns"].add_column("kind", str)
    db["turns"].add_column("first_token", float)
    db["turns"].add_column("seconds", float)
    db["turns"].create_index(["created"])


@migrations()
def add_turn_context(db: sqlite_utils.Database) -> None:
    # What the model was given for an answer it wrote: the system prompt, and the question with
    # its passages (`prompt` keeps the question without them, as later prompts repeat it).
    # `babeldesk export-training` turns them into fine-tuning examples.
    db["turns"].add_column("system", str)
    db["turns"].add_column("context", str)


#: seconds a platform event id is remembered for; Slack retries within minutes
SEEN_EVENTS_KEEP = 86400


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

    @property
    def workspace_id(self) -> str:
        """What the id of every conversation in this workspace begins with."""
        return f"{self.platform}/{self.workspace}/"


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    text: str
    author: str = ""
    language: str = ""
    sources: list[Source] = field(default_factory=list)
    abstained: bool = False
    created: float = 0.0
    #: the text the model saw for this turn, when it differs from `text`
    prompt: str = ""
    id: int | None = None
    #: an answer's outcome (`Answer.kind`), and the seconds from the message's arrival to
    #: the answer's first words and to its end
    kind: str = ""
    first_token: float | None = None
    seconds: float | None = None
    #: for an answer the model wrote: its system prompt, and the question as it read it,
    #: passages included
    system: str = ""
    context: str = ""


@dataclass(frozen=True)
class ActionCall:
    """One request an action made, as recorded."""

    action: str
    arguments: dict
    #: ok, failed or refused (`bot.actions.ActionResult.status`); pending while the
    #: customer has not confirmed it, declined when they said no
    status: str
    error: str = ""
    seconds: float = 0.0
    author: str = ""
    created: float = 0.0
    id: int | None = None
    conversation_id: str = ""


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

    def requested_language(self, key: ConversationKey) -> str | None:
        """The language the user asked to be answered in, if they did."""
        with self._lock:
            row = self.db.execute("SELECT requested FROM conversations WHERE id = ?",
                                  [key.id]).fetchone()
        return row[0] if row and row[0] else None

    def recent(self, key: ConversationKey, limit: int = 50) -> list[Turn]:
        """The conversation's last `limit` turns, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "SELECT role, text, author, language, sources, abstained, created, prompt, id "
                "FROM turns WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
                [key.id, limit]).fetchall()
        return [Turn(role, text, author, language or "",
                     [Source(**s) for s in json.loads(sources or "[]")], bool(abstained), created,
                     prompt or "", turn_id)
                for role, text, author, language, sources, abstained, created, prompt, turn_id
                in reversed(rows)]

    def count(self, key: ConversationKey | None = None) -> int:
        with self._lock:
            if key is None:
                return self.db["turns"].count
            return self.db.execute("SELECT count(*) FROM turns WHERE conversation_id = ?",
                                   [key.id]).fetchone()[0]

    def add_exchange(self, key: ConversationKey, question: Turn, answer: Turn,
                     max_turns: int = 0, requested: str | None = None) -> int:
        """Store a question and its answer together, and the conversation's language (and
        the language the question asked for, when it asked for one); returns the answer's turn
        id, which feedback refers to."""
        now = time.time()
        with self._lock, self.db.conn:
            self.db.execute(
                "INSERT INTO conversations (id, platform, workspace, channel, thread, language, "
                "created, updated, requested) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET language = excluded.language, "
                "updated = excluded.updated, "
                "requested = coalesce(excluded.requested, conversations.requested)",
                [key.id, key.platform, key.workspace, key.channel, key.thread,
                 answer.language or question.language, now, now, requested])
            for turn in (question, answer):
                turn_id = self.db.execute(
                    "INSERT INTO turns (conversation_id, role, author, text, language, sources, "
                    "abstained, created, prompt, kind, first_token, seconds, system, context) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [key.id, turn.role, turn.author, turn.text, turn.language,
                     json.dumps([s.to_dict() for s in turn.sources], ensure_ascii=False),
                     int(turn.abstained), turn.created or now, turn.prompt or None,
                     turn.kind or None, turn.first_token, turn.seconds, turn.system or None,
                     turn.context or None]).lastrowid
            if max_turns:
                self._delete_turns(
                    "SELECT id FROM turns WHERE conversation_id = ? AND id NOT IN (SELECT id "
                    "FROM turns WHERE conversation_id = ? ORDER BY id DESC LIMIT ?)",
                    [key.id, key.id, max_turns])
        return turn_id

    def record_action(self, key: ConversationKey, action: str, arguments: dict,
                      result: "ActionResult", author: str = "") -> int:
        """Store one action call (`bot.actions.Actions.call`'s result) in the conversation;
        returns its id."""
        with self._lock, self.db.conn:
            return self.db.execute(
                "INSERT INTO action_calls (conversation_id, author, action, arguments, status, "
                "error, seconds, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [key.id, author, action, json.dumps(arguments, ensure_ascii=False),
                 result.status, result.error, result.seconds, time.time()]).lastrowid

    def settle_action(self, call_id: int, result: "ActionResult", pending: bool = True
                      ) -> bool:
        """Store how a pending call ended (sent, declined); False when it was not pending
        any more (a second press of the button) or is forgotten."""
        with self._lock, self.db.conn:
            return self.db.execute(
                "UPDATE action_calls SET status = ?, error = ?, seconds = ? WHERE id = ?"
                + (" AND status = 'pending'" if pending else ""),
                [result.status, result.error, result.seconds, call_id]).rowcount > 0

    _ACTION_COLUMNS = ("SELECT action, arguments, status, error, seconds, author, created, id, "
                       "conversation_id FROM action_calls")

    def action_calls(self, key: ConversationKey | None = None, since: float = 0.0,
                     limit: int = 1000) -> list[ActionCall]:
        """The conversation's action calls (every conversation's without `key`), oldest
        first: the last `limit` made at or after `since`."""
        where, args = "created >= ?", [since]
        if key is not None:
            where, args = where + " AND conversation_id = ?", [*args, key.id]
        with self._lock:
            rows = self.db.execute(
                f"SELECT * FROM ({self._ACTION_COLUMNS} WHERE {where} ORDER BY id DESC LIMIT ?) "
                "ORDER BY id", [*args, limit]).fetchall()
        return [self._action_call(row) for row in rows]

    def action_call(self, call_id: int) -> ActionCall | None:
        with self._lock:
            row = self.db.execute(f"{self._ACTION_COLUMNS} WHERE id = ?",
                                  [call_id]).fetchone()
        return self._action_call(row) if row else None

    @staticmethod
    def _action_call(row) -> ActionCall:
        action, arguments, status, error, seconds, author, created, call_id, conversation = row
        return ActionCall(action, json.loads(arguments or "{}"), status, error or "",
                          seconds or 0.0, author or "", created, call_id, conversation)

    def _delete_turns(self, select: str, args: list) -> int:
        """Delete the turns that `select` returns the ids of, with their feedback."""
        self.db.execute(f"DELETE FROM feedback WHERE turn_id IN ({select})", args)
        return self.db.execute(f"DELETE FROM turns WHERE id IN ({select})", args).rowcount

    # -- feedback and hand-off to a human --

    def add_feedback(self, turn_id: int, user: str, value: int, within: str = "") -> bool:
        """A person's 👍 (+1) or 👎 (-1) on an answer; a second vote replaces the first.
        False when the answer is no longer stored, or is in no conversation whose id begins
        with `within`."""
        with self._lock, self.db.conn:
            exists = self.db.execute(
                "SELECT 1 FROM turns WHERE id = ? AND role = 'assistant' "
                "AND substr(conversation_id, 1, length(?)) = ?",
                [turn_id, within, within]).fetchone()
            if not exists:
                return False
            self.db.execute(
                "INSERT INTO feedback (turn_id, user, value, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(turn_id, user) DO UPDATE SET value = excluded.value, "
                "created = excluded.created", [turn_id, user, 1 if value > 0 else -1, time.time()])
        return True

    def feedback(self, turn_id: int) -> dict[str, int]:
        with self._lock:
            return dict(self.db.execute("SELECT user, value FROM feedback WHERE turn_id = ?",
                                        [turn_id]).fetchall())

    def turn(self, turn_id: int) -> Turn | None:
        with self._lock:
            row = self.db.execute(
                "SELECT role, text, author, language, sources, abstained, created FROM turns "
                "WHERE id = ?", [turn_id]).fetchone()
        if not row:
            return None
        role, text, author, language, sources, abstained, created = row
        return Turn(role, text, author, language or "",
                    [Source(**s) for s in json.loads(sources or "[]")], bool(abstained), created)

    def hand_off(self, key: ConversationKey, requested_by: str) -> bool:
        """Mark the conversation as taken over by people; False if it already was."""
        with self._lock, self.db.conn:
            return self.db.execute(
                "INSERT OR IGNORE INTO handoffs (conversation_id, requested_by, created) "
                "VALUES (?, ?, ?)", [key.id, requested_by, time.time()]).rowcount == 1

    def release(self, key: ConversationKey) -> bool:
        """Let the bot answer in the conversation again; False if it was not handed off."""
        with self._lock, self.db.conn:
            return self.db.execute("DELETE FROM handoffs WHERE conversation_id = ?",
                                   [key.id]).rowcount == 1

    def claim_event(self, platform: str, event_id: str) -> bool:
        """True the first time an event is seen: a retried delivery of it gets False, so a
        message is answered once however often the platform sends it."""
        now = time.time()
        with self._lock, self.db.conn:
            self.db.execute("DELETE FROM seen_events WHERE created < ?", [now - SEEN_EVENTS_KEEP])
            return self.db.execute(
                "INSERT OR IGNORE INTO seen_events (platform, event_id, created) "
                "VALUES (?, ?, ?)", [platform, event_id, now]).rowcount == 1

    def has_conversation(self, key: ConversationKey) -> bool:
        """Whether babeldesk has answered in this conversation (and still remembers it)."""
        with self._lock:
            return self.db.execute("SELECT 1 FROM conversations WHERE id = ?",
                                   [key.id]).fetchone() is not None

    def is_handed_off(self, key: ConversationKey) -> bool:
        with self._lock:
            return self.db.execute("SELECT 1 FROM handoffs WHERE conversation_id = ?",
                                   [key.id]).fetchone() is not None

    def prune(self, max_age_days: float = 0, max_turns: int = 0) -> int:
        """Apply the retention settings to every conversation; returns turns deleted."""
        deleted = 0
        with self._lock, self.db.conn:
            if max_age_days:
                cutoff = time.time() - max_age_days * 86400
                deleted += self._delete_turns("SELECT id FROM turns WHERE created < ?", [cutoff])
                self.db.execute("DELETE FROM action_calls WHERE created < ?", [cutoff])
            if max_turns:
                deleted += self._delete_turns(
                    "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY "
                    "conversation_id ORDER BY id DESC) AS n FROM turns) WHERE n > ?",
                    [max_turns])
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
            if user:  # their action calls' arguments: order numbers, e-mail addresses
                within = " AND ".join(where[:-1])
                self.db.execute(
                    "DELETE FROM action_calls WHERE author = ?" + (
                        f" AND conversation_id IN (SELECT id FROM conversations c WHERE {within})"
                        if within else ""), [user, *args[:-1]])
            deleted = self._delete_turns(
                "SELECT t.id FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                f"WHERE {' AND '.join(where)}", args)
            self._drop_empty_conversations()
        return deleted

    def _drop_empty_conversations(self) -> None:
        self.db.execute("DELETE FROM action_calls WHERE conversation_id IN (SELECT id FROM "
                        "conversations WHERE id NOT IN (SELECT DISTINCT conversation_id FROM "
                        "turns))")
        self.db.execute("DELETE FROM conversations WHERE id NOT IN "
                        "(SELECT DISTINCT conversation_id FROM turns)")
