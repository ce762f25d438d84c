"""The model's saved states per conversation: faster follow-ups, never different answers.

Every test here uses the session's loaded model (`engine`). Without a state cache, as the
session holds it, it reads every prompt whole: that is the reference. With a cache put in for a
test (and taken out after it), the same model reuses saved states, and must answer exactly as
the reference did. The conversations' ids differ between runs, so that no run can find another
run's states or prompts.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from bot.engine import ALIGN, LlamaEngine, StateCache

pytestmark = pytest.mark.model

SYSTEM = {"role": "system", "content": (
    "You are the customer-support assistant of Kettlebird, a smart kettle with an app. Answer "
    "the customer's question using only the help-centre passages given to you. Be brief, "
    "friendly and concrete: give the steps or figures from the passages. If the passages do "
    "not contain the answer, say that you don't know and offer to hand over to a human.")}
PASSAGES = {
    "password": "Passages: To reset your password, open the sign-in page and choose "
                "'Forgot password'. The link in the email works for 24 hours.",
    "delivery": "Passages: Standard delivery takes 3 to 5 working days; express delivery "
                "takes 1 working day and costs 7 EUR.",
}
#: two conversations, two turns each, asked in turn: each follow-up comes after the other
#: conversation's turn, so its state must come back from the cache (a third conversation or
#: turn would prove nothing more, at the cost of longer prompts read whole by the reference)
SCRIPT = {
    "alice": ["password", "delivery"],
    "bob": ["delivery", "password"],
}
ROUNDS = 2
TOKENS = 32
#: MB: room for every state of a run
ROOMY = 512


def converse(engine: LlamaEngine, run: str) -> tuple[dict, dict]:
    """Run the interleaved conversations greedily; the answers and each turn's stats."""
    history = {name: [SYSTEM] for name in SCRIPT}
    answers, stats = {}, {}
    for turn in range(ROUNDS):
        for name, topics in SCRIPT.items():
            question = {"role": "user", "content": f"{PASSAGES[topics[turn]]}\n\nQuestion: "
                                                   f"tell me about {topics[turn]}."}
            messages = history[name] + [question]
            text = "".join(engine.generate(messages, TOKENS, 0.0, lambda: False,
                                           f"{run}-{name}"))
            answers[name, turn] = text
            stats[name, turn] = engine.last
            history[name] = messages + [{"role": "assistant", "content": text}]
    return answers, stats


@contextmanager
def caching(engine: LlamaEngine, cache: StateCache):
    """The session's model with `cache` for the duration."""
    assert engine.cache is None  # as the session holds it: every prompt read whole
    engine.cache = cache
    try:
        yield engine
    finally:
        engine.cache = None


@pytest.fixture(scope="module")
def reference(engine):
    assert engine.cache is None
    answers, stats = converse(engine, "plain")
    for s in stats.values():
        assert s.evaluated == s.prompt_tokens  # no cache: the whole prompt
    assert all(answers.values())
    return answers, stats


def test_cached_answers_are_identical_and_follow_ups_read_only_new_tokens(engine, reference):
    with caching(engine, StateCache(ROOMY * 1024 * 1024)) as cached:
        answers, stats = converse(cached, "cached")
    assert answers == reference[0]
    for (name, turn), s in stats.items():
        assert s.prompt_tokens == reference[1][name, turn].prompt_tokens
        if turn == 0:
            # The first conversation reads the system prompt once; the other reuses it.
            if name == "alice":
                assert s.reused_from == "none" and s.evaluated == s.prompt_tokens
            else:
                assert s.reused_from == "system" and s.evaluated < s.prompt_tokens
        else:
            assert s.reused_from == "conversation"
            # Only what is new since the previous prompt (its answer, the new question), plus
            # at most ALIGN - 1 tokens read again to keep batches aligned.
            assert s.new_tokens <= s.evaluated <= s.new_tokens + ALIGN - 1, (name, turn, s)


def test_a_tiny_memory_bound_evicts_and_still_answers_the_same(engine, reference):
    # Room for about one conversation's state: the other's is gone when its turn comes.
    one_state = 4 * 1024 * 1024
    with caching(engine, StateCache(one_state)) as cached:
        answers, stats = converse(cached, "tiny")
        cache = cached.cache
    assert answers == reference[0]
    assert cache.evictions > 0 and cache.bytes <= one_state
    assert any(s.reused_from != "conversation" for (_, turn), s in stats.items() if turn), stats


def test_a_conversation_state_is_never_used_for_another(engine):
    secret = {"role": "user", "content": "Passages: Alice's order number is 7734-KB.\n\n"
                                         "Question: what is my order number?"}
    with caching(engine, StateCache(ROOMY * 1024 * 1024)) as cached:
        "".join(cached.generate([SYSTEM, secret], 20, 0.0, lambda: False, "secret-alice"))
        alice = cached.cache.get(("conversation", "secret-alice"))
        assert alice is not None and cached._live == ("conversation", "secret-alice")
        # Bob's prompt shares Alice's first turn word for word; her state must still not
        # serve him.
        bob_messages = [SYSTEM, secret]
        bob = "".join(cached.generate(bob_messages, 20, 0.0, lambda: False, "secret-bob"))
        assert cached.last.reused_from == "system"
        system_state = cached.cache.get(("system", SYSTEM["content"]))
        assert cached.last.evaluated == cached.last.prompt_tokens - len(system_state.tokens)
    # The same model without a cache reads the whole prompt: the reference answer.
    plain = "".join(engine.generate(bob_messages, 20, 0.0, lambda: False, None))
    assert engine.last.evaluated == engine.last.prompt_tokens
    assert bob == plain
