"""Conversation history in SQLite: durable, keyed per conversation, retention applied."""

from __future__ import annotations

import time

import sqlite_utils

from bot.actions import ActionResult
from bot.history import ConversationKey, History, Turn, migrations
from bot.knowledge import Source


def exchange(history, key, question, answer="ok", author="U1", created=None, max_turns=0):
    created = created or time.time()
    history.add_exchange(key, Turn("user", question, author, "en", created=created),
                         Turn("assistant", answer, author, "en",
                              [Source("en/a.md", "Heading")], created=created),
                         max_turns=max_turns)


def test_history_survives_reopening_with_sources(tmp_path):
    key = ConversationKey("slack", "T1", "C1", "1700000000.000100")
    history = History(tmp_path / "history.db")
    exchange(history, key, "first question", "first answer")
    history.close()
    history = History(tmp_path / "history.db")
    try:
        turns = history.recent(key)
        assert [(t.role, t.text) for t in turns] == [("user", "first question"),
                                                    ("assistant", "first answer")]
        assert turns[1].sources == [Source("en/a.md", "Heading")]
        assert history.language(key) == "en"
    finally:
        history.close()


def test_conversations_are_kept_apart(tmp_path):
    history = History(tmp_path / "history.db")
    keys = [ConversationKey("slack", "T1", "C1", ""), ConversationKey("slack", "T1", "C1", "t"),
            ConversationKey("slack", "T2", "C1", ""), ConversationKey("discord", "T1", "C1", "")]
    for i, key in enumerate(keys):
        exchange(history, key, f"question {i}")
    for i, key in enumerate(keys):
        assert [t.text for t in history.recent(key)] == [f"question {i}", "ok"]
    history.close()


def test_schema_comes_from_migrations_and_uses_wal(tmp_path):
    History(tmp_path / "history.db").close()
    History(tmp_path / "history.db").close()  # applying twice changes nothing
    db = sqlite_utils.Database(tmp_path / "history.db")
    assert migrations.pending(db) == []
    assert [m.name for m in migrations.applied(db)] == [
        "create_conversations_and_turns", "add_feedback_and_handoffs", "add_seen_events",
        "add_turn_prompts", "add_requested_language", "add_action_calls", "add_turn_outcomes",
        "add_turn_context"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"conversations", "turns", "feedback", "handoffs", "seen_events",
            "action_calls"} <= set(db.table_names())


