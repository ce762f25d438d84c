"""The model's saved states per conversation: faster follow-ups, never different answers."""

from __future__ import annotations

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
    "descale": "Passages: To descale, boil half water and half white vinegar, leave it for "
               "30 minutes, then rinse twice.",
}
#: three conversations, three turns each, asked round robin
SCRIPT = {
    "alice": ["password", "delivery", "descale"],
    "bob": ["delivery", "descale", "password"],
    "carol": ["descale", "password", "delivery"],
}


def converse(engine: LlamaEngine, rounds: int = 3) -> tuple[dict, dict]:
    """Run the interleaved conversations greedily; the answers and each turn's stats."""
    history = {name: [SYSTEM] for name in SCRIPT}
    answers, stats = {}, {}
    for turn in range(rounds):
        for name, topics in SCRIPT.items():
            question = {"role": "user", "content": f"{PASSAGES[topics[turn]]}\n\nQuestion: "
                                                   f"tell me about {topics[turn]}."}
            messages = history[name] + [question]
            text = "".join(engine.generate(messages, 40, 0.0, lambda: False, name))
            answers[name, turn] = text
            stats[name, turn] = engine.last
            history[name] = messages + [{"role": "assistant", "content": text}]
    return answers, stats


@pytest.fixture(scope="module")
def plain(model_path):
    return LlamaEngine(model_path, n_ctx=4096, cache_mb=0)


@pytest.fixture(scope="module")
def reference(plain):
    return converse(plain)


def test_cached_answers_are_identical_and_follow_ups_read_only_new_tokens(model_path,
                                                                          reference):
    engine = LlamaEngine(model_path, n_ctx=4096, cache_mb=512)
    answers, stats = converse(engine)
    assert answers == reference[0]
    for (name, turn), s in stats.items():
        without = reference[1][name, turn]
        assert without.evaluated == without.prompt_tokens  # no cache: the whole prompt
        if turn == 0:
            # The first conversation reads the system prompt once; the others reuse it.
            expected = "none" if name == "alice" else "system"
            assert s.reused_from == expected
        else:
            assert s.reused_from == "conversation"
            # Only what is new since the previous prompt (its answer, the new question), plus
            # at most ALIGN - 1 tokens read again to keep batches aligned.
            assert s.new_tokens <= s.evaluated <= s.new_tokens + ALIGN - 1, (name, turn, s)


def test_a_tiny_memory_bound_evicts_and_still_answers_the_same(model_path, reference):
    engine = LlamaEngine(model_path, n_ctx=4096, cache_mb=1)
    one_state = 4 * 1024 * 1024  # about one conversation's state after two turns
    engine.cache = StateCache(one_state)
    answers, stats = converse(engine)
    assert answers == reference[0]
    assert engine.cache.evictions > 0 and engine.cache.bytes <= one_state


def test_a_conversation_state_is_never_used_for_another(model_path, plain):
    engine = LlamaEngine(model_path, n_ctx=4096, cache_mb=512)
    secret = {"role": "user", "content": "Passages: Alice's order number is 7734-KB.\n\n"
                                         "Question: what is my order number?"}
    "".join(engine.generate([SYSTEM, secret], 20, 0.0, lambda: False, "alice"))
    alice = engine.cache.get(("conversation", "alice"))
    assert alice is not None and engine._live == ("conversation", "alice")
    # Bob's prompt shares Alice's first turn word for word; her state must still not serve him.
    bob_messages = [SYSTEM, secret]
    bob = "".join(engine.generate(bob_messages, 20, 0.0, lambda: False, "bob"))
    assert engine.last.reused_from == "system"
    system_state = engine.cache.get(("system", SYSTEM["content"]))
    assert engine.last.evaluated == engine.last.prompt_tokens - len(system_state.tokens)
    assert bob == "".join(plain.generate(bob_messages, 20, 0.0, lambda: False, None))