async def test_each_answer_keeps_its_outcome_and_its_times(core):
    from helpers import message

    await core.pipeline.respond(message("What is the capital of Mongolia?", channel="T-1"))
    await core.pipeline.respond(message("", channel="T-1"))
    rows = core.history.db.execute(
        "SELECT kind, first_token, seconds FROM turns WHERE role = 'assistant' "
        "AND conversation_id LIKE '%/T-1/%' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["abstained"]  # an empty message is not stored
    kind, first, seconds = rows[0]
    assert 0 < first <= seconds


def test_a_platform_event_is_claimed_once(tmp_path):
    history = History(tmp_path / "history.db")
    assert history.claim_event("slack", "C1:1700000000.000100")
    assert not history.claim_event("slack", "C1:1700000000.000100")
    assert history.claim_event("discord", "C1:1700000000.000100")
    history.close()
    assert not History(tmp_path / "history.db").claim_event("slack", "C1:1700000000.000100")


def test_retention_by_age_and_by_turns(tmp_path):
    history = History(tmp_path / "history.db")
    key = ConversationKey("terminal", "local", "c", "")
    exchange(history, key, "ancient", created=time.time() - 100 * 86400)
    for i in range(5):
        exchange(history, key, f"recent {i}")
    assert history.prune(max_age_days=90) == 2
    assert history.prune(max_turns=4) == 6
    assert [t.text for t in history.recent(key)] == ["recent 3", "ok", "recent 4", "ok"]
    exchange(history, key, "newest", max_turns=4)
    assert [t.text for t in history.recent(key)][0] == "recent 4"
    history.close()


def test_forget_a_channel_or_a_user(tmp_path):
    history = History(tmp_path / "history.db")
    c1 = ConversationKey("slack", "T1", "C1", "")
    c1_thread = ConversationKey("slack", "T1", "C1", "t1")
    c2 = ConversationKey("slack", "T1", "C2", "")
    exchange(history, c1, "a", author="alice")
    exchange(history, c1_thread, "b", author="bob")
    exchange(history, c2, "c", author="alice")
    exchange(history, c2, "d", author="bob")
    assert history.forget(channel="C1", platform="slack") == 4
    assert history.count(c1) == history.count(c1_thread) == 0
    assert history.forget(user="alice") == 2
    assert [t.text for t in history.recent(c2)] == ["d", "ok"]
    assert history.language(c1) is None
    history.close()


def test_feedback_is_stored_with_the_answer_and_replaced_by_a_second_vote(tmp_path):
    history = History(tmp_path / "history.db")
    key = ConversationKey("slack", "T1", "C1", "")
    turn_id = history.add_exchange(key, Turn("user", "q", "U1"), Turn("assistant", "a", "U1"))
    assert history.turn(turn_id).text == "a"
    assert history.add_feedback(turn_id, "U1", 1)
    assert history.add_feedback(turn_id, "U2", -1)
    assert history.add_feedback(turn_id, "U1", -1)
    assert history.feedback(turn_id) == {"U1": -1, "U2": -1}
    assert not history.add_feedback(turn_id - 1, "U1", 1)  # a question, not an answer
    assert not history.add_feedback(9999, "U1", 1)
    assert history.forget(channel="C1") == 2
    assert history.feedback(turn_id) == {}
    history.close()


def test_handoff_is_kept_until_released_and_survives_reopening(tmp_path):
    history = History(tmp_path / "history.db")
    key = ConversationKey("discord", "G1", "C1", "th")
    assert history.hand_off(key, "U1")
    assert not history.hand_off(key, "U2")
    history.close()
    history = History(tmp_path / "history.db")
    assert history.is_handed_off(key)
    assert not history.is_handed_off(ConversationKey("discord", "G1", "C1", "other"))
    assert history.release(key) and not history.release(key)
    assert not history.is_handed_off(key)
    history.close()


def test_a_turn_keeps_what_the_model_saw(tmp_path):
    history = History(tmp_path / "history.db")
    key = ConversationKey("slack", "T1", "C1", "")
    history.add_exchange(key, Turn("user", "refund?", "U1", "en",
                                   prompt="Help-centre passages: …\n\nQuestion: refund?"),
                         Turn("assistant", "Within 30 days.", "U1", "en", prompt=" Within 30 days."))
    history.add_exchange(key, Turn("user", "thanks", "U1", "en"), Turn("assistant", "Bye", "U1"))
    turns = history.recent(key)
    assert [t.prompt for t in turns] == ["Help-centre passages: …\n\nQuestion: refund?",
                                         " Within 30 days.", "", ""]
    assert [t.id for t in turns] == sorted(t.id for t in turns)
    history.close()


def test_a_history_from_before_actions_is_upgraded_and_keeps_its_conversations(tmp_path):
    path = tmp_path / "history.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="add_action_calls")
    assert "action_calls" not in db.table_names()
    db.execute("INSERT INTO conversations (id, platform, workspace, channel, thread, language, "
               "created, updated) VALUES ('slack/T1/C1/', 'slack', 'T1', 'C1', '', 'de', 1, 1)")
    db.execute("INSERT INTO turns (conversation_id, role, author, text, language, sources, "
               "abstained, created) VALUES ('slack/T1/C1/', 'user', 'U1', 'Wo ist mein "
               "Paket?', 'de', '[]', 0, 1)")
    db.conn.commit()
    db.close()
    key = ConversationKey("slack", "T1", "C1", "")
    history = History(path)
    try:
        assert [t.text for t in history.recent(key)] == ["Wo ist mein Paket?"]
        assert history.language(key) == "de"
        history.record_action(key, "order_status", {"order_id": "48213"},
                              ActionResult("ok", {"status": "shipped"}, "", 0.25))
        (call,) = history.action_calls(key)
        assert (call.action, call.arguments, call.status, call.error, call.seconds) == (
            "order_status", {"order_id": "48213"}, "ok", "", 0.25)
        assert migrations.pending(history.db) == []
    finally:
        history.close()


def test_action_calls_follow_retention_and_forgetting(tmp_path):
    history = History(tmp_path / "history.db")
    alice = ConversationKey("slack", "T1", "C1", "")
    bob = ConversationKey("slack", "T1", "C2", "")
    failed = ActionResult("failed", error="the service answered 500", seconds=1.5)
    exchange(history, alice, "order 48213?", author="alice")
    exchange(history, bob, "order 5?", author="bob")
    exchange(history, bob, "and mine?", author="carol")
    history.record_action(alice, "order_status", {"order_id": "48213"}, failed, author="alice")
    history.record_action(bob, "order_status", {"order_id": "5"}, failed, author="bob")
    history.record_action(bob, "order_status", {"email": "carol@example.com"}, failed,
                          author="carol")
    # a channel forgotten takes its action calls along
    history.forget(channel="C1")
    assert history.action_calls(alice) == []
    # a user forgotten: their calls go, other people's in the same conversation stay
    history.forget(user="bob")
    assert [c.author for c in history.action_calls(bob)] == ["carol"]
    history.db.execute("UPDATE action_calls SET created = ?", [time.time() - 100 * 86400])
    history.prune(max_age_days=90)
    assert history.action_calls(bob) == []
    history.close()
